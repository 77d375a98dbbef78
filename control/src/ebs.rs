//! EBS in one region: volumes and snapshots as the control plane sees them (state, type,
//! attachments, tags), each volume backed by a real volume in the zone's storage cluster and
//! each snapshot by real blocks in the regional snapshot store.
//!
//! States advance by themselves: every call first settles the region at the current time
//! (`creating` → `available` after the configured delay, `pending` → `completed`, …), so SDK
//! waiters see the transitions without any timer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use squall_storage::{RegionStore, StorageError, VolumeId as StoreName};

use crate::db::{self, Db, Row};
use crate::ids::{AzId, AzName, InstanceId, SnapshotId, VolumeId};
use crate::images::Image;
use crate::instances::{Instance, InstanceState};
use crate::keypairs::KeyPair;
use crate::network::{NetworkState, Subnet, Vpc};
use crate::security_groups::SecurityGroup;
use crate::table::Table;
use crate::ControlError;

const GIB: u64 = 1 << 30;
/// AWS's limit of tags per resource.
pub const MAX_TAGS: usize = 50;

/// How long each asynchronous transition takes. Short by default so waiters return quickly, but
/// not zero, so they do wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleDelays {
    pub volume_create: Duration,
    pub volume_delete: Duration,
    pub attach: Duration,
    pub detach: Duration,
    pub snapshot: Duration,
    pub modification: Duration,
}

impl LifecycleDelays {
    /// The same delay for every transition.
    pub fn uniform(delay: Duration) -> Self {
        Self {
            volume_create: delay,
            volume_delete: delay,
            attach: delay,
            detach: delay,
            snapshot: delay,
            modification: delay,
        }
    }
}

impl Default for LifecycleDelays {
    fn default() -> Self {
        Self::uniform(Duration::from_millis(300))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Gp2,
    Gp3,
    Io1,
    Io2,
    St1,
    Sc1,
    Standard,
}

/// AWS's limits for one volume type (EBS User Guide, "Amazon EBS volume types").
#[derive(Debug, Clone, Copy)]
pub struct TypeLimits {
    pub min_gib: u32,
    pub max_gib: u32,
    /// (min, max, default, max per GiB) when IOPS can be provisioned.
    pub iops: Option<(u32, u32, Option<u32>, u32)>,
    /// (min, max, default) MiB/s when throughput can be provisioned.
    pub throughput: Option<(u32, u32, u32)>,
}

impl VolumeType {
    pub fn limits(self) -> TypeLimits {
        match self {
            VolumeType::Gp2 => TypeLimits { min_gib: 1, max_gib: 16_384, iops: None, throughput: None },
            VolumeType::Gp3 => TypeLimits {
                min_gib: 1,
                max_gib: 16_384,
                iops: Some((3_000, 16_000, Some(3_000), 500)),
                throughput: Some((125, 1_000, 125)),
            },
            VolumeType::Io1 => {
                TypeLimits { min_gib: 4, max_gib: 16_384, iops: Some((100, 64_000, None, 50)), throughput: None }
            }
            VolumeType::Io2 => {
                TypeLimits { min_gib: 4, max_gib: 65_536, iops: Some((100, 256_000, None, 1_000)), throughput: None }
            }
            VolumeType::St1 | VolumeType::Sc1 => {
                TypeLimits { min_gib: 125, max_gib: 16_384, iops: None, throughput: None }
            }
            VolumeType::Standard => TypeLimits { min_gib: 1, max_gib: 1_024, iops: None, throughput: None },
        }
    }

    /// The IOPS a volume of this type and size delivers without provisioning (gp2's burst
    /// baseline: 3 per GiB, 100 to 16,000).
    pub fn baseline_iops(self, size_gib: u32) -> Option<u32> {
        match self {
            VolumeType::Gp2 => Some((size_gib.saturating_mul(3)).clamp(100, 16_000)),
            _ => None,
        }
    }

    pub fn supports_multi_attach(self) -> bool {
        matches!(self, VolumeType::Io1 | VolumeType::Io2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    Creating,
    Available,
    InUse,
    Deleting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentState {
    Attaching,
    Attached,
    Detaching,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub instance: InstanceId,
    pub device: String,
    pub state: AttachmentState,
    pub since_ms: u64,
    pub attach_time_ms: u64,
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModificationState {
    Modifying,
    Optimizing,
    Completed,
}

/// The settings a volume has or is being changed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSettings {
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub multi_attach: bool,
}

/// The latest ModifyVolume of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modification {
    pub original: VolumeSettings,
    pub target: VolumeSettings,
    pub state: ModificationState,
    pub state_since_ms: u64,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    pub zone: AzName,
    pub zone_id: AzId,
    pub size_gib: u32,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach: bool,
    pub snapshot_id: Option<SnapshotId>,
    pub create_time_ms: u64,
    pub state: VolumeState,
    pub state_since_ms: u64,
    pub attachments: Vec<Attachment>,
    pub auto_enable_io: bool,
    pub tags: BTreeMap<String, String>,
    pub client_token: Option<String>,
    pub modification: Option<Modification>,
    /// The storage primary and epoch last seen, to notice a failover to the other replica.
    #[serde(default)]
    pub seen_primary: Option<(u32, u64)>,
    /// The latest potential-data-inconsistency event, if any.
    #[serde(default)]
    pub io_event: Option<IoEvent>,
}

/// EBS disables a volume's I/O when its data may be inconsistent: squall does so when a volume
/// fails over to its other replica (the primary was lost while the instance may have had writes
/// in flight to it). `autoEnableIO` re-enables at once; otherwise `EnableVolumeIO` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoEvent {
    pub id: String,
    pub since_ms: u64,
    /// When I/O was enabled again (by the user, or automatically).
    pub enabled_ms: Option<u64>,
    pub auto_enabled: bool,
}

impl Volume {
    /// Whether I/O is disabled, waiting for `EnableVolumeIO`.
    pub fn io_disabled(&self) -> bool {
        self.io_event.as_ref().is_some_and(|e| e.enabled_ms.is_none())
    }
}

impl Volume {
    pub fn settings(&self) -> VolumeSettings {
        VolumeSettings {
            size_gib: self.size_gib,
            volume_type: self.volume_type,
            iops: self.iops,
            throughput: self.throughput,
            multi_attach: self.multi_attach,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    Pending,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub volume_id: Option<VolumeId>,
    pub volume_size_gib: u32,
    pub description: String,
    pub start_time_ms: u64,
    pub state: SnapshotState,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Account ids (and `all`) allowed to create volumes from it.
    pub create_volume_permissions: Vec<String>,
    /// Started through the EBS direct APIs and not yet completed: stays `pending` until
    /// CompleteSnapshot.
    #[serde(default)]
    pub awaiting_completion: bool,
    #[serde(default)]
    pub parent: Option<SnapshotId>,
}

/// Bytes per block of the EBS direct APIs.
pub const DIRECT_BLOCK_SIZE: u64 = 512 * 1024;

/// A block of a completed snapshot, as the EBS direct APIs list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlock {
    pub index: u64,
    /// Hex SHA-256 of the block's bytes.
    pub hash: String,
}

/// What a CreateVolume asks for, after wire decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub zone: AzName,
    pub size_gib: Option<u32>,
    pub snapshot_id: Option<SnapshotId>,
    pub volume_type: VolumeType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach: bool,
    pub tags: BTreeMap<String, String>,
    pub client_token: Option<String>,
}

/// The health of a volume's data path, as DescribeVolumeStatus reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeHealth {
    Ok,
    /// No writable primary is confirmed (re-mirroring): I/O is stalled.
    Stuck,
}

/// The earliest time one of the volume's pending transitions falls due (`u64::MAX`: none).
fn volume_next_due(v: &Volume, d: LifecycleDelays) -> u64 {
    let at = |since: u64, delay: Duration| since.saturating_add(delay.as_millis() as u64);
    let mut next = match v.state {
        VolumeState::Creating => at(v.state_since_ms, d.volume_create),
        VolumeState::Deleting => at(v.state_since_ms, d.volume_delete),
        VolumeState::Available | VolumeState::InUse => u64::MAX,
    };
    if let Some(m) = &v.modification {
        if m.state != ModificationState::Completed {
            next = next.min(at(m.state_since_ms, d.modification));
        }
    }
    for a in &v.attachments {
        match a.state {
            AttachmentState::Attaching => next = next.min(at(a.since_ms, d.attach)),
            AttachmentState::Detaching => next = next.min(at(a.since_ms, d.detach)),
            AttachmentState::Attached => {}
        }
    }
    next
}

impl Row for Volume {
    const TABLE: &'static str = "volumes";
    type Key = VolumeId;
    fn key(&self) -> VolumeId {
        self.id.clone()
    }
}

impl Row for Snapshot {
    const TABLE: &'static str = "snapshots";
    type Key = SnapshotId;
    fn key(&self) -> SnapshotId {
        self.id.clone()
    }
}

/// The `meta` key that records that the default network was made (a deleted default VPC stays
/// deleted).
pub(crate) const DEFAULT_NETWORK_MADE: &str = "default_network_made";

/// The EBS state of one region. Not thread-safe by itself: the region holds it in a lock.
#[derive(Debug)]
pub struct Ebs {
    db: Db,
    store: RegionStore,
    volumes: Table<VolumeId, Volume>,
    snapshots: Table<SnapshotId, Snapshot>,
    /// The region's instances; volumes attach only to these.
    instances: Table<InstanceId, Instance>,
    security_groups: Table<String, SecurityGroup>,
    network: NetworkState,
    key_pairs: Table<String, KeyPair>,
    images: Table<String, Image>,
    /// Instances that may hold capacity in one zone at once.
    instance_capacity: u32,
    /// Volumes whose I/O a `volume-io-pause` fault holds, and since when (not persisted: faults
    /// end with the process).
    paused: BTreeMap<VolumeId, u64>,
    delays: LifecycleDelays,
    rng: StdRng,
    /// Nothing can fall due before this time (ms), so `settle` may skip its scan; any change
    /// resets it to 0.
    quiet_until: std::cell::Cell<u64>,
    /// The rows with a transition still to come: the only ones `settle` looks at, so its cost
    /// follows what is in flight, not the size of the region.
    pending: Pending,
}

#[derive(Debug, Default)]
struct Pending {
    volumes: BTreeSet<VolumeId>,
    snapshots: BTreeSet<SnapshotId>,
    instances: BTreeSet<InstanceId>,
}

/// When a snapshot completes by itself (`u64::MAX`: it does not, or has).
fn snapshot_next_due(s: &Snapshot, d: LifecycleDelays) -> u64 {
    if s.state == SnapshotState::Pending && !s.awaiting_completion {
        s.start_time_ms.saturating_add(d.snapshot.as_millis() as u64)
    } else {
        u64::MAX
    }
}

/// Puts each changed row in or out of a pending set, by whether it still has a transition due.
fn track<K: Ord + Clone, V: Clone + PartialEq>(set: &mut BTreeSet<K>, table: &Table<K, V>, due: impl Fn(&V) -> u64) {
    for (key, row) in table.changes() {
        if row.is_some_and(|r| due(r) < u64::MAX) {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }
}

fn storage_error(e: StorageError) -> ControlError {
    match e {
        StorageError::InsufficientCapacity { cluster, .. } => {
            ControlError::InsufficientVolumeCapacity { zone: cluster }
        }
        other => ControlError::Storage(other.to_string()),
    }
}

fn store_name(id: &str) -> Result<StoreName, ControlError> {
    StoreName::new(id).map_err(storage_error)
}

impl Ebs {
    pub(crate) fn open(
        dir: &Path,
        store: RegionStore,
        delays: LifecycleDelays,
        seed: u64,
    ) -> Result<Self, ControlError> {
        let db = Db::open(dir)?;
        let network = NetworkState {
            default_made: db.meta(DEFAULT_NETWORK_MADE)?.is_some(),
            default_made_changed: false,
            vpcs: Table::from_rows(db.load::<Vpc>()?),
            subnets: Table::from_rows(db.load::<Subnet>()?),
        };
        let mut ebs = Self {
            volumes: Table::from_rows(db.load::<Volume>()?),
            snapshots: Table::from_rows(db.load::<Snapshot>()?),
            instances: Table::from_rows(db.load::<Instance>()?),
            security_groups: Table::from_rows(db.load::<SecurityGroup>()?),
            network,
            key_pairs: Table::from_rows(db.load::<KeyPair>()?),
            images: Table::from_rows(db.load::<Image>()?),
            db,
            store,
            instance_capacity: u32::MAX,
            paused: BTreeMap::new(),
            delays,
            rng: rand::SeedableRng::seed_from_u64(seed),
            quiet_until: std::cell::Cell::new(0),
            pending: Pending::default(),
        };
        let d = ebs.delays;
        ebs.pending = Pending {
            volumes: ebs.volumes.values().filter(|v| volume_next_due(v, d) < u64::MAX).map(|v| v.id.clone()).collect(),
            snapshots: ebs
                .snapshots
                .values()
                .filter(|s| snapshot_next_due(s, d) < u64::MAX)
                .map(|s| s.id.clone())
                .collect(),
            instances: ebs
                .instances
                .values()
                .filter(|i| crate::instances::instance_next_due(i, d) < u64::MAX)
                .map(|i| i.id.clone())
                .collect(),
        };
        ebs.drop_orphan_storage()?;
        Ok(ebs)
    }

    /// Storage volumes that no volume row names: a crash between creating a volume's replicas
    /// and committing its row left them behind (the command never answered), so they go.
    fn drop_orphan_storage(&mut self) -> Result<(), ControlError> {
        let zone_ids = self.store.stored_cluster_names().map_err(storage_error)?;
        for zone in zone_ids {
            let cluster = self.store.cluster(&zone).map_err(storage_error)?;
            let orphans: Vec<StoreName> = cluster
                .volumes()
                .map(|(name, _)| name.clone())
                .filter(|name| VolumeId::parse(name.as_str()).map_or(true, |id| !self.volumes.contains_key(&id)))
                .collect();
            for name in orphans {
                tracing::warn!(
                    volume = name.as_str(),
                    zone,
                    "dropping storage of a volume whose creation never committed"
                );
                cluster.delete_volume(&name).map_err(storage_error)?;
            }
        }
        Ok(())
    }

    /// Makes the running command's changes durable in one transaction; on failure nothing of
    /// the command remains, in memory or on disk.
    pub(crate) fn commit(&mut self) -> Result<(), ControlError> {
        let changed = self.volumes.has_changes()
            || self.snapshots.has_changes()
            || self.instances.has_changes()
            || self.security_groups.has_changes()
            || self.network.vpcs.has_changes()
            || self.network.subnets.has_changes()
            || self.key_pairs.has_changes()
            || self.images.has_changes()
            || self.network.default_made_changed;
        if !changed {
            self.forget_originals();
            return Ok(());
        }
        self.quiet_until.set(0);
        let written = (|| {
            let tx = self.db.transaction()?;
            db::put_changes(&tx, &self.volumes)?;
            db::put_changes(&tx, &self.snapshots)?;
            db::put_changes(&tx, &self.instances)?;
            db::put_changes(&tx, &self.security_groups)?;
            db::put_changes(&tx, &self.network.vpcs)?;
            db::put_changes(&tx, &self.network.subnets)?;
            db::put_changes(&tx, &self.key_pairs)?;
            db::put_changes(&tx, &self.images)?;
            if self.network.default_made_changed {
                db::set_meta(&tx, DEFAULT_NETWORK_MADE, "true")?;
            }
            tx.commit().map_err(db::db_error)
        })();
        match written {
            Ok(()) => {
                let d = self.delays;
                track(&mut self.pending.volumes, &self.volumes, |v| volume_next_due(v, d));
                track(&mut self.pending.snapshots, &self.snapshots, |s| snapshot_next_due(s, d));
                track(&mut self.pending.instances, &self.instances, |i| crate::instances::instance_next_due(i, d));
                self.forget_originals();
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn forget_originals(&mut self) {
        self.volumes.commit();
        self.snapshots.commit();
        self.instances.commit();
        self.security_groups.commit();
        self.network.vpcs.commit();
        self.network.subnets.commit();
        self.network.default_made_changed = false;
        self.key_pairs.commit();
        self.images.commit();
    }

    /// Undoes every change of the running command in memory (it failed part-way).
    pub(crate) fn rollback(&mut self) {
        self.quiet_until.set(0);
        // What the command made in the block store goes with it.
        let made: Vec<(AzId, VolumeId)> =
            self.volumes.inserted().map(|(id, v)| (v.zone_id.clone(), id.clone())).collect();
        for (zone, id) in made {
            let dropped = store_name(id.as_str()).and_then(|name| {
                self.store.cluster(zone.as_str()).and_then(|c| c.delete_volume(&name)).map_err(storage_error)
            });
            if let Err(e) = dropped {
                tracing::warn!(volume = %id, "could not drop the storage of a volume whose command failed: {e}");
            }
        }
        let made: Vec<SnapshotId> = self.snapshots.inserted().map(|(id, _)| id.clone()).collect();
        for id in made {
            if let Err(e) =
                store_name(id.as_str()).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error))
            {
                tracing::warn!(snapshot = %id, "could not drop the blocks of a snapshot whose command failed: {e}");
            }
        }
        self.volumes.rollback();
        self.snapshots.rollback();
        self.instances.rollback();
        self.security_groups.rollback();
        self.network.vpcs.rollback();
        self.network.subnets.rollback();
        if self.network.default_made_changed {
            self.network.default_made = false;
            self.network.default_made_changed = false;
        }
        self.key_pairs.rollback();
        self.images.rollback();
    }

    /// Advances every state whose delay has passed.
    pub(crate) fn settle(&mut self, now_ms: u64) -> Result<(), ControlError> {
        // Every request settles first; most of the time nothing is due, and a scan of thousands
        // of volumes per request would be wasted.
        if now_ms < self.quiet_until.get() {
            return Ok(());
        }
        self.settle_scan(now_ms)?;
        self.quiet_until.set(self.next_due());
        Ok(())
    }

    /// The earliest time a pending transition falls due (`u64::MAX` when none is pending).
    fn next_due(&self) -> u64 {
        let d = self.delays;
        let volumes = self.pending.volumes.iter().filter_map(|id| self.volumes.get(id)).map(|v| volume_next_due(v, d));
        let snapshots =
            self.pending.snapshots.iter().filter_map(|id| self.snapshots.get(id)).map(|s| snapshot_next_due(s, d));
        let instances = self
            .pending
            .instances
            .iter()
            .filter_map(|id| self.instances.get(id))
            .map(|i| crate::instances::instance_next_due(i, d));
        volumes.chain(snapshots).chain(instances).min().unwrap_or(u64::MAX)
    }

    /// Applies every transition that has fallen due (only the rows that change are touched).
    fn settle_scan(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let d = self.delays;
        let due = |since: u64, delay: Duration| now_ms >= since + delay.as_millis() as u64;
        let mut gone = Vec::new();
        let due_volumes: Vec<VolumeId> = self
            .pending
            .volumes
            .iter()
            .filter(|id| self.volumes.get(*id).is_some_and(|v| volume_next_due(v, d) <= now_ms))
            .cloned()
            .collect();
        for id in due_volumes {
            let Some(v) = self.volumes.get_mut(&id) else { continue };
            match v.state {
                VolumeState::Creating if due(v.state_since_ms, d.volume_create) => {
                    v.state = VolumeState::Available;
                    // The transition happened when it fell due, not when someone looked.
                    v.state_since_ms += d.volume_create.as_millis() as u64;
                }
                VolumeState::Deleting if due(v.state_since_ms, d.volume_delete) => gone.push(v.id.clone()),
                _ => {}
            }
            if let Some(m) = &mut v.modification {
                let next = match m.state {
                    ModificationState::Modifying if due(m.state_since_ms, d.modification) => {
                        Some(ModificationState::Optimizing)
                    }
                    ModificationState::Optimizing if due(m.state_since_ms, d.modification) => {
                        Some(ModificationState::Completed)
                    }
                    _ => None,
                };
                if let Some(state) = next {
                    m.state = state;
                    m.state_since_ms += d.modification.as_millis() as u64;
                    if state == ModificationState::Completed {
                        m.end_ms = Some(m.state_since_ms);
                    }
                }
            }
            let before = v.attachments.len();
            v.attachments.retain(|a| !(a.state == AttachmentState::Detaching && due(a.since_ms, d.detach)));
            for a in &mut v.attachments {
                if a.state == AttachmentState::Attaching && due(a.since_ms, d.attach) {
                    a.state = AttachmentState::Attached;
                    a.since_ms += d.attach.as_millis() as u64;
                }
            }
            if v.attachments.len() != before && v.attachments.is_empty() && v.state == VolumeState::InUse {
                v.state = VolumeState::Available;
                v.state_since_ms = now_ms;
            }
        }
        for id in gone {
            if let Some(v) = self.volumes.remove(&id) {
                let name = store_name(id.as_str())?;
                match self.store.cluster(v.zone_id.as_str()).map_err(storage_error)?.delete_volume(&name) {
                    Ok(()) | Err(StorageError::VolumeNotFound(_)) => {}
                    Err(e) => return Err(storage_error(e)),
                }
            }
        }
        self.settle_instances(now_ms)?;
        let due_snapshots: Vec<SnapshotId> = self
            .pending
            .snapshots
            .iter()
            .filter(|id| self.snapshots.get(*id).is_some_and(|s| snapshot_next_due(s, d) <= now_ms))
            .cloned()
            .collect();
        for id in due_snapshots {
            if let Some(s) = self.snapshots.get_mut(&id) {
                s.state = SnapshotState::Completed;
            }
        }
        Ok(())
    }

    /// Background work of the region's storage (re-mirroring), at the storage clock's time.
    pub(crate) fn tick_storage(&mut self, now_ms: u64) -> Result<(), ControlError> {
        self.store.tick().map_err(storage_error)?;
        self.notice_failovers(now_ms)
    }

    /// Compares each volume's storage replica set with the one last seen: a new set whose primary
    /// was the secondary is a failover, after which EBS disables I/O (or re-enables it at once
    /// with `autoEnableIO`).
    fn notice_failovers(&mut self, now_ms: u64) -> Result<(), ControlError> {
        // Only volumes whose storage record changed can have failed over.
        let ids: Vec<VolumeId> = self
            .store
            .clusters()
            .flat_map(|(_, c)| c.take_record_changes())
            .filter_map(|name| VolumeId::parse(name.as_str()).ok())
            .collect();
        for id in ids {
            let Some(v) = self.volumes.get(&id) else { continue };
            let zone = v.zone_id.clone();
            let seen = v.seen_primary;
            let name = store_name(id.as_str())?;
            let Some(record) = self.store.cluster(zone.as_str()).map_err(storage_error)?.record(&name).cloned() else {
                continue;
            };
            let current = (record.primary.0, record.epoch);
            let settled = record.stuck_since_ms.is_none();
            let failed_over = match seen {
                Some((primary, epoch)) if epoch != current.1 && primary != current.0 && settled => true,
                Some(seen) if seen == current => continue,
                _ if settled => false,
                _ => continue,
            };
            // Only volumes whose replica set changed are touched (and written).
            let Some(v) = self.volumes.get_mut(&id) else { continue };
            if failed_over {
                let event_id = format!("evol-{:017x}", (now_ms << 12) ^ u64::from(current.0) ^ (current.1 << 40));
                let auto = v.auto_enable_io;
                v.io_event = Some(IoEvent {
                    id: event_id,
                    since_ms: now_ms,
                    enabled_ms: auto.then_some(now_ms),
                    auto_enabled: auto,
                });
            }
            v.seen_primary = Some(current);
        }
        Ok(())
    }

    /// The region's storage cluster of a zone (by zone id), for fault injection and tests.
    pub fn storage_cluster(&mut self, zone_id: &AzId) -> Result<&mut squall_storage::Cluster, ControlError> {
        self.store.cluster(zone_id.as_str()).map_err(storage_error)
    }

    /// EnableVolumeIO: ends a potential-data-inconsistency event (a no-op when I/O is enabled).
    pub fn enable_volume_io(&mut self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        self.volume(id)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(event) = self.volumes.get_mut(id).and_then(|v| v.io_event.as_mut()) {
            if event.enabled_ms.is_none() {
                event.enabled_ms = Some(now_ms);
            }
        }
        Ok(())
    }

    // ---- volumes ---------------------------------------------------------------------------

    fn validate_spec(
        &self,
        spec: &VolumeSpec,
        snapshot: Option<&Snapshot>,
    ) -> Result<(u32, Option<u32>, Option<u32>), ControlError> {
        let limits = spec.volume_type.limits();
        let size = match (spec.size_gib, snapshot) {
            (Some(size), Some(s)) if size < s.volume_size_gib => {
                return Err(ControlError::VolumeSmallerThanSnapshot { size_gib: size, snapshot_gib: s.volume_size_gib })
            }
            (Some(size), _) => size,
            (None, Some(s)) => s.volume_size_gib.max(limits.min_gib),
            (None, None) => return Err(ControlError::MissingSizeOrSnapshot),
        };
        if size < limits.min_gib || size > limits.max_gib {
            return Err(ControlError::InvalidVolumeSize {
                volume_type: spec.volume_type,
                size_gib: size,
                min_gib: limits.min_gib,
                max_gib: limits.max_gib,
            });
        }
        let iops = match (spec.iops, limits.iops) {
            (Some(_), None) => return Err(ControlError::IopsNotSupported(spec.volume_type)),
            (None, Some((_, _, None, _))) => return Err(ControlError::IopsRequired(spec.volume_type)),
            (None, Some((_, _, default, _))) => default,
            (Some(iops), Some((min, max, _, per_gib))) => {
                if iops < min || iops > max {
                    return Err(ControlError::InvalidIops { volume_type: spec.volume_type, iops, min, max });
                }
                if u64::from(iops) > u64::from(size) * u64::from(per_gib) {
                    return Err(ControlError::IopsRatio { iops, size_gib: size, per_gib });
                }
                Some(iops)
            }
            (None, None) => None,
        };
        let throughput = match (spec.throughput, limits.throughput) {
            (Some(_), None) => return Err(ControlError::ThroughputNotSupported(spec.volume_type)),
            (None, Some((_, _, default))) => Some(default),
            (Some(t), Some((min, max, _))) => {
                if t < min || t > max {
                    return Err(ControlError::InvalidThroughput { throughput: t, min, max });
                }
                Some(t)
            }
            (None, None) => None,
        };
        if spec.multi_attach && !spec.volume_type.supports_multi_attach() {
            return Err(ControlError::MultiAttachNotSupported(spec.volume_type));
        }
        if spec.tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        Ok((size, iops, throughput))
    }

    pub fn create_volume(
        &mut self,
        spec: VolumeSpec,
        zone_id: AzId,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Volume, ControlError> {
        if let Some(token) = &spec.client_token {
            if let Some(existing) = self.volumes.values().find(|v| v.client_token.as_ref() == Some(token)) {
                let same = existing.zone == spec.zone
                    && spec.size_gib.is_none_or(|s| s == existing.size_gib)
                    && existing.volume_type == spec.volume_type
                    && existing.snapshot_id == spec.snapshot_id;
                return if same {
                    Ok(existing.clone())
                } else {
                    Err(ControlError::IdempotentParameterMismatch(token.clone()))
                };
            }
        }
        let snapshot = match &spec.snapshot_id {
            Some(id) => {
                Some(self.snapshots.get(id).cloned().ok_or_else(|| ControlError::SnapshotNotFound(id.clone()))?)
            }
            None => None,
        };
        let (size, iops, throughput) = self.validate_spec(&spec, snapshot.as_ref())?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = loop {
            let id = VolumeId::generate(&mut self.rng);
            if !self.volumes.contains_key(&id) {
                break id;
            }
        };
        let name = store_name(id.as_str())?;
        let bytes = u64::from(size) * GIB;
        match &spec.snapshot_id {
            Some(snap) => {
                let (cluster, snapshots) = self.store.cluster_and_snapshots(zone_id.as_str()).map_err(storage_error)?;
                snapshots.restore(&store_name(snap.as_str())?, cluster, &name, bytes).map_err(storage_error)?;
            }
            None => self
                .store
                .cluster(zone_id.as_str())
                .map_err(storage_error)?
                .create_volume(&name, bytes)
                .map_err(storage_error)?,
        }
        let volume = Volume {
            id: id.clone(),
            zone: spec.zone,
            zone_id,
            size_gib: size,
            volume_type: spec.volume_type,
            iops: iops.or(spec.volume_type.baseline_iops(size)),
            throughput,
            encrypted: spec.encrypted || snapshot.as_ref().is_some_and(|s| s.encrypted),
            kms_key_id: spec.kms_key_id.or_else(|| snapshot.as_ref().and_then(|s| s.kms_key_id.clone())),
            multi_attach: spec.multi_attach,
            snapshot_id: spec.snapshot_id,
            create_time_ms: now_ms,
            state: VolumeState::Creating,
            state_since_ms: now_ms,
            attachments: Vec::new(),
            auto_enable_io: false,
            tags: spec.tags,
            client_token: spec.client_token,
            modification: None,
            seen_primary: None,
            io_event: None,
        };
        self.volumes.insert(id, volume.clone());
        Ok(volume)
    }

    /// How many volumes the region has.
    pub fn volume_count(&self) -> usize {
        self.volumes.len()
    }

    pub fn volume(&self, id: &VolumeId) -> Result<&Volume, ControlError> {
        self.volumes.get(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))
    }

    /// Volumes after `after` in id order, as many as `limit`, that pass `keep`: a page of a
    /// listing costs the page, not the whole region.
    pub fn volumes_after(
        &self,
        after: Option<&VolumeId>,
        limit: usize,
        keep: impl Fn(&Volume) -> bool,
    ) -> (Vec<Volume>, bool) {
        self.volumes.page_after(after, limit, keep)
    }

    /// Changes size, type, IOPS, throughput or multi-attach. The new size is usable at once (the
    /// replicas grow); the modification then goes modifying → optimizing → completed.
    #[allow(clippy::too_many_arguments)]
    pub fn modify_volume(
        &mut self,
        id: &VolumeId,
        size_gib: Option<u32>,
        volume_type: Option<VolumeType>,
        iops: Option<u32>,
        throughput: Option<u32>,
        multi_attach: Option<bool>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Modification, ControlError> {
        let v = self.volume(id)?.clone();
        if v.modification.as_ref().is_some_and(|m| m.state != ModificationState::Completed) {
            return Err(ControlError::ModificationInProgress(id.clone()));
        }
        if let Some(size) = size_gib {
            if size < v.size_gib {
                return Err(ControlError::CannotShrink { volume: id.clone(), size_gib: v.size_gib, new_gib: size });
            }
        }
        let target_type = volume_type.unwrap_or(v.volume_type);
        let spec = VolumeSpec {
            zone: v.zone.clone(),
            size_gib: Some(size_gib.unwrap_or(v.size_gib)),
            snapshot_id: None,
            volume_type: target_type,
            // IOPS and throughput carry over only while the type keeps them.
            iops: iops.or(if target_type == v.volume_type && target_type != VolumeType::Gp2 { v.iops } else { None }),
            throughput: throughput.or(if target_type == v.volume_type { v.throughput } else { None }),
            encrypted: v.encrypted,
            kms_key_id: None,
            multi_attach: multi_attach.unwrap_or(v.multi_attach),
            tags: BTreeMap::new(),
            client_token: None,
        };
        let (size, iops, throughput) = self.validate_spec(&spec, None)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if size > v.size_gib {
            let name = store_name(id.as_str())?;
            self.store
                .cluster(v.zone_id.as_str())
                .map_err(storage_error)?
                .grow_volume(&name, u64::from(size) * GIB)
                .map_err(storage_error)?;
        }
        let target = VolumeSettings {
            size_gib: size,
            volume_type: target_type,
            iops: iops.or(target_type.baseline_iops(size)),
            throughput,
            multi_attach: spec.multi_attach,
        };
        let modification = Modification {
            original: v.settings(),
            target,
            state: ModificationState::Modifying,
            state_since_ms: now_ms,
            start_ms: now_ms,
            end_ms: None,
        };
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))?;
        v.size_gib = target.size_gib;
        v.volume_type = target.volume_type;
        v.iops = target.iops;
        v.throughput = target.throughput;
        v.multi_attach = target.multi_attach;
        v.modification = Some(modification.clone());
        Ok(modification)
    }

    pub fn delete_volume(&mut self, id: &VolumeId, now_ms: u64, dry_run: bool) -> Result<(), ControlError> {
        let v = self.volumes.get(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))?;
        if let Some(a) = v.attachments.first() {
            return Err(ControlError::VolumeInUse { volume: id.clone(), instance: a.instance.clone() });
        }
        if v.state != VolumeState::Available {
            return Err(ControlError::IncorrectVolumeState { volume: id.clone(), state: v.state });
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))?;
        v.state = VolumeState::Deleting;
        v.state_since_ms = now_ms;
        Ok(())
    }

    pub fn attach_volume(
        &mut self,
        id: &VolumeId,
        instance: &InstanceId,
        device: &str,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        let v = self.volume(id)?;
        let target = self.instances.get(instance).ok_or_else(|| ControlError::InstanceNotFound(instance.clone()))?;
        if !matches!(target.state, InstanceState::Running | InstanceState::Stopped | InstanceState::Pending) {
            return Err(ControlError::IncorrectInstanceState { instance: instance.clone(), state: target.state });
        }
        if target.zone != v.zone {
            return Err(ControlError::ZoneMismatch { volume: id.clone(), instance: instance.clone() });
        }
        if v.state != VolumeState::Available && !(v.multi_attach && v.state == VolumeState::InUse) {
            return match v.attachments.first() {
                Some(a) => Err(ControlError::VolumeInUse { volume: id.clone(), instance: a.instance.clone() }),
                None => Err(ControlError::IncorrectVolumeState { volume: id.clone(), state: v.state }),
            };
        }
        let device_taken = self
            .volumes
            .values()
            .flat_map(|other| other.attachments.iter())
            .any(|a| a.instance == *instance && a.device == device);
        if device_taken {
            return Err(ControlError::DeviceInUse { device: device.to_string(), instance: instance.clone() });
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let attachment = Attachment {
            instance: instance.clone(),
            device: device.to_string(),
            state: AttachmentState::Attaching,
            since_ms: now_ms,
            attach_time_ms: now_ms,
            delete_on_termination: false,
        };
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))?;
        v.attachments.push(attachment.clone());
        v.state = VolumeState::InUse;
        v.state_since_ms = now_ms;
        Ok(attachment)
    }

    pub fn detach_volume(
        &mut self,
        id: &VolumeId,
        instance: Option<&InstanceId>,
        device: Option<&str>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Attachment, ControlError> {
        let v = self.volume(id)?;
        let found = v
            .attachments
            .iter()
            .position(|a| instance.is_none_or(|i| *i == a.instance) && device.is_none_or(|d| d == a.device));
        let Some(index) = found else {
            return Err(ControlError::NotAttached { volume: id.clone() });
        };
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let v = self.volumes.get_mut(id).ok_or_else(|| ControlError::VolumeNotFound(id.clone()))?;
        let a = &mut v.attachments[index];
        a.state = AttachmentState::Detaching;
        a.since_ms = now_ms;
        let out = a.clone();
        Ok(out)
    }

    // ---- helpers for the instance operations (instances.rs) ---------------------------------

    pub(crate) fn instances_ref(&self) -> &Table<InstanceId, Instance> {
        &self.instances
    }

    pub(crate) fn instances_mut(&mut self) -> &mut Table<InstanceId, Instance> {
        &mut self.instances
    }

    pub(crate) fn security_groups_ref(&self) -> &Table<String, SecurityGroup> {
        &self.security_groups
    }

    pub(crate) fn security_groups_mut(&mut self) -> &mut Table<String, SecurityGroup> {
        &mut self.security_groups
    }

    /// Holds I/O of exactly these volumes (`volume-io-pause`).
    pub(crate) fn set_paused(&mut self, volumes: std::collections::BTreeSet<VolumeId>, now_ms: u64) {
        self.paused.retain(|v, _| volumes.contains(v));
        for v in volumes {
            self.paused.entry(v).or_insert(now_ms);
        }
    }

    /// Since when a fault pauses the volume's I/O, if one does.
    pub fn paused_since(&self, id: &VolumeId) -> Option<u64> {
        self.paused.get(id).copied()
    }

    pub(crate) fn set_policy(&mut self, kind: squall_storage::PolicyKind) -> Result<(), ControlError> {
        self.store.set_policy(kind).map_err(storage_error)
    }

    /// The storage status of every cluster the region has opened, by zone id.
    pub fn storage_status(&mut self) -> Vec<crate::status::ZoneStorageStatus> {
        self.store.clusters().map(|(_, c)| c.status().into()).collect()
    }

    pub(crate) fn set_instance_capacity(&mut self, capacity: u32) {
        self.instance_capacity = capacity;
    }

    /// Instances of the zone that hold capacity (all but stopped and terminated ones).
    pub(crate) fn instances_holding_capacity(&self, zone: &AzName) -> u32 {
        self.instances
            .values()
            .filter(|i| i.zone == *zone && !matches!(i.state, InstanceState::Stopped | InstanceState::Terminated))
            .count() as u32
    }

    pub(crate) fn instance_capacity(&self) -> u32 {
        self.instance_capacity
    }

    pub(crate) fn network_ref(&self) -> &NetworkState {
        &self.network
    }

    pub(crate) fn network_mut(&mut self) -> &mut NetworkState {
        &mut self.network
    }

    pub(crate) fn key_pairs_ref(&self) -> &Table<String, KeyPair> {
        &self.key_pairs
    }

    pub(crate) fn key_pairs_mut(&mut self) -> &mut Table<String, KeyPair> {
        &mut self.key_pairs
    }

    pub(crate) fn images_ref(&self) -> &Table<String, Image> {
        &self.images
    }

    pub(crate) fn images_mut(&mut self) -> &mut Table<String, Image> {
        &mut self.images
    }

    pub(crate) fn rng_mut(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A new id of AWS's shape: `prefix-` and 17 hex digits from the region's seeded stream.
    pub(crate) fn random_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{:017x}", self.next_random() & 0x1_ffff_ffff_ffff_ffff)
    }

    pub(crate) fn next_random(&mut self) -> u128 {
        use rand::RngCore;
        (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64())
    }

    pub(crate) fn volume_mut(&mut self, id: &VolumeId) -> Option<&mut Volume> {
        self.volumes.get_mut(id)
    }

    /// Instances with a transition still to come.
    pub(crate) fn pending_instances(&self) -> impl Iterator<Item = &InstanceId> {
        self.pending.instances.iter()
    }

    pub(crate) fn delays(&self) -> LifecycleDelays {
        self.delays
    }

    pub(crate) fn set_delete_on_termination(&mut self, instance: &InstanceId, device: &str, value: bool) {
        let is_it = |a: &Attachment| a.instance == *instance && a.device == device;
        self.volumes.update_where(
            |v| v.attachments.iter().any(is_it),
            |v| {
                for a in v.attachments.iter_mut().filter(|a| is_it(a)) {
                    a.delete_on_termination = value;
                }
            },
        );
    }

    /// A terminated instance's volumes: detached, and deleted when marked delete-on-termination.
    pub(crate) fn release_volumes_of(&mut self, instance: &InstanceId, now_ms: u64) {
        let attached = |v: &Volume| v.attachments.iter().any(|a| a.instance == *instance);
        self.volumes.update_where(attached, |v| {
            let Some(pos) = v.attachments.iter().position(|a| a.instance == *instance) else { return };
            let a = v.attachments.remove(pos);
            if v.attachments.is_empty() {
                v.state = if a.delete_on_termination { VolumeState::Deleting } else { VolumeState::Available };
                v.state_since_ms = now_ms;
            }
        });
    }

    pub fn set_auto_enable_io(&mut self, id: &VolumeId, value: bool, dry_run: bool) -> Result<(), ControlError> {
        self.volume(id)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(v) = self.volumes.get_mut(id) {
            v.auto_enable_io = value;
        }
        Ok(())
    }

    /// Whether the volume's replica set has a confirmed writable primary.
    pub fn volume_health(&mut self, id: &VolumeId) -> Result<VolumeHealth, ControlError> {
        let v = self.volume(id)?.clone();
        let name = store_name(id.as_str())?;
        if self.paused.contains_key(id) {
            return Ok(VolumeHealth::Stuck);
        }
        let cluster = self.store.cluster(v.zone_id.as_str()).map_err(storage_error)?;
        Ok(match cluster.record(&name) {
            Some(r) if r.stuck_since_ms.is_some() => VolumeHealth::Stuck,
            _ => VolumeHealth::Ok,
        })
    }

    // ---- snapshots -------------------------------------------------------------------------

    pub fn create_snapshot(
        &mut self,
        volume: &VolumeId,
        description: String,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let v = self.volume(volume)?.clone();
        if tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = loop {
            let id = SnapshotId::generate(&mut self.rng);
            if !self.snapshots.contains_key(&id) {
                break id;
            }
        };
        // Incremental: the parent is the newest earlier snapshot of the same volume, else the
        // snapshot the volume was created from (so both stay in one lineage).
        let parent = self
            .snapshots
            .values()
            .filter(|s| s.volume_id.as_ref() == Some(volume))
            .max_by_key(|s| (s.start_time_ms, s.id.clone()))
            .map(|s| s.id.clone())
            .or_else(|| v.snapshot_id.clone().filter(|s| self.snapshots.contains_key(s)))
            .map(|s| store_name(s.as_str()))
            .transpose()?;
        let (cluster, snapshots) = self.store.cluster_and_snapshots(v.zone_id.as_str()).map_err(storage_error)?;
        snapshots
            .snapshot_volume(cluster, &store_name(volume.as_str())?, &store_name(id.as_str())?, parent.as_ref())
            .map_err(storage_error)?;
        let snapshot = Snapshot {
            id: id.clone(),
            volume_id: Some(volume.clone()),
            volume_size_gib: v.size_gib,
            description,
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            encrypted: v.encrypted,
            kms_key_id: v.kms_key_id.clone(),
            tags,
            create_volume_permissions: Vec::new(),
            awaiting_completion: false,
            parent: parent.as_ref().and_then(|p| SnapshotId::parse(p.as_str()).ok()),
        };
        self.snapshots.insert(id, snapshot.clone());
        Ok(snapshot)
    }

    pub fn snapshot(&self, id: &SnapshotId) -> Result<&Snapshot, ControlError> {
        self.snapshots.get(id).ok_or_else(|| ControlError::SnapshotNotFound(id.clone()))
    }

    pub fn snapshots_after(
        &self,
        after: Option<&SnapshotId>,
        limit: usize,
        keep: impl Fn(&Snapshot) -> bool,
    ) -> (Vec<Snapshot>, bool) {
        self.snapshots.page_after(after, limit, keep)
    }

    pub fn delete_snapshot(&mut self, id: &SnapshotId, dry_run: bool) -> Result<(), ControlError> {
        self.snapshot(id)?;
        if let Some(v) =
            self.volumes.values().find(|v| v.snapshot_id.as_ref() == Some(id) && v.state == VolumeState::Creating)
        {
            return Err(ControlError::SnapshotInUse { snapshot: id.clone(), volume: v.id.clone() });
        }
        if let Some(image) = self.image_using(id) {
            return Err(ControlError::SnapshotUsedByImage { snapshot: id.clone(), image });
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.store.snapshots().delete(&store_name(id.as_str())?).map_err(storage_error)?;
        self.snapshots.remove(id);
        Ok(())
    }

    pub fn copy_snapshot(
        &mut self,
        source: &SnapshotId,
        description: Option<String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Snapshot, ControlError> {
        let src = self.snapshot(source)?.clone();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = loop {
            let id = SnapshotId::generate(&mut self.rng);
            if !self.snapshots.contains_key(&id) {
                break id;
            }
        };
        self.store.snapshots().copy(&store_name(source.as_str())?, &store_name(id.as_str())?).map_err(storage_error)?;
        let copy = Snapshot {
            id: id.clone(),
            awaiting_completion: false,
            description: description.unwrap_or_else(|| format!("[Copied {} from {}]", source, "this region")),
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            tags,
            create_volume_permissions: Vec::new(),
            ..src
        };
        self.snapshots.insert(id, copy.clone());
        Ok(copy)
    }

    pub fn set_create_volume_permissions(
        &mut self,
        id: &SnapshotId,
        add: &[String],
        remove: &[String],
        reset: bool,
    ) -> Result<(), ControlError> {
        let s = self.snapshots.get_mut(id).ok_or_else(|| ControlError::SnapshotNotFound(id.clone()))?;
        if reset {
            s.create_volume_permissions.clear();
        }
        s.create_volume_permissions.retain(|p| !remove.contains(p));
        for p in add {
            if !s.create_volume_permissions.contains(p) {
                s.create_volume_permissions.push(p.clone());
            }
        }
        Ok(())
    }

    // ---- EBS direct APIs -------------------------------------------------------------------

    /// StartSnapshot: an empty snapshot (or one holding `parent`'s blocks) to be written block by block.
    #[allow(clippy::too_many_arguments)]
    pub fn start_snapshot(
        &mut self,
        volume_size_gib: u32,
        parent: Option<&SnapshotId>,
        description: String,
        tags: BTreeMap<String, String>,
        encrypted: bool,
        kms_key_id: Option<String>,
        now_ms: u64,
    ) -> Result<Snapshot, ControlError> {
        if volume_size_gib == 0 || volume_size_gib > 65_536 {
            return Err(ControlError::InvalidVolumeSize {
                volume_type: VolumeType::Gp3,
                size_gib: volume_size_gib,
                min_gib: 1,
                max_gib: 65_536,
            });
        }
        if let Some(p) = parent {
            let parent_snapshot = self.snapshot(p)?;
            if parent_snapshot.state != SnapshotState::Completed {
                return Err(ControlError::SnapshotNotCompleted(p.clone()));
            }
            if parent_snapshot.volume_size_gib > volume_size_gib {
                return Err(ControlError::VolumeSmallerThanSnapshot {
                    size_gib: volume_size_gib,
                    snapshot_gib: parent_snapshot.volume_size_gib,
                });
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        let id = loop {
            let id = SnapshotId::generate(&mut self.rng);
            if !self.snapshots.contains_key(&id) {
                break id;
            }
        };
        let parent_name = parent.map(|p| store_name(p.as_str())).transpose()?;
        self.store
            .snapshots()
            .start(&store_name(id.as_str())?, u64::from(volume_size_gib) * GIB, parent_name.as_ref())
            .map_err(storage_error)?;
        let snapshot = Snapshot {
            id: id.clone(),
            volume_id: None,
            volume_size_gib,
            description,
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            encrypted,
            kms_key_id,
            tags,
            create_volume_permissions: Vec::new(),
            awaiting_completion: true,
            parent: parent.cloned(),
        };
        self.snapshots.insert(id, snapshot.clone());
        Ok(snapshot)
    }

    /// PutSnapshotBlock: stores one 512 KiB block; returns its SHA-256.
    pub fn put_snapshot_block(&mut self, id: &SnapshotId, index: u64, data: &[u8]) -> Result<[u8; 32], ControlError> {
        let s = self.snapshot(id)?;
        if !s.awaiting_completion {
            return Err(ControlError::SnapshotNotPending(id.clone()));
        }
        if index >= u64::from(s.volume_size_gib) * GIB / DIRECT_BLOCK_SIZE {
            return Err(ControlError::BlockIndexOutOfRange { snapshot: id.clone(), index });
        }
        self.store.snapshots().write_block(&store_name(id.as_str())?, index, data).map_err(storage_error)
    }

    /// CompleteSnapshot: checks the number of blocks written and, when given, the LINEAR
    /// aggregate checksum (SHA-256 over the blocks' raw SHA-256 digests in index order, as AWS's
    /// coldsnap computes it); the snapshot then completes.
    pub fn complete_snapshot(
        &mut self,
        id: &SnapshotId,
        changed_blocks: u64,
        linear_checksum: Option<&[u8]>,
    ) -> Result<(), ControlError> {
        let s = self.snapshot(id)?;
        if !s.awaiting_completion {
            return Err(ControlError::SnapshotNotPending(id.clone()));
        }
        let info = self.store.snapshots().info(&store_name(id.as_str())?).map_err(storage_error)?;
        if info.written_blocks.len() as u64 != changed_blocks {
            return Err(ControlError::ChangedBlocksMismatch {
                snapshot: id.clone(),
                declared: changed_blocks,
                written: info.written_blocks.len() as u64,
            });
        }
        if let Some(expected) = linear_checksum {
            let mut concatenated = Vec::with_capacity(info.written_blocks.len() * 32);
            for index in &info.written_blocks {
                let hash =
                    info.blocks.get(index).ok_or_else(|| ControlError::Storage(format!("block {index} vanished")))?;
                concatenated
                    .extend((0..hash.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hash[i..i + 2], 16).ok()));
            }
            let actual: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&concatenated).into();
            if actual.as_slice() != expected {
                return Err(ControlError::ChecksumMismatch(id.clone()));
            }
        }
        if let Some(s) = self.snapshots.get_mut(id) {
            s.awaiting_completion = false;
        }
        Ok(())
    }

    /// The non-empty blocks of a completed snapshot, from `start` on, in index order.
    pub fn snapshot_blocks(&self, id: &SnapshotId) -> Result<Vec<SnapshotBlock>, ControlError> {
        let s = self.snapshot(id)?;
        if s.state != SnapshotState::Completed {
            return Err(ControlError::SnapshotNotCompleted(id.clone()));
        }
        let info = self.store.snapshots().info(&store_name(id.as_str())?).map_err(storage_error)?;
        let per_block = (DIRECT_BLOCK_SIZE / squall_storage::SNAPSHOT_BLOCK_SIZE).max(1);
        Ok(info.blocks.into_iter().map(|(index, hash)| SnapshotBlock { index: index * per_block, hash }).collect())
    }

    /// Whether two snapshots share a lineage (ListChangedBlocks compares only those).
    pub fn same_lineage(&self, a: &SnapshotId, b: &SnapshotId) -> Result<bool, ControlError> {
        let snapshots = self.store.snapshots();
        let (ia, ib) = (
            snapshots.info(&store_name(a.as_str())?).map_err(storage_error)?,
            snapshots.info(&store_name(b.as_str())?).map_err(storage_error)?,
        );
        Ok(ia.lineage == ib.lineage)
    }

    /// The bytes of one block of a completed snapshot.
    pub fn snapshot_block(&self, id: &SnapshotId, index: u64) -> Result<Vec<u8>, ControlError> {
        let s = self.snapshot(id)?;
        if s.state != SnapshotState::Completed {
            return Err(ControlError::SnapshotNotCompleted(id.clone()));
        }
        self.store.snapshots().read_block(&store_name(id.as_str())?, index).map_err(storage_error)
    }

    // ---- tags ------------------------------------------------------------------------------

    fn tags_mut(&mut self, resource: &str) -> Result<&mut BTreeMap<String, String>, ControlError> {
        if let Ok(id) = VolumeId::parse(resource) {
            return self.volumes.get_mut(&id).map(|v| &mut v.tags).ok_or(ControlError::VolumeNotFound(id));
        }
        if let Ok(id) = SnapshotId::parse(resource) {
            return self.snapshots.get_mut(&id).map(|s| &mut s.tags).ok_or(ControlError::SnapshotNotFound(id));
        }
        if let Ok(id) = InstanceId::parse(resource) {
            return self.instances.get_mut(&id).map(|i| &mut i.tags).ok_or(ControlError::InstanceNotFound(id));
        }
        let missing = || ControlError::UnknownResourceId(resource.to_string());
        match resource.split_once('-').map(|(p, _)| p) {
            Some("vpc" | "subnet") => self.network_tags_mut(resource).ok_or_else(missing),
            Some("ami") => self.image_tags_mut(resource).ok_or_else(missing),
            Some("sg") => self.security_groups.get_mut(resource).map(|g| &mut g.tags).ok_or_else(missing),
            Some("key") => self.key_pairs.get_mut(resource).map(|k| &mut k.tags).ok_or_else(missing),
            _ => Err(missing()),
        }
    }

    pub fn create_tags(
        &mut self,
        resources: &[String],
        tags: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<(), ControlError> {
        for r in resources {
            let existing = self.tags_mut(r)?;
            let mut merged = existing.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > MAX_TAGS {
                return Err(ControlError::TooManyTags);
            }
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for r in resources {
            self.tags_mut(r)?.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(())
    }

    /// Deletes tags: a key with `Some(value)` only when the value matches; `None` whatever it is.
    pub fn delete_tags(
        &mut self,
        resources: &[String],
        tags: &[(String, Option<String>)],
        dry_run: bool,
    ) -> Result<(), ControlError> {
        for r in resources {
            self.tags_mut(r)?;
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        for r in resources {
            let existing = self.tags_mut(r)?;
            if tags.is_empty() {
                existing.clear();
            }
            for (k, v) in tags {
                if v.as_ref().is_none_or(|v| existing.get(k) == Some(v)) {
                    existing.remove(k);
                }
            }
        }
        Ok(())
    }

    /// Every tag of the region's resources: (resource id, resource type, key, value), in order.
    pub fn all_tags(&self) -> Vec<(String, &'static str, String, String)> {
        let mut out = Vec::new();
        for v in self.volumes.values() {
            out.extend(v.tags.iter().map(|(k, val)| (v.id.to_string(), "volume", k.clone(), val.clone())));
        }
        for s in self.snapshots.values() {
            out.extend(s.tags.iter().map(|(k, val)| (s.id.to_string(), "snapshot", k.clone(), val.clone())));
        }
        for i in self.instances.values() {
            out.extend(i.tags.iter().map(|(k, val)| (i.id.to_string(), "instance", k.clone(), val.clone())));
        }
        for v in self.network.vpcs.values() {
            out.extend(v.tags.iter().map(|(k, val)| (v.id.clone(), "vpc", k.clone(), val.clone())));
        }
        for s in self.network.subnets.values() {
            out.extend(s.tags.iter().map(|(k, val)| (s.id.clone(), "subnet", k.clone(), val.clone())));
        }
        for g in self.security_groups.values() {
            out.extend(g.tags.iter().map(|(k, val)| (g.id.clone(), "security-group", k.clone(), val.clone())));
        }
        for i in self.images.values() {
            out.extend(i.tags.iter().map(|(k, val)| (i.id.clone(), "image", k.clone(), val.clone())));
        }
        for k in self.key_pairs.values() {
            out.extend(k.tags.iter().map(|(kk, val)| (k.id.clone(), "key-pair", kk.clone(), val.clone())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{VolumeSpec, VolumeState, VolumeType};
    use crate::instances::{InstanceAttributes, LaunchSpec, LaunchVolume};
    use crate::test_support::TestRegion;
    use crate::ControlError;

    fn spec(t: &TestRegion, zone: &str, size: Option<u32>, volume_type: VolumeType, iops: Option<u32>) -> VolumeSpec {
        VolumeSpec {
            zone: t.region.zone_by_name(zone).unwrap().name,
            size_gib: size,
            snapshot_id: None,
            volume_type,
            iops,
            throughput: None,
            encrypted: false,
            kms_key_id: None,
            multi_attach: false,
            tags: BTreeMap::new(),
            client_token: None,
        }
    }

    fn create(t: &TestRegion, s: VolumeSpec) -> Result<super::Volume, ControlError> {
        let zone = t.region.zone_by_name(s.zone.as_str()).unwrap().id;
        t.run(|ebs| ebs.create_volume(s, zone, t.control.now_ms(), false))
    }

    #[test]
    fn volume_sizes_and_iops_follow_the_type_limits() {
        let t = TestRegion::new();
        let too_big = create(&t, spec(&t, "us-east-1a", Some(16_385), VolumeType::Gp3, None));
        assert!(matches!(too_big, Err(ControlError::InvalidVolumeSize { max_gib: 16_384, .. })));
        let ratio = create(&t, spec(&t, "us-east-1a", Some(4), VolumeType::Gp3, Some(4_000)));
        assert_eq!(ratio.unwrap_err(), ControlError::IopsRatio { iops: 4_000, size_gib: 4, per_gib: 500 });
        let io1 = create(&t, spec(&t, "us-east-1a", Some(10), VolumeType::Io1, None));
        assert_eq!(io1.unwrap_err(), ControlError::IopsRequired(VolumeType::Io1));
        let missing = create(&t, spec(&t, "us-east-1a", None, VolumeType::Gp2, None));
        assert_eq!(missing.unwrap_err(), ControlError::MissingSizeOrSnapshot);
        let gp2 = create(&t, spec(&t, "us-east-1a", Some(100), VolumeType::Gp2, None)).unwrap();
        assert_eq!((gp2.iops, gp2.state), (Some(300), VolumeState::Creating));
    }

    fn launch(t: &TestRegion, sizes: &[u32]) -> Result<(String, Vec<crate::instances::Instance>), ControlError> {
        let zone = t.region.zone_by_name("us-east-1a").unwrap();
        let subnet = t.run(|ebs| Ok(ebs.default_subnet(&zone.name).cloned())).unwrap().unwrap();
        let volumes = sizes
            .iter()
            .enumerate()
            .map(|(i, &size_gib)| LaunchVolume {
                device: format!("/dev/sd{}", (b'f' + i as u8) as char),
                size_gib,
                volume_type: VolumeType::Gp3,
                iops: None,
                delete_on_termination: true,
                snapshot_id: None,
            })
            .collect();
        let spec = LaunchSpec {
            image_id: "ami-0123456789abcdef0".into(),
            instance_type: "t3.micro".into(),
            zone: zone.name,
            zone_id: zone.id,
            subnet_id: subnet.id,
            security_groups: Vec::new(),
            count: 1,
            key_name: None,
            user_data: None,
            client_token: None,
            attributes: InstanceAttributes::default(),
            tags: BTreeMap::new(),
            volume_tags: BTreeMap::new(),
            volumes,
        };
        t.run(|ebs| ebs.run_instances(spec, t.control.now_ms(), false))
    }

    #[test]
    fn a_launch_is_one_command_all_or_nothing() {
        let t = TestRegion::new();
        // The third volume is refused after the first two were made in the block store.
        let failed = launch(&t, &[8, 8, 16_385]);
        assert!(matches!(failed, Err(ControlError::InvalidVolumeSize { .. })), "{failed:?}");
        let (volumes, stored) = t
            .run(|ebs| {
                let stored: usize = ebs.storage_status().iter().map(|c| c.volumes).sum();
                Ok((ebs.volumes_after(None, 100, |_| true).0.len(), stored))
            })
            .unwrap();
        assert_eq!((volumes, stored), (0, 0), "volumes of the failed launch remain");
        assert!(t.run(|ebs| Ok(ebs.instances_after(None, 10, |_| true).0.is_empty())).unwrap());
        let (_, launched) = launch(&t, &[8, 8]).unwrap();
        let attached = t
            .run(|ebs| {
                Ok(ebs.volumes_after(None, 100, |v| v.attachments.iter().any(|a| a.instance == launched[0].id)).0)
            })
            .unwrap();
        assert_eq!(attached.len(), 2);
    }

    #[test]
    fn attach_rules_zone_state_and_device() {
        let t = TestRegion::new();
        let (_, launched) = launch(&t, &[8]).unwrap();
        let instance = launched[0].id.clone();
        let other_zone = create(&t, spec(&t, "us-east-1b", Some(1), VolumeType::Gp3, None)).unwrap();
        let v = create(&t, spec(&t, "us-east-1a", Some(1), VolumeType::Gp3, None)).unwrap();
        let now = t.control.now_ms();
        let creating = t.run(|ebs| ebs.attach_volume(&v.id, &instance, "/dev/sdz", now, false));
        assert!(matches!(creating, Err(ControlError::IncorrectVolumeState { state: VolumeState::Creating, .. })));
        // Once available (the lifecycle delay passed), the zone and the device are checked.
        let later = now + 1_000;
        let zone =
            t.region.with_ebs(later, |ebs| ebs.attach_volume(&other_zone.id, &instance, "/dev/sdz", later, false));
        assert!(matches!(zone, Err(ControlError::ZoneMismatch { .. })));
        let taken = t.region.with_ebs(later, |ebs| ebs.attach_volume(&v.id, &instance, "/dev/sdf", later, false));
        assert!(matches!(taken, Err(ControlError::DeviceInUse { .. })));
        t.region.with_ebs(later, |ebs| ebs.attach_volume(&v.id, &instance, "/dev/sdz", later, false)).unwrap();
        let busy = t.region.with_ebs(later, |ebs| ebs.delete_volume(&v.id, later, false));
        assert!(matches!(busy, Err(ControlError::VolumeInUse { .. })));
    }
}
