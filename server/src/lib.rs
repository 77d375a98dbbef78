//! The `squall` binary's library half: configuration, the gateway, and the HTTP server. The
//! binary is the only place where services, control plane and storage are composed.

pub mod config;
pub mod drill;
mod gateway;
mod http;
pub mod init;
mod metrics;
pub mod probe;
mod sigv4;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;
use squall_control::model::lifecycle::LifecycleDelays;
use squall_control::{ControlConfig, ControlPlane, RegionName};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::ServeOptions;
/// The crates under the server, for tests and embedders that drive storage faults or speak NBD
/// (until the fault API exists).
pub use {squall_control as control, squall_nbd as nbd};

/// Helpers that tests and tools built on squall share with it.
pub mod support {
    pub use squall_protocol::codec::{base64_decode, base64_encode};
}
pub use gateway::SERVICES;

/// squall's version, as reported by `/_squall/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A random request id in UUID v4 form, as AWS request ids look.
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A server running in the background of the current tokio runtime (tests start one on port 0).
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the NBD server listens (`None` with `--nbd-listen off`).
    pub nbd_addr: Option<SocketAddr>,
    pub control: Arc<ControlPlane>,
    pub nbd: Arc<squall_nbd::Nbd>,
    /// The SQL endpoints of DB instances.
    pub sql: Arc<squall_sql::Endpoints>,
    pub data_dir: PathBuf,
    /// Init hooks and their states (`/_localstack/init`).
    pub init: Arc<init::InitHooks>,
    /// The environment init scripts get.
    init_env: Vec<(String, String)>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// The default data directory, removed when the server is dropped.
    _temp_dir: Option<tempfile::TempDir>,
}

impl RunningServer {
    /// `http://127.0.0.1:<port>` for a server bound to any local address.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        // shutdown.d runs while the APIs still answer.
        let (hooks, env) = (self.init.clone(), self.init_env.clone());
        let _ = tokio::task::spawn_blocking(move || hooks.run_stage(init::Stage::Shutdown, &env)).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Where `PERSISTENCE=1` keeps state without `--data-dir`: `$XDG_DATA_HOME/squall`, else
/// `$HOME/.local/share/squall`, else `/var/lib/squall` (a container's usual volume).
pub fn persistent_data_dir(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(xdg) = set("XDG_DATA_HOME") {
        xdg.join("squall")
    } else if let Some(home) = set("HOME") {
        home.join(".local/share/squall")
    } else {
        PathBuf::from("/var/lib/squall")
    }
}

/// Binds `options.listen` and serves in a background task until [`RunningServer::shutdown`].
/// Without `options.data_dir`, state lives in a fresh temporary directory removed at the end.
pub async fn start(options: &ServeOptions) -> anyhow::Result<RunningServer> {
    let (temp_dir, data_dir) = match &options.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
            (None, dir.clone())
        }
        None if options.persistence => {
            let dir = persistent_data_dir(|k| std::env::var(k).ok());
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("PERSISTENCE: cannot create {} (give --data-dir)", dir.display()))?;
            (None, dir)
        }
        None => {
            let temp =
                tempfile::Builder::new().prefix("squall-").tempdir().context("cannot create a temporary data dir")?;
            let path = temp.path().to_path_buf();
            (Some(temp), path)
        }
    };
    let hooks = Arc::new(init::InitHooks::discover(options.init_dir.as_deref()));
    if let Some(dir) = hooks.dir() {
        tracing::info!(dir = %dir.display(), "init hooks");
    }
    let boot_env = init::script_env(&format!("http://{}", options.listen), &options.region);
    let boot_hooks = hooks.clone();
    tokio::task::spawn_blocking(move || boot_hooks.run_stage(init::Stage::Boot, &boot_env)).await?;
    let listener = TcpListener::bind(options.listen).await.with_context(|| {
        format!("cannot listen on {} (another squall or LocalStack there? choose a port with --listen)", options.listen)
    })?;
    let addr = listener.local_addr()?;
    let default_region = RegionName::parse(&options.region).map_err(|e| anyhow::anyhow!("--region: {e}"))?;
    let mut config = ControlConfig::new(default_region, data_dir.clone());
    config.zones_per_region = options.azs;
    config.delays = LifecycleDelays::uniform(std::time::Duration::from_millis(options.lifecycle_delay_ms));
    config.pool = squall_control::pool::PoolSettings {
        workers: options.api_workers as usize,
        queue: options.api_queue as usize,
        deadline: std::time::Duration::from_millis(options.api_deadline_ms),
    };
    config.storage_wait = squall_control::StorageWait {
        legacy: std::time::Duration::from_millis(options.storage_wait_legacy_ms),
        hardened: std::time::Duration::from_millis(options.storage_wait_hardened_ms),
    };
    config.accept_any_image = options.accept_any_ami;
    config.instance_capacity_per_zone = options.instance_capacity_per_az;
    config.delays.db_failover_detect = std::time::Duration::from_millis(options.rds_failover_detect_ms);
    config.delays.db_log_backup = std::time::Duration::from_millis(options.rds_log_backup_ms);
    config.rds_address = options.rds_address.clone();
    config.rds_ports = options.rds_ports.clone();
    config.extra_regions = options
        .extra_regions
        .iter()
        .map(|r| RegionName::parse(r.trim()).map_err(|e| anyhow::anyhow!("--extra-regions: {e}")))
        .collect::<anyhow::Result<_>>()?;
    config.cluster.nodes = options.storage_nodes_per_az;
    config.cluster.node_capacity = options.storage_node_capacity_gib << 30;
    config.cluster.network_latency = std::time::Duration::from_millis(options.storage_latency_ms);
    config.cluster.policy = match options.remirror_policy.as_str() {
        "legacy" => squall_control::PolicyKind::Legacy,
        "hardened" => squall_control::PolicyKind::Hardened,
        other => anyhow::bail!("--remirror-policy: {other} is neither hardened nor legacy"),
    };
    config.seed = options.seed.unwrap_or_else(|| rand::thread_rng().next_u64());
    let control = Arc::new(ControlPlane::new(config));
    let nbd = squall_nbd::Nbd::with_limits(
        control.clone(),
        squall_nbd::Limits {
            max_connections: options.max_connections as usize,
            handshake_timeout: std::time::Duration::from_millis(options.nbd_handshake_timeout_ms),
            idle_timeout: Some(options.nbd_idle_timeout_ms).filter(|ms| *ms > 0).map(std::time::Duration::from_millis),
        },
    );
    if options.nbd_io_timeout_ms > 0 {
        nbd.set_io_timeout(Some(std::time::Duration::from_millis(options.nbd_io_timeout_ms)));
    }
    let nbd_listener = match options.nbd_listen.0 {
        None => None,
        Some(at) => Some(TcpListener::bind(at).await.with_context(|| {
            format!("cannot listen for NBD on {at} (a second squall needs its own --nbd-listen, or --nbd-listen off)")
        })?),
    };
    let nbd_addr = nbd_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    let sql = squall_sql::Endpoints::new(control.clone(), &options.listen.ip().to_string());
    let state = Arc::new(http::AppState {
        control: control.clone(),
        nbd: nbd.clone(),
        sql: sql.clone(),
        fault_token: options.fault_token.clone().filter(|t| !t.is_empty()),
        metrics: metrics::Metrics::default(),
        version: VERSION,
        account_id: options.account_id.clone(),
        init: hooks.clone(),
        limits: http::Limits {
            header_timeout: std::time::Duration::from_millis(options.http_header_timeout_ms),
            body_timeout: std::time::Duration::from_millis(options.http_body_timeout_ms),
            max_connections: options.max_connections as usize,
        },
    });
    let ticker = tokio::spawn(background_work(state.clone()));
    let (sql_stop, sql_stopped) = oneshot::channel::<()>();
    let sql_task = tokio::spawn(sql.clone().run(async move {
        let _ = sql_stopped.await;
    }));
    let (stop, stopped) = oneshot::channel::<()>();
    let (nbd_stop, nbd_stopped) = oneshot::channel::<()>();
    let nbd_task = nbd_listener.map(|listener| {
        tokio::spawn(nbd.clone().serve(listener, async move {
            let _ = nbd_stopped.await;
        }))
    });
    let task = tokio::spawn(async move {
        http::serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await;
        let _ = nbd_stop.send(());
        let _ = sql_stop.send(());
        if let Some(nbd_task) = nbd_task {
            let _ = nbd_task.await;
        }
        let _ = sql_task.await;
        ticker.abort();
    });
    // start.d once the APIs answer, before start() returns (and `Ready.` is printed); ready.d
    // after, in the background: `GET /_localstack/init/ready` says when it is done.
    let host = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
    let init_env = init::script_env(&format!("http://{}", SocketAddr::new(host, addr.port())), &options.region);
    let (start_hooks, env) = (hooks.clone(), init_env.clone());
    tokio::task::spawn_blocking(move || {
        start_hooks.run_stage(init::Stage::Start, &env);
    })
    .await?;
    let (ready_hooks, env) = (hooks.clone(), init_env.clone());
    tokio::task::spawn_blocking(move || {
        ready_hooks.run_stage(init::Stage::Ready, &env);
    });
    Ok(RunningServer {
        addr,
        nbd_addr,
        control,
        nbd,
        sql,
        data_dir,
        init: hooks,
        init_env,
        stop: Some(stop),
        task,
        _temp_dir: temp_dir,
    })
}

/// How often storage background work (failure detection, re-mirroring) runs.
const TICK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Drives the control plane's background work on a timer, off the async workers (it does disk I/O).
async fn background_work(state: Arc<http::AppState>) {
    let mut interval = tokio::time::interval(TICK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let state = state.clone();
        match tokio::task::spawn_blocking(move || state.control.tick()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "background storage work failed"),
            Err(e) => tracing::error!(error = %e, "background storage work panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_look_like_uuid_v4() {
        let id = super::new_request_id();
        assert_eq!(id.len(), 36);
        let parts: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, super::new_request_id());
    }
}
