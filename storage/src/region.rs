//! A region's storage: one cluster per Availability Zone, created on first use (so a region's
//! six zones cost nothing until a volume lands in one), and the regional snapshot store.
//!
//! Each cluster has a lock of its own ([`SharedCluster`]): the data path of one zone reaches its
//! cluster without waiting for the owner of the store, nor for another zone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Clock, Cluster, ClusterConfig, SnapshotStore, StorageError};

#[derive(Debug)]
pub struct RegionStore {
    dir: PathBuf,
    config: ClusterConfig,
    clock: Arc<dyn Clock>,
    seed: u64,
    clusters: BTreeMap<String, SharedCluster>,
    snapshots: SnapshotStore,
}

/// A zone's cluster, shared between the store's owner and the data path.
#[derive(Debug, Clone)]
pub struct SharedCluster(Arc<Mutex<Cluster>>);

impl SharedCluster {
    /// The cluster, for one operation (a poisoned lock is taken over: the cluster's state is
    /// kept consistent by each operation, not by the lock).
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RegionStore {
    /// Opens the store under `dir`; clusters are opened when first named.
    pub fn open(dir: &Path, config: ClusterConfig, clock: Arc<dyn Clock>, seed: u64) -> Result<Self, StorageError> {
        let snapshots = SnapshotStore::open(&dir.join("snapshots"))?;
        Ok(Self { dir: dir.to_path_buf(), config, clock, seed, clusters: BTreeMap::new(), snapshots })
    }

    /// The cluster named `zone` (an opaque name; the control plane uses zone ids), opened or
    /// created on first use. Cluster names follow volume naming rules.
    pub fn cluster(&mut self, zone: &str) -> Result<SharedCluster, StorageError> {
        if !self.clusters.contains_key(zone) {
            crate::VolumeId::new(zone)?; // the name becomes a directory
                                         // Each cluster draws from its own random stream, derived from the region's seed.
            let seed = self.seed
                ^ zone.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            let cluster =
                Cluster::open(&self.dir.join("clusters").join(zone), zone, &self.config, self.clock.clone(), seed)?;
            self.clusters.insert(zone.to_string(), SharedCluster(Arc::new(Mutex::new(cluster))));
        }
        self.clusters.get(zone).cloned().ok_or_else(|| StorageError::StoreIo(format!("cluster {zone} vanished")))
    }

    /// The cluster of a zone if it is open (every cluster holding a volume is, once the store
    /// has been opened by its owner).
    pub fn opened_cluster(&self, zone: &str) -> Option<SharedCluster> {
        self.clusters.get(zone).cloned()
    }

    /// Names of the clusters stored under the store's directory (opened or not).
    pub fn stored_cluster_names(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        let entries = match std::fs::read_dir(self.dir.join("clusters")) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(StorageError::StoreIo(e.to_string())),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::StoreIo(e.to_string()))?;
            if entry.path().is_dir() {
                names.extend(entry.file_name().to_str().map(str::to_string));
            }
        }
        names.sort();
        Ok(names)
    }

    /// Clusters opened so far.
    pub fn clusters(&self) -> impl Iterator<Item = (&String, &SharedCluster)> {
        self.clusters.iter()
    }

    /// Switches the re-mirroring policy of every open cluster and of clusters opened later.
    pub fn set_policy(&mut self, kind: crate::PolicyKind) -> Result<(), StorageError> {
        self.config.policy = kind;
        for c in self.clusters.values() {
            c.lock().set_policy(kind)?;
        }
        Ok(())
    }

    pub fn snapshots(&self) -> &SnapshotStore {
        &self.snapshots
    }

    /// The cluster of `zone` and the snapshot store together (snapshotting reads a cluster).
    pub fn cluster_and_snapshots(&mut self, zone: &str) -> Result<(SharedCluster, &SnapshotStore), StorageError> {
        let cluster = self.cluster(zone)?;
        Ok((cluster, &self.snapshots))
    }

    /// One round of background work in every open cluster.
    pub fn tick(&mut self) -> Result<(), StorageError> {
        for cluster in self.clusters.values() {
            cluster.lock().tick()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, VolumeId};

    #[test]
    fn clusters_are_lazy_and_snapshots_cross_zones() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let config = ClusterConfig { node_capacity: 64 << 20, ..ClusterConfig::default() };
        let mut region = RegionStore::open(dir.path(), config.clone(), clock.clone(), 1).unwrap();
        assert_eq!(region.clusters().count(), 0);
        let v = VolumeId::new("v").unwrap();
        region.cluster("use1-az1").unwrap().lock().create_volume(&v, 1 << 20).unwrap();
        region.cluster("use1-az1").unwrap().lock().write(&v, 0, b"hello").unwrap();
        let (az1, snaps) = region.cluster_and_snapshots("use1-az1").unwrap();
        snaps.snapshot_volume(&mut az1.lock(), &v, &VolumeId::new("s").unwrap(), None).unwrap();
        let (az2, snaps) = region.cluster_and_snapshots("use1-az2").unwrap();
        snaps.restore(&VolumeId::new("s").unwrap(), &mut az2.lock(), &v, 1 << 20).unwrap();
        assert_eq!(region.cluster("use1-az2").unwrap().lock().read(&v, 0, 5).unwrap(), b"hello");
        assert_eq!(region.clusters().count(), 2);
        assert!(region.cluster("../escape").is_err());
        drop(region);
        let mut again = RegionStore::open(dir.path(), config, clock, 1).unwrap();
        assert_eq!(again.cluster("use1-az2").unwrap().lock().read(&v, 0, 5).unwrap(), b"hello");
    }
}
