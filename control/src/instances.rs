//! EC2 instances as the block store sees them: they run no code, but they are placed in a zone,
//! own real EBS volumes (a root volume and any mapped ones), move through AWS's states by
//! themselves, and are what volumes attach to. They share the region's lock because every
//! instance operation changes volumes too.

use crate::error::{ControlError, ImageError, InstanceError, NetworkError, SecurityGroupError, VolumeError, ZoneError};
use crate::ids::InstanceId;
use crate::model::instance::{
    AttributeChange, Check, Instance, InstanceState, InstanceStatus, LaunchRequest, LaunchSpec, LaunchVolume,
    RequestedMapping, DEFAULT_ROOT_GIB, ROOT_DEVICE,
};
use crate::model::volume::{Attachment, AttachmentState, VolumeHealth, VolumeSpec, VolumeState, VolumeType};
use crate::model::zone::ZoneState;
use crate::network_interfaces::PrimaryInterface;
use crate::region::Region;
use crate::state::RegionState;

impl Region {
    /// RunInstances: one command that validates everything, then makes the instances and their
    /// volumes, and commits once; a launch that fails part-way leaves nothing behind.
    pub fn run_instances(
        &self,
        req: LaunchRequest,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(String, Vec<Instance>), ControlError> {
        let placement = req.placement_zone.as_deref().map(|z| self.zone_by_name(z)).transpose()?;
        let first_zone = self.zones().into_iter().next().ok_or(ControlError::Network(NetworkError::NoDefaultVpc))?;
        if !dry_run {
            // The root volume's replicas need two nodes of the launch zone to answer.
            let subnet_zone = self.read(now_ms, |state| {
                let primary = req.interfaces.iter().find(|n| n.device_index == 0);
                let subnet = req.subnet_id.as_ref().or(primary.and_then(|n| n.subnet_id.as_ref()));
                Ok(subnet.and_then(|id| state.subnet(id).ok()).map(|s| s.zone.clone()))
            })?;
            let name = subnet_zone.or(placement.as_ref().map(|p| p.name.clone())).unwrap_or(first_zone.name.clone());
            if let Ok(zone) = self.zone_by_name(name.as_str()) {
                if zone.state != ZoneState::Unavailable {
                    self.await_storage(&zone, now_ms, |state| state.draw_nodes(&zone.id, 2))?;
                }
            }
        }
        self.with_state(now_ms, |state| {
            let mut req = req.clone();
            let primary = launch_interfaces(state, &mut req)?;
            let image = state.image_volumes(&req.image_id, req.catalogue_root.as_ref(), self.accept_any_image())?;
            let volumes = merge_mappings(&image, &req.mappings)?;
            // The subnet decides the zone; a placement zone must agree with it. Without a subnet,
            // the default subnet of the placement zone (or of the first zone).
            let subnet = match &req.subnet_id {
                Some(id) => {
                    let s = state.subnet(id)?.clone();
                    if let Some(p) = &placement {
                        if p.name != s.zone {
                            return Err(ControlError::Instance(InstanceError::PlacementMismatch {
                                zone: p.name.to_string(),
                                subnet: s.id.clone(),
                                subnet_zone: s.zone.to_string(),
                            }));
                        }
                    }
                    s
                }
                None => {
                    let zone = placement.as_ref().map_or(&first_zone.name, |p| &p.name);
                    state
                        .default_subnet(zone)
                        .cloned()
                        .ok_or(ControlError::Network(NetworkError::NoDefaultSubnet(zone.to_string())))?
                }
            };
            let zone = self.zone_by_name(subnet.zone.as_str())?;
            if zone.state == ZoneState::Unavailable {
                return Err(ControlError::Zone(ZoneError::ZoneUnavailable(zone.name.to_string())));
            }
            let mut groups = req.security_group_ids.clone();
            for name in &req.security_group_names {
                let g = state
                    .security_groups_named(&subnet.vpc_id, name)
                    .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(name.clone())))?;
                groups.push(g);
            }
            let spec = LaunchSpec {
                image_id: req.image_id.clone(),
                instance_type: req.instance_type.clone(),
                zone: subnet.zone.clone(),
                zone_id: zone.id,
                subnet_id: subnet.id.clone(),
                private_ip: req.private_ip.clone(),
                security_groups: groups,
                count: req.count,
                key_name: req.key_name.clone(),
                user_data: req.user_data.clone(),
                client_token: req.client_token.clone(),
                attributes: req.attributes.clone(),
                tags: req.tags.clone(),
                volume_tags: req.volume_tags.clone(),
                volumes,
                primary,
                secondary: req.interfaces.iter().filter(|n| n.device_index != 0).cloned().collect(),
            };
            state.run_instances(spec, now_ms, dry_run)
        })
    }
}

/// A launch's `NetworkInterface.N`: device index 0 decides the subnet, groups and address (an
/// existing interface brings its own); the answer says how the primary interface is made.
fn launch_interfaces(state: &RegionState, req: &mut LaunchRequest) -> Result<PrimaryInterface, ControlError> {
    if req.interfaces.is_empty() {
        return Ok(PrimaryInterface::new_default());
    }
    let invalid = |m: &str| ControlError::Network(NetworkError::InvalidInterfaceRequest(m.to_string()));
    let mut indices = std::collections::BTreeSet::new();
    for n in &req.interfaces {
        if !indices.insert(n.device_index) {
            return Err(invalid("Each network interface requires a unique device index."));
        }
        if n.interface_id.is_some() && req.count > 1 {
            return Err(invalid("A network interface may only be attached to one instance: MaxCount must be 1."));
        }
    }
    let primary = req
        .interfaces
        .iter()
        .find(|n| n.device_index == 0)
        .cloned()
        .ok_or_else(|| invalid("When specifying network interfaces, one must have device index 0."))?;
    match &primary.interface_id {
        Some(id) => {
            let eni = state.network_interface(id)?;
            if eni.attachment.is_some() {
                return Err(ControlError::Network(NetworkError::InterfaceInUse(id.clone())));
            }
            req.subnet_id = Some(eni.subnet_id.clone());
            req.security_group_ids = eni.groups.clone();
            req.private_ip = Some(eni.private_ip.clone());
        }
        None => {
            req.subnet_id = primary.subnet_id.clone();
            req.security_group_ids = primary.groups.clone();
            req.private_ip = primary.private_ip.clone();
        }
    }
    Ok(PrimaryInterface {
        existing: primary.interface_id.clone(),
        description: primary.description.clone(),
        // An interface made by the launch goes with the instance unless told otherwise; an
        // existing one stays unless told otherwise.
        delete_on_termination: primary.delete_on_termination.unwrap_or(primary.interface_id.is_none()),
        ipv6_count: primary.ipv6_count,
    })
}

/// The volumes of a launch: the image's, overridden or extended by the request's mappings.
fn merge_mappings(image: &[LaunchVolume], mappings: &[RequestedMapping]) -> Result<Vec<LaunchVolume>, ControlError> {
    let mut all: Vec<LaunchVolume> = image.to_vec();
    let root_device = image.first().map_or(ROOT_DEVICE, |v| v.device.as_str()).to_string();
    for m in mappings {
        let from_image = all.iter().position(|v| v.device == m.device);
        let base = from_image.map(|p| all[p].clone());
        let volume_type = m.volume_type.or(base.as_ref().map(|b| b.volume_type)).unwrap_or(VolumeType::Gp3);
        let snapshot_id = m.snapshot_id.clone().or_else(|| base.as_ref().and_then(|b| b.snapshot_id.clone()));
        let size_gib = match (m.size_gib, &base) {
            (Some(s), _) => s,
            (None, Some(b)) => b.size_gib,
            // Takes the snapshot's size (run_instances looks it up).
            (None, None) if snapshot_id.is_some() => 0,
            (None, None) => return Err(ControlError::Instance(InstanceError::MappingWithoutSize(m.device.clone()))),
        };
        let volume = LaunchVolume {
            device: m.device.clone(),
            size_gib,
            volume_type,
            iops: m.iops,
            delete_on_termination: m
                .delete_on_termination
                .unwrap_or(base.as_ref().map_or(m.device == root_device, |b| b.delete_on_termination)),
            snapshot_id,
        };
        match from_image {
            Some(p) => all[p] = volume,
            None => all.push(volume),
        }
    }
    Ok(all)
}

impl Region {
    /// ModifyInstanceAttribute: one attribute per call, as AWS takes them.
    pub fn modify_instance_attribute(
        &self,
        id: &InstanceId,
        change: AttributeChange,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.modify_instance_attribute(id, change, dry_run))
    }

    /// StartInstances (`target` pending), StopInstances (stopping) and TerminateInstances
    /// (shutting-down): all the instances or none; (id, previous, current) for each.
    pub fn change_instance_states(
        &self,
        ids: &[InstanceId],
        target: InstanceState,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<(InstanceId, InstanceState, InstanceState)>, ControlError> {
        self.with_state(now_ms, |state| state.change_instance_states(ids, target, now_ms, dry_run))
    }

    /// RebootInstances: a running instance stays running (it runs no code to restart); an
    /// instance on its way out cannot be rebooted.
    pub fn reboot_instances(&self, ids: &[InstanceId], now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.read(now_ms, |state| {
            state.require_instances(ids)?;
            for id in ids {
                let i = state.instance(id)?;
                if matches!(i.state, InstanceState::Terminated | InstanceState::ShuttingDown) {
                    return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                        instance: id.clone(),
                        state: i.state,
                    }));
                }
            }
            if dry_run {
                return Err(ControlError::DryRun);
            }
            Ok(())
        })
    }

    /// DescribeInstanceStatus: the instances after `after` (all, or only running ones), each with
    /// its three checks; and whether more follow.
    pub fn instance_statuses(
        &self,
        ids: &[InstanceId],
        after: Option<&InstanceId>,
        limit: usize,
        include_all: bool,
        now_ms: u64,
    ) -> Result<(Vec<(Instance, InstanceStatus)>, bool), ControlError> {
        let zones = self.zones();
        self.read(now_ms, |state| {
            for id in ids {
                state.instance(id)?;
            }
            // Without IncludeAllInstances only running instances are listed, as on AWS.
            let (list, more) = state.instances_after(after, limit, |i| {
                (ids.is_empty() || ids.contains(&i.id)) && (include_all || i.state == InstanceState::Running)
            });
            let mut out = Vec::new();
            for i in list {
                let zone = zones.iter().find(|z| z.name == i.zone).map_or(ZoneState::Available, |z| z.state);
                let status = state.instance_status(&i, zone, now_ms)?;
                out.push((i, status));
            }
            Ok((out, more))
        })
    }
}

impl RegionState {
    /// The checks of an instance: not applicable unless running; initializing for one lifecycle
    /// step after it starts (squall's stand-in for AWS's few minutes); the host unreachable when
    /// its zone is impaired or out; the instance and its EBS checks failed while a volume
    /// attached to it is stuck.
    pub fn instance_status(&self, i: &Instance, zone: ZoneState, now_ms: u64) -> Result<InstanceStatus, ControlError> {
        let running = i.state == InstanceState::Running;
        let settle_ms = self.delays().volume_create.as_millis() as u64;
        if !running {
            return Ok(InstanceStatus {
                system: Check::NotApplicable,
                instance: Check::NotApplicable,
                ebs: Check::NotApplicable,
            });
        }
        if now_ms < i.state_since_ms.saturating_add(settle_ms) {
            return Ok(InstanceStatus {
                system: Check::Initializing,
                instance: Check::Initializing,
                ebs: Check::Initializing,
            });
        }
        let (attached, _) = self.volumes_after(None, usize::MAX, |v| v.attachments.iter().any(|a| a.instance == i.id));
        let mut stuck = false;
        for v in &attached {
            stuck |= self.volume_health(&v.id)? == VolumeHealth::Stuck;
        }
        let failed = Check::Failed { since_ms: now_ms };
        let ebs = if stuck { failed } else { Check::Passed };
        Ok(if zone != ZoneState::Available {
            InstanceStatus { system: failed, instance: failed, ebs }
        } else {
            InstanceStatus { system: Check::Passed, instance: ebs, ebs }
        })
    }
}

impl RegionState {
    /// The volumes an image brings: its mappings (root first), or a blank 8 GiB root for
    /// catalogue images and — when `accept_any` — for ids squall does not know.
    fn image_volumes(
        &self,
        image_id: &str,
        catalogue_root: Option<&(String, u32)>,
        accept_any: bool,
    ) -> Result<Vec<LaunchVolume>, ControlError> {
        let blank = |device: &str, size_gib: u32| LaunchVolume {
            device: device.to_string(),
            size_gib,
            volume_type: VolumeType::Gp3,
            iops: None,
            delete_on_termination: true,
            snapshot_id: None,
        };
        if let Some((device, size)) = catalogue_root {
            return Ok(vec![blank(device, *size)]);
        }
        match self.image(image_id) {
            Ok(image) => {
                if self.image_state(image) != crate::model::image::ImageState::Available {
                    return Err(ControlError::Image(ImageError::ImageNotAvailable(image_id.to_string())));
                }
                let mut volumes: Vec<LaunchVolume> = image
                    .mappings
                    .iter()
                    .map(|m| LaunchVolume {
                        device: m.device.clone(),
                        size_gib: m.size_gib,
                        volume_type: m.volume_type,
                        iops: None,
                        delete_on_termination: m.delete_on_termination,
                        snapshot_id: m.snapshot_id.clone(),
                    })
                    .collect();
                // The root device first: it names the instance's root.
                volumes.sort_by_key(|v| v.device != image.root_device);
                Ok(volumes)
            }
            Err(e) if !accept_any => Err(e),
            Err(_) => Ok(vec![blank(ROOT_DEVICE, DEFAULT_ROOT_GIB)]),
        }
    }
}

impl RegionState {
    /// Launches `count` instances, each with its volumes created and attached.
    pub(crate) fn run_instances(
        &mut self,
        mut spec: LaunchSpec,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(String, Vec<Instance>), ControlError> {
        // A mapping that names a snapshot but no size takes the snapshot's size.
        for v in &mut spec.volumes {
            if let (0, Some(s)) = (v.size_gib, &v.snapshot_id) {
                v.size_gib = self.snapshot(s)?.volume_size_gib;
            }
        }
        if let Some(token) = &spec.client_token {
            let earlier: Vec<Instance> =
                self.instances_ref().values().filter(|i| i.client_token.as_ref() == Some(token)).cloned().collect();
            if let Some(first) = earlier.first() {
                let same = first.image_id == spec.image_id
                    && first.instance_type == spec.instance_type
                    && first.subnet_id.as_deref() == Some(spec.subnet_id.as_str());
                if !same {
                    return Err(ControlError::IdempotentParameterMismatch(token.clone()));
                }
                let reservation = first.reservation_id.clone();
                let mut earlier = earlier;
                earlier.sort_by_key(|i| i.launch_index);
                return Ok((reservation, earlier));
            }
        }
        for v in &spec.volumes {
            let limits = v.volume_type.limits();
            if v.size_gib < limits.min_gib || v.size_gib > limits.max_gib {
                return Err(ControlError::Volume(VolumeError::InvalidVolumeSize {
                    volume_type: v.volume_type,
                    size_gib: v.size_gib,
                    min_gib: limits.min_gib,
                    max_gib: limits.max_gib,
                }));
            }
            if let Some(s) = &v.snapshot_id {
                let snapshot_gib = self.snapshot(s)?.volume_size_gib;
                if v.size_gib < snapshot_gib {
                    return Err(ControlError::Volume(VolumeError::VolumeSmallerThanSnapshot {
                        size_gib: v.size_gib,
                        snapshot_gib,
                    }));
                }
            }
        }
        let subnet = self.subnet(&spec.subnet_id)?.clone();
        if let Some(key) = &spec.key_name {
            self.key_pair_by_name(key)?;
        }
        let groups = self.groups_for(&subnet, &spec.security_groups)?;
        if self.instances_holding_capacity(&spec.zone).saturating_add(spec.count) > self.instance_capacity() {
            return Err(ControlError::Instance(InstanceError::InsufficientInstanceCapacity {
                instance_type: spec.instance_type.clone(),
                zone: spec.zone.clone(),
            }));
        }
        if subnet.available_addresses() < u64::from(spec.count) {
            return Err(ControlError::Network(NetworkError::InsufficientFreeAddresses(subnet.id.clone())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let reservation_id = self.random_id("r");
        let mut launched = Vec::new();
        for launch_index in 0..spec.count {
            let id = loop {
                let id = InstanceId::generate(self.rng_mut());
                if !self.instances_ref().contains_key(&id) {
                    break id;
                }
            };
            let private_ip = match (&spec.primary.existing, &spec.private_ip) {
                (Some(_), Some(ip)) => ip.clone(),
                (_, Some(ip)) => self.claim_address(&subnet.id, ip)?,
                (_, None) => self.allocate_address(&subnet.id)?,
            };
            for v in &spec.volumes {
                let volume = self.create_volume(
                    VolumeSpec {
                        zone: spec.zone.clone(),
                        size_gib: Some(v.size_gib),
                        snapshot_id: v.snapshot_id.clone(),
                        volume_type: v.volume_type,
                        iops: v.iops,
                        throughput: None,
                        encrypted: false,
                        kms_key_id: None,
                        multi_attach: false,
                        tags: spec.volume_tags.clone(),
                        client_token: None,
                    },
                    spec.zone_id.clone(),
                    now_ms,
                    false,
                )?;
                self.attach_at_launch(&volume.id, &id, &v.device, v.delete_on_termination, now_ms);
            }
            let instance = Instance {
                id: id.clone(),
                reservation_id: reservation_id.clone(),
                image_id: spec.image_id.clone(),
                instance_type: spec.instance_type.clone(),
                zone: spec.zone.clone(),
                zone_id: spec.zone_id.clone(),
                private_ip,
                state: InstanceState::Pending,
                state_since_ms: now_ms,
                launch_time_ms: now_ms,
                launch_index,
                key_name: spec.key_name.clone(),
                tags: spec.tags.clone(),
                user_transition_ms: None,
                state_reason: None,
                root_device: spec.volumes.first().map(|v| v.device.clone()).unwrap_or_else(|| "/dev/xvda".to_string()),
                subnet_id: Some(subnet.id.clone()),
                vpc_id: Some(subnet.vpc_id.clone()),
                security_groups: groups.clone(),
                user_data: spec.user_data.clone(),
                client_token: spec.client_token.clone(),
                attributes: spec.attributes.clone(),
                public_ip: None,
            };
            self.instances_mut().insert(id.clone(), instance);
            self.attach_primary_interface(&id, spec.primary.clone(), now_ms)?;
            for n in &spec.secondary {
                self.attach_secondary_interface(&id, &subnet, n, now_ms)?;
            }
            self.public_ip_on_transition(&id, InstanceState::Pending);
            let instance = self.instances_ref().get(&id).cloned().ok_or_else(|| ControlError::invariant("launched"))?;
            launched.push(instance);
        }
        Ok((reservation_id, launched))
    }

    /// Changes one attribute. Type, user data and EBS optimization change only while stopped.
    pub(crate) fn modify_instance_attribute(
        &mut self,
        id: &InstanceId,
        change: AttributeChange,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        let i = self.instance(id)?.clone();
        let needs_stopped = matches!(
            change,
            AttributeChange::InstanceType(_) | AttributeChange::UserData(_) | AttributeChange::EbsOptimized(_)
        );
        if needs_stopped && i.state != InstanceState::Stopped {
            return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                instance: id.clone(),
                state: i.state,
            }));
        }
        if let AttributeChange::CpuCredits(c) = &change {
            if crate::model::instance::default_cpu_credits(&i.instance_type).is_none() {
                return Err(ControlError::Instance(InstanceError::NotBurstable(id.clone())));
            }
            if c != "standard" && c != "unlimited" {
                return Err(ControlError::Instance(InstanceError::InvalidCpuCredits(c.clone())));
            }
        }
        if matches!(
            change,
            AttributeChange::Monitoring(_) | AttributeChange::Metadata(_) | AttributeChange::CpuCredits(_)
        ) && matches!(i.state, InstanceState::ShuttingDown | InstanceState::Terminated)
        {
            return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                instance: id.clone(),
                state: i.state,
            }));
        }
        if let AttributeChange::Groups(groups) = &change {
            for g in groups {
                let group = self
                    .security_groups_ref()
                    .get(g)
                    .ok_or_else(|| ControlError::SecurityGroup(SecurityGroupError::NotFound(g.clone())))?;
                if Some(&group.vpc_id) != i.vpc_id.as_ref() {
                    return Err(ControlError::Network(NetworkError::GroupSubnetMismatch {
                        group: g.clone(),
                        subnet: i.subnet_id.clone().unwrap_or_default(),
                    }));
                }
            }
        }
        if let AttributeChange::DeleteOnTermination { device, .. } = &change {
            let attached = self
                .volumes_after(None, usize::MAX, |v| {
                    v.attachments.iter().any(|a| a.instance == *id && a.device == *device)
                })
                .0;
            if attached.is_empty() {
                return Err(ControlError::Instance(InstanceError::NoDevice {
                    instance: id.clone(),
                    device: device.clone(),
                }));
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let AttributeChange::DeleteOnTermination { device, value } = &change {
            self.set_delete_on_termination(id, device, *value);
            return Ok(());
        }
        // Groups and the source/destination check are the primary interface's too.
        let key = id.to_string();
        let primary = |n: &crate::model::network::NetworkInterface| {
            n.attachment.as_ref().is_some_and(|a| a.instance_id == key && a.device_index == 0)
        };
        match &change {
            AttributeChange::Groups(g) => self.network_interfaces.update_where(primary, |n| n.groups = g.clone()),
            AttributeChange::SourceDestCheck(v) => {
                self.network_interfaces.update_where(primary, |n| n.source_dest_check = *v)
            }
            _ => {}
        }
        let Some(i) = self.instances_mut().get_mut(id) else {
            return Err(ControlError::Instance(InstanceError::NotFound(id.clone())));
        };
        match change {
            AttributeChange::InstanceType(t) => i.instance_type = t,
            AttributeChange::UserData(d) => i.user_data = d,
            AttributeChange::Groups(g) => i.security_groups = g,
            AttributeChange::DisableApiTermination(v) => i.attributes.disable_api_termination = v,
            AttributeChange::DisableApiStop(v) => i.attributes.disable_api_stop = v,
            AttributeChange::ShutdownTerminates(v) => i.attributes.shutdown_terminates = v,
            AttributeChange::SourceDestCheck(v) => i.attributes.source_dest_check = v,
            AttributeChange::EbsOptimized(v) => i.attributes.ebs_optimized = v,
            AttributeChange::Monitoring(v) => i.attributes.monitoring = v,
            AttributeChange::Metadata(m) => i.attributes.metadata = m,
            AttributeChange::CpuCredits(c) => i.attributes.cpu_credits = Some(c),
            AttributeChange::DeleteOnTermination { .. } => {}
        }
        Ok(())
    }

    fn attach_at_launch(
        &mut self,
        volume: &crate::VolumeId,
        instance: &InstanceId,
        device: &str,
        delete_on_termination: bool,
        now_ms: u64,
    ) {
        if let Some(v) = self.volume_mut(volume) {
            v.state = VolumeState::InUse;
            v.state_since_ms = now_ms;
            v.attachments.push(Attachment {
                instance: instance.clone(),
                device: device.to_string(),
                state: AttachmentState::Attached,
                since_ms: now_ms,
                attach_time_ms: now_ms,
                delete_on_termination,
            });
        }
    }

    /// Whether every id names an instance; the unknown ones all at once, in request order, as
    /// AWS lists them (`The instance IDs 'i-a, i-b' do not exist`).
    pub fn require_instances(&self, ids: &[InstanceId]) -> Result<(), ControlError> {
        let mut missing: Vec<InstanceId> = Vec::new();
        for id in ids {
            if self.instances_ref().get(id).is_none() && !missing.contains(id) {
                missing.push(id.clone());
            }
        }
        match missing.len() {
            0 => Ok(()),
            1 => Err(ControlError::Instance(InstanceError::NotFound(missing.remove(0)))),
            _ => Err(ControlError::Instance(InstanceError::NotFoundMany(missing))),
        }
    }

    pub fn instance(&self, id: &InstanceId) -> Result<&Instance, ControlError> {
        self.instances_ref().get(id).ok_or_else(|| ControlError::Instance(InstanceError::NotFound(id.clone())))
    }

    pub fn instances_after(
        &self,
        after: Option<&InstanceId>,
        limit: usize,
        keep: impl Fn(&Instance) -> bool,
    ) -> (Vec<Instance>, bool) {
        self.instances_ref().page_after(after, limit, keep)
    }

    /// Moves each instance to `target` (stopping, shutting-down or pending) if its state allows;
    /// returns (id, previous, current) for each.
    pub(crate) fn change_instance_states(
        &mut self,
        ids: &[InstanceId],
        target: InstanceState,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Vec<(InstanceId, InstanceState, InstanceState)>, ControlError> {
        self.require_instances(ids)?;
        // EC2 answers a dry run once the ids resolve, before it looks at their states.
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for id in ids {
            let i = self.instance(id)?;
            let allowed = match target {
                InstanceState::Stopping => matches!(
                    i.state,
                    InstanceState::Pending | InstanceState::Running | InstanceState::Stopping | InstanceState::Stopped
                ),
                InstanceState::Pending => {
                    matches!(i.state, InstanceState::Stopped | InstanceState::Pending | InstanceState::Running)
                }
                _ => true,
            };
            if !allowed {
                return Err(ControlError::Instance(InstanceError::IncorrectInstanceState {
                    instance: id.clone(),
                    state: i.state,
                }));
            }
            if target == InstanceState::Pending && i.state == InstanceState::Stopped {
                let starting_here = ids
                    .iter()
                    .filter_map(|id| self.instances_ref().get(id))
                    .filter(|o| o.zone == i.zone && o.state == InstanceState::Stopped)
                    .count() as u32;
                if self.instances_holding_capacity(&i.zone).saturating_add(starting_here) > self.instance_capacity() {
                    return Err(ControlError::Instance(InstanceError::InsufficientInstanceCapacity {
                        instance_type: i.instance_type.clone(),
                        zone: i.zone.clone(),
                    }));
                }
            }
            if target == InstanceState::ShuttingDown && i.attributes.disable_api_termination {
                return Err(ControlError::Instance(InstanceError::TerminationProtected(id.clone())));
            }
            if target == InstanceState::Stopping && i.attributes.disable_api_stop {
                return Err(ControlError::Instance(InstanceError::StopProtected(id.clone())));
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let Some(i) = self.instances_mut().get_mut(id) else { continue };
            let previous = i.state;
            let next = match (target, previous) {
                // Already there or on the way: AWS answers with the state it is in.
                (InstanceState::Stopping, InstanceState::Stopped | InstanceState::Stopping) => previous,
                (InstanceState::Pending, InstanceState::Running | InstanceState::Pending) => previous,
                (InstanceState::ShuttingDown, InstanceState::Terminated | InstanceState::ShuttingDown) => previous,
                (t, _) => t,
            };
            if next != previous {
                i.state = next;
                i.state_since_ms = now_ms;
                i.user_transition_ms = match next {
                    InstanceState::Pending => None,
                    _ => Some(now_ms),
                };
                i.state_reason = match next {
                    InstanceState::Stopping | InstanceState::ShuttingDown => Some((
                        "Client.UserInitiatedShutdown".to_string(),
                        "Client.UserInitiatedShutdown: User initiated shutdown".to_string(),
                    )),
                    _ => None,
                };
            }
            if next != previous {
                self.public_ip_on_transition(id, next);
            }
            out.push((id.clone(), previous, next));
        }
        Ok(out)
    }

    /// Advances instance states; a terminated instance lets go of its volumes (deleting those
    /// marked delete-on-termination) and disappears after an hour.
    pub(crate) fn settle_instances(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let delay = self.delays().volume_create.as_millis() as u64;
        let mut terminated = Vec::new();
        let mut gone = Vec::new();
        for id in self.due_instances(now_ms) {
            let Some(i) = self.instances_mut().get_mut(&id) else { continue };
            let next = match i.state {
                InstanceState::Pending => Some(InstanceState::Running),
                InstanceState::Stopping => Some(InstanceState::Stopped),
                InstanceState::ShuttingDown => Some(InstanceState::Terminated),
                InstanceState::Terminated => {
                    gone.push(i.id.clone());
                    None
                }
                _ => None,
            };
            if let Some(next) = next {
                i.state = next;
                // The transition happened when it fell due, not when someone looked.
                i.state_since_ms += delay;
                if next == InstanceState::Terminated {
                    terminated.push(i.id.clone());
                }
            }
        }
        for id in terminated {
            self.release_volumes_of(&id, now_ms);
            self.release_interfaces_of(&id);
        }
        for id in gone {
            self.instances_mut().remove(&id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::error::{ControlError, InstanceError};
    use crate::model::instance::{AttributeChange, Check, InstanceState, InstanceStatus};
    use crate::model::volume::VolumeState;
    use crate::test_support::TestRegion;

    #[test]
    fn a_launch_makes_its_volumes_and_attaches_them() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1b", &[5]).unwrap();
        assert_eq!((i.state, i.zone.as_str()), (InstanceState::Pending, "us-east-1b"));
        let volumes = t
            .region
            .read(t.now(), |s| Ok(s.volumes_after(None, 100, |v| v.attachments.iter().any(|a| a.instance == i.id)).0))
            .unwrap();
        let mut sizes: Vec<u32> = volumes.iter().map(|v| v.size_gib).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [5, 8], "the 8 GiB root and the mapped volume");
        assert!(volumes.iter().all(|v| v.state == VolumeState::InUse && v.zone == i.zone));
    }

    #[test]
    fn protection_attributes_and_states_refuse_what_aws_refuses() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1a", &[]).unwrap();
        t.advance(300);
        let stop = |t: &TestRegion| {
            t.region.change_instance_states(std::slice::from_ref(&i.id), InstanceState::Stopping, t.now(), false)
        };
        t.region.modify_instance_attribute(&i.id, AttributeChange::DisableApiStop(true), t.now(), false).unwrap();
        assert_eq!(stop(&t).unwrap_err(), ControlError::Instance(InstanceError::StopProtected(i.id.clone())));
        // Changing the type needs a stopped instance.
        let resize =
            t.region.modify_instance_attribute(&i.id, AttributeChange::InstanceType("m5.large".into()), t.now(), false);
        assert!(matches!(resize, Err(ControlError::Instance(InstanceError::IncorrectInstanceState { .. }))));
        t.region.modify_instance_attribute(&i.id, AttributeChange::DisableApiStop(false), t.now(), false).unwrap();
        let changes = stop(&t).unwrap();
        assert_eq!(changes, vec![(i.id.clone(), InstanceState::Running, InstanceState::Stopping)]);
        t.region
            .change_instance_states(std::slice::from_ref(&i.id), InstanceState::ShuttingDown, t.now(), false)
            .unwrap();
        let reboot = t.region.reboot_instances(std::slice::from_ref(&i.id), t.now(), false).unwrap_err();
        assert!(matches!(reboot, ControlError::Instance(InstanceError::IncorrectInstanceState { .. })));
    }

    #[test]
    fn status_checks_go_from_initializing_to_passed_and_fail_while_a_volume_is_stuck() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1a", &[1]).unwrap();
        let status = |t: &TestRegion| t.region.instance_statuses(&[], None, 100, true, t.now()).unwrap().0[0].1;
        let all = |c| InstanceStatus { system: c, instance: c, ebs: c };
        assert_eq!(status(&t), all(Check::NotApplicable), "pending");
        t.advance(300);
        assert_eq!(status(&t), all(Check::Initializing), "just running");
        t.advance(300);
        assert_eq!(status(&t), all(Check::Passed));
        let only_running = t.region.instance_statuses(&[], None, 100, false, t.now()).unwrap().0;
        assert_eq!(only_running.len(), 1);
        // Pausing the data volume's I/O leaves it without a working primary: stuck.
        let data = t
            .region
            .read(t.now(), |s| {
                Ok(s.volumes_after(None, 100, |v| {
                    v.attachments.iter().any(|a| a.instance == i.id && a.device == "/dev/sdf")
                })
                .0)
            })
            .unwrap();
        let now = t.now();
        t.region
            .with_state(now, |s| {
                s.set_paused(BTreeSet::from([data[0].id.clone()]), now);
                Ok(())
            })
            .unwrap();
        let failed = Check::Failed { since_ms: t.now() };
        assert_eq!(status(&t), InstanceStatus { system: Check::Passed, instance: failed, ebs: failed });
    }
}
