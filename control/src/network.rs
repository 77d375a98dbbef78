//! VPCs and subnets of a region: the default VPC (172.31.0.0/16, one default subnet per zone)
//! and the ones users create. A subnet lives in one zone and hands out the private addresses of
//! the instances launched into it, so the subnet decides where an instance runs.

use std::collections::BTreeMap;

use crate::error::{ControlError, NetworkError};
use crate::ids::AzName;
use crate::model::network::{Cidr, Subnet, SubnetSpec, Vpc};
use crate::model::zone::DefaultNetwork;
use crate::region::Region;
use crate::state::RegionState;

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
            Vpc::new(network.vpc_id.clone(), network.cidr.to_string(), true, BTreeMap::new()),
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
                    map_public_ip: None,
                    ipv6: None,
                    assign_ipv6: false,
                    ipv6_used: 0,
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
        self.network_ref().vpcs.get(id).ok_or_else(|| ControlError::Network(NetworkError::VpcNotFound(id.to_string())))
    }

    /// The region's default VPC, unless the user deleted it.
    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.network_ref().vpcs.values().find(|v| v.is_default)
    }

    pub fn subnets(&self) -> Vec<Subnet> {
        self.network_ref().subnets.values().cloned().collect()
    }

    pub fn subnet(&self, id: &str) -> Result<&Subnet, ControlError> {
        self.network_ref()
            .subnets
            .get(id)
            .ok_or_else(|| ControlError::Network(NetworkError::SubnetNotFound(id.to_string())))
    }

    /// The default subnet of a zone, if the default VPC still has one there.
    pub fn default_subnet(&self, zone: &AzName) -> Option<&Subnet> {
        self.network_ref().subnets.values().find(|s| s.default_for_az && s.zone == *zone)
    }

    pub(crate) fn create_vpc(
        &mut self,
        cidr: &str,
        tags: BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Vpc, ControlError> {
        let block =
            Cidr::parse(cidr).ok_or_else(|| ControlError::Network(NetworkError::InvalidCidr(cidr.to_string())))?;
        if !(16..=28).contains(&block.prefix) {
            return Err(ControlError::Network(NetworkError::VpcRange(cidr.to_string())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("vpc");
        let vpc = Vpc::new(id.clone(), block.to_string(), false, tags);
        self.network_mut().vpcs.insert(id.clone(), vpc.clone());
        self.ensure_default_group(&id)?;
        self.ensure_routing()?;
        Ok(vpc)
    }

    /// Deletes a VPC with nothing left in it but its default security group.
    pub(crate) fn delete_vpc(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        self.vpc(id)?;
        let has_subnets = self.network_ref().subnets.values().any(|s| s.vpc_id == id);
        let has_groups = self.security_groups_ref().values().any(|g| g.vpc_id == id && g.name != "default");
        if has_subnets || has_groups {
            return Err(ControlError::Network(NetworkError::DependencyViolation { kind: "vpc", id: id.to_string() }));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.drop_vpc_routing(id)?;
        self.network_mut().vpcs.remove(id);
        self.security_groups_mut().retain(|_, g| g.vpc_id != id);
        Ok(())
    }

    pub(crate) fn create_subnet(&mut self, spec: SubnetSpec, dry_run: bool) -> Result<Subnet, ControlError> {
        let vpc = self.vpc(&spec.vpc_id)?;
        let block = Cidr::parse(&spec.cidr)
            .ok_or_else(|| ControlError::Network(NetworkError::InvalidCidr(spec.cidr.clone())))?;
        let vpc_block =
            Cidr::parse(&vpc.cidr).ok_or_else(|| ControlError::Network(NetworkError::InvalidCidr(vpc.cidr.clone())))?;
        if !(16..=28).contains(&block.prefix) || !vpc_block.contains(block) {
            return Err(ControlError::Network(NetworkError::SubnetRange(spec.cidr.clone())));
        }
        let conflict = self
            .network_ref()
            .subnets
            .values()
            .any(|s| s.vpc_id == spec.vpc_id && Cidr::parse(&s.cidr).is_some_and(|c| c.overlaps(block)));
        if conflict {
            return Err(ControlError::Network(NetworkError::SubnetConflict(spec.cidr.clone())));
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
            map_public_ip: None,
            ipv6: None,
            assign_ipv6: false,
            ipv6_used: 0,
        };
        self.network_mut().subnets.insert(id, subnet.clone());
        Ok(subnet)
    }

    /// Deletes a subnet no live instance uses.
    pub(crate) fn delete_subnet(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        self.subnet(id)?;
        let used = self.instances_ref().values().any(|i| {
            i.subnet_id.as_deref() == Some(id) && i.state != crate::model::instance::InstanceState::Terminated
        }) || self.network_interfaces.values().any(|n| n.subnet_id == id);
        if used {
            return Err(ControlError::Network(NetworkError::DependencyViolation {
                kind: "subnet",
                id: id.to_string(),
            }));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.network_mut().subnets.remove(id);
        self.drop_subnet_routing(id);
        Ok(())
    }

    /// ModifySubnetAttribute `MapPublicIpOnLaunch`.
    pub(crate) fn set_map_public_ip(&mut self, id: &str, value: bool) -> Result<(), ControlError> {
        self.subnet(id)?;
        if let Some(s) = self.network_mut().subnets.get_mut(id) {
            s.map_public_ip = Some(value);
        }
        Ok(())
    }

    /// The next private address of a subnet (for a launching instance).
    pub(crate) fn allocate_address(&mut self, subnet: &str) -> Result<String, ControlError> {
        // Addresses taken by live instances and interfaces (one may have been asked for by number).
        let taken = self.addresses_taken(subnet);
        let s = self
            .network_mut()
            .subnets
            .get_mut(subnet)
            .ok_or_else(|| ControlError::Network(NetworkError::SubnetNotFound(subnet.into())))?;
        loop {
            if s.available_addresses() == 0 {
                return Err(ControlError::Network(NetworkError::InsufficientFreeAddresses(subnet.to_string())));
            }
            let ip = s.next_address();
            s.hosts_used += 1;
            if !taken.contains(&ip.to_string()) {
                return Ok(ip.to_string());
            }
        }
    }

    /// The address an instance asked for (RunInstances PrivateIpAddress): in the subnet, not
    /// reserved, not held by a live instance.
    pub(crate) fn claim_address(&mut self, subnet: &str, address: &str) -> Result<String, ControlError> {
        self.check_free_address(subnet, address)?;
        Ok(address.to_string())
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

impl Region {
    /// CreateVpc (with its default security group).
    pub fn create_vpc(
        &self,
        cidr: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vpc, ControlError> {
        self.with_state(now_ms, |state| state.create_vpc(cidr, tags, dry_run))
    }

    /// DeleteVpc.
    pub fn delete_vpc(&self, id: &str, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_vpc(id, dry_run))
    }

    /// CreateSubnet.
    pub fn create_subnet(&self, spec: SubnetSpec, now_ms: u64, dry_run: bool) -> Result<Subnet, ControlError> {
        self.with_state(now_ms, |state| state.create_subnet(spec, dry_run))
    }

    /// ModifySubnetAttribute `MapPublicIpOnLaunch`.
    pub fn set_map_public_ip(&self, id: &str, value: bool, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.set_map_public_ip(id, value))
    }

    /// DeleteSubnet.
    pub fn delete_subnet(&self, id: &str, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_subnet(id, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, NetworkError};
    use crate::model::network::SubnetSpec;
    use crate::test_support::TestRegion;

    fn subnet(t: &TestRegion, vpc: &str, cidr: &str) -> SubnetSpec {
        let zone = t.region.zone_by_name("us-east-1b").unwrap();
        SubnetSpec { vpc_id: vpc.into(), cidr: cidr.into(), zone: zone.name, zone_id: zone.id, tags: BTreeMap::new() }
    }

    #[test]
    fn vpc_and_subnet_ranges_follow_aws_rules() {
        let t = TestRegion::new();
        let wide = t.run(|state| state.create_vpc("10.0.0.0/8", BTreeMap::new(), false));
        assert_eq!(wide.unwrap_err(), ControlError::Network(NetworkError::VpcRange("10.0.0.0/8".into())));
        let vpc = t.run(|state| state.create_vpc("10.1.0.0/16", BTreeMap::new(), false)).unwrap();
        let outside = t.run(|state| state.create_subnet(subnet(&t, &vpc.id, "10.2.0.0/24"), false));
        assert_eq!(outside.unwrap_err(), ControlError::Network(NetworkError::SubnetRange("10.2.0.0/24".into())));
        t.run(|state| state.create_subnet(subnet(&t, &vpc.id, "10.1.0.0/24"), false)).unwrap();
        let overlap = t.run(|state| state.create_subnet(subnet(&t, &vpc.id, "10.1.0.128/25"), false));
        assert_eq!(overlap.unwrap_err(), ControlError::Network(NetworkError::SubnetConflict("10.1.0.128/25".into())));
        let busy = t.run(|state| state.delete_vpc(&vpc.id, false));
        assert!(matches!(busy, Err(ControlError::Network(NetworkError::DependencyViolation { kind: "vpc", .. }))));
    }

    #[test]
    fn a_dry_run_changes_nothing() {
        let t = TestRegion::new();
        let before = t.run(|state| Ok(state.vpcs().len())).unwrap();
        let dry = t.run(|state| state.create_vpc("10.3.0.0/16", BTreeMap::new(), true));
        assert_eq!(dry.unwrap_err(), ControlError::DryRun);
        assert_eq!(t.run(|state| Ok(state.vpcs().len())).unwrap(), before);
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
