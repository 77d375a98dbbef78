//! squall's control plane: the authority over one emulated AWS region per name that clients
//! use — its Availability Zones and the state of every resource in them.
//!
//! Service crates call it with typed requests and render its typed answers; it knows nothing
//! of HTTP or XML. Regions are created lazily on first use, so the 30-odd regions a client
//! may name cost nothing until one is called.

pub mod addresses;
pub mod block_io;
pub mod blue_green;
pub mod db_backups;
pub mod db_cluster_snapshots;
pub mod db_clusters;
pub mod db_cross_region;
pub mod db_event_subscriptions;
pub mod db_instance_settings;
mod db_io;
pub mod db_logs;
pub mod db_option_groups;
pub mod db_parameter_groups;
pub mod db_proxies;
pub mod db_security_groups;
pub mod db_snapshot_copy;
pub mod db_storage;
pub mod global_clusters;
pub use db_io::{served_engine, DbDevice, DbEndpoint, DbIoError, SqlReport, DB_STRIPE_BYTES};
mod catalog;
mod db;
mod ebs_direct;
mod error;
pub mod faults;
pub mod fis;
mod ids;
mod images;
mod instances;
mod keypairs;
pub mod launch_templates;
mod lifecycle;
mod migrations;
pub mod model;
mod network;
pub mod network_interfaces;
pub mod pool;
pub mod rds;
mod region;
mod routing;
pub mod secrets;
mod security_groups;
mod snapshots;
pub mod state;
pub mod status;
mod table;
mod tags;
mod volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use model::lifecycle::LifecycleDelays;

pub use catalog::{RegionInfo, RegionOptIn, REGION_CATALOG};
pub use error::{
    ControlError, ImageError, InstanceError, InternalError, KeyPairError, NetworkError, RdsError, RoutingError,
    SecurityGroupError, SnapshotError, VolumeError, ZoneError,
};
pub use ids::{AzId, AzName, IdError, InstanceId, RegionName, SnapshotId, VolumeId};
pub use model::zone::{stable_hex, DefaultNetwork, DefaultSubnet, Zone, ZoneState};
pub use region::Region;
pub use squall_storage::{Clock, ClusterConfig, ManualClock, PolicyKind, SystemClock};

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
    /// Each region's API worker pool.
    pub pool: pool::PoolSettings,
    /// How long a call that needs a zone's storage waits for it to answer, by policy:
    /// `legacy` waits long (as EBS's control plane did in 2011), `hardened` fails fast.
    pub storage_wait: StorageWait,
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
    /// The host name DB instances' endpoints answer with (`Endpoint.Address`): where a client on
    /// the user's machine reaches squall.
    pub rds_address: String,
    /// Where DB instances created without a Port serve their SQL endpoint: the lowest port of
    /// this range that no other instance of the region has (LocalStack's range by default), so
    /// that several instances of one engine do not all ask for 5432 on one machine.
    pub rds_ports: std::ops::RangeInclusive<u16>,
    /// Regions served besides AWS's (the catalogue) and the default region: a request scoped to
    /// any other region is refused, and creates nothing.
    pub extra_regions: Vec<RegionName>,
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
            pool: pool::PoolSettings::default(),
            storage_wait: StorageWait::default(),
            seed: 0x0517_5a11,
            clock: Arc::new(SystemClock::new()),
            accept_any_image: true,
            instance_capacity_per_zone: 1000,
            rds_address: "localhost".to_string(),
            rds_ports: 4510..=4559,
            extra_regions: Vec::new(),
        }
    }
}

/// How long a call waits for a zone's storage to answer, under each re-mirroring policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageWait {
    pub legacy: std::time::Duration,
    pub hardened: std::time::Duration,
}

impl Default for StorageWait {
    fn default() -> Self {
        Self { legacy: std::time::Duration::from_secs(30), hardened: std::time::Duration::from_secs(1) }
    }
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
    /// FIS experiment templates and experiments (see `fis.rs`).
    fis: Mutex<fis::FisBook>,
    /// Held while experiments advance (the tick and requests both advance them).
    fis_advancing: Mutex<()>,
}

impl ControlPlane {
    pub fn new(config: ControlConfig) -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        let start_wall_ms = wall.saturating_sub(config.clock.now().as_millis() as u64);
        let policy = Arc::new(Mutex::new(config.cluster.policy));
        let faults = faults::FaultBook::new(config.seed);
        let fis = fis::FisBook::new(config.seed);
        Self {
            config,
            start_wall_ms,
            regions: Mutex::new(BTreeMap::new()),
            faults,
            policy,
            fis,
            fis_advancing: Mutex::new(()),
        }
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

    /// The API worker pool of every region whose pool has started.
    pub fn pool_status(&self) -> BTreeMap<String, pool::PoolStatus> {
        let regions: Vec<Arc<Region>> = self.lock().values().cloned().collect();
        regions.iter().filter_map(|r| Some((r.name().to_string(), r.pool_status()?))).collect()
    }

    /// Names of the regions that have been used since start (or the last reset).
    pub fn active_regions(&self) -> Vec<RegionName> {
        self.lock().keys().cloned().collect()
    }

    /// How long this control plane has been up (by its clock).
    pub fn uptime(&self) -> std::time::Duration {
        self.config.clock.now()
    }

    /// Wall-clock milliseconds when this control plane started.
    pub fn started_ms(&self) -> u64 {
        self.start_wall_ms
    }

    /// Whether squall serves the region `name`: one of AWS's, the default region, or one named
    /// with `--extra-regions`.
    pub fn serves_region(&self, name: &str) -> bool {
        catalog::lookup(name).is_some()
            || self.config.default_region.as_str() == name
            || self.config.extra_regions.iter().any(|r| r.as_str() == name)
    }

    /// Whether `zone` names an Availability Zone of a region in use (metrics label only these).
    pub fn is_zone_name(&self, zone: &str) -> bool {
        let regions: Vec<Arc<Region>> = self.lock().values().cloned().collect();
        regions.iter().any(|r| r.zones().iter().any(|z| z.name.as_str() == zone))
    }

    /// Forgets all state, as if the server had just started (for test isolation).
    /// Also deletes the regions' persisted state under the data directory.
    pub fn reset(&self) -> Result<(), ControlError> {
        // Experiments first: their actions' effects go with the faults below.
        self.forget_experiments();
        self.remove_all_faults();
        let mut regions = self.lock();
        regions.clear();
        match std::fs::remove_dir_all(self.config.data_dir.join("regions")) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ControlError::file(self.config.data_dir.join("regions"), e)),
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
        self.advance_experiments();
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

    /// A region of its own in a temporary directory, on a clock that only moves when told.
    pub(crate) struct TestRegion {
        pub control: ControlPlane,
        pub region: Arc<Region>,
        clock: Arc<ManualClock>,
        _dir: tempfile::TempDir,
    }

    impl TestRegion {
        pub(crate) fn new() -> Self {
            Self::with_config(|_| {})
        }

        /// A test region whose configuration `f` adjusts first.
        pub(crate) fn with_config(f: impl FnOnce(&mut ControlConfig)) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut config =
                ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.path().to_path_buf());
            let clock = Arc::new(ManualClock::new());
            config.clock = clock.clone();
            f(&mut config);
            let control = ControlPlane::new(config);
            let region = control.region(&RegionName::parse("us-east-1").expect("region"));
            Self { control, region, clock, _dir: dir }
        }

        pub(crate) fn now(&self) -> u64 {
            self.control.now_ms()
        }

        /// Moves the clock on by `ms` (lifecycles advance when the next call settles).
        pub(crate) fn advance(&self, ms: u64) {
            self.clock.advance(std::time::Duration::from_millis(ms));
        }

        /// A gp3 volume of `size_gib` in `zone`, with `tags`.
        pub(crate) fn volume_spec(&self, zone: &str, size_gib: u32) -> model::volume::VolumeSpec {
            model::volume::VolumeSpec {
                zone: self.region.zone_by_name(zone).expect("zone").name,
                size_gib: Some(size_gib),
                snapshot_id: None,
                volume_type: model::volume::VolumeType::Gp3,
                iops: None,
                throughput: None,
                encrypted: false,
                kms_key_id: None,
                multi_attach: false,
                tags: BTreeMap::new(),
                client_token: None,
            }
        }

        /// One instance of an unknown AMI (a blank 8 GiB root) in `zone`, with data volumes of
        /// these sizes on /dev/sdf, /dev/sdg, …
        pub(crate) fn launch(&self, zone: &str, data_gib: &[u32]) -> Result<model::instance::Instance, ControlError> {
            let mappings = data_gib
                .iter()
                .enumerate()
                .map(|(i, &size)| model::instance::RequestedMapping {
                    device: format!("/dev/sd{}", (b'f' + i as u8) as char),
                    size_gib: Some(size),
                    volume_type: None,
                    iops: None,
                    delete_on_termination: Some(true),
                    snapshot_id: None,
                })
                .collect();
            let req = model::instance::LaunchRequest {
                image_id: "ami-0123456789abcdef0".into(),
                private_ip: None,
                catalogue_root: None,
                instance_type: "t3.micro".into(),
                placement_zone: Some(zone.to_string()),
                subnet_id: None,
                security_group_ids: Vec::new(),
                security_group_names: Vec::new(),
                count: 1,
                key_name: None,
                user_data: None,
                client_token: None,
                attributes: model::instance::InstanceAttributes::default(),
                tags: BTreeMap::new(),
                volume_tags: BTreeMap::new(),
                mappings,
                interfaces: Vec::new(),
            };
            let (_, mut launched) = self.region.run_instances(req, self.now(), false)?;
            launched.pop().ok_or_else(|| ControlError::invariant("a launch of one made none"))
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
