//! Availability Zones and the default network laid over them.

use crate::ids::{AzId, AzName, RegionName};

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

/// The default VPC every region has (172.31.0.0/16) and its default subnet in each zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultNetwork {
    pub vpc_id: String,
    pub cidr: &'static str,
    pub subnets: Vec<DefaultSubnet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultSubnet {
    pub id: String,
    pub zone: AzName,
    pub zone_id: AzId,
    /// 172.31.(16·i).0/20 for the i-th zone, as AWS lays out default subnets.
    pub cidr: String,
}

/// 17 hex digits that depend only on `text` (FNV-1a, 64 bits, plus four more bits): default
/// resources keep their ids across restarts.
pub fn stable_hex(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{:x}{h:016x}", (h >> 60) ^ 0x5)
}

/// The errors of Availability Zones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("the storage of zone {zone} did not answer within {waited_ms} ms")]
    StorageTimeout { zone: String, waited_ms: u64 },
    #[error("too many calls are waiting for the storage of zone {zone}")]
    StorageBusy { zone: String },
    #[error("no Availability Zone named {zone} in region {region}")]
    UnknownZoneName { region: RegionName, zone: String },
    #[error("no Availability Zone with id {zone_id} in region {region}")]
    UnknownZoneId { region: RegionName, zone_id: String },
    #[error("zone {0} is unavailable")]
    ZoneUnavailable(String),
}
