//! States that advance by themselves: every call first settles the region at the current time
//! (`creating` → `available` after the configured delay, `pending` → `completed`, …), so SDK
//! waiters see the transitions without any timer. Only rows with a transition in flight are
//! looked at: they are kept in pending sets, updated when a command commits.

use std::time::Duration;

use squall_storage::StorageError;

use crate::error::ControlError;
use crate::ids::InstanceId;
use crate::model::lifecycle::{due_now, snapshot_next_due, volume_next_due, LifecycleDelays};
use crate::model::snapshot::SnapshotState;
use crate::model::volume::{AttachmentState, ModificationState, VolumeState};
use crate::state::{storage_error, store_name, RegionState};

impl RegionState {
    /// Advances every state whose delay has passed.
    pub(crate) fn settle(&mut self, now_ms: u64) -> Result<(), ControlError> {
        // Every request settles first; most of the time nothing is due, and a scan of thousands
        // of volumes per request would be wasted.
        if now_ms < self.quiet_until.get() {
            return Ok(());
        }
        self.settle_scan(now_ms)?;
        self.quiet_until.set(self.next_due());
        Ok(())
    }

    /// The earliest time a pending transition falls due (`u64::MAX` when none is pending).
    fn next_due(&self) -> u64 {
        let d = self.delays;
        let volumes = self.pending.volumes.iter().filter_map(|id| self.volumes.get(id)).map(|v| volume_next_due(v, d));
        let snapshots =
            self.pending.snapshots.iter().filter_map(|id| self.snapshots.get(id)).map(|s| snapshot_next_due(s, d));
        let instances = self
            .pending
            .instances
            .iter()
            .filter_map(|id| self.instances.get(id))
            .map(|i| crate::model::instance::instance_next_due(i, d));
        let db_instances = self.db_instances.values().map(|i| crate::rds::db_instance_next_due(i, d));
        let db_snapshots = self.db_snapshots.values().map(|s| crate::rds::db_snapshot_next_due(s, d));
        let db_clusters = self.db_clusters.values().map(|c| crate::db_clusters::db_cluster_next_due(c, d));
        let db_cluster_snapshots =
            self.db_cluster_snapshots.values().map(|s| crate::db_cluster_snapshots::cluster_snapshot_next_due(s, d));
        volumes
            .chain(snapshots)
            .chain(instances)
            .chain(db_instances)
            .chain(db_snapshots)
            .chain(db_clusters)
            .chain(db_cluster_snapshots)
            .chain(self.db_proxies.values().map(|p| crate::db_proxies::db_proxy_next_due(p, d)))
            .chain(self.blue_green.values().map(|b| crate::blue_green::blue_green_next_due(b, d)))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Applies every transition that has fallen due (only the rows that change are touched).
    fn settle_scan(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let d = self.delays;
        let due = |since: u64, delay: Duration| now_ms >= since + delay.as_millis() as u64;
        let mut gone = Vec::new();
        let due_volumes = due_now(&self.pending.volumes, &self.volumes, |v| volume_next_due(v, d), now_ms);
        for id in due_volumes {
            let Some(v) = self.volumes.get_mut(&id) else { continue };
            match v.state {
                VolumeState::Creating if due(v.state_since_ms, d.volume_create) => {
                    v.state = VolumeState::Available;
                    // The transition happened when it fell due, not when someone looked.
                    v.state_since_ms += d.volume_create.as_millis() as u64;
                }
                VolumeState::Deleting if due(v.state_since_ms, d.volume_delete) => gone.push(v.id.clone()),
                _ => {}
            }
            if let Some(m) = &mut v.modification {
                let next = match m.state {
                    ModificationState::Modifying if due(m.state_since_ms, d.modification) => {
                        Some(ModificationState::Optimizing)
                    }
                    ModificationState::Optimizing if due(m.state_since_ms, d.modification) => {
                        Some(ModificationState::Completed)
                    }
                    _ => None,
                };
                if let Some(state) = next {
                    m.state = state;
                    m.state_since_ms += d.modification.as_millis() as u64;
                    if state == ModificationState::Completed {
                        m.end_ms = Some(m.state_since_ms);
                    }
                }
            }
            let before = v.attachments.len();
            v.attachments.retain(|a| !(a.state == AttachmentState::Detaching && due(a.since_ms, d.detach)));
            for a in &mut v.attachments {
                if a.state == AttachmentState::Attaching && due(a.since_ms, d.attach) {
                    a.state = AttachmentState::Attached;
                    a.since_ms += d.attach.as_millis() as u64;
                }
            }
            if v.attachments.len() != before && v.attachments.is_empty() && v.state == VolumeState::InUse {
                v.state = VolumeState::Available;
                v.state_since_ms = now_ms;
            }
        }
        for id in gone {
            if let Some(v) = self.volumes.remove(&id) {
                let name = store_name(id.as_str())?;
                match self.store.cluster(v.zone_id.as_str()).map_err(storage_error)?.lock().delete_volume(&name) {
                    Ok(()) | Err(StorageError::VolumeNotFound(_)) => {}
                    Err(e) => return Err(storage_error(e)),
                }
            }
        }
        self.settle_instances(now_ms)?;
        self.settle_db_instances(now_ms)?;
        self.settle_db_clusters(now_ms)?;
        self.settle_db_cluster_snapshots(now_ms);
        self.settle_blue_green(now_ms);
        self.settle_db_proxies(now_ms);
        let due_snapshots = due_now(&self.pending.snapshots, &self.snapshots, |s| snapshot_next_due(s, d), now_ms);
        for id in due_snapshots {
            if let Some(s) = self.snapshots.get_mut(&id) {
                s.state = SnapshotState::Completed;
            }
        }
        Ok(())
    }

    /// Instances whose next transition has fallen due.
    pub(crate) fn due_instances(&self, now_ms: u64) -> Vec<InstanceId> {
        let d = self.delays;
        due_now(&self.pending.instances, &self.instances, |i| crate::model::instance::instance_next_due(i, d), now_ms)
    }

    pub(crate) fn delays(&self) -> LifecycleDelays {
        self.delays
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::model::snapshot::SnapshotState;
    use crate::model::volume::VolumeState;
    use crate::test_support::TestRegion;

    #[test]
    fn volumes_and_snapshots_advance_when_their_delay_has_passed_and_not_before() {
        let t = TestRegion::new();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
        assert_eq!(v.state, VolumeState::Creating);
        t.advance(299);
        let state = |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.volume(&v.id)?.state)).unwrap();
        assert_eq!(state(&t), VolumeState::Creating, "the default delay is 300 ms");
        t.advance(1);
        assert_eq!(state(&t), VolumeState::Available);
        let snap = t.region.create_snapshot(&v.id, "s".into(), BTreeMap::new(), t.now(), false).unwrap();
        assert_eq!(snap.state, SnapshotState::Pending);
        t.advance(300);
        let done = t.region.read(t.now(), |s| Ok(s.snapshot(&snap.id)?.state)).unwrap();
        assert_eq!(done, SnapshotState::Completed);
    }
}
