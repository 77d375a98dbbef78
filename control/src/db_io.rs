//! Block I/O on a DB instance's storage, for its SQL endpoint: the bytes of the database live on
//! the instance's volumes in the block store, striped over them, and — for Multi-AZ — written
//! synchronously to the standby's volumes in another zone too. A write returns when both replicas
//! of the primary's volume (and of the standby's, while it is in sync) have it.
//!
//! A primary volume that is stuck answers [`DbIoError::Held`]: the caller waits and retries, as a
//! database on a stuck EBS volume did in April 2011. A standby that stops answering is dropped
//! from the write path, and the control plane records (durably, before any write acknowledged
//! without it) that it is out of sync: failover never promotes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use squall_storage::{SharedCluster, StorageError};

use crate::error::ControlError;
use crate::ids::RegionName;
use crate::model::rds::{DbInstanceStatus, DbStorage};
use crate::state::{store_name, RegionState};
use crate::ControlPlane;

/// Bytes of one stripe: consecutive stripes go to consecutive volumes of a striped instance.
pub const DB_STRIPE_BYTES: u64 = 64 * 1024;

/// Whether instances of `engine` have a SQL endpoint (the PostgreSQL protocol), whose writes
/// reach the storage after it is created.
pub fn served_engine(engine: &str) -> bool {
    engine.contains("postgres")
}

/// What the SQL layer reports as it polls: by region, the resource ids of the endpoints it
/// serves, and of the replicas caught up with a source that takes no writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlReport {
    pub served: Vec<(RegionName, String)>,
    pub caught_up: Vec<(RegionName, String)>,
}

/// A DB instance as its SQL endpoint serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEndpoint {
    pub region: RegionName,
    pub id: String,
    /// The DbiResourceId: the id that survives renames.
    pub resource_id: String,
    pub engine: String,
    pub port: u16,
    pub master_username: String,
    pub master_password: String,
    /// The database clients name when they connect (`postgres` unless DBName was given).
    pub db_name: String,
    pub status: DbInstanceStatus,
    pub primary: DbStorage,
    pub standby: Option<DbStorage>,
    pub standby_in_sync: bool,
    pub allocated_gib: u32,
    /// A read replica refuses writes until it is promoted.
    pub read_only: bool,
    /// The source a read replica receives writes from (`None` once its promotion started): an
    /// identifier in the replica's region, or `region/identifier` in another.
    pub replicating_from: Option<String>,
    /// The values of the instance's DB parameter group it runs with now (formulas worked out).
    pub parameters: std::collections::BTreeMap<String, String>,
    /// For an Aurora cluster's writer endpoint: the cluster volume (a volume in each of three
    /// zones, written by quorum); empty for a DB instance.
    pub cluster_volume: Vec<DbStorage>,
    /// For an Aurora cluster's reader endpoint: the endpoint whose database it serves, read-only
    /// (the writer's: one cluster volume, one database, sessions that cannot write).
    pub shares: Option<String>,
}

impl DbEndpoint {
    /// Whether the endpoint takes connections in this status (not while it is created, rebooted,
    /// failed over, stopped or deleted).
    pub fn serving(&self) -> bool {
        matches!(
            self.status,
            DbInstanceStatus::Available
                | DbInstanceStatus::BackingUp
                | DbInstanceStatus::Modifying
                | DbInstanceStatus::StorageFull
        )
    }

    /// What the endpoint's database is opened on: a change of it (a failover swaps primary and
    /// standby; a standby is added or dropped; the storage grows) means the database must be
    /// closed and opened again.
    pub fn storage_key(&self) -> String {
        let mut standby = self.standby.as_ref().map(|s| s.volumes.join(",")).unwrap_or_default();
        for s in &self.cluster_volume {
            standby.push_str(&s.volumes.join(","));
        }
        let mode = match (&self.shares, self.read_only) {
            (Some(writer), _) => format!("ro-of-{writer}"),
            (None, true) => "ro".to_string(),
            (None, false) => "rw".to_string(),
        };
        // A storage that grew is opened again, with its new room.
        format!("{}/{}|{standby}|{mode}|{}", self.region, self.primary.volumes.join(","), self.allocated_gib)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbIoError {
    /// The primary's storage is stuck: retry later.
    #[error("the storage of DB instance {0} is not answering (stuck)")]
    Held(String),
    #[error("{offset}+{len} is beyond the end of the DB instance's storage ({size} bytes)")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    #[error("storage error: {0}")]
    Storage(String),
}

/// One copy of an instance's storage: its volumes in its zone's cluster, striped.
#[derive(Debug, Clone)]
struct Copy {
    cluster: SharedCluster,
    volumes: Vec<squall_storage::VolumeId>,
    /// Volumes a `volume-io-pause` fault holds: their I/O answers stuck until it ends.
    paused: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
}

/// A piece of an I/O that falls in one stripe: which volume, where in it, where in the buffer.
struct Piece {
    volume: usize,
    offset: u64,
    at: usize,
    len: usize,
}

impl Copy {
    fn open(state: &RegionState, storage: &DbStorage) -> Result<Self, ControlError> {
        let cluster = state.store.opened_cluster(storage.zone_id.as_str()).ok_or_else(|| {
            ControlError::invariant(format!("the storage cluster of {} is not open", storage.zone_id))
        })?;
        let volumes = storage.volumes.iter().map(|v| store_name(v)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { cluster, volumes, paused: Arc::default() })
    }

    /// Stuck while a fault pauses the volume.
    fn check_paused(&self, name: &squall_storage::VolumeId) -> Result<(), StorageError> {
        let paused = self.paused.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !paused.is_empty() && paused.contains(name.as_str()) {
            return Err(StorageError::Stuck(name.clone()));
        }
        Ok(())
    }

    fn pieces(&self, offset: u64, len: usize) -> Vec<Piece> {
        let k = self.volumes.len() as u64;
        let mut out = Vec::new();
        let mut at = 0usize;
        while at < len {
            let logical = offset + at as u64;
            let stripe = logical / DB_STRIPE_BYTES;
            let within = logical % DB_STRIPE_BYTES;
            let take = ((DB_STRIPE_BYTES - within) as usize).min(len - at);
            out.push(Piece {
                volume: (stripe % k) as usize,
                offset: (stripe / k) * DB_STRIPE_BYTES + within,
                at,
                len: take,
            });
            at += take;
        }
        out
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        for p in self.pieces(offset, data.len()) {
            let name = &self.volumes[p.volume];
            self.check_paused(name)?;
            let plan = self.cluster.lock().plan_io(name, Some(p.len as u64))?;
            plan.write(p.offset, &data[p.at..p.at + p.len])?;
        }
        Ok(())
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let mut out = vec![0u8; len];
        for p in self.pieces(offset, len) {
            let name = &self.volumes[p.volume];
            self.check_paused(name)?;
            let plan = self.cluster.lock().plan_io(name, None)?;
            let bytes = match plan.read(p.offset, p.len as u64) {
                // A block that fails its checksum is read again under the cluster, which
                // repairs it from the other replica.
                Err(StorageError::Corrupt { .. }) => self.cluster.lock().read(name, p.offset, p.len as u64)?,
                other => other?,
            };
            out[p.at..p.at + p.len].copy_from_slice(&bytes);
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StorageError> {
        for name in &self.volumes {
            self.check_paused(name)?;
            let handles = self.cluster.lock().flush_handles(name)?;
            handles.sync()?;
        }
        Ok(())
    }
}

type OutOfSync = Box<dyn Fn() -> Result<(), ControlError> + Send + Sync>;

/// The storage of one DB instance as one device: what its SQL endpoint's database is stored on.
pub struct DbDevice {
    instance: String,
    size: u64,
    /// An Aurora cluster's storage: the cluster volume, by quorum (then `primary` is unused).
    quorum: Option<squall_storage::QuorumVolume>,
    primary: Copy,
    standby: Option<Copy>,
    /// Writes go to the standby too while this holds.
    standby_in_sync: AtomicBool,
    /// Records durably that the standby fell out of sync (failover must not promote it).
    mark_out_of_sync: OutOfSync,
    /// When a write last reached the storage (wall-clock ms), for point-in-time restore.
    last_write: Arc<std::sync::atomic::AtomicU64>,
    wall_ms: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for DbDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbDevice").field("instance", &self.instance).field("size", &self.size).finish()
    }
}

fn held_or(instance: &str, e: StorageError) -> DbIoError {
    match e {
        // A cluster volume without its write quorum holds writes as a stuck volume does: reads
        // go on, writes wait for the copies to come back (the cluster is read-only meanwhile).
        StorageError::Stuck(_) | StorageError::NoQuorum { .. } => DbIoError::Held(instance.to_string()),
        other => DbIoError::Storage(other.to_string()),
    }
}

impl DbDevice {
    /// Bytes the device holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether writes still reach the standby (false for a single-AZ instance).
    pub fn standby_in_sync(&self) -> bool {
        self.standby.is_some() && self.standby_in_sync.load(Ordering::SeqCst)
    }

    fn check(&self, offset: u64, len: u64) -> Result<(), DbIoError> {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(DbIoError::OutOfRange { offset, len, size: self.size });
        }
        Ok(())
    }

    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DbIoError> {
        self.check(offset, len as u64)?;
        if let Some(q) = &self.quorum {
            return q.read(offset, len as u64).map_err(|e| held_or(&self.instance, e));
        }
        self.primary.read(offset, len).map_err(|e| held_or(&self.instance, e))
    }

    /// Writes on the primary's volumes, then on the standby's while it is in sync.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), DbIoError> {
        self.check(offset, data.len() as u64)?;
        // Stamped before the bytes land: a restore to a time after the stamp never misses them.
        self.last_write.fetch_max((self.wall_ms)(), Ordering::SeqCst);
        if let Some(q) = &self.quorum {
            return q.write(offset, data).map_err(|e| held_or(&self.instance, e));
        }
        self.primary.write(offset, data).map_err(|e| held_or(&self.instance, e))?;
        self.on_standby(|standby| standby.write(offset, data))
    }

    /// Makes every write so far durable on both replicas of every volume of the primary and of
    /// the in-sync standby. The two zones' syncs run side by side (a Multi-AZ commit waits for
    /// the slower, not for the sum).
    pub fn flush(&self) -> Result<(), DbIoError> {
        if let Some(q) = &self.quorum {
            q.flush().map_err(|e| held_or(&self.instance, e))?;
            // Copies that missed writes while they were away catch up from the others.
            if let Err(e) = q.repair() {
                tracing::warn!(cluster = %self.instance, "could not repair the cluster volume yet: {e}");
            }
            return Ok(());
        }
        if !self.standby_in_sync() {
            return self.primary.flush().map_err(|e| held_or(&self.instance, e));
        }
        let (primary, standby) = std::thread::scope(|s| {
            let standby = s.spawn(|| self.standby.as_ref().map_or(Ok(()), Copy::flush));
            let primary = self.primary.flush();
            (
                primary,
                standby.join().unwrap_or_else(|_| {
                    Err(StorageError::Io {
                        volume: self.primary.volumes[0].clone(),
                        message: "the standby's sync thread failed".into(),
                    })
                }),
            )
        });
        primary.map_err(|e| held_or(&self.instance, e))?;
        self.on_standby(|_| standby)
    }

    /// Copies the `ranges` (offset, length) of the primary that hold data onto the standby and
    /// makes them durable there: how an out-of-sync standby is rebuilt, while nothing writes to
    /// the device. Answers whether the standby now has them (false when it still does not answer).
    pub fn rebuild_standby(&self, ranges: &[(u64, u64)]) -> Result<bool, DbIoError> {
        let Some(standby) = &self.standby else { return Ok(false) };
        const CHUNK: u64 = 1 << 20;
        for &(start, len) in ranges {
            let end = start.saturating_add(len).min(self.size);
            let mut at = start;
            while at < end {
                let n = CHUNK.min(end - at) as usize;
                let bytes = self.primary.read(at, n).map_err(|e| held_or(&self.instance, e))?;
                if standby.write(at, &bytes).is_err() {
                    return Ok(false);
                }
                at += n as u64;
            }
        }
        if standby.flush().is_err() {
            return Ok(false);
        }
        self.standby_in_sync.store(true, Ordering::SeqCst);
        Ok(true)
    }

    /// Runs `f` on the standby while it is in sync. A standby that fails is dropped from the
    /// write path — after the control plane has recorded that it is out of sync, so that no
    /// write acknowledged without it can be lost by a failover to it.
    fn on_standby(&self, f: impl FnOnce(&Copy) -> Result<(), StorageError>) -> Result<(), DbIoError> {
        let Some(standby) = &self.standby else { return Ok(()) };
        if !self.standby_in_sync.load(Ordering::SeqCst) {
            return Ok(());
        }
        match f(standby) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(instance = %self.instance, "the standby stopped answering ({e}): it is out of sync now");
                (self.mark_out_of_sync)().map_err(|e| DbIoError::Storage(e.to_string()))?;
                self.standby_in_sync.store(false, Ordering::SeqCst);
                Ok(())
            }
        }
    }
}

impl RegionState {
    fn db_endpoint(&self, region: &RegionName, i: &crate::model::rds::DbInstance) -> DbEndpoint {
        DbEndpoint {
            region: region.clone(),
            id: i.id.clone(),
            resource_id: i.resource_id.clone(),
            engine: i.engine.clone(),
            port: i.port,
            master_username: i.master_username.clone().unwrap_or_default(),
            master_password: i.master_password.clone().unwrap_or_default(),
            db_name: i.db_name.clone().unwrap_or_else(|| "postgres".to_string()),
            status: i.status,
            primary: i.primary.clone(),
            standby: i.standby.clone(),
            standby_in_sync: i.standby_in_sync,
            allocated_gib: i.allocated_gib,
            read_only: i.read_replica_source.is_some() || i.writes_blocked,
            // In this region by identifier; in another by ARN, as `region/identifier`.
            replicating_from: i.read_replica_source.clone().filter(|_| !i.promoting).map(|source| {
                match crate::db_cross_region::parse_db_arn(&source) {
                    Some((region, id)) => format!("{region}/{id}"),
                    None => source,
                }
            }),
            parameters: self.db_parameter_view(i).values,
            cluster_volume: Vec::new(),
            shares: None,
        }
    }

    /// The writer endpoint of an Aurora cluster: its SQL on the cluster volume, serving while the
    /// cluster is available and has a writer that is.
    fn cluster_endpoint(&self, region: &RegionName, c: &crate::db_clusters::DbCluster) -> Option<DbEndpoint> {
        use crate::db_clusters::DbClusterStatus as S;
        let writer = self.cluster_writer(&c.id)?;
        let status = match c.status {
            S::Available | S::Modifying => writer.status,
            S::Creating => DbInstanceStatus::Creating,
            S::FailingOver | S::Rebooting => DbInstanceStatus::Rebooting,
            S::Stopping | S::Stopped => DbInstanceStatus::Stopped,
            S::Starting => DbInstanceStatus::Starting,
            S::Deleting => DbInstanceStatus::Deleting,
        };
        Some(DbEndpoint {
            region: region.clone(),
            id: format!("cluster-{}", c.id),
            resource_id: c.resource_id.clone(),
            engine: c.engine.clone(),
            port: c.port,
            master_username: c.master_username.clone(),
            master_password: c.master_password.clone(),
            db_name: c.db_name.clone().unwrap_or_else(|| "postgres".to_string()),
            status,
            primary: c.volume.first()?.clone(),
            standby: None,
            standby_in_sync: false,
            allocated_gib: crate::db_clusters::CLUSTER_VOLUME_GIB,
            // A global cluster's secondary replicates its primary's writer endpoint.
            read_only: c.replication_source.is_some() || c.writes_blocked,
            replicating_from: c.replication_source.as_ref().map(|source| match source.split_once('/') {
                Some((region, id)) => format!("{region}/cluster-{id}"),
                None => format!("cluster-{source}"),
            }),
            parameters: self.db_parameter_view(&writer).values,
            cluster_volume: c.volume.clone(),
            shares: None,
        })
    }

    /// The reader endpoint of an Aurora cluster: read-only sessions on the writer endpoint's
    /// database, on the cluster's reader port, while the writer endpoint serves.
    fn cluster_reader_endpoint(&self, writer: &DbEndpoint, c: &crate::db_clusters::DbCluster) -> Option<DbEndpoint> {
        if c.reader_port == 0 {
            return None;
        }
        Some(DbEndpoint {
            id: format!("cluster-ro-{}", c.id),
            port: c.reader_port,
            read_only: true,
            shares: Some(writer.id.clone()),
            ..writer.clone()
        })
    }

    /// Records that the standby of `id` (the copy in `standby_zone`) no longer gets the writes.
    pub(crate) fn mark_db_standby_out_of_sync(
        &mut self,
        id: &str,
        standby_zone: &str,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        let Some(i) = self.db_instances.get(id) else { return Ok(()) };
        if i.standby.as_ref().is_none_or(|s| s.zone.as_str() != standby_zone) || !i.standby_in_sync {
            return Ok(());
        }
        let message = format!(
            "The standby in {standby_zone} stopped answering: it is out of sync, and the instance cannot fail over to it."
        );
        if let Some(row) = self.db_instances.get_mut(id) {
            row.standby_in_sync = false;
        }
        self.rds_event(id, &message, "RDS-EVENT-0222", "availability", now_ms);
        Ok(())
    }
}

impl ControlPlane {
    /// Records that the standby of `endpoint` has every write again (after
    /// [`DbDevice::rebuild_standby`]): failover may promote it.
    pub fn mark_db_standby_in_sync(&self, endpoint: &DbEndpoint) -> Result<(), ControlError> {
        let now = self.now_ms();
        self.region(&endpoint.region).with_state(now, |state| {
            let Some(i) = state.db_instances.get(&endpoint.id) else { return Ok(()) };
            if i.standby != endpoint.standby || i.primary != endpoint.primary || i.standby_in_sync {
                return Ok(());
            }
            let zone = endpoint.standby.as_ref().map(|s| s.zone.to_string()).unwrap_or_default();
            if let Some(row) = state.db_instances.get_mut(&endpoint.id) {
                row.standby_in_sync = true;
                row.failover_refused = false;
            }
            let message = format!("The standby in {zone} has every write of the primary again: it is in sync.");
            state.rds_event(&endpoint.id, &message, "RDS-EVENT-0025", "availability", now);
            Ok(())
        })
    }

    /// Every DB instance of every region in use or on disk, as its SQL endpoint serves it.
    /// What the SQL endpoints' reconcile does as it polls, with their storage usage
    /// (`(region, resource id, usage)`): the DB log backups that are due, and what the usage asks
    /// for (autoscaling, `storage-full`), in every region.
    ///
    /// `sql` tells what the SQL layer serves now: the resource ids of the endpoints it serves in
    /// each region, and of the replicas that have every write of a source that takes none (a
    /// blue/green switchover waits for these).
    pub fn db_housekeeping(&self, usage: &[(RegionName, String, crate::model::rds::DbUsage)], sql: &SqlReport) {
        self.report_db_usage(usage);
        let now = self.now_ms();
        for name in self.known_regions() {
            if let Err(e) = self.region(&name).db_housekeeping(now) {
                tracing::warn!(region = %name, "DB housekeeping (log backups, storage) failed: {e}");
            }
            let served: Vec<&str> = sql.served.iter().filter(|(r, _)| *r == name).map(|(_, id)| id.as_str()).collect();
            let caught_up: Vec<&str> =
                sql.caught_up.iter().filter(|(r, _)| *r == name).map(|(_, id)| id.as_str()).collect();
            let region = self.region(&name);
            let waiting = region.read(now, |s| Ok(s.switchovers_waiting())).unwrap_or(false);
            if waiting {
                if let Err(e) = region.with_state(now, |s| s.finish_switchovers(&served, &caught_up, now)) {
                    tracing::warn!(region = %name, "a blue/green switchover could not finish: {e}");
                }
            }
        }
    }

    pub fn db_endpoints(&self) -> Vec<DbEndpoint> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for name in self.known_regions() {
            let found = self.region(&name).read(now, |state| {
                // A cluster's instances have no storage of their own: the cluster's writer
                // endpoint serves its SQL on the cluster volume.
                let instances =
                    state.db_instances().filter(|i| i.cluster.is_none()).map(|i| state.db_endpoint(&name, i));
                let mut clusters: Vec<DbEndpoint> = Vec::new();
                for c in state.db_clusters() {
                    let Some(writer) = state.cluster_endpoint(&name, &c) else { continue };
                    clusters.extend(state.cluster_reader_endpoint(&writer, &c));
                    clusters.push(writer);
                }
                Ok(instances.chain(clusters).collect::<Vec<_>>())
            });
            out.extend(found.unwrap_or_default());
        }
        out.sort_by(|a, b| (a.region.as_str(), a.id.as_str()).cmp(&(b.region.as_str(), b.id.as_str())));
        out
    }

    /// The device of an endpoint's storage, as it is now.
    pub fn db_device(&self, endpoint: &DbEndpoint) -> Result<Arc<DbDevice>, ControlError> {
        let region = self.region(&endpoint.region);
        let quorum_dir = region.dir().join("rds-quorum");
        let (mut primary, mut standby, quorum) = region.read(self.now_ms(), |state| {
            let primary = Copy::open(state, &endpoint.primary)?;
            let standby = endpoint.standby.as_ref().map(|s| Copy::open(state, s)).transpose()?;
            let quorum = if endpoint.cluster_volume.is_empty() {
                None
            } else {
                std::fs::create_dir_all(&quorum_dir)
                    .map_err(|e| ControlError::invariant(format!("{}: {e}", quorum_dir.display())))?;
                let id = endpoint.id.strip_prefix("cluster-").unwrap_or(&endpoint.id);
                Some(state.cluster_volume(id, &quorum_dir)?)
            };
            Ok((primary, standby, quorum))
        })?;
        primary.paused = region.db_io_paused.clone();
        if let Some(s) = standby.as_mut() {
            s.paused = region.db_io_paused.clone();
        }
        let per_volume = u64::from(endpoint.allocated_gib).div_ceil(primary.volumes.len() as u64) << 30;
        let size = per_volume * primary.volumes.len() as u64;
        let clock = self.config.clock.clone();
        let start = self.start_wall_ms;
        let id = endpoint.id.clone();
        let standby_zone = endpoint.standby.as_ref().map(|s| s.zone.to_string()).unwrap_or_default();
        let last_write = region.db_writes(&endpoint.resource_id);
        let wall_clock = clock.clone();
        let wall_ms: Box<dyn Fn() -> u64 + Send + Sync> = Box::new(move || start + wall_clock.now().as_millis() as u64);
        let mark_out_of_sync: OutOfSync = Box::new(move || {
            let now = start + clock.now().as_millis() as u64;
            region.with_state(now, |state| state.mark_db_standby_out_of_sync(&id, &standby_zone, now))
        });
        let size = if quorum.is_some() { u64::from(crate::db_clusters::CLUSTER_VOLUME_GIB) << 30 } else { size };
        Ok(Arc::new(DbDevice {
            instance: endpoint.id.clone(),
            quorum,
            size,
            primary,
            standby_in_sync: AtomicBool::new(endpoint.standby_in_sync && standby.is_some()),
            standby,
            mark_out_of_sync,
            last_write,
            wall_ms,
        }))
    }
}
