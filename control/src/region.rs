use std::sync::{Arc, Mutex, PoisonError, RwLock};

use squall_storage::{Clock, ClusterConfig, RegionStore};

use crate::catalog::{self, DEFAULT_ZONES};
use crate::ebs::{Ebs, LifecycleDelays};
use crate::ids::{AzId, AzName, RegionName};
use crate::{ControlConfig, ControlError};

/// The health of an Availability Zone as DescribeAvailabilityZones reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Available,
    /// Working, with elevated errors or latency (a degradation fault).
    Impaired,
    /// Not reachable at all (an outage fault).
    Unavailable,
}

/// One Availability Zone of a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: AzName,
    pub id: AzId,
    pub state: ZoneState,
    /// Free-text notices shown with the zone (why it is impaired).
    pub messages: Vec<String>,
}

/// One emulated region: its zones and, later, the resources in them.
#[derive(Debug)]
pub struct Region {
    name: RegionName,
    long_name: Option<&'static str>,
    zones: RwLock<Vec<Zone>>,
    /// EBS state, opened on first use (with the region's storage clusters).
    ebs: Mutex<Option<Ebs>>,
    dir: std::path::PathBuf,
    cluster: ClusterConfig,
    delays: LifecycleDelays,
    seed: u64,
    clock: Arc<dyn Clock>,
}

impl Region {
    pub(crate) fn new(name: RegionName, config: &ControlConfig) -> Self {
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
            ebs: Mutex::new(None),
            cluster: config.cluster.clone(),
            delays: config.delays,
            seed,
            clock: config.clock.clone(),
        }
    }

    pub fn name(&self) -> &RegionName {
        &self.name
    }

    /// The catalog's long name (`US East (N. Virginia)`), if the region is a known one.
    pub fn long_name(&self) -> Option<&'static str> {
        self.long_name
    }

    /// A snapshot of the zones, in name order.
    pub fn zones(&self) -> Vec<Zone> {
        self.zones.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Runs `f` on the region's EBS state, settled at `now_ms` (opened on first use).
    pub fn with_ebs<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&mut Ebs) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let mut guard = self.ebs.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let store =
                RegionStore::open(&self.dir.join("storage"), self.cluster.clone(), self.clock.clone(), self.seed)
                    .map_err(|e| ControlError::Storage(e.to_string()))?;
            *guard = Some(Ebs::open(self.dir.clone(), store, self.delays, self.seed)?);
        }
        let ebs = guard.as_mut().ok_or_else(|| ControlError::Storage("EBS state vanished".into()))?;
        ebs.settle(now_ms)?;
        f(ebs)
    }

    /// Storage background work, only if EBS was ever used in this region.
    pub(crate) fn tick(&self, now_ms: u64) -> Result<(), ControlError> {
        let mut guard = self.ebs.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(ebs) => ebs.tick_storage(now_ms),
            None => Ok(()),
        }
    }

    pub fn zone_by_name(&self, zone: &str) -> Result<Zone, ControlError> {
        self.zones()
            .into_iter()
            .find(|z| z.name == zone)
            .ok_or_else(|| ControlError::UnknownZoneName { region: self.name.clone(), zone: zone.to_string() })
    }

    pub fn zone_by_id(&self, zone_id: &str) -> Result<Zone, ControlError> {
        self.zones()
            .into_iter()
            .find(|z| z.id == zone_id)
            .ok_or_else(|| ControlError::UnknownZoneId { region: self.name.clone(), zone_id: zone_id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_has_six_zones_with_ids() {
        let config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), std::env::temp_dir());
        let r = Region::new(RegionName::parse("us-east-1").unwrap(), &config);
        let zones = r.zones();
        assert_eq!(zones.len(), 6);
        assert_eq!(zones[0].name, "us-east-1a");
        assert_eq!(zones[5].name, "us-east-1f");
        assert_eq!(zones[0].id, "use1-az1");
        assert_eq!(zones[5].id, "use1-az6");
        assert_eq!(r.zone_by_id("use1-az3").unwrap().name, "us-east-1c");
        assert!(matches!(r.zone_by_name("us-east-1z"), Err(ControlError::UnknownZoneName { .. })));
    }

    #[test]
    fn unknown_regions_get_three_zones() {
        let config = ControlConfig::new(RegionName::parse("us-east-1").unwrap(), std::env::temp_dir());
        let r = Region::new(RegionName::parse("local").unwrap(), &config);
        let ids: Vec<_> = r.zones().into_iter().map(|z| z.id.to_string()).collect();
        assert_eq!(ids, ["local-az1", "local-az2", "local-az3"]);
        assert_eq!(r.long_name(), None);
    }
}
