//! States that advance by themselves: every call first settles the region at the current time
//! (`creating` → `available` after the configured delay, `pending` → `completed`, …), so SDK
//! waiters see the transitions without any timer. Only rows with a transition in flight are
//! looked at: they are kept in pending sets, updated when a command commits.

use std::collections::BTreeSet;
use std::time::Duration;

use squall_storage::StorageError;

use crate::ids::{InstanceId, SnapshotId, VolumeId};
use crate::snapshots::{Snapshot, SnapshotState};
use crate::state::{storage_error, store_name, RegionState};
use crate::table::Table;
use crate::volumes::{AttachmentState, ModificationState, Volume, VolumeState};
use crate::ControlError;

/// How long each asynchronous transition takes. Short by default so waiters return quickly, but
/// not zero, so they do wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleDelays {
    pub volume_create: Duration,
    pub volume_delete: Duration,
    pub attach: Duration,
    pub detach: Duration,
    pub snapshot: Duration,
    pub modification: Duration,
}

impl LifecycleDelays {
    /// The same delay for every transition.
    pub fn uniform(delay: Duration) -> Self {
        Self {
            volume_create: delay,
            volume_delete: delay,
            attach: delay,
            detach: delay,
            snapshot: delay,
            modification: delay,
        }
    }
}

impl Default for LifecycleDelays {
    fn default() -> Self {
        Self::uniform(Duration::from_millis(300))
    }
}

/// The earliest time one of the volume's pending transitions falls due (`u64::MAX`: none).
pub(crate) fn volume_next_due(v: &Volume, d: LifecycleDelays) -> u64 {
    let at = |since: u64, delay: Duration| since.saturating_add(delay.as_millis() as u64);
    let mut next = match v.state {
        VolumeState::Creating => at(v.state_since_ms, d.volume_create),
        VolumeState::Deleting => at(v.state_since_ms, d.volume_delete),
        VolumeState::Available | VolumeState::InUse => u64::MAX,
    };
    if let Some(m) = &v.modification {
        if m.state != ModificationState::Completed {
            next = next.min(at(m.state_since_ms, d.modification));
        }
    }
    for a in &v.attachments {
        match a.state {
            AttachmentState::Attaching => next = next.min(at(a.since_ms, d.attach)),
            AttachmentState::Detaching => next = next.min(at(a.since_ms, d.detach)),
            AttachmentState::Attached => {}
        }
    }
    next
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) volumes: BTreeSet<VolumeId>,
    pub(crate) snapshots: BTreeSet<SnapshotId>,
    pub(crate) instances: BTreeSet<InstanceId>,
}

/// When a snapshot completes by itself (`u64::MAX`: it does not, or has).
pub(crate) fn snapshot_next_due(s: &Snapshot, d: LifecycleDelays) -> u64 {
    if s.state == SnapshotState::Pending && !s.awaiting_completion {
        s.start_time_ms.saturating_add(d.snapshot.as_millis() as u64)
    } else {
        u64::MAX
    }
}

/// The pending rows whose next transition has fallen due at `now_ms`.
pub(crate) fn due_now<K: Ord + Clone, V: Clone + PartialEq>(
    pending: &BTreeSet<K>,
    table: &Table<K, V>,
    due: impl Fn(&V) -> u64,
    now_ms: u64,
) -> Vec<K> {
    pending.iter().filter(|k| table.get(*k).is_some_and(|row| due(row) <= now_ms)).cloned().collect()
}

/// Puts each changed row in or out of a pending set, by whether it still has a transition due.
pub(crate) fn track<K: Ord + Clone, V: Clone + PartialEq>(
    set: &mut BTreeSet<K>,
    table: &Table<K, V>,
    due: impl Fn(&V) -> u64,
) {
    for (key, row) in table.changes() {
        if row.is_some_and(|r| due(r) < u64::MAX) {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }
}

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
            .map(|i| crate::instances::instance_next_due(i, d));
        volumes.chain(snapshots).chain(instances).min().unwrap_or(u64::MAX)
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
                match self.store.cluster(v.zone_id.as_str()).map_err(storage_error)?.delete_volume(&name) {
                    Ok(()) | Err(StorageError::VolumeNotFound(_)) => {}
                    Err(e) => return Err(storage_error(e)),
                }
            }
        }
        self.settle_instances(now_ms)?;
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
        due_now(&self.pending.instances, &self.instances, |i| crate::instances::instance_next_due(i, d), now_ms)
    }

    pub(crate) fn delays(&self) -> LifecycleDelays {
        self.delays
    }
}
