//! Internet gateways and route tables of a region's VPCs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::Row;

/// An internet gateway, attached to at most one VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternetGateway {
    pub id: String,
    pub vpc_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Row for InternetGateway {
    const TABLE: &'static str = "internet_gateways";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// Who made a route: the route table itself (its `local` route) or CreateRoute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteOrigin {
    CreateRouteTable,
    CreateRoute,
}

/// One route: a destination CIDR block and its target (`local` or an internet gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub gateway_id: String,
    pub origin: RouteOrigin,
}

/// A subnet's explicit association with a route table, or the main table's association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteAssociation {
    pub id: String,
    /// `None` for the main route table's association with its VPC.
    pub subnet_id: Option<String>,
}

/// A route table of a VPC. Every VPC has one main table, which the subnets without an explicit
/// association use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub main: bool,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteAssociation>,
    pub tags: BTreeMap<String, String>,
}

impl Row for RouteTable {
    const TABLE: &'static str = "route_tables";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// An Elastic IP address, and the instance it is associated with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: String,
    pub association: Option<AddressAssociation>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressAssociation {
    pub id: String,
    pub instance_id: String,
    pub private_ip: String,
}

impl Row for Address {
    const TABLE: &'static str = "addresses";
    type Key = String;
    fn key(&self) -> String {
        self.allocation_id.clone()
    }
}

/// What can go wrong with gateways and routes, in squall's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("internet gateway {0} does not exist")]
    GatewayNotFound(String),
    #[error("route table {0} does not exist")]
    RouteTableNotFound(String),
    #[error("association {0} does not exist")]
    AssociationNotFound(String),
    /// The gateway is attached already, or the VPC has a gateway already.
    #[error("{resource} is already attached to {other}")]
    AlreadyAttached { resource: String, other: String },
    #[error("gateway {gateway} is not attached to {vpc}")]
    NotAttached { gateway: String, vpc: String },
    #[error("route {destination} already exists in {table}")]
    RouteExists { table: String, destination: String },
    #[error("no route {destination} in {table}")]
    RouteNotFound { table: String, destination: String },
    /// A request the rules refuse, worded for the caller.
    #[error("{0}")]
    Invalid(String),
    /// The resource still has what depends on it.
    #[error("{kind} {id} has dependencies")]
    DependencyViolation { kind: &'static str, id: String },
    #[error("subnet {subnet} is already associated with route table {table}")]
    SubnetAssociated { subnet: String, table: String },
    #[error("address {0} does not exist")]
    AddressNotFound(String),
    #[error("address {0} is in use")]
    AddressInUse(String),
    #[error("at most {0} Elastic IP addresses")]
    AddressLimit(usize),
    /// The address is associated with another instance and reassociation was not allowed.
    #[error("address {address} is associated with {instance}")]
    AddressAssociated { address: String, instance: String },
}
