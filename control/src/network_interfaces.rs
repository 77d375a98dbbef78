//! Elastic network interfaces: a private address in a subnet with security groups, attached to
//! at most one instance. Every instance in a VPC has its primary interface at device index 0
//! (made by the launch, or given to it), whose address is the instance's private address; more
//! can be attached at other indices and detached again. Terminating an instance deletes the
//! interfaces marked delete-on-termination and leaves the others available.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ControlError, InstanceError, NetworkError, SecurityGroupError};
use crate::ids::InstanceId;
use crate::model::instance::InstanceState;
use crate::model::network::{
    InterfaceAttachment, InterfaceSpec, Ipv6Association, LaunchInterface, NetworkInterface, Subnet,
};
use crate::region::Region;
use crate::state::RegionState;

fn not_found(id: &str) -> ControlError {
    ControlError::Network(NetworkError::InterfaceNotFound(id.to_string()))
}

impl RegionState {
    pub fn network_interfaces(&self) -> Vec<NetworkInterface> {
        self.network_interfaces.values().cloned().collect()
    }

    pub fn network_interface(&self, id: &str) -> Result<&NetworkInterface, ControlError> {
        self.network_interfaces.get(id).ok_or_else(|| not_found(id))
    }

    /// The interfaces attached to an instance, by device index.
    pub fn interfaces_of(&self, instance: &InstanceId) -> Vec<NetworkInterface> {
        let key = instance.to_string();
        let mut out: Vec<NetworkInterface> = self
            .network_interfaces
            .values()
            .filter(|n| n.attachment.as_ref().is_some_and(|a| a.instance_id == key))
            .cloned()
            .collect();
        out.sort_by_key(|n| n.attachment.as_ref().map_or(0, |a| a.device_index));
        out
    }

    /// Every attached interface by its instance (each list by device index): one pass for a
    /// page of instances, instead of a scan per instance.
    pub fn interfaces_by_instance(&self) -> BTreeMap<String, Vec<NetworkInterface>> {
        let mut out: BTreeMap<String, Vec<NetworkInterface>> = BTreeMap::new();
        for n in self.network_interfaces.values() {
            if let Some(a) = &n.attachment {
                out.entry(a.instance_id.clone()).or_default().push(n.clone());
            }
        }
        for list in out.values_mut() {
            list.sort_by_key(|n| n.attachment.as_ref().map_or(0, |a| a.device_index));
        }
        out
    }

    /// Private addresses of a subnet that live instances or interfaces hold.
    pub(crate) fn addresses_taken(&self, subnet: &str) -> BTreeSet<String> {
        let mut taken: BTreeSet<String> = self
            .instances
            .values()
            .filter(|i| i.subnet_id.as_deref() == Some(subnet) && i.state != InstanceState::Terminated)
            .map(|i| i.private_ip.clone())
            .collect();
        taken.extend(self.network_interfaces.values().filter(|n| n.subnet_id == subnet).map(|n| n.private_ip.clone()));
        taken
    }

    /// Security group ids for an interface in `subnet`: the given ones (which must be in its
    /// VPC) or the VPC's default group.
    pub(crate) fn groups_for(&self, subnet: &Subnet, groups: &[String]) -> Result<Vec<String>, ControlError> {
        for g in groups {
            let group = self
                .security_groups
                .get(g)
                .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(g.clone())))?;
            if group.vpc_id != subnet.vpc_id {
                return Err(ControlError::Network(NetworkError::GroupSubnetMismatch {
                    group: g.clone(),
                    subnet: subnet.id.clone(),
                }));
            }
        }
        if !groups.is_empty() {
            return Ok(groups.to_vec());
        }
        Ok(self
            .security_groups
            .values()
            .filter(|g| g.vpc_id == subnet.vpc_id && g.name == "default")
            .map(|g| g.id.clone())
            .collect())
    }

    fn new_mac(&mut self) -> String {
        let n = self.next_random();
        let b: Vec<String> = (0..5).map(|i| format!("{:02x}", (n >> (8 * i)) as u8)).collect();
        format!("0e:{}", b.join(":"))
    }

    /// CreateNetworkInterface, and the interfaces a launch makes. `address` is the private
    /// address already taken for it, if any.
    pub(crate) fn create_network_interface(
        &mut self,
        spec: InterfaceSpec,
        address: Option<String>,
        dry_run: bool,
    ) -> Result<NetworkInterface, ControlError> {
        let subnet = self.subnet(&spec.subnet_id)?.clone();
        let groups = self.groups_for(&subnet, &spec.groups)?;
        let mut spec = spec;
        // A subnet that assigns IPv6 addresses on creation gives each new interface one.
        if spec.ipv6_count == 0 && subnet.assign_ipv6 && subnet.ipv6.is_some() {
            spec.ipv6_count = 1;
        }
        if spec.ipv6_count > 0 && subnet.ipv6.is_none() {
            return Err(ControlError::Network(NetworkError::NoIpv6Block(subnet.id.clone())));
        }
        if address.is_none() {
            match &spec.private_ip {
                Some(ip) => {
                    self.check_free_address(&subnet.id, ip)?;
                }
                None if subnet.available_addresses() == 0 => {
                    return Err(ControlError::Network(NetworkError::InsufficientFreeAddresses(subnet.id.clone())));
                }
                None => {}
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let private_ip = match (address, &spec.private_ip) {
            (Some(a), _) => a,
            (None, Some(ip)) => ip.clone(),
            (None, None) => self.allocate_address(&subnet.id)?,
        };
        let mut ipv6_addresses = Vec::new();
        if let Some(s) = self.network.subnets.get_mut(&subnet.id) {
            for _ in 0..spec.ipv6_count {
                ipv6_addresses.extend(s.next_ipv6());
            }
        }
        let (id, mac) = match &spec.stable_name {
            Some(name) => {
                let hex = crate::stable_hex(name);
                let mac_hex = crate::stable_hex(&format!("{name}/mac"));
                let octets: Vec<&str> = (0..5).map(|i| &mac_hex[2 * i + 1..2 * i + 3]).collect();
                (format!("eni-{hex}"), format!("0e:{}", octets.join(":")))
            }
            None => (self.random_id("eni"), self.new_mac()),
        };
        let eni = NetworkInterface {
            id: id.clone(),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            zone: subnet.zone.clone(),
            zone_id: subnet.zone_id.clone(),
            private_ip,
            mac,
            description: spec.description.unwrap_or_default(),
            groups,
            source_dest_check: true,
            tags: spec.tags,
            attachment: None,
            ipv6_addresses,
        };
        self.network_interfaces.insert(id, eni.clone());
        Ok(eni)
    }

    /// DeleteNetworkInterface: only a detached one.
    pub(crate) fn delete_network_interface(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        let eni = self.network_interface(id)?;
        if eni.attachment.is_some() {
            return Err(ControlError::Network(NetworkError::InterfaceInUse(id.to_string())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.network_interfaces.remove(id);
        Ok(())
    }

    /// AttachNetworkInterface: an available interface, to an instance in its zone, at a free
    /// device index. Answers the attachment's id.
    pub(crate) fn attach_network_interface(
        &mut self,
        id: &str,
        instance: &InstanceId,
        device_index: u32,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<String, ControlError> {
        let eni = self.network_interface(id)?.clone();
        let target = self.instance(instance)?.clone();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if eni.attachment.is_some() {
            return Err(ControlError::Network(NetworkError::InterfaceInUse(id.to_string())));
        }
        if !matches!(target.state, InstanceState::Running | InstanceState::Stopped | InstanceState::Pending) {
            return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                instance: instance.clone(),
                state: target.state,
            }));
        }
        if target.zone != eni.zone || target.vpc_id.as_deref() != Some(eni.vpc_id.as_str()) {
            return Err(ControlError::Network(NetworkError::InterfaceZoneMismatch {
                interface: id.to_string(),
                instance: instance.to_string(),
            }));
        }
        if self
            .interfaces_of(instance)
            .iter()
            .any(|n| n.attachment.as_ref().is_some_and(|a| a.device_index == device_index))
        {
            return Err(ControlError::Network(NetworkError::DeviceIndexInUse {
                instance: instance.to_string(),
                index: device_index,
            }));
        }
        let attachment_id = self.random_id("eni-attach");
        Ok(self.attach_interface_row(id, &attachment_id, instance, device_index, false, now_ms))
    }

    fn attach_interface_row(
        &mut self,
        id: &str,
        attachment_id: &str,
        instance: &InstanceId,
        device_index: u32,
        delete_on_termination: bool,
        now_ms: u64,
    ) -> String {
        let attachment_id = attachment_id.to_string();
        if let Some(n) = self.network_interfaces.get_mut(id) {
            n.attachment = Some(InterfaceAttachment {
                id: attachment_id.clone(),
                instance_id: instance.to_string(),
                device_index,
                delete_on_termination,
                attach_time_ms: now_ms,
            });
        }
        attachment_id
    }

    /// DetachNetworkInterface by attachment id; the primary interface stays.
    pub(crate) fn detach_network_interface(&mut self, attachment_id: &str, dry_run: bool) -> Result<(), ControlError> {
        let eni = self
            .network_interfaces
            .values()
            .find(|n| n.attachment.as_ref().is_some_and(|a| a.id == attachment_id))
            .cloned()
            .ok_or_else(|| {
                ControlError::Network(NetworkError::InterfaceAttachmentNotFound(attachment_id.to_string()))
            })?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if eni.attachment.as_ref().is_some_and(|a| a.device_index == 0) {
            return Err(ControlError::Network(NetworkError::PrimaryInterface));
        }
        if let Some(n) = self.network_interfaces.get_mut(&eni.id) {
            n.attachment = None;
        }
        Ok(())
    }

    /// ModifyNetworkInterfaceAttribute: one of description, groups, source/dest check, or the
    /// attachment's delete-on-termination.
    pub(crate) fn modify_network_interface(
        &mut self,
        id: &str,
        change: InterfaceChange,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        let eni = self.network_interface(id)?.clone();
        if let InterfaceChange::Groups(groups) = &change {
            let subnet = self.subnet(&eni.subnet_id)?.clone();
            if groups.is_empty() {
                return Err(ControlError::Network(NetworkError::InvalidInterfaceRequest(
                    "The request must contain at least one security group.".into(),
                )));
            }
            self.groups_for(&subnet, groups)?;
        }
        if let InterfaceChange::DeleteOnTermination { attachment_id, .. } = &change {
            if eni.attachment.as_ref().is_none_or(|a| a.id != *attachment_id) {
                return Err(ControlError::Network(NetworkError::InterfaceAttachmentNotFound(attachment_id.clone())));
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let primary_of = eni
            .attachment
            .as_ref()
            .filter(|a| a.device_index == 0)
            .and_then(|a| InstanceId::parse(&a.instance_id).ok());
        let Some(n) = self.network_interfaces.get_mut(id) else { return Err(not_found(id)) };
        match change {
            InterfaceChange::Description(d) => n.description = d,
            InterfaceChange::Groups(g) => {
                n.groups = g.clone();
                // The primary interface's groups are the instance's.
                if let Some(i) = primary_of.as_ref().and_then(|i| self.instances.get_mut(i)) {
                    i.security_groups = g;
                }
            }
            InterfaceChange::SourceDestCheck(v) => {
                n.source_dest_check = v;
                if let Some(i) = primary_of.as_ref().and_then(|i| self.instances.get_mut(i)) {
                    i.attributes.source_dest_check = v;
                }
            }
            InterfaceChange::DeleteOnTermination { value, .. } => {
                if let Some(a) = n.attachment.as_mut() {
                    a.delete_on_termination = value;
                }
            }
        }
        Ok(())
    }

    /// The launch's side: the instance's primary interface (a new one, or `existing`), and its
    /// other interfaces.
    pub(crate) fn attach_primary_interface(
        &mut self,
        instance: &InstanceId,
        primary: PrimaryInterface,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        let id = match primary.existing {
            Some(id) => id,
            None => {
                let i = self.instance(instance)?.clone();
                let subnet_id = i.subnet_id.clone().unwrap_or_default();
                let spec = InterfaceSpec {
                    subnet_id,
                    description: primary.description,
                    groups: i.security_groups.clone(),
                    ipv6_count: primary.ipv6_count,
                    stable_name: Some(format!("{instance}/eni0")),
                    ..Default::default()
                };
                self.create_network_interface(spec, Some(i.private_ip.clone()), false)?.id
            }
        };
        let attachment_id = format!("eni-attach-{}", crate::stable_hex(&format!("{id}/{instance}/0")));
        self.attach_interface_row(&id, &attachment_id, instance, 0, primary.delete_on_termination, now_ms);
        Ok(())
    }

    /// A launch's interface at a device index other than 0: an existing available one, or a new
    /// one in the given subnet (the instance's by default), which must be in the instance's zone.
    pub(crate) fn attach_secondary_interface(
        &mut self,
        instance: &InstanceId,
        instance_subnet: &Subnet,
        n: &LaunchInterface,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        let (id, default_delete) = match &n.interface_id {
            Some(id) => {
                let eni = self.network_interface(id)?;
                if eni.attachment.is_some() {
                    return Err(ControlError::Network(NetworkError::InterfaceInUse(id.clone())));
                }
                (id.clone(), false)
            }
            None => {
                let spec = InterfaceSpec {
                    subnet_id: n.subnet_id.clone().unwrap_or_else(|| instance_subnet.id.clone()),
                    private_ip: n.private_ip.clone(),
                    description: n.description.clone(),
                    groups: n.groups.clone(),
                    tags: BTreeMap::new(),
                    ipv6_count: n.ipv6_count,
                    stable_name: Some(format!("{instance}/eni{}", n.device_index)),
                };
                (self.create_network_interface(spec, None, false)?.id, true)
            }
        };
        let eni = self.network_interface(&id)?;
        if eni.zone != instance_subnet.zone || eni.vpc_id != instance_subnet.vpc_id {
            return Err(ControlError::Network(NetworkError::InterfaceZoneMismatch {
                interface: id.clone(),
                instance: instance.to_string(),
            }));
        }
        let attachment_id = format!("eni-attach-{}", crate::stable_hex(&format!("{id}/{instance}/{}", n.device_index)));
        self.attach_interface_row(
            &id,
            &attachment_id,
            instance,
            n.device_index,
            n.delete_on_termination.unwrap_or(default_delete),
            now_ms,
        );
        Ok(())
    }

    /// A terminated instance's interfaces: those marked delete-on-termination go, the others
    /// become available.
    pub(crate) fn release_interfaces_of(&mut self, instance: &InstanceId) {
        let key = instance.to_string();
        let mine: Vec<(String, bool)> = self
            .network_interfaces
            .values()
            .filter_map(|n| {
                n.attachment.as_ref().filter(|a| a.instance_id == key).map(|a| (n.id.clone(), a.delete_on_termination))
            })
            .collect();
        for (id, delete) in mine {
            if delete {
                self.network_interfaces.remove(&id);
            } else if let Some(n) = self.network_interfaces.get_mut(&id) {
                n.attachment = None;
            }
        }
    }

    /// Instances launched before interfaces were kept get their primary one (idempotent).
    pub(crate) fn ensure_primary_interfaces(&mut self) -> Result<(), ControlError> {
        let attached: BTreeSet<&str> = self
            .network_interfaces
            .values()
            .filter_map(|n| n.attachment.as_ref().map(|a| a.instance_id.as_str()))
            .collect();
        let missing: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.state != InstanceState::Terminated && i.subnet_id.is_some())
            .filter(|i| !attached.contains(i.id.to_string().as_str()))
            .map(|i| i.id.clone())
            .collect();
        for id in missing {
            let i = self.instance(&id)?;
            let launched = i.launch_time_ms;
            if self.subnet(i.subnet_id.as_deref().unwrap_or_default()).is_ok() {
                self.attach_primary_interface(&id, PrimaryInterface::new_default(), launched)?;
            }
        }
        Ok(())
    }

    /// Tags of a network interface, for CreateTags/DeleteTags.
    pub(crate) fn interface_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        self.network_interfaces.get_mut(id).map(|n| &mut n.tags)
    }

    /// A private address asked for in a subnet: in it, not reserved, not held.
    pub(crate) fn check_free_address(&self, subnet: &str, address: &str) -> Result<(), ControlError> {
        let s = self.subnet(subnet)?;
        let ip: std::net::Ipv4Addr = address.parse().map_err(|_| {
            ControlError::Network(NetworkError::AddressOutsideSubnet { address: address.into(), subnet: subnet.into() })
        })?;
        s.check_host_address(ip).map_err(ControlError::Network)?;
        if self.addresses_taken(subnet).contains(address) {
            return Err(ControlError::Network(NetworkError::AddressInUse(address.into())));
        }
        Ok(())
    }
}

/// The primary interface of a launching instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryInterface {
    /// An existing available interface to use (its subnet decides the instance's).
    pub existing: Option<String>,
    pub description: Option<String>,
    pub delete_on_termination: bool,
    pub ipv6_count: u32,
}

impl PrimaryInterface {
    pub fn new_default() -> Self {
        Self { existing: None, description: None, delete_on_termination: true, ipv6_count: 0 }
    }
}

/// One change of ModifyNetworkInterfaceAttribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceChange {
    Description(String),
    Groups(Vec<String>),
    SourceDestCheck(bool),
    DeleteOnTermination { attachment_id: String, value: bool },
}

impl Region {
    pub fn create_network_interface(
        &self,
        spec: InterfaceSpec,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<NetworkInterface, ControlError> {
        self.with_state(now_ms, |state| state.create_network_interface(spec, None, dry_run))
    }

    pub fn delete_network_interface(&self, id: &str, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_network_interface(id, dry_run))
    }

    pub fn attach_network_interface(
        &self,
        id: &str,
        instance: &InstanceId,
        device_index: u32,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| state.attach_network_interface(id, instance, device_index, now_ms, dry_run))
    }

    pub fn detach_network_interface(
        &self,
        attachment_id: &str,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.detach_network_interface(attachment_id, dry_run))
    }

    pub fn modify_network_interface(
        &self,
        id: &str,
        change: InterfaceChange,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.modify_network_interface(id, change, dry_run))
    }
}

impl RegionState {
    /// AssociateVpcCidrBlock `AmazonProvidedIpv6CidrBlock`: a /56 from Amazon's pool (one per
    /// VPC here).
    pub(crate) fn associate_vpc_ipv6(&mut self, vpc: &str) -> Result<Ipv6Association, ControlError> {
        if self.vpc(vpc)?.ipv6.is_some() {
            return Err(ControlError::Network(NetworkError::InvalidInterfaceRequest(format!(
                "The VPC '{vpc}' already has an Amazon-provided IPv6 CIDR block; squall gives one per VPC."
            ))));
        }
        let n = self.next_random();
        let cidr = format!("2600:1f18:{:x}:{:x}00::/56", (n as u16) | 0x1000, (n >> 16) as u8);
        let a = Ipv6Association { id: self.random_id("vpc-cidr-assoc"), cidr };
        if let Some(v) = self.network.vpcs.get_mut(vpc) {
            v.ipv6 = Some(a.clone());
        }
        Ok(a)
    }

    /// DisassociateVpcCidrBlock of the VPC's IPv6 block, once no subnet uses it. Answers the VPC.
    pub(crate) fn disassociate_vpc_ipv6(
        &mut self,
        association: &str,
    ) -> Result<(String, Ipv6Association), ControlError> {
        let vpc = self
            .network
            .vpcs
            .values()
            .find(|v| v.ipv6.as_ref().is_some_and(|a| a.id == association))
            .cloned()
            .ok_or_else(|| ControlError::Network(NetworkError::InterfaceAttachmentNotFound(association.to_string())))?;
        if self.network.subnets.values().any(|s| s.vpc_id == vpc.id && s.ipv6.is_some()) {
            return Err(ControlError::Network(NetworkError::DependencyViolation {
                kind: "vpc-cidr-assoc",
                id: association.into(),
            }));
        }
        let a = vpc.ipv6.clone().ok_or_else(|| ControlError::invariant("ipv6"))?;
        if let Some(v) = self.network.vpcs.get_mut(&vpc.id) {
            v.ipv6 = None;
        }
        Ok((vpc.id, a))
    }

    /// AssociateSubnetCidrBlock: a /64 inside the VPC's IPv6 block that no other subnet has.
    pub(crate) fn associate_subnet_ipv6(&mut self, subnet: &str, cidr: &str) -> Result<Ipv6Association, ControlError> {
        let s = self.subnet(subnet)?.clone();
        let vpc = self.vpc(&s.vpc_id)?.clone();
        let invalid = || ControlError::Network(NetworkError::SubnetRange(cidr.to_string()));
        let vpc_block =
            vpc.ipv6.as_ref().ok_or_else(|| ControlError::Network(NetworkError::NoIpv6Block(vpc.id.clone())))?;
        let (addr, prefix) = cidr.split_once('/').ok_or_else(invalid)?;
        let addr: std::net::Ipv6Addr = addr.parse().map_err(|_| invalid())?;
        if prefix != "64" || u128::from(addr) & ((1u128 << 64) - 1) != 0 {
            return Err(invalid());
        }
        let vpc_base: std::net::Ipv6Addr =
            vpc_block.cidr.split('/').next().and_then(|a| a.parse().ok()).ok_or_else(invalid)?;
        if u128::from(addr) >> 72 != u128::from(vpc_base) >> 72 {
            return Err(invalid());
        }
        let normal = format!("{addr}/64");
        if self.network.subnets.values().any(|o| o.ipv6.as_ref().is_some_and(|a| a.cidr == normal)) {
            return Err(ControlError::Network(NetworkError::SubnetConflict(cidr.to_string())));
        }
        if s.ipv6.is_some() {
            return Err(ControlError::Network(NetworkError::InvalidInterfaceRequest(format!(
                "The subnet '{subnet}' already has an IPv6 CIDR block."
            ))));
        }
        let a = Ipv6Association { id: self.random_id("subnet-cidr-assoc"), cidr: normal };
        if let Some(s) = self.network.subnets.get_mut(subnet) {
            s.ipv6 = Some(a.clone());
            s.ipv6_used = 0;
        }
        Ok(a)
    }

    /// DisassociateSubnetCidrBlock, once no interface in the subnet holds an IPv6 address.
    pub(crate) fn disassociate_subnet_ipv6(
        &mut self,
        association: &str,
    ) -> Result<(String, Ipv6Association), ControlError> {
        let s = self
            .network
            .subnets
            .values()
            .find(|s| s.ipv6.as_ref().is_some_and(|a| a.id == association))
            .cloned()
            .ok_or_else(|| {
            ControlError::Network(NetworkError::InterfaceAttachmentNotFound(association.to_string()))
        })?;
        if self.network_interfaces.values().any(|n| n.subnet_id == s.id && !n.ipv6_addresses.is_empty()) {
            return Err(ControlError::Network(NetworkError::DependencyViolation {
                kind: "subnet-cidr-assoc",
                id: association.into(),
            }));
        }
        let a = s.ipv6.clone().ok_or_else(|| ControlError::invariant("ipv6"))?;
        if let Some(sub) = self.network.subnets.get_mut(&s.id) {
            sub.ipv6 = None;
            sub.assign_ipv6 = false;
        }
        Ok((s.id, a))
    }

    /// ModifySubnetAttribute `AssignIpv6AddressOnCreation` (needs the subnet's IPv6 block).
    pub(crate) fn set_assign_ipv6(&mut self, subnet: &str, value: bool) -> Result<(), ControlError> {
        let s = self.subnet(subnet)?;
        if value && s.ipv6.is_none() {
            return Err(ControlError::Network(NetworkError::NoIpv6Block(subnet.to_string())));
        }
        if let Some(s) = self.network.subnets.get_mut(subnet) {
            s.assign_ipv6 = value;
        }
        Ok(())
    }
}

impl Region {
    pub fn associate_vpc_ipv6(&self, vpc: &str, now_ms: u64) -> Result<Ipv6Association, ControlError> {
        self.with_state(now_ms, |state| state.associate_vpc_ipv6(vpc))
    }

    pub fn disassociate_vpc_ipv6(
        &self,
        association: &str,
        now_ms: u64,
    ) -> Result<(String, Ipv6Association), ControlError> {
        self.with_state(now_ms, |state| state.disassociate_vpc_ipv6(association))
    }

    pub fn associate_subnet_ipv6(
        &self,
        subnet: &str,
        cidr: &str,
        now_ms: u64,
    ) -> Result<Ipv6Association, ControlError> {
        self.with_state(now_ms, |state| state.associate_subnet_ipv6(subnet, cidr))
    }

    pub fn disassociate_subnet_ipv6(
        &self,
        association: &str,
        now_ms: u64,
    ) -> Result<(String, Ipv6Association), ControlError> {
        self.with_state(now_ms, |state| state.disassociate_subnet_ipv6(association))
    }

    pub fn set_assign_ipv6(&self, subnet: &str, value: bool, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.set_assign_ipv6(subnet, value))
    }
}
