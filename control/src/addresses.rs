//! Public IPv4 addresses: the one an instance gets at launch or start in a subnet that maps
//! public IPs (given back when it stops or terminates), and Elastic IPs that the account
//! allocates and associates with an instance in a VPC with an internet gateway.

use std::collections::BTreeMap;

use crate::error::{ControlError, InstanceError};
use crate::ids::InstanceId;
use crate::model::instance::InstanceState;
use crate::model::routing::{Address, AddressAssociation, RoutingError};
use crate::region::Region;
use crate::state::RegionState;

/// Elastic IPs one account may allocate in a region (AWS's default quota).
pub const MAX_ADDRESSES: usize = 5;

impl RegionState {
    /// A public address no instance or Elastic IP holds, from the region's seeded stream.
    pub(crate) fn new_public_ip(&mut self) -> String {
        loop {
            let n = self.next_random();
            let ip = format!("54.{}.{}.{}", 160 + (n % 96) as u8, (n >> 8) as u8, 1 + ((n >> 16) % 254) as u8);
            let taken = self.instances.values().any(|i| i.public_ip.as_deref() == Some(ip.as_str()))
                || self.addresses.values().any(|a| a.public_ip == ip);
            if !taken {
                return ip;
            }
        }
    }

    pub fn address(&self, allocation_id: &str) -> Result<&Address, ControlError> {
        self.addresses.get(allocation_id).ok_or_else(|| RoutingError::AddressNotFound(allocation_id.into()).into())
    }

    pub fn addresses_all(&self) -> Vec<Address> {
        self.addresses.values().cloned().collect()
    }

    /// The public address an instance shows: its Elastic IP, else the one it was given.
    pub fn public_ip_of(&self, id: &InstanceId) -> Option<String> {
        let key = id.to_string();
        self.addresses
            .values()
            .find(|a| a.association.as_ref().is_some_and(|x| x.instance_id == key))
            .map(|a| a.public_ip.clone())
            .or_else(|| self.instances.get(id).and_then(|i| i.public_ip.clone()))
    }

    /// An instance starting (or launching) in a subnet that maps public IPs gets one; one
    /// stopping or terminating gives its back. Elastic IPs stay (and leave a terminated one).
    pub(crate) fn public_ip_on_transition(&mut self, id: &InstanceId, next: InstanceState) {
        let asked = self.instances.get(id).and_then(|i| i.attributes.associate_public_ip);
        let subnet_maps = asked.unwrap_or_else(|| {
            self.instances
                .get(id)
                .and_then(|i| i.subnet_id.clone())
                .and_then(|s| self.network.subnets.get(&s).map(|s| s.maps_public_ip()))
                .unwrap_or(false)
        });
        match next {
            InstanceState::Pending if subnet_maps && self.instances.get(id).is_some_and(|i| i.public_ip.is_none()) => {
                let ip = self.new_public_ip();
                if let Some(i) = self.instances.get_mut(id) {
                    i.public_ip = Some(ip);
                }
            }
            InstanceState::Stopping | InstanceState::ShuttingDown => {
                if let Some(i) = self.instances.get_mut(id) {
                    i.public_ip = None;
                }
                if next == InstanceState::ShuttingDown {
                    let key = id.to_string();
                    self.addresses.update_where(
                        |a| a.association.as_ref().is_some_and(|x| x.instance_id == key),
                        |a| a.association = None,
                    );
                }
            }
            _ => {}
        }
    }

    fn allocate_elastic_ip(&mut self, tags: BTreeMap<String, String>) -> Result<Address, ControlError> {
        if self.addresses.len() >= MAX_ADDRESSES {
            return Err(RoutingError::AddressLimit(MAX_ADDRESSES).into());
        }
        let allocation_id = self.random_id("eipalloc");
        let public_ip = self.new_public_ip();
        let a = Address { allocation_id: allocation_id.clone(), public_ip, association: None, tags };
        self.addresses.insert(allocation_id, a.clone());
        Ok(a)
    }

    fn associate_address(
        &mut self,
        allocation_id: &str,
        instance: &InstanceId,
        allow_reassociation: bool,
    ) -> Result<String, ControlError> {
        let a = self.address(allocation_id)?.clone();
        let i = self
            .instances
            .get(instance)
            .cloned()
            .ok_or_else(|| ControlError::Instance(InstanceError::NotFound(instance.clone())))?;
        if matches!(i.state, InstanceState::ShuttingDown | InstanceState::Terminated) {
            return Err(RoutingError::Invalid(format!(
                "The instance '{instance}' is not in a valid state for this operation."
            ))
            .into());
        }
        let vpc = i.vpc_id.clone().unwrap_or_default();
        if !self.internet_gateways.values().any(|g| g.vpc_id.as_deref() == Some(vpc.as_str())) {
            return Err(RoutingError::NotAttached { gateway: "an internet gateway".into(), vpc }.into());
        }
        if let Some(x) = &a.association {
            if x.instance_id != instance.to_string() && !allow_reassociation {
                return Err(RoutingError::AddressAssociated {
                    address: a.public_ip.clone(),
                    instance: x.instance_id.clone(),
                }
                .into());
            }
        }
        // An instance holds one Elastic IP: another one it had lets go.
        let key = instance.to_string();
        self.addresses.update_where(
            |o| o.allocation_id != allocation_id && o.association.as_ref().is_some_and(|x| x.instance_id == key),
            |o| o.association = None,
        );
        let association = self.random_id("eipassoc");
        let mut a = a;
        a.association =
            Some(AddressAssociation { id: association.clone(), instance_id: key, private_ip: i.private_ip });
        self.addresses.insert(a.allocation_id.clone(), a);
        Ok(association)
    }

    fn disassociate_address(&mut self, association: &str) -> Result<(), ControlError> {
        let mut a = self
            .addresses
            .values()
            .find(|a| a.association.as_ref().is_some_and(|x| x.id == association))
            .cloned()
            .ok_or_else(|| RoutingError::AssociationNotFound(association.into()))?;
        a.association = None;
        self.addresses.insert(a.allocation_id.clone(), a);
        Ok(())
    }

    fn release_address(&mut self, allocation_id: &str) -> Result<(), ControlError> {
        let a = self.address(allocation_id)?;
        if a.association.is_some() {
            return Err(RoutingError::AddressInUse(a.public_ip.clone()).into());
        }
        self.addresses.remove(allocation_id);
        Ok(())
    }

    pub(crate) fn address_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        self.addresses.get_mut(id).map(|a| &mut a.tags)
    }
}

impl Region {
    /// AllocateAddress.
    pub fn allocate_address(&self, tags: BTreeMap<String, String>, now_ms: u64) -> Result<Address, ControlError> {
        self.with_state(now_ms, |state| state.allocate_elastic_ip(tags))
    }

    /// AssociateAddress: the association's id.
    pub fn associate_address(
        &self,
        allocation_id: &str,
        instance: &InstanceId,
        allow_reassociation: bool,
        now_ms: u64,
    ) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| state.associate_address(allocation_id, instance, allow_reassociation))
    }

    /// DisassociateAddress.
    pub fn disassociate_address(&self, association: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.disassociate_address(association))
    }

    /// ReleaseAddress.
    pub fn release_address(&self, allocation_id: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.release_address(allocation_id))
    }
}
