//! EC2 instances as data, and what a launch asks for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AzId, AzName, InstanceId, SnapshotId};
use crate::model::lifecycle::LifecycleDelays;
use crate::model::volume::VolumeType;
use crate::table::Row;

/// How long a terminated instance stays visible, as on AWS (about an hour).
const TERMINATED_VISIBLE_MS: u64 = 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    /// AWS's state code (the low byte of `InstanceState.Code`).
    pub fn code(self) -> i32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub reservation_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub zone: AzName,
    pub zone_id: AzId,
    pub private_ip: String,
    pub state: InstanceState,
    pub state_since_ms: u64,
    pub launch_time_ms: u64,
    pub launch_index: u32,
    pub key_name: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// When the user last stopped or terminated it (the EC2 layer words `stateTransitionReason`).
    pub user_transition_ms: Option<u64>,
    /// `stateReason` code and message, when the last transition has one.
    pub state_reason: Option<(String, String)>,
    pub root_device: String,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Base64 as given to RunInstances or ModifyInstanceAttribute.
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub client_token: Option<String>,
    #[serde(default)]
    pub attributes: InstanceAttributes,
    /// The public IPv4 address given at launch or start (subnets that map public IPs), released
    /// when it stops; an Elastic IP associated with it shows instead.
    #[serde(default)]
    pub public_ip: Option<String>,
}

impl Row for Instance {
    const TABLE: &'static str = "instances";
    type Key = InstanceId;
    fn key(&self) -> InstanceId {
        self.id.clone()
    }
}

/// The earliest time the instance's next transition falls due (`u64::MAX`: none is pending).
pub(crate) fn instance_next_due(i: &Instance, d: LifecycleDelays) -> u64 {
    match i.state {
        InstanceState::Pending | InstanceState::Stopping | InstanceState::ShuttingDown => {
            i.state_since_ms.saturating_add(d.volume_create.as_millis() as u64)
        }
        InstanceState::Terminated => i.state_since_ms.saturating_add(TERMINATED_VISIBLE_MS),
        InstanceState::Running | InstanceState::Stopped => u64::MAX,
    }
}

/// The attributes ModifyInstanceAttribute changes (besides type, user data and groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAttributes {
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    /// `InstanceInitiatedShutdownBehavior` is `terminate` (else `stop`).
    pub shutdown_terminates: bool,
    pub source_dest_check: bool,
    pub ebs_optimized: bool,
    /// Detailed monitoring (MonitorInstances).
    #[serde(default)]
    pub monitoring: bool,
    #[serde(default)]
    pub metadata: MetadataOptions,
    /// `standard` or `unlimited` for burstable types (`None`: the type's default).
    #[serde(default)]
    pub cpu_credits: Option<String>,
    /// Launched with hibernation configured (HibernationOptions).
    #[serde(default)]
    pub hibernation: bool,
    /// Placement as asked: `default`, `dedicated` or `host`, and a dedicated host's id.
    #[serde(default)]
    pub tenancy: Option<String>,
    #[serde(default)]
    pub host_id: Option<String>,
    /// `AssociatePublicIpAddress` of its primary interface at launch (`None`: the subnet decides).
    #[serde(default)]
    pub associate_public_ip: Option<bool>,
}

/// The instance metadata service's options (ModifyInstanceMetadataOptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataOptions {
    /// `HttpTokens` `required` (IMDSv2 only), else `optional`.
    pub tokens_required: bool,
    pub hop_limit: u8,
    pub endpoint_enabled: bool,
    pub tags_enabled: bool,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self { tokens_required: false, hop_limit: 1, endpoint_enabled: true, tags_enabled: false }
    }
}

/// The CPU credit option of a burstable instance type: `unlimited` for t3, t3a and t4g,
/// `standard` for t2; `None` for a type that is not burstable.
pub fn default_cpu_credits(instance_type: &str) -> Option<&'static str> {
    let family = instance_type.split('.').next().unwrap_or_default();
    match family {
        "t2" => Some("standard"),
        "t3" | "t3a" | "t4g" => Some("unlimited"),
        _ => None,
    }
}

impl Default for InstanceAttributes {
    fn default() -> Self {
        Self {
            disable_api_termination: false,
            disable_api_stop: false,
            shutdown_terminates: false,
            source_dest_check: true,
            ebs_optimized: false,
            monitoring: false,
            metadata: MetadataOptions::default(),
            cpu_credits: None,
            hibernation: false,
            tenancy: None,
            host_id: None,
            associate_public_ip: None,
        }
    }
}

/// One change of ModifyInstanceAttribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeChange {
    InstanceType(String),
    UserData(Option<String>),
    Groups(Vec<String>),
    DisableApiTermination(bool),
    DisableApiStop(bool),
    ShutdownTerminates(bool),
    SourceDestCheck(bool),
    EbsOptimized(bool),
    /// MonitorInstances / UnmonitorInstances.
    Monitoring(bool),
    /// ModifyInstanceMetadataOptions: the options as they are to be.
    Metadata(MetadataOptions),
    /// ModifyInstanceCreditSpecification (a burstable type only).
    CpuCredits(String),
    /// DeleteOnTermination of the volume on a device.
    DeleteOnTermination {
        device: String,
        value: bool,
    },
}

/// One EBS volume of a launch: the root device or a block-device mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchVolume {
    pub device: String,
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub delete_on_termination: bool,
    /// The image's snapshot the volume starts from (blank when `None`).
    pub snapshot_id: Option<SnapshotId>,
}

/// What a RunInstances asks for, after wire decoding and zone resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub image_id: String,
    pub instance_type: String,
    pub zone: AzName,
    pub zone_id: AzId,
    /// The subnet the instances go in (in `zone`); it hands out their addresses.
    pub subnet_id: String,
    /// The address the (single) instance asked for.
    pub private_ip: Option<String>,
    /// Group ids; empty means the VPC's default group.
    pub security_groups: Vec<String>,
    pub count: u32,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub client_token: Option<String>,
    pub attributes: InstanceAttributes,
    pub tags: BTreeMap<String, String>,
    pub volume_tags: BTreeMap<String, String>,
    pub volumes: Vec<LaunchVolume>,
    /// The primary interface (device index 0) and the others.
    pub primary: crate::network_interfaces::PrimaryInterface,
    pub secondary: Vec<crate::model::network::LaunchInterface>,
}

/// The root device of an image without mappings of its own (catalogue images, unknown ids).
pub const ROOT_DEVICE: &str = "/dev/xvda";
/// The root volume such an image gets, as Amazon Linux's is.
pub const DEFAULT_ROOT_GIB: u32 = 8;

/// One `BlockDeviceMapping.N` of a RunInstances, after wire decoding; what it leaves out comes
/// from the image's mapping of the same device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedMapping {
    pub device: String,
    pub size_gib: Option<u32>,
    pub volume_type: Option<VolumeType>,
    pub iops: Option<u32>,
    pub delete_on_termination: Option<bool>,
    pub snapshot_id: Option<SnapshotId>,
}

/// What a RunInstances asks for, after wire decoding: the control plane resolves the image, the
/// subnet and zone, the groups and the volumes, and launches, as one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    pub image_id: String,
    /// PrivateIpAddress: the address the (single) instance gets in its subnet.
    pub private_ip: Option<String>,
    /// The root device and size of a public catalogue image, when the id is one (the catalogue is
    /// the EC2 service's: it also renders DescribeImages).
    pub catalogue_root: Option<(String, u32)>,
    pub instance_type: String,
    /// `Placement.AvailabilityZone`.
    pub placement_zone: Option<String>,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    /// Group names, looked up in the subnet's VPC.
    pub security_group_names: Vec<String>,
    pub count: u32,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub client_token: Option<String>,
    pub attributes: InstanceAttributes,
    pub tags: BTreeMap<String, String>,
    pub volume_tags: BTreeMap<String, String>,
    pub mappings: Vec<RequestedMapping>,
    /// `NetworkInterface.N`: when given, device index 0 says the subnet, groups and address.
    pub interfaces: Vec<crate::model::network::LaunchInterface>,
}

/// One check of DescribeInstanceStatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The instance is not running.
    NotApplicable,
    /// It started running moments ago.
    Initializing,
    Passed,
    Failed {
        since_ms: u64,
    },
}

/// What DescribeInstanceStatus reports of an instance: its host (system), itself (instance)
/// and its attached EBS volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceStatus {
    pub system: Check,
    pub instance: Check,
    pub ebs: Check,
}

/// The errors of EC2 instances and launches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    #[error("instance {0} does not exist")]
    NotFound(InstanceId),
    /// Several ids of one request name no instance: AWS names them all at once.
    #[error("instances {0:?} do not exist")]
    NotFoundMany(Vec<InstanceId>),
    #[error("instance {instance} is {state:?}")]
    IncorrectInstanceState { instance: InstanceId, state: InstanceState },
    #[error("zone {zone} has no capacity left for {instance_type}")]
    InsufficientInstanceCapacity { instance_type: String, zone: AzName },
    #[error("placement zone {zone} is not the zone {subnet_zone} of subnet {subnet}")]
    PlacementMismatch { zone: String, subnet: String, subnet_zone: String },
    #[error("the mapping of {0} names neither a size nor a snapshot")]
    MappingWithoutSize(String),
    #[error("instance {instance} has no device {device}")]
    NoDevice { instance: InstanceId, device: String },
    #[error("instance {0} may not be terminated (disableApiTermination)")]
    TerminationProtected(InstanceId),
    #[error("instance {0} may not be stopped (disableApiStop)")]
    StopProtected(InstanceId),
    #[error("instance {0} is not of a burstable type")]
    NotBurstable(InstanceId),
    #[error("{0} is not a CPU credit option (standard, unlimited)")]
    InvalidCpuCredits(String),
}
