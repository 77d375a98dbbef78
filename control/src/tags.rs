//! Tags of every resource kind: CreateTags, DeleteTags, DescribeTags.

use std::collections::BTreeMap;

use crate::error::{ControlError, InstanceError, SnapshotError, VolumeError};
use crate::ids::{InstanceId, SnapshotId, VolumeId};
use crate::region::Region;
use crate::state::RegionState;

/// AWS's limit of tags per resource.
pub const MAX_TAGS: usize = 50;

impl RegionState {
    fn tags_mut(&mut self, resource: &str) -> Result<&mut BTreeMap<String, String>, ControlError> {
        if let Ok(id) = VolumeId::parse(resource) {
            return self
                .volumes
                .get_mut(&id)
                .map(|v| &mut v.tags)
                .ok_or(ControlError::Volume(VolumeError::NotFound(id)));
        }
        if let Ok(id) = SnapshotId::parse(resource) {
            return self
                .snapshots
                .get_mut(&id)
                .map(|s| &mut s.tags)
                .ok_or(ControlError::Snapshot(SnapshotError::NotFound(id)));
        }
        if let Ok(id) = InstanceId::parse(resource) {
            return self
                .instances
                .get_mut(&id)
                .map(|i| &mut i.tags)
                .ok_or(ControlError::Instance(InstanceError::NotFound(id)));
        }
        let missing = || ControlError::UnknownResourceId(resource.to_string());
        match resource.split_once('-').map(|(p, _)| p) {
            Some("vpc" | "subnet") => self.network_tags_mut(resource).ok_or_else(missing),
            Some("ami") => self.image_tags_mut(resource).ok_or_else(missing),
            Some("sg") => self.security_groups.get_mut(resource).map(|g| &mut g.tags).ok_or_else(missing),
            Some("key") => self.key_pairs.get_mut(resource).map(|k| &mut k.tags).ok_or_else(missing),
            Some("igw" | "rtb") => self.routing_tags_mut(resource).ok_or_else(missing),
            Some("eipalloc") => self.address_tags_mut(resource).ok_or_else(missing),
            Some("eni") => self.interface_tags_mut(resource).ok_or_else(missing),
            Some("lt") => self.template_tags_mut(resource).ok_or_else(missing),
            _ => Err(missing()),
        }
    }

    pub(crate) fn create_tags(
        &mut self,
        resources: &[String],
        tags: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        for r in resources {
            let existing = self.tags_mut(r)?;
            let mut merged = existing.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > MAX_TAGS {
                return Err(ControlError::TooManyTags);
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for r in resources {
            self.tags_mut(r)?.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(())
    }

    /// Deletes tags: a key with `Some(value)` only when the value matches; `None` whatever it is.
    pub(crate) fn delete_tags(
        &mut self,
        resources: &[String],
        tags: &[(String, Option<String>)],
        dry_run: bool,
    ) -> Result<(), ControlError> {
        for r in resources {
            self.tags_mut(r)?;
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for r in resources {
            let existing = self.tags_mut(r)?;
            if tags.is_empty() {
                existing.clear();
            }
            for (k, v) in tags {
                if v.as_ref().is_none_or(|v| existing.get(k) == Some(v)) {
                    existing.remove(k);
                }
            }
        }
        Ok(())
    }

    /// Every tag of the region's resources: (resource id, resource type, key, value), in order.
    pub fn all_tags(&self) -> Vec<(String, &'static str, String, String)> {
        let mut out = Vec::new();
        for v in self.volumes.values() {
            out.extend(v.tags.iter().map(|(k, val)| (v.id.to_string(), "volume", k.clone(), val.clone())));
        }
        for s in self.snapshots.values() {
            out.extend(s.tags.iter().map(|(k, val)| (s.id.to_string(), "snapshot", k.clone(), val.clone())));
        }
        for i in self.instances.values() {
            out.extend(i.tags.iter().map(|(k, val)| (i.id.to_string(), "instance", k.clone(), val.clone())));
        }
        for v in self.network.vpcs.values() {
            out.extend(v.tags.iter().map(|(k, val)| (v.id.clone(), "vpc", k.clone(), val.clone())));
        }
        for s in self.network.subnets.values() {
            out.extend(s.tags.iter().map(|(k, val)| (s.id.clone(), "subnet", k.clone(), val.clone())));
        }
        for g in self.security_groups.values() {
            out.extend(g.tags.iter().map(|(k, val)| (g.id.clone(), "security-group", k.clone(), val.clone())));
        }
        for i in self.images.values() {
            out.extend(i.tags.iter().map(|(k, val)| (i.id.clone(), "image", k.clone(), val.clone())));
        }
        for k in self.key_pairs.values() {
            out.extend(k.tags.iter().map(|(kk, val)| (k.id.clone(), "key-pair", kk.clone(), val.clone())));
        }
        for g in self.internet_gateways.values() {
            out.extend(g.tags.iter().map(|(k, val)| (g.id.clone(), "internet-gateway", k.clone(), val.clone())));
        }
        for t in self.route_tables.values() {
            out.extend(t.tags.iter().map(|(k, val)| (t.id.clone(), "route-table", k.clone(), val.clone())));
        }
        for a in self.addresses.values() {
            out.extend(a.tags.iter().map(|(k, val)| (a.allocation_id.clone(), "elastic-ip", k.clone(), val.clone())));
        }
        for t in self.launch_templates.values() {
            out.extend(t.tags.iter().map(|(k, val)| (t.id.clone(), "launch-template", k.clone(), val.clone())));
        }
        for n in self.network_interfaces.values() {
            out.extend(n.tags.iter().map(|(k, val)| (n.id.clone(), "network-interface", k.clone(), val.clone())));
        }
        out
    }
}

impl Region {
    /// CreateTags on any resources of the region (all of them or none).
    pub fn create_tags(
        &self,
        resources: &[String],
        tags: &BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.create_tags(resources, tags, dry_run))
    }

    /// DeleteTags: each key, or each key with that value.
    pub fn delete_tags(
        &self,
        resources: &[String],
        tags: &[(String, Option<String>)],
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_tags(resources, tags, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::ControlError;
    use crate::test_support::TestRegion;

    #[test]
    fn tags_go_on_every_resource_or_none_and_stay_within_aws_limits() {
        let t = TestRegion::new();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
        let vpc = t.region.create_vpc("10.9.0.0/16", BTreeMap::new(), t.now(), false).unwrap();
        let tags = BTreeMap::from([("env".to_string(), "test".to_string()), ("team".to_string(), "a".to_string())]);
        let both = [v.id.to_string(), vpc.id.clone(), "vpc-0000000000000000f".to_string()];
        let partial = t.region.create_tags(&both, &tags, t.now(), false);
        assert_eq!(partial.unwrap_err(), ControlError::UnknownResourceId("vpc-0000000000000000f".into()));
        let tagged = |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.volume(&v.id)?.tags.clone())).unwrap();
        assert!(tagged(&t).is_empty(), "nothing was tagged");
        t.region.create_tags(&both[..2], &tags, t.now(), false).unwrap();
        assert_eq!(tagged(&t), tags);
        let many: BTreeMap<String, String> = (0..49).map(|n| (format!("k{n}"), String::new())).collect();
        let over = t.region.create_tags(&[v.id.to_string()], &many, t.now(), false);
        assert_eq!(over.unwrap_err(), ControlError::TooManyTags, "2 + 49 > 50");
        // A value given must match for the tag to go.
        let delete = [("env".to_string(), Some("prod".to_string())), ("team".to_string(), None)];
        t.region.delete_tags(&[v.id.to_string()], &delete, t.now(), false).unwrap();
        assert_eq!(tagged(&t), BTreeMap::from([("env".to_string(), "test".to_string())]));
        let all = t.region.read(t.now(), |s| Ok(s.all_tags().len())).unwrap();
        assert_eq!(all, 3, "env on the volume, env and team on the VPC");
    }
}
