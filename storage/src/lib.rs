//! squall's replicated block store: one cluster of storage nodes per Availability Zone, two
//! replicas per volume on two nodes of its cluster, an authority per cluster that holds each
//! volume's replica set and epoch (fencing stale primaries), two networks between nodes, and
//! re-mirroring when a replica loses its peer — with the 2011 policy or the hardened one.
//!
//! This crate knows nothing of HTTP or AWS: it speaks of clusters, nodes, replicas, epochs and
//! blocks. Time and randomness are injected ([`Clock`], a seed), so a simulation replays exactly
//! from its seed. See `docs/storage.md` for the model and how it maps to the 2011 post-mortem.

mod clock;
mod cluster;
mod durable;
mod fabric;
mod journal;
mod policy;
mod quorum;
mod region;
mod replica;
mod segments;
mod snapshot;

use std::fmt;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::{
    Cluster, ClusterConfig, ClusterStatus, Counters, FlushHandles, IoPlan, NodeStatus, ZERO_REQUEST_BYTES,
};
pub use fabric::{Fabric, Network, RouteError};
pub use journal::VolumeRecord;
pub use policy::{policy, Hardened, Legacy, PolicyKind, RemirrorPolicy};
pub use quorum::{QuorumHealth, QuorumMember, QuorumVolume};
pub use region::{RegionStore, SharedCluster};
pub use replica::{BLOCK_SIZE, DIRECT_ALIGN};
pub use snapshot::{SnapshotId, SnapshotInfo, SnapshotStore, SNAPSHOT_BLOCK_SIZE};

/// A storage node of one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node-{}", self.0)
    }
}

/// A volume's name in the store: 1 to 128 characters of `[A-Za-z0-9._-]` (it names files).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VolumeId(String);

impl VolumeId {
    pub fn new(s: &str) -> Result<Self, StorageError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(StorageError::InvalidName(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VolumeId {
    type Error = StorageError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<VolumeId> for String {
    fn from(v: VolumeId) -> String {
        v.0
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong in the store, in its own terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("no two nodes of cluster {cluster} have {requested} bytes free")]
    InsufficientCapacity { cluster: String, requested: u64 },
    #[error("volume {0} already exists")]
    VolumeExists(VolumeId),
    #[error("volume {0} does not exist")]
    VolumeNotFound(VolumeId),
    #[error("volume {0} is stuck: no writable primary is confirmed")]
    Stuck(VolumeId),
    #[error("volume {0} has no live replica")]
    NoLiveReplica(VolumeId),
    #[error("volume {volume}: request of epoch {request} refused by a replica of epoch {replica}")]
    StaleEpoch { volume: VolumeId, request: u64, replica: u64 },
    #[error("volume {volume}: range {offset}+{len} is outside its {size} bytes")]
    OutOfRange { volume: VolumeId, offset: u64, len: u64, size: u64 },
    #[error("volume {volume}: block {block} failed its checksum on every replica")]
    Corrupt { volume: VolumeId, block: u64 },
    #[error("volume {volume}: I/O error: {message}")]
    Io { volume: VolumeId, message: String },
    #[error("{0} does not exist")]
    NodeNotFound(NodeId),
    #[error("{0} is down")]
    NodeDown(NodeId),
    #[error("invalid name {0:?}")]
    InvalidName(String),
    #[error("snapshot {0} does not exist")]
    SnapshotNotFound(String),
    #[error("snapshots {0} and {1} are not of the same lineage")]
    DifferentLineage(String, String),
    #[error("store I/O error: {0}")]
    StoreIo(String),
    #[error("volume {volume}: {acked} copies took the request, {needed} are needed ({cause})")]
    NoQuorum { volume: VolumeId, acked: u32, needed: u32, cause: String },
}
