//! Automated backups of DB instances and point-in-time restore.
//!
//! An instance with a backup retention period gets an automated snapshot (`rds:<id>-<date>`,
//! real bytes in the snapshot store) when it finishes creating and whenever backups are turned
//! on; turning them off deletes them, and so does deleting the instance unless
//! `DeleteAutomatedBackups=false` keeps them (an automated backup `retained`).
//!
//! Point-in-time restore: a time since the instance's last write (which the data path records,
//! [`crate::region::Region::db_last_write`]) is the state now, copied from the volumes; an
//! earlier time is the newest **log backup** (or automated snapshot) taken at or before it.
//! Where AWS uploads transaction logs every 5 minutes and replays them to the second, squall
//! takes a log backup of the storage every `db_log_backup` (1 s by default) while writes come,
//! once the storage has been quiet for a moment (so a commit is whole): a restore to a time goes
//! back to the state of the newest log backup at or before it.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::rds::{DbInstance, DbInstanceSpec, DbSnapshot, DbSnapshotStatus, EventSource, RdsError};
use crate::model::zone::Zone;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};

/// The id of the snapshot a point-in-time restore copies the source through (never stored).
pub(crate) const TRANSIENT_PREFIX: &str = "pitr-";
/// Log backups one instance keeps at most (the oldest go first).
pub const MAX_LOG_BACKUPS: usize = 200;
/// How long an instance's storage must have seen no write before a log backup is taken.
const LOG_BACKUP_QUIET_MS: u64 = 150;

/// Where a restore goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePoint {
    Latest,
    At(u64),
}

/// An instance's automated backups, as DescribeDBInstanceAutomatedBackups shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomatedBackup {
    pub resource_id: String,
    pub instance_id: String,
    /// `active` (the instance exists) or `retained` (kept after it was deleted).
    pub status: &'static str,
    /// The restore window (ms): from the first backup to now, or to the last one when retained.
    pub earliest_ms: u64,
    pub latest_ms: u64,
    /// The newest automated snapshot, which holds what the backup shows.
    pub snapshot: DbSnapshot,
    pub retention_days: u32,
    pub backup_window: String,
}

/// A DB snapshot of `instance` made of the snapshot store's `volumes`, available, shared with
/// nobody and untagged.
pub(crate) fn snapshot_row(
    instance: &DbInstance,
    id: &str,
    volumes: Vec<String>,
    snapshot_type: &str,
    now_ms: u64,
) -> DbSnapshot {
    DbSnapshot {
        id: id.to_string(),
        instance_id: instance.id.clone(),
        instance_resource_id: instance.resource_id.clone(),
        class: instance.class.clone(),
        engine: instance.engine.clone(),
        engine_version: instance.engine_version.clone(),
        allocated_gib: instance.allocated_gib,
        storage_type: instance.storage_type.clone(),
        iops: instance.iops,
        port: instance.port,
        master_username: instance.master_username.clone(),
        master_password: instance.master_password.clone(),
        db_name: instance.db_name.clone(),
        zone: instance.primary.zone.clone(),
        vpc_id: instance.vpc_id.clone(),
        instance_created_ms: instance.created_ms,
        status: DbSnapshotStatus::Available,
        status_since_ms: now_ms,
        created_ms: now_ms,
        snapshot_type: snapshot_type.to_string(),
        volumes,
        encrypted: instance.storage_encrypted,
        tags: BTreeMap::new(),
        restore_accounts: Vec::new(),
        source_snapshot_arn: None,
        source_region: None,
    }
}

/// `2026-12-01-09-58` for an epoch time in ms (UTC).
fn minute_stamp(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let minute_of_day = (ms % 86_400_000) / 60_000;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}-{:02}-{:02}", minute_of_day / 60, minute_of_day % 60)
}

impl RegionState {
    /// Takes an automated snapshot of the instance's primary storage now.
    pub(crate) fn take_automated_snapshot(
        &mut self,
        instance_id: &str,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        let instance = self.db_instance(instance_id)?.clone();
        let base = format!("rds:{}-{}", instance.id, minute_stamp(now_ms));
        let mut id = base.clone();
        let mut n = 1;
        while self.db_snapshots.contains_key(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        let volumes = self.snapshot_db_volumes(&instance)?;
        let mut snapshot = snapshot_row(&instance, &id, volumes, "automated", now_ms);
        if instance.copy_tags_to_snapshot {
            snapshot.tags = instance.tags.clone();
        }
        self.db_snapshots.insert(id.clone(), snapshot.clone());
        if let Some(row) = self.db_instances.get_mut(&instance.id) {
            row.last_backup_ms = now_ms;
        }
        self.rds_event_of(
            EventSource::DbSnapshot,
            &id,
            "Automated snapshot created",
            "RDS-EVENT-0091",
            "creation",
            now_ms,
        );
        Ok(snapshot)
    }

    /// Snapshots of each volume of the instance's primary storage in the snapshot store, under
    /// new names (taken back if one fails).
    pub(crate) fn snapshot_db_volumes(&mut self, instance: &DbInstance) -> Result<Vec<String>, ControlError> {
        let tag = self.random_id("s");
        let (cluster, snapshots) =
            self.store.cluster_and_snapshots(instance.primary.zone_id.as_str()).map_err(storage_error)?;
        let mut taken: Vec<String> = Vec::new();
        for (n, volume) in instance.primary.volumes.iter().enumerate() {
            let name = format!("rds-snap-{}-{n}", &tag[2..]);
            let made = store_name(&name).and_then(|snap| {
                snapshots.snapshot_volume(&mut cluster.lock(), &store_name(volume)?, &snap, None).map_err(storage_error)
            });
            if let Err(e) = made {
                for name in &taken {
                    let _ = store_name(name).map(|n| snapshots.delete(&n));
                }
                return Err(e);
            }
            taken.push(name);
        }
        Ok(taken)
    }

    /// Takes a log backup of every instance with backups on whose storage was written since its
    /// last one (`last_writes`: wall-clock ms by resource id), no sooner than `db_log_backup` after
    /// it and once the storage has been quiet; the number taken.
    pub(crate) fn take_log_backups(
        &mut self,
        last_writes: &BTreeMap<String, u64>,
        quorum_dir: &std::path::Path,
        now_ms: u64,
    ) -> Result<usize, ControlError> {
        let interval = self.delays.db_log_backup.as_millis() as u64;
        let due: Vec<(DbInstance, u64)> = self
            .db_instances
            .values()
            .filter(|i| {
                i.backup_retention_days > 0
                    && i.read_replica_source.is_none()
                    && matches!(
                        i.status,
                        crate::model::rds::DbInstanceStatus::Available | crate::model::rds::DbInstanceStatus::BackingUp
                    )
            })
            .filter_map(|i| {
                let written = *last_writes.get(&i.resource_id)?;
                let latest = self.latest_log_backup(&i.resource_id);
                let fresh = latest.is_none_or(|b| written > b.last_write_ms);
                let spaced = latest.is_none_or(|b| now_ms >= b.time_ms.saturating_add(interval));
                let quiet = now_ms >= written.saturating_add(LOG_BACKUP_QUIET_MS);
                (fresh && spaced && quiet).then(|| (i.clone(), written))
            })
            .collect();
        for (instance, written) in &due {
            let volumes = self.snapshot_db_volumes(instance)?;
            self.add_log_backup(&instance.resource_id, volumes, *written, instance.backup_retention_days, now_ms);
        }
        // Aurora clusters that write (not a replicating secondary): their cluster volume.
        let clusters: Vec<(crate::db_clusters::DbCluster, u64)> = self
            .db_clusters
            .values()
            .filter(|c| c.status.as_str() == "available" && c.replication_source.is_none())
            .filter_map(|c| {
                let written = *last_writes.get(&c.resource_id)?;
                let latest = self.latest_log_backup(&c.resource_id);
                let fresh = latest.is_none_or(|b| written > b.last_write_ms);
                let spaced = latest.is_none_or(|b| now_ms >= b.time_ms.saturating_add(interval));
                let quiet = now_ms >= written.saturating_add(LOG_BACKUP_QUIET_MS);
                (fresh && spaced && quiet).then(|| (c.clone(), written))
            })
            .collect();
        for (cluster, written) in &clusters {
            let volume = self.snapshot_cluster_volume(cluster, quorum_dir)?;
            self.add_log_backup(&cluster.resource_id, vec![volume], *written, cluster.backup_retention_days, now_ms);
        }
        Ok(due.len() + clusters.len())
    }

    /// Records a log backup; the oldest go beyond the cap, and those older than the retention period.
    fn add_log_backup(
        &mut self,
        resource_id: &str,
        volumes: Vec<String>,
        written: u64,
        retention_days: u32,
        now_ms: u64,
    ) {
        let backup = crate::model::rds::DbLogBackup {
            resource_id: resource_id.to_string(),
            time_ms: now_ms,
            last_write_ms: written,
            volumes,
        };
        self.db_log_backups.insert(crate::table::Row::key(&backup), backup);
        let keep_from = now_ms.saturating_sub(u64::from(retention_days) * 86_400_000);
        let mine: Vec<(String, u64)> = self
            .db_log_backups
            .values()
            .filter(|b| b.resource_id == resource_id)
            .map(|b| (crate::table::Row::key(b), b.time_ms))
            .collect();
        let excess = mine.len().saturating_sub(MAX_LOG_BACKUPS);
        for (n, (key, time)) in mine.into_iter().enumerate() {
            if n < excess || time < keep_from {
                self.drop_log_backup(&key);
            }
        }
    }

    /// The newest log backup of an instance.
    pub fn latest_log_backup(&self, resource_id: &str) -> Option<&crate::model::rds::DbLogBackup> {
        self.db_log_backups.values().rev().find(|b| b.resource_id == resource_id)
    }

    fn drop_log_backup(&mut self, key: &str) {
        if let Some(gone) = self.db_log_backups.remove(&key.to_string()) {
            for name in &gone.volumes {
                if let Err(e) = store_name(name).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error))
                {
                    tracing::warn!(snapshot = %name, "could not drop a log backup's blocks: {e}");
                }
            }
        }
    }

    /// Deletes the log backups of an instance (by its resource id).
    pub(crate) fn drop_log_backups(&mut self, resource_id: &str) {
        let keys: Vec<String> =
            self.db_log_backups.values().filter(|b| b.resource_id == resource_id).map(crate::table::Row::key).collect();
        for key in keys {
            self.drop_log_backup(&key);
        }
    }

    /// The stored volumes that hold an instance's state at `t` (before its last write): the log
    /// backup holding the newest writes made at or before `t` (its writes end at its
    /// `last_write_ms`, even when it was taken a moment later), or else the newest automated
    /// snapshot taken by then.
    pub(crate) fn restore_point(&self, resource_id: &str, t: u64) -> Option<(Vec<String>, u64)> {
        let log = self
            .db_log_backups
            .values()
            .filter(|b| b.resource_id == resource_id && b.last_write_ms <= t)
            .map(|b| (b.volumes.clone(), b.last_write_ms));
        let automated = self
            .db_snapshots
            .values()
            .filter(|s| s.snapshot_type == "automated" && s.instance_resource_id == resource_id && s.created_ms <= t)
            .map(|s| (s.volumes.clone(), s.created_ms));
        log.chain(automated).max_by_key(|(_, at)| *at)
    }

    /// Deletes the automated snapshots of an instance (by its resource id) and their blocks.
    pub(crate) fn drop_automated_snapshots(&mut self, resource_id: &str) {
        let ids: Vec<String> = self
            .db_snapshots
            .values()
            .filter(|s| s.snapshot_type == "automated" && s.instance_resource_id == resource_id)
            .map(|s| s.id.clone())
            .collect();
        for id in ids {
            if let Some(gone) = self.db_snapshots.remove(&id) {
                for name in &gone.volumes {
                    if let Err(e) =
                        store_name(name).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error))
                    {
                        tracing::warn!(snapshot = %name, "could not drop an automated backup's blocks: {e}");
                    }
                }
            }
        }
    }

    /// Every automated backup: one per instance with a retention period, and the retained ones
    /// of deleted instances; by instance identifier.
    pub fn automated_backups(&self, now_ms: u64) -> Vec<AutomatedBackup> {
        let mut by_resource: BTreeMap<String, Vec<&DbSnapshot>> = BTreeMap::new();
        for s in self.db_snapshots.values().filter(|s| s.snapshot_type == "automated") {
            by_resource.entry(s.instance_resource_id.clone()).or_default().push(s);
        }
        let mut out = Vec::new();
        for (resource_id, mut snapshots) in by_resource {
            snapshots.sort_by_key(|s| s.created_ms);
            let (Some(first), Some(newest)) = (snapshots.first(), snapshots.last()) else { continue };
            let live = self.db_instances.values().find(|i| i.resource_id == resource_id);
            out.push(AutomatedBackup {
                resource_id,
                instance_id: live.map_or_else(|| newest.instance_id.clone(), |i| i.id.clone()),
                status: if live.is_some() { "active" } else { "retained" },
                earliest_ms: first.created_ms,
                latest_ms: if live.is_some() { now_ms } else { newest.created_ms },
                snapshot: (*newest).clone(),
                retention_days: live.map_or(0, |i| i.backup_retention_days),
                backup_window: live.map_or_else(String::new, |i| i.backup_window.clone()),
            });
        }
        out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        out
    }

    /// DeleteDBInstanceAutomatedBackup: only a retained backup (its instance is gone) goes.
    pub(crate) fn delete_db_instance_automated_backup(
        &mut self,
        resource_id: &str,
        now_ms: u64,
    ) -> Result<AutomatedBackup, ControlError> {
        let backup = self
            .automated_backups(now_ms)
            .into_iter()
            .find(|b| b.resource_id == resource_id)
            .ok_or_else(|| RdsError::AutomatedBackupNotFound(resource_id.to_string()))?;
        if backup.status != "retained" {
            return Err(RdsError::InvalidAutomatedBackupState(format!(
                "The automated backup {resource_id} belongs to DB instance {}, which exists: set its backup \
                 retention period to 0 or delete the instance instead.",
                backup.instance_id
            ))
            .into());
        }
        self.drop_automated_snapshots(resource_id);
        Ok(AutomatedBackup { status: "deleting", ..backup })
    }

    /// RestoreDBInstanceToPointInTime: a new instance whose storage is a copy of the source's as
    /// it was at `point` — which squall can give only for times since the source's last write.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore_db_instance_to_point_in_time(
        &mut self,
        source: &str,
        point: RestorePoint,
        last_write_ms: u64,
        overrides: DbInstanceSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let source = self.db_instance(source)?.clone();
        if source.cluster.is_some() {
            return Err(RdsError::InvalidParameterCombination(
                "The source is an instance of an Aurora DB cluster: restore the DB cluster to a point in time.".into(),
            )
            .into());
        }
        if source.backup_retention_days == 0 {
            return Err(RdsError::PointInTimeRestoreNotEnabled(source.id).into());
        }
        if let RestorePoint::At(t) = point {
            if t > now_ms || t < source.created_ms {
                return Err(RdsError::InvalidRestore(format!(
                    "The restore time must be between the earliest restorable time and the latest restorable time \
                     of DB instance {}.",
                    source.id
                ))
                .into());
            }
        }
        // Before the last write: the newest log backup (or automated snapshot) at or before it.
        let stored = match point {
            RestorePoint::At(t) if t < last_write_ms => {
                Some(self.restore_point(&source.resource_id, t).ok_or_else(|| {
                    RdsError::InvalidRestore(format!(
                        "The restore time is before the earliest restorable time of DB instance {}.",
                        source.id
                    ))
                })?)
            }
            _ => None,
        };
        if !matches!(
            source.status,
            crate::model::rds::DbInstanceStatus::Available | crate::model::rds::DbInstanceStatus::BackingUp
        ) {
            return Err(RdsError::InvalidInstanceState {
                id: source.id,
                status: source.status.as_str(),
                why: "it must be available to be restored to a point in time",
            }
            .into());
        }
        let transient = stored.is_none();
        let volumes = match &stored {
            Some((volumes, _)) => volumes.clone(),
            None => self.snapshot_db_volumes(&source)?,
        };
        let now = snapshot_row(&source, &format!("{TRANSIENT_PREFIX}{}", source.id), volumes.clone(), "manual", now_ms);
        let spec = DbInstanceSpec {
            class: if overrides.class.is_empty() { source.class.clone() } else { overrides.class.clone() },
            engine: source.engine.clone(),
            engine_version: Some(source.engine_version.clone()),
            allocated_gib: Some(source.allocated_gib),
            storage_type: overrides.storage_type.clone().or_else(|| Some(source.storage_type.clone())),
            iops: overrides.iops.or(source.iops),
            master_username: source.master_username.clone(),
            // A managed password is a new one, kept in a new secret.
            master_password: if overrides.managed_password.is_some() { None } else { source.master_password.clone() },
            db_name: source.db_name.clone(),
            subnet_group: overrides.subnet_group.clone().or_else(|| source.subnet_group.clone()),
            parameter_group: overrides.parameter_group.clone().or_else(|| Some(source.parameter_group.clone())),
            storage_encrypted: source.storage_encrypted,
            ..overrides
        };
        let made = self.new_db_instance_from(spec, zones, address, now_ms, &now);
        // The volumes are restored (or not): a transient snapshot goes either way.
        for name in volumes.iter().filter(|_| transient) {
            if let Err(e) = store_name(name).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error)) {
                tracing::warn!(snapshot = %name, "could not drop a point-in-time restore's transient snapshot: {e}");
            }
        }
        let made = made?;
        let message = format!(
            "Restored from DB instance {} to {}",
            source.id,
            match point {
                RestorePoint::Latest => "the latest restorable time".to_string(),
                RestorePoint::At(t) => format!("{t} ms since the epoch"),
            }
        );
        self.rds_event(&made.id, &message, "RDS-EVENT-0019", "recovery", now_ms);
        Ok(made)
    }
}

impl Region {
    /// When a write last reached the instance's storage through the data path, in wall-clock ms
    /// (0: none since squall started).
    pub fn db_last_write(&self, resource_id: &str) -> u64 {
        self.db_writes(resource_id).load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The log backups that are due ([`RegionState::take_log_backups`]) and what the reported
    /// storage usage asks for ([`RegionState::check_db_storage`]), in one command; nothing when
    /// the data path has seen no write and no usage.
    pub fn db_housekeeping(&self, now_ms: u64) -> Result<(), ControlError> {
        let last_writes = self.db_last_writes();
        let usage = self.db_usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if last_writes.is_empty() && usage.is_empty() {
            return Ok(());
        }
        let quorum_dir = self.dir().join("rds-quorum");
        self.with_state(now_ms, |state| {
            state.take_log_backups(&last_writes, &quorum_dir, now_ms)?;
            state.check_db_storage(&usage, now_ms)?;
            Ok(())
        })
    }

    /// DeleteDBInstanceAutomatedBackup.
    pub fn delete_db_instance_automated_backup(
        &self,
        resource_id: &str,
        now_ms: u64,
    ) -> Result<AutomatedBackup, ControlError> {
        self.with_state(now_ms, |state| state.delete_db_instance_automated_backup(resource_id, now_ms))
    }

    /// RestoreDBInstanceToPointInTime.
    pub fn restore_db_instance_to_point_in_time(
        &self,
        source: &str,
        point: RestorePoint,
        overrides: DbInstanceSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        let (resource, backed_up) = self.read(now_ms, |state| {
            let resource = state.db_instance(source)?.resource_id.clone();
            let backed_up = state.latest_log_backup(&resource).map_or(0, |b| b.last_write_ms);
            Ok((resource, backed_up))
        })?;
        // After a restart the data path has seen no write yet; the log backups remember theirs.
        let last_write = self.db_last_write(&resource).max(backed_up);
        self.with_state(now_ms, |state| {
            state.restore_db_instance_to_point_in_time(source, point, last_write, overrides, &zones, address, now_ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::minute_stamp;
    use crate::model::rds::DbInstanceSpec;
    use crate::test_support::TestRegion;

    #[test]
    fn log_backups_follow_writes_at_the_configured_interval() {
        let t = TestRegion::with_config(|c| c.delays.db_log_backup = std::time::Duration::from_millis(5_000));
        let spec = DbInstanceSpec {
            id: "ledger".into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            allocated_gib: Some(20),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            backup_retention_days: Some(1),
            ..Default::default()
        };
        let made = t.region.create_db_instance(spec, "localhost", t.now()).expect("create");
        t.advance(1_000);
        t.advance(1_000);
        // The log backups taken when the instance's last write was at `last_write` (ms ago).
        let take = |last_write: Option<u64>| {
            let last: std::collections::BTreeMap<String, u64> =
                last_write.map(|ago| (made.resource_id.clone(), t.now() - ago)).into_iter().collect();
            t.region
                .with_state(t.now(), |s| s.take_log_backups(&last, std::path::Path::new("/nonexistent"), t.now()))
                .expect("take")
        };
        assert_eq!(take(None), 0, "no write, no log backup");
        assert_eq!(take(Some(50)), 0, "the storage has not been quiet long enough");
        assert_eq!(take(Some(500)), 1, "quiet after a write: a log backup");
        assert_eq!(take(Some(500)), 0, "nothing new since");
        t.advance(1_000);
        assert_eq!(take(Some(300)), 0, "new writes, but the interval has not passed");
        t.advance(5_000);
        assert_eq!(take(Some(300)), 1, "the interval passed");
        let kept = t.region.read(t.now(), |s| Ok(s.db_log_backups.len())).expect("read");
        assert_eq!(kept, 2);
    }

    #[test]
    fn automated_snapshot_names_carry_the_utc_minute() {
        assert_eq!(minute_stamp(0), "1970-01-01-00-00");
        // 2026-12-01 09:58 UTC.
        assert_eq!(minute_stamp(1_796_119_080_000), "2026-12-01-09-58");
        assert_eq!(minute_stamp(951_782_400_000), "2000-02-29-00-00");
    }
}
