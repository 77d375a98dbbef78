//! EBS snapshots as data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{InstanceId, SnapshotId, VolumeId};
use crate::table::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    Pending,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub volume_id: Option<VolumeId>,
    pub volume_size_gib: u32,
    pub description: String,
    pub start_time_ms: u64,
    pub state: SnapshotState,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Account ids (and `all`) allowed to create volumes from it.
    pub create_volume_permissions: Vec<String>,
    /// Started through the EBS direct APIs and not yet completed: stays `pending` until
    /// CompleteSnapshot.
    #[serde(default)]
    pub awaiting_completion: bool,
    #[serde(default)]
    pub parent: Option<SnapshotId>,
    /// The last tiering operation (ModifySnapshotTier, RestoreSnapshotTier).
    #[serde(default)]
    pub tiering: Option<Tiering>,
    /// The account that owns it (`None`: made before owners were kept, or by squall itself
    /// for an image; visible to every account).
    #[serde(default)]
    pub owner: Option<String>,
}

impl Snapshot {
    /// Whether `account` may see it and create volumes from it: its owner, or an account its
    /// createVolumePermission names (or `all`).
    pub fn visible_to(&self, account: &str) -> bool {
        self.owner.as_deref().is_none_or(|o| o == account)
            || self.create_volume_permissions.iter().any(|p| p == account || p == "all")
    }

    /// Whether `account` owns it (and may change or delete it).
    pub fn owned_by(&self, account: &str) -> bool {
        self.owner.as_deref().is_none_or(|o| o == account)
    }
}

/// A snapshot tiering operation and when it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiering {
    pub operation: TieringOperation,
    pub since_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TieringOperation {
    Archive,
    /// Restored for this many days, then archived again.
    TemporaryRestore(u32),
    PermanentRestore,
}

/// Where a snapshot's tiering stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierView {
    /// In the archive tier now (not usable to create volumes).
    pub archived: bool,
    /// The last operation, whether it completed, and when it does or did.
    pub last: Option<(TieringOperation, bool, u64)>,
    pub started_ms: Option<u64>,
    /// When a temporary restore ends.
    pub restore_expiry_ms: Option<u64>,
}

impl Snapshot {
    /// The snapshot's tier at `now_ms`, an operation taking `step_ms`.
    pub fn tier(&self, step_ms: u64, now_ms: u64) -> TierView {
        let Some(t) = &self.tiering else {
            return TierView { archived: false, last: None, started_ms: None, restore_expiry_ms: None };
        };
        let done_at = t.since_ms.saturating_add(step_ms);
        let done = done_at <= now_ms;
        let (archived, expiry) = match t.operation {
            TieringOperation::Archive => (done, None),
            TieringOperation::TemporaryRestore(days) => {
                let expiry = done_at.saturating_add(u64::from(days) * 86_400_000);
                (!done || now_ms >= expiry, Some(expiry))
            }
            TieringOperation::PermanentRestore => (!done, None),
        };
        TierView {
            archived,
            last: Some((t.operation, done, done_at)),
            started_ms: Some(t.since_ms),
            restore_expiry_ms: expiry,
        }
    }
}

impl Row for Snapshot {
    const TABLE: &'static str = "snapshots";
    type Key = SnapshotId;
    fn key(&self) -> SnapshotId {
        self.id.clone()
    }
}

/// Bytes per block of the EBS direct APIs.
pub const DIRECT_BLOCK_SIZE: u64 = 512 * 1024;

/// A block of a completed snapshot, as the EBS direct APIs list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlock {
    pub index: u64,
    /// Hex SHA-256 of the block's bytes.
    pub hash: String,
}

/// A block that differs between two snapshots, with its hash in each (`None`: empty there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedBlock {
    pub index: u64,
    pub first_hash: Option<String>,
    pub second_hash: Option<String>,
}

/// What a CreateSnapshots asks for: the volumes attached to an instance, less some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSnapshots {
    pub instance: InstanceId,
    pub exclude_boot: bool,
    pub exclude_volumes: Vec<VolumeId>,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// Each snapshot also gets its volume's tags (the request's win).
    pub copy_volume_tags: bool,
}

/// The errors of EBS snapshots (through EC2 and the EBS direct APIs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {0} does not exist")]
    NotFound(SnapshotId),
    #[error("snapshot {snapshot} is in use by volume {volume}")]
    InUse { snapshot: SnapshotId, volume: VolumeId },
    #[error("snapshot {0} is not pending: blocks can no longer be written")]
    SnapshotNotPending(SnapshotId),
    #[error("snapshot {0} is not completed yet")]
    SnapshotNotCompleted(SnapshotId),
    #[error("block {index} is beyond the end of snapshot {snapshot}")]
    BlockIndexOutOfRange { snapshot: SnapshotId, index: u64 },
    #[error("snapshot {snapshot}: {declared} changed blocks declared, {written} written")]
    ChangedBlocksMismatch { snapshot: SnapshotId, declared: u64, written: u64 },
    #[error("snapshot {0}: the aggregate checksum does not match the blocks written")]
    ChecksumMismatch(SnapshotId),
    #[error("snapshot {snapshot} is used by image {image}")]
    SnapshotUsedByImage { snapshot: SnapshotId, image: String },
    /// A tiering request the snapshot's tier does not allow, worded for the caller.
    #[error("{0}")]
    TierState(String),
    /// The snapshot is archived: restore it before using it.
    #[error("snapshot {0} is in the archive tier")]
    Archived(SnapshotId),
}
