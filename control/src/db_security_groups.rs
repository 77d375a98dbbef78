//! DB security groups, as RDS kept them for EC2-Classic: a named group of authorizations (CIDR
//! ranges and EC2 security groups) that RDS applied at its own firewall. squall serves them as
//! the metadata AWS kept (create, describe, authorize, revoke, delete, with RDS's rules and the
//! `authorizing` → `authorized` and `revoking` → gone statuses); every DB instance squall runs is
//! in a VPC, where RDS refuses DB security groups, so none is ever attached to an instance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::model::rds::RdsError;
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// DB security groups one account may make (RDS's default quota).
pub const MAX_DB_SECURITY_GROUPS: usize = 25;
/// Authorizations (CIDR ranges and EC2 groups together) one DB security group may hold.
pub const MAX_AUTHORIZATIONS: usize = 20;

/// What one authorization lets in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    Cidr(String),
    /// An EC2 security group: its id (when it is a VPC group of this region), name and owner.
    Ec2Group {
        id: Option<String>,
        name: Option<String>,
        owner: String,
    },
}

/// One authorization, and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub grantee: Grantee,
    /// When it was authorized, or when its revocation started.
    pub since_ms: u64,
    pub revoking: bool,
}

/// The status AWS shows for an authorization at `now_ms`, or `None` once a revocation finished.
pub fn authorization_status(a: &Authorization, step_ms: u64, now_ms: u64) -> Option<&'static str> {
    let settled = a.since_ms.saturating_add(step_ms) <= now_ms;
    match (a.revoking, settled) {
        (false, false) => Some("authorizing"),
        (false, true) => Some("authorized"),
        (true, false) => Some("revoking"),
        (true, true) => None,
    }
}

/// A DB security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSecurityGroup {
    /// Lower-case.
    pub name: String,
    pub description: String,
    pub authorizations: Vec<Authorization>,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for DbSecurityGroup {
    const TABLE: &'static str = "db_security_groups";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// What AuthorizeDBSecurityGroupIngress and RevokeDBSecurityGroupIngress name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngressSpec {
    pub cidr: Option<String>,
    pub ec2_group_id: Option<String>,
    pub ec2_group_name: Option<String>,
    pub ec2_group_owner: Option<String>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn combination(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterCombination(message.into()).into()
}

/// `a.b.c.d/n` with each part in range.
fn valid_cidr(cidr: &str) -> bool {
    let Some((ip, len)) = cidr.split_once('/') else { return false };
    ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 32)
}

impl RegionState {
    /// A DB security group by name (any case).
    pub fn db_security_group(&self, name: &str) -> Result<DbSecurityGroup, ControlError> {
        self.db_security_groups
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| RdsError::SecurityGroupNotFound(name.to_string()).into())
    }

    /// Every DB security group, in name order.
    pub fn db_security_groups_all(&self) -> Vec<DbSecurityGroup> {
        self.db_security_groups.values().cloned().collect()
    }

    /// How long an authorization or a revocation takes to settle.
    pub fn authorization_step_ms(&self) -> u64 {
        self.delays.volume_create.as_millis() as u64
    }

    fn create_db_security_group(&mut self, group: DbSecurityGroup) -> Result<DbSecurityGroup, ControlError> {
        if !crate::rds::identifier_shape(&group.name, 255) {
            return Err(invalid(
                "The parameter DBSecurityGroupName is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain \
                 two consecutive hyphens.",
            ));
        }
        let key = group.name.to_ascii_lowercase();
        if key == "default" {
            return Err(invalid("The parameter DBSecurityGroupName must not be \"default\"."));
        }
        if group.description.trim().is_empty() {
            return Err(invalid("The parameter DBSecurityGroupDescription must be provided and must not be blank."));
        }
        if self.db_security_groups.contains_key(&key) {
            return Err(RdsError::SecurityGroupExists(key).into());
        }
        if self.db_security_groups.len() >= MAX_DB_SECURITY_GROUPS {
            return Err(RdsError::SecurityGroupQuotaExceeded(MAX_DB_SECURITY_GROUPS).into());
        }
        let group = DbSecurityGroup { name: key.clone(), ..group };
        self.db_security_groups.insert(key, group.clone());
        Ok(group)
    }

    /// The grantee an ingress request names: a CIDR range or an EC2 security group, not both.
    fn grantee(&self, spec: &IngressSpec, account: &str) -> Result<Grantee, ControlError> {
        let names_group = spec.ec2_group_id.is_some() || spec.ec2_group_name.is_some();
        match (&spec.cidr, names_group) {
            (Some(_), true) => Err(combination(
                "Only one of CIDRIP or an EC2 security group (EC2SecurityGroupName, EC2SecurityGroupId) may be \
                 given.",
            )),
            (None, false) => Err(combination(
                "Either CIDRIP or an EC2 security group (EC2SecurityGroupName or EC2SecurityGroupId) must be given.",
            )),
            (Some(cidr), false) => {
                if !valid_cidr(cidr) {
                    return Err(invalid(format!("Invalid CIDRIP: {cidr}")));
                }
                Ok(Grantee::Cidr(cidr.clone()))
            }
            (None, true) => {
                let owner = spec.ec2_group_owner.clone().unwrap_or_else(|| account.to_string());
                if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!("Invalid EC2SecurityGroupOwnerId: {owner}")));
                }
                let (mut id, mut name) = (spec.ec2_group_id.clone(), spec.ec2_group_name.clone());
                // A group of this account is checked against EC2 and named in full.
                if owner == account {
                    let found = match (&id, &name) {
                        (Some(gid), _) => self.security_group(gid).cloned(),
                        (None, Some(n)) => self.security_groups.values().find(|g| g.name == *n).cloned(),
                        (None, None) => None,
                    };
                    let Some(g) = found else {
                        let named = id.as_deref().or(name.as_deref()).unwrap_or_default();
                        return Err(invalid(format!("EC2 security group {named} does not exist.")));
                    };
                    if name.as_ref().is_some_and(|n| *n != g.name) {
                        return Err(combination(format!(
                            "EC2 security group {} is named {}, not {}.",
                            g.id,
                            g.name,
                            name.unwrap_or_default()
                        )));
                    }
                    id = Some(g.id.clone());
                    name = Some(g.name.clone());
                }
                Ok(Grantee::Ec2Group { id, name, owner })
            }
        }
    }

    /// Drops the revocations that have finished.
    fn prune_revoked(&self, group: &mut DbSecurityGroup, now_ms: u64) {
        let step = self.authorization_step_ms();
        group.authorizations.retain(|a| authorization_status(a, step, now_ms).is_some());
    }

    fn authorize_db_security_group_ingress(
        &mut self,
        name: &str,
        spec: &IngressSpec,
        account: &str,
        now_ms: u64,
    ) -> Result<DbSecurityGroup, ControlError> {
        let mut group = self.db_security_group(name)?;
        let grantee = self.grantee(spec, account)?;
        self.prune_revoked(&mut group, now_ms);
        if let Some(existing) = group.authorizations.iter().find(|a| a.grantee == grantee) {
            return Err(if existing.revoking {
                RdsError::InvalidSecurityGroupState(format!(
                    "The authorization for {} is being revoked from DB security group {}.",
                    describe(&grantee),
                    group.name
                ))
                .into()
            } else {
                RdsError::AuthorizationExists { grantee: describe(&grantee), group: group.name }.into()
            });
        }
        if group.authorizations.len() >= MAX_AUTHORIZATIONS {
            return Err(RdsError::AuthorizationQuotaExceeded(MAX_AUTHORIZATIONS).into());
        }
        group.authorizations.push(Authorization { grantee, since_ms: now_ms, revoking: false });
        self.db_security_groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    fn revoke_db_security_group_ingress(
        &mut self,
        name: &str,
        spec: &IngressSpec,
        account: &str,
        now_ms: u64,
    ) -> Result<DbSecurityGroup, ControlError> {
        let mut group = self.db_security_group(name)?;
        let grantee = match self.grantee(spec, account) {
            Ok(g) => g,
            // A group EC2 no longer has may still be authorized by name: revoke what was stored.
            Err(_) if spec.cidr.is_none() => Grantee::Ec2Group {
                id: spec.ec2_group_id.clone(),
                name: spec.ec2_group_name.clone(),
                owner: spec.ec2_group_owner.clone().unwrap_or_else(|| account.to_string()),
            },
            Err(e) => return Err(e),
        };
        self.prune_revoked(&mut group, now_ms);
        let found = group.authorizations.iter_mut().find(|a| match (&a.grantee, &grantee) {
            (Grantee::Ec2Group { id, name, owner }, Grantee::Ec2Group { id: i2, name: n2, owner: o2 }) => {
                owner == o2 && ((i2.is_some() && id == i2) || (n2.is_some() && name == n2))
            }
            (a, b) => a == b,
        });
        let Some(a) = found else {
            return Err(RdsError::AuthorizationNotFound { grantee: describe(&grantee), group: group.name }.into());
        };
        if a.revoking {
            return Err(RdsError::InvalidSecurityGroupState(format!(
                "The authorization for {} is already being revoked.",
                describe(&grantee)
            ))
            .into());
        }
        a.revoking = true;
        a.since_ms = now_ms;
        self.db_security_groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    fn delete_db_security_group(&mut self, name: &str) -> Result<DbSecurityGroup, ControlError> {
        if name.eq_ignore_ascii_case("default") {
            return Err(
                RdsError::InvalidSecurityGroupState("The default DB security group cannot be deleted.".into()).into()
            );
        }
        let group = self.db_security_group(name)?;
        self.db_security_groups.remove(&group.name);
        Ok(group)
    }
}

/// How an error message names a grantee.
fn describe(g: &Grantee) -> String {
    match g {
        Grantee::Cidr(c) => format!("CIDRIP {c}"),
        Grantee::Ec2Group { id, name, owner } => {
            format!("EC2 security group {} (owner {owner})", id.as_deref().or(name.as_deref()).unwrap_or_default())
        }
    }
}

impl Region {
    /// CreateDBSecurityGroup.
    pub fn create_db_security_group(
        &self,
        name: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbSecurityGroup, ControlError> {
        self.with_state(now_ms, |state| {
            state.create_db_security_group(DbSecurityGroup {
                name: name.to_string(),
                description: description.to_string(),
                authorizations: Vec::new(),
                created_ms: now_ms,
                tags,
            })
        })
    }

    /// AuthorizeDBSecurityGroupIngress (`account`: the caller's, the default owner of EC2 groups).
    pub fn authorize_db_security_group_ingress(
        &self,
        name: &str,
        spec: &IngressSpec,
        account: &str,
        now_ms: u64,
    ) -> Result<DbSecurityGroup, ControlError> {
        self.with_state(now_ms, |state| state.authorize_db_security_group_ingress(name, spec, account, now_ms))
    }

    /// RevokeDBSecurityGroupIngress.
    pub fn revoke_db_security_group_ingress(
        &self,
        name: &str,
        spec: &IngressSpec,
        account: &str,
        now_ms: u64,
    ) -> Result<DbSecurityGroup, ControlError> {
        self.with_state(now_ms, |state| state.revoke_db_security_group_ingress(name, spec, account, now_ms))
    }

    /// DeleteDBSecurityGroup.
    pub fn delete_db_security_group(&self, name: &str, now_ms: u64) -> Result<DbSecurityGroup, ControlError> {
        self.with_state(now_ms, |state| state.delete_db_security_group(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRegion;

    const ACCOUNT: &str = "000000000000";

    fn cidr(c: &str) -> IngressSpec {
        IngressSpec { cidr: Some(c.into()), ..Default::default() }
    }

    #[test]
    fn authorizations_settle_and_revocations_go() {
        let t = TestRegion::new();
        let r = &t.region;
        let g = r.create_db_security_group("Legacy", "classic", BTreeMap::new(), t.now()).expect("create");
        assert_eq!(g.name, "legacy");
        let g = r.authorize_db_security_group_ingress("legacy", &cidr("10.0.0.0/16"), ACCOUNT, t.now()).expect("ok");
        let step = r.read(t.now(), |s| Ok(s.authorization_step_ms())).expect("step");
        assert_eq!(authorization_status(&g.authorizations[0], step, t.now()), Some("authorizing"));
        assert_eq!(authorization_status(&g.authorizations[0], step, t.now() + step), Some("authorized"));
        let again = r.authorize_db_security_group_ingress("legacy", &cidr("10.0.0.0/16"), ACCOUNT, t.now());
        assert!(matches!(again, Err(ControlError::Rds(RdsError::AuthorizationExists { .. }))), "{again:?}");
        let g = r.revoke_db_security_group_ingress("legacy", &cidr("10.0.0.0/16"), ACCOUNT, t.now()).expect("revoke");
        assert_eq!(authorization_status(&g.authorizations[0], step, t.now()), Some("revoking"));
        assert_eq!(authorization_status(&g.authorizations[0], step, t.now() + step), None);
        let gone = r.revoke_db_security_group_ingress("legacy", &cidr("10.9.0.0/16"), ACCOUNT, t.now());
        assert!(matches!(gone, Err(ControlError::Rds(RdsError::AuthorizationNotFound { .. }))), "{gone:?}");
        let both = IngressSpec { ec2_group_name: Some("x".into()), ..cidr("10.0.0.0/8") };
        assert!(matches!(
            r.authorize_db_security_group_ingress("legacy", &both, ACCOUNT, t.now()),
            Err(ControlError::Rds(RdsError::InvalidParameterCombination(_)))
        ));
        assert!(r.authorize_db_security_group_ingress("legacy", &cidr("10.0.0.0/33"), ACCOUNT, t.now()).is_err());
        r.delete_db_security_group("LEGACY", t.now()).expect("delete");
        assert!(matches!(
            r.delete_db_security_group("legacy", t.now()),
            Err(ControlError::Rds(RdsError::SecurityGroupNotFound(_)))
        ));
    }
}
