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
