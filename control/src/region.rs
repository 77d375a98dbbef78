use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use squall_storage::{Clock, ClusterConfig, RegionStore};

use crate::catalog::{self, DEFAULT_ZONES};
use crate::error::{ControlError, ZoneError};
use crate::ids::{AzId, AzName, RegionName};
use crate::model::lifecycle::LifecycleDelays;
use crate::model::zone::{stable_hex, DefaultNetwork, DefaultSubnet, Zone, ZoneState};
use crate::pool::{Admission, ApiPool, PoolSettings, PoolStatus, Rejection};
use crate::state::RegionState;
use crate::{ControlConfig, StorageWait};

/// One emulated region: its zones and, later, the resources in them.
#[derive(Debug)]
pub struct Region {
    name: RegionName,
    long_name: Option<&'static str>,
    zones: RwLock<Vec<Zone>>,
    /// The region's resources, opened on first use (with the region's storage clusters).
    state: Mutex<Option<RegionState>>,
    dir: std::path::PathBuf,
    cluster: ClusterConfig,
    delays: LifecycleDelays,
    instance_capacity: u32,
    db_ports: std::ops::RangeInclusive<u16>,
    accept_any_image: bool,
    /// The re-mirroring policy, shared with the control plane (the fault API switches it).
    policy: Arc<Mutex<squall_storage::PolicyKind>>,
    seed: u64,
    clock: Arc<dyn Clock>,
    /// The data path's view of the volumes (block I/O reads it instead of locking `state`).
    pub(crate) io: Arc<crate::block_io::IoIndex>,
    /// The API worker pool, started by the region's first request.
    pool: std::sync::OnceLock<ApiPool>,
    pool_settings: PoolSettings,
    storage_wait: StorageWait,
    /// Calls waiting for each zone's storage now (the hardened bulkhead counts them).
    storage_waiters: Mutex<BTreeMap<String, usize>>,
    /// When a call last found each zone's storage not answering.
    storage_blocked_at: Mutex<BTreeMap<String, std::time::Instant>>,
    /// When a write last reached each DB instance's storage (by resource id, wall-clock ms):
    /// the data path stamps it, point-in-time restore reads it.
    db_writes: Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>,
    /// How full each DB instance's storage is (by resource id), as its SQL endpoint reports it.
    pub(crate) db_usage: Mutex<BTreeMap<String, crate::model::rds::DbUsage>>,
    /// DB instances' volumes whose I/O a `volume-io-pause` fault holds (the data path reads it).
    pub(crate) db_io_paused: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
}

/// Counts one call among a zone's storage waiters while it lives.
struct Waiting<'a> {
    waiters: &'a Mutex<BTreeMap<String, usize>>,
    zone: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = w.get_mut(&self.zone) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(&self.zone);
            }
        }
    }
}

impl Region {
    pub(crate) fn new(
        name: RegionName,
        config: &ControlConfig,
        policy: Arc<Mutex<squall_storage::PolicyKind>>,
    ) -> Self {
        let info = catalog::lookup(name.as_str());
        let count = config.zones_per_region.or(info.map(|i| i.zones)).unwrap_or(DEFAULT_ZONES).clamp(1, 26);
        let prefix = catalog::zone_id_prefix(name.as_str());
        let zones = (0..count)
            .map(|i| Zone {
                name: AzName::new(format!("{}{}", name, (b'a' + i) as char)),
                id: AzId::new(format!("{prefix}-az{}", i + 1)),
                state: ZoneState::Available,
                messages: Vec::new(),
            })
            .collect();
        // Each region draws its own random stream from the configured seed.
        let seed = config.seed
            ^ name
                .as_str()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Self {
            dir: config.data_dir.join("regions").join(name.as_str()),
            name,
            long_name: info.map(|i| i.long_name),
            zones: RwLock::new(zones),
            state: Mutex::new(None),
            cluster: config.cluster.clone(),
            delays: config.delays,
            instance_capacity: config.instance_capacity_per_zone,
            db_ports: config.rds_ports.clone(),
            accept_any_image: config.accept_any_image,
            policy,
            seed,
            clock: config.clock.clone(),
            io: Arc::default(),
            pool: std::sync::OnceLock::new(),
            pool_settings: config.pool,
            storage_wait: config.storage_wait,
            storage_waiters: Mutex::new(BTreeMap::new()),
            storage_blocked_at: Mutex::new(BTreeMap::new()),
            db_writes: Mutex::new(BTreeMap::new()),
            db_usage: Mutex::new(BTreeMap::new()),
            db_io_paused: Arc::default(),
        }
    }

    /// Holds the I/O of these DB volumes (block-store names) until the next call leaves them
    /// out; the instances whose storage they are count as stuck from now.
    pub fn set_db_paused(&self, volumes: std::collections::BTreeSet<String>, now_ms: u64) {
        let _ = self.with_state(now_ms, |state| {
            state.set_db_paused(&volumes);
            Ok(())
        });
        *self.db_io_paused.write().unwrap_or_else(PoisonError::into_inner) = volumes;
    }

    /// The last-write stamp of a DB instance's storage (made on first use).
    /// The last write of every DB instance's storage the data path has seen (resource id → ms).
    pub(crate) fn db_last_writes(&self) -> BTreeMap<String, u64> {
        self.db_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.load(std::sync::atomic::Ordering::SeqCst)))
            .filter(|(_, v)| *v > 0)
            .collect()
    }

    pub(crate) fn db_writes(&self, resource_id: &str) -> Arc<std::sync::atomic::AtomicU64> {
        self.db_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(resource_id.to_string())
            .or_default()
            .clone()
    }

    /// The region's API worker pool (started on first use).
    pub fn pool(&self) -> &ApiPool {
        self.pool.get_or_init(|| ApiPool::new(self.name.as_str(), self.pool_settings, self.policy.clone()))
    }

    /// Runs an API request on the region's pool (see [`ApiPool::submit`]). Under `hardened`,
    /// while a zone is degraded (calls wait for its storage, or one found it not answering in
    /// the last second), its requests may hold at most a third of the workers, queued or
    /// running: beyond, they are turned away at once, before they can queue in front of the
    /// other zones' requests. A healthy zone has no cap.
    pub fn submit(&self, zone: Option<&str>, job: impl FnOnce(Admission) + Send + 'static) {
        let hardened =
            *self.policy.lock().unwrap_or_else(PoisonError::into_inner) == squall_storage::PolicyKind::Hardened;
        if let (true, Some(z)) = (hardened, zone) {
            if self.degraded(z) && self.pool().in_flight(z) >= self.zone_share() {
                job(Admission::Rejected(Rejection::ZoneBusy(z.to_string())));
                return;
            }
        }
        self.pool().submit(zone, job);
    }

    /// Whether calls wait for the zone's storage now, or one found it not answering in the last
    /// second (so that a moment without waiters does not let a burst of its requests in).
    fn degraded(&self, zone: &str) -> bool {
        let waiting = self.storage_waiters.lock().unwrap_or_else(PoisonError::into_inner).get(zone).copied();
        let recent = self.storage_blocked_at.lock().unwrap_or_else(PoisonError::into_inner).get(zone).copied();
        waiting.unwrap_or(0) > 0 || recent.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1))
    }

    /// The pool's figures, if it has started, with the calls waiting for each zone's storage.
    pub fn pool_status(&self) -> Option<PoolStatus> {
        let mut status = self.pool.get().map(ApiPool::status)?;
        status.waiting_for_storage = self.storage_waiters.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Some(status)
    }

    /// Under `hardened`, the most calls that may wait for one zone's storage at once: a third
    /// of the region's workers (the bulkhead that keeps the other zones served).
    pub fn zone_share(&self) -> usize {
        self.pool_settings.workers.div_ceil(3)
    }

    /// Waits until the storage node of the volume's primary replica answers (see
    /// `await_storage`); an unknown volume goes on at once (the command answers that it is not
    /// found).
    pub(crate) fn await_volume_storage(&self, id: &crate::VolumeId, now_ms: u64) -> Result<(), ControlError> {
        self.await_storage_of(
            now_ms,
            |state| state.volume(id).ok().map(|v| (v.zone.clone(), v.zone_id.clone())),
            |state| Ok(vec![state.volume_replicas(id)?.primary]),
        )
    }

    /// Waits, without holding the region's lock, until every storage node of `zone` the call
    /// needs answers on the primary network, for as long as the policy allows (`legacy`: long,
    /// `hardened`: short). `needs` picks the nodes from the zone's nodes and the state; a call
    /// that needs none goes on at once.
    pub(crate) fn await_storage(
        &self,
        zone: &Zone,
        now_ms: u64,
        needs: impl FnMut(&mut RegionState) -> Result<Vec<u32>, ControlError>,
    ) -> Result<(), ControlError> {
        self.await_storage_of(now_ms, |_| Some((zone.name.clone(), zone.id.clone())), needs)
    }

    /// `await_storage` for the zone `zone_of` finds in the state (none: nothing to wait for), in
    /// the same pass over the state as the first look at the zone's storage.
    fn await_storage_of(
        &self,
        now_ms: u64,
        zone_of: impl Fn(&RegionState) -> Option<(AzName, AzId)>,
        mut needs: impl FnMut(&mut RegionState) -> Result<Vec<u32>, ControlError>,
    ) -> Result<(), ControlError> {
        let policy = *self.policy.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = match policy {
            squall_storage::PolicyKind::Legacy => self.storage_wait.legacy,
            squall_storage::PolicyKind::Hardened => self.storage_wait.hardened,
        };
        let started = std::time::Instant::now();
        let mut zone: Option<(AzName, AzId)> = None;
        let mut nodes: Option<Vec<u32>> = None;
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let now_ms = now_ms + started.elapsed().as_millis() as u64;
            let blocked = self.with_state(now_ms, |state| {
                if zone.is_none() {
                    zone = zone_of(state);
                }
                let Some((_, zone_id)) = &zone else { return Ok(false) };
                let unreachable = state.unreachable_nodes(zone_id)?;
                if unreachable.is_empty() {
                    return Ok(false);
                }
                // The nodes are chosen once: the call waits for those to come back.
                let wanted = match &nodes {
                    Some(n) => n.clone(),
                    None => needs(state)?,
                };
                let blocked = wanted.iter().any(|n| unreachable.contains(n));
                nodes = Some(wanted);
                Ok(blocked)
            })?;
            let (true, Some((name, _))) = (blocked, &zone) else {
                return Ok(());
            };
            let name = name.to_string();
            self.storage_blocked_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.clone(), std::time::Instant::now());
            if waiting.is_none() {
                let mut w = self.storage_waiters.lock().unwrap_or_else(PoisonError::into_inner);
                let n = w.entry(name.clone()).or_default();
                if policy == squall_storage::PolicyKind::Hardened && *n >= self.zone_share() {
                    // The zone holds its share of the workers already: fail fast.
                    return Err(ZoneError::StorageBusy { zone: name }.into());
                }
                *n += 1;
                waiting = Some(Waiting { waiters: &self.storage_waiters, zone: name.clone() });
            }
            let waited = started.elapsed();
            if waited >= limit {
                return Err(ZoneError::StorageTimeout { zone: name, waited_ms: waited.as_millis() as u64 }.into());
            }
            std::thread::sleep((limit - waited).min(std::time::Duration::from_millis(20)));
        }
    }

    /// Whether RunInstances launches unknown `ami-` ids with a blank root.
    pub fn accept_any_image(&self) -> bool {
        self.accept_any_image
    }

    pub fn name(&self) -> &RegionName {
        &self.name
    }

    /// The region's directory.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The catalog's long name (`US East (N. Virginia)`), if the region is a known one.
    pub fn long_name(&self) -> Option<&'static str> {
        self.long_name
    }

    /// A snapshot of the zones, in name order.
    pub fn zones(&self) -> Vec<Zone> {
        self.zones.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The region's default VPC and subnets.
    pub fn default_network(&self) -> DefaultNetwork {
        let name = self.name.as_str();
        DefaultNetwork {
            vpc_id: format!("vpc-{}", stable_hex(&format!("{name}/default-vpc"))),
            cidr: "172.31.0.0/16",
            subnets: self
                .zones()
                .into_iter()
                .enumerate()
                .map(|(i, z)| DefaultSubnet {
                    id: format!("subnet-{}", stable_hex(&format!("{name}/{}", z.name))),
                    cidr: format!("172.31.{}.0/20", i * 16),
                    zone: z.name,
                    zone_id: z.id,
                })
                .collect(),
        }
    }

    /// A read of the region's state, settled at `now_ms`: what every Describe uses. `f` sees the
    /// state but cannot change it; changes go through the typed commands (`Region::create_volume`,
    /// `Region::run_instances`, … one per mutating AWS action, in the module of each resource).
    pub fn read<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&RegionState) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        self.with_state(now_ms, |state| f(state))
    }

    /// Runs `f` on the region's state, settled at `now_ms` (opened on first use), as one
    /// command: what `f` changes is committed in one transaction when it returns `Ok`, and undone
    /// when it returns an error (nothing of a failed command remains). The commands of each
    /// resource module are built on it.
    pub(crate) fn with_state<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&mut RegionState) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            // Wall time for the log line only; nothing depends on it.
            let started = std::time::Instant::now();
            let mut cluster = self.cluster.clone();
            cluster.policy = *self.policy.lock().unwrap_or_else(PoisonError::into_inner);
            let store = RegionStore::open(&self.dir.join("storage"), cluster, self.clock.clone(), self.seed)?;
            let mut state = RegionState::open(&self.dir, store, self.delays, self.seed, self.io.clone())?;
            state.set_instance_capacity(self.instance_capacity);
            state.db_ports = self.db_ports.clone();
            let made = state
                .ensure_default_network(&self.default_network())
                .and_then(|()| state.ensure_routing())
                .and_then(|()| state.ensure_primary_interfaces())
                .and_then(|()| state.commit());
            if let Err(e) = made {
                state.rollback();
                return Err(e);
            }
            tracing::info!(
                region = %self.name,
                volumes = state.volume_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "region opened"
            );
            *guard = Some(state);
        }
        let state = guard.as_mut().ok_or_else(|| ControlError::invariant("the region state vanished"))?;
        // Transitions that fell due are their own transaction: a failing command keeps them.
        let settled = state.settle(now_ms).and_then(|()| state.commit());
        if let Err(e) = settled {
            state.rollback();
            return Err(e);
        }
        match f(state) {
            Ok(out) => {
                state.commit()?;
                Ok(out)
            }
            Err(e) => {
                state.rollback();
                Err(e)
            }
        }
    }

    /// Sets each zone's state and messages (zones not named are `available`, without messages).
    pub(crate) fn set_zone_states(&self, states: &std::collections::BTreeMap<AzName, (ZoneState, Vec<String>)>) {
        let mut zones = self.zones.write().unwrap_or_else(PoisonError::into_inner);
        for z in zones.iter_mut() {
            let (state, messages) = states.get(&z.name).cloned().unwrap_or((ZoneState::Available, Vec::new()));
            z.state = state;
            z.messages = messages;
        }
    }

    /// Switches the re-mirroring policy of the region's open clusters (and of those opened later).
    pub(crate) fn set_policy(&self, kind: squall_storage::PolicyKind, now_ms: u64) -> Result<(), ControlError> {
        if !self.has_state() {
            return Ok(());
        }
        self.with_state(now_ms, |state| state.set_policy(kind))
    }

    /// Whether the region has state (opened in this run, or persisted by an earlier one).
    pub fn has_state(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).is_some()
            || self.dir.join(crate::db::DB_FILE).exists()
            || self.dir.join(crate::migrations::LEGACY_FILE).exists()
    }

    /// Storage background work, only if EBS was ever used in this region.
    pub(crate) fn tick(&self, now_ms: u64) -> Result<(), ControlError> {
        let zones = self.zones();
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = guard.as_mut() else { return Ok(()) };
        let worked = state
            .tick_storage(now_ms)
            .and_then(|()| state.detect_cluster_failovers(&zones, now_ms))
            .and_then(|()| state.commit());
        match worked {
            Ok(()) => Ok(()),
            Err(e) => {
                state.rollback();
                Err(e)
            }
        }
    }

    pub fn zone_by_name(&self, zone: &str) -> Result<Zone, ControlError> {
        self.zones().into_iter().find(|z| z.name == zone).ok_or_else(|| {
            ControlError::Zone(ZoneError::UnknownZoneName { region: self.name.clone(), zone: zone.to_string() })
        })
    }

    pub fn zone_by_id(&self, zone_id: &str) -> Result<Zone, ControlError> {
        self.zones().into_iter().find(|z| z.id == zone_id).ok_or_else(|| {
            ControlError::Zone(ZoneError::UnknownZoneId { region: self.name.clone(), zone_id: zone_id.to_string() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_has_six_zones_with_ids() {
        let config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), std::env::temp_dir());
        let r = Region::new(
            RegionName::parse("us-east-1").unwrap(),
            &config,
            Arc::new(Mutex::new(squall_storage::PolicyKind::Hardened)),
        );
        let zones = r.zones();
        assert_eq!(zones.len(), 6);
        assert_eq!(zones[0].name, "us-east-1a");
        assert_eq!(zones[5].name, "us-east-1f");
        assert_eq!(zones[0].id, "use1-az1");
        assert_eq!(zones[5].id, "use1-az6");
        assert_eq!(r.zone_by_id("use1-az3").unwrap().name, "us-east-1c");
        assert!(matches!(r.zone_by_name("us-east-1z"), Err(ControlError::Zone(ZoneError::UnknownZoneName { .. }))));
    }

    #[test]
    fn the_default_network_is_stable_with_a_subnet_per_zone() {
        let config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), std::env::temp_dir());
        let r = Region::new(
            RegionName::parse("us-east-1").unwrap(),
            &config,
            Arc::new(Mutex::new(squall_storage::PolicyKind::Hardened)),
        );
        let n = r.default_network();
        assert_eq!(n, r.default_network());
        assert_eq!(n.vpc_id.len(), "vpc-".len() + 17);
        assert_eq!(n.subnets.len(), 6);
        assert_eq!(n.subnets[1].cidr, "172.31.16.0/20");
        assert_eq!(n.subnets[1].zone, "us-east-1b");
        assert!(n.subnets[0].id.starts_with("subnet-") && n.subnets[0].id.len() == "subnet-".len() + 17);
    }

    #[test]
    fn unknown_regions_get_three_zones() {
        let config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), std::env::temp_dir());
        let r = Region::new(
            RegionName::parse("local").unwrap(),
            &config,
            Arc::new(Mutex::new(squall_storage::PolicyKind::Hardened)),
        );
        let ids: Vec<_> = r.zones().into_iter().map(|z| z.id.to_string()).collect();
        assert_eq!(ids, ["local-az1", "local-az2", "local-az3"]);
        assert_eq!(r.long_name(), None);
    }
}
