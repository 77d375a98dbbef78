//! VPCs and subnets of a region: the default VPC (172.31.0.0/16, one default subnet per zone)
//! and the ones users create. A subnet lives in one zone and hands out the private addresses of
//! the instances launched into it, so the subnet decides where an instance runs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::db::Row;
use crate::ids::{AzId, AzName};
use crate::region::DefaultNetwork;
use crate::state::RegionState;
use crate::table::Table;
use crate::ControlError;

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
}

impl Subnet {
    fn block(&self) -> Cidr {
        Cidr::parse(&self.cidr).unwrap_or(Cidr { base: 0, prefix: 32 })
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

impl RegionState {
    /// Creates the default VPC, its subnets and its default security group, once: a default VPC
    /// the user deletes stays deleted.
    pub(crate) fn ensure_default_network(&mut self, network: &DefaultNetwork) -> Result<(), ControlError> {
        if self.network_ref().default_made {
            return Ok(());
        }
        let n = self.network_mut();
        n.default_made = true;
        n.default_made_changed = true;
        n.vpcs.insert(
            network.vpc_id.clone(),
            Vpc { id: network.vpc_id.clone(), cidr: network.cidr.to_string(), is_default: true, tags: BTreeMap::new() },
        );
        for s in &network.subnets {
            n.subnets.insert(
                s.id.clone(),
                Subnet {
                    id: s.id.clone(),
                    vpc_id: network.vpc_id.clone(),
                    cidr: s.cidr.clone(),
                    zone: s.zone.clone(),
                    zone_id: s.zone_id.clone(),
                    default_for_az: true,
                    tags: BTreeMap::new(),
                    hosts_used: 0,
                },
            );
        }
        self.ensure_default_group(&network.vpc_id)?;
        Ok(())
    }

    pub fn vpcs(&self) -> Vec<Vpc> {
        self.network_ref().vpcs.values().cloned().collect()
    }

    pub fn vpc(&self, id: &str) -> Result<&Vpc, ControlError> {
        self.network_ref().vpcs.get(id).ok_or_else(|| ControlError::VpcNotFound(id.to_string()))
    }

    /// The region's default VPC, unless the user deleted it.
    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.network_ref().vpcs.values().find(|v| v.is_default)
    }

    pub fn subnets(&self) -> Vec<Subnet> {
        self.network_ref().subnets.values().cloned().collect()
    }

    pub fn subnet(&self, id: &str) -> Result<&Subnet, ControlError> {
        self.network_ref().subnets.get(id).ok_or_else(|| ControlError::SubnetNotFound(id.to_string()))
    }

    /// The default subnet of a zone, if the default VPC still has one there.
    pub fn default_subnet(&self, zone: &AzName) -> Option<&Subnet> {
        self.network_ref().subnets.values().find(|s| s.default_for_az && s.zone == *zone)
    }

    pub fn create_vpc(
        &mut self,
        cidr: &str,
        tags: BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Vpc, ControlError> {
        let block = Cidr::parse(cidr).ok_or_else(|| ControlError::InvalidCidr(cidr.to_string()))?;
        if !(16..=28).contains(&block.prefix) {
            return Err(ControlError::VpcRange(cidr.to_string()));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("vpc");
        let vpc = Vpc { id: id.clone(), cidr: block.to_string(), is_default: false, tags };
        self.network_mut().vpcs.insert(id.clone(), vpc.clone());
        self.ensure_default_group(&id)?;
        Ok(vpc)
    }

    /// Deletes a VPC with nothing left in it but its default security group.
    pub fn delete_vpc(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        self.vpc(id)?;
        let has_subnets = self.network_ref().subnets.values().any(|s| s.vpc_id == id);
        let has_groups = self.security_groups_ref().values().any(|g| g.vpc_id == id && g.name != "default");
        if has_subnets || has_groups {
            return Err(ControlError::DependencyViolation { kind: "vpc", id: id.to_string() });
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.network_mut().vpcs.remove(id);
        self.security_groups_mut().retain(|_, g| g.vpc_id != id);
        Ok(())
    }

    pub fn create_subnet(&mut self, spec: SubnetSpec, dry_run: bool) -> Result<Subnet, ControlError> {
        let vpc = self.vpc(&spec.vpc_id)?;
        let block = Cidr::parse(&spec.cidr).ok_or_else(|| ControlError::InvalidCidr(spec.cidr.clone()))?;
        let vpc_block = Cidr::parse(&vpc.cidr).ok_or_else(|| ControlError::InvalidCidr(vpc.cidr.clone()))?;
        if !(16..=28).contains(&block.prefix) || !vpc_block.contains(block) {
            return Err(ControlError::SubnetRange(spec.cidr.clone()));
        }
        let conflict = self
            .network_ref()
            .subnets
            .values()
            .any(|s| s.vpc_id == spec.vpc_id && Cidr::parse(&s.cidr).is_some_and(|c| c.overlaps(block)));
        if conflict {
            return Err(ControlError::SubnetConflict(spec.cidr.clone()));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("subnet");
        let subnet = Subnet {
            id: id.clone(),
            vpc_id: spec.vpc_id,
            cidr: block.to_string(),
            zone: spec.zone,
            zone_id: spec.zone_id,
            default_for_az: false,
            tags: spec.tags,
            hosts_used: 0,
        };
        self.network_mut().subnets.insert(id, subnet.clone());
        Ok(subnet)
    }

    /// Deletes a subnet no live instance uses.
    pub fn delete_subnet(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        self.subnet(id)?;
        let used = self
            .instances_ref()
            .values()
            .any(|i| i.subnet_id.as_deref() == Some(id) && i.state != crate::instances::InstanceState::Terminated);
        if used {
            return Err(ControlError::DependencyViolation { kind: "subnet", id: id.to_string() });
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.network_mut().subnets.remove(id);
        Ok(())
    }

    /// The next private address of a subnet (for a launching instance).
    pub(crate) fn allocate_address(&mut self, subnet: &str) -> Result<String, ControlError> {
        let s =
            self.network_mut().subnets.get_mut(subnet).ok_or_else(|| ControlError::SubnetNotFound(subnet.into()))?;
        if s.available_addresses() == 0 {
            return Err(ControlError::InsufficientFreeAddresses(subnet.to_string()));
        }
        let ip = s.block().host(RESERVED_LOW + s.hosts_used);
        s.hosts_used += 1;
        Ok(ip.to_string())
    }

    /// Tags of a VPC or subnet, for CreateTags/DeleteTags.
    pub(crate) fn network_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        let n = self.network_mut();
        if let Some(v) = n.vpcs.get_mut(id) {
            return Some(&mut v.tags);
        }
        n.subnets.get_mut(id).map(|s| &mut s.tags)
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::network::SubnetSpec;
    use crate::test_support::TestRegion;
    use crate::ControlError;

    fn subnet(t: &TestRegion, vpc: &str, cidr: &str) -> SubnetSpec {
        let zone = t.region.zone_by_name("us-east-1b").unwrap();
        SubnetSpec { vpc_id: vpc.into(), cidr: cidr.into(), zone: zone.name, zone_id: zone.id, tags: BTreeMap::new() }
    }

    #[test]
    fn vpc_and_subnet_ranges_follow_aws_rules() {
        let t = TestRegion::new();
        let wide = t.run(|ebs| ebs.create_vpc("10.0.0.0/8", BTreeMap::new(), false));
        assert_eq!(wide.unwrap_err(), ControlError::VpcRange("10.0.0.0/8".into()));
        let vpc = t.run(|ebs| ebs.create_vpc("10.1.0.0/16", BTreeMap::new(), false)).unwrap();
        let outside = t.run(|ebs| ebs.create_subnet(subnet(&t, &vpc.id, "10.2.0.0/24"), false));
        assert_eq!(outside.unwrap_err(), ControlError::SubnetRange("10.2.0.0/24".into()));
        t.run(|ebs| ebs.create_subnet(subnet(&t, &vpc.id, "10.1.0.0/24"), false)).unwrap();
        let overlap = t.run(|ebs| ebs.create_subnet(subnet(&t, &vpc.id, "10.1.0.128/25"), false));
        assert_eq!(overlap.unwrap_err(), ControlError::SubnetConflict("10.1.0.128/25".into()));
        let busy = t.run(|ebs| ebs.delete_vpc(&vpc.id, false));
        assert!(matches!(busy, Err(ControlError::DependencyViolation { kind: "vpc", .. })));
    }

    #[test]
    fn a_dry_run_changes_nothing() {
        let t = TestRegion::new();
        let before = t.run(|ebs| Ok(ebs.vpcs().len())).unwrap();
        let dry = t.run(|ebs| ebs.create_vpc("10.3.0.0/16", BTreeMap::new(), true));
        assert_eq!(dry.unwrap_err(), ControlError::DryRun);
        assert_eq!(t.run(|ebs| Ok(ebs.vpcs().len())).unwrap(), before);
    }

    use super::Cidr;

    #[test]
    fn cidr_blocks_parse_contain_and_overlap() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        let b = Cidr::parse("10.0.1.128/25").unwrap();
        assert!(vpc.contains(a) && vpc.contains(b));
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(Cidr::parse("10.0.2.0/24").unwrap()));
        assert!(!vpc.contains(Cidr::parse("10.1.0.0/24").unwrap()));
        assert_eq!(Cidr::parse("10.0.0.1/16"), None, "host bits set");
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("banana"), None);
        assert_eq!(a.host(4).to_string(), "10.0.1.4");
        assert_eq!(a.to_string(), "10.0.1.0/24");
    }
}
