//! CopyDBSnapshot and the `restore` attribute of DB snapshots (ModifyDBSnapshotAttribute,
//! DescribeDBSnapshotAttributes). A copy is a manual snapshot of its own whose blocks the
//! snapshot store shares with the source (content-addressed), so deleting either leaves the
//! other whole.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::rds::{DbSnapshot, DbSnapshotStatus, EventSource, RdsError};
use crate::rds::valid_snapshot_identifier;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};

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
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

impl RegionState {
    pub(crate) fn copy_db_snapshot(
        &mut self,
        source: &str,
        target: &str,
        spec: SnapshotCopySpec,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        let from = self.db_snapshot(source)?.clone();
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
                id: from.id,
                status: from.status.as_str(),
                why: "it must be available to be copied",
            }
            .into());
        }
        if self.db_snapshots.contains_key(&id) {
            return Err(RdsError::SnapshotExists(id).into());
        }
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
            ..from.clone()
        };
        self.db_snapshots.insert(id.clone(), copy.clone());
        let message = format!("Started copy of snapshot {}", from.id);
        self.rds_event_of(EventSource::DbSnapshot, &id, &message, "RDS-EVENT-0060", "notification", now_ms);
        Ok(copy)
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
        for value in add.iter().chain(remove) {
            if value != "all" && !(value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())) {
                return Err(invalid(format!("Invalid account id: {value}. Use 12-digit account ids or all.")));
            }
        }
        if add.iter().any(|v| v == "all") && snapshot.encrypted {
            return Err(invalid("Encrypted snapshots cannot be shared publicly."));
        }
        let mut accounts: Vec<String> = snapshot.restore_accounts.clone();
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
        let row = self.db_snapshots.get_mut(&snapshot.id).ok_or_else(|| RdsError::SnapshotNotFound(id.into()))?;
        row.restore_accounts = accounts;
        Ok(row.clone())
    }
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
