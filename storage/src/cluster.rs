//! One Availability Zone's storage cluster: nodes, the authority's configuration record of each
//! volume (replica set and epoch), the fabric between nodes, and the re-mirroring worker.
//!
//! Everything here is synchronous and driven by an injected clock: the data path calls
//! `write`/`read`/`flush`, background work happens in `tick`, which the server calls on a timer
//! and a simulation calls after advancing its manual clock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::fabric::{Fabric, Network};
use crate::journal::{Authority, Entry, Journal, VolumeRecord};
use crate::policy::{policy, PolicyKind, RemirrorPolicy};
use crate::replica::Replica;
use crate::{Clock, NodeId, StorageError, VolumeId};

/// Replicas whose files a cluster keeps open at once (each holds two or more descriptors); the
/// least recently used are closed beyond it and reopen on their next access.
const MAX_OPEN_REPLICAS: usize = 256;
/// How many replica accesses pass between two checks of that budget.
const OPEN_BUDGET_CHECK_EVERY: u64 = 32;

/// What a TRIM, WRITE_ZEROES or FLUSH sends over the replication network: a request, no data.
pub const ZERO_REQUEST_BYTES: u64 = 64;
/// The least replication bandwidth a replica pair needs to count as connected: a link capped
/// below it (the 2011 overflow onto the replication network) routes, but cannot carry writes.
pub const MIN_REPLICATION_RATE: u64 = 1 << 20;

/// How a cluster is built when it is first created.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    pub nodes: u32,
    /// Logical bytes each node can hold (replicas are provisioned at their full size).
    pub node_capacity: u64,
    pub policy: PolicyKind,
    /// Latency of every transfer on either network (a re-mirroring copy takes at least this).
    pub network_latency: std::time::Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        // Four nodes of 2 TiB: room for tests, nothing allocated until written (sparse files).
        Self { nodes: 4, node_capacity: 2 << 40, policy: PolicyKind::Hardened, network_latency: Duration::ZERO }
    }
}

/// The syncs of a flush: both replicas' data and checksums.
pub struct FlushHandles {
    volume: VolumeId,
    jobs: Vec<crate::durable::SyncJob>,
}

impl std::fmt::Debug for FlushHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushHandles").field("volume", &self.volume).field("syncs", &self.jobs.len()).finish()
    }
}

impl FlushHandles {
    /// `fdatasync`s every file, all at once: durable on both replicas.
    pub fn sync(self) -> Result<(), StorageError> {
        crate::durable::sync_all(self.jobs)
            .map_err(|e| StorageError::Io { volume: self.volume, message: e.to_string() })
    }
}

/// A volume's replica set as one request found it. The block I/O itself runs without the
/// cluster's lock, so requests of one volume and of many proceed in parallel; fencing makes a
/// request that raced a change of the replica set fail as `Stuck` (to be retried on the new set).
#[derive(Debug, Clone)]
pub struct IoPlan {
    volume: VolumeId,
    epoch: u64,
    primary: Arc<Replica>,
    secondary: Arc<Replica>,
}

impl IoPlan {
    /// Writes on the primary, then on the secondary: `Ok` when both have the bytes.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.primary.write(self.epoch, offset, data).map_err(|e| self.moved(e))?;
        self.secondary.write(self.epoch, offset, data).map_err(|e| self.moved(e))
    }

    /// Zeroes a range on both replicas.
    pub fn zero(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        self.primary.zero(self.epoch, offset, len).map_err(|e| self.moved(e))?;
        self.secondary.zero(self.epoch, offset, len).map_err(|e| self.moved(e))
    }

    /// Reads from the primary. A block that fails its checksum answers `Corrupt`: the caller
    /// reads again through [`Cluster::read`], which repairs it from the other replica.
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.primary.read(offset, len)
    }

    fn moved(&self, e: StorageError) -> StorageError {
        match e {
            StorageError::StaleEpoch { .. } => StorageError::Stuck(self.volume.clone()),
            other => other,
        }
    }
}

/// Figures of the re-mirroring machinery, for status, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Searches for a new peer.
    pub remirror_attempts: u64,
    /// New replica sets committed after a copy.
    pub remirror_successes: u64,
    /// Replica sets re-formed with the previous peer (no copy).
    pub reconnects: u64,
    /// Copies made by replicas the authority had already replaced, refused at the end (legacy).
    pub stale_copies_refused: u64,
    /// Searches or commits that found no node with enough space.
    pub failures_no_space: u64,
    /// Copies abandoned because a participant went away.
    pub copies_aborted: u64,
    pub bytes_copied: u64,
    /// Times a volume became stuck.
    pub stuck_events: u64,
    /// Nodes crashed while closing a replication connection (`set_crash_on_close`).
    pub crashes_on_close: u64,
    /// Total time volumes spent stuck, counted when they recover.
    pub stuck_millis: u64,
    pub corruptions_detected: u64,
    pub corruptions_repaired: u64,
    /// Volumes no owner names any more, removed by [`Cluster::reclaim_orphan`] (a crash between
    /// creating a volume here and its owner recording it leaves one).
    pub orphans_reclaimed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub up: bool,
    pub isolated_primary: bool,
    pub isolated_replication: bool,
    pub capacity: u64,
    /// Provisioned bytes of the replicas it holds plus space reserved for incoming copies.
    pub used: u64,
    pub replicas: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub policy: PolicyKind,
    pub nodes: Vec<NodeStatus>,
    pub volumes: usize,
    pub healthy: usize,
    pub stuck: usize,
    /// Stuck volumes whose copy to a new peer is under way.
    pub remirroring: usize,
    /// Re-mirror jobs waiting or running.
    pub queue: usize,
    /// Replaced replicas still holding their space while they search for a peer (legacy).
    pub stale_searching: usize,
    pub counters: Counters,
}

#[derive(Debug)]
struct Node {
    dir: PathBuf,
    capacity: u64,
    up: bool,
    replicas: BTreeMap<VolumeId, Arc<Replica>>,
    /// The sum of the replicas' sizes (kept with them, so placement costs no scan).
    replica_bytes: u64,
    /// Space promised to copies under way (hardened policy).
    reserved: u64,
}

impl Node {
    fn new(dir: PathBuf, capacity: u64) -> Self {
        Self { dir, capacity, up: true, replicas: BTreeMap::new(), replica_bytes: 0, reserved: 0 }
    }

    fn used(&self) -> u64 {
        self.replica_bytes + self.reserved
    }

    fn add_replica(&mut self, volume: VolumeId, replica: Replica) {
        self.replica_bytes += replica.size();
        if let Some(old) = self.replicas.insert(volume, Arc::new(replica)) {
            self.replica_bytes -= old.size();
        }
    }

    fn take_replica(&mut self, volume: &VolumeId) -> Option<Arc<Replica>> {
        let replica = self.replicas.remove(volume)?;
        self.replica_bytes -= replica.size();
        Some(replica)
    }

    fn clear_replicas(&mut self) {
        self.replicas.clear();
        self.replica_bytes = 0;
    }

    /// Grows one replica to `size` bytes.
    fn grow_replica(&mut self, volume: &VolumeId, size: u64) -> Result<(), StorageError> {
        let replica = self.replicas.get(volume).ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        let before = replica.size();
        replica.grow(size)?;
        self.replica_bytes = self.replica_bytes - before + replica.size();
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Copy {
    survivor: NodeId,
    target: NodeId,
    done_at: Duration,
    bytes: u64,
    reserved: bool,
}

#[derive(Debug, Clone)]
struct Job {
    lost_at: Duration,
    failures: u32,
    next_attempt: Duration,
    copy: Option<Copy>,
}

/// One cluster. Not thread-safe by itself: callers wrap it in a lock.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    dir: PathBuf,
    nodes: BTreeMap<NodeId, Node>,
    records: BTreeMap<VolumeId, VolumeRecord>,
    fabric: Fabric,
    jobs: BTreeMap<VolumeId, Job>,
    /// Replaced replicas that search for a peer before asking the authority: when they retry next.
    stale_searches: BTreeMap<(NodeId, VolumeId), Duration>,
    policy: Box<dyn RemirrorPolicy>,
    clock: Arc<dyn Clock>,
    rng: StdRng,
    counters: Counters,
    /// The configured latency of every transfer (kept across `heal`).
    base_latency: Duration,
    /// The 2011 race: a node closing a replication connection crashes with this probability.
    crash_on_close: Option<f64>,
    /// Nodes that crashed that way (restarted when the rule is lifted).
    crashed_on_close: std::collections::BTreeSet<NodeId>,
    /// Replica accesses so far, and when each replica was last used (for the open-file budget).
    accesses: u64,
    last_use: BTreeMap<(NodeId, VolumeId), u64>,
    /// The authority's durable log of the configuration.
    journal: Journal,
    /// Volumes whose record changed since the owner last asked (`take_record_changes`).
    record_changes: std::collections::BTreeSet<VolumeId>,
    /// Replicas that could not be opened at load time and were removed (`take_damaged_replicas`).
    damaged: Vec<(VolumeId, String)>,
}

fn store_io(e: impl std::fmt::Display) -> StorageError {
    StorageError::StoreIo(e.to_string())
}

impl Cluster {
    /// Opens the cluster stored in `dir`, creating it from `config` the first time. Replica sets,
    /// epochs and bytes survive a restart; volumes that were stuck resume re-mirroring.
    pub fn open(
        dir: &Path,
        name: &str,
        config: &ClusterConfig,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(store_io)?;
        let (journal, found) = Journal::open(dir)?;
        let is_new = found.is_none();
        let (policy_kind, node_metas, records) = match found {
            Some(a) => (a.policy.unwrap_or(config.policy), a.nodes, a.volumes),
            None => {
                (config.policy, (0..config.nodes).map(|i| (NodeId(i), config.node_capacity)).collect(), BTreeMap::new())
            }
        };
        let mut cluster = Self {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            nodes: BTreeMap::new(),
            records,
            fabric: {
                let mut f = Fabric::default();
                for n in Network::BOTH {
                    f.set_latency(n, config.network_latency);
                }
                f
            },
            jobs: BTreeMap::new(),
            stale_searches: BTreeMap::new(),
            policy: policy(policy_kind),
            clock,
            rng: StdRng::seed_from_u64(seed),
            counters: Counters::default(),
            base_latency: config.network_latency,
            crash_on_close: None,
            crashed_on_close: std::collections::BTreeSet::new(),
            accesses: 0,
            last_use: BTreeMap::new(),
            journal,
            record_changes: std::collections::BTreeSet::new(),
            damaged: Vec::new(),
        };
        // The owner compares every record once after a restart.
        cluster.record_changes = cluster.records.keys().cloned().collect();
        for (id, capacity) in node_metas {
            let node_dir = cluster.node_dir(id);
            let mut node = Node::new(node_dir, capacity);
            Self::load_replicas(&mut node, &mut cluster.damaged)?;
            cluster.nodes.insert(id, node);
        }
        let now = cluster.clock.now();
        for (id, record) in &cluster.records {
            if record.stuck_since_ms.is_some() {
                cluster.jobs.insert(id.clone(), Job { lost_at: now, failures: 0, next_attempt: now, copy: None });
            }
        }
        if is_new {
            cluster.journal.rewrite(&cluster.authority())?;
        }
        Ok(cluster)
    }

    fn node_dir(&self, id: NodeId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Loads a node's replicas. One that cannot be opened (its data or checksums gone: a
    /// deletion cut short by a crash before metadata went first) is removed and reported in
    /// `damaged`, rather than keeping the whole cluster from opening: the volume, if it still
    /// has a record, has lost that replica and re-mirrors from the other.
    fn load_replicas(node: &mut Node, damaged: &mut Vec<(VolumeId, String)>) -> Result<(), StorageError> {
        fs::create_dir_all(&node.dir).map_err(store_io)?;
        node.clear_replicas();
        for volume in Replica::list(&node.dir) {
            match Replica::open(&node.dir, &volume) {
                Ok(replica) => node.add_replica(volume, replica),
                Err(e) => {
                    Replica::remove_files(&node.dir, &volume)?;
                    damaged.push((volume, e.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Replicas found unusable when the cluster opened (and removed), with why: the owner logs
    /// them.
    pub fn take_damaged_replicas(&mut self) -> Vec<(VolumeId, String)> {
        std::mem::take(&mut self.damaged)
    }

    /// The configuration the authority holds, as its log records it.
    fn authority(&self) -> Authority {
        Authority {
            policy: Some(self.policy.kind()),
            nodes: self.nodes.iter().map(|(id, n)| (*id, n.capacity)).collect(),
            volumes: self.records.clone(),
        }
    }

    /// Makes the authority's changes durable (one append and one `fdatasync`), compacting the
    /// log when it has grown well past the live records.
    fn log(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        self.journal.append(entries)?;
        if self.journal.wants_compaction(self.records.len()) {
            let authority = self.authority();
            self.journal.rewrite(&authority)?;
        }
        Ok(())
    }

    /// Logs the current record of `volume` (or its deletion when it has none).
    fn log_volume(&mut self, volume: &VolumeId) -> Result<(), StorageError> {
        self.record_changes.insert(volume.clone());
        let entry = match self.records.get(volume) {
            Some(record) => Entry::Volume { id: volume.clone(), record: record.clone() },
            None => Entry::Forget { id: volume.clone() },
        };
        self.log(&[entry])
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    // ---- topology and faults ---------------------------------------------------------------

    /// Adds a node (new capacity, as in the recovery from the 2011 event).
    pub fn add_node(&mut self, capacity: u64) -> Result<NodeId, StorageError> {
        let id = NodeId(self.nodes.keys().next_back().map_or(0, |n| n.0 + 1));
        let mut node = Node::new(self.node_dir(id), capacity);
        Self::load_replicas(&mut node, &mut self.damaged)?;
        self.nodes.insert(id, node);
        self.log(&[Entry::Node { id, capacity }])?;
        Ok(id)
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// Stops a node: it serves nothing and its open files are closed; its bytes stay on disk.
    pub fn crash_node(&mut self, id: NodeId) -> Result<(), StorageError> {
        let node = self.nodes.get_mut(&id).ok_or(StorageError::NodeNotFound(id))?;
        node.up = false;
        node.clear_replicas();
        node.reserved = 0;
        Ok(())
    }

    /// Starts a crashed node again, reopening its replicas from disk.
    pub fn restart_node(&mut self, id: NodeId) -> Result<(), StorageError> {
        let node = self.nodes.get_mut(&id).ok_or(StorageError::NodeNotFound(id))?;
        if !node.up {
            Self::load_replicas(node, &mut self.damaged)?;
            node.up = true;
        }
        Ok(())
    }

    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    pub fn fabric_mut(&mut self) -> &mut Fabric {
        &mut self.fabric
    }

    pub fn partition(&mut self, nodes: &[NodeId], networks: &[Network]) {
        for n in networks {
            self.fabric.partition(nodes, *n);
        }
    }

    /// Heals both networks and lifts caps; the configured latency stays.
    pub fn heal(&mut self) {
        self.fabric.heal_all();
        for n in Network::BOTH {
            self.fabric.set_latency(n, self.base_latency);
        }
    }

    pub fn policy(&self) -> PolicyKind {
        self.policy.kind()
    }

    pub fn set_policy(&mut self, kind: PolicyKind) -> Result<(), StorageError> {
        self.set_policy_impl(policy(kind))
    }

    /// Installs a policy with custom parameters (tests tune the hardened one).
    pub fn set_policy_impl(&mut self, p: Box<dyn RemirrorPolicy>) -> Result<(), StorageError> {
        self.policy = p;
        let policy = self.policy.kind();
        self.log(&[Entry::Policy { policy }])
    }

    fn node_up(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.up)
    }

    /// The nodes a client cannot reach: crashed, or cut from the primary network.
    pub fn unreachable_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .keys()
            .copied()
            .filter(|&n| !self.node_up(n) || self.fabric.is_isolated(n, Network::Primary))
            .collect()
    }

    /// Up and in contact with the authority.
    fn node_live(&self, id: NodeId) -> bool {
        self.node_up(id) && self.fabric.reaches_authority(id)
    }

    // ---- volumes -----------------------------------------------------------------------------

    /// The volumes whose record (replica set, epoch, stuck state) changed, was made or was
    /// deleted since the last call: what an owner that mirrors records needs to look at.
    pub fn take_record_changes(&mut self) -> Vec<VolumeId> {
        std::mem::take(&mut self.record_changes).into_iter().collect()
    }

    pub fn record(&self, volume: &VolumeId) -> Option<&VolumeRecord> {
        self.records.get(volume)
    }

    pub fn volumes(&self) -> impl Iterator<Item = (&VolumeId, &VolumeRecord)> {
        self.records.iter()
    }

    fn free(&self, id: NodeId) -> u64 {
        self.nodes.get(&id).map_or(0, |n| n.capacity.saturating_sub(n.used()))
    }

    /// Creates a volume of `size` bytes with replicas on the two live nodes with most free space.
    pub fn create_volume(&mut self, volume: &VolumeId, size: u64) -> Result<(), StorageError> {
        if self.records.contains_key(volume) {
            return Err(StorageError::VolumeExists(volume.clone()));
        }
        let candidates: Vec<NodeId> =
            self.nodes.keys().copied().filter(|&n| self.node_live(n) && self.free(n) >= size).collect();
        let primary = self.pick_node(&candidates, None);
        let secondary = primary.and_then(|p| self.pick_node(&candidates, Some(p)));
        let (Some(primary), Some(secondary)) = (primary, secondary) else {
            return Err(StorageError::InsufficientCapacity { cluster: self.name.clone(), requested: size });
        };
        for n in [primary, secondary] {
            let node = self.nodes.get_mut(&n).ok_or(StorageError::NodeNotFound(n))?;
            let replica = Replica::create(&node.dir, volume, size, 1)?;
            node.add_replica(volume.clone(), replica);
        }
        self.records.insert(volume.clone(), VolumeRecord { size, primary, secondary, epoch: 1, stuck_since_ms: None });
        for n in [primary, secondary] {
            self.note_use(n, volume);
        }
        self.log_volume(volume)
    }

    /// Scatters replicas as EBS does: each is the emptier of two random candidates ("power of
    /// two choices"), which keeps nodes evenly filled without putting volumes on fixed pairs.
    fn pick_node(&mut self, candidates: &[NodeId], partner: Option<NodeId>) -> Option<NodeId> {
        let pool: Vec<NodeId> = candidates
            .iter()
            .copied()
            .filter(|&n| partner.is_none_or(|p| p != n && self.fabric.route(p, n).is_some()))
            .collect();
        if pool.is_empty() {
            return None;
        }
        let a = pool[self.rng.gen_range(0..pool.len())];
        let b = pool[self.rng.gen_range(0..pool.len())];
        Some(if self.free(b) > self.free(a) { b } else { a })
    }

    /// Grows a volume to `size` bytes on both replicas (ModifyVolume), if both nodes have room.
    pub fn grow_volume(&mut self, volume: &VolumeId, size: u64) -> Result<(), StorageError> {
        let record = self.records.get(volume).cloned().ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        let extra = size.saturating_sub(record.size);
        for n in [record.primary, record.secondary] {
            if !self.node_up(n) {
                return Err(StorageError::NodeDown(n));
            }
            if self.free(n) < extra {
                return Err(StorageError::InsufficientCapacity { cluster: self.name.clone(), requested: extra });
            }
        }
        for n in [record.primary, record.secondary] {
            self.note_use(n, volume);
            self.nodes.get_mut(&n).ok_or(StorageError::NodeNotFound(n))?.grow_replica(volume, size)?;
        }
        if let Some(r) = self.records.get_mut(volume) {
            r.size = size;
        }
        self.log_volume(volume)
    }

    /// Deletes a volume: its record, and the replicas on live nodes (a down node drops its
    /// replica when it comes back).
    pub fn delete_volume(&mut self, volume: &VolumeId) -> Result<(), StorageError> {
        let record = self.records.remove(volume).ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        self.last_use.retain(|(_, v), _| v != volume);
        if let Some(job) = self.jobs.remove(volume) {
            self.release_reservation(volume, &job, record.size);
        }
        self.log_volume(volume)?;
        for node in self.nodes.values_mut().filter(|n| n.up) {
            if let Some(replica) = node.take_replica(volume) {
                replica.destroy()?;
            }
        }
        Ok(())
    }

    /// Deletes a volume its owner does not know, and counts it.
    pub fn reclaim_orphan(&mut self, volume: &VolumeId) -> Result<(), StorageError> {
        self.delete_volume(volume)?;
        self.counters.orphans_reclaimed += 1;
        Ok(())
    }

    fn release_reservation(&mut self, _volume: &VolumeId, job: &Job, size: u64) {
        if let Some(copy) = &job.copy {
            if copy.reserved {
                if let Some(n) = self.nodes.get_mut(&copy.target) {
                    n.reserved = n.reserved.saturating_sub(size);
                }
            }
        }
    }

    fn mark_stuck(&mut self, volume: &VolumeId, now: Duration) -> Result<(), StorageError> {
        if let Some(record) = self.records.get_mut(volume) {
            if record.stuck_since_ms.is_none() {
                record.stuck_since_ms = Some(now.as_millis() as u64);
                self.jobs.insert(volume.clone(), Job { lost_at: now, failures: 0, next_attempt: now, copy: None });
                self.counters.stuck_events += 1;
                self.log_volume(volume)?;
            }
        }
        Ok(())
    }

    /// The record of a volume whose primary serves I/O now, or `Stuck` (after marking it so
    /// when this request is the one that finds the replica set broken).
    fn io_record(&mut self, volume: &VolumeId, replicate_bytes: Option<u64>) -> Result<VolumeRecord, StorageError> {
        let record = self.records.get(volume).cloned().ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        if record.stuck_since_ms.is_some() {
            return Err(StorageError::Stuck(volume.clone()));
        }
        let now = self.clock.now();
        // Instances reach the primary over the primary network.
        let primary_ok = self.node_up(record.primary) && !self.fabric.is_isolated(record.primary, Network::Primary);
        let replication_ok = match replicate_bytes {
            None => true,
            Some(bytes) => {
                self.node_up(record.secondary)
                    && self.fabric.transfer(record.primary, record.secondary, bytes, now).is_ok()
            }
        };
        if !primary_ok || !replication_ok {
            self.mark_stuck(volume, now)?;
            return Err(StorageError::Stuck(volume.clone()));
        }
        Ok(record)
    }

    /// Records a use of a replica for the open-file budget, checking the budget now and then.
    fn note_use(&mut self, node: NodeId, volume: &VolumeId) {
        self.accesses += 1;
        self.last_use.insert((node, volume.clone()), self.accesses);
        if self.accesses.is_multiple_of(OPEN_BUDGET_CHECK_EVERY) {
            self.enforce_open_budget();
        }
    }

    fn replica(&mut self, node: NodeId, volume: &VolumeId) -> Result<&Arc<Replica>, StorageError> {
        self.note_use(node, volume);
        let n = self.nodes.get(&node).ok_or(StorageError::NodeNotFound(node))?;
        if !n.up {
            return Err(StorageError::NodeDown(node));
        }
        n.replicas.get(volume).ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))
    }

    /// How many replicas have their files open right now.
    pub fn open_replicas(&self) -> usize {
        self.nodes.values().flat_map(|n| n.replicas.values()).filter(|r| r.is_open()).count()
    }

    /// Closes the files of the least recently used replicas beyond [`MAX_OPEN_REPLICAS`].
    fn enforce_open_budget(&mut self) {
        let mut open: Vec<(u64, NodeId, &VolumeId)> = self
            .nodes
            .iter()
            .flat_map(|(id, n)| n.replicas.iter().map(move |(v, r)| (id, v, r)))
            .filter(|(_, _, r)| r.is_open())
            .map(|(id, v, _)| (self.last_use.get(&(*id, v.clone())).copied().unwrap_or(0), *id, v))
            .collect();
        if open.len() <= MAX_OPEN_REPLICAS {
            return;
        }
        open.sort_unstable();
        // Close down to half the budget, so the check does not run at every access.
        let excess = open.len() - MAX_OPEN_REPLICAS / 2;
        let to_close: Vec<(NodeId, VolumeId)> = open.into_iter().take(excess).map(|(_, n, v)| (n, v.clone())).collect();
        for (node, volume) in to_close {
            if let Some(r) = self.nodes.get(&node).and_then(|n| n.replicas.get(&volume)) {
                r.close();
            }
        }
    }

    /// Checks that a volume serves I/O now (a write of `replicate_bytes` crosses the
    /// replication network) and hands out its replica set, for I/O outside the cluster's lock.
    pub fn plan_io(&mut self, volume: &VolumeId, replicate_bytes: Option<u64>) -> Result<IoPlan, StorageError> {
        let record = self.io_record(volume, replicate_bytes)?;
        let primary = self.replica(record.primary, volume)?.clone();
        let secondary = self.replica(record.secondary, volume)?.clone();
        Ok(IoPlan { volume: volume.clone(), epoch: record.epoch, primary, secondary })
    }

    /// Writes `data` at `offset`: applied by the primary, forwarded to the secondary, and
    /// acknowledged (`Ok`) only when both have it.
    pub fn write(&mut self, volume: &VolumeId, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.plan_io(volume, Some(data.len() as u64))?.write(offset, data)
    }

    /// Zeroes a range on both replicas (TRIM / WRITE_ZEROES).
    pub fn zero(&mut self, volume: &VolumeId, offset: u64, len: u64) -> Result<(), StorageError> {
        self.plan_io(volume, Some(ZERO_REQUEST_BYTES))?.zero(offset, len)
    }

    /// Makes every acknowledged write durable on both replicas.
    pub fn flush(&mut self, volume: &VolumeId) -> Result<(), StorageError> {
        self.flush_handles(volume)?.sync()
    }

    /// What a flush of the volume must sync, checked like any I/O (a stuck volume answers
    /// `Stuck`); [`FlushHandles::sync`] then runs without holding the cluster, so other
    /// volumes' I/O goes on during the `fdatasync`s.
    pub fn flush_handles(&mut self, volume: &VolumeId) -> Result<FlushHandles, StorageError> {
        let record = self.io_record(volume, Some(ZERO_REQUEST_BYTES))?;
        let mut jobs = self.replica(record.primary, volume)?.sync_jobs()?;
        jobs.extend(self.replica(record.secondary, volume)?.sync_jobs()?);
        Ok(FlushHandles { volume: volume.clone(), jobs })
    }

    /// Reads from the primary; a block that fails its checksum is served from the other replica
    /// and repaired.
    pub fn read(&mut self, volume: &VolumeId, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let record = self.io_record(volume, None)?;
        self.read_repairing(volume, record.primary, Some(record.secondary), offset, len)
    }

    /// Indices of the written blocks ([`crate::BLOCK_SIZE`] each) of a live replica of a volume.
    pub fn written_blocks(&self, volume: &VolumeId) -> Result<Vec<u64>, StorageError> {
        let record = self.records.get(volume).ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        [record.primary, record.secondary]
            .into_iter()
            .filter(|&n| self.node_live(n))
            .find_map(|n| self.nodes.get(&n).and_then(|node| node.replicas.get(volume)))
            .map(|r| r.written_blocks())
            .ok_or_else(|| StorageError::NoLiveReplica(volume.clone()))
    }

    /// Reads from any live replica, even of a stuck volume (what a snapshot does).
    pub fn read_any_replica(&mut self, volume: &VolumeId, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let record = self.records.get(volume).cloned().ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        let live: Vec<NodeId> = [record.primary, record.secondary].into_iter().filter(|&n| self.node_live(n)).collect();
        match live.as_slice() {
            [] => Err(StorageError::NoLiveReplica(volume.clone())),
            [one] => self.read_repairing(volume, *one, None, offset, len),
            [a, b, ..] => {
                let other = self.fabric.route(*a, *b).map(|_| *b);
                self.read_repairing(volume, *a, other, offset, len)
            }
        }
    }

    fn read_repairing(
        &mut self,
        volume: &VolumeId,
        from: NodeId,
        fallback: Option<NodeId>,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        loop {
            match self.replica(from, volume)?.read(offset, len) {
                Err(StorageError::Corrupt { block, .. }) => {
                    self.counters.corruptions_detected += 1;
                    let good = match fallback {
                        Some(other) if self.node_up(other) => self.replica(other, volume)?.read_block(block)?,
                        _ => return Err(StorageError::Corrupt { volume: volume.clone(), block }),
                    };
                    self.replica(from, volume)?.write_block(block, &good)?;
                    self.counters.corruptions_repaired += 1;
                }
                other => return other,
            }
        }
    }

    /// A request sent straight to one replica with an explicit epoch, as a primary with a stale
    /// view of the replica set would send it. Fencing makes it fail unless the epoch is current.
    pub fn write_to_replica(
        &mut self,
        node: NodeId,
        volume: &VolumeId,
        epoch: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StorageError> {
        self.replica(node, volume)?.write(epoch, offset, data)
    }

    /// The data file of a volume's replica on a node (tests corrupt it on purpose).
    pub fn replica_data_path(&self, node: NodeId, volume: &VolumeId) -> Option<PathBuf> {
        self.nodes.get(&node)?.replicas.get(volume).map(|r| r.data_path())
    }

    /// Epoch each replica of a volume holds, by node (only nodes that are up).
    pub fn replica_epochs(&self, volume: &VolumeId) -> BTreeMap<NodeId, u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.up)
            .filter_map(|(id, n)| n.replicas.get(volume).map(|r| (*id, r.epoch())))
            .collect()
    }

    /// Replicas that would accept a write right now: in the current set at the current epoch,
    /// on a live node, of a volume that is not stuck. Invariant: at most one primary among them.
    pub fn writable_primaries(&self, volume: &VolumeId) -> Vec<NodeId> {
        let Some(record) = self.records.get(volume) else {
            return Vec::new();
        };
        if record.stuck_since_ms.is_some() {
            return Vec::new();
        }
        self.replica_epochs(volume)
            .into_iter()
            .filter(|(node, epoch)| *epoch == record.epoch && *node == record.primary && self.node_live(*node))
            .map(|(node, _)| node)
            .collect()
    }

    /// Every block of both replicas of a volume, for comparison (tests).
    pub fn replica_contents(&mut self, volume: &VolumeId) -> Result<Vec<Vec<u8>>, StorageError> {
        let record = self.records.get(volume).cloned().ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
        let mut out = Vec::new();
        for node in [record.primary, record.secondary] {
            out.push(self.replica(node, volume)?.read(0, record.size)?);
        }
        Ok(out)
    }

    // ---- background work ----------------------------------------------------------------------

    /// One round of background work at the clock's current time: detect broken replica sets,
    /// advance re-mirroring, and drop replicas the authority no longer lists.
    pub fn tick(&mut self) -> Result<(), StorageError> {
        let now = self.clock.now();
        let broken: Vec<VolumeId> = self
            .records
            .iter()
            .filter(|(_, r)| r.stuck_since_ms.is_none())
            .filter(|(_, r)| {
                !(self.node_up(r.primary)
                    && self.node_up(r.secondary)
                    && self.fabric.reaches_authority(r.primary)
                    && self.fabric.route(r.primary, r.secondary).is_some())
            })
            .map(|(v, _)| v.clone())
            .collect();
        for volume in broken {
            self.mark_stuck(&volume, now)?;
        }
        let jobs: Vec<VolumeId> = self.jobs.keys().cloned().collect();
        for volume in jobs {
            self.advance_job(&volume, now)?;
        }
        self.collect_orphans(now)
    }

    fn rebuilds_touching(&self, node: NodeId) -> usize {
        self.jobs.values().filter_map(|j| j.copy.as_ref()).filter(|c| c.survivor == node || c.target == node).count()
    }

    fn recovered(&mut self, volume: &VolumeId, job: &Job, now: Duration) -> Result<(), StorageError> {
        self.jobs.remove(volume);
        if let Some(record) = self.records.get_mut(volume) {
            record.stuck_since_ms = None;
        }
        self.counters.stuck_millis += now.saturating_sub(job.lost_at).as_millis() as u64;
        self.log_volume(volume)
    }

    /// Commits a new replica set `{primary, secondary}` at the next epoch.
    fn commit_set(&mut self, volume: &VolumeId, primary: NodeId, secondary: NodeId) -> Result<(), StorageError> {
        let epoch = {
            let record = self.records.get_mut(volume).ok_or_else(|| StorageError::VolumeNotFound(volume.clone()))?;
            record.epoch += 1;
            record.primary = primary;
            record.secondary = secondary;
            record.epoch
        };
        // The authority's record is the truth: persist it before the replicas learn the epoch.
        self.log_volume(volume)?;
        self.replica(primary, volume)?.set_epoch(epoch)?;
        self.replica(secondary, volume)?.set_epoch(epoch)
    }

    /// Makes a node that closes a replication connection crash with probability `p` (the race
    /// condition of April 2011, which only bites when many connections close: in a storm);
    /// `None` lifts the rule.
    pub fn set_crash_on_close(&mut self, p: Option<f64>) {
        self.crash_on_close = p.filter(|p| *p > 0.0).map(|p| p.min(1.0));
    }

    /// Nodes crashed by the crash-on-close rule since it was last cleared.
    pub fn crashed_on_close(&self) -> Vec<NodeId> {
        self.crashed_on_close.iter().copied().collect()
    }

    /// Forgets which nodes crashed on close (after restarting them).
    pub fn clear_crashed_on_close(&mut self) {
        self.crashed_on_close.clear();
    }

    /// A node closes a replication connection (a copy ended, or a search for a peer failed).
    fn connection_closed(&mut self, node: NodeId) -> Result<(), StorageError> {
        let Some(p) = self.crash_on_close else { return Ok(()) };
        if self.node_up(node) && self.rng.gen_bool(p) {
            self.crash_node(node)?;
            self.crashed_on_close.insert(node);
            self.counters.crashes_on_close += 1;
        }
        Ok(())
    }

    /// Puts a failed job back in the queue after the policy's delay.
    fn retry_later(&mut self, volume: &VolumeId, mut job: Job, now: Duration) -> Result<(), StorageError> {
        if let Some(record) = self.records.get(volume).cloned() {
            let survivor = job.copy.as_ref().map_or(record.primary, |c| c.survivor);
            self.connection_closed(survivor)?;
        }
        job.failures += 1;
        job.next_attempt = now + self.policy.retry_delay(job.failures, &mut self.rng);
        self.jobs.insert(volume.clone(), job);
        Ok(())
    }

    fn advance_job(&mut self, volume: &VolumeId, now: Duration) -> Result<(), StorageError> {
        let (Some(record), Some(mut job)) = (self.records.get(volume).cloned(), self.jobs.get(volume).cloned()) else {
            return Ok(());
        };
        if let Some(mut copy) = job.copy.clone() {
            if now < copy.done_at {
                // A copy started over a starved link finishes at the link's speed now, once the
                // network is better (a whole transfer from here is an upper bound on what is left).
                let fresh =
                    self.fabric.transfer_time(copy.survivor, copy.target, copy.bytes, self.policy.copy_throttle());
                match fresh {
                    Some(d) if now + d < copy.done_at => {
                        copy.done_at = now + d;
                        job.copy = Some(copy);
                        self.jobs.insert(volume.clone(), job);
                    }
                    _ => {}
                }
                return Ok(());
            }
            return self.finish_copy(volume, &record, job, copy, now);
        }
        if now < job.next_attempt {
            return Ok(());
        }
        let live: Vec<NodeId> = [record.primary, record.secondary].into_iter().filter(|&n| self.node_live(n)).collect();
        if live.is_empty() {
            // No replica can negotiate with the authority: nothing to do until one comes back.
            return Ok(());
        }
        // Whole: both alive and the link between them carries writes (a starved link would
        // only make the set stuck again at the next write).
        let pair_whole = live.len() == 2 && self.fabric.carries(record.primary, record.secondary, MIN_REPLICATION_RATE);
        let in_grace = now.saturating_sub(job.lost_at) < self.policy.peer_grace();
        if pair_whole && (self.policy.reconnect_to_previous_peer() || in_grace) {
            // I/O was blocked since the peer was lost, so both replicas hold the same bytes.
            self.commit_set(volume, record.primary, record.secondary)?;
            self.counters.reconnects += 1;
            return self.recovered(volume, &job, now);
        }
        if in_grace {
            return Ok(());
        }
        if let Some(limit) = self.policy.max_rebuilds_per_cluster() {
            if self.jobs.values().filter(|j| j.copy.is_some()).count() >= limit {
                return Ok(()); // wait for a rebuild slot
            }
        }
        let reachable = |n: NodeId| !self.fabric.is_isolated(n, Network::Primary);
        let survivor = if self.policy.copy_from_reachable_replica()
            && live.len() == 2
            && !reachable(record.primary)
            && reachable(record.secondary)
        {
            // I/O has waited since the set broke and every acknowledged write reached both
            // replicas: the one clients reach carries on.
            record.secondary
        } else if live.contains(&record.primary) {
            record.primary
        } else {
            record.secondary
        };
        let old_peer = if survivor == record.primary { record.secondary } else { record.primary };
        if let Some(limit) = self.policy.max_rebuilds_per_node() {
            if self.rebuilds_touching(survivor) >= limit {
                return Ok(());
            }
        }
        self.counters.remirror_attempts += 1;
        let ratio = self.policy.max_fill_ratio();
        let per_node = self.policy.max_rebuilds_per_node();
        let mut candidates: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, _)| **id != survivor && **id != old_peer && self.node_live(**id))
            .filter(|(id, _)| self.fabric.route(survivor, **id).is_some())
            .filter(|(_, n)| (n.used() + record.size) as f64 <= n.capacity as f64 * ratio)
            .filter(|(id, _)| per_node.is_none_or(|limit| self.rebuilds_touching(**id) < limit))
            .map(|(id, _)| *id)
            .collect();
        candidates.sort_by_key(|&n| (std::cmp::Reverse(self.free(n)), n));
        let Some(&target) = candidates.first() else {
            self.counters.failures_no_space += 1;
            return self.retry_later(volume, job, now);
        };
        let bytes = self.nodes.get(&survivor).and_then(|n| n.replicas.get(volume)).map_or(0, |r| r.allocated_bytes());
        let Some(duration) = self.fabric.transfer_time(survivor, target, bytes, self.policy.copy_throttle()) else {
            return self.retry_later(volume, job, now);
        };
        let reserved = self.policy.reserve_target_space();
        if reserved {
            if let Some(n) = self.nodes.get_mut(&target) {
                n.reserved += record.size;
            }
        }
        job.copy = Some(Copy { survivor, target, done_at: now + duration, bytes, reserved });
        self.jobs.insert(volume.clone(), job.clone());
        if duration.is_zero() {
            let copy = job.copy.clone().expect("just set");
            return self.finish_copy(volume, &record, job, copy, now);
        }
        Ok(())
    }

    fn finish_copy(
        &mut self,
        volume: &VolumeId,
        record: &VolumeRecord,
        mut job: Job,
        copy: Copy,
        now: Duration,
    ) -> Result<(), StorageError> {
        self.release_reservation(volume, &job, record.size);
        self.connection_closed(copy.target)?;
        job.copy = None;
        let reachable = self.node_live(copy.survivor)
            && self.node_live(copy.target)
            && self.fabric.route(copy.survivor, copy.target).is_some();
        // Without a reservation the space may have gone to another copy in the meantime.
        let fits = self.nodes.get(&copy.target).is_some_and(|n| n.used() + record.size <= n.capacity);
        if !reachable || !fits {
            if fits {
                self.counters.copies_aborted += 1;
            } else {
                self.counters.failures_no_space += 1;
            }
            return self.retry_later(volume, job, now);
        }
        // Copy the written blocks for real; the new replica joins at the next epoch.
        let target_dir =
            self.nodes.get(&copy.target).map(|n| n.dir.clone()).ok_or(StorageError::NodeNotFound(copy.target))?;
        // The survivor first refuses the old set's writes (waiting for those in flight), so none
        // lands behind the copy: I/O of the old set is held (stuck) until the new set commits.
        self.replica(copy.survivor, volume)?.fence(record.epoch + 1);
        let fresh = Replica::create(&target_dir, volume, record.size, record.epoch + 1)?;
        let blocks: Vec<u64> = self.replica(copy.survivor, volume)?.written_blocks();
        for block in blocks {
            match self.replica(copy.survivor, volume)?.read_block(block) {
                Ok(data) => fresh.write_block(block, &data)?,
                Err(StorageError::Corrupt { .. }) => {
                    // The only good copy is damaged here: keep the volume stuck, never spread bad bytes.
                    self.counters.corruptions_detected += 1;
                    fresh.destroy()?;
                    self.counters.copies_aborted += 1;
                    return self.retry_later(volume, job, now);
                }
                Err(e) => return Err(e),
            }
        }
        fresh.flush()?;
        if let Some(n) = self.nodes.get_mut(&copy.target) {
            n.add_replica(volume.clone(), fresh);
        }
        self.commit_set(volume, copy.survivor, copy.target)?;
        self.counters.remirror_successes += 1;
        self.counters.bytes_copied += copy.bytes;
        self.recovered(volume, &job, now)
    }

    /// Deals with replicas that live nodes hold for volumes the authority no longer places
    /// there: dropped at once when the policy asks the authority first; otherwise (legacy) the
    /// replica keeps its data and searches for a new peer, and is dropped only when it found
    /// one and the authority refused the copy.
    fn collect_orphans(&mut self, now: Duration) -> Result<(), StorageError> {
        let mut orphans = Vec::new();
        for (id, node) in &self.nodes {
            if !self.node_live(*id) {
                continue;
            }
            for volume in node.replicas.keys() {
                let member = self.records.get(volume).is_some_and(|r| r.primary == *id || r.secondary == *id);
                let incoming = self.jobs.get(volume).and_then(|j| j.copy.as_ref()).is_some_and(|c| c.target == *id);
                if !member && !incoming {
                    orphans.push((*id, volume.clone()));
                }
            }
        }
        for (id, volume) in orphans {
            let searches = !self.policy.confirm_with_authority_first() && self.records.contains_key(&volume);
            if !searches {
                self.stale_searches.remove(&(id, volume.clone()));
                if let Some(replica) = self.nodes.get_mut(&id).and_then(|n| n.take_replica(&volume)) {
                    replica.destroy()?;
                }
                continue;
            }
            let due = *self.stale_searches.entry((id, volume.clone())).or_insert(now);
            if now < due {
                continue;
            }
            self.counters.remirror_attempts += 1;
            let (size, allocated) = match self.nodes.get(&id).and_then(|n| n.replicas.get(&volume)) {
                Some(r) => (r.size(), r.allocated_bytes()),
                None => continue,
            };
            let found = self.nodes.iter().any(|(other, n)| {
                *other != id
                    && self.node_live(*other)
                    && self.fabric.route(id, *other).is_some()
                    && n.used() + size <= n.capacity
            });
            if !found {
                self.counters.failures_no_space += 1;
                let delay = self.policy.retry_delay(1, &mut self.rng);
                self.stale_searches.insert((id, volume), now + delay);
                continue;
            }
            // The copy is made, then refused: the authority has a newer replica set.
            self.counters.bytes_copied += allocated;
            self.counters.stale_copies_refused += 1;
            self.stale_searches.remove(&(id, volume.clone()));
            if let Some(replica) = self.nodes.get_mut(&id).and_then(|n| n.take_replica(&volume)) {
                replica.destroy()?;
            }
        }
        // Searches of replicas that are gone (node crashed, volume deleted) end with them.
        let nodes = &self.nodes;
        self.stale_searches.retain(|(id, volume), _| nodes.get(id).is_some_and(|n| n.replicas.contains_key(volume)));
        Ok(())
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn status(&self) -> ClusterStatus {
        let stuck = self.records.values().filter(|r| r.stuck_since_ms.is_some()).count();
        ClusterStatus {
            name: self.name.clone(),
            policy: self.policy.kind(),
            nodes: self
                .nodes
                .iter()
                .map(|(id, n)| NodeStatus {
                    id: *id,
                    up: n.up,
                    isolated_primary: self.fabric.is_isolated(*id, Network::Primary),
                    isolated_replication: self.fabric.is_isolated(*id, Network::Replication),
                    capacity: n.capacity,
                    used: n.used(),
                    replicas: n.replicas.len(),
                })
                .collect(),
            volumes: self.records.len(),
            healthy: self.records.len() - stuck,
            stuck,
            remirroring: self.jobs.values().filter(|j| j.copy.is_some()).count(),
            queue: self.jobs.len(),
            stale_searching: self.stale_searches.len(),
            counters: self.counters,
        }
    }

    /// Provisioned bytes the live nodes hold beyond what the records account for (0 when no
    /// capacity leaked: every replica on a live node belongs to its volume's current set).
    pub fn leaked_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|(id, n)| n.up && self.fabric.reaches_authority(**id))
            .flat_map(|(id, n)| n.replicas.iter().map(move |(v, r)| (*id, v, r.size())))
            .filter(|(id, v, _)| !self.records.get(*v).is_some_and(|r| r.primary == *id || r.secondary == *id))
            .map(|(_, _, size)| size)
            .sum::<u64>()
            + self.nodes.values().map(|n| n.reserved).sum::<u64>()
    }
}
