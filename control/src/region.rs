use std::sync::{PoisonError, RwLock};

use crate::catalog::{self, DEFAULT_ZONES};
use crate::ids::{AzId, AzName, RegionName};
use crate::ControlError;

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
}

impl Region {
    pub(crate) fn new(name: RegionName, zones_override: Option<u8>) -> Self {
        let info = catalog::lookup(name.as_str());
        let count = zones_override
            .or(info.map(|i| i.zones))
            .unwrap_or(DEFAULT_ZONES)
            .clamp(1, 26);
        let prefix = catalog::zone_id_prefix(name.as_str());
        let zones = (0..count)
            .map(|i| Zone {
                name: AzName::new(format!("{}{}", name, (b'a' + i) as char)),
                id: AzId::new(format!("{prefix}-az{}", i + 1)),
                state: ZoneState::Available,
                messages: Vec::new(),
            })
            .collect();
        Self {
            name,
            long_name: info.map(|i| i.long_name),
            zones: RwLock::new(zones),
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
        self.zones
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn zone_by_name(&self, zone: &str) -> Result<Zone, ControlError> {
        self.zones()
            .into_iter()
            .find(|z| z.name == zone)
            .ok_or_else(|| ControlError::UnknownZoneName {
                region: self.name.clone(),
                zone: zone.to_string(),
            })
    }

    pub fn zone_by_id(&self, zone_id: &str) -> Result<Zone, ControlError> {
        self.zones()
            .into_iter()
            .find(|z| z.id == zone_id)
            .ok_or_else(|| ControlError::UnknownZoneId {
                region: self.name.clone(),
                zone_id: zone_id.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_east_1_has_six_zones_with_ids() {
        let r = Region::new(RegionName::parse("us-east-1").unwrap(), None);
        let zones = r.zones();
        assert_eq!(zones.len(), 6);
        assert_eq!(zones[0].name, "us-east-1a");
        assert_eq!(zones[5].name, "us-east-1f");
        assert_eq!(zones[0].id, "use1-az1");
        assert_eq!(zones[5].id, "use1-az6");
        assert_eq!(r.zone_by_id("use1-az3").unwrap().name, "us-east-1c");
        assert!(matches!(
            r.zone_by_name("us-east-1z"),
            Err(ControlError::UnknownZoneName { .. })
        ));
    }

    #[test]
    fn unknown_regions_get_three_zones() {
        let r = Region::new(RegionName::parse("local").unwrap(), None);
        let ids: Vec<_> = r.zones().into_iter().map(|z| z.id.to_string()).collect();
        assert_eq!(ids, ["local-az1", "local-az2", "local-az3"]);
        assert_eq!(r.long_name(), None);
    }
}
