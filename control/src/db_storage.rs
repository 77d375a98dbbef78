//! How full a DB instance's storage is, and what RDS does about it: with `MaxAllocatedStorage`
//! (storage autoscaling) the storage grows when less than 10% of it is free — by the greater of
//! 10 GiB and 10% of it, up to the maximum — and without it an instance whose database has no
//! room left is `storage-full` until ModifyDBInstance gives it more. The SQL endpoint reports the
//! usage (the database file's and its write-ahead log's lengths) as it polls.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::rds::{DbInstance, DbInstanceStatus, DbUsage, PendingChanges};
use crate::region::Region;
use crate::state::RegionState;
use crate::{ControlPlane, RegionName};

/// Room below which a database counts as full: a few pages, less than a commit may need.
pub const FULL_ROOM_BYTES: u64 = 1 << 20;

/// What autoscaling grows an instance of `allocated` GiB to, within `max` GiB (`None`: it
/// cannot grow), keeping the storage on the volumes it has (squall does not re-stripe).
pub fn autoscale_target(allocated: u32, max: u32) -> Option<u32> {
    let step = allocated.div_ceil(10).max(10);
    let mut target = allocated.saturating_add(step).min(max);
    if allocated < crate::rds::STRIPE_FROM_GIB {
        target = target.min(crate::rds::STRIPE_FROM_GIB - 1);
    }
    (target > allocated).then_some(target)
}

impl RegionState {
    /// Acts on the reported usage: autoscaling where it is on, `storage-full` where the
    /// database has no room, `available` again once it has; the instances acted on.
    pub(crate) fn check_db_storage(
        &mut self,
        usage: &BTreeMap<String, DbUsage>,
        now_ms: u64,
    ) -> Result<Vec<String>, ControlError> {
        let watched: Vec<(DbInstance, DbUsage)> = self
            .db_instances
            .values()
            .filter(|i| matches!(i.status, DbInstanceStatus::Available | DbInstanceStatus::StorageFull))
            .filter_map(|i| Some((i.clone(), *usage.get(&i.resource_id)?)))
            // A report from before the storage grew says nothing of the storage it has now.
            .filter(|(i, u)| u.capacity >= u64::from(i.allocated_gib) << 30)
            .collect();
        let mut acted = Vec::new();
        for (i, u) in watched {
            let low = u.capacity > 0 && u.capacity.saturating_sub(u.used).saturating_mul(10) < u.capacity;
            let full = u.room < FULL_ROOM_BYTES;
            let target = i.settings.max_allocated_gib.and_then(|max| autoscale_target(i.allocated_gib, max));
            match (low || full, target, i.status) {
                (true, Some(gib), _) if i.pending.is_empty() => {
                    let message = format!(
                        "Applying autoscaling-initiated modification to allocated storage: {} GiB to {gib} GiB",
                        i.allocated_gib
                    );
                    self.rds_event(&i.id, &message, "RDS-EVENT-0217", "notification", now_ms);
                    let changes = PendingChanges { allocated_gib: Some(gib), since_ms: now_ms, ..Default::default() };
                    self.apply_db_changes(&i.id, changes, None, now_ms)?;
                }
                (_, _, DbInstanceStatus::Available) if full => {
                    let row = self.instance_mut(&i.id)?;
                    row.status = DbInstanceStatus::StorageFull;
                    row.status_since_ms = now_ms;
                    self.rds_event(
                        &i.id,
                        "Allocated storage has been exhausted. Allocate additional storage to resolve the issue.",
                        "RDS-EVENT-0007",
                        "low storage",
                        now_ms,
                    );
                }
                (_, _, DbInstanceStatus::StorageFull) if !full => {
                    let row = self.instance_mut(&i.id)?;
                    row.status = DbInstanceStatus::Available;
                    row.status_since_ms = now_ms;
                }
                _ => continue,
            }
            acted.push(i.id.clone());
        }
        Ok(acted)
    }
}

impl Region {
    /// What the SQL endpoint of the instance `resource_id` reports of its storage.
    pub fn report_db_usage(&self, resource_id: &str, usage: DbUsage) {
        self.db_usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(resource_id.into(), usage);
    }

    /// Acts on the storage usage reported (see [`RegionState::check_db_storage`]).
    pub fn check_db_storage(&self, now_ms: u64) -> Result<Vec<String>, ControlError> {
        let usage = self.db_usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if usage.is_empty() {
            return Ok(Vec::new());
        }
        self.with_state(now_ms, |state| state.check_db_storage(&usage, now_ms))
    }
}

impl ControlPlane {
    /// The SQL endpoints' report of their storage: `(region, resource id, usage)`.
    pub fn report_db_usage(&self, reports: &[(RegionName, String, DbUsage)]) {
        for (region, resource, usage) in reports {
            self.region(region).report_db_usage(resource, *usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rds::{DbInstanceSpec, DbModification, DbSettingsChange};
    use crate::test_support::TestRegion;

    #[test]
    fn autoscaling_grows_by_ten_gib_or_ten_percent_within_the_maximum() {
        assert_eq!(autoscale_target(20, 100), Some(30));
        assert_eq!(autoscale_target(200, 1000), Some(220));
        assert_eq!(autoscale_target(20, 25), Some(25));
        assert_eq!(autoscale_target(30, 30), None);
        assert_eq!(autoscale_target(395, 1000), Some(399), "the volumes it has");
        assert_eq!(autoscale_target(1000, 5000), Some(1100));
    }

    fn spec(id: &str, max: Option<u32>) -> DbInstanceSpec {
        DbInstanceSpec {
            id: id.into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            allocated_gib: Some(20),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            settings: DbSettingsChange { max_allocated_gib: max, ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn a_full_database_is_storage_full_until_its_storage_grows_or_autoscaling_grows_it() {
        let t = TestRegion::new();
        let plain = t.region.create_db_instance(spec("plain", None), "localhost", t.now()).expect("plain");
        let scaled = t.region.create_db_instance(spec("scaled", Some(100)), "localhost", t.now()).expect("scaled");
        t.advance(1_000);
        t.advance(1_000);
        let gib = 1u64 << 30;
        let full = DbUsage { used: 20 * gib - 1024, capacity: 20 * gib, room: 4096 };
        t.region.report_db_usage(&plain.resource_id, full);
        t.region.report_db_usage(&scaled.resource_id, full);
        let acted = t.region.check_db_storage(t.now()).expect("check");
        assert_eq!(acted.len(), 2);
        let (p, s) = t
            .region
            .read(t.now(), |st| Ok((st.db_instance("plain")?.clone(), st.db_instance("scaled")?.clone())))
            .expect("read");
        assert_eq!(p.status, DbInstanceStatus::StorageFull);
        assert_eq!((s.status, s.allocated_gib), (DbInstanceStatus::Modifying, 30), "autoscaled");
        // More storage through ModifyDBInstance, which a storage-full instance takes.
        let more = DbModification { allocated_gib: Some(40), apply_immediately: true, ..Default::default() };
        let grown = t.region.modify_db_instance("plain", more, t.now()).expect("modify");
        assert_eq!((grown.status, grown.allocated_gib), (DbInstanceStatus::Modifying, 40));
        t.advance(1_000);
        let roomy = DbUsage { used: gib, capacity: 40 * gib, room: 30 * gib };
        t.region.report_db_usage(&plain.resource_id, roomy);
        assert_eq!(t.region.check_db_storage(t.now()).expect("check"), Vec::<String>::new(), "room: nothing to do");
        let status = |t: &TestRegion| t.region.read(t.now(), |st| Ok(st.db_instance("plain")?.status)).expect("read");
        assert_eq!(status(&t), DbInstanceStatus::Available);
        // Full again, then room again (rows deleted, the database vacuumed): available.
        t.region.report_db_usage(&plain.resource_id, DbUsage { room: 0, ..roomy });
        t.region.check_db_storage(t.now()).expect("check");
        assert_eq!(status(&t), DbInstanceStatus::StorageFull);
        t.region.report_db_usage(&plain.resource_id, roomy);
        t.region.check_db_storage(t.now()).expect("check");
        assert_eq!(status(&t), DbInstanceStatus::Available);
        let events: Vec<String> =
            t.region.read(t.now(), |st| Ok(st.rds_events().map(|e| e.message.clone()).collect())).expect("events");
        assert!(events.iter().any(|m| m.starts_with("Allocated storage has been exhausted")), "{events:?}");
        assert!(events.iter().any(|m| m.starts_with("Applying autoscaling-initiated modification")), "{events:?}");
    }
}
