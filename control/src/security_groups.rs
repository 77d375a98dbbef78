//! Security groups of a region's default VPC: named sets of ingress and egress rules. squall
//! keeps them (instances run no traffic) so tools that create, authorize and describe them work.

use std::collections::BTreeMap;

use crate::error::{ControlError, NetworkError, SecurityGroupError};
use crate::model::security_group::{GroupRef, SecurityGroup, SecurityGroupRule};
use crate::region::Region;
use crate::state::RegionState;

impl RegionState {
    /// Makes the VPC's `default` group, with the VPC (all traffic from itself, all egress).
    pub(crate) fn ensure_default_group(&mut self, vpc_id: &str) -> Result<(), ControlError> {
        if self.security_groups_ref().values().any(|g| g.vpc_id == vpc_id && g.name == "default") {
            return Ok(());
        }
        let id = format!("sg-{}", crate::stable_hex(&format!("{vpc_id}/default")));
        let ingress = SecurityGroupRule {
            id: self.random_id("sgr"),
            egress: false,
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidr_ipv4: None,
            group: Some(id.clone()),
            description: None,
            cidr_ipv6: None,
            prefix_list: None,
        };
        let egress = SecurityGroupRule {
            id: self.random_id("sgr"),
            egress: true,
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidr_ipv4: Some("0.0.0.0/0".into()),
            group: None,
            description: None,
            cidr_ipv6: None,
            prefix_list: None,
        };
        let group = SecurityGroup {
            id: id.clone(),
            name: "default".into(),
            description: "default VPC security group".into(),
            vpc_id: vpc_id.to_string(),
            tags: BTreeMap::new(),
            rules: vec![ingress, egress],
        };
        self.security_groups_mut().insert(id, group);
        Ok(())
    }

    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups_ref().get(id)
    }

    /// The id of the group called `name` in the VPC.
    pub fn security_groups_named(&self, vpc_id: &str, name: &str) -> Option<String> {
        self.security_groups_ref().values().find(|g| g.vpc_id == vpc_id && g.name == name).map(|g| g.id.clone())
    }

    /// The id of the group a request names (by id, or by name in the default VPC).
    pub fn resolve_group(&self, group: &GroupRef) -> Result<String, ControlError> {
        match (&group.id, &group.name) {
            (Some(id), _) => Ok(id.clone()),
            (None, Some(name)) => self
                .default_vpc()
                .and_then(|vpc| self.security_groups_named(&vpc.id, name))
                .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(name.clone()))),
            (None, None) => Err(ControlError::SecurityGroup(SecurityGroupError::Unnamed)),
        }
    }

    /// Every group of the region, in every VPC.
    pub fn all_security_groups(&self) -> Vec<SecurityGroup> {
        self.security_groups_ref().values().cloned().collect()
    }

    /// Every group of the VPC, the default one included (made with the VPC). A read: it changes
    /// nothing, so a VPC that is gone has no groups.
    pub fn security_groups(&self, vpc_id: &str) -> Result<Vec<SecurityGroup>, ControlError> {
        Ok(self.security_groups_ref().values().filter(|g| g.vpc_id == vpc_id).cloned().collect())
    }

    pub(crate) fn create_security_group(
        &mut self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<SecurityGroup, ControlError> {
        self.vpc(vpc_id)?;
        if self.security_groups_ref().values().any(|g| g.vpc_id == vpc_id && g.name == name) {
            return Err(ControlError::SecurityGroup(SecurityGroupError::Exists {
                name: name.to_string(),
                vpc_id: vpc_id.to_string(),
            }));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("sg");
        // New groups allow all egress and no ingress, as on AWS.
        let egress = SecurityGroupRule {
            id: self.random_id("sgr"),
            egress: true,
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidr_ipv4: Some("0.0.0.0/0".into()),
            group: None,
            description: None,
            cidr_ipv6: None,
            prefix_list: None,
        };
        let group = SecurityGroup {
            id: id.clone(),
            name: name.to_string(),
            description: description.to_string(),
            vpc_id: vpc_id.to_string(),
            tags,
            rules: vec![egress],
        };
        self.security_groups_mut().insert(id, group.clone());
        Ok(group)
    }

    pub(crate) fn delete_security_group(&mut self, id: &str, dry_run: bool) -> Result<(), ControlError> {
        let group = self
            .security_groups_ref()
            .get(id)
            .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(id.to_string())))?;
        if group.name == "default" {
            return Err(ControlError::SecurityGroup(SecurityGroupError::CannotDeleteDefaultGroup(id.to_string())));
        }
        let referenced = self
            .security_groups_ref()
            .values()
            .any(|g| g.id != id && g.rules.iter().any(|r| r.group.as_deref() == Some(id)));
        let instance_uses = self.instances.values().any(|i| {
            i.state != crate::model::instance::InstanceState::Terminated && i.security_groups.iter().any(|g| g == id)
        });
        if referenced || instance_uses || self.db_instance_uses_security_group(id) {
            return Err(ControlError::SecurityGroup(SecurityGroupError::InUse(id.to_string())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.security_groups_mut().remove(id);
        Ok(())
    }

    /// Adds rules (ids are assigned here); a rule that repeats an existing grant is refused.
    pub(crate) fn authorize(
        &mut self,
        group: &str,
        mut rules: Vec<SecurityGroupRule>,
        dry_run: bool,
    ) -> Result<Vec<SecurityGroupRule>, ControlError> {
        let existing = self
            .security_groups_ref()
            .get(group)
            .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(group.to_string())))?;
        for r in &rules {
            if let Some(source) = &r.group {
                if !self.security_groups_ref().contains_key(source) {
                    return Err(ControlError::SecurityGroup(SecurityGroupError::NotFound(source.clone())));
                }
            }
            if existing.rules.iter().any(|e| e.same_grant(r)) {
                return Err(ControlError::SecurityGroup(SecurityGroupError::DuplicatePermission(group.to_string())));
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for r in &mut rules {
            r.id = self.random_id("sgr");
        }
        if let Some(g) = self.security_groups_mut().get_mut(group) {
            g.rules.extend(rules.iter().cloned());
        }
        Ok(rules)
    }

    /// Removes rules that match `rules` (by grant) or have one of `rule_ids`.
    pub(crate) fn revoke(
        &mut self,
        group: &str,
        rules: &[SecurityGroupRule],
        rule_ids: &[String],
        egress: bool,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        let g = self
            .security_groups_ref()
            .get(group)
            .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(group.to_string())))?;
        for r in rules {
            if !g.rules.iter().any(|e| e.same_grant(r)) {
                return Err(ControlError::SecurityGroup(SecurityGroupError::PermissionNotFound(group.to_string())));
            }
        }
        for id in rule_ids {
            if !g.rules.iter().any(|e| e.id == *id && e.egress == egress) {
                return Err(ControlError::SecurityGroup(SecurityGroupError::SecurityGroupRuleNotFound(id.clone())));
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(g) = self.security_groups_mut().get_mut(group) {
            g.rules.retain(|e| !(rules.iter().any(|r| e.same_grant(r)) || rule_ids.contains(&e.id)));
        }
        Ok(())
    }
}

impl Region {
    /// CreateSecurityGroup, in the VPC given or else the default VPC.
    pub fn create_security_group(
        &self,
        vpc_id: Option<&str>,
        name: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<SecurityGroup, ControlError> {
        self.with_state(now_ms, |state| {
            let vpc = match vpc_id {
                Some(v) => state.vpc(v)?.id.clone(),
                None => state.default_vpc().ok_or(ControlError::Network(NetworkError::NoDefaultVpc))?.id.clone(),
            };
            state.create_security_group(&vpc, name, description, tags, dry_run)
        })
    }

    /// DeleteSecurityGroup; the id of the group deleted.
    pub fn delete_security_group(&self, group: &GroupRef, now_ms: u64, dry_run: bool) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| {
            let id = state.resolve_group(group)?;
            state.delete_security_group(&id, dry_run)?;
            Ok(id)
        })
    }

    /// AuthorizeSecurityGroupIngress and …Egress: the group's id and the rules added.
    pub fn authorize_security_group(
        &self,
        group: &GroupRef,
        rules: Vec<SecurityGroupRule>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(String, Vec<SecurityGroupRule>), ControlError> {
        self.with_state(now_ms, |state| {
            let id = state.resolve_group(group)?;
            let added = state.authorize(&id, rules, dry_run)?;
            Ok((id, added))
        })
    }

    /// RevokeSecurityGroupIngress and …Egress: by grant or by rule id.
    pub fn revoke_security_group(
        &self,
        group: &GroupRef,
        rules: &[SecurityGroupRule],
        rule_ids: &[String],
        egress: bool,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| {
            let id = state.resolve_group(group)?;
            state.revoke(&id, rules, rule_ids, egress, dry_run)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, NetworkError, SecurityGroupError};
    use crate::test_support::TestRegion;

    #[test]
    fn a_vpc_comes_with_its_default_group_and_takes_it_along_when_deleted() {
        let t = TestRegion::new();
        let vpc = t.run(|state| state.create_vpc("10.7.0.0/16", BTreeMap::new(), false)).unwrap();
        let groups = t.run(|state| state.security_groups(&vpc.id)).unwrap();
        assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["default"]);
        t.run(|state| state.delete_vpc(&vpc.id, false)).unwrap();
        // Reading the groups of a deleted VPC makes no orphan default group.
        assert!(t.run(|state| state.security_groups(&vpc.id)).unwrap().is_empty());
        assert!(t.run(|state| Ok(state.all_security_groups())).unwrap().iter().all(|g| g.vpc_id != vpc.id));
        let made = t.run(|state| state.create_security_group(&vpc.id, "web", "web tier", BTreeMap::new(), false));
        assert_eq!(made.unwrap_err(), ControlError::Network(NetworkError::VpcNotFound(vpc.id.clone())));
    }

    #[test]
    fn group_names_are_unique_per_vpc_and_the_default_group_stays() {
        let t = TestRegion::new();
        let vpc = t.run(|state| state.create_vpc("10.8.0.0/16", BTreeMap::new(), false)).unwrap();
        let web =
            t.run(|state| state.create_security_group(&vpc.id, "web", "web tier", BTreeMap::new(), false)).unwrap();
        let again = t.run(|state| state.create_security_group(&vpc.id, "web", "again", BTreeMap::new(), false));
        assert!(matches!(again, Err(ControlError::SecurityGroup(SecurityGroupError::Exists { .. }))));
        let default = t.run(|state| state.security_groups(&vpc.id)).unwrap().into_iter().find(|g| g.name == "default");
        let default = default.expect("a default group");
        let refused = t.run(|state| state.delete_security_group(&default.id, false));
        assert_eq!(
            refused.unwrap_err(),
            ControlError::SecurityGroup(SecurityGroupError::CannotDeleteDefaultGroup(default.id.clone()))
        );
        t.run(|state| state.delete_security_group(&web.id, false)).unwrap();
        assert_eq!(t.run(|state| state.security_groups(&vpc.id)).unwrap().len(), 1);
    }
}
