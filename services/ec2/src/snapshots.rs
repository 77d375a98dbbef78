//! EBS snapshots through EC2: `CreateSnapshot`, `DeleteSnapshot`, `DescribeSnapshots`,
//! `CopySnapshot`, `ModifySnapshotAttribute`, `DescribeSnapshotAttribute`, `ResetSnapshotAttribute`.

use squall_control::model::snapshot::{
    InstanceSnapshots, Snapshot as ControlSnapshot, SnapshotState as State, TierView, TieringOperation,
};

use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{after_token, page_size, region, snapshot_id, tags_for, timestamp, volume_id, wire_tags};
use crate::generated::{
    CopySnapshotRequest, CopySnapshotResult, CopyTagsFromSource, CreateSnapshotRequest, CreateSnapshotsRequest,
    CreateSnapshotsResult, CreateVolumePermission, DeleteSnapshotRequest, DescribeSnapshotAttributeRequest,
    DescribeSnapshotAttributeResult, DescribeSnapshotTierStatusRequest, DescribeSnapshotTierStatusResult,
    DescribeSnapshotsRequest, DescribeSnapshotsResult, ModifySnapshotAttributeRequest, ModifySnapshotTierRequest,
    ModifySnapshotTierResult, OperationType, PermissionGroup, ResetSnapshotAttributeRequest, ResourceType,
    RestoreSnapshotTierRequest, RestoreSnapshotTierResult, Snapshot, SnapshotAttributeName, SnapshotInfo,
    SnapshotState, SnapshotTierStatus, StorageTier, TieringOperationStatus,
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
    "transfer-type",
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

fn wire_snapshot(s: &ControlSnapshot, account: &str, tier: TierView) -> Snapshot {
    Snapshot {
        snapshot_id: Some(s.id.to_string()),
        // A copied snapshot's volume id is a placeholder on AWS; squall keeps the source's.
        volume_id: Some(s.volume_id.as_ref().map(ToString::to_string).unwrap_or_else(|| "vol-ffffffff".to_string())),
        state: Some(wire_state(s.state)),
        start_time: Some(timestamp(s.start_time_ms)),
        progress: Some(progress(s.state).to_string()),
        owner_id: Some(s.owner.clone().unwrap_or_else(|| account.to_string())),
        description: Some(s.description.clone()),
        volume_size: Some(s.volume_size_gib as i32),
        encrypted: Some(s.encrypted),
        kms_key_id: s.kms_key_id.clone(),
        tags: (!s.tags.is_empty()).then(|| wire_tags(&s.tags)),
        storage_tier: Some(if tier.archived { StorageTier::Archive } else { StorageTier::Standard }),
        restore_expiry_time: tier.restore_expiry_ms.filter(|_| !tier.archived).map(timestamp),
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
    let region = region(control, ctx)?;
    let mut s = region
        .create_snapshot(&volume, r.description.clone().unwrap_or_default(), tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    region.claim_snapshots(std::slice::from_ref(&s.id), &ctx.account_id, now).map_err(control_error)?;
    s.owner = Some(ctx.account_id.clone());
    Ok(wire_snapshot(&s, &ctx.account_id, s.tier(0, 0)))
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
    let region = region(control, ctx)?;
    let snapshots = region.create_snapshots(request, now, dry_run).map_err(control_error)?;
    let ids: Vec<_> = snapshots.iter().map(|(s, _)| s.id.clone()).collect();
    region.claim_snapshots(&ids, &ctx.account_id, now).map_err(control_error)?;
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
    owned_snapshot(control, ctx, &id)?;
    let now = control.now_ms();
    region(control, ctx)?.delete_snapshot(&id, now, r.dry_run == Some(true)).map_err(control_error)
}

/// The snapshot, when the caller's account may see it (its own, or shared with it); else
/// `InvalidSnapshot.NotFound`, as AWS answers for a snapshot that is not shared with you.
pub(crate) fn visible_snapshot(
    control: &ControlPlane,
    ctx: &RequestContext,
    id: &squall_control::SnapshotId,
) -> Result<ControlSnapshot, ApiError> {
    let s = region(control, ctx)?.read(control.now_ms(), |state| state.snapshot(id).cloned()).map_err(control_error)?;
    if !s.visible_to(&ctx.account_id) {
        return Err(control_error(squall_control::ControlError::Snapshot(squall_control::SnapshotError::NotFound(
            id.clone(),
        ))));
    }
    Ok(s)
}

/// The snapshot, when the caller's account owns it; one only shared with it may be read, not
/// changed or deleted.
fn owned_snapshot(
    control: &ControlPlane,
    ctx: &RequestContext,
    id: &squall_control::SnapshotId,
) -> Result<ControlSnapshot, ApiError> {
    let s = visible_snapshot(control, ctx, id)?;
    if !s.owned_by(&ctx.account_id) {
        return Err(ApiError::client(
            "UnauthorizedOperation",
            format!("You are not authorized to perform this operation: snapshot {id} is owned by another account."),
        ));
    }
    Ok(s)
}

fn filter_values(s: &ControlSnapshot, account: &str, tier: TierView, name: &str) -> Vec<String> {
    match name {
        "description" => vec![s.description.clone()],
        "encrypted" => vec![s.encrypted.to_string()],
        "owner-alias" => vec![],
        "owner-id" => vec![s.owner.clone().unwrap_or_else(|| account.to_string())],
        "progress" => vec![progress(s.state).to_string()],
        "snapshot-id" => vec![s.id.to_string()],
        "start-time" => vec![timestamp(s.start_time_ms).to_string()],
        "status" => vec![wire_state(s.state).as_str().to_string()],
        "storage-tier" => vec![if tier.archived { "archive" } else { "standard" }.to_string()],
        // Every copy is a standard one (no time-based copies).
        "transfer-type" => vec!["standard".to_string()],
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
    // The caller sees its own snapshots and those shared with it; `amazon` owns none here.
    let owners = r.owner_ids.unwrap_or_default();
    let owner_matches = |s: &ControlSnapshot| {
        let owner = s.owner.as_deref().unwrap_or(&ctx.account_id);
        owners.is_empty() || owners.iter().any(|o| (o == "self" && s.owned_by(&ctx.account_id)) || o == owner)
    };
    let restorable_by: Vec<String> = r
        .restorable_by_user_ids
        .unwrap_or_default()
        .into_iter()
        .map(|u| if u == "self" { ctx.account_id.clone() } else { u })
        .collect();
    let after = after_token(r.next_token.as_deref(), snapshot_id)?;
    let account = ctx.account_id.clone();
    let now = control.now_ms();
    let (snapshots, more, step) = region(control, ctx)?
        .read(now, |state| {
            for id in &ids {
                if !state.snapshot(id)?.visible_to(&account) {
                    return Err(squall_control::ControlError::Snapshot(squall_control::SnapshotError::NotFound(
                        id.clone(),
                    )));
                }
            }
            let step = state.tiering_step_ms();
            let (list, more) = state.snapshots_after(after.as_ref(), limit.unwrap_or(usize::MAX), |s| {
                s.visible_to(&account)
                    && owner_matches(s)
                    && (ids.is_empty() || ids.contains(&s.id))
                    && restorable_by.iter().all(|u| {
                        s.owner.as_deref().is_none_or(|o| o == u)
                            || s.create_volume_permissions.iter().any(|p| p == u || p == "all")
                    })
                    && filter::matches(&filters, |name| filter_values(s, &account, s.tier(step, now), name))
            });
            Ok((list, more, step))
        })
        .map_err(control_error)?;
    let next_token = if more { snapshots.last().map(|s| s.id.to_string()) } else { None };
    Ok(DescribeSnapshotsResult {
        snapshots: Some(snapshots.iter().map(|s| wire_snapshot(s, &ctx.account_id, s.tier(step, now))).collect()),
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
    if r.source_region == ctx.region {
        visible_snapshot(control, ctx, &source)?;
    }
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
    region(control, ctx)?.claim_snapshots(std::slice::from_ref(&s.id), &ctx.account_id, now).map_err(control_error)?;
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
    let s = owned_snapshot(control, ctx, &id)?;
    for u in add.iter().chain(&remove) {
        if u != "all" && !squall_protocol::is_account_id(u) {
            return Err(ApiError::invalid_parameter_value(format!("Value ({u}) for parameter userId is invalid.")));
        }
    }
    if s.encrypted && add.iter().any(|u| u == "all") {
        return Err(ApiError::client("OperationNotPermitted", "Encrypted snapshots cannot be shared publicly."));
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
    let s = owned_snapshot(control, ctx, &id)?;
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
    owned_snapshot(control, ctx, &id)?;
    check_dry_run(r.dry_run)?;
    let now = control.now_ms();
    region(control, ctx)?.set_create_volume_permissions(&id, &[], &[], true, now).map_err(control_error)
}

pub(crate) fn modify_snapshot_tier(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifySnapshotTierRequest,
) -> Result<ModifySnapshotTierResult, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let started = region(control, ctx)?
        .archive_snapshot(&id, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(ModifySnapshotTierResult { snapshot_id: Some(id.to_string()), tiering_start_time: Some(timestamp(started)) })
}

pub(crate) fn restore_snapshot_tier(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RestoreSnapshotTierRequest,
) -> Result<RestoreSnapshotTierResult, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let operation = match (r.temporary_restore_days, r.permanent_restore.unwrap_or(false)) {
        (Some(_), true) => {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "TemporaryRestoreDays and PermanentRestore cannot be specified together.",
            ))
        }
        (Some(days), false) => TieringOperation::TemporaryRestore(
            u32::try_from(days).ok().filter(|d| (1..=180).contains(d)).ok_or_else(|| {
                ApiError::invalid_parameter_value(format!(
                    "The value {days} for TemporaryRestoreDays is not valid: specify 1 to 180 days."
                ))
            })?,
        ),
        (None, true) => TieringOperation::PermanentRestore,
        (None, false) => return Err(ApiError::missing_parameter("TemporaryRestoreDays")),
    };
    let started = region(control, ctx)?
        .restore_snapshot_tier(&id, operation, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(RestoreSnapshotTierResult {
        snapshot_id: Some(id.to_string()),
        restore_start_time: Some(timestamp(started)),
        restore_duration: match operation {
            TieringOperation::TemporaryRestore(days) => Some(days as i32),
            _ => None,
        },
        is_permanent_restore: Some(operation == TieringOperation::PermanentRestore),
    })
}

pub(crate) fn describe_snapshot_tier_status(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSnapshotTierStatusRequest,
) -> Result<DescribeSnapshotTierStatusResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, &["snapshot-id", "volume-id", "last-tiering-operation"])?;
    let now = control.now_ms();
    let (all, step) = region(control, ctx)?
        .read(now, |state| {
            Ok((state.snapshots_after(None, usize::MAX, |s| s.state == State::Completed).0, state.tiering_step_ms()))
        })
        .map_err(control_error)?;
    let statuses: Vec<SnapshotTierStatus> = all
        .iter()
        .filter_map(|s| {
            let tier = s.tier(step, now);
            let status = tier.last.map(|(op, done, _)| match (op, done) {
                (TieringOperation::Archive, false) => TieringOperationStatus::ArchivalInProgress,
                (TieringOperation::Archive, true) => TieringOperationStatus::ArchivalCompleted,
                (TieringOperation::TemporaryRestore(_), false) => TieringOperationStatus::TemporaryRestoreInProgress,
                (TieringOperation::TemporaryRestore(_), true) => TieringOperationStatus::TemporaryRestoreCompleted,
                (TieringOperation::PermanentRestore, false) => TieringOperationStatus::PermanentRestoreInProgress,
                (TieringOperation::PermanentRestore, true) => TieringOperationStatus::PermanentRestoreCompleted,
            });
            let keep = filter::matches(&filters, |name| match name {
                "snapshot-id" => vec![s.id.to_string()],
                "volume-id" => s.volume_id.iter().map(|v| v.to_string()).collect(),
                "last-tiering-operation" => status.iter().map(|st| st.as_str().to_string()).collect(),
                _ => Vec::new(),
            });
            keep.then(|| SnapshotTierStatus {
                snapshot_id: Some(s.id.to_string()),
                volume_id: s.volume_id.as_ref().map(|v| v.to_string()),
                status: Some(wire_state(s.state)),
                owner_id: Some(ctx.account_id.clone()),
                tags: Some(wire_tags(&s.tags)),
                storage_tier: Some(if tier.archived { StorageTier::Archive } else { StorageTier::Standard }),
                last_tiering_start_time: tier.started_ms.map(timestamp),
                last_tiering_progress: tier.last.map(|(_, done, _)| if done { 100 } else { 0 }),
                last_tiering_operation_status: status,
                last_tiering_operation_status_detail: None,
                archival_complete_time: tier
                    .last
                    .and_then(|(op, done, at)| (op == TieringOperation::Archive && done).then(|| timestamp(at))),
                restore_expiry_time: tier.restore_expiry_ms.map(timestamp),
            })
        })
        .collect();
    Ok(DescribeSnapshotTierStatusResult { snapshot_tier_statuses: Some(statuses), next_token: None })
}
