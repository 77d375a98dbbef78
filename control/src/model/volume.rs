//! EBS volumes as data: types and their limits, states, attachments, modifications, status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AzId, AzName, InstanceId, SnapshotId, VolumeId};
use crate::table::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Gp2,
    Gp3,
    Io1,
    Io2,
    St1,
    Sc1,
    Standard,
}

/// AWS's limits for one volume type (EBS User Guide, "Amazon EBS volume types").
#[derive(Debug, Clone, Copy)]
pub struct TypeLimits {
    pub min_gib: u32,
    pub max_gib: u32,
    /// (min, max, default, max per GiB) when IOPS can be provisioned.
    pub iops: Option<(u32, u32, Option<u32>, u32)>,
    /// (min, max, default) MiB/s when throughput can be provisioned.
    pub throughput: Option<(u32, u32, u32)>,
}

impl VolumeType {
    pub fn limits(self) -> TypeLimits {
        match self {
            VolumeType::Gp2 => TypeLimits { min_gib: 1, max_gib: 16_384, iops: None, throughput: None },
            VolumeType::Gp3 => TypeLimits {
                min_gib: 1,
                max_gib: 16_384,
                iops: Some((3_000, 16_000, Some(3_000), 500)),
                throughput: Some((125, 1_000, 125)),
            },
            VolumeType::Io1 => {
                TypeLimits { min_gib: 4, max_gib: 16_384, iops: Some((100, 64_000, None, 50)), throughput: None }
            }
            VolumeType::Io2 => {
                TypeLimits { min_gib: 4, max_gib: 65_536, iops: Some((100, 256_000, None, 1_000)), throughput: None }
            }
            VolumeType::St1 | VolumeType::Sc1 => {
                TypeLimits { min_gib: 125, max_gib: 16_384, iops: None, throughput: None }
            }
            VolumeType::Standard => TypeLimits { min_gib: 1, max_gib: 1_024, iops: None, throughput: None },
        }
    }

    /// The IOPS a volume of this type and size delivers without provisioning (gp2's burst
    /// baseline: 3 per GiB, 100 to 16,000).
    pub fn baseline_iops(self, size_gib: u32) -> Option<u32> {
        match self {
            VolumeType::Gp2 => Some((size_gib.saturating_mul(3)).clamp(100, 16_000)),
            _ => None,
        }
    }

    pub fn supports_multi_attach(self) -> bool {
        matches!(self, VolumeType::Io1 | VolumeType::Io2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    Creating,
    Available,
    InUse,
    Deleting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentState {
    Attaching,
    Attached,
    Detaching,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub instance: InstanceId,
    pub device: String,
    pub state: AttachmentState,
    pub since_ms: u64,
    pub attach_time_ms: u64,
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModificationState {
    Modifying,
    Optimizing,
    Completed,
}

/// The settings a volume has or is being changed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSettings {
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub multi_attach: bool,
}

/// The latest ModifyVolume of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modification {
    pub original: VolumeSettings,
    pub target: VolumeSettings,
    pub state: ModificationState,
    pub state_since_ms: u64,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    pub zone: AzName,
    pub zone_id: AzId,
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach: bool,
    pub snapshot_id: Option<SnapshotId>,
    pub create_time_ms: u64,
    pub state: VolumeState,
    pub state_since_ms: u64,
    pub attachments: Vec<Attachment>,
    pub auto_enable_io: bool,
    pub tags: BTreeMap<String, String>,
    pub client_token: Option<String>,
    pub modification: Option<Modification>,
    /// The storage primary and epoch last seen, to notice a failover to the other replica.
    #[serde(default)]
    pub seen_primary: Option<(u32, u64)>,
    /// The latest potential-data-inconsistency event, if any.
    #[serde(default)]
    pub io_event: Option<IoEvent>,
}

/// EBS disables a volume's I/O when its data may be inconsistent: squall does so when a volume
/// fails over to its other replica (the primary was lost while the instance may have had writes
/// in flight to it). `autoEnableIO` re-enables at once; otherwise `EnableVolumeIO` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoEvent {
    pub id: String,
    pub since_ms: u64,
    /// When I/O was enabled again (by the user, or automatically).
    pub enabled_ms: Option<u64>,
    pub auto_enabled: bool,
}

/// What a CreateVolume asks for, after wire decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub zone: AzName,
    pub size_gib: Option<u32>,
    pub snapshot_id: Option<SnapshotId>,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach: bool,
    pub tags: BTreeMap<String, String>,
    pub client_token: Option<String>,
}

/// The health of a volume's data path, as DescribeVolumeStatus reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeHealth {
    Ok,
    /// No writable primary is confirmed (re-mirroring): I/O is stalled.
    Stuck,
}

impl Row for Volume {
    const TABLE: &'static str = "volumes";
    type Key = VolumeId;
    fn key(&self) -> VolumeId {
        self.id.clone()
    }
}

impl Volume {
    /// Whether I/O is disabled, waiting for `EnableVolumeIO`.
    pub fn io_disabled(&self) -> bool {
        self.io_event.as_ref().is_some_and(|e| e.enabled_ms.is_none())
    }
}

impl Volume {
    pub fn settings(&self) -> VolumeSettings {
        VolumeSettings {
            size_gib: self.size_gib,
            volume_type: self.volume_type,
            iops: self.iops,
            throughput: self.throughput,
            multi_attach: self.multi_attach,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPerformance {
    Normal,
    /// No writable primary is confirmed: I/O waits.
    Stalled,
    NotApplicable,
}

/// Where a potential-data-inconsistency event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoEventStage {
    /// I/O stays disabled until EnableVolumeIO.
    AwaitingEnable,
    Enabled,
    AutoEnabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoEventStatus {
    pub id: String,
    pub since_ms: u64,
    pub enabled_ms: Option<u64>,
    pub stage: IoEventStage,
    /// The instance the volume was attached to, if any.
    pub instance: Option<InstanceId>,
}

/// A volume's status as DescribeVolumeStatus shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeStatus {
    pub impaired: bool,
    pub io_enabled: bool,
    pub io_performance: IoPerformance,
    pub event: Option<IoEventStatus>,
}

/// Where a volume's bytes live: the storage nodes of its two replicas in its zone's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaSet {
    pub primary: u32,
    pub secondary: u32,
    /// Incremented at every new replica set (a re-mirror or a failover).
    pub epoch: u64,
    /// No writable primary is confirmed: the volume's I/O waits.
    pub stuck: bool,
}

/// The errors of EBS volumes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {0} does not exist")]
    NotFound(VolumeId),
    #[error("a volume needs a size or a snapshot")]
    MissingSizeOrSnapshot,
    #[error("{size_gib} GiB is outside {min_gib}..={max_gib} GiB for {volume_type:?}")]
    InvalidVolumeSize { volume_type: VolumeType, size_gib: u32, min_gib: u32, max_gib: u32 },
    #[error("the volume ({size_gib} GiB) is smaller than its snapshot ({snapshot_gib} GiB)")]
    VolumeSmallerThanSnapshot { size_gib: u32, snapshot_gib: u32 },
    #[error("{0:?} volumes take no IOPS")]
    IopsNotSupported(VolumeType),
    #[error("{0:?} volumes need IOPS")]
    IopsRequired(VolumeType),
    #[error("{iops} IOPS is outside {min}..={max} for {volume_type:?}")]
    InvalidIops { volume_type: VolumeType, iops: u32, min: u32, max: u32 },
    #[error("{iops} IOPS exceeds {per_gib} per GiB of a {size_gib} GiB volume")]
    IopsRatio { iops: u32, size_gib: u32, per_gib: u32 },
    #[error("{0:?} volumes take no throughput")]
    ThroughputNotSupported(VolumeType),
    #[error("throughput {throughput} is outside {min}..={max} MiB/s")]
    InvalidThroughput { throughput: u32, min: u32, max: u32 },
    #[error("{0:?} volumes cannot be multi-attached")]
    MultiAttachNotSupported(VolumeType),
    #[error("volume {volume} is attached to {instance}")]
    InUse { volume: VolumeId, instance: InstanceId },
    #[error("volume {volume} is {state:?}")]
    IncorrectVolumeState { volume: VolumeId, state: VolumeState },
    #[error("volume {volume} and instance {instance} are in different zones")]
    ZoneMismatch { volume: VolumeId, instance: InstanceId },
    #[error("device {device} is already used on {instance}")]
    DeviceInUse { device: String, instance: InstanceId },
    #[error("volume {volume} is not attached")]
    NotAttached { volume: VolumeId },
    /// Attached, but not to the instance or at the device the request names.
    #[error("volume {volume} has no attachment to {instance:?} at {device:?}")]
    AttachmentNotFound { volume: VolumeId, instance: Option<InstanceId>, device: Option<String> },
    #[error("the storage cluster of zone {zone} has no room for the volume")]
    InsufficientVolumeCapacity { zone: String },
    #[error("volume {0} is being modified")]
    ModificationInProgress(VolumeId),
    #[error("volume {volume} cannot shrink from {size_gib} GiB to {new_gib} GiB")]
    CannotShrink { volume: VolumeId, size_gib: u32, new_gib: u32 },
}
