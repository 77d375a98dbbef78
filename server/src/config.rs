//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// squall: a local emulator of one AWS region's EC2, EBS and RDS, with EBS volumes on a real
/// replicated block store and a fault API that reproduces the April 2011 EBS outage.
#[derive(Debug, Parser)]
#[command(name = "squall", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeOptions,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the AWS APIs on --listen (the default command).
    Serve(Box<ServeOptions>),
    /// Probe a running squall's health endpoint; exit 0 when it answers healthy. Needs no
    /// shell, so a `FROM scratch` image can use it as its HEALTHCHECK.
    Health(HealthOptions),
    /// Replay an incident on an in-process region with a live workload, under each policy, and
    /// write report.html and report.json (`squall drill april-2011`).
    Drill(crate::drill::DrillOptions),
}

/// Where the NBD server listens, or `off` (also `none`, `0`): no NBD server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NbdListen(pub Option<SocketAddr>);

impl std::str::FromStr for NbdListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "none" | "0" => Ok(Self(None)),
            addr => addr
                .parse()
                .map(|a| Self(Some(a)))
                .map_err(|_| format!("{addr} is neither an address (host:port) nor off")),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address for all AWS APIs, the fault API and health (LocalStack's port by default).
    #[arg(long, env = "SQUALL_LISTEN", default_value = "0.0.0.0:4566")]
    pub listen: SocketAddr,
    /// Address of the NBD server that exports attached volumes (export name = volume id);
    /// `off` serves no NBD (a second squall beside another, a CI job that needs no block path).
    #[arg(long, env = "SQUALL_NBD_LISTEN", default_value = "0.0.0.0:10809")]
    pub nbd_listen: NbdListen,
    /// Fail NBD requests held on a stuck volume with EIO after this many milliseconds; 0 holds
    /// them until the volume recovers (like Amazon Linux's maximal `nvme_core.io_timeout`).
    #[arg(long, env = "SQUALL_NBD_IO_TIMEOUT_MS", default_value_t = 0)]
    pub nbd_io_timeout_ms: u64,
    /// Directory for volumes, snapshots and metadata. Default: a fresh temporary directory,
    /// removed when squall exits.
    #[arg(long, env = "SQUALL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// LocalStack's `PERSISTENCE=1`: without `--data-dir`, keep state across restarts in
    /// `$XDG_DATA_HOME/squall` (else `~/.local/share/squall`, else `/var/lib/squall`) instead of
    /// a temporary directory.
    #[arg(long, env = "PERSISTENCE", default_value = "false", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub persistence: bool,
    /// Region assumed for requests that carry no SigV4 credential scope.
    #[arg(long, env = "SQUALL_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Availability Zones per region, instead of the number AWS has there (1-26).
    #[arg(long, env = "SQUALL_AZS", value_parser = clap::value_parser!(u8).range(1..=26))]
    pub azs: Option<u8>,
    /// How long each asynchronous transition takes (creating → available, pending → completed,
    /// attaching → attached, …), in milliseconds. Short but non-zero by default, so waiters wait.
    /// 0 is instant, as moto is: the creating call still answers AWS's first state, and every
    /// later request sees the settled one.
    #[arg(long, env = "SQUALL_LIFECYCLE_DELAY_MS", default_value_t = 300)]
    pub lifecycle_delay_ms: u64,
    /// Seed of every random choice (resource ids, replica placement, backoff jitter); random by
    /// default. Set it to replay a run.
    #[arg(long, env = "SQUALL_SEED")]
    pub seed: Option<u64>,
    /// Whether RunInstances accepts any well-formed `ami-` id that is not a known image (launching
    /// it with a blank 8 GiB root volume). On by default, since tests often hard-code AMI ids;
    /// `false` answers `InvalidAMIID.NotFound` for them, as AWS does.
    #[arg(long, env = "SQUALL_ACCEPT_ANY_AMI", default_value_t = true, action = clap::ArgAction::Set)]
    pub accept_any_ami: bool,
    /// Instances that can run at once in each Availability Zone; more fail with
    /// `InsufficientInstanceCapacity` (500), as when an AWS zone runs out.
    #[arg(long, env = "SQUALL_INSTANCE_CAPACITY_PER_AZ", default_value_t = 1000)]
    pub instance_capacity_per_az: u32,
    /// The account squall answers for when a request's access key id is not itself a 12-digit
    /// account id (`000000000000`, LocalStack's; moto's is `123456789012`): owner ids, ARNs.
    #[arg(long, env = "SQUALL_ACCOUNT_ID", default_value = "000000000000", value_parser = account_id)]
    pub account_id: String,
    /// The host name DB instances' endpoints answer (`Endpoint.Address`): where the user's
    /// clients reach squall (`localhost`; a container's name when squall runs in one).
    #[arg(long, env = "SQUALL_RDS_ADDRESS", default_value = "localhost")]
    pub rds_address: String,
    /// Ports for the SQL endpoints of DB instances created without a Port (LocalStack's range):
    /// each gets the lowest one no other instance of its region has. Endpoints listen on the
    /// host of --listen.
    #[arg(long, env = "SQUALL_RDS_PORTS", default_value = "4510-4559", value_parser = port_range)]
    pub rds_ports: std::ops::RangeInclusive<u16>,
    /// Regions to serve besides AWS's own (comma-separated): a request scoped to any other
    /// region is refused with AWS's answer for a bad region in a signature.
    #[arg(long, env = "SQUALL_EXTRA_REGIONS", value_delimiter = ',')]
    pub extra_regions: Vec<String>,
    /// How long a Multi-AZ DB instance's primary storage may be stuck before RDS fails over to
    /// the standby, in milliseconds (AWS takes 60-120 s; short by default so drills move).
    #[arg(long, env = "SQUALL_RDS_FAILOVER_DETECT_MS", default_value_t = 2000)]
    pub rds_failover_detect_ms: u64,
    /// How often a DB instance with backups on gets a log backup of its storage while it is
    /// written, in milliseconds: the granularity of point-in-time restore (AWS uploads logs every
    /// 5 minutes and replays them to the second).
    #[arg(long, env = "SQUALL_RDS_LOG_BACKUP_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub rds_log_backup_ms: u64,
    /// Storage nodes in each zone's cluster (each volume has two replicas on two of them).
    #[arg(long, env = "SQUALL_STORAGE_NODES_PER_AZ", default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=256))]
    pub storage_nodes_per_az: u32,
    /// Logical capacity of each storage node, GiB (replicas are sparse files: only written bytes
    /// use disk). Small values make a tight cluster for re-mirroring-storm drills.
    #[arg(long, env = "SQUALL_STORAGE_NODE_CAPACITY_GIB", default_value_t = 64 << 10)]
    pub storage_node_capacity_gib: u64,
    /// Latency of every transfer inside a zone's storage cluster, ms: a re-mirroring copy takes
    /// at least this long (0: copies take only their bandwidth time).
    #[arg(long, env = "SQUALL_STORAGE_LATENCY_MS", default_value_t = 0)]
    pub storage_latency_ms: u64,
    /// The re-mirroring policy of every cluster at start: `hardened` or `legacy` (April 2011's).
    #[arg(long, env = "SQUALL_REMIRROR_POLICY", default_value = "hardened", value_parser = ["hardened", "legacy"])]
    pub remirror_policy: String,
    /// Worker threads of each region's API pool: every AWS API request runs on one of them.
    #[arg(long, env = "SQUALL_API_WORKERS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub api_workers: u32,
    /// API requests that may wait for a worker (the `legacy` policy turns more away with
    /// `RequestLimitExceeded`; `hardened` sheds load once half of it is used).
    #[arg(long, env = "SQUALL_API_QUEUE", default_value_t = 128)]
    pub api_queue: u32,
    /// How long an API request may wait for a worker before it is answered `InternalError`, ms.
    #[arg(long, env = "SQUALL_API_DEADLINE_MS", default_value_t = 10_000)]
    pub api_deadline_ms: u64,
    /// How long a call that needs a zone's storage waits for it under the `legacy` policy, ms
    /// (April 2011's long time-outs that filled the control plane's pool).
    #[arg(long, env = "SQUALL_STORAGE_WAIT_LEGACY_MS", default_value_t = 30_000)]
    pub storage_wait_legacy_ms: u64,
    /// How long a call that needs a zone's storage waits for it under the `hardened` policy, ms.
    #[arg(long, env = "SQUALL_STORAGE_WAIT_HARDENED_MS", default_value_t = 1_000)]
    pub storage_wait_hardened_ms: u64,
    /// How long an HTTP connection may take to send a request's headers, counted from when it is
    /// ready for the next request — so also how long an idle keep-alive connection stays open, ms.
    #[arg(long, env = "SQUALL_HTTP_HEADER_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_ms: u64,
    /// How long a request's body may take to arrive once its headers have, ms (then 408).
    #[arg(long, env = "SQUALL_HTTP_BODY_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_body_timeout_ms: u64,
    /// Connections each listener (HTTP, NBD) holds open at once; more wait in the listen backlog
    /// until one closes, and the open ones are not disturbed.
    #[arg(long, env = "SQUALL_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// How long an NBD client may take from connecting to choosing its export, ms.
    #[arg(long, env = "SQUALL_NBD_HANDSHAKE_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub nbd_handshake_timeout_ms: u64,
    /// Close an NBD connection that sends no request for this long while none is in flight, ms
    /// (0: never — a guest's disk may rightly sit idle for hours).
    #[arg(long, env = "SQUALL_NBD_IDLE_TIMEOUT_MS", default_value_t = 0)]
    pub nbd_idle_timeout_ms: u64,
    /// A bearer token the fault and config endpoints (`/_squall/faults`, `/_squall/config`)
    /// require when set.
    #[arg(long, env = "SQUALL_FAULT_TOKEN", hide_env_values = true)]
    pub fault_token: Option<String>,
    /// Directory of init hooks (`boot.d`, `start.d`, `ready.d`, `shutdown.d` with `*.sh`, `*.py`
    /// or executables), LocalStack's layout. Default: `/etc/squall/init`, else
    /// `/etc/localstack/init`, when one exists.
    #[arg(long, env = "SQUALL_INIT_DIR")]
    pub init_dir: Option<PathBuf>,
    /// Log filter in tracing's syntax, e.g. `info`, `squall=debug`.
    #[arg(long, env = "SQUALL_LOG", default_value = "info", value_parser = log_filter)]
    pub log: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "SQUALL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct HealthOptions {
    /// The health URL to probe (plain http).
    #[arg(long, env = "SQUALL_HEALTH_URL", default_value = "http://127.0.0.1:4566/_squall/health")]
    pub url: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

impl ServeOptions {
    /// Loopback on a port the OS picks, a temporary data dir, us-east-1: for tests and embedding.
    pub fn ephemeral() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nbd_listen: NbdListen(Some(SocketAddr::from(([127, 0, 0, 1], 0)))),
            nbd_io_timeout_ms: 0,
            data_dir: None,
            persistence: false,
            region: "us-east-1".to_string(),
            azs: None,
            seed: None,
            lifecycle_delay_ms: 300,
            accept_any_ami: true,
            instance_capacity_per_az: 1000,
            rds_address: "localhost".to_string(),
            rds_ports: 4510..=4559,
            extra_regions: Vec::new(),
            account_id: squall_protocol::DEFAULT_ACCOUNT_ID.to_string(),
            rds_failover_detect_ms: 2000,
            rds_log_backup_ms: 1000,
            fault_token: None,
            init_dir: None,
            http_header_timeout_ms: 60_000,
            http_body_timeout_ms: 60_000,
            max_connections: 1024,
            nbd_handshake_timeout_ms: 30_000,
            nbd_idle_timeout_ms: 0,
            storage_nodes_per_az: 4,
            storage_latency_ms: 0,
            storage_node_capacity_gib: 64 << 10,
            remirror_policy: "hardened".to_string(),
            api_workers: 16,
            api_queue: 128,
            api_deadline_ms: 10_000,
            storage_wait_legacy_ms: 30_000,
            storage_wait_hardened_ms: 1_000,
            log: "info".to_string(),
            log_format: "text".to_string(),
        }
    }
}

/// `--account-id`: twelve digits, as AWS account ids are.
fn account_id(s: &str) -> Result<String, String> {
    if squall_protocol::is_account_id(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not an account id (twelve digits)"))
    }
}

/// `--log`: a filter tracing understands, refused (as any bad flag) rather than replaced.
fn log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{s:?} is not a log filter: {e}"))
}

/// `4510-4559`: a range of ports, low to high.
fn port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (low, high) = s.split_once('-').ok_or_else(|| format!("{s}: expected LOW-HIGH, e.g. 4510-4559"))?;
    let low: u16 = low.trim().parse().map_err(|_| format!("{low}: not a port"))?;
    let high: u16 = high.trim().parse().map_err(|_| format!("{high}: not a port"))?;
    if low == 0 || low > high {
        return Err(format!("{s}: the range must go from a port to a port not below it"));
    }
    Ok(low..=high)
}
