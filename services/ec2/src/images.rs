//! Images: `DescribeImages` over a small built-in catalogue of public images per region (ids
//! stable per region, blank root volumes) and the account's own images (`CreateImage`,
//! `RegisterImage`, `DeregisterImage`), whose snapshots hold real bytes that launches restore.

use squall_control::model::image::{Image as OwnImage, ImageSpec, ImageState as OwnState, RequestedImageMapping};
use squall_control::{stable_hex, ControlPlane, SnapshotId};
use squall_protocol::{ApiError, RequestContext};

use crate::common::{instance_id, offset_page, page_size, region, tags_for, timestamp, wire_tags};
use crate::generated::{
    ArchitectureValues, BlockDeviceMapping, BootModeValues, CreateImageRequest, CreateImageResult,
    DeleteSnapshotReturnCode, DeregisterImageRequest, DeregisterImageResult, DescribeImagesRequest,
    DescribeImagesResult, DeviceType, EbsBlockDevice, HypervisorType, Image, ImageState, ImageTypeValues,
    RegisterImageRequest, RegisterImageResult, ResourceType, SnapshotReturnCodes, VirtualizationType, VolumeType,
};
use crate::volumes::{to_control_type, to_wire_type};
use crate::{check_dry_run, control_error, filter};

/// One public image of the catalogue.
pub(crate) struct CatalogueImage {
    pub name: &'static str,
    pub description: &'static str,
    pub owner_id: &'static str,
    pub owner_alias: Option<&'static str>,
    pub architecture: ArchitectureValues,
    pub root_device: &'static str,
    pub root_gib: u32,
    pub creation_date: &'static str,
}

const AMAZON: &str = "137112412989";
const CANONICAL: &str = "099720109477";
const DEBIAN: &str = "136693071363";

const CATALOGUE: &[CatalogueImage] = &[
    CatalogueImage {
        name: "al2023-ami-2023.6.20250303.0-kernel-6.1-x86_64",
        description: "Amazon Linux 2023 AMI 2023.6.20250303.0 x86_64 HVM kernel-6.1",
        owner_id: AMAZON,
        owner_alias: Some("amazon"),
        architecture: ArchitectureValues::X8664,
        root_device: "/dev/xvda",
        root_gib: 8,
        creation_date: "2025-03-03T19:25:34.000Z",
    },
    CatalogueImage {
        name: "al2023-ami-2023.6.20250303.0-kernel-6.1-arm64",
        description: "Amazon Linux 2023 AMI 2023.6.20250303.0 arm64 HVM kernel-6.1",
        owner_id: AMAZON,
        owner_alias: Some("amazon"),
        architecture: ArchitectureValues::Arm64,
        root_device: "/dev/xvda",
        root_gib: 8,
        creation_date: "2025-03-03T19:25:35.000Z",
    },
    CatalogueImage {
        name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250305",
        description: "Canonical, Ubuntu, 24.04, amd64 noble image",
        owner_id: CANONICAL,
        owner_alias: None,
        architecture: ArchitectureValues::X8664,
        root_device: "/dev/sda1",
        root_gib: 8,
        creation_date: "2025-03-05T08:12:10.000Z",
    },
    CatalogueImage {
        name: "debian-12-amd64-20250210-2019",
        description: "Debian 12 (20250210-2019)",
        owner_id: DEBIAN,
        owner_alias: None,
        architecture: ArchitectureValues::X8664,
        root_device: "/dev/xvda",
        root_gib: 8,
        creation_date: "2025-02-10T20:26:31.000Z",
    },
];

fn image_id(region: &str, image: &CatalogueImage) -> String {
    format!("ami-{}", stable_hex(&format!("{region}/{}", image.name)))
}

/// The catalogue image with this id in `region`, if it is one.
pub(crate) fn catalogue_image(region: &str, id: &str) -> Option<&'static CatalogueImage> {
    CATALOGUE.iter().find(|i| image_id(region, i) == id)
}

fn wire_image(region: &str, i: &CatalogueImage) -> Image {
    let id = image_id(region, i);
    Image {
        image_id: Some(id.clone()),
        name: Some(i.name.to_string()),
        description: Some(i.description.to_string()),
        owner_id: Some(i.owner_id.to_string()),
        image_owner_alias: i.owner_alias.map(str::to_string),
        image_location: Some(format!("{}/{}", i.owner_alias.unwrap_or(i.owner_id), i.name)),
        state: Some(ImageState::Available),
        public: Some(true),
        architecture: Some(i.architecture),
        image_type: Some(ImageTypeValues::Machine),
        virtualization_type: Some(VirtualizationType::Hvm),
        hypervisor: Some(HypervisorType::Xen),
        root_device_type: Some(DeviceType::Ebs),
        root_device_name: Some(i.root_device.to_string()),
        ena_support: Some(true),
        sriov_net_support: Some("simple".to_string()),
        boot_mode: Some(if i.architecture == ArchitectureValues::Arm64 {
            BootModeValues::Uefi
        } else {
            BootModeValues::UefiPreferred
        }),
        platform_details: Some("Linux/UNIX".to_string()),
        usage_operation: Some("RunInstances".to_string()),
        creation_date: Some(i.creation_date.to_string()),
        block_device_mappings: Some(vec![BlockDeviceMapping {
            device_name: Some(i.root_device.to_string()),
            ebs: Some(EbsBlockDevice {
                snapshot_id: Some(format!("snap-{}", stable_hex(&format!("{id}/root")))),
                volume_size: Some(i.root_gib as i32),
                volume_type: Some(VolumeType::Gp3),
                delete_on_termination: Some(true),
                encrypted: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// A well-formed AMI id (`ami-` and 8 or 17 hex digits), or AWS's `InvalidAMIID.Malformed`.
pub(crate) fn check_image_id(id: &str) -> Result<(), ApiError> {
    let well_formed = id
        .strip_prefix("ami-")
        .is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::client("InvalidAMIID.Malformed", format!("Invalid id: \"{id}\" (expecting \"ami-...\")")))
    }
}

fn own_wire_image(i: &OwnImage, state: OwnState, account: &str) -> Image {
    Image {
        image_id: Some(i.id.clone()),
        name: Some(i.name.clone()),
        description: i.description.clone(),
        owner_id: Some(account.to_string()),
        image_location: Some(format!("{account}/{}", i.name)),
        state: Some(match state {
            OwnState::Pending => ImageState::Pending,
            OwnState::Available => ImageState::Available,
            OwnState::Failed => ImageState::Failed,
        }),
        public: Some(false),
        architecture: Some(ArchitectureValues::from_wire(&i.architecture).unwrap_or(ArchitectureValues::X8664)),
        image_type: Some(ImageTypeValues::Machine),
        virtualization_type: Some(VirtualizationType::Hvm),
        hypervisor: Some(HypervisorType::Xen),
        root_device_type: Some(DeviceType::Ebs),
        root_device_name: Some(i.root_device.clone()),
        ena_support: Some(true),
        sriov_net_support: Some("simple".to_string()),
        platform_details: Some("Linux/UNIX".to_string()),
        usage_operation: Some("RunInstances".to_string()),
        creation_date: Some(timestamp(i.created_ms).to_string()),
        source_instance_id: i.source_instance.as_ref().map(|s| s.to_string()),
        tags: (!i.tags.is_empty()).then(|| wire_tags(&i.tags)),
        block_device_mappings: Some(
            i.mappings
                .iter()
                .map(|m| BlockDeviceMapping {
                    device_name: Some(m.device.clone()),
                    ebs: Some(EbsBlockDevice {
                        snapshot_id: m.snapshot_id.as_ref().map(|s| s.to_string()),
                        volume_size: Some(m.size_gib as i32),
                        volume_type: Some(to_wire_type(m.volume_type)),
                        delete_on_termination: Some(m.delete_on_termination),
                        encrypted: Some(false),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }
}

fn filter_values(i: &Image, name: &str) -> Vec<String> {
    let root = i.block_device_mappings.iter().flatten().find(|m| m.device_name == i.root_device_name);
    let opt = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
    match name {
        "architecture" => i.architecture.iter().map(|a| a.as_str().to_string()).collect(),
        "block-device-mapping.snapshot-id" => i
            .block_device_mappings
            .iter()
            .flatten()
            .filter_map(|m| m.ebs.as_ref().and_then(|e| e.snapshot_id.clone()))
            .collect(),
        "block-device-mapping.volume-size" => {
            root.and_then(|m| m.ebs.as_ref()?.volume_size).map(|s| s.to_string()).into_iter().collect()
        }
        "description" => opt(&i.description),
        "image-id" => opt(&i.image_id),
        "image-type" => vec!["machine".to_string()],
        "is-public" => i.public.iter().map(|p| p.to_string()).collect(),
        "name" => opt(&i.name),
        "owner-alias" => opt(&i.image_owner_alias),
        "owner-id" => opt(&i.owner_id),
        "platform-details" => opt(&i.platform_details),
        "root-device-name" => opt(&i.root_device_name),
        "root-device-type" => vec!["ebs".to_string()],
        "state" => i.state.iter().map(|s| s.as_str().to_string()).collect(),
        "virtualization-type" => vec!["hvm".to_string()],
        "tag-key" => i.tags.iter().flatten().filter_map(|t| t.key.clone()).collect(),
        other => match other.strip_prefix("tag:") {
            Some(key) => i
                .tags
                .iter()
                .flatten()
                .filter(|t| t.key.as_deref() == Some(key))
                .filter_map(|t| t.value.clone())
                .collect(),
            None => vec![],
        },
    }
}

const IMAGE_FILTERS: &[&str] = &[
    "architecture",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size",
    "description",
    "image-id",
    "image-type",
    "is-public",
    "name",
    "owner-alias",
    "owner-id",
    "platform-details",
    "root-device-name",
    "root-device-type",
    "state",
    "tag-key",
    "tag:*",
    "virtualization-type",
];

pub(crate) fn describe_images(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeImagesRequest,
) -> Result<DescribeImagesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, IMAGE_FILTERS)?;
    let region = region(control, ctx)?;
    let region_name = region.name().to_string();
    let ids = r.image_ids.unwrap_or_default();
    for id in &ids {
        check_image_id(id)?;
    }
    let own = region
        .read(control.now_ms(), |state| {
            Ok(state
                .images()
                .iter()
                .map(|i| own_wire_image(i, state.image_state(i), &ctx.account_id))
                .collect::<Vec<_>>())
        })
        .map_err(control_error)?;
    let mut all: Vec<Image> = CATALOGUE.iter().map(|i| wire_image(&region_name, i)).collect();
    all.extend(own);
    if let Some(missing) = ids.iter().find(|id| !all.iter().any(|i| i.image_id.as_ref() == Some(*id))) {
        return Err(ApiError::client("InvalidAMIID.NotFound", format!("The image id '[{missing}]' does not exist")));
    }
    let owners = r.owners.unwrap_or_default();
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(usize::MAX);
    let matching: Vec<Image> = all
        .into_iter()
        .filter(|i| ids.is_empty() || i.image_id.as_ref().is_some_and(|id| ids.contains(id)))
        .filter(|i| {
            owners.is_empty()
                || owners.iter().any(|o| {
                    i.owner_id.as_ref() == Some(o)
                        || i.image_owner_alias.as_ref() == Some(o)
                        || (o == "self" && i.owner_id.as_deref() == Some(ctx.account_id.as_str()))
                })
        })
        .filter(|i| filter::matches(&filters, |name| filter_values(i, name)))
        .collect();
    let (page, next_token) = offset_page(matching, r.next_token.as_deref(), limit)?;
    Ok(DescribeImagesResult { images: Some(page), next_token })
}

pub(crate) fn create_image(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateImageRequest,
) -> Result<CreateImageResult, ApiError> {
    let instance = instance_id(&r.instance_id)?;
    let tags = tags_for(
        Some(
            &r.tag_specifications
                .iter()
                .flatten()
                .filter(|s| s.resource_type == Some(ResourceType::Image))
                .cloned()
                .collect::<Vec<_>>(),
        ),
        ResourceType::Image,
    )?;
    let now = control.now_ms();
    let image = region(control, ctx)?
        .create_image(&instance, &r.name, r.description.clone(), tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(CreateImageResult { image_id: Some(image.id) })
}

pub(crate) fn register_image(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RegisterImageRequest,
) -> Result<RegisterImageResult, ApiError> {
    if r.image_location.is_some() {
        return Err(ApiError::invalid_parameter_value(
            "ImageLocation (instance-store images from S3) is not supported by squall; register EBS snapshots.",
        ));
    }
    let root_device = r.root_device_name.clone().ok_or_else(|| ApiError::missing_parameter("RootDeviceName"))?;
    let mut mappings = Vec::new();
    for m in r.block_device_mappings.iter().flatten() {
        let device =
            m.device_name.clone().ok_or_else(|| ApiError::missing_parameter("BlockDeviceMapping.N.DeviceName"))?;
        let Some(ebs) = &m.ebs else { continue };
        let snapshot_id = ebs.snapshot_id.as_deref().map(crate::common::snapshot_id).transpose()?;
        let volume_type =
            ebs.volume_type.map(to_control_type).transpose()?.unwrap_or(squall_control::model::volume::VolumeType::Gp3);
        mappings.push(RequestedImageMapping {
            device,
            snapshot_id,
            size_gib: ebs.volume_size.map(|s| s.max(0) as u32),
            volume_type,
            delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
        });
    }
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Image)?;
    let now = control.now_ms();
    let spec = ImageSpec {
        name: r.name.clone(),
        description: r.description.clone(),
        architecture: r.architecture.map_or("x86_64", |a| a.as_str()).to_string(),
        root_device,
        mappings,
        tags,
    };
    let image = region(control, ctx)?.register_image(spec, now, r.dry_run == Some(true)).map_err(control_error)?;
    Ok(RegisterImageResult { image_id: Some(image.id) })
}

pub(crate) fn deregister_image(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeregisterImageRequest,
) -> Result<DeregisterImageResult, ApiError> {
    check_image_id(&r.image_id)?;
    let region = region(control, ctx)?;
    if catalogue_image(region.name().as_str(), &r.image_id).is_some() {
        return Err(ApiError::client("AuthFailure", format!("Not authorized for image:{}", r.image_id)));
    }
    let delete = r.delete_associated_snapshots == Some(true);
    let deleted: Vec<SnapshotId> = region
        .deregister_image(&r.image_id, delete, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(DeregisterImageResult {
        r#return: Some(true),
        delete_snapshot_results: delete.then(|| {
            deleted
                .iter()
                .map(|s| DeleteSnapshotReturnCode {
                    snapshot_id: Some(s.to_string()),
                    return_code: Some(SnapshotReturnCodes::Success),
                })
                .collect()
        }),
    })
}
