//! Images the user makes: `CreateImage` snapshots an instance's volumes, `RegisterImage` names
//! existing snapshots. Launching such an image restores its root volume (and any other mapped
//! volume) from those snapshots, so bytes written on one instance boot the next. The public
//! catalogue of images lives with the EC2 service; these are the account's own.

use std::collections::BTreeMap;

use crate::error::{ControlError, ImageError, InstanceError};
use crate::ids::{InstanceId, SnapshotId};
use crate::model::image::{Image, ImageMapping, ImageSpec, ImageState};
use crate::model::instance::{InstanceState, DEFAULT_ROOT_GIB};
use crate::model::snapshot::SnapshotState;
use crate::region::Region;
use crate::state::RegionState;

/// AMI names: 3 to 128 characters of letters, digits and `()[] ./-'@_`.
fn check_name(name: &str) -> Result<(), ControlError> {
    let ok =
        (3..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ControlError::Image(ImageError::InvalidImageName(name.to_string())))
    }
}

impl RegionState {
    fn check_unique_name(&self, name: &str) -> Result<(), ControlError> {
        match self.images_ref().values().find(|i| i.name == name) {
            Some(i) => {
                Err(ControlError::Image(ImageError::ImageNameInUse { name: name.to_string(), image: i.id.clone() }))
            }
            None => Ok(()),
        }
    }

    /// Snapshots every volume attached to the instance and registers them as an image.
    pub(crate) fn create_image(
        &mut self,
        instance: &InstanceId,
        name: &str,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Image, ControlError> {
        let i = self.instance(instance)?.clone();
        if !matches!(i.state, InstanceState::Running | InstanceState::Stopped) {
            return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                instance: instance.clone(),
                state: i.state,
            }));
        }
        check_name(name)?;
        self.check_unique_name(name)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let mut attached: Vec<_> = self
            .volumes_after(None, usize::MAX, |v| v.attachments.iter().any(|a| a.instance == *instance))
            .0
            .into_iter()
            .filter_map(|v| {
                let a = v.attachments.iter().find(|a| a.instance == *instance)?.clone();
                Some((v, a))
            })
            .collect();
        attached.sort_by(|a, b| a.1.device.cmp(&b.1.device));
        let id = self.random_id("ami");
        let mut mappings = Vec::new();
        for (v, a) in attached {
            let snap = self.create_snapshot(
                &v.id,
                format!("Created by CreateImage({instance}) for {id}"),
                BTreeMap::new(),
                now_ms,
                false,
            )?;
            mappings.push(ImageMapping {
                device: a.device.clone(),
                snapshot_id: Some(snap.id.clone()),
                size_gib: v.size_gib,
                volume_type: v.volume_type,
                delete_on_termination: a.delete_on_termination,
            });
        }
        let image = Image {
            id: id.clone(),
            name: name.to_string(),
            description,
            architecture: "x86_64".to_string(),
            root_device: i.root_device.clone(),
            mappings,
            created_ms: now_ms,
            source_instance: Some(instance.clone()),
            tags,
        };
        self.images_mut().insert(id, image.clone());
        Ok(image)
    }

    pub(crate) fn register_image(
        &mut self,
        spec: ImageSpec,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Image, ControlError> {
        check_name(&spec.name)?;
        self.check_unique_name(&spec.name)?;
        let mut mappings = Vec::new();
        for m in spec.mappings {
            let size_gib = match (m.size_gib, &m.snapshot_id) {
                (Some(size), _) => size,
                (None, Some(s)) => self.snapshot(s)?.volume_size_gib,
                (None, None) => DEFAULT_ROOT_GIB,
            };
            if let Some(s) = &m.snapshot_id {
                self.snapshot(s)?;
            }
            mappings.push(ImageMapping {
                device: m.device,
                snapshot_id: m.snapshot_id,
                size_gib,
                volume_type: m.volume_type,
                delete_on_termination: m.delete_on_termination,
            });
        }
        if !mappings.iter().any(|m| m.device == spec.root_device && m.snapshot_id.is_some()) {
            return Err(ControlError::Image(ImageError::MissingRootSnapshot(spec.root_device.clone())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("ami");
        let image = Image {
            id: id.clone(),
            name: spec.name,
            description: spec.description,
            architecture: spec.architecture,
            root_device: spec.root_device,
            mappings,
            created_ms: now_ms,
            source_instance: None,
            tags: spec.tags,
        };
        self.images_mut().insert(id, image.clone());
        Ok(image)
    }

    pub fn image(&self, id: &str) -> Result<&Image, ControlError> {
        self.images_ref().get(id).ok_or_else(|| ControlError::Image(ImageError::NotFound(id.to_string())))
    }

    pub fn images(&self) -> Vec<Image> {
        self.images_ref().values().cloned().collect()
    }

    /// Pending while any of its snapshots is, failed if one failed or is gone.
    pub fn image_state(&self, image: &Image) -> ImageState {
        let mut state = ImageState::Available;
        for s in image.mappings.iter().filter_map(|m| m.snapshot_id.as_ref()) {
            match self.snapshot(s).map(|s| s.state) {
                Ok(SnapshotState::Completed) => {}
                Ok(SnapshotState::Pending) => state = ImageState::Pending,
                Err(_) => return ImageState::Failed,
            }
        }
        state
    }

    /// Deregisters an image; with `delete_snapshots`, its snapshots go too. Answers the ids of
    /// the snapshots deleted.
    pub(crate) fn deregister_image(
        &mut self,
        id: &str,
        delete_snapshots: bool,
        dry_run: bool,
    ) -> Result<Vec<SnapshotId>, ControlError> {
        let image = self.image(id)?.clone();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.images_mut().remove(id);
        let mut deleted = Vec::new();
        if delete_snapshots {
            for s in image.mappings.iter().filter_map(|m| m.snapshot_id.clone()) {
                if self.delete_snapshot(&s, false).is_ok() {
                    deleted.push(s);
                }
            }
        }
        Ok(deleted)
    }

    /// The image that uses a snapshot, if any (such a snapshot cannot be deleted).
    pub(crate) fn image_using(&self, snapshot: &SnapshotId) -> Option<String> {
        self.images_ref()
            .values()
            .find(|i| i.mappings.iter().any(|m| m.snapshot_id.as_ref() == Some(snapshot)))
            .map(|i| i.id.clone())
    }

    /// Tags of an image, for CreateTags/DeleteTags.
    pub(crate) fn image_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        self.images_mut().get_mut(id).map(|i| &mut i.tags)
    }
}

impl Region {
    /// CreateImage: snapshots of the instance's volumes, named as an image.
    pub fn create_image(
        &self,
        instance: &InstanceId,
        name: &str,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Image, ControlError> {
        self.with_state(now_ms, |state| state.create_image(instance, name, description, tags, now_ms, dry_run))
    }

    /// RegisterImage: existing snapshots named as an image.
    pub fn register_image(&self, spec: ImageSpec, now_ms: u64, dry_run: bool) -> Result<Image, ControlError> {
        self.with_state(now_ms, |state| state.register_image(spec, now_ms, dry_run))
    }

    /// DeregisterImage, and its snapshots when asked; the ids of the snapshots deleted.
    pub fn deregister_image(
        &self,
        id: &str,
        delete_snapshots: bool,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<SnapshotId>, ControlError> {
        self.with_state(now_ms, |state| state.deregister_image(id, delete_snapshots, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, ImageError, SnapshotError};
    use crate::model::image::{ImageSpec, ImageState, RequestedImageMapping};
    use crate::model::volume::VolumeType;
    use crate::test_support::TestRegion;
    use crate::SnapshotId;

    fn spec(name: &str, root: Option<&SnapshotId>, size: Option<u32>) -> ImageSpec {
        ImageSpec {
            name: name.into(),
            description: None,
            architecture: "x86_64".into(),
            root_device: "/dev/xvda".into(),
            mappings: vec![RequestedImageMapping {
                device: "/dev/xvda".into(),
                snapshot_id: root.cloned(),
                size_gib: size,
                volume_type: VolumeType::Gp3,
                delete_on_termination: true,
            }],
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn register_image_needs_a_root_snapshot_a_valid_unique_name_and_sizes_from_the_snapshot() {
        let t = TestRegion::new();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 3), t.now(), false).unwrap();
        let s = t.region.create_snapshot(&v.id, String::new(), BTreeMap::new(), t.now(), false).unwrap();
        let blank = t.region.register_image(spec("blank-root", None, None), t.now(), false);
        assert_eq!(blank.unwrap_err(), ControlError::Image(ImageError::MissingRootSnapshot("/dev/xvda".into())));
        let bad = t.region.register_image(spec("x", Some(&s.id), None), t.now(), false);
        assert_eq!(bad.unwrap_err(), ControlError::Image(ImageError::InvalidImageName("x".into())));
        let image = t.region.register_image(spec("web-1", Some(&s.id), None), t.now(), false).unwrap();
        assert_eq!(image.mappings[0].size_gib, 3, "the snapshot's size");
        let state = |t: &TestRegion| t.region.read(t.now(), |st| Ok(st.image_state(st.image(&image.id)?))).unwrap();
        assert_eq!(state(&t), ImageState::Pending, "its snapshot is still pending");
        t.advance(300);
        assert_eq!(state(&t), ImageState::Available);
        let again = t.region.register_image(spec("web-1", Some(&s.id), Some(4)), t.now(), false);
        assert!(matches!(again, Err(ControlError::Image(ImageError::ImageNameInUse { .. }))));
        // The image holds its snapshot until it is deregistered.
        let held = t.region.delete_snapshot(&s.id, t.now(), false).unwrap_err();
        assert!(matches!(held, ControlError::Snapshot(SnapshotError::SnapshotUsedByImage { .. })));
        let deleted = t.region.deregister_image(&image.id, true, t.now(), false).unwrap();
        assert_eq!(deleted, vec![s.id.clone()]);
        let left = t.region.read(t.now(), |st| Ok(st.snapshots_after(None, 10, |_| true).0.len())).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn create_image_snapshots_every_volume_of_a_running_or_stopped_instance() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1a", &[2]).unwrap();
        let early = t.region.create_image(&i.id, "too-early", None, BTreeMap::new(), t.now(), false);
        assert!(early.is_err(), "a pending instance cannot be imaged");
        t.advance(300);
        let image = t.region.create_image(&i.id, "from-i", None, BTreeMap::new(), t.now(), false).unwrap();
        let devices: Vec<&str> = image.mappings.iter().map(|m| m.device.as_str()).collect();
        assert_eq!(devices, ["/dev/sdf", "/dev/xvda"]);
        assert!(image.mappings.iter().all(|m| m.snapshot_id.is_some()));
        assert_eq!(image.source_instance.as_ref(), Some(&i.id));
    }
}
