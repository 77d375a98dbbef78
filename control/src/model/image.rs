//! The account's own images as data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{InstanceId, SnapshotId};
use crate::model::volume::VolumeType;
use crate::table::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMapping {
    pub device: String,
    pub snapshot_id: Option<SnapshotId>,
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// `x86_64`, `arm64`, `i386`, `x86_64_mac`, `arm64_mac`.
    pub architecture: String,
    pub root_device: String,
    pub mappings: Vec<ImageMapping>,
    pub created_ms: u64,
    pub source_instance: Option<InstanceId>,
    pub tags: BTreeMap<String, String>,
}

impl Row for Image {
    const TABLE: &'static str = "images";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    /// Its snapshots are still being taken.
    Pending,
    Available,
    /// A snapshot failed or vanished.
    Failed,
}

/// What RegisterImage asks for.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub name: String,
    pub description: Option<String>,
    pub architecture: String,
    pub root_device: String,
    pub mappings: Vec<RequestedImageMapping>,
    pub tags: BTreeMap<String, String>,
}

/// One `BlockDeviceMapping.N` of a RegisterImage: without a size, the snapshot's (8 GiB for a
/// blank volume).
#[derive(Debug, Clone)]
pub struct RequestedImageMapping {
    pub device: String,
    pub snapshot_id: Option<SnapshotId>,
    pub size_gib: Option<u32>,
    pub volume_type: VolumeType,
    pub delete_on_termination: bool,
}

/// The errors of the account's images.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("image {0} does not exist")]
    NotFound(String),
    #[error("{0:?} is not a valid image name")]
    InvalidImageName(String),
    #[error("image name {name} is in use by {image}")]
    ImageNameInUse { name: String, image: String },
    #[error("no snapshot is mapped to the root device {0}")]
    MissingRootSnapshot(String),
    #[error("image {0} is not available yet")]
    ImageNotAvailable(String),
}
