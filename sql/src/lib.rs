//! RDS SQL endpoints: each DB instance of a PostgreSQL engine serves the PostgreSQL wire protocol
//! on its endpoint port, in front of SQLite whose pages live on the instance's volumes in the
//! replicated block store (through a SQLite VFS, not through a host file). A stuck volume makes
//! statements wait; a failover closes the connections and serves the endpoint from the
//! standby's copy, which has every committed transaction.

pub mod catalog;
pub mod client;
pub mod database;
pub mod replica;
pub mod session;
pub mod translate;
pub mod vfs;
pub mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use squall_control::{ControlPlane, DbEndpoint};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::database::Database;
use crate::session::{Credentials, Handlers, Parameters, Session, Shared};

/// Where a database's bytes are: a DB instance's storage in squall, memory in unit tests.
pub trait Device: Send + Sync + 'static {
    fn size(&self) -> u64;
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DeviceError>;
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError>;
    fn flush(&self) -> Result<(), DeviceError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The storage is stuck: retry later.
    #[error("the storage is not answering (stuck)")]
    Held,
    #[error("{0}")]
    Failed(String),
}

impl Device for squall_control::DbDevice {
    fn size(&self) -> u64 {
        squall_control::DbDevice::size(self)
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
        squall_control::DbDevice::read(self, offset, len).map_err(device_error)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
        squall_control::DbDevice::write(self, offset, data).map_err(device_error)
    }

    fn flush(&self) -> Result<(), DeviceError> {
        squall_control::DbDevice::flush(self).map_err(device_error)
    }
}

fn device_error(e: squall_control::DbIoError) -> DeviceError {
    match e {
        squall_control::DbIoError::Held(_) => DeviceError::Held,
        other => DeviceError::Failed(other.to_string()),
    }
}

/// How often the endpoints look at the control plane for instances created, failed over,
/// stopped or deleted.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// What one served endpoint is: its listener task, its database, and how to end both.
struct Served {
    key: String,
    port: u16,
    db: Option<Arc<Database>>,
    device: Option<Arc<squall_control::DbDevice>>,
    stop: watch::Sender<bool>,
    /// A rebuild of an out-of-sync standby is running, or when the last one was tried.
    rebuilding: Arc<std::sync::atomic::AtomicBool>,
    last_rebuild: Option<std::time::Instant>,
    /// For a read replica: its source and how far it has got.
    replica: Option<Arc<replica::Link>>,
    /// The DB parameter group's values the instance runs with, kept current.
    parameters: Parameters,
    /// The instance's region and DbiResourceId, for its storage usage.
    region: squall_control::RegionName,
    resource_id: String,
    /// The instance's log (DescribeDBLogFiles).
    log: squall_control::db_logs::DbLog,
    /// The master password new sessions must give, kept current (ModifyDBInstance, rotation).
    password: Arc<Mutex<String>>,
    /// A reader endpoint serves another endpoint's database (it neither opens nor closes it).
    borrowed: bool,
}

/// How often a standby that is out of sync is tried again (its zone may still be down).
const REBUILD_RETRY: Duration = Duration::from_secs(1);

/// The SQL endpoints of every DB instance, kept in step with the control plane.
pub struct Endpoints {
    control: Arc<ControlPlane>,
    /// The address endpoints listen on (the host part of `--rds-listen`).
    host: String,
    served: Mutex<HashMap<String, Served>>,
    refused_logged: Mutex<HashMap<String, String>>,
}

/// What `/_squall/status` shows of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub instance: String,
    pub port: u16,
    pub commits: u64,
    pub held_ms: u64,
    /// For a read replica: its source ("region/id") while it replicates, and its lag.
    pub replica_of: Option<String>,
    pub replica_lag_ms: Option<u64>,
}

impl Endpoints {
    pub fn new(control: Arc<ControlPlane>, host: &str) -> Arc<Self> {
        Arc::new(Self {
            control,
            host: host.to_string(),
            served: Mutex::new(HashMap::new()),
            refused_logged: Mutex::new(HashMap::new()),
        })
    }

    pub fn status(&self) -> Vec<EndpointStatus> {
        let served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<EndpointStatus> = served
            .iter()
            .map(|(id, s)| {
                let source = s.replica.as_ref().and_then(|l| l.source());
                let lag = s.replica.as_ref().filter(|_| source.is_some()).map(|l| {
                    let source_db = source.as_ref().and_then(|src| served.get(src)).and_then(|x| x.db.as_ref());
                    l.lag(source_db).as_millis() as u64
                });
                EndpointStatus {
                    instance: id.clone(),
                    port: s.port,
                    commits: s.db.as_ref().map_or(0, |d| d.commits.load(Ordering::Relaxed)),
                    held_ms: s.db.as_ref().map_or(0, |d| d.disk().held_ms.load(Ordering::Relaxed)),
                    replica_of: source,
                    replica_lag_ms: lag,
                }
            })
            .collect();
        out.sort_by(|a, b| a.instance.cmp(&b.instance));
        out
    }

    /// Follows the control plane until `shutdown`, opening and closing endpoints.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let me = self.clone();
            let usage = self.usage();
            let report = self.report();
            let wanted = tokio::task::spawn_blocking(move || {
                me.control.db_housekeeping(&usage, &report);
                me.control.db_endpoints()
            })
            .await
            .unwrap_or_default();
            self.clone().reconcile(wanted).await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            }
        }
        let all: Vec<String> = self.served.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        for id in all {
            self.close(&id).await;
        }
    }

    async fn close(&self, id: &str) {
        let gone = self.served.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        if let Some(s) = gone {
            let _ = s.stop.send(true);
            if let Some(db) = s.db.filter(|_| !s.borrowed) {
                db.disk().close();
                let _ = tokio::task::spawn_blocking(move || db.close()).await;
            }
            s.log.write(None, "LOG", "received fast shutdown request");
            s.log.write(None, "LOG", "database system is shut down");
            tracing::info!(instance = id, port = s.port, "SQL endpoint closed");
        }
    }

    async fn reconcile(self: Arc<Self>, wanted: Vec<DbEndpoint>) {
        let mut keep = Vec::new();
        for ep in wanted {
            let id = format!("{}/{}", ep.region, ep.id);
            if !squall_control::served_engine(&ep.engine) {
                let mut logged = self.refused_logged.lock().unwrap_or_else(PoisonError::into_inner);
                if logged.get(&id) != Some(&ep.engine) {
                    tracing::warn!(
                        instance = %ep.id,
                        engine = %ep.engine,
                        "the SQL endpoint of this DB instance is not served: squall serves PostgreSQL-protocol \
                         endpoints only (engines postgres, aurora-postgresql)"
                    );
                    logged.insert(id.clone(), ep.engine.clone());
                }
                continue;
            }
            if !ep.serving() {
                continue;
            }
            keep.push(id.clone());
            let key = format!("{}@{}", ep.storage_key(), ep.port);
            let source = ep.replicating_from.as_ref().map(|src| qualified(&ep.region, src));
            let current = {
                let served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
                let found = served.get(&id);
                if let Some(link) = found.and_then(|s| s.replica.as_ref()) {
                    // A promotion stops replication; a renamed source is followed under its new name.
                    link.set_source(source.clone());
                }
                if let Some(s) = found {
                    // A new master password holds for the next session.
                    let mut password = s.password.lock().unwrap_or_else(PoisonError::into_inner);
                    if *password != ep.master_password {
                        *password = ep.master_password.clone();
                    }
                    drop(password);
                    // Dynamic parameters set with `immediate` reach the sessions at once.
                    let mut current = s.parameters.lock().unwrap_or_else(PoisonError::into_inner);
                    if *current != ep.parameters {
                        *current = ep.parameters.clone();
                    }
                }
                found.map(|s| s.key.clone())
            };
            // A reader endpoint follows its writer's database: when the writer opened it again
            // (failover, a storage change), the reader opens again on the new one.
            let stale_share = ep.shares.as_ref().is_some_and(|writer| {
                let writer_db = self.served_db(&format!("{}/{writer}", ep.region));
                let own = self.served_db(&id);
                match (writer_db, own) {
                    (Some(w), Some(o)) => !Arc::ptr_eq(&w, &o),
                    _ => false,
                }
            });
            if current.as_deref() == Some(key.as_str()) && !stale_share {
                if ep.standby.is_some() && !ep.standby_in_sync {
                    self.rebuild_standby(&id, &ep);
                }
                continue;
            }
            if current.is_some() {
                // Failed over (or the port changed): connections close, the endpoint reopens on
                // the storage the instance has now.
                self.close(&id).await;
            }
            self.clone().open(id, key, ep).await;
        }
        let stale: Vec<String> = self
            .served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for id in stale {
            self.close(&id).await;
        }
    }

    /// Copies the primary onto an out-of-sync standby (its zone answers again, or it is new)
    /// while no session runs a statement, then records it in sync: failover may use it again.
    fn rebuild_standby(self: &Arc<Self>, id: &str, ep: &DbEndpoint) {
        let (db, device, flag) = {
            let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(s) = served.get_mut(id) else { return };
            let due = s.last_rebuild.is_none_or(|t| t.elapsed() >= REBUILD_RETRY);
            if !due || s.rebuilding.load(Ordering::SeqCst) {
                return;
            }
            let (Some(db), Some(device)) = (s.db.clone(), s.device.clone()) else { return };
            s.last_rebuild = Some(std::time::Instant::now());
            s.rebuilding.store(true, Ordering::SeqCst);
            (db, device, s.rebuilding.clone())
        };
        let control = self.control.clone();
        let ep = ep.clone();
        tokio::spawn(async move {
            let turn = db.turn.clone().lock_owned().await;
            let done = tokio::task::spawn_blocking(move || -> Result<bool, String> {
                db.disk().write_pending().map_err(|e| e.to_string())?;
                let rebuilt = device.rebuild_standby(&db.disk().used_ranges()).map_err(|e| e.to_string())?;
                if rebuilt {
                    control.mark_db_standby_in_sync(&ep).map_err(|e| e.to_string())?;
                }
                Ok(rebuilt)
            })
            .await;
            drop(turn);
            match done {
                Ok(Ok(true)) => tracing::info!("the standby of a DB instance was rebuilt: it is in sync again"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!("rebuilding a standby failed: {e}"),
                Err(e) => tracing::warn!("rebuilding a standby failed: {e}"),
            }
            flag.store(false, Ordering::SeqCst);
        });
    }

    async fn open(self: Arc<Self>, id: String, key: String, ep: DbEndpoint) {
        if let Some(writer) = &ep.shares {
            return self.open_shared(id, key, format!("{}/{writer}", ep.region), ep).await;
        }
        let addr = format!("{}:{}", self.host, ep.port);
        let listener = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                let mut logged = self.refused_logged.lock().unwrap_or_else(PoisonError::into_inner);
                let why = format!("bind {addr}: {e}");
                if logged.get(&id) != Some(&why) {
                    tracing::warn!(instance = %ep.id, "cannot serve the SQL endpoint on {addr}: {e}");
                    logged.insert(id.clone(), why);
                }
                return;
            }
        };
        let (stop, stopped) = watch::channel(false);
        self.served.lock().unwrap_or_else(PoisonError::into_inner).insert(
            id.clone(),
            Served {
                key: key.clone(),
                port: ep.port,
                db: None,
                device: None,
                stop,
                rebuilding: Arc::default(),
                last_rebuild: None,
                replica: None,
                parameters: Arc::new(Mutex::new(ep.parameters.clone())),
                log: self.control.region(&ep.region).db_log(&ep.resource_id, &ep.engine),
                region: ep.region.clone(),
                resource_id: ep.resource_id.clone(),
                password: Arc::new(Mutex::new(ep.master_password.clone())),
                borrowed: false,
            },
        );
        // A read replica copies its source's bytes before it serves: the source must serve.
        let link = ep
            .read_only
            .then(|| replica::Link::new(&id, ep.replicating_from.as_ref().map(|src| qualified(&ep.region, src))));
        let source_db = match link.as_ref().and_then(|l| l.source()) {
            None => None,
            Some(source) => {
                let found =
                    self.served.lock().unwrap_or_else(PoisonError::into_inner).get(&source).and_then(|s| s.db.clone());
                if found.is_none() {
                    // Tried again at the next look.
                    self.served.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                    return;
                }
                found
            }
        };
        let control = self.control.clone();
        let me = self.clone();
        let ep2 = ep.clone();
        let link2 = link.clone();
        let seeding_stopped = stopped.clone();
        // Unique per opening: an opening that outlives its endpoint (stuck storage) never
        // unregisters a newer one's device.
        static OPENINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("{}-{}-{}", ep.region, ep.id, OPENINGS.fetch_add(1, Ordering::Relaxed));
        // Opening reads the storage: off the reactor, and it may wait on a stuck volume.
        let opened =
            tokio::task::spawn_blocking(move || -> Result<(Arc<Database>, Arc<squall_control::DbDevice>), String> {
                let device = control.db_device(&ep2).map_err(|e| e.to_string())?;
                if let (Some(source), Some(link)) = (&source_db, &link2) {
                    replica::seed(source, link, device.as_ref(), &seeding_stopped)?;
                }
                let db = Database::open(&name, device.clone(), &ep2.db_name, &ep2.master_username, ep2.read_only)?;
                if ep2.standby.is_some() && !ep2.standby_in_sync {
                    // A new (or returning) standby gets the primary's bytes before it counts as in sync.
                    if let Ok(true) = device.rebuild_standby(&db.disk().used_ranges()) {
                        control.mark_db_standby_in_sync(&ep2).map_err(|e| e.to_string())?;
                    }
                }
                Ok((db, device))
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        let (db, device) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(instance = %ep.id, "cannot open the database of the SQL endpoint: {e}");
                me.served.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                return;
            }
        };
        let still_wanted = match me.served.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&id) {
            Some(s) if s.key == key => {
                s.db = Some(db.clone());
                s.device = Some(device);
                s.replica = link.clone();
                true
            }
            _ => false,
        };
        if !still_wanted {
            // Closed while it opened (its storage may have been stuck meanwhile): let it go.
            let _ = tokio::task::spawn_blocking(move || db.close()).await;
            return;
        }
        tracing::info!(
            instance = %ep.id,
            address = %addr,
            read_only = ep.read_only,
            "SQL endpoint serving (PostgreSQL protocol)"
        );
        if let Some(link) = link {
            tokio::spawn(me.clone().replicate(db.clone(), link, stopped.clone()));
        }
        let (parameters, log, password) = match me.served.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
            Some(s) => (s.parameters.clone(), s.log.clone(), s.password.clone()),
            None => return,
        };
        log.write(None, "LOG", "database system is ready to accept connections");
        let mut shared = Shared::new(
            db,
            parameters,
            Credentials {
                user: ep.master_username.clone(),
                password: ep.master_password.clone(),
                db_name: ep.db_name.clone(),
            },
        );
        shared.log = Some(log);
        shared.password = password;
        let shared = Arc::new(shared);
        tokio::spawn(accept(listener, shared, stopped));
    }
}

impl Endpoints {
    /// Opens a reader endpoint: read-only sessions on the database `writer` serves (tried again
    /// at the next look while the writer does not serve).
    async fn open_shared(self: Arc<Self>, id: String, key: String, writer: String, ep: DbEndpoint) {
        let Some(db) = self.served_db(&writer) else { return };
        let addr = format!("{}:{}", self.host, ep.port);
        let listener = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                let mut logged = self.refused_logged.lock().unwrap_or_else(PoisonError::into_inner);
                let why = format!("bind {addr}: {e}");
                if logged.get(&id) != Some(&why) {
                    tracing::warn!(endpoint = %ep.id, "cannot serve the SQL endpoint on {addr}: {e}");
                    logged.insert(id.clone(), why);
                }
                return;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let parameters: Parameters = Arc::new(Mutex::new(ep.parameters.clone()));
        let password = Arc::new(Mutex::new(ep.master_password.clone()));
        let log = self.control.region(&ep.region).db_log(&ep.resource_id, &ep.engine);
        self.served.lock().unwrap_or_else(PoisonError::into_inner).insert(
            id.clone(),
            Served {
                key,
                port: ep.port,
                db: Some(db.clone()),
                device: None,
                stop,
                rebuilding: Arc::default(),
                last_rebuild: None,
                replica: None,
                parameters: parameters.clone(),
                log: log.clone(),
                region: ep.region.clone(),
                resource_id: ep.resource_id.clone(),
                password: password.clone(),
                borrowed: true,
            },
        );
        tracing::info!(endpoint = %ep.id, address = %addr, "SQL reader endpoint serving (read-only sessions)");
        let credentials = Credentials {
            user: ep.master_username.clone(),
            password: ep.master_password.clone(),
            db_name: ep.db_name.clone(),
        };
        let mut shared = Shared::new(db, parameters, credentials);
        shared.log = Some(log);
        shared.password = password;
        shared.read_only = true;
        tokio::spawn(accept(listener, Arc::new(shared), stopped));
    }

    /// How full the storage of each open database is.
    fn usage(&self) -> Vec<(squall_control::RegionName, String, squall_control::model::rds::DbUsage)> {
        self.served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|s| !s.borrowed)
            .filter_map(|s| {
                let (used, capacity, room) = s.db.as_ref()?.disk().usage();
                let usage = squall_control::model::rds::DbUsage { used, capacity, room };
                Some((s.region.clone(), s.resource_id.clone(), usage))
            })
            .collect()
    }

    /// What the control plane learns as the endpoints are polled: the resource ids served, and
    /// the replicas that have every write of a source that takes none (a blue/green switchover
    /// waits for those).
    fn report(&self) -> squall_control::SqlReport {
        let served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = squall_control::SqlReport::default();
        for s in served.values().filter(|s| s.db.is_some()) {
            out.served.push((s.region.clone(), s.resource_id.clone()));
            let Some(link) = &s.replica else { continue };
            let Some(source) = link.source().and_then(|src| served.get(&src)).and_then(|x| x.db.clone()) else {
                continue;
            };
            if source.read_only && link.lag(Some(&source)).is_zero() {
                out.caught_up.push((s.region.clone(), s.resource_id.clone()));
            }
        }
        out
    }

    /// The database an endpoint serves now.
    fn served_db(&self, id: &str) -> Option<Arc<Database>> {
        self.served.lock().unwrap_or_else(PoisonError::into_inner).get(id).and_then(|s| s.db.clone())
    }

    /// Brings the source's writes to a read replica every [`replica::REPLICATION_INTERVAL`],
    /// until the replica's endpoint closes or its replication stops (promotion). While the
    /// source does not serve (rebooting, stuck), the replica serves what it has and its lag
    /// grows.
    async fn replicate(
        self: Arc<Self>,
        db: Arc<Database>,
        link: Arc<replica::Link>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut failing = false;
        let mut last_source: Option<Arc<Database>> = None;
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = tokio::time::sleep(replica::REPLICATION_INTERVAL) => {}
            }
            let Some(source_id) = link.source() else { break };
            let Some(source) = self.served_db(&source_id) else { continue };
            last_source = Some(source.clone());
            match replica::step(&source, &db, &link).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(replica = %link.who, source = %source_id, "replication resumed");
                }
                Ok(()) => {}
                Err(e) if !failing && !db.disk().is_closed() => {
                    failing = true;
                    tracing::warn!(replica = %link.who, source = %source_id, "replication failed, retrying: {e}");
                }
                Err(_) => {}
            }
        }
        if let Some(source) = last_source {
            source.disk().unfollow(&link.who);
        }
    }
}

/// Serves connections until `stopped`: then each open connection gets PostgreSQL's FATAL
/// 57P01 (as on a shutdown) and is closed.
async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                tokio::spawn(connection(socket, shared.clone(), stopped.clone()));
            }
        }
    }
}

/// The codes of the first packets that are not a session's startup.
const CANCEL_REQUEST: u32 = 80_877_102;
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// The code of the client's first packet (a StartupMessage's is its protocol version), once its
/// first eight bytes have arrived.
async fn first_code(socket: &TcpStream) -> Option<u32> {
    let mut head = [0u8; 8];
    let peeked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.peek(&mut head).await {
                Ok(8) => return true,
                Ok(0) | Err(_) => return false,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    matches!(peeked, Ok(true)).then(|| u32::from_be_bytes([head[4], head[5], head[6], head[7]]))
}

/// Counts a session while it lasts.
struct SessionSlot(Arc<Shared>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Turns a session away as PostgreSQL does when `max_connections` are in use: after its startup
/// packet (an SSLRequest is answered `N` first), with FATAL 53300.
async fn refuse_session(mut socket: TcpStream) {
    use tokio::io::AsyncReadExt;
    let exchange = async {
        loop {
            let mut head = [0u8; 8];
            socket.read_exact(&mut head).await?;
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            if code == SSL_REQUEST || code == GSSENC_REQUEST {
                socket.write_all(b"N").await?;
                continue;
            }
            let mut rest = vec![0u8; len.saturating_sub(8).min(10_000)];
            socket.read_exact(&mut rest).await?;
            socket.write_all(&fatal_message("53300", "sorry, too many clients already")).await?;
            return socket.shutdown().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), exchange).await;
}

async fn connection(socket: TcpStream, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let peer = socket.peer_addr().ok();
    let remote = peer.map_or_else(|| "[local]".to_string(), |a| format!("{}({})", a.ip(), a.port()));
    let started = std::time::Instant::now();
    // A CancelRequest is not a session: it never counts against max_connections.
    let _slot = match first_code(&socket).await {
        Some(CANCEL_REQUEST) => None,
        _ => {
            if let (Some(log), Some(a)) = (&shared.log, peer) {
                let line = format!("connection received: host={} port={}", a.ip(), a.port());
                log.write(Some(&session_of(&remote, "", "", 0)), "LOG", &line);
            }
            let limit = shared.parameter("max_connections").and_then(|v| v.parse::<usize>().ok());
            let now = shared.sessions.fetch_add(1, Ordering::SeqCst) + 1;
            let slot = SessionSlot(shared.clone());
            if limit.is_some_and(|limit| now > limit) {
                drop(slot);
                if let Some(log) = &shared.log {
                    log.write(Some(&session_of(&remote, "", "", 0)), "FATAL", "sorry, too many clients already");
                }
                refuse_session(socket).await;
                return;
            }
            Some(slot)
        }
    };
    let Ok(std_socket) = socket.into_std() else { return };
    let Ok(spare) = std_socket.try_clone() else { return };
    let Ok(socket) = TcpStream::from_std(std_socket) else { return };
    let session = Session::new(shared.clone(), remote.clone());
    let password = shared.password.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let credentials = Credentials { password, ..shared.credentials.clone() };
    let handlers = Handlers { session: session.clone(), credentials };
    tokio::select! {
        _ = pgwire::tokio::process_socket(socket, None, handlers) => {}
        _ = stopped.changed() => {
            if let Ok(mut s) = TcpStream::from_std(spare) {
                let _ = s.write_all(&fatal_message("57P01", "terminating connection due to administrator command")).await;
                let _ = s.shutdown().await;
            }
        }
    }
    if let (Some(log), Some(pid), Some(_)) = (&shared.log, session.pid(), &_slot) {
        let t = started.elapsed();
        let ms = t.as_millis();
        let line = format!(
            "disconnection: session time: {}:{:02}:{:02}.{:03} user={} database={} host={} port={}",
            ms / 3_600_000,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000,
            shared.credentials.user,
            shared.credentials.db_name,
            peer.map_or_else(String::new, |a| a.ip().to_string()),
            peer.map_or(0, |a| a.port()),
        );
        log.write(Some(&session_of(&remote, &shared.credentials.user, &shared.credentials.db_name, pid)), "LOG", &line);
    }
}

/// A replica's source as the endpoints know it: `region/identifier` (a source in another region
/// comes qualified already).
fn qualified(region: &squall_control::RegionName, source: &str) -> String {
    if source.contains('/') {
        source.to_string()
    } else {
        format!("{region}/{source}")
    }
}

/// RDS's log prefix fields of a session.
fn session_of(remote: &str, user: &str, database: &str, pid: i32) -> squall_control::db_logs::LogSession {
    squall_control::db_logs::LogSession {
        remote: remote.to_string(),
        user: user.to_string(),
        database: database.to_string(),
        pid: pid.unsigned_abs(),
    }
}

/// An ErrorResponse message with severity FATAL.
fn fatal_message(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', message)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend(body);
    out
}
