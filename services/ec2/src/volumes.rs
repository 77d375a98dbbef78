//! EBS volumes: `CreateVolume`, `DeleteVolume`, `DescribeVolumes`, `ModifyVolume`,
//! `DescribeVolumesModifications`, `AttachVolume`, `DetachVolume`, `DescribeVolumeStatus`,
//! `EnableVolumeIO`, `ModifyVolumeAttribute`, `DescribeVolumeAttribute`.

use squall_control::model::volume::{
    self as vols, AttachmentState, ModificationState, VolumeSpec, VolumeState as State,
};
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{after_token, instance_id, page_size, region, tags_for, timestamp, volume_id, wire_tags};
use crate::generated::{
    AttachVolumeRequest, AttributeBooleanValue, CreateVolumeRequest, DeleteVolumeRequest,
    DescribeVolumeAttributeRequest, DescribeVolumeAttributeResult, DescribeVolumeStatusRequest,
    DescribeVolumeStatusResult, DescribeVolumesModificationsRequest, DescribeVolumesModificationsResult,
    DescribeVolumesRequest, DescribeVolumesResult, DetachVolumeRequest, EnableVolumeIORequest,
    ModifyVolumeAttributeRequest, ModifyVolumeRequest, ModifyVolumeResult, ResourceType, Volume, VolumeAttachment,
    VolumeAttachmentState, VolumeAttributeName, VolumeModification, VolumeModificationState, VolumeState,
    VolumeStatusAction, VolumeStatusDetails, VolumeStatusEvent, VolumeStatusInfo, VolumeStatusInfoStatus,
    VolumeStatusItem, VolumeStatusName, VolumeType,
};
use crate::{check_dry_run, control_error, filter};

const VOLUME_FILTERS: &[&str] = &[
    "attachment.attach-time",
    "attachment.delete-on-termination",
    "attachment.device",
    "attachment.instance-id",
    "attachment.status",
    "availability-zone",
    "availability-zone-id",
    "create-time",
    "encrypted",
    "fast-restored",
    "multi-attach-enabled",
    "operator.managed",
    "operator.principal",
    "size",
    "snapshot-id",
    "status",
    "tag-key",
    "tag-value",
    "tag:*",
    "volume-id",
    "volume-type",
];

const STATUS_FILTERS: &[&str] =
    &["availability-zone", "volume-status.status", "volume-status.details-name", "volume-status.details-status"];

pub(crate) fn to_control_type(t: VolumeType) -> Result<vols::VolumeType, ApiError> {
    Ok(match t {
        VolumeType::Gp2 => vols::VolumeType::Gp2,
        VolumeType::Gp3 => vols::VolumeType::Gp3,
        VolumeType::Io1 => vols::VolumeType::Io1,
        VolumeType::Io2 => vols::VolumeType::Io2,
        VolumeType::St1 => vols::VolumeType::St1,
        VolumeType::Sc1 => vols::VolumeType::Sc1,
        VolumeType::Standard => vols::VolumeType::Standard,
    })
}

pub(crate) fn to_wire_type(t: vols::VolumeType) -> VolumeType {
    match t {
        vols::VolumeType::Gp2 => VolumeType::Gp2,
        vols::VolumeType::Gp3 => VolumeType::Gp3,
        vols::VolumeType::Io1 => VolumeType::Io1,
        vols::VolumeType::Io2 => VolumeType::Io2,
        vols::VolumeType::St1 => VolumeType::St1,
        vols::VolumeType::Sc1 => VolumeType::Sc1,
        vols::VolumeType::Standard => VolumeType::Standard,
    }
}

fn wire_state(s: State) -> VolumeState {
    match s {
        State::Creating => VolumeState::Creating,
        State::Available => VolumeState::Available,
        State::InUse => VolumeState::InUse,
        State::Deleting => VolumeState::Deleting,
    }
}

fn wire_attachment_state(s: AttachmentState) -> VolumeAttachmentState {
    match s {
        AttachmentState::Attaching => VolumeAttachmentState::Attaching,
        AttachmentState::Attached => VolumeAttachmentState::Attached,
        AttachmentState::Detaching => VolumeAttachmentState::Detaching,
    }
}

fn wire_attachment(volume: &squall_control::VolumeId, a: &vols::Attachment) -> VolumeAttachment {
    VolumeAttachment {
        volume_id: Some(volume.to_string()),
        instance_id: Some(a.instance.to_string()),
        device: Some(a.device.clone()),
        state: Some(wire_attachment_state(a.state)),
        attach_time: Some(timestamp(a.attach_time_ms)),
        delete_on_termination: Some(a.delete_on_termination),
        ..Default::default()
    }
}

fn wire_volume(v: &vols::Volume, account: &str, region: &str) -> Volume {
    Volume {
        volume_id: Some(v.id.to_string()),
        size: Some(v.size_gib as i32),
        snapshot_id: Some(v.snapshot_id.as_ref().map(ToString::to_string).unwrap_or_default()),
        availability_zone: Some(v.zone.to_string()),
        availability_zone_id: Some(v.zone_id.to_string()),
        state: Some(wire_state(v.state)),
        create_time: Some(timestamp(v.create_time_ms)),
        attachments: Some(v.attachments.iter().map(|a| wire_attachment(&v.id, a)).collect()),
        encrypted: Some(v.encrypted),
        kms_key_id: v.kms_key_id.clone(),
        volume_type: Some(to_wire_type(v.volume_type)),
        iops: v.iops.map(|i| i as i32),
        throughput: v.throughput.map(|t| t as i32),
        multi_attach_enabled: Some(v.multi_attach),
        tags: (!v.tags.is_empty()).then(|| wire_tags(&v.tags)),
        fast_restored: Some(false),
        volume_arn: Some(format!("arn:aws:ec2:{region}:{account}:volume/{}", v.id)),
        owner_id: None,
        ..Default::default()
    }
}

fn volume_filter_values(v: &vols::Volume, name: &str) -> Vec<String> {
    let attachments = |f: &dyn Fn(&vols::Attachment) -> String| v.attachments.iter().map(f).collect::<Vec<_>>();
    match name {
        "attachment.attach-time" => attachments(&|a| timestamp(a.attach_time_ms).to_string()),
        "attachment.delete-on-termination" => attachments(&|a| a.delete_on_termination.to_string()),
        "attachment.device" => attachments(&|a| a.device.clone()),
        "attachment.instance-id" => attachments(&|a| a.instance.to_string()),
        "attachment.status" => attachments(&|a| wire_attachment_state(a.state).as_str().to_string()),
        "availability-zone" => vec![v.zone.to_string()],
        "availability-zone-id" => vec![v.zone_id.to_string()],
        "create-time" => vec![timestamp(v.create_time_ms).to_string()],
        "encrypted" => vec![v.encrypted.to_string()],
        "fast-restored" => vec!["false".to_string()],
        // No volume is managed by a service operator here.
        "operator.managed" => vec!["false".to_string()],
        "operator.principal" => Vec::new(),
        "multi-attach-enabled" => vec![v.multi_attach.to_string()],
        "size" => vec![v.size_gib.to_string()],
        "snapshot-id" => v.snapshot_id.iter().map(ToString::to_string).collect(),
        "status" => vec![wire_state(v.state).as_str().to_string()],
        "volume-id" => vec![v.id.to_string()],
        "volume-type" => vec![to_wire_type(v.volume_type).as_str().to_string()],
        other => filter::tag_values(&v.tags, other),
    }
}

fn non_negative(value: Option<i32>, name: &str) -> Result<Option<u32>, ApiError> {
    value.map(|v| u32::try_from(v).map_err(|_| ApiError::invalid_value(name, &v.to_string()))).transpose()
}

pub(crate) fn create_volume(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateVolumeRequest,
) -> Result<Volume, ApiError> {
    let region = region(control, ctx)?;
    let zone = match (&r.availability_zone, &r.availability_zone_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "Only one of AvailabilityZone or AvailabilityZoneId can be specified",
            ))
        }
        (Some(name), None) => region.zone_by_name(name).map_err(control_error)?,
        (None, Some(id)) => region.zone_by_id(id).map_err(control_error)?,
        (None, None) => return Err(ApiError::missing_parameter("AvailabilityZone")),
    };
    // A snapshot of another account makes a volume only when shared with the caller's.
    if let Some(s) = r.snapshot_id.as_deref() {
        crate::snapshots::visible_snapshot(control, ctx, &crate::common::snapshot_id(s)?)?;
    }
    let spec = VolumeSpec {
        zone: zone.name.clone(),
        size_gib: non_negative(r.size, "Size")?,
        snapshot_id: r.snapshot_id.as_deref().map(crate::common::snapshot_id).transpose()?,
        volume_type: to_control_type(r.volume_type.unwrap_or(VolumeType::Gp2))?,
        iops: non_negative(r.iops, "Iops")?,
        throughput: non_negative(r.throughput, "Throughput")?,
        encrypted: r.encrypted.unwrap_or(false),
        kms_key_id: r.kms_key_id.clone(),
        multi_attach: r.multi_attach_enabled.unwrap_or(false),
        tags: tags_for(r.tag_specifications.as_deref(), ResourceType::Volume)?,
        client_token: r.client_token.clone(),
    };
    let now = control.now_ms();
    let dry_run = r.dry_run == Some(true);
    let volume = region.create_volume(spec, now, dry_run).map_err(control_error)?;
    Ok(wire_volume(&volume, &ctx.account_id, &ctx.region))
}

pub(crate) fn delete_volume(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteVolumeRequest,
) -> Result<(), ApiError> {
    let id = volume_id(&r.volume_id)?;
    let now = control.now_ms();
    region(control, ctx)?.delete_volume(&id, now, r.dry_run == Some(true)).map_err(control_error)
}

pub(crate) fn describe_volumes(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVolumesRequest,
) -> Result<DescribeVolumesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, VOLUME_FILTERS)?;
    let ids = r.volume_ids.unwrap_or_default().iter().map(|s| volume_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 5, 500)?;
    if limit.is_some() && !ids.is_empty() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter volumeSet cannot be used with the parameter maxResults",
        ));
    }
    let after = after_token(r.next_token.as_deref(), volume_id)?;
    let now = control.now_ms();
    let (volumes, more) = region(control, ctx)?
        .read(now, |state| {
            for id in &ids {
                state.volume(id)?;
            }
            Ok(state.volumes_after(after.as_ref(), limit.unwrap_or(usize::MAX), |v| {
                (ids.is_empty() || ids.contains(&v.id))
                    && filter::matches(&filters, |name| volume_filter_values(v, name))
            }))
        })
        .map_err(control_error)?;
    let next_token = if more { volumes.last().map(|v| v.id.to_string()) } else { None };
    Ok(DescribeVolumesResult {
        volumes: Some(volumes.iter().map(|v| wire_volume(v, &ctx.account_id, &ctx.region)).collect()),
        next_token,
    })
}

fn wire_modification_state(s: ModificationState) -> VolumeModificationState {
    match s {
        ModificationState::Modifying => VolumeModificationState::Modifying,
        ModificationState::Optimizing => VolumeModificationState::Optimizing,
        ModificationState::Completed => VolumeModificationState::Completed,
    }
}

fn wire_modification(volume: &squall_control::VolumeId, m: &vols::Modification) -> VolumeModification {
    VolumeModification {
        volume_id: Some(volume.to_string()),
        modification_state: Some(wire_modification_state(m.state)),
        target_size: Some(m.target.size_gib as i32),
        target_iops: m.target.iops.map(|i| i as i32),
        target_volume_type: Some(to_wire_type(m.target.volume_type)),
        target_throughput: m.target.throughput.map(|t| t as i32),
        target_multi_attach_enabled: Some(m.target.multi_attach),
        original_size: Some(m.original.size_gib as i32),
        original_iops: m.original.iops.map(|i| i as i32),
        original_volume_type: Some(to_wire_type(m.original.volume_type)),
        original_throughput: m.original.throughput.map(|t| t as i32),
        original_multi_attach_enabled: Some(m.original.multi_attach),
        progress: Some(match m.state {
            ModificationState::Modifying => 0,
            ModificationState::Optimizing => 50,
            ModificationState::Completed => 100,
        }),
        start_time: Some(timestamp(m.start_ms)),
        end_time: m.end_ms.map(timestamp),
        ..Default::default()
    }
}

pub(crate) fn modify_volume(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyVolumeRequest,
) -> Result<ModifyVolumeResult, ApiError> {
    let id = volume_id(&r.volume_id)?;
    let volume_type = r.volume_type.map(to_control_type).transpose()?;
    let size = non_negative(r.size, "Size")?;
    let iops = non_negative(r.iops, "Iops")?;
    let throughput = non_negative(r.throughput, "Throughput")?;
    let now = control.now_ms();
    let m = region(control, ctx)?
        .modify_volume(&id, size, volume_type, iops, throughput, r.multi_attach_enabled, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(ModifyVolumeResult { volume_modification: Some(wire_modification(&id, &m)) })
}

pub(crate) fn describe_volumes_modifications(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVolumesModificationsRequest,
) -> Result<DescribeVolumesModificationsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(
        &filters,
        &[
            "modification-state",
            "original-size",
            "original-volume-type",
            "start-time",
            "target-size",
            "target-volume-type",
            "volume-id",
        ],
    )?;
    let ids = r.volume_ids.unwrap_or_default().iter().map(|s| volume_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 1, 500)?.unwrap_or(500);
    let after = after_token(r.next_token.as_deref(), volume_id)?;
    let now = control.now_ms();
    let (volumes, more) = region(control, ctx)?
        .read(now, |state| {
            for id in &ids {
                state.volume(id)?;
            }
            Ok(state.volumes_after(after.as_ref(), limit, |v| {
                let Some(m) = &v.modification else {
                    return false;
                };
                (ids.is_empty() || ids.contains(&v.id))
                    && filter::matches(&filters, |name| match name {
                        "modification-state" => {
                            vec![wire_modification_state(m.state).as_str().to_string()]
                        }
                        "original-size" => vec![m.original.size_gib.to_string()],
                        "original-volume-type" => {
                            vec![to_wire_type(m.original.volume_type).as_str().to_string()]
                        }
                        "start-time" => vec![timestamp(m.start_ms).to_string()],
                        "target-size" => vec![m.target.size_gib.to_string()],
                        "target-volume-type" => {
                            vec![to_wire_type(m.target.volume_type).as_str().to_string()]
                        }
                        "volume-id" => vec![v.id.to_string()],
                        _ => vec![],
                    })
            }))
        })
        .map_err(control_error)?;
    let next_token = if more { volumes.last().map(|v| v.id.to_string()) } else { None };
    Ok(DescribeVolumesModificationsResult {
        volumes_modifications: Some(
            volumes.iter().filter_map(|v| v.modification.as_ref().map(|m| wire_modification(&v.id, m))).collect(),
        ),
        next_token,
    })
}

pub(crate) fn attach_volume(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AttachVolumeRequest,
) -> Result<VolumeAttachment, ApiError> {
    let id = volume_id(&r.volume_id)?;
    let instance = instance_id(&r.instance_id)?;
    let now = control.now_ms();
    let a = region(control, ctx)?
        .attach_volume(&id, &instance, &r.device, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(wire_attachment(&id, &a))
}

pub(crate) fn detach_volume(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DetachVolumeRequest,
) -> Result<VolumeAttachment, ApiError> {
    let id = volume_id(&r.volume_id)?;
    let instance = r.instance_id.as_deref().map(instance_id).transpose()?;
    let now = control.now_ms();
    let a = region(control, ctx)?
        .detach_volume(&id, instance.as_ref(), r.device.as_deref(), now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(wire_attachment(&id, &a))
}

/// A volume's status in DescribeVolumeStatus's shape (the control plane decides it).
fn status_item(v: &vols::Volume, st: &vols::VolumeStatus) -> VolumeStatusItem {
    let performance = match st.io_performance {
        vols::IoPerformance::Normal => "normal",
        vols::IoPerformance::Stalled => "stalled",
        vols::IoPerformance::NotApplicable => "not-applicable",
    };
    let status = if st.impaired { VolumeStatusInfoStatus::Impaired } else { VolumeStatusInfoStatus::Ok };
    let io_disabled = !st.io_enabled;
    // The potential-data-inconsistency event, with AWS's descriptions for each stage.
    let events: Vec<VolumeStatusEvent> = st
        .event
        .iter()
        .map(|e| VolumeStatusEvent {
            event_id: Some(e.id.clone()),
            event_type: Some("potential-data-inconsistency".to_string()),
            description: Some(
                match e.stage {
                    vols::IoEventStage::AwaitingEnable => "Awaiting Action: Enable IO",
                    vols::IoEventStage::AutoEnabled => "IO Auto-Enabled",
                    vols::IoEventStage::Enabled => "IO Enabled",
                }
                .to_string(),
            ),
            not_before: Some(timestamp(e.since_ms)),
            not_after: e.enabled_ms.map(timestamp),
            instance_id: e.instance.as_ref().map(ToString::to_string),
        })
        .collect();
    let actions: Vec<VolumeStatusAction> = st
        .event
        .iter()
        .filter(|e| e.stage == vols::IoEventStage::AwaitingEnable)
        .map(|e| VolumeStatusAction {
            code: Some("enable-volume-io".to_string()),
            event_id: Some(e.id.clone()),
            event_type: Some("potential-data-inconsistency".to_string()),
            description: Some("Enable IO".to_string()),
        })
        .collect();
    VolumeStatusItem {
        volume_id: Some(v.id.to_string()),
        availability_zone: Some(v.zone.to_string()),
        availability_zone_id: Some(v.zone_id.to_string()),
        volume_status: Some(VolumeStatusInfo {
            status: Some(status),
            details: Some(vec![
                VolumeStatusDetails {
                    name: Some(VolumeStatusName::IoEnabled),
                    status: Some(if io_disabled { "failed" } else { "passed" }.to_string()),
                },
                VolumeStatusDetails {
                    name: Some(VolumeStatusName::IoPerformance),
                    status: Some(performance.to_string()),
                },
            ]),
        }),
        events: Some(events),
        actions: Some(actions),
        attachment_statuses: Some(
            v.attachments
                .iter()
                .map(|a| crate::generated::VolumeStatusAttachmentStatus {
                    instance_id: Some(a.instance.to_string()),
                    io_performance: Some(performance.to_string()),
                })
                .collect(),
        ),
        ..Default::default()
    }
}

pub(crate) fn describe_volume_status(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVolumeStatusRequest,
) -> Result<DescribeVolumeStatusResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, STATUS_FILTERS)?;
    let ids = r.volume_ids.unwrap_or_default().iter().map(|s| volume_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 5, 1000)?;
    if limit.is_some() && !ids.is_empty() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter volumeSet cannot be used with the parameter maxResults",
        ));
    }
    let after = after_token(r.next_token.as_deref(), volume_id)?;
    let now = control.now_ms();
    let (items, last, more) = region(control, ctx)?
        .read(now, |state| {
            for id in &ids {
                state.volume(id)?;
            }
            let (volumes, more) = state
                .volumes_after(after.as_ref(), limit.unwrap_or(usize::MAX), |v| ids.is_empty() || ids.contains(&v.id));
            let mut items = Vec::new();
            for v in &volumes {
                let item = status_item(v, &state.volume_status(&v.id)?);
                let keep = filter::matches(&filters, |name| match name {
                    "availability-zone" => vec![v.zone.to_string()],
                    "volume-status.status" => {
                        item.volume_status.iter().filter_map(|s| s.status).map(|s| s.as_str().to_string()).collect()
                    }
                    "volume-status.details-name" => {
                        vec!["io-enabled".to_string(), "io-performance".to_string()]
                    }
                    "volume-status.details-status" => item
                        .volume_status
                        .iter()
                        .flat_map(|s| s.details.iter().flatten())
                        .filter_map(|d| d.status.clone())
                        .collect(),
                    _ => vec![],
                });
                if keep {
                    items.push(item);
                }
            }
            Ok((items, volumes.last().map(|v| v.id.to_string()), more))
        })
        .map_err(control_error)?;
    Ok(DescribeVolumeStatusResult { volume_statuses: Some(items), next_token: if more { last } else { None } })
}

pub(crate) fn enable_volume_io(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: EnableVolumeIORequest,
) -> Result<(), ApiError> {
    let id = volume_id(&r.volume_id)?;
    let now = control.now_ms();
    region(control, ctx)?.enable_volume_io(&id, now, r.dry_run == Some(true)).map_err(control_error)
}

pub(crate) fn modify_volume_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyVolumeAttributeRequest,
) -> Result<(), ApiError> {
    let id = volume_id(&r.volume_id)?;
    let Some(value) = r.auto_enable_io.and_then(|a| a.value) else {
        return Err(ApiError::missing_parameter("AutoEnableIO"));
    };
    let now = control.now_ms();
    region(control, ctx)?.set_auto_enable_io(&id, value, now, r.dry_run == Some(true)).map_err(control_error)
}

pub(crate) fn describe_volume_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVolumeAttributeRequest,
) -> Result<DescribeVolumeAttributeResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let id = volume_id(&r.volume_id)?;
    let now = control.now_ms();
    let v = region(control, ctx)?.read(now, |state| state.volume(&id).cloned()).map_err(control_error)?;
    Ok(match r.attribute {
        VolumeAttributeName::AutoEnableIO => DescribeVolumeAttributeResult {
            volume_id: Some(id.to_string()),
            auto_enable_io: Some(AttributeBooleanValue { value: Some(v.auto_enable_io) }),
            product_codes: None,
        },
        VolumeAttributeName::ProductCodes => DescribeVolumeAttributeResult {
            volume_id: Some(id.to_string()),
            auto_enable_io: None,
            product_codes: Some(Vec::new()),
        },
    })
}
