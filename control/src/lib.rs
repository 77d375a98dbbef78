//! squall's control plane: the authority over one emulated AWS region per name that clients
//! use — its Availability Zones and the state of every resource in them.
//!
//! Service crates call it with typed requests and render its typed answers; it knows nothing
//! of HTTP or XML. Regions are created lazily on first use, so the 30-odd regions a client
//! may name cost nothing until one is called.

mod catalog;
mod ids;
mod region;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use catalog::{RegionInfo, RegionOptIn, REGION_CATALOG};
pub use ids::{AzId, AzName, IdError, RegionName};
pub use region::{Region, Zone, ZoneState};

/// Settings of the control plane, fixed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// The region used when a request names none (no SigV4 credential scope).
    pub default_region: RegionName,
    /// Number of Availability Zones in every region instead of the number AWS has there.
    pub zones_per_region: Option<u8>,
    /// Where persistent state lives (volumes, snapshots, metadata).
    pub data_dir: PathBuf,
}

/// Errors of the control plane, phrased in squall's terms; services map them to wire codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no Availability Zone named {zone} in region {region}")]
    UnknownZoneName { region: RegionName, zone: String },
    #[error("no Availability Zone with id {zone_id} in region {region}")]
    UnknownZoneId { region: RegionName, zone_id: String },
    #[error("unknown region {0}")]
    UnknownRegion(String),
}

/// The whole emulated cloud: every region a client has touched.
#[derive(Debug)]
pub struct ControlPlane {
    config: ControlConfig,
    regions: Mutex<BTreeMap<RegionName, Arc<Region>>>,
}

impl ControlPlane {
    pub fn new(config: ControlConfig) -> Self {
        Self {
            config,
            regions: Mutex::new(BTreeMap::new()),
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
            .or_insert_with(|| Arc::new(Region::new(name.clone(), self.config.zones_per_region)))
            .clone()
    }

    /// Names of the regions that have been used since start (or the last reset).
    pub fn active_regions(&self) -> Vec<RegionName> {
        self.lock().keys().cloned().collect()
    }

    /// Forgets all state, as if the server had just started (for test isolation).
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<RegionName, Arc<Region>>> {
        // The map is only ever inserted into or cleared: a panic elsewhere cannot leave it torn.
        self.regions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(zones: Option<u8>) -> ControlPlane {
        ControlPlane::new(ControlConfig {
            default_region: RegionName::parse("us-east-1").unwrap(),
            zones_per_region: zones,
            data_dir: std::env::temp_dir(),
        })
    }

    #[test]
    fn regions_are_created_lazily_and_reset_forgets_them() {
        let c = control(None);
        assert!(c.active_regions().is_empty());
        let r = c.region(&RegionName::parse("eu-west-1").unwrap());
        assert_eq!(r.zones().len(), 3);
        assert_eq!(
            c.active_regions(),
            vec![RegionName::parse("eu-west-1").unwrap()]
        );
        assert!(Arc::ptr_eq(
            &r,
            &c.region(&RegionName::parse("eu-west-1").unwrap())
        ));
        c.reset();
        assert!(c.active_regions().is_empty());
    }

    #[test]
    fn zone_count_override_applies_to_every_region() {
        let c = control(Some(2));
        assert_eq!(
            c.region(&RegionName::parse("us-east-1").unwrap())
                .zones()
                .len(),
            2
        );
        assert_eq!(
            c.region(&RegionName::parse("ap-south-1").unwrap())
                .zones()
                .len(),
            2
        );
    }
}
