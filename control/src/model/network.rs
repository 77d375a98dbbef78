//! VPCs, subnets and CIDR blocks as data.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ids::{AzId, AzName};
use crate::table::{Row, Table};

/// An IPv4 block: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` where the host bits are zero; `None` when it is not such a block.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let base = u32::from(addr);
        let cidr = Cidr { base, prefix };
        (base & !cidr.mask() == 0).then_some(cidr)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn size(self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    fn last(self) -> u32 {
        self.base + (self.size() - 1) as u32
    }

    pub fn contains(self, inner: Cidr) -> bool {
        inner.prefix >= self.prefix && inner.base & self.mask() == self.base
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// The `n`-th address of the block.
    pub fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(n))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// AWS reserves the first four addresses of a subnet and the last one.
const RESERVED_LOW: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    pub is_default: bool,
    pub tags: BTreeMap<String, String>,
    /// `enableDnsSupport`, `enableDnsHostnames`, `enableNetworkAddressUsageMetrics` as set
    /// (`None`: AWS's default).
    #[serde(default)]
    pub dns_support: Option<bool>,
    #[serde(default)]
    pub dns_hostnames: Option<bool>,
    #[serde(default)]
    pub address_usage_metrics: Option<bool>,
    /// The Amazon-provided IPv6 block (a /56), when one is associated.
    #[serde(default)]
    pub ipv6: Option<Ipv6Association>,
}

/// An IPv6 CIDR block associated with a VPC or subnet, and the association's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Association {
    pub id: String,
    pub cidr: String,
}

impl Vpc {
    /// A new VPC with AWS's default attributes.
    pub fn new(id: String, cidr: String, is_default: bool, tags: BTreeMap<String, String>) -> Self {
        Self {
            id,
            cidr,
            is_default,
            tags,
            dns_support: None,
            dns_hostnames: None,
            address_usage_metrics: None,
            ipv6: None,
        }
    }

    /// DNS resolution in the VPC (on by default).
    pub fn dns_support(&self) -> bool {
        self.dns_support.unwrap_or(true)
    }

    /// DNS hostnames for instances (on by default in the default VPC only).
    pub fn dns_hostnames(&self) -> bool {
        self.dns_hostnames.unwrap_or(self.is_default)
    }

    pub fn address_usage_metrics(&self) -> bool {
        self.address_usage_metrics.unwrap_or(false)
    }
}

/// A VPC attribute DescribeVpcAttribute and ModifyVpcAttribute name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    DnsSupport,
    DnsHostnames,
    AddressUsageMetrics,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub zone: AzName,
    pub zone_id: AzId,
    pub default_for_az: bool,
    pub tags: BTreeMap<String, String>,
    /// Host numbers handed out so far (addresses are not reused, which keeps them unique).
    pub hosts_used: u32,
    /// `MapPublicIpOnLaunch` as set (`None`: AWS's default, on in default subnets only).
    #[serde(default)]
    pub map_public_ip: Option<bool>,
    /// The subnet's IPv6 block (a /64 of its VPC's /56), when one is associated.
    #[serde(default)]
    pub ipv6: Option<Ipv6Association>,
    /// `AssignIpv6AddressOnCreation`.
    #[serde(default)]
    pub assign_ipv6: bool,
    /// IPv6 host numbers handed out so far.
    #[serde(default)]
    pub ipv6_used: u32,
}

impl Subnet {
    /// Whether instances launched here get a public IPv4 address.
    pub fn maps_public_ip(&self) -> bool {
        self.map_public_ip.unwrap_or(self.default_for_az)
    }

    /// The next IPv6 address of the subnet's block (the first four are AWS's, as in IPv4).
    pub(crate) fn next_ipv6(&mut self) -> Option<String> {
        let block = self.ipv6.as_ref()?;
        let base: std::net::Ipv6Addr = block.cidr.split('/').next()?.parse().ok()?;
        let n = u128::from(base) + u128::from(RESERVED_LOW) + u128::from(self.ipv6_used);
        self.ipv6_used += 1;
        Some(std::net::Ipv6Addr::from(n).to_string())
    }

    fn block(&self) -> Cidr {
        Cidr::parse(&self.cidr).unwrap_or(Cidr { base: 0, prefix: 32 })
    }

    /// The address the next instance gets (check `available_addresses` first).
    pub(crate) fn next_address(&self) -> Ipv4Addr {
        self.block().host(RESERVED_LOW + self.hosts_used)
    }

    /// Where `ip` falls in the subnet: `Ok(())` for an address instances may have, else why not
    /// (outside the block, or one of the four first and the last, which AWS reserves).
    pub fn check_host_address(&self, ip: Ipv4Addr) -> Result<(), NetworkError> {
        let block = self.block();
        let n = u32::from(ip).wrapping_sub(block.base);
        if u64::from(n) >= block.size() || !block.contains(Cidr { base: u32::from(ip), prefix: 32 }) {
            return Err(NetworkError::AddressOutsideSubnet { address: ip.to_string(), subnet: self.id.clone() });
        }
        if n < RESERVED_LOW || u64::from(n) == block.size() - 1 {
            return Err(NetworkError::AddressReserved(ip.to_string()));
        }
        Ok(())
    }

    /// Addresses still free for instances.
    pub fn available_addresses(&self) -> u64 {
        (self.block().size()).saturating_sub(u64::from(RESERVED_LOW) + 1 + u64::from(self.hosts_used))
    }
}

/// What CreateSubnet asks for, once the zone is resolved.
#[derive(Debug, Clone)]
pub struct SubnetSpec {
    pub vpc_id: String,
    pub cidr: String,
    pub zone: AzName,
    pub zone_id: AzId,
    pub tags: BTreeMap<String, String>,
}

/// The network state of a region.
#[derive(Debug, Default)]
pub(crate) struct NetworkState {
    /// The default network was made once (a deleted default VPC stays deleted).
    pub default_made: bool,
    /// `default_made` changed in the running command.
    pub default_made_changed: bool,
    pub vpcs: Table<String, Vpc>,
    pub subnets: Table<String, Subnet>,
}

impl Row for Vpc {
    const TABLE: &'static str = "vpcs";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl Row for Subnet {
    const TABLE: &'static str = "subnets";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// The errors of VPCs and subnets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
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
    #[error("the region has no default VPC")]
    NoDefaultVpc,
    #[error("zone {0} has no default subnet")]
    NoDefaultSubnet(String),
    #[error("address {address} is not in subnet {subnet}")]
    AddressOutsideSubnet { address: String, subnet: String },
    #[error("address {0} is one the subnet reserves")]
    AddressReserved(String),
    #[error("address {0} is in use")]
    AddressInUse(String),
    #[error("network interface {0} does not exist")]
    InterfaceNotFound(String),
    #[error("network interface {0} is in use")]
    InterfaceInUse(String),
    #[error("network interface attachment {0} does not exist")]
    InterfaceAttachmentNotFound(String),
    #[error("instance {instance} already has an interface at device index {index}")]
    DeviceIndexInUse { instance: String, index: u32 },
    #[error("network interface {interface} is not in the zone of instance {instance}")]
    InterfaceZoneMismatch { interface: String, instance: String },
    #[error("the primary network interface (device index 0) cannot be detached")]
    PrimaryInterface,
    #[error("{0}")]
    InvalidInterfaceRequest(String),
    #[error("subnet {0} has no IPv6 CIDR block")]
    NoIpv6Block(String),
}

/// An elastic network interface: a private address in a subnet, with security groups, attached
/// to at most one instance. Every instance has one at device index 0 (its primary interface,
/// whose address is the instance's private address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub zone: AzName,
    pub zone_id: AzId,
    pub private_ip: String,
    pub mac: String,
    pub description: String,
    pub groups: Vec<String>,
    pub source_dest_check: bool,
    pub tags: BTreeMap<String, String>,
    pub attachment: Option<InterfaceAttachment>,
    /// IPv6 addresses given to it (from its subnet's IPv6 block).
    #[serde(default)]
    pub ipv6_addresses: Vec<String>,
}

impl NetworkInterface {
    /// `available` or `in-use`, as DescribeNetworkInterfaces words it.
    pub fn status(&self) -> &'static str {
        if self.attachment.is_some() {
            "in-use"
        } else {
            "available"
        }
    }
}

/// Where a network interface is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAttachment {
    pub id: String,
    pub instance_id: String,
    pub device_index: u32,
    pub delete_on_termination: bool,
    pub attach_time_ms: u64,
}

impl Row for NetworkInterface {
    const TABLE: &'static str = "network_interfaces";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// What CreateNetworkInterface asks for.
#[derive(Debug, Clone, Default)]
pub struct InterfaceSpec {
    pub subnet_id: String,
    pub private_ip: Option<String>,
    pub description: Option<String>,
    /// Group ids; empty means the VPC's default group.
    pub groups: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// How many IPv6 addresses to give it from the subnet's block.
    pub ipv6_count: u32,
    /// For an interface a launch makes: a name its id and MAC derive from (the instance and
    /// device index), so launches draw nothing from the region's random stream and a seeded
    /// region's other ids stay what they were.
    pub stable_name: Option<String>,
}

/// One `NetworkInterface.N` of a RunInstances, after wire decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchInterface {
    pub device_index: u32,
    /// An existing interface to attach (instead of making one).
    pub interface_id: Option<String>,
    pub subnet_id: Option<String>,
    pub groups: Vec<String>,
    pub private_ip: Option<String>,
    pub description: Option<String>,
    pub delete_on_termination: Option<bool>,
    pub ipv6_count: u32,
}
