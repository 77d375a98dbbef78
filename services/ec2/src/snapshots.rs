//! EBS snapshots through EC2: `CreateSnapshot`, `DeleteSnapshot`, `DescribeSnapshots`,
//! `CopySnapshot`, `ModifySnapshotAttribute`, `DescribeSnapshotAttribute`, `ResetSnapshotAttribute`.

use squall_control::model::snapshot::{InstanceSnapshots, Snapshot as ControlSnapshot, SnapshotState as State};

use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{after_token, page_size, region, snapshot_id, tags_for, timestamp, volume_id, wire_tags};
use crate::generated::{
    CopySnapshotRequest, CopySnapshotResult, CopyTagsFromSource, CreateSnapshotRequest, CreateSnapshotsRequest,
    CreateSnapshotsResult, CreateVolumePermission, DeleteSnapshotRequest, DescribeSnapshotAttributeRequest,
    DescribeSnapshotAttributeResult, DescribeSnapshotsRequest, DescribeSnapshotsResult, ModifySnapshotAttributeRequest,
    OperationType, PermissionGroup, ResetSnapshotAttributeRequest, ResourceType, Snapshot, SnapshotAttributeName,
    SnapshotInfo, SnapshotState, StorageTier,
};
use crate::{check_dry_run, control_error, filter};

const SNAPSHOT_FILTERS: &[&str] = &[
    "description",
    "encrypted",
    "owner-alias",
    "owner-id",
    "progress",
    "snapshot-id",
    "start-time",
    "status",
    "storage-tier",
    "tag-key",
    "tag-value",
    "tag:*",
    "volume-id",
    "volume-size",
];

fn wire_state(s: State) -> SnapshotState {
    match s {
        State::Pending => SnapshotState::Pending,
        State::Completed => SnapshotState::Completed,
    }
}

fn progress(s: State) -> &'static str {
    match s {
        State::Pending => "0%",
        State::Completed => "100%",
    }
}

fn wire_snapshot(s: &ControlSnapshot, account: &str) -> Snapshot {
    Snapshot {
        snapshot_id: Some(s.id.to_string()),
        // A copied snapshot's volume id is a placeholder on AWS; squall keeps the source's.
        volume_id: Some(s.volume_id.as_ref().map(ToString::to_string).unwrap_or_else(|| "vol-ffffffff".to_string())),
        state: Some(wire_state(s.state)),
        start_time: Some(timestamp(s.start_time_ms)),
        progress: Some(progress(s.state).to_string()),
        owner_id: Some(account.to_string()),
        description: Some(s.description.clone()),
        volume_size: Some(s.volume_size_gib as i32),
        encrypted: Some(s.encrypted),
        kms_key_id: s.kms_key_id.clone(),
        tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
        storage_tier: Some(StorageTier::Standard),
        ..Default::default()
    }
}

pub(crate) fn create_snapshot(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateSnapshotRequest,
) -> Result<Snapshot, ApiError> {
    let volume = volume_id(&r.volume_id)?;
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Snapshot)?;
    let now = control.now_ms();
    let s = region(control, ctx)?
        .create_snapshot(&volume, r.description.clone().unwrap_or_default(), tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(wire_snapshot(&s, &ctx.account_id))
}

/// Snapshots every volume attached to an instance (crash-consistent across them: one lock).
pub(crate) fn create_snapshots(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateSnapshotsRequest,
) -> Result<CreateSnapshotsResult, ApiError> {
    let spec = &r.instance_specification;
    let instance = crate::common::instance_id(&spec.instance_id)?;
    let excluded =
        spec.exclude_data_volume_ids.iter().flatten().map(|v| volume_id(v)).collect::<Result<Vec<_>, _>>()?;
    let exclude_boot = spec.exclude_boot_volume.unwrap_or(false);
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Snapshot)?;
    let copy_tags = r.copy_tags_from_source == Some(CopyTagsFromSource::Volume);
    let now = control.now_ms();
    let dry_run = r.dry_run == Some(true);
    let request = InstanceSnapshots {
        instance,
        exclude_boot,
        exclude_volumes: excluded,
        description: r.description.clone().unwrap_or_default(),
        tags,
        copy_volume_tags: copy_tags,
    };
    let snapshots = region(control, ctx)?.create_snapshots(request, now, dry_run).map_err(control_error)?;
    Ok(CreateSnapshotsResult {
        snapshots: Some(
            snapshots
                .iter()
                .map(|(s, zone)| SnapshotInfo {
                    snapshot_id: Some(s.id.to_string()),
                    volume_id: s.volume_id.as_ref().map(ToString::to_string),
                    state: Some(wire_state(s.state)),
                    volume_size: Some(s.volume_size_gib as i32),
                    start_time: Some(timestamp(s.start_time_ms)),
                    progress: Some(progress(s.state).to_string()),
                    owner_id: Some(ctx.account_id.clone()),
                    description: Some(s.description.clone()),
                    encrypted: Some(s.encrypted),
                    tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
                    availability_zone: Some(zone.to_string()),
                    ..Default::default()
                })
                .collect(),
        ),
    })
}

pub(crate) fn delete_snapshot(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteSnapshotRequest,
) -> Result<(), ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let now = control.now_ms();
    region(control, ctx)?.delete_snapshot(&id, now, r.dry_run == Some(true)).map_err(control_error)
}

fn filter_values(s: &ControlSnapshot, account: &str, name: &str) -> Vec<String> {
    match name {
        "description" => vec![s.description.clone()],
        "encrypted" => vec![s.encrypted.to_string()],
        "owner-alias" => vec![],
        "owner-id" => vec![account.to_string()],
        "progress" => vec![progress(s.state).to_string()],
        "snapshot-id" => vec![s.id.to_string()],
        "start-time" => vec![timestamp(s.start_time_ms).to_string()],
        "status" => vec![wire_state(s.state).as_str().to_string()],
        "storage-tier" => vec!["standard".to_string()],
        "volume-id" => s.volume_id.iter().map(ToString::to_string).collect(),
        "volume-size" => vec![s.volume_size_gib.to_string()],
        other => filter::tag_values(&s.tags, other),
    }
}

pub(crate) fn describe_snapshots(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSnapshotsRequest,
) -> Result<DescribeSnapshotsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, SNAPSHOT_FILTERS)?;
    let ids = r.snapshot_ids.unwrap_or_default().iter().map(|s| snapshot_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 5, 1000)?;
    if limit.is_some() && !ids.is_empty() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter snapshotSet cannot be used with the parameter maxResults",
        ));
    }
    // Every snapshot squall holds is owned by the caller's account; `amazon` and other accounts own none.
    let owners = r.owner_ids.unwrap_or_default();
    let owned = owners.is_empty() || owners.iter().any(|o| o == "self" || *o == ctx.account_id);
    let restorable_by = r.restorable_by_user_ids.unwrap_or_default();
    let after = after_token(r.next_token.as_deref(), snapshot_id)?;
    let account = ctx.account_id.clone();
    let now = control.now_ms();
    let (snapshots, more) = region(control, ctx)?
        .read(now, |state| {
            for id in &ids {
                state.snapshot(id)?;
            }
            Ok(state.snapshots_after(after.as_ref(), limit.unwrap_or(usize::MAX), |s| {
                owned
                    && (ids.is_empty() || ids.contains(&s.id))
                    && restorable_by
                        .iter()
                        .all(|u| *u == account || s.create_volume_permissions.iter().any(|p| p == u || p == "all"))
                    && filter::matches(&filters, |name| filter_values(s, &account, name))
            }))
        })
        .map_err(control_error)?;
    let next_token = if more { snapshots.last().map(|s| s.id.to_string()) } else { None };
    Ok(DescribeSnapshotsResult {
        snapshots: Some(snapshots.iter().map(|s| wire_snapshot(s, &ctx.account_id)).collect()),
        next_token,
    })
}

pub(crate) fn copy_snapshot(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CopySnapshotRequest,
) -> Result<CopySnapshotResult, ApiError> {
    let source = snapshot_id(&r.source_snapshot_id)?;
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Snapshot)?;
    let now = control.now_ms();
    let dry_run = r.dry_run == Some(true);
    let s = if r.source_region == ctx.region {
        region(control, ctx)?
            .copy_snapshot(&source, r.description.clone(), tags, now, dry_run)
            .map_err(control_error)?
    } else {
        // From another region: the source's bytes come along into this region's store.
        let from = squall_control::RegionName::parse(&r.source_region)
            .ok()
            .filter(|_| control.serves_region(&r.source_region))
            .ok_or_else(|| ApiError::invalid_parameter_value(format!("Invalid source region: {}", r.source_region)))?;
        let to = region(control, ctx)?.name().clone();
        control
            .copy_snapshot_between_regions(&from, &source, &to, r.description.clone(), tags, dry_run)
            .map_err(control_error)?
    };
    Ok(CopySnapshotResult {
        snapshot_id: Some(s.id.to_string()),
        tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
    })
}

fn permission_names(perms: &[CreateVolumePermission]) -> Vec<String> {
    perms
        .iter()
        .filter_map(|p| match (&p.user_id, p.group) {
            (Some(user), _) => Some(user.clone()),
            (None, Some(PermissionGroup::All)) => Some("all".to_string()),
            (None, None) => None,
        })
        .collect()
}

pub(crate) fn modify_snapshot_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifySnapshotAttributeRequest,
) -> Result<(), ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    if r.attribute.is_some_and(|a| a != SnapshotAttributeName::CreateVolumePermission) {
        return Err(ApiError::invalid_parameter_value("Only the createVolumePermission attribute can be modified"));
    }
    let (mut add, mut remove) = match &r.create_volume_permission {
        Some(m) => (
            permission_names(m.add.as_deref().unwrap_or_default()),
            permission_names(m.remove.as_deref().unwrap_or_default()),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let mut listed: Vec<String> = r.user_ids.clone().unwrap_or_default();
    listed.extend(r.group_names.clone().unwrap_or_default());
    match r.operation_type {
        Some(OperationType::Add) => add.extend(listed),
        Some(OperationType::Remove) => remove.extend(listed),
        None if !listed.is_empty() => return Err(ApiError::missing_parameter("OperationType")),
        None => {}
    }
    check_dry_run(r.dry_run)?;
    let now = control.now_ms();
    region(control, ctx)?.set_create_volume_permissions(&id, &add, &remove, false, now).map_err(control_error)
}

pub(crate) fn describe_snapshot_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSnapshotAttributeRequest,
) -> Result<DescribeSnapshotAttributeResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let id = snapshot_id(&r.snapshot_id)?;
    let now = control.now_ms();
    let s = region(control, ctx)?.read(now, |state| state.snapshot(&id).cloned()).map_err(control_error)?;
    Ok(match r.attribute {
        SnapshotAttributeName::CreateVolumePermission => DescribeSnapshotAttributeResult {
            snapshot_id: Some(id.to_string()),
            create_volume_permissions: Some(
                s.create_volume_permissions
                    .iter()
                    .map(|p| {
                        if p == "all" {
                            CreateVolumePermission { group: Some(PermissionGroup::All), user_id: None }
                        } else {
                            CreateVolumePermission { group: None, user_id: Some(p.clone()) }
                        }
                    })
                    .collect(),
            ),
            product_codes: None,
        },
        SnapshotAttributeName::ProductCodes => DescribeSnapshotAttributeResult {
            snapshot_id: Some(id.to_string()),
            create_volume_permissions: None,
            product_codes: Some(Vec::new()),
        },
    })
}

pub(crate) fn reset_snapshot_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ResetSnapshotAttributeRequest,
) -> Result<(), ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    if r.attribute != SnapshotAttributeName::CreateVolumePermission {
        return Err(ApiError::invalid_parameter_value("Only the createVolumePermission attribute can be reset"));
    }
    check_dry_run(r.dry_run)?;
    let now = control.now_ms();
    region(control, ctx)?.set_create_volume_permissions(&id, &[], &[], true, now).map_err(control_error)
}
