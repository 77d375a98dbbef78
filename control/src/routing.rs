//! Internet gateways and route tables, with VPC attributes: what Terraform's AWS provider reads
//! and writes around a VPC. Every VPC has a main route table with its `local` route; the default
//! VPC has an internet gateway and a default route through it, as in AWS. Routes whose gateway
//! left the VPC are `blackhole`.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::network::{Cidr, VpcAttribute};
use crate::model::routing::{InternetGateway, Route, RouteAssociation, RouteOrigin, RouteTable, RoutingError};
use crate::region::Region;
use crate::state::RegionState;

/// A gateway target squall routes to: `local` or an internet gateway.
fn is_gateway_target(target: &str) -> bool {
    target.starts_with("igw-")
}

impl RegionState {
    /// Every VPC has its main route table; the default VPC its internet gateway (ids derived from
    /// the VPC's, so this is idempotent and regions written before route tables gain them).
    pub(crate) fn ensure_routing(&mut self) -> Result<(), ControlError> {
        let vpcs: Vec<(String, String, bool)> =
            self.network.vpcs.values().map(|v| (v.id.clone(), v.cidr.clone(), v.is_default)).collect();
        for (vpc, cidr, is_default) in vpcs {
            if self.route_tables.values().any(|t| t.vpc_id == vpc && t.main) {
                continue;
            }
            let mut routes =
                vec![Route { destination: cidr, gateway_id: "local".into(), origin: RouteOrigin::CreateRouteTable }];
            if is_default {
                let igw = format!("igw-{}", crate::stable_hex(&format!("{vpc}/igw")));
                self.internet_gateways.insert(
                    igw.clone(),
                    InternetGateway { id: igw.clone(), vpc_id: Some(vpc.clone()), tags: BTreeMap::new() },
                );
                routes.push(Route {
                    destination: "0.0.0.0/0".into(),
                    gateway_id: igw,
                    origin: RouteOrigin::CreateRoute,
                });
            }
            let id = format!("rtb-{}", crate::stable_hex(&format!("{vpc}/main")));
            let association = RouteAssociation {
                id: format!("rtbassoc-{}", crate::stable_hex(&format!("{vpc}/main-association"))),
                subnet_id: None,
            };
            self.route_tables.insert(
                id.clone(),
                RouteTable {
                    id,
                    vpc_id: vpc,
                    main: true,
                    routes,
                    associations: vec![association],
                    tags: BTreeMap::new(),
                },
            );
        }
        Ok(())
    }

    pub fn internet_gateway(&self, id: &str) -> Result<&InternetGateway, ControlError> {
        self.internet_gateways.get(id).ok_or_else(|| RoutingError::GatewayNotFound(id.into()).into())
    }

    pub fn internet_gateways_all(&self) -> Vec<InternetGateway> {
        self.internet_gateways.values().cloned().collect()
    }

    pub fn route_table(&self, id: &str) -> Result<&RouteTable, ControlError> {
        self.route_tables.get(id).ok_or_else(|| RoutingError::RouteTableNotFound(id.into()).into())
    }

    pub fn route_tables_all(&self) -> Vec<RouteTable> {
        self.route_tables.values().cloned().collect()
    }

    /// Whether a route is `active` (its target is local or a gateway attached to the table's VPC).
    pub fn route_active(&self, table: &RouteTable, route: &Route) -> bool {
        route.gateway_id == "local"
            || self.internet_gateways.get(&route.gateway_id).and_then(|g| g.vpc_id.as_deref())
                == Some(table.vpc_id.as_str())
    }

    /// The main route table of a VPC, when the VPC is gone: removed with it.
    pub(crate) fn drop_vpc_routing(&mut self, vpc: &str) -> Result<(), ControlError> {
        if let Some(g) = self.internet_gateways.values().find(|g| g.vpc_id.as_deref() == Some(vpc)) {
            return Err(
                RoutingError::DependencyViolation { kind: "vpc", id: format!("{vpc} ({} attached)", g.id) }.into()
            );
        }
        if self.route_tables.values().any(|t| t.vpc_id == vpc && !t.main) {
            return Err(RoutingError::DependencyViolation { kind: "vpc", id: vpc.to_string() }.into());
        }
        self.route_tables.retain(|_, t| t.vpc_id != vpc);
        Ok(())
    }

    /// A deleted subnet leaves the route table it was associated with.
    pub(crate) fn drop_subnet_routing(&mut self, subnet: &str) {
        self.route_tables.update_where(
            |t| t.associations.iter().any(|a| a.subnet_id.as_deref() == Some(subnet)),
            |t| t.associations.retain(|a| a.subnet_id.as_deref() != Some(subnet)),
        );
    }

    fn create_internet_gateway(&mut self, tags: BTreeMap<String, String>) -> InternetGateway {
        let id = self.random_id("igw");
        let g = InternetGateway { id: id.clone(), vpc_id: None, tags };
        self.internet_gateways.insert(id, g.clone());
        g
    }

    fn attach_internet_gateway(&mut self, id: &str, vpc: &str) -> Result<(), ControlError> {
        let g = self.internet_gateway(id)?.clone();
        self.vpc(vpc)?;
        if let Some(other) = &g.vpc_id {
            return Err(RoutingError::AlreadyAttached { resource: id.into(), other: other.clone() }.into());
        }
        if let Some(other) = self.internet_gateways.values().find(|o| o.vpc_id.as_deref() == Some(vpc)) {
            return Err(RoutingError::AlreadyAttached { resource: vpc.into(), other: other.id.clone() }.into());
        }
        self.internet_gateways.insert(id.into(), InternetGateway { vpc_id: Some(vpc.into()), ..g });
        Ok(())
    }

    fn detach_internet_gateway(&mut self, id: &str, vpc: &str) -> Result<(), ControlError> {
        let g = self.internet_gateway(id)?.clone();
        self.vpc(vpc)?;
        if g.vpc_id.as_deref() != Some(vpc) {
            return Err(RoutingError::NotAttached { gateway: id.into(), vpc: vpc.into() }.into());
        }
        self.internet_gateways.insert(id.into(), InternetGateway { vpc_id: None, ..g });
        Ok(())
    }

    fn delete_internet_gateway(&mut self, id: &str) -> Result<(), ControlError> {
        let g = self.internet_gateway(id)?;
        if g.vpc_id.is_some() {
            return Err(RoutingError::DependencyViolation { kind: "internet gateway", id: id.into() }.into());
        }
        self.internet_gateways.remove(id);
        Ok(())
    }

    fn create_route_table(&mut self, vpc: &str, tags: BTreeMap<String, String>) -> Result<RouteTable, ControlError> {
        let cidr = self.vpc(vpc)?.cidr.clone();
        let id = self.random_id("rtb");
        let table = RouteTable {
            id: id.clone(),
            vpc_id: vpc.into(),
            main: false,
            routes: vec![Route {
                destination: cidr,
                gateway_id: "local".into(),
                origin: RouteOrigin::CreateRouteTable,
            }],
            associations: Vec::new(),
            tags,
        };
        self.route_tables.insert(id, table.clone());
        Ok(table)
    }

    fn delete_route_table(&mut self, id: &str) -> Result<(), ControlError> {
        let t = self.route_table(id)?;
        if t.main || !t.associations.is_empty() {
            return Err(RoutingError::DependencyViolation { kind: "route table", id: id.into() }.into());
        }
        self.route_tables.remove(id);
        Ok(())
    }

    fn associate_route_table(&mut self, id: &str, subnet: &str) -> Result<String, ControlError> {
        let t = self.route_table(id)?.clone();
        let s = self.subnet(subnet)?.clone();
        if s.vpc_id != t.vpc_id {
            return Err(RoutingError::Invalid(format!(
                "Route table {id} and subnet {subnet} belong to different networks"
            ))
            .into());
        }
        if let Some(other) =
            self.route_tables.values().find(|o| o.associations.iter().any(|a| a.subnet_id.as_deref() == Some(subnet)))
        {
            return Err(RoutingError::SubnetAssociated { subnet: subnet.into(), table: other.id.clone() }.into());
        }
        let association = self.random_id("rtbassoc");
        let mut t = t;
        t.associations.push(RouteAssociation { id: association.clone(), subnet_id: Some(subnet.into()) });
        self.route_tables.insert(id.into(), t);
        Ok(association)
    }

    fn disassociate_route_table(&mut self, association: &str) -> Result<(), ControlError> {
        let mut t = self
            .route_tables
            .values()
            .find(|t| t.associations.iter().any(|a| a.id == association))
            .cloned()
            .ok_or_else(|| RoutingError::AssociationNotFound(association.into()))?;
        if t.associations.iter().any(|a| a.id == association && a.subnet_id.is_none()) {
            return Err(RoutingError::Invalid(format!(
                "Cannot disassociate the main route table association {association}"
            ))
            .into());
        }
        t.associations.retain(|a| a.id != association);
        self.route_tables.insert(t.id.clone(), t);
        Ok(())
    }

    /// CreateRoute (`replace`: ReplaceRoute) to an internet gateway of the table's VPC.
    fn put_route(&mut self, id: &str, destination: &str, gateway: &str, replace: bool) -> Result<(), ControlError> {
        let mut t = self.route_table(id)?.clone();
        let block = Cidr::parse(destination).ok_or_else(|| {
            RoutingError::Invalid(format!(
                "Value ({destination}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block."
            ))
        })?;
        let destination = block.to_string();
        if !is_gateway_target(gateway) {
            return Err(RoutingError::Invalid(format!("The gateway ID '{gateway}' is not an internet gateway.")).into());
        }
        let g = self.internet_gateway(gateway)?;
        if g.vpc_id.as_deref() != Some(t.vpc_id.as_str()) {
            return Err(RoutingError::Invalid(format!(
                "route table {id} and network gateway {gateway} belong to different networks"
            ))
            .into());
        }
        let existing = t.routes.iter().position(|r| r.destination == destination);
        match (existing, replace) {
            (Some(i), _) if t.routes[i].gateway_id == "local" => {
                return Err(RoutingError::Invalid(format!(
                    "cannot replace local route {destination} in route table {id}"
                ))
                .into())
            }
            (Some(_), false) => return Err(RoutingError::RouteExists { table: id.into(), destination }.into()),
            (None, true) => return Err(RoutingError::RouteNotFound { table: id.into(), destination }.into()),
            (Some(i), true) => t.routes[i].gateway_id = gateway.into(),
            (None, false) => {
                t.routes.push(Route { destination, gateway_id: gateway.into(), origin: RouteOrigin::CreateRoute })
            }
        }
        self.route_tables.insert(id.into(), t);
        Ok(())
    }

    fn delete_route(&mut self, id: &str, destination: &str) -> Result<(), ControlError> {
        let mut t = self.route_table(id)?.clone();
        let normalized = Cidr::parse(destination).map_or_else(|| destination.to_string(), |c| c.to_string());
        let Some(i) = t.routes.iter().position(|r| r.destination == normalized) else {
            return Err(RoutingError::RouteNotFound { table: id.into(), destination: destination.into() }.into());
        };
        if t.routes[i].gateway_id == "local" {
            return Err(
                RoutingError::Invalid(format!("cannot remove local route {normalized} in route table {id}")).into()
            );
        }
        t.routes.remove(i);
        self.route_tables.insert(id.into(), t);
        Ok(())
    }

    /// The tags of an internet gateway or route table.
    pub(crate) fn routing_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        if let Some(g) = self.internet_gateways.get_mut(id) {
            return Some(&mut g.tags);
        }
        self.route_tables.get_mut(id).map(|t| &mut t.tags)
    }

    fn modify_vpc_attribute(&mut self, id: &str, attribute: VpcAttribute, value: bool) -> Result<(), ControlError> {
        let mut vpc = self.vpc(id)?.clone();
        match attribute {
            VpcAttribute::DnsSupport => vpc.dns_support = Some(value),
            VpcAttribute::DnsHostnames => {
                if value && !vpc.dns_support() {
                    return Err(RoutingError::Invalid(
                        "Cannot enable DNS hostnames without DNS support for the VPC.".into(),
                    )
                    .into());
                }
                vpc.dns_hostnames = Some(value)
            }
            VpcAttribute::AddressUsageMetrics => vpc.address_usage_metrics = Some(value),
        }
        if !vpc.dns_support() && vpc.dns_hostnames() {
            return Err(
                RoutingError::Invalid("Cannot disable DNS support while DNS hostnames are enabled.".into()).into()
            );
        }
        self.network_mut().vpcs.insert(id.into(), vpc);
        Ok(())
    }
}

impl Region {
    /// CreateInternetGateway.
    pub fn create_internet_gateway(
        &self,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<InternetGateway, ControlError> {
        self.with_state(now_ms, |state| Ok(state.create_internet_gateway(tags)))
    }

    /// AttachInternetGateway.
    pub fn attach_internet_gateway(&self, id: &str, vpc: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.attach_internet_gateway(id, vpc))
    }

    /// DetachInternetGateway.
    pub fn detach_internet_gateway(&self, id: &str, vpc: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.detach_internet_gateway(id, vpc))
    }

    /// DeleteInternetGateway.
    pub fn delete_internet_gateway(&self, id: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_internet_gateway(id))
    }

    /// CreateRouteTable.
    pub fn create_route_table(
        &self,
        vpc: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<RouteTable, ControlError> {
        self.with_state(now_ms, |state| state.create_route_table(vpc, tags))
    }

    /// DeleteRouteTable.
    pub fn delete_route_table(&self, id: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_route_table(id))
    }

    /// AssociateRouteTable: the association's id.
    pub fn associate_route_table(&self, id: &str, subnet: &str, now_ms: u64) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| state.associate_route_table(id, subnet))
    }

    /// DisassociateRouteTable.
    pub fn disassociate_route_table(&self, association: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.disassociate_route_table(association))
    }

    /// CreateRoute (`replace`: ReplaceRoute).
    pub fn put_route(
        &self,
        id: &str,
        destination: &str,
        gateway: &str,
        replace: bool,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.put_route(id, destination, gateway, replace))
    }

    /// DeleteRoute.
    pub fn delete_route(&self, id: &str, destination: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_route(id, destination))
    }

    /// ModifyVpcAttribute.
    pub fn modify_vpc_attribute(
        &self,
        id: &str,
        attribute: VpcAttribute,
        value: bool,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.modify_vpc_attribute(id, attribute, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRegion;

    #[test]
    fn the_default_vpc_routes_through_its_gateway_and_new_vpcs_get_a_main_table() {
        let t = TestRegion::new();
        let r = &t.region;
        let (default_vpc, tables, gateways) = r
            .read(t.now(), |s| Ok((s.default_vpc().cloned(), s.route_tables_all(), s.internet_gateways_all())))
            .expect("read");
        let default_vpc = default_vpc.expect("default vpc");
        let main = tables.iter().find(|t| t.vpc_id == default_vpc.id && t.main).expect("main table");
        let igw = gateways.iter().find(|g| g.vpc_id.as_deref() == Some(&default_vpc.id)).expect("igw");
        assert_eq!(main.routes[1].gateway_id, igw.id);

        let vpc = r.create_vpc("10.1.0.0/16", BTreeMap::new(), t.now(), false).expect("vpc");
        let gw = r.create_internet_gateway(BTreeMap::new(), t.now()).expect("igw");
        let table = r.create_route_table(&vpc.id, BTreeMap::new(), t.now()).expect("table");
        let off_network = r.put_route(&table.id, "0.0.0.0/0", &gw.id, false, t.now());
        assert!(matches!(off_network, Err(ControlError::Routing(RoutingError::Invalid(_)))), "{off_network:?}");
        r.attach_internet_gateway(&gw.id, &vpc.id, t.now()).expect("attach");
        let twice = r.attach_internet_gateway(&igw.id, &vpc.id, t.now());
        assert!(matches!(twice, Err(ControlError::Routing(RoutingError::AlreadyAttached { .. }))));
        r.put_route(&table.id, "0.0.0.0/0", &gw.id, false, t.now()).expect("route");
        let again = r.put_route(&table.id, "0.0.0.0/0", &gw.id, false, t.now());
        assert!(matches!(again, Err(ControlError::Routing(RoutingError::RouteExists { .. }))));
        assert!(r.delete_internet_gateway(&gw.id, t.now()).is_err(), "attached");
        assert!(r.delete_vpc(&vpc.id, t.now(), false).is_err(), "a gateway and a table depend on it");
        r.detach_internet_gateway(&gw.id, &vpc.id, t.now()).expect("detach");
        let active = r
            .read(t.now(), |s| {
                let table = s.route_table(&table.id)?.clone();
                Ok(table.routes.iter().map(|route| s.route_active(&table, route)).collect::<Vec<_>>())
            })
            .expect("read");
        assert_eq!(active, vec![true, false], "the route through a detached gateway is a blackhole");
        assert!(r.delete_route(&table.id, "10.1.0.0/16", t.now()).is_err(), "the local route stays");
        r.delete_route_table(&table.id, t.now()).expect("delete table");
        r.delete_internet_gateway(&gw.id, t.now()).expect("delete gateway");
        r.delete_vpc(&vpc.id, t.now(), false).expect("delete vpc");
    }
}
