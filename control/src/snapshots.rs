//! EBS snapshots through EC2: CreateSnapshot (incremental, from any surviving replica),
//! CopySnapshot, DeleteSnapshot and create-volume permissions, over the regional snapshot store.

use std::collections::BTreeMap;

use crate::error::{ControlError, SnapshotError};
use crate::ids::{AzName, SnapshotId, VolumeId};
use crate::model::snapshot::{InstanceSnapshots, Snapshot, SnapshotState, Tiering, TieringOperation};
use crate::model::volume::{Volume, VolumeState};
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};
use crate::tags::MAX_TAGS;

impl RegionState {
    pub(crate) fn create_snapshot(
        &mut self,
        volume: &VolumeId,
        description: String,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let v = self.volume(volume)?.clone();
        if tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.new_snapshot_id();
        // Incremental: the parent is the newest earlier snapshot of the same volume, else the
        // snapshot the volume was created from (so both stay in one lineage).
        let parent = self
            .snapshots
            .values()
            .filter(|s| s.volume_id.as_ref() == Some(volume))
            .max_by_key(|s| (s.start_time_ms, s.id.clone()))
            .map(|s| s.id.clone())
            .or_else(|| v.snapshot_id.clone().filter(|s| self.snapshots.contains_key(s)))
            .map(|s| store_name(s.as_str()))
            .transpose()?;
        let (cluster, snapshots) = self.store.cluster_and_snapshots(v.zone_id.as_str()).map_err(storage_error)?;
        snapshots
            .snapshot_volume(
                &mut cluster.lock(),
                &store_name(volume.as_str())?,
                &store_name(id.as_str())?,
                parent.as_ref(),
            )
            .map_err(storage_error)?;
        let snapshot = Snapshot {
            id: id.clone(),
            volume_id: Some(volume.clone()),
            volume_size_gib: v.size_gib,
            description,
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            encrypted: v.encrypted,
            kms_key_id: v.kms_key_id.clone(),
            tags,
            create_volume_permissions: Vec::new(),
            owner: None,
            awaiting_completion: false,
            parent: parent.as_ref().and_then(|p| SnapshotId::parse(p.as_str()).ok()),
            tiering: None,
        };
        self.snapshots.insert(id, snapshot.clone());
        Ok(snapshot)
    }

    /// CreateSnapshots: one snapshot of each volume attached to the instance, in one transaction
    /// (crash-consistent across them), without the boot volume or the excluded data volumes if
    /// asked; each snapshot gets the request's tags over, if asked, its volume's.
    pub(crate) fn create_snapshots(
        &mut self,
        req: InstanceSnapshots,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<(Snapshot, AzName)>, ControlError> {
        let root = self.instance(&req.instance)?.root_device.clone();
        let (volumes, _) =
            self.volumes_after(None, usize::MAX, |v| v.attachments.iter().any(|a| a.instance == req.instance));
        let boot = |v: &Volume| v.attachments.iter().any(|a| a.instance == req.instance && a.device == root);
        let chosen: Vec<Volume> = volumes
            .into_iter()
            .filter(|v| !req.exclude_volumes.contains(&v.id))
            .filter(|v| !(req.exclude_boot && boot(v)))
            .collect();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let mut out = Vec::new();
        for v in chosen {
            let mut tags = if req.copy_volume_tags { v.tags.clone() } else { BTreeMap::new() };
            tags.extend(req.tags.clone());
            out.push((self.create_snapshot(&v.id, req.description.clone(), tags, now_ms, false)?, v.zone.clone()));
        }
        Ok(out)
    }

    /// A snapshot id from the region's seeded stream that no snapshot has.
    pub(crate) fn new_snapshot_id(&mut self) -> SnapshotId {
        loop {
            let id = SnapshotId::generate(&mut self.rng);
            if !self.snapshots.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn snapshot(&self, id: &SnapshotId) -> Result<&Snapshot, ControlError> {
        self.snapshots.get(id).ok_or_else(|| ControlError::Snapshot(SnapshotError::NotFound(id.clone())))
    }

    pub fn snapshots_after(
        &self,
        after: Option<&SnapshotId>,
        limit: usize,
        keep: impl Fn(&Snapshot) -> bool,
    ) -> (Vec<Snapshot>, bool) {
        self.snapshots.page_after(after, limit, keep)
    }

    pub(crate) fn delete_snapshot(&mut self, id: &SnapshotId, dry_run: bool) -> Result<(), ControlError> {
        self.snapshot(id)?;
        if let Some(v) =
            self.volumes.values().find(|v| v.snapshot_id.as_ref() == Some(id) && v.state == VolumeState::Creating)
        {
            return Err(ControlError::Snapshot(SnapshotError::InUse { snapshot: id.clone(), volume: v.id.clone() }));
        }
        if let Some(image) = self.image_using(id) {
            return Err(ControlError::Snapshot(SnapshotError::SnapshotUsedByImage { snapshot: id.clone(), image }));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.store.snapshots().delete(&store_name(id.as_str())?).map_err(storage_error)?;
        self.snapshots.remove(id);
        Ok(())
    }

    pub(crate) fn copy_snapshot(
        &mut self,
        source: &SnapshotId,
        region: &str,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let src = self.snapshot(source)?.clone();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.new_snapshot_id();
        self.store.snapshots().copy(&store_name(source.as_str())?, &store_name(id.as_str())?).map_err(storage_error)?;
        let copy = Snapshot {
            id: id.clone(),
            awaiting_completion: false,
            description: description.unwrap_or_else(|| format!("[Copied {source} from {region}]")),
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            tags,
            create_volume_permissions: Vec::new(),
            tiering: None,
            // The copy is the copier's (claimed by the caller's account).
            owner: None,
            ..src
        };
        self.snapshots.insert(id, copy.clone());
        Ok(copy)
    }

    /// A copy of a snapshot of another region (its row and blocks read out there): its blocks
    /// written into this region's store, `pending` until the lifecycle completes it.
    pub(crate) fn import_snapshot(
        &mut self,
        from: Snapshot,
        blocks: &crate::db_snapshot_copy::ExportedVolume,
        source_region: &str,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<Snapshot, ControlError> {
        let id = self.new_snapshot_id();
        self.import_store_snapshot(id.as_str(), blocks)?;
        let copy = Snapshot {
            id: id.clone(),
            awaiting_completion: false,
            description: description.unwrap_or_else(|| format!("[Copied {} from {source_region}]", from.id)),
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            tags,
            create_volume_permissions: Vec::new(),
            // The copy has no parent in this region's store: a full copy of its own.
            parent: None,
            tiering: None,
            owner: None,
            ..from
        };
        self.snapshots.insert(id, copy.clone());
        Ok(copy)
    }

    /// How long a tiering operation takes.
    pub fn tiering_step_ms(&self) -> u64 {
        self.delays().snapshot.as_millis() as u64
    }

    /// ModifySnapshotTier: a completed snapshot in the standard tier moves to the archive.
    pub(crate) fn archive_snapshot(
        &mut self,
        id: &SnapshotId,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<u64, ControlError> {
        let step = self.tiering_step_ms();
        let s = self.snapshot(id)?.clone();
        if s.state != SnapshotState::Completed {
            return Err(ControlError::Snapshot(SnapshotError::TierState(format!(
                "The snapshot '{id}' is not completed: only a completed snapshot can be archived."
            ))));
        }
        let tier = s.tier(step, now_ms);
        let busy = tier.last.is_some_and(|(_, done, _)| !done);
        if tier.archived || busy {
            return Err(ControlError::Snapshot(SnapshotError::TierState(format!(
                "The snapshot '{id}' is already archived or being archived or restored."
            ))));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(row) = self.snapshots.get_mut(id) {
            row.tiering = Some(Tiering { operation: TieringOperation::Archive, since_ms: now_ms });
        }
        Ok(now_ms)
    }

    /// RestoreSnapshotTier: an archived snapshot comes back for `days`, or for good.
    pub(crate) fn restore_snapshot_tier(
        &mut self,
        id: &SnapshotId,
        operation: TieringOperation,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<u64, ControlError> {
        let step = self.tiering_step_ms();
        let s = self.snapshot(id)?.clone();
        let tier = s.tier(step, now_ms);
        // A temporary restore still running may be made longer or permanent.
        let restored_for_now = matches!(tier.last, Some((TieringOperation::TemporaryRestore(_), true, _)));
        let archived_done = tier.archived && tier.last.is_some_and(|(_, done, _)| done);
        if !(archived_done || restored_for_now) {
            return Err(ControlError::Snapshot(SnapshotError::TierState(format!(
                "The snapshot '{id}' is not in the archive tier: there is nothing to restore."
            ))));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(row) = self.snapshots.get_mut(id) {
            row.tiering = Some(Tiering { operation, since_ms: now_ms });
        }
        Ok(now_ms)
    }

    pub(crate) fn set_create_volume_permissions(
        &mut self,
        id: &SnapshotId,
        add: &[String],
        remove: &[String],
        reset: bool,
    ) -> Result<(), ControlError> {
        let s =
            self.snapshots.get_mut(id).ok_or_else(|| ControlError::Snapshot(SnapshotError::NotFound(id.clone())))?;
        if reset {
            s.create_volume_permissions.clear();
        }
        s.create_volume_permissions.retain(|p| !remove.contains(p));
        for p in add {
            if !s.create_volume_permissions.contains(p) {
                s.create_volume_permissions.push(p.clone());
            }
        }
        Ok(())
    }
}

impl Region {
    /// ModifySnapshotTier: when the archiving started.
    pub fn archive_snapshot(&self, id: &SnapshotId, now_ms: u64, dry_run: bool) -> Result<u64, ControlError> {
        self.with_state(now_ms, |state| state.archive_snapshot(id, now_ms, dry_run))
    }

    /// RestoreSnapshotTier: when the restore started.
    pub fn restore_snapshot_tier(
        &self,
        id: &SnapshotId,
        operation: TieringOperation,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<u64, ControlError> {
        self.with_state(now_ms, |state| state.restore_snapshot_tier(id, operation, now_ms, dry_run))
    }
}

impl crate::ControlPlane {
    /// CopySnapshot from another region: snapshot `source` of `from` copied into `to`, its bytes
    /// with it.
    pub fn copy_snapshot_between_regions(
        &self,
        from: &crate::RegionName,
        source: &SnapshotId,
        to: &crate::RegionName,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let now_ms = self.now_ms();
        let (row, blocks) = self.region(from).read(now_ms, |state| {
            let row = state.snapshot(source)?.clone();
            if row.state != SnapshotState::Completed {
                return Err(ControlError::Snapshot(SnapshotError::SnapshotNotCompleted(source.clone())));
            }
            let blocks = state.export_store_snapshot(source.as_str())?;
            Ok((row, blocks))
        })?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.region(to)
            .with_state(now_ms, |state| state.import_snapshot(row, &blocks, from.as_str(), description, tags, now_ms))
    }
}

impl Region {
    /// CreateSnapshot: a point-in-time, incremental copy of the volume, read from a surviving replica.
    pub fn create_snapshot(
        &self,
        volume: &VolumeId,
        description: String,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        if !dry_run {
            self.await_volume_storage(volume, now_ms)?;
        }
        self.with_state(now_ms, |state| state.create_snapshot(volume, description, tags, now_ms, dry_run))
    }

    /// CreateSnapshots (multi-volume, crash-consistent).
    pub fn create_snapshots(
        &self,
        req: InstanceSnapshots,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<(Snapshot, AzName)>, ControlError> {
        self.with_state(now_ms, |state| state.create_snapshots(req, now_ms, dry_run))
    }

    /// DeleteSnapshot.
    pub fn delete_snapshot(&self, id: &SnapshotId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_snapshot(id, dry_run))
    }

    /// CopySnapshot (within the region).
    pub fn copy_snapshot(
        &self,
        source: &SnapshotId,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let region = self.name().to_string();
        self.with_state(now_ms, |state| state.copy_snapshot(source, &region, description, tags, now_ms, dry_run))
    }

    /// ModifySnapshotAttribute and ResetSnapshotAttribute (`createVolumePermission`).
    /// Records `account` as the owner of new snapshots (those without one yet).
    pub fn claim_snapshots(&self, ids: &[SnapshotId], account: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| {
            for id in ids {
                if let Some(s) = state.snapshots.get_mut(id) {
                    if s.owner.is_none() {
                        s.owner = Some(account.to_string());
                    }
                }
            }
            Ok(())
        })
    }

    pub fn set_create_volume_permissions(
        &self,
        id: &SnapshotId,
        add: &[String],
        remove: &[String],
        reset: bool,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.set_create_volume_permissions(id, add, remove, reset))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, VolumeError};
    use crate::model::snapshot::InstanceSnapshots;
    use crate::test_support::TestRegion;
    use crate::VolumeId;

    #[test]
    fn snapshots_of_one_volume_form_a_lineage() {
        let t = TestRegion::new();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
        let first = t.region.create_snapshot(&v.id, "1".into(), BTreeMap::new(), t.now(), false).unwrap();
        t.advance(1);
        let second = t.region.create_snapshot(&v.id, "2".into(), BTreeMap::new(), t.now(), false).unwrap();
        assert_eq!(first.parent, None);
        assert_eq!(second.parent.as_ref(), Some(&first.id), "incremental on the newest earlier snapshot");
        let gone = VolumeId::parse("vol-0123456789abcdef0").unwrap();
        let missing = t.region.create_snapshot(&gone, String::new(), BTreeMap::new(), t.now(), false);
        assert_eq!(missing.unwrap_err(), ControlError::Volume(VolumeError::NotFound(gone)));
    }

    #[test]
    fn a_dry_run_and_a_refused_delete_change_nothing() {
        let t = TestRegion::new();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
        let dry = t.region.create_snapshot(&v.id, String::new(), BTreeMap::new(), t.now(), true);
        assert_eq!(dry.unwrap_err(), ControlError::DryRun);
        let s = t.region.create_snapshot(&v.id, String::new(), BTreeMap::new(), t.now(), false).unwrap();
        t.advance(300);
        // A volume being created from the snapshot holds it.
        let mut spec = t.volume_spec("us-east-1b", 1);
        spec.snapshot_id = Some(s.id.clone());
        let restored = t.region.create_volume(spec, t.now(), false).unwrap();
        let busy = t.region.delete_snapshot(&s.id, t.now(), false).unwrap_err();
        assert!(
            matches!(busy, ControlError::Snapshot(crate::SnapshotError::InUse { ref volume, .. }) if *volume == restored.id)
        );
        let count = t.region.read(t.now(), |st| Ok(st.snapshots_after(None, 100, |_| true).0.len())).unwrap();
        assert_eq!(count, 1);
        t.advance(300);
        t.region.delete_snapshot(&s.id, t.now(), false).unwrap();
    }

    #[test]
    fn create_snapshots_takes_the_attached_volumes_less_the_boot_one_and_copies_tags() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1a", &[2, 3]).unwrap();
        t.advance(300);
        let data = t
            .region
            .read(t.now(), |s| {
                Ok(s.volumes_after(None, 100, |v| v.attachments.iter().any(|a| a.device != i.root_device)).0)
            })
            .unwrap();
        assert_eq!(data.len(), 2);
        let tags = BTreeMap::from([("team".to_string(), "db".to_string())]);
        t.region.create_tags(&[data[0].id.to_string()], &tags, t.now(), false).unwrap();
        let req = InstanceSnapshots {
            instance: i.id.clone(),
            exclude_boot: true,
            exclude_volumes: vec![data[1].id.clone()],
            description: "nightly".into(),
            tags: BTreeMap::from([("run".to_string(), "7".to_string())]),
            copy_volume_tags: true,
        };
        let made = t.region.create_snapshots(req, t.now(), false).unwrap();
        assert_eq!(made.len(), 1, "{made:?}");
        let (s, zone) = &made[0];
        assert_eq!(s.volume_id.as_ref(), Some(&data[0].id));
        assert_eq!(zone.as_str(), "us-east-1a");
        assert_eq!(s.tags.get("team").map(String::as_str), Some("db"));
        assert_eq!(s.tags.get("run").map(String::as_str), Some("7"));
    }
}
