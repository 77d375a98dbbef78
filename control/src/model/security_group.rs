//! Security groups and their rules as data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub egress: bool,
    /// `-1` (all), `tcp`, `udp`, `icmp`, or a protocol number.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    /// Another group of the region, as the rule's source or destination.
    pub group: Option<String>,
    pub description: Option<String>,
    /// An IPv6 block, as the rule's source or destination.
    #[serde(default)]
    pub cidr_ipv6: Option<String>,
    /// A prefix list (`pl-…`), as the rule's source or destination.
    #[serde(default)]
    pub prefix_list: Option<String>,
}

impl SecurityGroupRule {
    /// Two rules grant the same thing (AWS refuses a duplicate).
    pub fn same_grant(&self, other: &SecurityGroupRule) -> bool {
        self.egress == other.egress
            && self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.cidr_ipv4 == other.cidr_ipv4
            && self.group == other.group
            && self.cidr_ipv6 == other.cidr_ipv6
            && self.prefix_list == other.prefix_list
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub tags: BTreeMap<String, String>,
    pub rules: Vec<SecurityGroupRule>,
}

impl Row for SecurityGroup {
    const TABLE: &'static str = "security_groups";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// How a request names a security group: by id, or by name (a group of the default VPC, as
/// EC2's `GroupName` parameters mean).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// The errors of security groups and their rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityGroupError {
    #[error("security group {0} does not exist")]
    NotFound(String),
    #[error("the request names no security group (neither id nor name)")]
    Unnamed,
    #[error("a security group named {name} already exists in {vpc_id}")]
    Exists { name: String, vpc_id: String },
    #[error("the default security group {0} cannot be deleted")]
    CannotDeleteDefaultGroup(String),
    #[error("security group {0} is referenced by another group")]
    InUse(String),
    #[error("the rule already exists in security group {0}")]
    DuplicatePermission(String),
    #[error("no such rule in security group {0}")]
    PermissionNotFound(String),
    #[error("security group rule {0} does not exist")]
    SecurityGroupRuleNotFound(String),
}
