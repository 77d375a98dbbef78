//! Block I/O on attached volumes, for the data path (NBD). Only a volume that is `in-use` can be
//! read or written, as on AWS only an instance does I/O. Every byte goes through the storage
//! cluster of the volume's zone: a write returns when both replicas have it.
//!
//! A volume that is stuck (re-mirroring without a confirmed primary) or whose I/O is disabled
//! after a failover answers [`IoError::Held`]: the caller holds the request and retries, which is
//! what an instance saw in April 2011 — I/O that hangs, not I/O that fails.

use squall_storage::StorageError;

use crate::ids::{RegionName, VolumeId};
use crate::model::volume::VolumeState;
use crate::state::RegionState;
use crate::{ControlPlane, Region};

/// An attached volume as the data path exports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub volume: VolumeId,
    pub region: RegionName,
    pub size_bytes: u64,
    /// `vol-… (us-east-1a, attached to i-… as /dev/sdf)`.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    #[error("volume {0} does not exist")]
    NotFound(String),
    #[error("volume {volume} is {state} (only attached volumes can do I/O)")]
    NotAttached { volume: String, state: &'static str },
    /// Stuck or I/O disabled: retry later.
    #[error("I/O to volume {0} is held (stuck or disabled)")]
    Held(String),
    #[error("{offset}+{len} is beyond the end of the volume ({size} bytes)")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    #[error("storage error: {0}")]
    Storage(String),
}

fn state_name(s: VolumeState) -> &'static str {
    match s {
        VolumeState::Creating => "creating",
        VolumeState::Available => "available (not attached)",
        VolumeState::InUse => "in-use",
        VolumeState::Deleting => "deleting",
    }
}

impl RegionState {
    /// The export of an attached volume, or why it cannot be one.
    pub fn export(&self, id: &str, region: &RegionName) -> Result<Export, IoError> {
        let vid = VolumeId::parse(id).map_err(|_| IoError::NotFound(id.to_string()))?;
        let v = self.volume(&vid).map_err(|_| IoError::NotFound(id.to_string()))?;
        if v.state != VolumeState::InUse {
            return Err(IoError::NotAttached { volume: id.to_string(), state: state_name(v.state) });
        }
        let attached = v
            .attachments
            .iter()
            .map(|a| format!("attached to {} as {}", a.instance, a.device))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Export {
            volume: vid,
            region: region.clone(),
            size_bytes: u64::from(v.size_gib) << 30,
            description: format!("{id} ({}, {attached})", v.zone),
        })
    }

    /// Every attached volume of the region.
    pub fn exports(&self, region: &RegionName) -> Vec<Export> {
        let (attached, _) = self.volumes_after(None, usize::MAX, |v| v.state == VolumeState::InUse);
        attached.iter().filter_map(|v| self.export(v.id.as_str(), region).ok()).collect()
    }

    /// The cluster and store name of an attached volume whose I/O may proceed, after checking
    /// the range against its size.
    fn io_target(&mut self, id: &VolumeId, offset: u64, len: u64) -> Result<&mut squall_storage::Cluster, IoError> {
        let v = self.volume(id).map_err(|_| IoError::NotFound(id.to_string()))?;
        if v.state != VolumeState::InUse {
            return Err(IoError::NotAttached { volume: id.to_string(), state: state_name(v.state) });
        }
        if v.io_disabled() || self.paused_since(id).is_some() {
            return Err(IoError::Held(id.to_string()));
        }
        let size = u64::from(v.size_gib) << 30;
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(IoError::OutOfRange { offset, len, size });
        }
        let zone = v.zone_id.clone();
        self.storage_cluster(&zone).map_err(|e| IoError::Storage(e.to_string()))
    }

    pub fn io_read(&mut self, id: &VolumeId, offset: u64, len: u64) -> Result<Vec<u8>, IoError> {
        let name = store_name(id)?;
        self.io_target(id, offset, len)?.read(&name, offset, len).map_err(|e| io_error(id, e))
    }

    pub fn io_write(&mut self, id: &VolumeId, offset: u64, data: &[u8]) -> Result<(), IoError> {
        let name = store_name(id)?;
        self.io_target(id, offset, data.len() as u64)?.write(&name, offset, data).map_err(|e| io_error(id, e))
    }

    /// Zeroes a range (TRIM and WRITE_ZEROES).
    pub fn io_zero(&mut self, id: &VolumeId, offset: u64, len: u64) -> Result<(), IoError> {
        let name = store_name(id)?;
        self.io_target(id, offset, len)?.zero(&name, offset, len).map_err(|e| io_error(id, e))
    }

    /// What makes every acknowledged write durable on both replicas; call
    /// [`squall_storage::FlushHandles::sync`] on it after letting go of the region.
    pub fn io_flush(&mut self, id: &VolumeId) -> Result<squall_storage::FlushHandles, IoError> {
        let name = store_name(id)?;
        self.io_target(id, 0, 0)?.flush_handles(&name).map_err(|e| io_error(id, e))
    }
}

fn store_name(id: &VolumeId) -> Result<squall_storage::VolumeId, IoError> {
    squall_storage::VolumeId::new(id.as_str()).map_err(|e| IoError::Storage(e.to_string()))
}

pub fn io_error(id: &VolumeId, e: StorageError) -> IoError {
    match e {
        StorageError::Stuck(_) => IoError::Held(id.to_string()),
        other => IoError::Storage(other.to_string()),
    }
}

impl Region {
    /// Runs block I/O on the region's state at `now_ms`.
    pub fn block_io<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&mut RegionState) -> Result<T, IoError>,
    ) -> Result<T, IoError> {
        let mut out = None;
        let result = self.with_state(now_ms, |state| {
            out = Some(f(state));
            Ok(())
        });
        match (result, out) {
            (_, Some(r)) => r,
            (Err(e), None) => Err(IoError::Storage(e.to_string())),
            (Ok(()), None) => Err(IoError::Storage("block I/O did not run".into())),
        }
    }
}

impl ControlPlane {
    /// The export of an attached volume, looked up in every region in use or on disk.
    pub fn export(&self, id: &str) -> Result<Export, IoError> {
        let now = self.now_ms();
        for name in self.known_regions() {
            match self.region(&name).block_io(now, |state| state.export(id, &name)) {
                Err(IoError::NotFound(_)) => continue,
                found => return found,
            }
        }
        Err(IoError::NotFound(id.to_string()))
    }

    /// Every attached volume of every region in use or on disk, by volume id.
    pub fn exports(&self) -> Vec<Export> {
        let now = self.now_ms();
        let mut out: Vec<Export> = self
            .known_regions()
            .into_iter()
            .flat_map(|name| {
                let region = self.region(&name);
                region.with_state(now, |state| Ok(state.exports(&name))).unwrap_or_default()
            })
            .collect();
        out.sort_by(|a, b| a.volume.as_str().cmp(b.volume.as_str()));
        out
    }

    /// Regions that have been used since start, plus those with state in the data directory.
    pub fn known_regions(&self) -> Vec<RegionName> {
        let mut names: Vec<RegionName> =
            self.active_regions().into_iter().filter(|r| self.region(r).has_state()).collect();
        if let Ok(dir) = std::fs::read_dir(self.config().data_dir.join("regions")) {
            for entry in dir.flatten() {
                if let Some(name) = entry.file_name().to_str().and_then(|n| RegionName::parse(n).ok()) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names
    }
}
