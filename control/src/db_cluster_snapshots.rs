//! Snapshots of Aurora DB clusters: a snapshot is one consistent copy of the cluster volume (a
//! member that answers and has every acknowledged write) taken into the snapshot store, and a
//! restore makes a new cluster whose three zone volumes start from it. A final snapshot of
//! DeleteDBCluster is one of these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db_clusters::{DbCluster, DbClusterSpec, DbClusterStatus};
use crate::error::ControlError;
use crate::ids::AzName;
use crate::model::lifecycle::LifecycleDelays;
use crate::model::rds::{EventSource, RdsError};
use crate::model::zone::Zone;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};
use crate::table::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSnapshotStatus {
    Creating,
    Available,
}

impl ClusterSnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbClusterSnapshot {
    /// Lower-case.
    pub id: String,
    pub cluster_id: String,
    pub cluster_resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub engine_mode: String,
    pub port: u16,
    pub master_username: String,
    /// Kept for the restored cluster's SQL endpoint; never shown.
    pub master_password: String,
    pub db_name: Option<String>,
    pub zones: Vec<AzName>,
    pub vpc_id: String,
    pub cluster_created_ms: u64,
    pub status: ClusterSnapshotStatus,
    pub status_since_ms: u64,
    pub created_ms: u64,
    pub snapshot_type: String,
    /// The snapshot store's snapshot of the cluster volume.
    pub volume: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub storage_type: String,
    pub backup_retention_days: u32,
    pub backup_window: String,
    pub tags: BTreeMap<String, String>,
    /// The accounts (or `all`) its `restore` attribute shares it with.
    #[serde(default)]
    pub restore_accounts: Vec<String>,
    /// For a copy: the ARN of the snapshot it was copied from.
    #[serde(default)]
    pub source_snapshot_arn: Option<String>,
}

impl Row for DbClusterSnapshot {
    const TABLE: &'static str = "db_cluster_snapshots";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

pub(crate) fn cluster_snapshot_next_due(s: &DbClusterSnapshot, d: LifecycleDelays) -> u64 {
    match s.status {
        ClusterSnapshotStatus::Creating => s.status_since_ms.saturating_add(d.volume_create.as_millis() as u64),
        ClusterSnapshotStatus::Available => u64::MAX,
    }
}

/// What RestoreDBClusterFromSnapshot asks for besides the snapshot (the rest comes from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterRestoreSpec {
    pub id: String,
    pub snapshot: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub port: Option<u16>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub availability_zones: Vec<String>,
    pub deletion_protection: bool,
    pub copy_tags_to_snapshot: bool,
    pub serverless_v2: Option<crate::db_clusters::ServerlessV2>,
    pub backup_retention_days: Option<u32>,
    pub parameter_group: Option<String>,
    pub tags: BTreeMap<String, String>,
}

fn not_found(id: &str) -> ControlError {
    RdsError::ClusterSnapshotNotFound(id.to_string()).into()
}

impl RegionState {
    pub fn db_cluster_snapshots(&self) -> Vec<DbClusterSnapshot> {
        self.db_cluster_snapshots.values().cloned().collect()
    }

    pub fn db_cluster_snapshot(&self, id: &str) -> Result<&DbClusterSnapshot, ControlError> {
        self.db_cluster_snapshots.get(&id.to_ascii_lowercase()).ok_or_else(|| not_found(id))
    }

    /// CreateDBClusterSnapshot (and a final snapshot): the cluster volume as a member that has
    /// every acknowledged write holds it, into the snapshot store.
    pub(crate) fn create_db_cluster_snapshot(
        &mut self,
        cluster_id: &str,
        snapshot_id: &str,
        tags: BTreeMap<String, String>,
        quorum_dir: &std::path::Path,
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        let id = snapshot_id.to_ascii_lowercase();
        if !crate::rds::valid_snapshot_identifier(&id) {
            return Err(RdsError::InvalidParameterValue(
                "The parameter DBClusterSnapshotIdentifier is not a valid identifier. Identifiers must begin with a \
                 letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
                 contain two consecutive hyphens."
                    .into(),
            )
            .into());
        }
        let cluster = self.db_cluster(cluster_id)?.clone();
        if self.db_cluster_snapshots.contains_key(&id) {
            return Err(RdsError::ClusterSnapshotExists(id).into());
        }
        if !matches!(cluster.status, DbClusterStatus::Available | DbClusterStatus::Stopped) {
            return Err(RdsError::InvalidClusterState(format!(
                "DbCluster {} is in {} state but expected it to be one of available,stopped.",
                cluster.id,
                cluster.status.as_str()
            ))
            .into());
        }
        let name = self.snapshot_cluster_volume(&cluster, quorum_dir)?;
        let snapshot = DbClusterSnapshot {
            id: id.clone(),
            cluster_id: cluster.id.clone(),
            cluster_resource_id: cluster.resource_id.clone(),
            engine: cluster.engine.clone(),
            engine_version: cluster.engine_version.clone(),
            engine_mode: cluster.engine_mode.clone(),
            port: cluster.port,
            master_username: cluster.master_username.clone(),
            master_password: cluster.master_password.clone(),
            db_name: cluster.db_name.clone(),
            zones: cluster.zones(),
            vpc_id: cluster.vpc_id.clone(),
            cluster_created_ms: cluster.created_ms,
            status: ClusterSnapshotStatus::Creating,
            status_since_ms: now_ms,
            created_ms: now_ms,
            snapshot_type: "manual".into(),
            volume: name,
            encrypted: cluster.storage_encrypted,
            kms_key_id: cluster.kms_key_id.clone(),
            storage_type: cluster.storage_type.clone(),
            backup_retention_days: cluster.backup_retention_days,
            backup_window: cluster.backup_window.clone(),
            tags: if tags.is_empty() && cluster.copy_tags_to_snapshot { cluster.tags.clone() } else { tags },
            restore_accounts: Vec::new(),
            source_snapshot_arn: None,
        };
        self.db_cluster_snapshots.insert(id.clone(), snapshot.clone());
        self.rds_event_of(
            EventSource::DbClusterSnapshot,
            &id,
            "Creating manual cluster snapshot",
            "RDS-EVENT-0074",
            "creation",
            now_ms,
        );
        Ok(snapshot)
    }

    /// The cluster volume as a copy that has every acknowledged write holds it, into the snapshot
    /// store: the name of the snapshot taken.
    pub(crate) fn snapshot_cluster_volume(
        &mut self,
        cluster: &DbCluster,
        quorum_dir: &std::path::Path,
    ) -> Result<String, ControlError> {
        let volume = self.cluster_volume(&cluster.id, quorum_dir)?;
        let current = volume.current_members();
        let member = current.first().ok_or_else(|| {
            RdsError::InvalidClusterState(format!(
                "DbCluster {}: no copy of its cluster volume answers with every acknowledged write.",
                cluster.id
            ))
        })?;
        let m = &volume.members()[*member];
        let tag = self.random_id("s");
        let name = format!("rds-csnap-{}", &tag[2..]);
        self.store
            .snapshots()
            .snapshot_volume(&mut m.cluster.lock(), &m.volume, &store_name(&name)?, None)
            .map_err(storage_error)?;
        Ok(name)
    }

    /// RestoreDBClusterToPointInTime: a new cluster whose volume is the source's at the time
    /// asked for — now (or any time after its last write), else the newest log backup taken at
    /// or before it, else the empty volume it started as.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore_db_cluster_to_point_in_time(
        &mut self,
        spec: ClusterRestoreSpec,
        point: crate::db_backups::RestorePoint,
        last_write_ms: u64,
        quorum_dir: &std::path::Path,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        use crate::db_backups::RestorePoint;
        let source = self.db_cluster(&spec.snapshot)?.clone();
        if let RestorePoint::At(t) = point {
            if t > now_ms || t < source.created_ms {
                return Err(RdsError::InvalidRestore(format!(
                    "The restore time must be between the earliest restorable time and the latest restorable time \
                     of DB cluster {}.",
                    source.id
                ))
                .into());
            }
        }
        if !matches!(source.status, DbClusterStatus::Available | DbClusterStatus::Stopped) {
            return Err(RdsError::InvalidClusterState(format!(
                "DbCluster {} is in {} state but expected it to be one of available,stopped.",
                source.id,
                source.status.as_str()
            ))
            .into());
        }
        let (from, transient) = match point {
            RestorePoint::At(t) if t < last_write_ms => {
                match self.restore_point(&source.resource_id, t) {
                    Some((volumes, _)) => (volumes.into_iter().next(), false),
                    // Before its first write was backed up: the empty volume it started as.
                    None => (None, false),
                }
            }
            _ => (Some(self.snapshot_cluster_volume(&source, quorum_dir)?), true),
        };
        let cluster = DbClusterSpec {
            id: spec.id,
            engine: source.engine.clone(),
            engine_version: Some(source.engine_version.clone()),
            engine_mode: Some(source.engine_mode.clone()),
            master_username: Some(source.master_username.clone()),
            master_password: Some(source.master_password.clone()),
            db_name: source.db_name.clone(),
            port: spec.port,
            subnet_group: spec.subnet_group.or_else(|| source.subnet_group.clone()),
            security_groups: if spec.security_groups.is_empty() {
                source.security_groups.clone()
            } else {
                spec.security_groups
            },
            parameter_group: spec.parameter_group.or_else(|| Some(source.parameter_group.clone())),
            backup_retention_days: spec.backup_retention_days.or(Some(source.backup_retention_days)),
            deletion_protection: spec.deletion_protection,
            storage_encrypted: source.storage_encrypted,
            kms_key_id: source.kms_key_id.clone(),
            copy_tags_to_snapshot: spec.copy_tags_to_snapshot,
            storage_type: Some(source.storage_type.clone()),
            serverless_v2: spec.serverless_v2.or(source.serverless_v2),
            availability_zones: spec.availability_zones,
            tags: spec.tags,
            ..Default::default()
        };
        let made = self.new_db_cluster(cluster, zones, address, now_ms, from.as_deref());
        if let Some(name) = from.filter(|_| transient) {
            if let Err(e) = store_name(&name).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error)) {
                tracing::warn!(snapshot = %name, "could not drop a point-in-time restore's transient snapshot: {e}");
            }
        }
        let made = made?;
        let message = match point {
            RestorePoint::Latest => format!("Restored from DB cluster {} to the latest restorable time", source.id),
            RestorePoint::At(t) => format!("Restored from DB cluster {} to {t} ms since the epoch", source.id),
        };
        self.rds_event_of(EventSource::DbCluster, &made.id, &message, "RDS-EVENT-0173", "creation", now_ms);
        Ok(made)
    }

    /// DeleteDBClusterSnapshot: an available snapshot, and its bytes in the snapshot store.
    pub(crate) fn delete_db_cluster_snapshot(
        &mut self,
        id: &str,
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        let s = self.db_cluster_snapshot(id)?.clone();
        if s.status != ClusterSnapshotStatus::Available {
            return Err(RdsError::InvalidClusterSnapshotState(format!(
                "Cannot delete the snapshot because it is not in available status: {}",
                s.status.as_str()
            ))
            .into());
        }
        if let Err(e) = store_name(&s.volume).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error)) {
            tracing::warn!(snapshot = %s.volume, "could not drop a DB cluster snapshot's bytes: {e}");
        }
        self.db_cluster_snapshots.remove(&s.id);
        self.rds_event_of(
            EventSource::DbClusterSnapshot,
            &s.id,
            "Deleted manual cluster snapshot",
            "RDS-EVENT-0170",
            "deletion",
            now_ms,
        );
        Ok(s)
    }

    /// RestoreDBClusterFromSnapshot: a new cluster (no instances yet) whose cluster volume starts
    /// as the snapshot's, with the snapshot's engine, credentials and database.
    pub(crate) fn restore_db_cluster_from_snapshot(
        &mut self,
        spec: ClusterRestoreSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let s = self.db_cluster_snapshot(&spec.snapshot)?.clone();
        if s.status != ClusterSnapshotStatus::Available {
            return Err(RdsError::InvalidClusterSnapshotState(format!(
                "DBClusterSnapshot {} is {}: it must be available to be restored.",
                s.id,
                s.status.as_str()
            ))
            .into());
        }
        if spec.engine != s.engine {
            return Err(RdsError::InvalidParameterCombination(format!(
                "The engine {} does not match the engine {} of the snapshot {}.",
                spec.engine, s.engine, s.id
            ))
            .into());
        }
        let cluster = DbClusterSpec {
            id: spec.id,
            engine: s.engine.clone(),
            engine_version: Some(spec.engine_version.unwrap_or_else(|| s.engine_version.clone())),
            engine_mode: Some(s.engine_mode.clone()),
            master_username: Some(s.master_username.clone()),
            master_password: Some(s.master_password.clone()),
            db_name: s.db_name.clone(),
            port: spec.port,
            subnet_group: spec.subnet_group,
            security_groups: spec.security_groups,
            backup_retention_days: spec.backup_retention_days,
            deletion_protection: spec.deletion_protection,
            storage_encrypted: s.encrypted,
            kms_key_id: s.kms_key_id.clone(),
            copy_tags_to_snapshot: spec.copy_tags_to_snapshot,
            storage_type: Some(s.storage_type.clone()),
            serverless_v2: spec.serverless_v2,
            availability_zones: spec.availability_zones,
            parameter_group: spec.parameter_group,
            tags: spec.tags,
            ..Default::default()
        };
        self.new_db_cluster(cluster, zones, address, now_ms, Some(&s.volume))
    }

    /// CopyDBClusterSnapshot (in this region): the source's bytes copied in the snapshot store
    /// under a new manual snapshot, shared with nobody.
    pub(crate) fn copy_db_cluster_snapshot(
        &mut self,
        source: &str,
        target: &str,
        copy_tags: bool,
        tags: BTreeMap<String, String>,
        source_arn: String,
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        let from = self.db_cluster_snapshot(source)?.clone();
        let id = target.to_ascii_lowercase();
        if !crate::rds::valid_snapshot_identifier(&id) {
            return Err(RdsError::InvalidParameterValue(
                "The parameter TargetDBClusterSnapshotIdentifier is not a valid identifier. Identifiers must begin \
                 with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a \
                 hyphen or contain two consecutive hyphens."
                    .into(),
            )
            .into());
        }
        if from.status != ClusterSnapshotStatus::Available {
            return Err(RdsError::InvalidClusterSnapshotState(format!(
                "DBClusterSnapshot {} is {}: it must be available to be copied.",
                from.id,
                from.status.as_str()
            ))
            .into());
        }
        if self.db_cluster_snapshots.contains_key(&id) {
            return Err(RdsError::ClusterSnapshotExists(id).into());
        }
        let tag = self.random_id("s");
        let name = format!("rds-csnap-{}", &tag[2..]);
        let store = self.store.snapshots();
        store.copy(&store_name(&from.volume)?, &store_name(&name)?).map_err(storage_error)?;
        let mut all_tags = if copy_tags { from.tags.clone() } else { BTreeMap::new() };
        all_tags.extend(tags);
        let copy = DbClusterSnapshot {
            id: id.clone(),
            status: ClusterSnapshotStatus::Creating,
            status_since_ms: now_ms,
            created_ms: now_ms,
            snapshot_type: "manual".into(),
            volume: name,
            tags: all_tags,
            restore_accounts: Vec::new(),
            source_snapshot_arn: Some(source_arn),
            ..from.clone()
        };
        self.db_cluster_snapshots.insert(id.clone(), copy.clone());
        let message = format!("Started copy of cluster snapshot {}", from.id);
        self.rds_event_of(EventSource::DbClusterSnapshot, &id, &message, "RDS-EVENT-0060", "notification", now_ms);
        Ok(copy)
    }

    /// ModifyDBClusterSnapshotAttribute: adds and removes account ids (or `all`) of `restore`.
    pub(crate) fn modify_db_cluster_snapshot_attribute(
        &mut self,
        id: &str,
        attribute: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<DbClusterSnapshot, ControlError> {
        let snapshot = self.db_cluster_snapshot(id)?.clone();
        if attribute != "restore" {
            return Err(RdsError::InvalidParameterValue(format!(
                "Invalid attribute name: {attribute}. The only attribute name that can be modified is restore."
            ))
            .into());
        }
        if snapshot.snapshot_type != "manual" {
            return Err(RdsError::InvalidClusterSnapshotState(format!(
                "DBClusterSnapshot {} is an automated snapshot: only manual snapshots can be shared.",
                snapshot.id
            ))
            .into());
        }
        let accounts =
            crate::db_snapshot_copy::shared_accounts(&snapshot.restore_accounts, add, remove, snapshot.encrypted)?;
        let row = self.db_cluster_snapshots.get_mut(&snapshot.id).ok_or_else(|| not_found(id))?;
        row.restore_accounts = accounts;
        Ok(row.clone())
    }

    pub(crate) fn settle_db_cluster_snapshots(&mut self, now_ms: u64) {
        let d = self.delays();
        let due: Vec<String> = self
            .db_cluster_snapshots
            .values()
            .filter(|s| cluster_snapshot_next_due(s, d) <= now_ms)
            .map(|s| s.id.clone())
            .collect();
        for id in due {
            let Some(s) = self.db_cluster_snapshots.get_mut(&id) else { continue };
            s.status = ClusterSnapshotStatus::Available;
            s.status_since_ms += d.volume_create.as_millis() as u64;
            let at = s.status_since_ms;
            self.rds_event_of(
                EventSource::DbClusterSnapshot,
                &id,
                "Created manual cluster snapshot",
                "RDS-EVENT-0075",
                "creation",
                at,
            );
        }
    }

    pub(crate) fn cluster_snapshot_tags_mut(
        &mut self,
        id: &str,
    ) -> Result<&mut BTreeMap<String, String>, ControlError> {
        self.db_cluster_snapshots.get_mut(&id.to_ascii_lowercase()).map(|s| &mut s.tags).ok_or_else(|| not_found(id))
    }
}

impl Region {
    /// RestoreDBClusterToPointInTime (`spec.snapshot` names the source cluster).
    pub fn restore_db_cluster_to_point_in_time(
        &self,
        spec: ClusterRestoreSpec,
        point: crate::db_backups::RestorePoint,
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let zones = self.zones_now();
        let dir = self.dir().join("rds-quorum");
        let (resource, backed_up) = self.read(now_ms, |state| {
            let resource = state.db_cluster(&spec.snapshot)?.resource_id.clone();
            let backed_up = state.latest_log_backup(&resource).map_or(0, |b| b.last_write_ms);
            Ok((resource, backed_up))
        })?;
        let last_write = self.db_last_write(&resource).max(backed_up);
        self.with_state(now_ms, |state| {
            state.restore_db_cluster_to_point_in_time(spec, point, last_write, &dir, &zones, address, now_ms)
        })
    }

    pub fn create_db_cluster_snapshot(
        &self,
        cluster_id: &str,
        snapshot_id: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        let dir = self.dir().join("rds-quorum");
        self.with_state(now_ms, |state| state.create_db_cluster_snapshot(cluster_id, snapshot_id, tags, &dir, now_ms))
    }

    pub fn copy_db_cluster_snapshot(
        &self,
        source: &str,
        target: &str,
        copy_tags: bool,
        tags: BTreeMap<String, String>,
        source_arn: String,
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        self.with_state(now_ms, |state| {
            state.copy_db_cluster_snapshot(source, target, copy_tags, tags, source_arn, now_ms)
        })
    }

    pub fn modify_db_cluster_snapshot_attribute(
        &self,
        id: &str,
        attribute: &str,
        add: &[String],
        remove: &[String],
        now_ms: u64,
    ) -> Result<DbClusterSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_cluster_snapshot_attribute(id, attribute, add, remove))
    }

    pub fn delete_db_cluster_snapshot(&self, id: &str, now_ms: u64) -> Result<DbClusterSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.delete_db_cluster_snapshot(id, now_ms))
    }

    pub fn restore_db_cluster_from_snapshot(
        &self,
        spec: ClusterRestoreSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.restore_db_cluster_from_snapshot(spec, &zones, address, now_ms))
    }
}
