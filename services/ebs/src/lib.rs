//! The EBS direct APIs (`restJson1`, service `ebs`): write a snapshot block by block, read the
//! blocks of a completed one, and list what changed between two snapshots of one lineage. The
//! snapshots are the same ones EC2's CreateSnapshot makes: either side reads the other's.

pub mod generated;

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use squall_control::model::snapshot::{Snapshot as ControlSnapshot, DIRECT_BLOCK_SIZE};
use squall_control::{ControlError, ControlPlane, Region, RegionName, SnapshotId};
use squall_protocol::codec::{base64_decode, base64_encode};
use squall_protocol::rest::{serve, RestRequest, RestService};
use squall_protocol::{ApiError, Blob, RequestContext, Timestamp, WireResponse};

use generated::{
    Block, ChangedBlock, ChecksumAggregationMethod, ChecksumAlgorithm, CompleteSnapshotRequest,
    CompleteSnapshotResponse, GetSnapshotBlockRequest, GetSnapshotBlockResponse, ListChangedBlocksRequest,
    ListChangedBlocksResponse, ListSnapshotBlocksRequest, ListSnapshotBlocksResponse, PutSnapshotBlockRequest,
    PutSnapshotBlockResponse, Request, Response, SSEType, StartSnapshotRequest, StartSnapshotResponse, Status, Tag,
};

/// Block tokens and listings expire a week after they are issued, as AWS's do.
const TOKEN_LIFETIME_MS: u64 = 7 * 24 * 3600 * 1000;

/// Answers one EBS direct API request (`method`, `path`, the request's parts).
pub fn handle(
    control: &ControlPlane,
    ctx: &RequestContext,
    method: &str,
    path: &str,
    req: RestRequest,
) -> WireResponse {
    let service =
        RestService { name: "EBS", route: generated::route, decode: Request::decode, encode: Response::encode };
    serve(&service, method, path, req, &ctx.request_id, |request| dispatch(control, ctx, request))
}

fn dispatch(control: &ControlPlane, ctx: &RequestContext, request: Request) -> Result<Response, ApiError> {
    let region = region(control, ctx)?;
    let now = control.now_ms();
    Ok(match request {
        Request::StartSnapshot(r) => Response::StartSnapshot(start_snapshot(&region, ctx, now, r)?),
        Request::PutSnapshotBlock(r) => Response::PutSnapshotBlock(put_snapshot_block(&region, now, r)?),
        Request::CompleteSnapshot(r) => Response::CompleteSnapshot(complete_snapshot(&region, now, r)?),
        Request::ListSnapshotBlocks(r) => Response::ListSnapshotBlocks(list_snapshot_blocks(&region, now, r)?),
        Request::ListChangedBlocks(r) => Response::ListChangedBlocks(list_changed_blocks(&region, now, r)?),
        Request::GetSnapshotBlock(r) => Response::GetSnapshotBlock(get_snapshot_block(&region, now, r)?),
    })
}

fn region(control: &ControlPlane, ctx: &RequestContext) -> Result<Arc<Region>, ApiError> {
    let name = RegionName::parse(&ctx.region)
        .map_err(|_| validation("INVALID_PARAMETER_VALUE", format!("Invalid region {}", ctx.region)))?;
    Ok(control.region(&name))
}

fn validation(reason: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message).with_reason(reason)
}

fn snapshot_id(value: &str) -> Result<SnapshotId, ApiError> {
    SnapshotId::parse(value)
        .map_err(|_| validation("INVALID_SNAPSHOT_ID", format!("The snapshot ID '{value}' is not valid.")))
}

/// The EBS direct APIs' code, status and `Reason` for each control-plane error.
fn control_error(e: ControlError) -> ApiError {
    use squall_control::{
        ImageError, InstanceError, KeyPairError, NetworkError, SecurityGroupError, SnapshotError, VolumeError,
        ZoneError,
    };
    use ControlError as E;
    match e {
        E::Snapshot(SnapshotError::NotFound(s)) => {
            ApiError::new(404, "ResourceNotFoundException", format!("The snapshot '{s}' does not exist."))
                .with_reason("SNAPSHOT_NOT_FOUND")
        }
        E::Snapshot(SnapshotError::SnapshotNotPending(s)) => {
            validation("INVALID_SNAPSHOT_ID", format!("The snapshot '{s}' is not in the pending state."))
        }
        E::Snapshot(SnapshotError::SnapshotNotCompleted(s)) => {
            validation("INVALID_SNAPSHOT_ID", format!("The snapshot '{s}' is not completed."))
        }
        E::Snapshot(SnapshotError::BlockIndexOutOfRange { index, .. }) => {
            validation("INVALID_BLOCK", format!("The block index {index} is beyond the end of the snapshot."))
        }
        E::Snapshot(SnapshotError::ChangedBlocksMismatch { declared, written, .. }) => validation(
            "INVALID_PARAMETER_VALUE",
            format!("ChangedBlocksCount is {declared} but {written} blocks were written to the snapshot."),
        ),
        E::Snapshot(SnapshotError::ChecksumMismatch(_)) => validation(
            "INVALID_PARAMETER_VALUE",
            "The aggregated checksum does not match the checksums of the written blocks.",
        ),
        E::Volume(VolumeError::InvalidVolumeSize { size_gib, .. }) => {
            validation("INVALID_VOLUME_SIZE", format!("The volume size {size_gib} GiB is not valid."))
        }
        E::Volume(VolumeError::VolumeSmallerThanSnapshot { size_gib, snapshot_gib }) => validation(
            "INVALID_VOLUME_SIZE",
            format!("The volume size {size_gib} GiB is smaller than the parent snapshot's {snapshot_gib} GiB."),
        ),
        E::TooManyTags => validation("INVALID_TAG", "A snapshot can have at most 50 tags."),
        E::Internal(e) => ApiError::new(500, "InternalServerException", format!("An internal error occurred ({e})")),
        // The rest cannot come from an EBS direct operation; if one ever does, it is still the
        // caller's input that the control plane refused.
        other @ (E::Zone(ZoneError::UnknownZoneName { .. })
        | E::Zone(ZoneError::UnknownZoneId { .. })
        | E::DryRun
        | E::Volume(VolumeError::NotFound(_))
        | E::Instance(InstanceError::NotFound(_))
        | E::Instance(InstanceError::NotFoundMany(_))
        | E::UnknownResourceId(_)
        | E::Volume(VolumeError::MissingSizeOrSnapshot)
        | E::Volume(VolumeError::IopsNotSupported(_))
        | E::Volume(VolumeError::IopsRequired(_))
        | E::Volume(VolumeError::InvalidIops { .. })
        | E::Volume(VolumeError::IopsRatio { .. })
        | E::Volume(VolumeError::ThroughputNotSupported(_))
        | E::Volume(VolumeError::InvalidThroughput { .. })
        | E::Volume(VolumeError::MultiAttachNotSupported(_))
        | E::IdempotentParameterMismatch(_)
        | E::Volume(VolumeError::InUse { .. })
        | E::Volume(VolumeError::IncorrectVolumeState { .. })
        | E::Volume(VolumeError::ZoneMismatch { .. })
        | E::Volume(VolumeError::DeviceInUse { .. })
        | E::Volume(VolumeError::NotAttached { .. })
        | E::Volume(VolumeError::AttachmentNotFound { .. })
        | E::Snapshot(SnapshotError::InUse { .. })
        | E::Volume(VolumeError::InsufficientVolumeCapacity { .. })
        | E::Volume(VolumeError::ModificationInProgress(_))
        | E::Volume(VolumeError::CannotShrink { .. })
        | E::Instance(InstanceError::IncorrectInstanceState { .. })
        | E::SecurityGroup(SecurityGroupError::NotFound(_))
        | E::SecurityGroup(SecurityGroupError::Unnamed)
        | E::SecurityGroup(SecurityGroupError::Exists { .. })
        | E::SecurityGroup(SecurityGroupError::CannotDeleteDefaultGroup(_))
        | E::SecurityGroup(SecurityGroupError::InUse(_))
        | E::SecurityGroup(SecurityGroupError::DuplicatePermission(_))
        | E::SecurityGroup(SecurityGroupError::PermissionNotFound(_))
        | E::SecurityGroup(SecurityGroupError::SecurityGroupRuleNotFound(_))
        | E::Network(NetworkError::VpcNotFound(_))
        | E::Network(NetworkError::SubnetNotFound(_))
        | E::Network(NetworkError::InvalidCidr(_))
        | E::Network(NetworkError::VpcRange(_))
        | E::Network(NetworkError::SubnetRange(_))
        | E::Network(NetworkError::SubnetConflict(_))
        | E::Network(NetworkError::DependencyViolation { .. })
        | E::Network(NetworkError::InsufficientFreeAddresses(_))
        | E::Network(NetworkError::GroupSubnetMismatch { .. })
        | E::Rds(_)
        | E::Secrets(_)
        | E::Routing(_)
        | E::Template(_)
        | E::Snapshot(SnapshotError::TierState(_))
        | E::Snapshot(SnapshotError::Archived(_))
        | E::KeyPair(KeyPairError::NotFound(_))
        | E::KeyPair(KeyPairError::Unnamed)
        | E::KeyPair(KeyPairError::Exists(_))
        | E::KeyPair(KeyPairError::InvalidKeyName(_))
        | E::KeyPair(KeyPairError::InvalidKeyFormat)
        | E::Image(ImageError::NotFound(_))
        | E::Image(ImageError::InvalidImageName(_))
        | E::Image(ImageError::ImageNameInUse { .. })
        | E::Image(ImageError::MissingRootSnapshot(_))
        | E::Snapshot(SnapshotError::SnapshotUsedByImage { .. })
        | E::Instance(InstanceError::TerminationProtected(_))
        | E::Instance(InstanceError::StopProtected(_))
        | E::Instance(InstanceError::NotBurstable(_))
        | E::Instance(InstanceError::InvalidCpuCredits(_))
        | E::Instance(InstanceError::NoDevice { .. })
        | E::Image(ImageError::ImageNotAvailable(_))
        | E::Instance(InstanceError::PlacementMismatch { .. })
        | E::Network(NetworkError::NoDefaultSubnet(_))
        | E::Network(NetworkError::AddressOutsideSubnet { .. })
        | E::Network(NetworkError::AddressReserved(_))
        | E::Network(NetworkError::AddressInUse(_))
        | E::Instance(InstanceError::MappingWithoutSize(_))
        | E::Network(NetworkError::NoDefaultVpc)
        | E::Network(NetworkError::InterfaceNotFound(_))
        | E::Network(NetworkError::InterfaceInUse(_))
        | E::Network(NetworkError::InterfaceAttachmentNotFound(_))
        | E::Network(NetworkError::DeviceIndexInUse { .. })
        | E::Network(NetworkError::InterfaceZoneMismatch { .. })
        | E::Network(NetworkError::PrimaryInterface)
        | E::Network(NetworkError::InvalidInterfaceRequest(_))
        | E::Network(NetworkError::NoIpv6Block(_))
        | E::Instance(InstanceError::InsufficientInstanceCapacity { .. })
        | E::Zone(
            ZoneError::ZoneUnavailable(_) | ZoneError::StorageTimeout { .. } | ZoneError::StorageBusy { .. },
        )) => validation("INVALID_PARAMETER_VALUE", other.to_string()),
    }
}

fn expiry(now: u64) -> Timestamp {
    Timestamp { epoch_millis: (now + TOKEN_LIFETIME_MS) as i64 }
}

fn tags_of(s: &ControlSnapshot) -> Option<Vec<Tag>> {
    (!s.tags.is_empty())
        .then(|| s.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect())
}

fn start_snapshot(
    region: &Region,
    ctx: &RequestContext,
    now: u64,
    r: StartSnapshotRequest,
) -> Result<StartSnapshotResponse, ApiError> {
    let parent = r.parent_snapshot_id.as_deref().map(snapshot_id).transpose()?;
    let size = u32::try_from(r.volume_size)
        .map_err(|_| validation("INVALID_VOLUME_SIZE", format!("The volume size {} is not valid.", r.volume_size)))?;
    let mut tags = BTreeMap::new();
    for t in r.tags.unwrap_or_default() {
        let key = t.key.unwrap_or_default();
        let value = t.value.unwrap_or_default();
        squall_protocol::tags::EBS_DIRECT.check(&key, &value).map_err(|p| validation("INVALID_TAG", p.to_string()))?;
        tags.insert(key, value);
    }
    let encrypted = r.encrypted.unwrap_or(false);
    let s = region
        .start_snapshot(
            size,
            parent.as_ref(),
            r.description.clone().unwrap_or_default(),
            tags,
            encrypted,
            r.kms_key_arn.clone(),
            now,
        )
        .map_err(control_error)?;
    region.claim_snapshots(std::slice::from_ref(&s.id), &ctx.account_id, now).map_err(control_error)?;
    Ok(StartSnapshotResponse {
        description: Some(s.description.clone()),
        snapshot_id: Some(s.id.to_string()),
        owner_id: Some(ctx.account_id.clone()),
        status: Some(Status::Pending),
        start_time: Some(Timestamp { epoch_millis: s.start_time_ms as i64 }),
        volume_size: Some(i64::from(s.volume_size_gib)),
        block_size: Some(DIRECT_BLOCK_SIZE as i32),
        tags: tags_of(&s),
        parent_snapshot_id: s.parent.as_ref().map(ToString::to_string),
        kms_key_arn: s.kms_key_id.clone(),
        sse_type: Some(if encrypted { SSEType::SseEbs } else { SSEType::None }),
    })
}

fn put_snapshot_block(
    region: &Region,
    now: u64,
    r: PutSnapshotBlockRequest,
) -> Result<PutSnapshotBlockResponse, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    if r.data_length != DIRECT_BLOCK_SIZE as i32 || r.block_data.0.len() != DIRECT_BLOCK_SIZE as usize {
        return Err(validation(
            "INVALID_PARAMETER_VALUE",
            format!(
                "The data length must be {DIRECT_BLOCK_SIZE} bytes; got {} declared and {} sent.",
                r.data_length,
                r.block_data.0.len()
            ),
        ));
    }
    let index = u64::try_from(r.block_index)
        .map_err(|_| validation("INVALID_BLOCK", "The block index must not be negative."))?;
    let ChecksumAlgorithm::Sha256 = r.checksum_algorithm;
    let declared = base64_decode(&r.checksum)
        .ok_or_else(|| validation("INVALID_PARAMETER_VALUE", "The checksum is not valid base64."))?;
    let actual: [u8; 32] = Sha256::digest(&r.block_data.0).into();
    if declared != actual {
        return Err(validation(
            "INVALID_BLOCK",
            "The checksum of the block data does not match the provided checksum.",
        ));
    }
    let digest = region.put_snapshot_block(&id, index, &r.block_data.0, now).map_err(control_error)?;
    Ok(PutSnapshotBlockResponse {
        checksum: Some(base64_encode(&digest)),
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
    })
}

fn complete_snapshot(
    region: &Region,
    now: u64,
    r: CompleteSnapshotRequest,
) -> Result<CompleteSnapshotResponse, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let changed = u64::try_from(r.changed_blocks_count)
        .map_err(|_| validation("INVALID_PARAMETER_VALUE", "ChangedBlocksCount must not be negative."))?;
    let checksum = match (&r.checksum, r.checksum_aggregation_method) {
        (None, _) => None,
        (Some(c), None | Some(ChecksumAggregationMethod::Linear)) => Some(
            base64_decode(c)
                .ok_or_else(|| validation("INVALID_PARAMETER_VALUE", "The checksum is not valid base64."))?,
        ),
    };
    region.complete_snapshot(&id, changed, checksum.as_deref(), now).map_err(control_error)?;
    Ok(CompleteSnapshotResponse { status: Some(Status::Pending) })
}

/// A block token names the snapshot, the block and its content, so a token for another snapshot,
/// index or version of the block is refused.
fn block_token(snapshot: &SnapshotId, index: u64, hash: &str) -> String {
    base64_encode(format!("squall:{snapshot}:{index}:{}", &hash[..16.min(hash.len())]).as_bytes())
}

fn page(max_results: Option<i32>, next_token: Option<&str>, starting: Option<i32>) -> Result<(usize, u64), ApiError> {
    let limit = match max_results {
        None => 10_000,
        Some(n) if (100..=10_000).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation("INVALID_PARAMETER_VALUE", format!("MaxResults {n} is outside 100..=10000.")))
        }
    };
    let from_token = match next_token {
        None | Some("") => None,
        Some(t) => Some(
            base64_decode(t)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("squall-page:").and_then(|n| n.parse::<u64>().ok()))
                .ok_or_else(|| validation("INVALID_PAGE_TOKEN", "The page token is not valid."))?,
        ),
    };
    let starting = u64::try_from(starting.unwrap_or(0))
        .map_err(|_| validation("INVALID_PARAMETER_VALUE", "StartingBlockIndex must not be negative."))?;
    Ok((limit, from_token.unwrap_or(0).max(starting)))
}

fn page_token(next_index: u64) -> String {
    base64_encode(format!("squall-page:{next_index}").as_bytes())
}

fn list_snapshot_blocks(
    region: &Region,
    now: u64,
    r: ListSnapshotBlocksRequest,
) -> Result<ListSnapshotBlocksResponse, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let (limit, from) = page(r.max_results, r.next_token.as_deref(), r.starting_block_index)?;
    let (snapshot, blocks) = region
        .read(now, |state| Ok((state.snapshot(&id)?.clone(), state.snapshot_blocks(&id)?)))
        .map_err(control_error)?;
    let selected: Vec<_> = blocks.iter().filter(|b| b.index >= from).take(limit + 1).collect();
    let next_token = (selected.len() > limit).then(|| page_token(selected[limit].index));
    Ok(ListSnapshotBlocksResponse {
        blocks: Some(
            selected
                .iter()
                .take(limit)
                .map(|b| Block {
                    block_index: Some(b.index as i32),
                    block_token: Some(block_token(&id, b.index, &b.hash)),
                })
                .collect(),
        ),
        expiry_time: Some(expiry(now)),
        volume_size: Some(i64::from(snapshot.volume_size_gib)),
        block_size: Some(DIRECT_BLOCK_SIZE as i32),
        next_token,
    })
}

fn list_changed_blocks(
    region: &Region,
    now: u64,
    r: ListChangedBlocksRequest,
) -> Result<ListChangedBlocksResponse, ApiError> {
    let second = snapshot_id(&r.second_snapshot_id)?;
    let first = r.first_snapshot_id.as_deref().map(snapshot_id).transpose()?;
    let (limit, from) = page(r.max_results, r.next_token.as_deref(), r.starting_block_index)?;
    let (snapshot, changed) = region
        .read(now, |state| Ok((state.snapshot(&second)?.clone(), state.changed_blocks(first.as_ref(), &second, from)?)))
        .map_err(control_error)?;
    let changed =
        changed.ok_or_else(|| validation("UNRELATED_SNAPSHOTS", "The snapshots are not of the same lineage."))?;
    let next_token = (changed.len() > limit).then(|| page_token(changed[limit].index));
    Ok(ListChangedBlocksResponse {
        changed_blocks: Some(
            changed
                .iter()
                .take(limit)
                .map(|c| ChangedBlock {
                    block_index: Some(c.index as i32),
                    first_block_token: first
                        .as_ref()
                        .and_then(|f| c.first_hash.as_ref().map(|h| block_token(f, c.index, h))),
                    second_block_token: c.second_hash.as_ref().map(|h| block_token(&second, c.index, h)),
                })
                .collect(),
        ),
        expiry_time: Some(expiry(now)),
        volume_size: Some(i64::from(snapshot.volume_size_gib)),
        block_size: Some(DIRECT_BLOCK_SIZE as i32),
        next_token,
    })
}

fn get_snapshot_block(
    region: &Region,
    now: u64,
    r: GetSnapshotBlockRequest,
) -> Result<GetSnapshotBlockResponse, ApiError> {
    let id = snapshot_id(&r.snapshot_id)?;
    let index = u64::try_from(r.block_index)
        .map_err(|_| validation("INVALID_BLOCK", "The block index must not be negative."))?;
    // Both reads refuse a snapshot that has not completed.
    let data = region
        .read(now, |state| {
            let hash = state.snapshot_blocks(&id)?.into_iter().find(|b| b.index == index).map(|b| b.hash);
            Ok((hash, state.snapshot_block(&id, index)?))
        })
        .map_err(control_error)?;
    let (hash, bytes) = data;
    let valid = hash.as_ref().is_some_and(|h| block_token(&id, index, h) == r.block_token);
    if !valid {
        return Err(validation("INVALID_BLOCK_TOKEN", "The block token is not valid for this snapshot and block."));
    }
    let checksum: [u8; 32] = Sha256::digest(&bytes).into();
    Ok(GetSnapshotBlockResponse {
        data_length: Some(bytes.len() as i32),
        checksum: Some(base64_encode(&checksum)),
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
        block_data: Some(Blob(bytes)),
    })
}
