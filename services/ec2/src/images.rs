//! Images: `DescribeImages` over a small built-in catalogue of public images per region, with
//! ids that are stable per region. RunInstances takes the root device of a catalogue image; any
//! other well-formed `ami-` id launches with squall's default root device (documented).

use squall_control::{stable_hex, ControlPlane};
use squall_protocol::{ApiError, RequestContext};

use crate::common::{offset_page, page_size, region};
use crate::generated::{
    ArchitectureValues, BlockDeviceMapping, BootModeValues, DescribeImagesRequest, DescribeImagesResult, DeviceType,
    EbsBlockDevice, HypervisorType, Image, ImageState, ImageTypeValues, VirtualizationType, VolumeType,
};
use crate::{check_dry_run, filter};

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

pub(crate) fn describe_images(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeImagesRequest,
) -> Result<DescribeImagesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(
        &filters,
        &[
            "architecture",
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
            "virtualization-type",
        ],
    )?;
    let region_name = region(control, ctx)?.name().to_string();
    let ids = r.image_ids.unwrap_or_default();
    for id in &ids {
        let well_formed = id
            .strip_prefix("ami-")
            .is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Err(ApiError::client(
                "InvalidAMIID.Malformed",
                format!("Invalid id: \"{id}\" (expecting \"ami-...\")"),
            ));
        }
        if catalogue_image(&region_name, id).is_none() {
            return Err(ApiError::client("InvalidAMIID.NotFound", format!("The image id '[{id}]' does not exist")));
        }
    }
    let owners = r.owners.unwrap_or_default();
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(usize::MAX);
    let matching: Vec<Image> = CATALOGUE
        .iter()
        .filter(|i| ids.is_empty() || ids.contains(&image_id(&region_name, i)))
        .filter(|i| {
            owners.is_empty()
                || owners.iter().any(|o| {
                    *o == i.owner_id
                        || Some(o.as_str()) == i.owner_alias
                        || (o == "self" && i.owner_id == ctx.account_id)
                })
        })
        .filter(|i| {
            filter::matches(&filters, |name| match name {
                "architecture" => vec![i.architecture.as_str().to_string()],
                "description" => vec![i.description.to_string()],
                "image-id" => vec![image_id(&region_name, i)],
                "image-type" => vec!["machine".to_string()],
                "is-public" => vec!["true".to_string()],
                "name" => vec![i.name.to_string()],
                "owner-alias" => i.owner_alias.map(str::to_string).into_iter().collect(),
                "owner-id" => vec![i.owner_id.to_string()],
                "platform-details" => vec!["Linux/UNIX".to_string()],
                "root-device-name" => vec![i.root_device.to_string()],
                "root-device-type" => vec!["ebs".to_string()],
                "state" => vec!["available".to_string()],
                "virtualization-type" => vec!["hvm".to_string()],
                _ => vec![],
            })
        })
        .map(|i| wire_image(&region_name, i))
        .collect();
    let (page, next_token) = offset_page(matching, r.next_token.as_deref(), limit)?;
    Ok(DescribeImagesResult { images: Some(page), next_token })
}
