//! CopyDBSnapshot and the `restore` attribute of DB snapshots (ModifyDBSnapshotAttribute,
//! DescribeDBSnapshotAttributes). A copy is a manual snapshot of its own whose blocks the
//! snapshot store shares with the source (content-addressed), so deleting either leaves the
//! other whole. A copy from another region reads the source's blocks out of that region's
//! snapshot store and writes them into this region's: the regions share nothing.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::rds::{DbSnapshot, DbSnapshotStatus, EventSource, RdsError};
use crate::rds::valid_snapshot_identifier;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};
use crate::{ControlPlane, RegionName};

/// Accounts one manual snapshot may be shared with (RDS's quota).
pub const MAX_SHARED_ACCOUNTS: usize = 20;

/// What CopyDBSnapshot asks for besides the two identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotCopySpec {
    pub tags: BTreeMap<String, String>,
    /// Copy the source's tags too (the request's own win where both name a key).
    pub copy_tags: bool,
    /// A KMS key: the copy is encrypted.
    pub kms_key_id: Option<String>,
    /// The ARN the caller named the source by (kept on the copy).
    pub source_arn: Option<String>,
}

/// One volume of a DB snapshot read out of its store: its size and its blocks (index, bytes).
#[derive(Debug, Clone)]
pub struct ExportedVolume {
    pub size: u64,
    pub blocks: Vec<(u64, Vec<u8>)>,
}

/// A DB snapshot read out of its region's snapshot store: its row and its volumes.
#[derive(Debug, Clone)]
pub struct ExportedSnapshot {
    pub row: DbSnapshot,
    pub volumes: Vec<ExportedVolume>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

impl RegionState {
    /// A snapshot of this region's snapshot store, read out: its size and blocks.
    pub(crate) fn export_store_snapshot(&self, name: &str) -> Result<ExportedVolume, ControlError> {
        let store = self.store.snapshots();
        let name = store_name(name)?;
        let info = store.info(&name).map_err(storage_error)?;
        let mut blocks = Vec::new();
        for index in info.blocks.keys() {
            blocks.push((*index, store.read_block(&name, *index).map_err(storage_error)?));
        }
        Ok(ExportedVolume { size: info.volume_size, blocks })
    }

    /// Writes a snapshot read out of another region's store into this one's as `name` (nothing
    /// of it stays when it fails).
    pub(crate) fn import_store_snapshot(&self, name: &str, volume: &ExportedVolume) -> Result<(), ControlError> {
        let store = self.store.snapshots();
        let id = store_name(name)?;
        store.start(&id, volume.size, None).map_err(storage_error)?;
        let written = volume
            .blocks
            .iter()
            .try_for_each(|(index, data)| store.write_block(&id, *index, data).map(|_| ()).map_err(storage_error));
        if written.is_err() {
            let _ = store.delete(&id);
        }
        written
    }

    pub(crate) fn copy_db_snapshot(
        &mut self,
        source: &str,
        target: &str,
        spec: SnapshotCopySpec,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        let from = self.db_snapshot(source)?.clone();
        let id = self.check_copy_target(&from, target)?;
        let tag = self.random_id("s");
        let store = self.store.snapshots();
        let mut copied: Vec<String> = Vec::new();
        for (n, volume) in from.volumes.iter().enumerate() {
            let name = format!("rds-snap-{}-{n}", &tag[2..]);
            let made = store_name(volume)
                .and_then(|src| store.copy(&src, &store_name(&name)?).map(|_| ()).map_err(storage_error));
            if let Err(e) = made {
                for name in &copied {
                    let _ = store_name(name).map(|n| store.delete(&n));
                }
                return Err(e);
            }
            copied.push(name);
        }
        Ok(self.add_copy(from, id, copied, spec, None, now_ms))
    }

    /// The copy's identifier (lower-case), checked, for a source that can be copied.
    fn check_copy_target(&self, from: &DbSnapshot, target: &str) -> Result<String, ControlError> {
        let id = target.to_ascii_lowercase();
        if !valid_snapshot_identifier(&id) {
            return Err(invalid(
                "The parameter TargetDBSnapshotIdentifier is not a valid identifier. Identifiers must begin with a \
                 letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
                 contain two consecutive hyphens.",
            ));
        }
        if from.status != DbSnapshotStatus::Available {
            return Err(RdsError::InvalidSnapshotState {
                id: from.id.clone(),
                status: from.status.as_str(),
                why: "it must be available to be copied",
            }
            .into());
        }
        if self.db_snapshots.contains_key(&id) {
            return Err(RdsError::SnapshotExists(id).into());
        }
        Ok(id)
    }

    /// The row of a copy whose volumes are `copied`, recorded with its event.
    fn add_copy(
        &mut self,
        from: DbSnapshot,
        id: String,
        copied: Vec<String>,
        spec: SnapshotCopySpec,
        source_region: Option<(String, crate::ids::AzName)>,
        now_ms: u64,
    ) -> DbSnapshot {
        let mut tags = if spec.copy_tags { from.tags.clone() } else { BTreeMap::new() };
        tags.extend(spec.tags);
        let copy = DbSnapshot {
            id: id.clone(),
            status: DbSnapshotStatus::Creating,
            status_since_ms: now_ms,
            created_ms: now_ms,
            // A copy is always manual, and shared with nobody.
            snapshot_type: "manual".into(),
            volumes: copied,
            encrypted: from.encrypted || spec.kms_key_id.is_some(),
            tags,
            restore_accounts: Vec::new(),
            source_snapshot_arn: spec.source_arn.clone(),
            source_region: source_region.as_ref().map(|(r, _)| r.clone()),
            zone: source_region.map_or_else(|| from.zone.clone(), |(_, zone)| zone),
            ..from.clone()
        };
        self.db_snapshots.insert(id.clone(), copy.clone());
        let message = match &copy.source_region {
            Some(region) => format!("Started cross region copy of snapshot {} from {region}", from.id),
            None => format!("Started copy of snapshot {}", from.id),
        };
        self.rds_event_of(EventSource::DbSnapshot, &id, &message, "RDS-EVENT-0060", "notification", now_ms);
        copy
    }

    /// A DB snapshot's row and blocks, for a copy into another region.
    pub(crate) fn export_db_snapshot(&self, id: &str) -> Result<ExportedSnapshot, ControlError> {
        let row = self.db_snapshot(id)?.clone();
        if row.status != DbSnapshotStatus::Available {
            return Err(RdsError::InvalidSnapshotState {
                id: row.id,
                status: row.status.as_str(),
                why: "it must be available to be copied",
            }
            .into());
        }
        let volumes = row.volumes.iter().map(|v| self.export_store_snapshot(v)).collect::<Result<_, _>>()?;
        Ok(ExportedSnapshot { row, volumes })
    }

    /// A copy of a snapshot of another region: its blocks written into this region's store.
    pub(crate) fn import_db_snapshot(
        &mut self,
        from: ExportedSnapshot,
        source_region: &str,
        target: &str,
        spec: SnapshotCopySpec,
        zone: crate::ids::AzName,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        let id = self.check_copy_target(&from.row, target)?;
        if from.row.encrypted && spec.kms_key_id.is_none() {
            return Err(invalid("KmsKeyId must be specified to copy an encrypted DB snapshot from another region."));
        }
        let tag = self.random_id("s");
        let mut copied: Vec<String> = Vec::new();
        for (n, volume) in from.volumes.iter().enumerate() {
            let name = format!("rds-snap-{}-{n}", &tag[2..]);
            if let Err(e) = self.import_store_snapshot(&name, volume) {
                for name in &copied {
                    let _ = store_name(name).map(|n| self.store.snapshots().delete(&n));
                }
                return Err(e);
            }
            copied.push(name);
        }
        Ok(self.add_copy(from.row, id, copied, spec, Some((source_region.to_string(), zone)), now_ms))
    }

    /// ModifyDBSnapshotAttribute: adds and removes account ids (or `all`) of `restore`.
    pub(crate) fn modify_db_snapshot_attribute(
        &mut self,
        id: &str,
        attribute: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<DbSnapshot, ControlError> {
        let snapshot = self.db_snapshot(id)?.clone();
        if attribute != "restore" {
            return Err(invalid(format!(
                "Invalid attribute name: {attribute}. The only attribute name that can be modified is restore."
            )));
        }
        if snapshot.snapshot_type != "manual" {
            return Err(RdsError::InvalidSnapshotState {
                id: snapshot.id,
                status: snapshot.status.as_str(),
                why: "it is an automated snapshot, and only manual snapshots can be shared",
            }
            .into());
        }
        let accounts = shared_accounts(&snapshot.restore_accounts, add, remove, snapshot.encrypted)?;
        let row = self.db_snapshots.get_mut(&snapshot.id).ok_or_else(|| RdsError::SnapshotNotFound(id.into()))?;
        row.restore_accounts = accounts;
        Ok(row.clone())
    }
}

/// The accounts (or `all`) a snapshot's `restore` attribute names after adding and removing:
/// 12-digit account ids, never `all` for an encrypted snapshot, at most RDS's quota.
pub(crate) fn shared_accounts(
    current: &[String],
    add: &[String],
    remove: &[String],
    encrypted: bool,
) -> Result<Vec<String>, ControlError> {
    for value in add.iter().chain(remove) {
        if value != "all" && !(value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid(format!("Invalid account id: {value}. Use 12-digit account ids or all.")));
        }
    }
    if add.iter().any(|v| v == "all") && encrypted {
        return Err(invalid("Encrypted snapshots cannot be shared publicly."));
    }
    let mut accounts: Vec<String> = current.to_vec();
    accounts.retain(|a| !remove.contains(a));
    for value in add {
        if !accounts.contains(value) {
            accounts.push(value.clone());
        }
    }
    let shared_with = accounts.iter().filter(|a| *a != "all").count();
    if shared_with > MAX_SHARED_ACCOUNTS {
        return Err(RdsError::SharedSnapshotQuotaExceeded(MAX_SHARED_ACCOUNTS).into());
    }
    Ok(accounts)
}

impl Region {
    /// CopyDBSnapshot.
    pub fn copy_db_snapshot(
        &self,
        source: &str,
        target: &str,
        spec: SnapshotCopySpec,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.copy_db_snapshot(source, target, spec, now_ms))
    }

    /// ModifyDBSnapshotAttribute.
    pub fn modify_db_snapshot_attribute(
        &self,
        id: &str,
        attribute: &str,
        add: &[String],
        remove: &[String],
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_snapshot_attribute(id, attribute, add, remove))
    }
}

impl ControlPlane {
    /// CopyDBSnapshot across regions: snapshot `source` of `from` copied as `target` into `to`.
    pub fn copy_db_snapshot_between_regions(
        &self,
        from: &RegionName,
        source: &str,
        to: &RegionName,
        target: &str,
        spec: SnapshotCopySpec,
    ) -> Result<DbSnapshot, ControlError> {
        let now_ms = self.now_ms();
        let exported = self.region(from).read(now_ms, |state| state.export_db_snapshot(source))?;
        let destination = self.region(to);
        let zone = destination
            .zones_now()
            .first()
            .map(|z| z.name.clone())
            .ok_or_else(|| invalid(format!("Region {to} has no Availability Zone")))?;
        destination
            .with_state(now_ms, |state| state.import_db_snapshot(exported, from.as_str(), target, spec, zone, now_ms))
    }
}
