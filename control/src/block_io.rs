//! Block I/O on attached volumes, for the data path (NBD). Only a volume that is `in-use` can be
//! read or written, as on AWS only an instance does I/O. Every byte goes through the storage
//! cluster of the volume's zone: a write returns when both replicas have it.
//!
//! A volume that is stuck (re-mirroring without a confirmed primary) or whose I/O is disabled
//! after a failover answers [`IoError::Held`]: the caller holds the request and retries, which is
//! what an instance saw in April 2011 — I/O that hangs, not I/O that fails.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use squall_storage::{SharedCluster, StorageError};

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
}

/// What block I/O needs of an attached volume: its zone's cluster, its name there, its size, and
/// whether its I/O is held.
#[derive(Debug, Clone)]
struct IoTarget {
    cluster: SharedCluster,
    name: squall_storage::VolumeId,
    size: u64,
    state: VolumeState,
    /// Paused by a fault, or disabled after a failover until EnableVolumeIO.
    held: bool,
}

/// The data path's view of a region's volumes, kept beside the region's state and refreshed when
/// a command commits, so that block I/O never takes the state's lock: an NBD write waits for its
/// zone's cluster only, never for an API call or a metadata write.
#[derive(Debug, Default)]
pub(crate) struct IoIndex {
    targets: RwLock<HashMap<VolumeId, IoTarget>>,
}

impl IoIndex {
    fn get(&self, id: &VolumeId) -> Option<IoTarget> {
        self.targets.read().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }
}

impl RegionState {
    /// Brings the data path's view of these volumes up to date (a volume gone or never stored
    /// leaves it).
    pub(crate) fn refresh_io(&mut self, ids: impl IntoIterator<Item = VolumeId>) {
        let mut fresh = Vec::new();
        for id in ids {
            let target = self.volume(&id).ok().cloned().and_then(|v| {
                let cluster = self.store.opened_cluster(v.zone_id.as_str())?;
                Some(IoTarget {
                    cluster,
                    name: squall_storage::VolumeId::new(id.as_str()).ok()?,
                    size: u64::from(v.size_gib) << 30,
                    state: v.state,
                    held: v.io_disabled() || self.paused_since(&id).is_some(),
                })
            });
            fresh.push((id, target));
        }
        let mut targets = self.io.targets.write().unwrap_or_else(PoisonError::into_inner);
        for (id, target) in fresh {
            match target {
                Some(t) => targets.insert(id, t),
                None => targets.remove(&id),
            };
        }
    }
}

pub fn io_error(id: &VolumeId, e: StorageError) -> IoError {
    match e {
        StorageError::Stuck(_) => IoError::Held(id.to_string()),
        other => IoError::Storage(other.to_string()),
    }
}

impl Region {
    /// The target of an I/O to `id` over `offset..offset+len`, if it may proceed now. Reads the
    /// data path's view only (a volume it does not know is looked up once through the state).
    fn io_target(&self, id: &VolumeId, offset: u64, len: u64, now_ms: u64) -> Result<IoTarget, IoError> {
        let target = match self.io.get(id) {
            Some(t) => t,
            None => {
                self.with_state(now_ms, |state| {
                    state.refresh_io([id.clone()]);
                    Ok(())
                })
                .map_err(|e| IoError::Storage(e.to_string()))?;
                self.io.get(id).ok_or_else(|| IoError::NotFound(id.to_string()))?
            }
        };
        if target.state != VolumeState::InUse {
            return Err(IoError::NotAttached { volume: id.to_string(), state: state_name(target.state) });
        }
        if target.held {
            return Err(IoError::Held(id.to_string()));
        }
        if offset.checked_add(len).is_none_or(|end| end > target.size) {
            return Err(IoError::OutOfRange { offset, len, size: target.size });
        }
        Ok(target)
    }

    /// Reads from an attached volume. The zone's cluster is held only to look at the replica
    /// set; the read itself runs beside other I/O. A block that fails its checksum is read again
    /// under the cluster, which repairs it from the other replica.
    pub fn io_read(&self, id: &VolumeId, offset: u64, len: u64, now_ms: u64) -> Result<Vec<u8>, IoError> {
        let t = self.io_target(id, offset, len, now_ms)?;
        let plan = t.cluster.lock().plan_io(&t.name, None);
        match plan.and_then(|plan| plan.read(offset, len)) {
            Err(StorageError::Corrupt { .. }) => {
                let repaired = t.cluster.lock().read(&t.name, offset, len);
                repaired.map_err(|e| io_error(id, e))
            }
            other => other.map_err(|e| io_error(id, e)),
        }
    }

    /// Writes to an attached volume; returns when both replicas have the bytes. The zone's
    /// cluster is held only to look at the replica set.
    pub fn io_write(&self, id: &VolumeId, offset: u64, data: &[u8], now_ms: u64) -> Result<(), IoError> {
        let t = self.io_target(id, offset, data.len() as u64, now_ms)?;
        let plan = t.cluster.lock().plan_io(&t.name, Some(data.len() as u64));
        plan.and_then(|plan| plan.write(offset, data)).map_err(|e| io_error(id, e))
    }

    /// Zeroes a range (TRIM and WRITE_ZEROES).
    pub fn io_zero(&self, id: &VolumeId, offset: u64, len: u64, now_ms: u64) -> Result<(), IoError> {
        let t = self.io_target(id, offset, len, now_ms)?;
        let plan = t.cluster.lock().plan_io(&t.name, Some(squall_storage::ZERO_REQUEST_BYTES));
        plan.and_then(|plan| plan.zero(offset, len)).map_err(|e| io_error(id, e))
    }

    /// Makes every acknowledged write durable on both replicas: the files to sync are taken
    /// under the cluster's lock, synced outside it.
    pub fn io_flush(&self, id: &VolumeId, now_ms: u64) -> Result<(), IoError> {
        let t = self.io_target(id, 0, 0, now_ms)?;
        let handles = t.cluster.lock().flush_handles(&t.name);
        handles.map_err(|e| io_error(id, e))?.sync().map_err(|e| io_error(id, e))
    }
}

impl ControlPlane {
    /// The export of an attached volume, looked up in every region in use or on disk.
    pub fn export(&self, id: &str) -> Result<Export, IoError> {
        let now = self.now_ms();
        for name in self.known_regions() {
            let found = self.region(&name).read(now, |state| Ok(state.export(id, &name)));
            match found.unwrap_or_else(|e| Err(IoError::Storage(e.to_string()))) {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::IoError;
    use crate::test_support::TestRegion;

    #[test]
    fn block_io_goes_on_while_an_api_call_holds_the_region() {
        let t = TestRegion::new();
        let i = t.launch("us-east-1a", &[1]).unwrap();
        t.advance(300);
        let v = t
            .region
            .read(t.now(), |s| {
                Ok(s.volumes_after(None, 10, |v| v.attachments.iter().any(|a| a.device == "/dev/sdf")).0)
            })
            .unwrap()
            .remove(0);
        t.region.io_write(&v.id, 0, b"before", t.now()).unwrap();
        let beyond = t.region.io_read(&v.id, (1 << 30) - 2, 4, t.now()).unwrap_err();
        assert!(matches!(beyond, IoError::OutOfRange { .. }), "{beyond:?}");
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            let t = &t;
            scope.spawn(move || {
                // A slow command: it holds the region's state for a second.
                t.region
                    .with_state(t.now(), |_| {
                        tx.send(()).unwrap();
                        std::thread::sleep(Duration::from_secs(1));
                        Ok(())
                    })
                    .unwrap();
            });
            rx.recv().unwrap();
            let started = Instant::now();
            t.region.io_write(&v.id, 4096, b"during", t.now()).unwrap();
            let read = t.region.io_read(&v.id, 4096, 6, t.now()).unwrap();
            t.region.io_flush(&v.id, t.now()).unwrap();
            assert_eq!(read, b"during");
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "I/O waited {:?} for the region",
                started.elapsed()
            );
        });
        // The data path follows what commands commit: detached, the volume takes no I/O.
        t.region.detach_volume(&v.id, Some(&i.id), None, t.now(), false).unwrap();
        t.advance(300);
        t.region.read(t.now(), |_| Ok(())).unwrap();
        let refused = t.region.io_read(&v.id, 0, 6, t.now()).unwrap_err();
        assert!(matches!(refused, IoError::NotAttached { .. }), "{refused:?}");
    }
}
