//! EBS volumes: their types and limits, states, attachments and modifications, and the rules
//! of CreateVolume, ModifyVolume, DeleteVolume, AttachVolume, DetachVolume, EnableVolumeIO and
//! volume health, each volume backed by a real volume in its zone's storage cluster.

use std::collections::BTreeMap;

use crate::error::{ControlError, InstanceError, SnapshotError, VolumeError, ZoneError};
use crate::ids::{AzId, InstanceId, VolumeId};
use crate::model::instance::InstanceState;
use crate::model::snapshot::Snapshot;
use crate::model::volume::{
    Attachment, AttachmentState, IoEvent, IoEventStage, IoEventStatus, IoPerformance, Modification, ModificationState,
    ReplicaSet, Volume, VolumeHealth, VolumeSettings, VolumeSpec, VolumeState, VolumeStatus, VolumeType,
};
use crate::model::zone::ZoneState;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState, GIB};
use crate::tags::MAX_TAGS;

impl RegionState {
    /// Background work of the region's storage (re-mirroring), at the storage clock's time.
    pub(crate) fn tick_storage(&mut self, now_ms: u64) -> Result<(), ControlError> {
        self.store.tick().map_err(storage_error)?;
        self.notice_failovers(now_ms)?;
        self.detect_db_failovers(now_ms)
    }

    /// Compares each volume's storage replica set with the one last seen: a new set whose primary
    /// was the secondary is a failover, after which EBS disables I/O (or re-enables it at once
    /// with `autoEnableIO`).
    fn notice_failovers(&mut self, now_ms: u64) -> Result<(), ControlError> {
        // Only volumes whose storage record changed can have failed over.
        let ids: Vec<VolumeId> = self
            .store
            .clusters()
            .flat_map(|(_, c)| c.lock().take_record_changes())
            .filter_map(|name| VolumeId::parse(name.as_str()).ok())
            .collect();
        for id in ids {
            let Some(v) = self.volumes.get(&id) else { continue };
            let zone = v.zone_id.clone();
            let seen = v.seen_primary;
            let name = store_name(id.as_str())?;
            let Some(record) = self.store.cluster(zone.as_str()).map_err(storage_error)?.lock().record(&name).cloned()
            else {
                continue;
            };
            let current = (record.primary.0, record.epoch);
            let settled = record.stuck_since_ms.is_none();
            let failed_over = match seen {
                Some((primary, epoch)) if epoch != current.1 && primary != current.0 && settled => true,
                Some(seen) if seen == current => continue,
                _ if settled => false,
                _ => continue,
            };
            // Only volumes whose replica set changed are touched (and written).
            let Some(v) = self.volumes.get_mut(&id) else { continue };
            if failed_over {
                let event_id = format!("evol-{:017x}", (now_ms << 12) ^ u64::from(current.0) ^ (current.1 << 40));
                let auto = v.auto_enable_io;
                v.io_event = Some(IoEvent {
                    id: event_id,
                    since_ms: now_ms,
                    enabled_ms: auto.then_some(now_ms),
                    auto_enabled: auto,
                });
            }
            v.seen_primary = Some(current);
        }
        Ok(())
    }

    /// EnableVolumeIO: ends a potential-data-inconsistency event (a no-op when I/O is enabled).
    pub(crate) fn enable_volume_io(&mut self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.volume(id)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(event) = self.volumes.get_mut(id).and_then(|v| v.io_event.as_mut()) {
            if event.enabled_ms.is_none() {
                event.enabled_ms = Some(now_ms);
            }
        }
        Ok(())
    }

    fn validate_spec(
        &self,
        spec: &VolumeSpec,
        snapshot: Option<&Snapshot>,
    ) -> Result<(u32, Option<u32>, Option<u32>), ControlError> {
        let limits = spec.volume_type.limits();
        let size = match (spec.size_gib, snapshot) {
            (Some(size), Some(s)) if size < s.volume_size_gib => {
                return Err(ControlError::Volume(VolumeError::VolumeSmallerThanSnapshot {
                    size_gib: size,
                    snapshot_gib: s.volume_size_gib,
                }))
            }
            (Some(size), _) => size,
            (None, Some(s)) => s.volume_size_gib.max(limits.min_gib),
            (None, None) => return Err(ControlError::Volume(VolumeError::MissingSizeOrSnapshot)),
        };
        if size < limits.min_gib || size > limits.max_gib {
            return Err(ControlError::Volume(VolumeError::InvalidVolumeSize {
                volume_type: spec.volume_type,
                size_gib: size,
                min_gib: limits.min_gib,
                max_gib: limits.max_gib,
            }));
        }
        let iops = match (spec.iops, limits.iops) {
            (Some(_), None) => return Err(ControlError::Volume(VolumeError::IopsNotSupported(spec.volume_type))),
            (None, Some((_, _, None, _))) => {
                return Err(ControlError::Volume(VolumeError::IopsRequired(spec.volume_type)))
            }
            (None, Some((_, _, default, _))) => default,
            (Some(iops), Some((min, max, _, per_gib))) => {
                if iops < min || iops > max {
                    return Err(ControlError::Volume(VolumeError::InvalidIops {
                        volume_type: spec.volume_type,
                        iops,
                        min,
                        max,
                    }));
                }
                if u64::from(iops) > u64::from(size) * u64::from(per_gib) {
                    return Err(ControlError::Volume(VolumeError::IopsRatio { iops, size_gib: size, per_gib }));
                }
                Some(iops)
            }
            (None, None) => None,
        };
        let throughput = match (spec.throughput, limits.throughput) {
            (Some(_), None) => return Err(ControlError::Volume(VolumeError::ThroughputNotSupported(spec.volume_type))),
            (None, Some((_, _, default))) => Some(default),
            (Some(t), Some((min, max, _))) => {
                if t < min || t > max {
                    return Err(ControlError::Volume(VolumeError::InvalidThroughput { throughput: t, min, max }));
                }
                Some(t)
            }
            (None, None) => None,
        };
        if spec.multi_attach && !spec.volume_type.supports_multi_attach() {
            return Err(ControlError::Volume(VolumeError::MultiAttachNotSupported(spec.volume_type)));
        }
        if spec.tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        Ok((size, iops, throughput))
    }

    pub(crate) fn create_volume(
        &mut self,
        spec: VolumeSpec,
        zone_id: AzId,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Volume, ControlError> {
        if let Some(token) = &spec.client_token {
            if let Some(existing) = self.volumes.values().find(|v| v.client_token.as_ref() == Some(token)) {
                let same = existing.zone == spec.zone
                    && spec.size_gib.is_none_or(|s| s == existing.size_gib)
                    && existing.volume_type == spec.volume_type
                    && existing.snapshot_id == spec.snapshot_id;
                return if same {
                    Ok(existing.clone())
                } else {
                    Err(ControlError::IdempotentParameterMismatch(token.clone()))
                };
            }
        }
        let snapshot = match &spec.snapshot_id {
            Some(id) => Some(
                self.snapshots
                    .get(id)
                    .cloned()
                    .ok_or_else(|| ControlError::Snapshot(SnapshotError::NotFound(id.clone())))?,
            ),
            None => None,
        };
        if let Some(s) = &snapshot {
            if s.tier(self.tiering_step_ms(), now_ms).archived {
                return Err(ControlError::Snapshot(SnapshotError::Archived(s.id.clone())));
            }
        }
        let (size, iops, throughput) = self.validate_spec(&spec, snapshot.as_ref())?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = loop {
            let id = VolumeId::generate(&mut self.rng);
            if !self.volumes.contains_key(&id) {
                break id;
            }
        };
        let name = store_name(id.as_str())?;
        let bytes = u64::from(size) * GIB;
        match &spec.snapshot_id {
            Some(snap) => {
                let (cluster, snapshots) = self.store.cluster_and_snapshots(zone_id.as_str()).map_err(storage_error)?;
                snapshots
                    .restore(&store_name(snap.as_str())?, &mut cluster.lock(), &name, bytes)
                    .map_err(storage_error)?;
            }
            None => self
                .store
                .cluster(zone_id.as_str())
                .map_err(storage_error)?
                .lock()
                .create_volume(&name, bytes)
                .map_err(storage_error)?,
        }
        let volume = Volume {
            id: id.clone(),
            zone: spec.zone,
            zone_id,
            size_gib: size,
            volume_type: spec.volume_type,
            iops: iops.or(spec.volume_type.baseline_iops(size)),
            throughput,
            encrypted: spec.encrypted || snapshot.as_ref().is_some_and(|s| s.encrypted),
            kms_key_id: spec.kms_key_id.or_else(|| snapshot.as_ref().and_then(|s| s.kms_key_id.clone())),
            multi_attach: spec.multi_attach,
            snapshot_id: spec.snapshot_id,
            create_time_ms: now_ms,
            state: VolumeState::Creating,
            state_since_ms: now_ms,
            attachments: Vec::new(),
            auto_enable_io: false,
            tags: spec.tags,
            client_token: spec.client_token,
            modification: None,
            seen_primary: None,
            io_event: None,
        };
        self.volumes.insert(id, volume.clone());
        Ok(volume)
    }

    /// How many volumes the region has.
    pub fn volume_count(&self) -> usize {
        self.volumes.len()
    }

    pub fn volume(&self, id: &VolumeId) -> Result<&Volume, ControlError> {
        self.volumes.get(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))
    }

    /// Volumes after `after` in id order, as many as `limit`, that pass `keep`: a page of a
    /// listing costs the page, not the whole region.
    pub fn volumes_after(
        &self,
        after: Option<&VolumeId>,
        limit: usize,
        keep: impl Fn(&Volume) -> bool,
    ) -> (Vec<Volume>, bool) {
        self.volumes.page_after(after, limit, keep)
    }

    /// Changes size, type, IOPS, throughput or multi-attach. The new size is usable at once (the
    /// replicas grow); the modification then goes modifying → optimizing → completed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn modify_volume(
        &mut self,
        id: &VolumeId,
        size_gib: Option<u32>,
        volume_type: Option<VolumeType>,
        iops: Option<u32>,
        throughput: Option<u32>,
        multi_attach: Option<bool>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Modification, ControlError> {
        let v = self.volume(id)?.clone();
        if v.modification.as_ref().is_some_and(|m| m.state != ModificationState::Completed) {
            return Err(ControlError::Volume(VolumeError::ModificationInProgress(id.clone())));
        }
        if let Some(size) = size_gib {
            if size < v.size_gib {
                return Err(ControlError::Volume(VolumeError::CannotShrink {
                    volume: id.clone(),
                    size_gib: v.size_gib,
                    new_gib: size,
                }));
            }
        }
        let target_type = volume_type.unwrap_or(v.volume_type);
        let spec = VolumeSpec {
            zone: v.zone.clone(),
            size_gib: Some(size_gib.unwrap_or(v.size_gib)),
            snapshot_id: None,
            volume_type: target_type,
            // IOPS and throughput carry over only while the type keeps them.
            iops: iops.or(if target_type == v.volume_type && target_type != VolumeType::Gp2 { v.iops } else { None }),
            throughput: throughput.or(if target_type == v.volume_type { v.throughput } else { None }),
            encrypted: v.encrypted,
            kms_key_id: None,
            multi_attach: multi_attach.unwrap_or(v.multi_attach),
            tags: BTreeMap::new(),
            client_token: None,
        };
        let (size, iops, throughput) = self.validate_spec(&spec, None)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if size > v.size_gib {
            let name = store_name(id.as_str())?;
            self.store
                .cluster(v.zone_id.as_str())
                .map_err(storage_error)?
                .lock()
                .grow_volume(&name, u64::from(size) * GIB)
                .map_err(storage_error)?;
        }
        let target = VolumeSettings {
            size_gib: size,
            volume_type: target_type,
            iops: iops.or(target_type.baseline_iops(size)),
            throughput,
            multi_attach: spec.multi_attach,
        };
        let modification = Modification {
            original: v.settings(),
            target,
            state: ModificationState::Modifying,
            state_since_ms: now_ms,
            start_ms: now_ms,
            end_ms: None,
        };
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))?;
        v.size_gib = target.size_gib;
        v.volume_type = target.volume_type;
        v.iops = target.iops;
        v.throughput = target.throughput;
        v.multi_attach = target.multi_attach;
        v.modification = Some(modification.clone());
        Ok(modification)
    }

    pub(crate) fn delete_volume(&mut self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        let v = self.volumes.get(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))?;
        // A dry run is answered once the ids resolve, before state checks (as EC2 does).
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(a) = v.attachments.first() {
            return Err(ControlError::Volume(VolumeError::InUse { volume: id.clone(), instance: a.instance.clone() }));
        }
        if v.state != VolumeState::Available {
            return Err(ControlError::Volume(VolumeError::IncorrectVolumeState { volume: id.clone(), state: v.state }));
        }
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))?;
        v.state = VolumeState::Deleting;
        v.state_since_ms = now_ms;
        Ok(())
    }

    pub(crate) fn attach_volume(
        &mut self,
        id: &VolumeId,
        instance: &InstanceId,
        device: &str,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        let v = self.volume(id)?;
        let target = self
            .instances
            .get(instance)
            .ok_or_else(|| ControlError::Instance(InstanceError::NotFound(instance.clone())))?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if !matches!(target.state, InstanceState::Running | InstanceState::Stopped | InstanceState::Pending) {
            return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                instance: instance.clone(),
                state: target.state,
            }));
        }
        if target.zone != v.zone {
            return Err(ControlError::Volume(VolumeError::ZoneMismatch {
                volume: id.clone(),
                instance: instance.clone(),
            }));
        }
        if v.state != VolumeState::Available && !(v.multi_attach && v.state == VolumeState::InUse) {
            return match v.attachments.first() {
                Some(a) => {
                    Err(ControlError::Volume(VolumeError::InUse { volume: id.clone(), instance: a.instance.clone() }))
                }
                None => {
                    Err(ControlError::Volume(VolumeError::IncorrectVolumeState { volume: id.clone(), state: v.state }))
                }
            };
        }
        let device_taken = self
            .volumes
            .values()
            .flat_map(|other| other.attachments.iter())
            .any(|a| a.instance == *instance && a.device == device);
        if device_taken {
            return Err(ControlError::Volume(VolumeError::DeviceInUse {
                device: device.to_string(),
                instance: instance.clone(),
            }));
        }
        let attachment = Attachment {
            instance: instance.clone(),
            device: device.to_string(),
            state: AttachmentState::Attaching,
            since_ms: now_ms,
            attach_time_ms: now_ms,
            delete_on_termination: false,
        };
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))?;
        v.attachments.push(attachment.clone());
        v.state = VolumeState::InUse;
        v.state_since_ms = now_ms;
        Ok(attachment)
    }

    pub(crate) fn detach_volume(
        &mut self,
        id: &VolumeId,
        instance: Option<&InstanceId>,
        device: Option<&str>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        let v = self.volume(id)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let found = v
            .attachments
            .iter()
            .position(|a| instance.is_none_or(|i| *i == a.instance) && device.is_none_or(|d| d == a.device));
        let Some(index) = found else {
            if v.attachments.is_empty() {
                return Err(ControlError::Volume(VolumeError::NotAttached { volume: id.clone() }));
            }
            return Err(ControlError::Volume(VolumeError::AttachmentNotFound {
                volume: id.clone(),
                instance: instance.cloned(),
                device: device.map(str::to_string),
            }));
        };
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::Volume(VolumeError::NotFound(id.clone())))?;
        let a = &mut v.attachments[index];
        a.state = AttachmentState::Detaching;
        a.since_ms = now_ms;
        let out = a.clone();
        Ok(out)
    }

    /// Holds I/O of exactly these volumes (`volume-io-pause`).
    pub(crate) fn set_paused(&mut self, volumes: std::collections::BTreeSet<VolumeId>, now_ms: u64) {
        let mut touched: Vec<VolumeId> = self.paused.keys().cloned().collect();
        touched.extend(volumes.iter().cloned());
        self.paused.retain(|v, _| volumes.contains(v));
        for v in volumes {
            self.paused.entry(v).or_insert(now_ms);
        }
        self.refresh_io(touched);
    }

    /// Since when a fault pauses the volume's I/O, if one does.
    pub fn paused_since(&self, id: &VolumeId) -> Option<u64> {
        self.paused.get(id).copied()
    }

    pub(crate) fn volume_mut(&mut self, id: &VolumeId) -> Option<&mut Volume> {
        self.volumes.get_mut(id)
    }

    pub(crate) fn set_delete_on_termination(&mut self, instance: &InstanceId, device: &str, value: bool) {
        let is_it = |a: &Attachment| a.instance == *instance && a.device == device;
        self.volumes.update_where(
            |v| v.attachments.iter().any(is_it),
            |v| {
                for a in v.attachments.iter_mut().filter(|a| is_it(a)) {
                    a.delete_on_termination = value;
                }
            },
        );
    }

    /// A terminated instance's volumes: detached, and deleted when marked delete-on-termination.
    pub(crate) fn release_volumes_of(&mut self, instance: &InstanceId, now_ms: u64) {
        let attached = |v: &Volume| v.attachments.iter().any(|a| a.instance == *instance);
        self.volumes.update_where(attached, |v| {
            let Some(pos) = v.attachments.iter().position(|a| a.instance == *instance) else { return };
            let a = v.attachments.remove(pos);
            if v.attachments.is_empty() {
                v.state = if a.delete_on_termination { VolumeState::Deleting } else { VolumeState::Available };
                v.state_since_ms = now_ms;
            }
        });
    }

    pub(crate) fn set_auto_enable_io(&mut self, id: &VolumeId, value: bool, dry_run: bool) -> Result<(), ControlError> {
        self.volume(id)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(v) = self.volumes.get_mut(id) {
            v.auto_enable_io = value;
        }
        Ok(())
    }

    /// Whether the volume's replica set has a confirmed writable primary.
    pub fn volume_health(&self, id: &VolumeId) -> Result<VolumeHealth, ControlError> {
        let v = self.volume(id)?;
        let name = store_name(id.as_str())?;
        if self.paused.contains_key(id) {
            return Ok(VolumeHealth::Stuck);
        }
        let cluster = self
            .store
            .opened_cluster(v.zone_id.as_str())
            .ok_or_else(|| ControlError::invariant(format!("the storage cluster of {} is not open", v.zone_id)))?;
        let stuck = cluster.lock().record(&name).is_some_and(|r| r.stuck_since_ms.is_some());
        Ok(if stuck { VolumeHealth::Stuck } else { VolumeHealth::Ok })
    }

    /// The storage nodes holding the volume's primary and secondary replicas, in its zone's
    /// cluster (for drills that crash one of them).
    pub fn volume_replicas(&self, id: &VolumeId) -> Result<ReplicaSet, ControlError> {
        let v = self.volume(id)?;
        let name = store_name(id.as_str())?;
        let r = self
            .store
            .opened_cluster(v.zone_id.as_str())
            .and_then(|c| c.lock().record(&name).cloned())
            .ok_or_else(|| ControlError::invariant(format!("volume {id} has no storage record")))?;
        Ok(ReplicaSet {
            primary: r.primary.0,
            secondary: r.secondary.0,
            epoch: r.epoch,
            stuck: r.stuck_since_ms.is_some(),
        })
    }

    /// What DescribeVolumeStatus reports of a volume: impaired while its I/O is stalled or
    /// disabled, the two checks, and the potential-data-inconsistency event of a failover.
    pub fn volume_status(&self, id: &VolumeId) -> Result<VolumeStatus, ControlError> {
        let health = self.volume_health(id)?;
        let v = self.volume(id)?;
        let io_enabled = !v.io_disabled();
        // AWS reports io-performance only for the types with provisioned performance (EBS User
        // Guide).
        let io_performance = match health {
            _ if !matches!(v.volume_type, VolumeType::Gp3 | VolumeType::Io1 | VolumeType::Io2) => {
                IoPerformance::NotApplicable
            }
            VolumeHealth::Ok => IoPerformance::Normal,
            VolumeHealth::Stuck => IoPerformance::Stalled,
        };
        Ok(VolumeStatus {
            impaired: health == VolumeHealth::Stuck || !io_enabled,
            io_enabled,
            io_performance,
            event: v.io_event.as_ref().map(|e| IoEventStatus {
                id: e.id.clone(),
                since_ms: e.since_ms,
                enabled_ms: e.enabled_ms,
                stage: match (e.enabled_ms, e.auto_enabled) {
                    (None, _) => IoEventStage::AwaitingEnable,
                    (Some(_), true) => IoEventStage::AutoEnabled,
                    (Some(_), false) => IoEventStage::Enabled,
                },
                instance: v.attachments.first().map(|a| a.instance.clone()),
            }),
        })
    }
}

impl Region {
    /// CreateVolume as one command: in `spec.zone`, unless an outage has cut that zone's control
    /// path (AWS then answers that the service is unavailable there; other zones keep working).
    pub fn create_volume(&self, spec: VolumeSpec, now_ms: u64, dry_run: bool) -> Result<Volume, ControlError> {
        let zone = self.zone_by_name(spec.zone.as_str())?;
        if zone.state == ZoneState::Unavailable {
            return Err(ControlError::Zone(ZoneError::ZoneUnavailable(zone.name.to_string())));
        }
        if !dry_run {
            // The two nodes the replicas may go to must answer.
            self.await_storage(&zone, now_ms, |state| state.draw_nodes(&zone.id, 2))?;
        }
        self.with_state(now_ms, |state| state.create_volume(spec, zone.id, now_ms, dry_run))
    }

    /// ModifyVolume: a bigger size, another type, IOPS or throughput, or Multi-Attach.
    #[allow(clippy::too_many_arguments)]
    pub fn modify_volume(
        &self,
        id: &VolumeId,
        size_gib: Option<u32>,
        volume_type: Option<VolumeType>,
        iops: Option<u32>,
        throughput: Option<u32>,
        multi_attach: Option<bool>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Modification, ControlError> {
        if !dry_run {
            self.await_volume_storage(id, now_ms)?;
        }
        self.with_state(now_ms, |state| {
            state.modify_volume(id, size_gib, volume_type, iops, throughput, multi_attach, now_ms, dry_run)
        })
    }

    /// DeleteVolume.
    pub fn delete_volume(&self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        if !dry_run {
            self.await_volume_storage(id, now_ms)?;
        }
        self.with_state(now_ms, |state| state.delete_volume(id, now_ms, dry_run))
    }

    /// AttachVolume.
    pub fn attach_volume(
        &self,
        id: &VolumeId,
        instance: &InstanceId,
        device: &str,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        if !dry_run {
            self.await_volume_storage(id, now_ms)?;
        }
        self.with_state(now_ms, |state| state.attach_volume(id, instance, device, now_ms, dry_run))
    }

    /// DetachVolume.
    pub fn detach_volume(
        &self,
        id: &VolumeId,
        instance: Option<&InstanceId>,
        device: Option<&str>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        if !dry_run {
            self.await_volume_storage(id, now_ms)?;
        }
        self.with_state(now_ms, |state| state.detach_volume(id, instance, device, now_ms, dry_run))
    }

    /// EnableVolumeIO.
    pub fn enable_volume_io(&self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.enable_volume_io(id, now_ms, dry_run))
    }

    /// ModifyVolumeAttribute (`autoEnableIO`).
    pub fn set_auto_enable_io(
        &self,
        id: &VolumeId,
        value: bool,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.set_auto_enable_io(id, value, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{IoPerformance, VolumeSpec, VolumeState, VolumeType};
    use crate::error::{ControlError, VolumeError};
    use crate::model::instance::{InstanceAttributes, LaunchSpec, LaunchVolume};
    use crate::test_support::TestRegion;

    fn spec(t: &TestRegion, zone: &str, size: Option<u32>, volume_type: VolumeType, iops: Option<u32>) -> VolumeSpec {
        VolumeSpec {
            zone: t.region.zone_by_name(zone).unwrap().name,
            size_gib: size,
            snapshot_id: None,
            volume_type,
            iops,
            throughput: None,
            encrypted: false,
            kms_key_id: None,
            multi_attach: false,
            tags: BTreeMap::new(),
            client_token: None,
        }
    }

    fn create(t: &TestRegion, s: VolumeSpec) -> Result<super::Volume, ControlError> {
        let zone = t.region.zone_by_name(s.zone.as_str()).unwrap().id;
        t.run(|state| state.create_volume(s, zone, t.control.now_ms(), false))
    }

    #[test]
    fn calls_wait_for_a_zone_s_storage_and_time_out_when_it_does_not_answer() {
        use crate::faults::FaultKind;
        let t = TestRegion::with_config(|c| {
            c.storage_wait.hardened = std::time::Duration::from_millis(200);
            c.storage_wait.legacy = std::time::Duration::from_millis(600);
        });
        let us_east_1 = crate::RegionName::parse("us-east-1").unwrap();
        let v = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
        let zone = t.region.zone_by_name("us-east-1a").unwrap().name;
        let nodes = t.control.storage_nodes(&us_east_1, "us-east-1a").unwrap();
        let cut = FaultKind::NetworkPartition { zone, nodes, networks: vec!["primary".into()] };
        let fault = t.control.install_fault(&us_east_1, cut, None).unwrap();
        let started = std::time::Instant::now();
        let err = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, ControlError::Zone(crate::ZoneError::StorageTimeout { .. })), "{err:?}");
        assert!(
            waited >= std::time::Duration::from_millis(200) && waited < std::time::Duration::from_millis(600),
            "{waited:?}"
        );
        let err = t.region.delete_volume(&v.id, t.now(), false).unwrap_err();
        assert!(matches!(err, ControlError::Zone(crate::ZoneError::StorageTimeout { .. })), "{err:?}");
        // Another zone's storage answers at once; so does a dry run.
        t.region.create_volume(t.volume_spec("us-east-1b", 1), t.now(), false).unwrap();
        let dry = t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), true);
        assert_eq!(dry.unwrap_err(), ControlError::DryRun);
        // Legacy waits longer.
        t.control.set_policy(squall_storage::PolicyKind::Legacy).unwrap();
        let started = std::time::Instant::now();
        t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap_err();
        assert!(started.elapsed() >= std::time::Duration::from_millis(600), "{:?}", started.elapsed());
        // Healed: the call goes through.
        t.control.remove_fault(&fault.id).unwrap();
        t.region.create_volume(t.volume_spec("us-east-1a", 1), t.now(), false).unwrap();
    }

    #[test]
    fn volume_sizes_and_iops_follow_the_type_limits() {
        let t = TestRegion::new();
        let too_big = create(&t, spec(&t, "us-east-1a", Some(16_385), VolumeType::Gp3, None));
        assert!(matches!(too_big, Err(ControlError::Volume(VolumeError::InvalidVolumeSize { max_gib: 16_384, .. }))));
        let ratio = create(&t, spec(&t, "us-east-1a", Some(4), VolumeType::Gp3, Some(4_000)));
        assert_eq!(
            ratio.unwrap_err(),
            ControlError::Volume(VolumeError::IopsRatio { iops: 4_000, size_gib: 4, per_gib: 500 })
        );
        let io1 = create(&t, spec(&t, "us-east-1a", Some(10), VolumeType::Io1, None));
        assert_eq!(io1.unwrap_err(), ControlError::Volume(VolumeError::IopsRequired(VolumeType::Io1)));
        let missing = create(&t, spec(&t, "us-east-1a", None, VolumeType::Gp2, None));
        assert_eq!(missing.unwrap_err(), ControlError::Volume(VolumeError::MissingSizeOrSnapshot));
        let gp2 = create(&t, spec(&t, "us-east-1a", Some(100), VolumeType::Gp2, None)).unwrap();
        assert_eq!((gp2.iops, gp2.state), (Some(300), VolumeState::Creating));
    }

    fn launch(t: &TestRegion, sizes: &[u32]) -> Result<(String, Vec<crate::model::instance::Instance>), ControlError> {
        let zone = t.region.zone_by_name("us-east-1a").unwrap();
        let subnet = t.run(|state| Ok(state.default_subnet(&zone.name).cloned())).unwrap().unwrap();
        let volumes = sizes
            .iter()
            .enumerate()
            .map(|(i, &size_gib)| LaunchVolume {
                device: format!("/dev/sd{}", (b'f' + i as u8) as char),
                size_gib,
                volume_type: VolumeType::Gp3,
                iops: None,
                delete_on_termination: true,
                snapshot_id: None,
            })
            .collect();
        let spec = LaunchSpec {
            image_id: "ami-0123456789abcdef0".into(),
            private_ip: None,
            instance_type: "t3.micro".into(),
            zone: zone.name,
            zone_id: zone.id,
            subnet_id: subnet.id,
            security_groups: Vec::new(),
            count: 1,
            key_name: None,
            user_data: None,
            client_token: None,
            attributes: InstanceAttributes::default(),
            tags: BTreeMap::new(),
            volume_tags: BTreeMap::new(),
            volumes,
            primary: crate::network_interfaces::PrimaryInterface::new_default(),
            secondary: Vec::new(),
        };
        t.run(|state| state.run_instances(spec, t.control.now_ms(), false))
    }

    #[test]
    fn a_launch_is_one_command_all_or_nothing() {
        let t = TestRegion::new();
        // The third volume is refused after the first two were made in the block store.
        let failed = launch(&t, &[8, 8, 16_385]);
        assert!(matches!(failed, Err(ControlError::Volume(VolumeError::InvalidVolumeSize { .. }))), "{failed:?}");
        let (volumes, stored) = t
            .run(|state| {
                let stored: usize = state.storage_status().iter().map(|c| c.volumes).sum();
                Ok((state.volumes_after(None, 100, |_| true).0.len(), stored))
            })
            .unwrap();
        assert_eq!((volumes, stored), (0, 0), "volumes of the failed launch remain");
        assert!(t.run(|state| Ok(state.instances_after(None, 10, |_| true).0.is_empty())).unwrap());
        let (_, launched) = launch(&t, &[8, 8]).unwrap();
        let attached = t
            .run(|state| {
                Ok(state.volumes_after(None, 100, |v| v.attachments.iter().any(|a| a.instance == launched[0].id)).0)
            })
            .unwrap();
        assert_eq!(attached.len(), 2);
    }

    #[test]
    fn attach_rules_zone_state_and_device() {
        let t = TestRegion::new();
        let (_, launched) = launch(&t, &[8]).unwrap();
        let instance = launched[0].id.clone();
        let other_zone = create(&t, spec(&t, "us-east-1b", Some(1), VolumeType::Gp3, None)).unwrap();
        let v = create(&t, spec(&t, "us-east-1a", Some(1), VolumeType::Gp3, None)).unwrap();
        let now = t.control.now_ms();
        let creating = t.run(|state| state.attach_volume(&v.id, &instance, "/dev/sdz", now, false));
        assert!(matches!(
            creating,
            Err(ControlError::Volume(VolumeError::IncorrectVolumeState { state: VolumeState::Creating, .. }))
        ));
        // Once available (the lifecycle delay passed), the zone and the device are checked.
        let later = now + 1_000;
        let zone = t
            .region
            .with_state(later, |state| state.attach_volume(&other_zone.id, &instance, "/dev/sdz", later, false));
        assert!(matches!(zone, Err(ControlError::Volume(VolumeError::ZoneMismatch { .. }))));
        let taken = t.region.with_state(later, |state| state.attach_volume(&v.id, &instance, "/dev/sdf", later, false));
        assert!(matches!(taken, Err(ControlError::Volume(VolumeError::DeviceInUse { .. }))));
        t.region.with_state(later, |state| state.attach_volume(&v.id, &instance, "/dev/sdz", later, false)).unwrap();
        let busy = t.region.with_state(later, |state| state.delete_volume(&v.id, later, false));
        assert!(matches!(busy, Err(ControlError::Volume(VolumeError::InUse { .. }))));
    }

    #[test]
    fn a_paused_volume_is_impaired_and_stalled_where_aws_reports_performance() {
        let t = TestRegion::new();
        let gp3 = create(&t, spec(&t, "us-east-1a", Some(1), VolumeType::Gp3, None)).unwrap();
        let gp2 = create(&t, spec(&t, "us-east-1a", Some(1), VolumeType::Gp2, None)).unwrap();
        let ok = t.run(|state| state.volume_status(&gp3.id)).unwrap();
        assert!(!ok.impaired && ok.io_enabled && ok.event.is_none());
        assert_eq!(ok.io_performance, IoPerformance::Normal);
        let now = t.control.now_ms();
        t.run(|state| {
            state.set_paused([gp3.id.clone(), gp2.id.clone()].into_iter().collect(), now);
            Ok(())
        })
        .unwrap();
        let stalled = t.run(|state| state.volume_status(&gp3.id)).unwrap();
        assert!(stalled.impaired && stalled.io_enabled);
        assert_eq!(stalled.io_performance, IoPerformance::Stalled);
        let gp2_status = t.run(|state| state.volume_status(&gp2.id)).unwrap();
        assert!(gp2_status.impaired);
        assert_eq!(gp2_status.io_performance, IoPerformance::NotApplicable);
    }

    #[test]
    fn the_status_counts_volumes_awaiting_enable_io_until_it_is_called() {
        let t = TestRegion::new();
        let v = create(&t, spec(&t, "us-east-1b", Some(1), VolumeType::Gp3, None)).unwrap();
        let disabled = |t: &TestRegion| -> Vec<(String, usize)> {
            let status = t.control.status();
            status["us-east-1"]
                .iter()
                .filter(|z| z.volumes_io_disabled > 0)
                .map(|z| (z.name.clone(), z.volumes_io_disabled))
                .collect()
        };
        assert_eq!(disabled(&t), vec![]);
        // What a failover to the other replica leaves, as notice_failovers records it.
        t.run(|state| {
            let vol = state.volume_mut(&v.id).expect("volume");
            vol.io_event =
                Some(super::IoEvent { id: "evol-1".into(), since_ms: 1, enabled_ms: None, auto_enabled: false });
            Ok(())
        })
        .unwrap();
        assert_eq!(disabled(&t), vec![("us-east-1b".to_string(), 1)]);
        t.run(|state| state.enable_volume_io(&v.id, t.control.now_ms(), false)).unwrap();
        assert_eq!(disabled(&t), vec![], "EnableVolumeIO ends the wait");
    }
}
