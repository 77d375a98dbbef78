//! squall's control plane: the authority over one emulated AWS region per name that clients
//! use — its Availability Zones and the state of every resource in them.
//!
//! Service crates call it with typed requests and render its typed answers; it knows nothing
//! of HTTP or XML. Regions are created lazily on first use, so the 30-odd regions a client
//! may name cost nothing until one is called.

pub mod block_io;
mod catalog;
mod db;
pub mod ebs_direct;
pub mod faults;
mod ids;
pub mod images;
pub mod instances;
pub mod keypairs;
mod legacy;
pub mod lifecycle;
pub mod network;
mod region;
pub mod security_groups;
pub mod snapshots;
pub mod state;
pub mod status;
mod table;
pub mod tags;
pub mod volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use lifecycle::LifecycleDelays;
use volumes::{VolumeState, VolumeType};

pub use catalog::{RegionInfo, RegionOptIn, REGION_CATALOG};
pub use ids::{AzId, AzName, IdError, InstanceId, RegionName, SnapshotId, VolumeId};
pub use region::{stable_hex, DefaultNetwork, DefaultSubnet, Region, Zone, ZoneState};
pub use squall_storage::{Clock, ClusterConfig, ManualClock, PolicyKind, SystemClock, VolumeId as StoreVolumeId};

/// Settings of the control plane, fixed at start.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// The region used when a request names none (no SigV4 credential scope).
    pub default_region: RegionName,
    /// Number of Availability Zones in every region instead of the number AWS has there.
    pub zones_per_region: Option<u8>,
    /// Where persistent state lives (volumes, snapshots, metadata).
    pub data_dir: PathBuf,
    /// The storage cluster built for each zone on first use.
    pub cluster: ClusterConfig,
    pub delays: LifecycleDelays,
    /// Seeds every random choice (ids, placement, backoff jitter).
    pub seed: u64,
    /// Time for lifecycles and storage; wall-clock timestamps are derived from it.
    pub clock: Arc<dyn Clock>,
    /// RunInstances accepts any well-formed `ami-` id that is not a known image, launching it
    /// with a blank 8 GiB root volume (on by default, as tests often hard-code AMI ids).
    pub accept_any_image: bool,
    /// Instances that can run at once in each zone (stopped and terminated ones hold no
    /// capacity); beyond it, RunInstances and StartInstances fail with
    /// `InsufficientInstanceCapacity`, as when an AWS zone runs out.
    pub instance_capacity_per_zone: u32,
}

impl ControlConfig {
    /// Defaults for everything but the region and the data directory.
    pub fn new(default_region: RegionName, data_dir: PathBuf) -> Self {
        Self {
            default_region,
            zones_per_region: None,
            data_dir,
            // 64 TiB of logical space per node, four nodes per zone: replicas are sparse, so
            // this costs nothing until written, and 16 TiB volumes fit.
            cluster: ClusterConfig { node_capacity: 64 << 40, ..ClusterConfig::default() },
            delays: LifecycleDelays::default(),
            seed: 0x0517_5a11,
            clock: Arc::new(SystemClock::new()),
            accept_any_image: true,
            instance_capacity_per_zone: 1000,
        }
    }
}

/// Errors of the control plane, phrased in squall's terms; services map them to wire codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no Availability Zone named {zone} in region {region}")]
    UnknownZoneName { region: RegionName, zone: String },
    #[error("no Availability Zone with id {zone_id} in region {region}")]
    UnknownZoneId { region: RegionName, zone_id: String },
    #[error("the request would have succeeded (dry run)")]
    DryRun,
    #[error("volume {0} does not exist")]
    VolumeNotFound(VolumeId),
    #[error("snapshot {0} does not exist")]
    SnapshotNotFound(SnapshotId),
    #[error("instance {0} does not exist")]
    InstanceNotFound(InstanceId),
    #[error("{0} is not the id of a resource squall knows")]
    UnknownResourceId(String),
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
    #[error("more than 50 tags on one resource")]
    TooManyTags,
    #[error("client token {0} was used with other parameters")]
    IdempotentParameterMismatch(String),
    #[error("volume {volume} is attached to {instance}")]
    VolumeInUse { volume: VolumeId, instance: InstanceId },
    #[error("volume {volume} is {state:?}")]
    IncorrectVolumeState { volume: VolumeId, state: VolumeState },
    #[error("volume {volume} and instance {instance} are in different zones")]
    ZoneMismatch { volume: VolumeId, instance: InstanceId },
    #[error("device {device} is already used on {instance}")]
    DeviceInUse { device: String, instance: InstanceId },
    #[error("volume {volume} is not attached")]
    NotAttached { volume: VolumeId },
    #[error("snapshot {snapshot} is in use by volume {volume}")]
    SnapshotInUse { snapshot: SnapshotId, volume: VolumeId },
    #[error("the storage cluster of zone {zone} has no room for the volume")]
    InsufficientVolumeCapacity { zone: String },
    #[error("volume {0} is being modified")]
    ModificationInProgress(VolumeId),
    #[error("volume {volume} cannot shrink from {size_gib} GiB to {new_gib} GiB")]
    CannotShrink { volume: VolumeId, size_gib: u32, new_gib: u32 },
    #[error("instance {instance} is {state:?}")]
    IncorrectInstanceState { instance: InstanceId, state: instances::InstanceState },
    #[error("security group {0} does not exist")]
    SecurityGroupNotFound(String),
    #[error("the request names no security group (neither id nor name)")]
    SecurityGroupUnnamed,
    #[error("a security group named {name} already exists in {vpc_id}")]
    SecurityGroupExists { name: String, vpc_id: String },
    #[error("the default security group {0} cannot be deleted")]
    CannotDeleteDefaultGroup(String),
    #[error("security group {0} is referenced by another group")]
    SecurityGroupInUse(String),
    #[error("the rule already exists in security group {0}")]
    DuplicatePermission(String),
    #[error("no such rule in security group {0}")]
    PermissionNotFound(String),
    #[error("security group rule {0} does not exist")]
    SecurityGroupRuleNotFound(String),
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
    #[error("VPC {0} does not exist")]
    VpcNotFound(String),
    #[error("subnet {0} does not exist")]
    SubnetNotFound(String),
    #[error("{0} is not a CIDR block")]
    InvalidCidr(String),
    #[error("{0} is not a valid VPC range (/16 to /28)")]
    VpcRange(String),
    #[error("{0} is not a valid range for a subnet of its VPC")]
    SubnetRange(String),
    #[error("{0} overlaps another subnet of the VPC")]
    SubnetConflict(String),
    #[error("{kind} {id} has dependencies")]
    DependencyViolation { kind: &'static str, id: String },
    #[error("subnet {0} has no free addresses")]
    InsufficientFreeAddresses(String),
    #[error("security group {group} is not in the VPC of subnet {subnet}")]
    GroupSubnetMismatch { group: String, subnet: String },
    #[error("key pair {0} does not exist")]
    KeyPairNotFound(String),
    #[error("the request names no key pair (neither id nor name)")]
    KeyPairUnnamed,
    #[error("key pair {0} already exists")]
    KeyPairExists(String),
    #[error("{0:?} is not a valid key pair name")]
    InvalidKeyName(String),
    #[error("the key is not an OpenSSH public key")]
    InvalidKeyFormat,
    #[error("image {0} does not exist")]
    ImageNotFound(String),
    #[error("{0:?} is not a valid image name")]
    InvalidImageName(String),
    #[error("image name {name} is in use by {image}")]
    ImageNameInUse { name: String, image: String },
    #[error("no snapshot is mapped to the root device {0}")]
    MissingRootSnapshot(String),
    #[error("snapshot {snapshot} is used by image {image}")]
    SnapshotUsedByImage { snapshot: SnapshotId, image: String },
    #[error("zone {zone} has no capacity left for {instance_type}")]
    InsufficientInstanceCapacity { instance_type: String, zone: AzName },
    #[error("zone {0} is unavailable")]
    ZoneUnavailable(String),
    #[error("the region has no default VPC")]
    NoDefaultVpc,
    #[error("image {0} is not available yet")]
    ImageNotAvailable(String),
    #[error("placement zone {zone} is not the zone {subnet_zone} of subnet {subnet}")]
    PlacementMismatch { zone: String, subnet: String, subnet_zone: String },
    #[error("the mapping of {0} names neither a size nor a snapshot")]
    MappingWithoutSize(String),
    #[error("zone {0} has no default subnet")]
    NoDefaultSubnet(String),
    #[error("instance {instance} has no device {device}")]
    NoDevice { instance: InstanceId, device: String },
    #[error("instance {0} may not be terminated (disableApiTermination)")]
    TerminationProtected(InstanceId),
    #[error("instance {0} may not be stopped (disableApiStop)")]
    StopProtected(InstanceId),
    #[error("storage error: {0}")]
    Storage(String),
}

/// The whole emulated cloud: every region a client has touched.
#[derive(Debug)]
pub struct ControlPlane {
    config: ControlConfig,
    start_wall_ms: u64,
    regions: Mutex<BTreeMap<RegionName, Arc<Region>>>,
    /// Installed fault rules (see `faults.rs`).
    faults: Mutex<faults::FaultBook>,
    /// The re-mirroring policy of every cluster; switchable at run time.
    policy: Arc<Mutex<squall_storage::PolicyKind>>,
}

impl ControlPlane {
    pub fn new(config: ControlConfig) -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        let start_wall_ms = wall.saturating_sub(config.clock.now().as_millis() as u64);
        let policy = Arc::new(Mutex::new(config.cluster.policy));
        let faults = faults::FaultBook::new(config.seed);
        Self { config, start_wall_ms, regions: Mutex::new(BTreeMap::new()), faults, policy }
    }

    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// The region called `name`, created on first use with the zones AWS has there (or the
    /// configured number).
    pub fn region(&self, name: &RegionName) -> Arc<Region> {
        let mut regions = self.lock();
        regions
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Region::new(name.clone(), &self.config, self.policy.clone())))
            .clone()
    }

    /// Names of the regions that have been used since start (or the last reset).
    pub fn active_regions(&self) -> Vec<RegionName> {
        self.lock().keys().cloned().collect()
    }

    /// Forgets all state, as if the server had just started (for test isolation).
    /// Also deletes the regions' persisted state under the data directory.
    pub fn reset(&self) -> Result<(), ControlError> {
        self.remove_all_faults();
        let mut regions = self.lock();
        regions.clear();
        match std::fs::remove_dir_all(self.config.data_dir.join("regions")) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ControlError::Storage(format!("reset: {e}"))),
        }
    }

    /// Wall-clock milliseconds since the Unix epoch, advancing with the configured clock.
    pub fn now_ms(&self) -> u64 {
        self.start_wall_ms + self.config.clock.now().as_millis() as u64
    }

    /// Background work of every region (storage re-mirroring); the server calls it on a timer.
    pub fn tick(&self) -> Result<(), ControlError> {
        let now = self.now_ms();
        self.expire_faults(now);
        let regions: Vec<Arc<Region>> = self.lock().values().cloned().collect();
        for region in regions {
            region.tick(now)?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<RegionName, Arc<Region>>> {
        // The map is only ever inserted into or cleared: a panic elsewhere cannot leave it torn.
        self.regions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A region on a fresh data directory, for the unit tests of each resource module.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) struct TestRegion {
        pub control: ControlPlane,
        pub region: Arc<Region>,
        _dir: tempfile::TempDir,
    }

    impl TestRegion {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.path().to_path_buf());
            let control = ControlPlane::new(config);
            let region = control.region(&RegionName::parse("us-east-1").expect("region"));
            Self { control, region, _dir: dir }
        }

        /// Runs one command (committed on `Ok`, undone on error).
        pub(crate) fn run<T>(
            &self,
            f: impl FnOnce(&mut state::RegionState) -> Result<T, ControlError>,
        ) -> Result<T, ControlError> {
            self.region.with_state(self.control.now_ms(), f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(zones: Option<u8>) -> ControlPlane {
        let dir = tempfile::tempdir().unwrap().keep();
        let mut config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), dir);
        config.zones_per_region = zones;
        ControlPlane::new(config)
    }

    #[test]
    fn regions_are_created_lazily_and_reset_forgets_them() {
        let c = control(None);
        assert!(c.active_regions().is_empty());
        let r = c.region(&RegionName::parse("eu-west-1").unwrap());
        assert_eq!(r.zones().len(), 3);
        assert_eq!(c.active_regions(), vec![RegionName::parse("eu-west-1").unwrap()]);
        assert!(Arc::ptr_eq(&r, &c.region(&RegionName::parse("eu-west-1").unwrap())));
        c.reset().unwrap();
        assert!(c.active_regions().is_empty());
    }

    #[test]
    fn zone_count_override_applies_to_every_region() {
        let c = control(Some(2));
        assert_eq!(c.region(&RegionName::parse("us-east-1").unwrap()).zones().len(), 2);
        assert_eq!(c.region(&RegionName::parse("ap-south-1").unwrap()).zones().len(), 2);
    }
}
