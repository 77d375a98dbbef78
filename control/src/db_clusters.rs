//! Aurora DB clusters: a cluster is its cluster volume — one volume of the block store in each
//! of three zones, two replicas each, six copies written by quorum (four to write, three to
//! read: `squall_storage::QuorumVolume`) — and the endpoints and settings its DB instances share.
//! Statuses advance by themselves (`creating` → `available`, `stopping` → `stopped`, …) so
//! the SDKs' waiters work; RDS's validation and events are kept.
//!
//! Multi-AZ DB clusters of the `mysql` and `postgres` engines (three instances with their own
//! storage) are not built yet and say so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::db_parameter_groups::GroupKind;
use crate::error::ControlError;
use crate::ids::{AzId, AzName};
use crate::model::lifecycle::LifecycleDelays;
use crate::model::rds::{DbInstance, DbStorage, EventSource, RdsError};
use crate::model::zone::{Zone, ZoneState};
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Copies the cluster volume keeps (two in each of three zones), and its quorums.
pub const CLUSTER_VOLUME_ZONES: usize = 3;
pub const WRITE_QUORUM: u32 = 4;
pub const READ_QUORUM: u32 = 3;
/// What each zone's volume of a new cluster volume holds (sparse: nothing is allocated until written).
pub const CLUSTER_VOLUME_GIB: u32 = 16;
/// DB clusters a region holds (RDS's default quota).
pub const MAX_CLUSTERS: usize = 40;

/// An Aurora engine squall serves as a cluster.
pub struct ClusterEngine {
    pub name: &'static str,
    pub versions: &'static [&'static str],
    pub port: u16,
    pub supports_backtrack: bool,
    /// A Multi-AZ DB cluster engine (`mysql`, `postgres`): three instances of a class, storage
    /// of a size and type, instead of Aurora's.
    pub multi_az: bool,
}

pub const CLUSTER_ENGINES: &[ClusterEngine] = &[
    ClusterEngine {
        name: "aurora-postgresql",
        versions: &["16.4", "16.2", "15.8", "15.6", "14.13", "13.16"],
        port: 5432,
        supports_backtrack: false,
        multi_az: false,
    },
    ClusterEngine {
        name: "aurora-mysql",
        versions: &["8.0.mysql_aurora.3.08.0", "8.0.mysql_aurora.3.05.2", "5.7.mysql_aurora.2.12.3"],
        port: 3306,
        supports_backtrack: true,
        multi_az: false,
    },
    ClusterEngine {
        name: "postgres",
        versions: &["16.4", "16.3", "15.8", "15.7", "14.13", "13.16"],
        port: 5432,
        supports_backtrack: false,
        multi_az: true,
    },
    ClusterEngine {
        name: "mysql",
        versions: &["8.0.39", "8.0.36", "8.4.3"],
        port: 3306,
        supports_backtrack: false,
        multi_az: true,
    },
];

/// Instances a Multi-AZ DB cluster has: a writer and two readable standbys, one per zone.
pub const MULTI_AZ_INSTANCES: usize = 3;

impl ClusterEngine {
    /// The cluster parameter group family (`aurora-postgresql16`, `aurora-mysql8.0`).
    pub fn family(&self, version: &str) -> String {
        let mut parts = version.split('.');
        let major = parts.next().unwrap_or_default();
        match self.name {
            "aurora-postgresql" => format!("aurora-postgresql{major}"),
            "postgres" => format!("postgres{major}"),
            "mysql" => format!("mysql{major}.{}", parts.next().unwrap_or("0")),
            _ => format!("aurora-mysql{major}.{}", parts.next().unwrap_or("0")),
        }
    }
}

pub fn cluster_engine(name: &str) -> Option<&'static ClusterEngine> {
    CLUSTER_ENGINES.iter().find(|e| e.name == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbClusterStatus {
    Creating,
    Available,
    FailingOver,
    Modifying,
    Stopping,
    Stopped,
    Starting,
    Deleting,
    Rebooting,
}

impl DbClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::FailingOver => "failing-over",
            Self::Modifying => "modifying",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Deleting => "deleting",
            Self::Rebooting => "rebooting",
        }
    }
}

/// Aurora Serverless v2 capacity, in half ACUs (0.5 ACU is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerlessV2 {
    pub min_half_acus: u32,
    pub max_half_acus: u32,
    pub seconds_until_auto_pause: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbCluster {
    /// The identifier, lower-case.
    pub id: String,
    /// `cluster-` and 26 upper-case letters and digits.
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub engine_mode: String,
    pub status: DbClusterStatus,
    pub status_since_ms: u64,
    pub master_username: String,
    /// Kept for the SQL endpoint; never shown.
    pub master_password: String,
    pub db_name: Option<String>,
    pub port: u16,
    /// The port the reader endpoint's SQL listens on (a host cannot tell the writer and reader
    /// endpoints apart by name, so squall gives the reader endpoint a port of its own from
    /// `--rds-ports`; the readers' DescribeDBInstances endpoints show it). 0: not served.
    #[serde(default)]
    pub reader_port: u16,
    /// The host name the endpoints answer (squall: `localhost` or what it is configured with).
    pub address: String,
    pub subnet_group: Option<String>,
    pub vpc_id: String,
    pub security_groups: Vec<String>,
    pub parameter_group: String,
    pub backup_retention_days: u32,
    pub backup_window: String,
    pub maintenance_window: String,
    pub deletion_protection: bool,
    pub storage_encrypted: bool,
    pub kms_key_id: Option<String>,
    pub copy_tags_to_snapshot: bool,
    pub iam_auth: bool,
    pub storage_type: String,
    pub serverless_v2: Option<ServerlessV2>,
    /// Aurora MySQL's backtrack window in seconds (0: off).
    pub backtrack_window_s: u64,
    pub http_endpoint: bool,
    /// The cluster volume: one volume in each of three zones.
    pub volume: Vec<DbStorage>,
    /// The resource id of the instance that writes (`None` while the cluster has none).
    #[serde(default)]
    pub writer: Option<String>,
    /// Custom endpoints (CreateDBClusterEndpoint).
    #[serde(default)]
    pub custom_endpoints: Vec<CustomEndpoint>,
    /// A Multi-AZ DB cluster's instance class, storage size and IOPS (`None` for Aurora).
    #[serde(default)]
    pub instance_class: Option<String>,
    #[serde(default)]
    pub allocated_gib: Option<u32>,
    #[serde(default)]
    pub iops: Option<u32>,
    /// The resource id of the global cluster it belongs to.
    #[serde(default)]
    pub global_cluster: Option<String>,
    /// A global cluster's secondary: the cluster it replicates (`region/identifier`); it serves
    /// read-only SQL until it leaves the global cluster.
    #[serde(default)]
    pub replication_source: Option<String>,
    /// A blue/green switchover holds its writes while the green copy catches up.
    #[serde(default)]
    pub writes_blocked: bool,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for DbCluster {
    const TABLE: &'static str = "db_clusters";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl DbCluster {
    /// The zones its cluster volume spans (its AvailabilityZones).
    pub fn zones(&self) -> Vec<AzName> {
        self.volume.iter().map(|s| s.zone.clone()).collect()
    }
}

/// A custom endpoint of a cluster: a set of its instances (`READER` ones or `ANY`), named by
/// static members or all but the excluded ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomEndpoint {
    /// Lower-case.
    pub id: String,
    pub resource_id: String,
    /// `READER` or `ANY`.
    pub endpoint_type: String,
    pub static_members: Vec<String>,
    pub excluded_members: Vec<String>,
    /// `creating`, `modifying`, `available` or `deleting`.
    pub status: String,
    pub status_since_ms: u64,
    pub tags: BTreeMap<String, String>,
}

/// Custom endpoints one cluster may have (RDS's quota).
pub const MAX_CUSTOM_ENDPOINTS: usize = 5;

/// What CreateDBCluster asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbClusterSpec {
    pub id: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub engine_mode: Option<String>,
    pub master_username: Option<String>,
    pub master_password: Option<String>,
    pub db_name: Option<String>,
    pub port: Option<u16>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_group: Option<String>,
    pub backup_retention_days: Option<u32>,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub deletion_protection: bool,
    pub storage_encrypted: bool,
    pub kms_key_id: Option<String>,
    pub copy_tags_to_snapshot: bool,
    pub iam_auth: bool,
    pub storage_type: Option<String>,
    pub serverless_v2: Option<ServerlessV2>,
    pub backtrack_window_s: Option<u64>,
    pub http_endpoint: bool,
    pub availability_zones: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// A Multi-AZ DB cluster's DBClusterInstanceClass, AllocatedStorage and Iops.
    pub instance_class: Option<String>,
    pub allocated_gib: Option<u32>,
    pub iops: Option<u32>,
}

/// What ModifyDBCluster changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbClusterChanges {
    pub new_id: Option<String>,
    pub master_password: Option<String>,
    pub port: Option<u16>,
    pub security_groups: Option<Vec<String>>,
    pub backup_retention_days: Option<u32>,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub deletion_protection: Option<bool>,
    pub copy_tags_to_snapshot: Option<bool>,
    pub iam_auth: Option<bool>,
    pub serverless_v2: Option<ServerlessV2>,
    pub backtrack_window_s: Option<u64>,
    pub http_endpoint: Option<bool>,
    pub engine_version: Option<String>,
    pub storage_type: Option<String>,
    /// DBClusterParameterGroupName: its members take the group's values at their next reboot.
    pub parameter_group: Option<String>,
    /// A Multi-AZ DB cluster's class and storage (its instances follow).
    pub instance_class: Option<String>,
    pub allocated_gib: Option<u32>,
    pub iops: Option<u32>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn combination(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterCombination(message.into()).into()
}

fn not_found(id: &str) -> ControlError {
    RdsError::ClusterNotFound(id.to_string()).into()
}

/// When the cluster's next transition falls due (`u64::MAX`: none).
pub(crate) fn db_cluster_next_due(c: &DbCluster, d: LifecycleDelays) -> u64 {
    let step = d.volume_create.as_millis() as u64;
    let endpoints = c
        .custom_endpoints
        .iter()
        .filter(|e| e.status != "available")
        .map(|e| e.status_since_ms.saturating_add(step))
        .min()
        .unwrap_or(u64::MAX);
    endpoints.min(match c.status {
        DbClusterStatus::Creating
        | DbClusterStatus::FailingOver
        | DbClusterStatus::Modifying
        | DbClusterStatus::Stopping
        | DbClusterStatus::Starting
        | DbClusterStatus::Rebooting
        | DbClusterStatus::Deleting => c.status_since_ms.saturating_add(d.volume_create.as_millis() as u64),
        DbClusterStatus::Available | DbClusterStatus::Stopped => u64::MAX,
    })
}

/// Serverless v2 capacity as RDS checks it: half-ACU steps, 0 to 256, min ≤ max.
pub fn serverless_v2(min: Option<f64>, max: Option<f64>, pause: Option<i32>) -> Result<ServerlessV2, ControlError> {
    let half = |v: f64, name: &str| -> Result<u32, ControlError> {
        let h = v * 2.0;
        if !(0.0..=512.0).contains(&h) || h.fract() != 0.0 {
            return Err(invalid(format!(
                "Set {name} to a value between 0 and 256 ACUs, in increments of 0.5 (got {v})."
            )));
        }
        Ok(h as u32)
    };
    let min_h =
        half(min.ok_or_else(|| invalid("ServerlessV2ScalingConfiguration requires MinCapacity."))?, "MinCapacity")?;
    let max_h =
        half(max.ok_or_else(|| invalid("ServerlessV2ScalingConfiguration requires MaxCapacity."))?, "MaxCapacity")?;
    if max_h < 2 {
        return Err(invalid("Set MaxCapacity to at least 1 ACU."));
    }
    if min_h > max_h {
        return Err(invalid("MinCapacity must be less than or equal to MaxCapacity."));
    }
    if let Some(p) = pause {
        if !(300..=86_400).contains(&p) {
            return Err(invalid("SecondsUntilAutoPause must be between 300 and 86400 seconds."));
        }
        if min_h != 0 {
            return Err(combination("SecondsUntilAutoPause applies only when MinCapacity is 0."));
        }
    }
    Ok(ServerlessV2 { min_half_acus: min_h, max_half_acus: max_h, seconds_until_auto_pause: pause.map(|p| p as u32) })
}

impl RegionState {
    pub fn db_clusters(&self) -> Vec<DbCluster> {
        self.db_clusters.values().cloned().collect()
    }

    pub fn db_cluster(&self, id: &str) -> Result<&DbCluster, ControlError> {
        self.db_clusters.get(&id.to_ascii_lowercase()).ok_or_else(|| not_found(id))
    }

    fn cluster_mut(&mut self, id: &str) -> Result<&mut DbCluster, ControlError> {
        self.db_clusters.get_mut(&id.to_ascii_lowercase()).ok_or_else(|| not_found(id))
    }

    fn cluster_resource_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut n = self.next_random();
        let mut id = String::from("cluster-");
        for _ in 0..26 {
            id.push(ALPHABET[(n % 32) as usize] as char);
            n /= 32;
        }
        id
    }

    fn cluster_event(&mut self, id: &str, message: &str, event_id: &str, category: &str, now_ms: u64) {
        self.rds_event_of(EventSource::DbCluster, id, message, event_id, category, now_ms);
    }

    /// CreateDBCluster: validates as RDS does, then makes the cluster volume (a volume in each of
    /// three zones that are up: the subnet group's first, then the region's).
    pub(crate) fn create_db_cluster(
        &mut self,
        spec: DbClusterSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        self.new_db_cluster(spec, zones, address, now_ms, None)
    }

    /// A new cluster, its cluster volume empty or restored from the snapshot store's `from`.
    pub(crate) fn new_db_cluster(
        &mut self,
        spec: DbClusterSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
        from: Option<&str>,
    ) -> Result<DbCluster, ControlError> {
        let id = spec.id.to_ascii_lowercase();
        if !crate::rds::identifier_shape(&id, 63) {
            return Err(invalid(
                "The parameter DBClusterIdentifier is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two \
                 consecutive hyphens.",
            ));
        }
        let engine = cluster_engine(&spec.engine).ok_or_else(|| {
            invalid(format!("The engine name requested for your DB cluster ({}) is not valid.", spec.engine))
        })?;
        let multi_az = check_multi_az(engine, &spec)?;
        let version = match &spec.engine_version {
            None => engine.versions[0].to_string(),
            Some(v) => {
                let found = engine.versions.iter().find(|known| *known == v || known.starts_with(&format!("{v}.")));
                found.ok_or_else(|| invalid(format!("Cannot find version {v} for {}", engine.name)))?.to_string()
            }
        };
        let mode = spec.engine_mode.clone().unwrap_or_else(|| "provisioned".into());
        if mode != "provisioned" {
            return Err(combination(format!(
                "The engine mode {mode} you requested is currently unavailable. Aurora Serverless v2 uses the \
                 provisioned engine mode with ServerlessV2ScalingConfiguration."
            )));
        }
        let storage_type = match &multi_az {
            Some(m) => m.storage_type.clone(),
            None => spec.storage_type.clone().unwrap_or_else(|| "aurora".into()),
        };
        if multi_az.is_none() && !matches!(storage_type.as_str(), "aurora" | "aurora-iopt1") {
            return Err(invalid(format!("Invalid storage type for an Aurora DB cluster: {storage_type}")));
        }
        let username = spec
            .master_username
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("The parameter MasterUsername must be provided and must not be blank."))?;
        let valid_user = username.len() <= 63
            && username.starts_with(|c: char| c.is_ascii_alphabetic())
            && username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_user {
            return Err(invalid(format!(
                "MasterUsername {username} cannot be used. It must begin with a letter, contain only letters, \
                 digits and underscores, and be at most 63 characters long."
            )));
        }
        let password = spec
            .master_password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid("The parameter MasterUserPassword must be provided and must not be blank."))?;
        check_password(&password)?;
        // Like an instance's, a free port of `--rds-ports` unless one is asked for: the writer
        // endpoint's SQL listens there.
        let port = spec.port.unwrap_or_else(|| self.free_db_port(engine.port));
        if !(1150..=65535).contains(&port) {
            return Err(invalid(format!("Invalid port {port}: it must be between 1150 and 65535.")));
        }
        let reader_port = self.free_db_port_except(0, &[port]);
        let retention = spec.backup_retention_days.unwrap_or(1);
        if !(1..=35).contains(&retention) {
            return Err(invalid(format!(
                "Invalid backup retention period: {retention}. It must be between 1 and 35 days for a DB cluster."
            )));
        }
        let backup_window = match &spec.backup_window {
            Some(w) => crate::rds::check_backup_window(w)?,
            None => "03:00-03:30".to_string(),
        };
        let maintenance_window = match &spec.maintenance_window {
            Some(w) => crate::rds::check_maintenance_window(w)?,
            None => "sun:05:00-sun:05:30".to_string(),
        };
        let backtrack = spec.backtrack_window_s.unwrap_or(0);
        if backtrack > 0 && !engine.supports_backtrack {
            return Err(combination(format!("Backtrack is not enabled for the {} engine.", engine.name)));
        }
        if backtrack > 259_200 {
            return Err(invalid("The backtrack window must be between 0 and 259200 seconds (72 hours)."));
        }
        let family = engine.family(&version);
        let default_group = format!("default.{family}");
        let parameter_group = match &spec.parameter_group {
            None => default_group,
            Some(g) => self.parameter_group_for(GroupKind::Cluster, g, &family)?,
        };
        if self.db_clusters.contains_key(&id) {
            return Err(RdsError::ClusterExists(id).into());
        }
        if self.db_clusters.len() >= MAX_CLUSTERS {
            return Err(RdsError::ClusterQuotaExceeded(MAX_CLUSTERS).into());
        }
        let group = match &spec.subnet_group {
            Some(name) => self.db_subnet_group(name)?,
            None => self
                .default_subnet_group()
                .ok_or_else(|| invalid("There is no default VPC: name a DBSubnetGroupName."))?,
        };
        let security_groups = if spec.security_groups.is_empty() {
            self.security_groups_ref()
                .values()
                .filter(|g| g.vpc_id == group.vpc_id && g.name == "default")
                .map(|g| g.id.clone())
                .collect()
        } else {
            self.vpc_security_groups(&spec.security_groups, &group.vpc_id, "DB cluster")?
        };
        // Three zones that are up: those asked for, then the subnet group's, then the region's.
        let up = |name: &AzName| zones.iter().any(|z| z.name == *name && z.state != ZoneState::Unavailable);
        for z in &spec.availability_zones {
            if !zones.iter().any(|known| known.name.as_str() == z) {
                return Err(invalid(format!("Invalid availability zone: {z}")));
            }
        }
        let mut chosen: Vec<(AzName, AzId)> = Vec::new();
        let asked = spec.availability_zones.iter().filter_map(|z| zones.iter().find(|k| k.name.as_str() == z));
        let grouped = group.subnets.iter().filter_map(|s| zones.iter().find(|k| k.name == s.zone));
        for z in asked.chain(grouped).chain(zones.iter()) {
            if chosen.len() < CLUSTER_VOLUME_ZONES && up(&z.name) && !chosen.iter().any(|(n, _)| *n == z.name) {
                chosen.push((z.name.clone(), z.id.clone()));
            }
        }
        if chosen.len() < CLUSTER_VOLUME_ZONES {
            return Err(RdsError::InsufficientStorageClusterCapacity(format!(
                "A cluster volume needs three Availability Zones that are up; only {} are.",
                chosen.len()
            ))
            .into());
        }
        let resource_id = self.cluster_resource_id();
        let mut volume = Vec::new();
        let source: Option<Vec<String>> = from.map(|f| vec![f.to_string()]);
        for zone in &chosen {
            match self.create_db_storage(&resource_id, zone, CLUSTER_VOLUME_GIB, source.as_deref()) {
                Ok(s) => volume.push(s),
                Err(e) => {
                    for made in &volume {
                        self.drop_db_storage(made);
                    }
                    return Err(e);
                }
            }
        }
        let cluster = DbCluster {
            id: id.clone(),
            resource_id,
            engine: engine.name.to_string(),
            engine_version: version,
            engine_mode: mode,
            status: DbClusterStatus::Creating,
            status_since_ms: now_ms,
            master_username: username,
            master_password: password,
            db_name: spec.db_name.clone(),
            port,
            reader_port,
            address: address.to_string(),
            subnet_group: spec.subnet_group.as_ref().map(|g| g.to_ascii_lowercase()),
            vpc_id: group.vpc_id.clone(),
            security_groups,
            parameter_group,
            backup_retention_days: retention,
            backup_window,
            maintenance_window,
            deletion_protection: spec.deletion_protection,
            storage_encrypted: spec.storage_encrypted || spec.kms_key_id.is_some(),
            kms_key_id: spec.kms_key_id.clone(),
            copy_tags_to_snapshot: spec.copy_tags_to_snapshot,
            iam_auth: spec.iam_auth,
            storage_type,
            serverless_v2: spec.serverless_v2,
            backtrack_window_s: backtrack,
            http_endpoint: spec.http_endpoint,
            volume,
            writer: None,
            custom_endpoints: Vec::new(),
            instance_class: multi_az.as_ref().map(|m| m.class.clone()),
            allocated_gib: multi_az.as_ref().map(|m| m.gib),
            iops: multi_az.as_ref().and_then(|m| m.iops),
            global_cluster: None,
            replication_source: None,
            writes_blocked: false,
            created_ms: now_ms,
            tags: spec.tags,
        };
        self.db_clusters.insert(id.clone(), cluster.clone());
        if let Some(MultiAzShape { class, .. }) = &multi_az {
            // A writer and two readable standbys, one in each zone of the cluster.
            for (n, zone) in chosen.iter().enumerate().take(MULTI_AZ_INSTANCES) {
                let member = ClusterInstanceSpec {
                    id: format!("{id}-instance-{}", n + 1),
                    cluster: id.clone(),
                    engine: engine.name.to_string(),
                    class: class.clone(),
                    zone: Some(zone.0.to_string()),
                    promotion_tier: Some(1),
                    multi_az_member: true,
                    ..Default::default()
                };
                self.create_cluster_instance(member, zones, now_ms)?;
            }
        }
        // As it is now (a Multi-AZ DB cluster has its writer).
        let cluster = self.db_cluster(&id)?.clone();
        match from {
            None => self.cluster_event(&id, "DB cluster created", "RDS-EVENT-0170", "creation", now_ms),
            Some(_) => self.cluster_event(&id, "Restored from snapshot", "RDS-EVENT-0173", "creation", now_ms),
        }
        Ok(cluster)
    }

    fn cluster_in(&self, id: &str, allowed: &[DbClusterStatus]) -> Result<DbCluster, ControlError> {
        let c = self.db_cluster(id)?.clone();
        if !allowed.contains(&c.status) {
            let expected: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            return Err(RdsError::InvalidClusterState(format!(
                "DbCluster {} is in {} state but expected it to be one of {}.",
                c.id,
                c.status.as_str(),
                expected.join(",")
            ))
            .into());
        }
        Ok(c)
    }

    fn set_cluster_status(
        &mut self,
        id: &str,
        status: DbClusterStatus,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let c = self.cluster_mut(id)?;
        c.status = status;
        c.status_since_ms = now_ms;
        Ok(c.clone())
    }

    /// ModifyDBCluster (applied at once: Aurora applies cluster changes immediately or in the
    /// window; squall applies them now and shows `modifying` for one lifecycle step).
    pub(crate) fn modify_db_cluster(
        &mut self,
        id: &str,
        changes: DbClusterChanges,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let c = self.cluster_in(id, &[DbClusterStatus::Available])?;
        let engine = cluster_engine(&c.engine).ok_or_else(|| ControlError::invariant("cluster engine"))?;
        if let Some(p) = &changes.master_password {
            check_password(p)?;
        }
        if let Some(port) = changes.port {
            if !(1150..=65535).contains(&port) {
                return Err(invalid(format!("Invalid port {port}: it must be between 1150 and 65535.")));
            }
        }
        if let Some(r) = changes.backup_retention_days {
            if !(1..=35).contains(&r) {
                return Err(invalid(format!(
                    "Invalid backup retention period: {r}. It must be between 1 and 35 days for a DB cluster."
                )));
            }
        }
        let backup_window = changes.backup_window.as_deref().map(crate::rds::check_backup_window).transpose()?;
        let maintenance_window =
            changes.maintenance_window.as_deref().map(crate::rds::check_maintenance_window).transpose()?;
        if let Some(b) = changes.backtrack_window_s {
            if b > 0 && !engine.supports_backtrack {
                return Err(combination(format!("Backtrack is not enabled for the {} engine.", engine.name)));
            }
            if b > 259_200 {
                return Err(invalid("The backtrack window must be between 0 and 259200 seconds (72 hours)."));
            }
        }
        let version = match &changes.engine_version {
            None => None,
            Some(v) => {
                let found = engine.versions.iter().find(|known| *known == v || known.starts_with(&format!("{v}.")));
                let found = found
                    .ok_or_else(|| invalid(format!("Cannot find upgrade target version {v} for {}", engine.name)))?;
                if crate::rds::version_key(found) < crate::rds::version_key(&c.engine_version) {
                    return Err(invalid(format!(
                        "Cannot upgrade {} from {} to {found}: a DB cluster is never downgraded.",
                        engine.name, c.engine_version
                    )));
                }
                Some(found.to_string())
            }
        };
        if let Some(t) = changes.storage_type.as_ref().filter(|_| c.instance_class.is_none()) {
            if !matches!(t.as_str(), "aurora" | "aurora-iopt1") {
                return Err(invalid(format!("Invalid storage type for an Aurora DB cluster: {t}")));
            }
        }
        let security_groups = match &changes.security_groups {
            Some(ids) => Some(self.vpc_security_groups(ids, &c.vpc_id, "DB cluster")?),
            None => None,
        };
        let storage_change =
            changes.instance_class.is_some() || changes.allocated_gib.is_some() || changes.iops.is_some();
        let shape = if storage_change || (c.instance_class.is_some() && changes.storage_type.is_some()) {
            if c.instance_class.is_none() {
                return Err(combination(
                    "DBClusterInstanceClass, AllocatedStorage and Iops apply to Multi-AZ DB clusters only.",
                ));
            }
            let merged = DbClusterSpec {
                instance_class: changes.instance_class.clone().or_else(|| c.instance_class.clone()),
                allocated_gib: changes.allocated_gib.or(c.allocated_gib),
                iops: changes.iops.or(c.iops),
                storage_type: changes.storage_type.clone().or_else(|| Some(c.storage_type.clone())),
                ..Default::default()
            };
            let shape = check_multi_az(engine, &merged)?.ok_or_else(|| ControlError::invariant("Multi-AZ shape"))?;
            if shape.gib < c.allocated_gib.unwrap_or(0) {
                return Err(invalid(format!(
                    "Invalid AllocatedStorage {}: the storage of a DB cluster cannot shrink (it has {}).",
                    shape.gib,
                    c.allocated_gib.unwrap_or(0)
                )));
            }
            Some(shape)
        } else {
            None
        };
        let family = engine.family(version.as_deref().unwrap_or(&c.engine_version));
        let parameter_group = match &changes.parameter_group {
            Some(g) => Some(self.parameter_group_for(GroupKind::Cluster, g, &family)?),
            None if family != engine.family(&c.engine_version) => Some(format!("default.{family}")),
            None => None,
        };
        let new_id = match &changes.new_id {
            Some(n) => {
                let n = n.to_ascii_lowercase();
                if !crate::rds::identifier_shape(&n, 63) {
                    return Err(invalid("The parameter NewDBClusterIdentifier is not a valid identifier."));
                }
                if n != c.id && self.db_clusters.contains_key(&n) {
                    return Err(RdsError::ClusterExists(n).into());
                }
                Some(n)
            }
            None => None,
        };
        let mut updated = c.clone();
        if let Some(p) = changes.master_password {
            updated.master_password = p;
        }
        if let Some(p) = changes.port {
            updated.port = p;
        }
        if let Some(g) = security_groups {
            updated.security_groups = g;
        }
        if let Some(r) = changes.backup_retention_days {
            updated.backup_retention_days = r;
        }
        if let Some(w) = backup_window {
            updated.backup_window = w;
        }
        if let Some(w) = maintenance_window {
            updated.maintenance_window = w;
        }
        if let Some(v) = changes.deletion_protection {
            updated.deletion_protection = v;
        }
        if let Some(v) = changes.copy_tags_to_snapshot {
            updated.copy_tags_to_snapshot = v;
        }
        if let Some(v) = changes.iam_auth {
            updated.iam_auth = v;
        }
        if let Some(v) = changes.serverless_v2 {
            updated.serverless_v2 = Some(v);
        }
        if let Some(b) = changes.backtrack_window_s {
            updated.backtrack_window_s = b;
        }
        if let Some(v) = changes.http_endpoint {
            updated.http_endpoint = v;
        }
        if let Some(v) = version {
            updated.engine_version = v;
        }
        if let Some(t) = changes.storage_type {
            updated.storage_type = t;
        }
        if let Some(g) = parameter_group {
            updated.parameter_group = g;
        }
        if let Some(m) = shape {
            updated.instance_class = Some(m.class.clone());
            updated.allocated_gib = Some(m.gib);
            updated.iops = m.iops;
            updated.storage_type = m.storage_type.clone();
            // Its three instances follow.
            self.db_instances.update_where(
                |i| i.cluster.as_deref() == Some(c.id.as_str()),
                |i| {
                    i.class = m.class.clone();
                    i.allocated_gib = m.gib;
                    i.iops = m.iops;
                    i.storage_type = m.storage_type.clone();
                },
            );
        }
        updated.status = DbClusterStatus::Modifying;
        updated.status_since_ms = now_ms;
        if let Some(n) = new_id {
            self.db_clusters.remove(&c.id);
            // Its instances follow the new name.
            self.db_instances
                .update_where(|i| i.cluster.as_deref() == Some(c.id.as_str()), |i| i.cluster = Some(n.clone()));
            let old = std::mem::replace(&mut updated.id, n.clone());
            self.cluster_event(&n, &format!("DB cluster renamed from {old}"), "RDS-EVENT-0178", "notification", now_ms);
        }
        self.db_clusters.insert(updated.id.clone(), updated.clone());
        Ok(updated)
    }

    /// DeleteDBCluster: not while protected; a final snapshot needs cluster snapshots (not
    /// built yet), so only SkipFinalSnapshot deletes.
    pub(crate) fn delete_db_cluster(
        &mut self,
        id: &str,
        skip_final_snapshot: bool,
        final_snapshot: Option<&str>,
        quorum_dir: &std::path::Path,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let c = self.db_cluster(id)?.clone();
        if c.deletion_protection {
            return Err(combination(
                "Cannot delete protected Cluster, please disable deletion protection and try again.",
            ));
        }
        self.check_not_in_deployment(&c.resource_id, "DB cluster")?;
        if c.global_cluster.is_some() {
            return Err(RdsError::InvalidClusterState(
                "This cluster is a part of a global cluster, please remove it from globalcluster first".into(),
            )
            .into());
        }
        match (skip_final_snapshot, final_snapshot) {
            (true, Some(_)) => {
                return Err(combination("Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier."))
            }
            (false, None) => {
                return Err(combination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified."))
            }
            (false, Some(_)) | (true, None) => {}
        }
        self.cluster_in(id, &[DbClusterStatus::Available, DbClusterStatus::Stopped])?;
        if c.instance_class.is_some() {
            // A Multi-AZ DB cluster's instances go with it.
            for m in self.cluster_members(&c.id) {
                if m.status != crate::model::rds::DbInstanceStatus::Deleting {
                    self.delete_cluster_member(&m.id, now_ms)?;
                }
            }
        }
        if self.cluster_members(&c.id).iter().any(|i| i.status != crate::model::rds::DbInstanceStatus::Deleting) {
            return Err(RdsError::InvalidClusterState(
                "Cluster cannot be deleted, it still contains DB instances in non-deleting state.".into(),
            )
            .into());
        }
        if let Some(name) = final_snapshot {
            self.create_db_cluster_snapshot(&c.id, name, BTreeMap::new(), quorum_dir, now_ms)?;
        }
        self.cluster_event(&c.id, "DB cluster deleted", "RDS-EVENT-0172", "deletion", now_ms);
        self.set_cluster_status(id, DbClusterStatus::Deleting, now_ms)
    }

    pub(crate) fn stop_db_cluster(&mut self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        self.cluster_in(id, &[DbClusterStatus::Available])?;
        self.set_cluster_status(id, DbClusterStatus::Stopping, now_ms)
    }

    /// RebootDBCluster: every instance of the cluster restarts (taking the values of its DB
    /// cluster parameter group that waited for a reboot); the cluster is `rebooting` meanwhile.
    pub(crate) fn reboot_db_cluster(&mut self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        let c = self.cluster_in(id, &[DbClusterStatus::Available])?;
        let members = self.cluster_members(&c.id);
        if members.is_empty() {
            return Err(RdsError::InvalidClusterState(format!(
                "The DB cluster {} has no DB instances to reboot.",
                c.id
            ))
            .into());
        }
        for m in members.iter().filter(|m| m.status == crate::model::rds::DbInstanceStatus::Available) {
            self.reboot_db_instance(&m.id, false, now_ms)?;
        }
        self.set_cluster_status(id, DbClusterStatus::Rebooting, now_ms)
    }

    pub(crate) fn start_db_cluster(&mut self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        self.cluster_in(id, &[DbClusterStatus::Stopped])?;
        self.set_cluster_status(id, DbClusterStatus::Starting, now_ms)
    }

    /// Advances the clusters' statuses; a deleted cluster's volume goes with it.
    pub(crate) fn settle_db_clusters(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let d = self.delays();
        let step_ms = d.volume_create.as_millis() as u64;
        let settling: Vec<String> = self
            .db_clusters
            .values()
            .filter(|c| {
                c.custom_endpoints.iter().any(|e| e.status != "available" && e.status_since_ms + step_ms <= now_ms)
            })
            .map(|c| c.id.clone())
            .collect();
        for id in settling {
            if let Some(c) = self.db_clusters.get_mut(&id) {
                for e in &mut c.custom_endpoints {
                    if e.status != "available" && e.status_since_ms + step_ms <= now_ms {
                        e.status = "available".into();
                        e.status_since_ms += step_ms;
                    }
                }
            }
        }
        let due: Vec<String> =
            self.db_clusters.values().filter(|c| db_cluster_next_due(c, d) <= now_ms).map(|c| c.id.clone()).collect();
        let step = d.volume_create.as_millis() as u64;
        for id in due {
            let Some(c) = self.db_clusters.get(&id).cloned() else { continue };
            let at = c.status_since_ms + step;
            let (next, event) = match c.status {
                DbClusterStatus::Creating | DbClusterStatus::Modifying | DbClusterStatus::Rebooting => {
                    (DbClusterStatus::Available, None)
                }
                DbClusterStatus::FailingOver => {
                    let writer = self.cluster_writer(&id).map(|w| w.id).unwrap_or_default();
                    let message = format!("Completed failover to DB instance: {writer}");
                    (DbClusterStatus::Available, Some((message, "RDS-EVENT-0071")))
                }
                DbClusterStatus::Stopping => {
                    (DbClusterStatus::Stopped, Some(("DB cluster stopped".to_string(), "RDS-EVENT-0150")))
                }
                DbClusterStatus::Starting => {
                    (DbClusterStatus::Available, Some(("DB cluster started".to_string(), "RDS-EVENT-0151")))
                }
                DbClusterStatus::Deleting => {
                    for s in &c.volume {
                        self.drop_db_storage(s);
                    }
                    self.drop_log_backups(&c.resource_id);
                    self.db_clusters.remove(&id);
                    continue;
                }
                DbClusterStatus::Available | DbClusterStatus::Stopped => continue,
            };
            if let Some(cl) = self.db_clusters.get_mut(&id) {
                cl.status = next;
                cl.status_since_ms = at;
            }
            if let Some((message, event_id)) = event {
                self.cluster_event(&id, &message, event_id, "notification", at);
            }
        }
        Ok(())
    }

    /// A Multi-AZ DB cluster's instance goes with its cluster.
    fn delete_cluster_member(&mut self, id: &str, now_ms: u64) -> Result<(), ControlError> {
        let i = self.db_instances.get_mut(id).ok_or_else(|| RdsError::InstanceNotFound(id.to_string()))?;
        i.status = crate::model::rds::DbInstanceStatus::Deleting;
        i.status_since_ms = now_ms;
        Ok(())
    }

    /// The instances of a cluster, by identifier.
    pub fn cluster_members(&self, id: &str) -> Vec<DbInstance> {
        let key = id.to_ascii_lowercase();
        self.db_instances.values().filter(|i| i.cluster.as_deref() == Some(key.as_str())).cloned().collect()
    }

    /// The cluster's writer instance, if it has one.
    pub fn cluster_writer(&self, id: &str) -> Option<DbInstance> {
        let writer = self.db_cluster(id).ok()?.writer.clone()?;
        self.db_instances.values().find(|i| i.resource_id == writer).cloned()
    }

    /// CreateDBInstance with DBClusterIdentifier: an instance of the cluster (its engine, version,
    /// credentials, port and storage are the cluster's), in the zone asked for or in the cluster's
    /// zone with the fewest instances. The first instance writes; the others read.
    pub(crate) fn create_cluster_instance(
        &mut self,
        spec: ClusterInstanceSpec,
        zones: &[Zone],
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let cluster = self.db_cluster(&spec.cluster)?.clone();
        if matches!(cluster.status, DbClusterStatus::Deleting | DbClusterStatus::Stopped | DbClusterStatus::Stopping) {
            return Err(RdsError::InvalidClusterState(format!(
                "The DB cluster {} is {}: instances cannot be added.",
                cluster.id,
                cluster.status.as_str()
            ))
            .into());
        }
        if spec.engine != cluster.engine {
            return Err(combination(format!(
                "The engine name requested for your DB instance ({}) doesn't match the engine name of your DB \
                 cluster ({}).",
                spec.engine, cluster.engine
            )));
        }
        if spec.own_storage_or_credentials {
            return Err(combination(
                "The requested DB instance will be a member of a DB cluster. Set the storage, the master user name \
                 and password, and Multi-AZ on the DB cluster.",
            ));
        }
        if cluster.instance_class.is_some() && !spec.multi_az_member {
            return Err(combination(format!(
                "The DB cluster {} is a Multi-AZ DB cluster: it has its three DB instances, and no other can be \
                 added.",
                cluster.id
            )));
        }
        let id = spec.id.to_ascii_lowercase();
        if !crate::rds::valid_identifier(&id) {
            return Err(invalid(
                "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two \
                 consecutive hyphens.",
            ));
        }
        if spec.class == "db.serverless" {
            if cluster.serverless_v2.is_none() {
                return Err(combination(
                    "Set the Serverless v2 scaling configuration on the parent DB cluster before creating a \
                     Serverless v2 DB instance.",
                ));
            }
        } else if !spec.multi_az_member
            && (!crate::rds::valid_class(&spec.class) || spec.class.starts_with("db.t3.micro"))
        {
            return Err(combination(format!(
                "RDS does not support creating a DB instance with the following combination: DBInstanceClass={}, \
                 Engine={}, EngineVersion={}.",
                spec.class, cluster.engine, cluster.engine_version
            )));
        }
        let tier = spec.promotion_tier.unwrap_or(1);
        if tier > 15 {
            return Err(invalid(format!("Invalid promotion tier {tier}: it must be between 0 and 15.")));
        }
        if self.db_instances.contains_key(&id) {
            return Err(RdsError::InstanceExists(id).into());
        }
        let members = self.cluster_members(&cluster.id);
        let up = |name: &AzName| zones.iter().any(|z| z.name == *name && z.state != ZoneState::Unavailable);
        let zone = match &spec.zone {
            Some(z) => {
                let found = zones
                    .iter()
                    .find(|k| k.name.as_str() == z)
                    .ok_or_else(|| invalid(format!("Cannot find the Availability Zone {z} for the DB instance.")))?;
                (found.name.clone(), found.id.clone())
            }
            None => {
                let mut candidates: Vec<&DbStorage> = cluster.volume.iter().filter(|s| up(&s.zone)).collect();
                candidates.sort_by_key(|s| members.iter().filter(|m| m.primary.zone == s.zone).count());
                let s = candidates.first().ok_or_else(|| RdsError::InsufficientCapacity {
                    zone: "any of the cluster's zones".into(),
                    requested_gib: 0,
                })?;
                (s.zone.clone(), s.zone_id.clone())
            }
        };
        if !up(&zone.0) {
            return Err(RdsError::InsufficientCapacity { zone: zone.0.to_string(), requested_gib: 0 }.into());
        }
        let family = cluster_engine(&cluster.engine).map(|e| e.family(&cluster.engine_version)).unwrap_or_default();
        let parameter_group = match &spec.parameter_group {
            Some(g) => self.db_parameter_group_for(g, &family)?,
            None => format!("default.{family}"),
        };
        let resource_id = self.instance_resource_id();
        let instance = DbInstance {
            id: id.clone(),
            resource_id: resource_id.clone(),
            class: spec.class.clone(),
            engine: cluster.engine.clone(),
            engine_version: cluster.engine_version.clone(),
            status: crate::model::rds::DbInstanceStatus::Creating,
            status_since_ms: now_ms,
            master_username: Some(cluster.master_username.clone()),
            master_password: None,
            master_secret: None,
            master_secret_kms_key: None,
            cross_region_replicas: Vec::new(),
            last_backup_ms: 0,
            db_name: cluster.db_name.clone(),
            allocated_gib: cluster.allocated_gib.unwrap_or(1),
            storage_type: cluster.storage_type.clone(),
            iops: cluster.iops,
            port: cluster.port,
            address: cluster.address.clone(),
            multi_az: false,
            primary: DbStorage { zone: zone.0.clone(), zone_id: zone.1.clone(), volumes: Vec::new() },
            standby: None,
            subnet_group: cluster.subnet_group.clone(),
            vpc_id: cluster.vpc_id.clone(),
            parameter_group,
            backup_retention_days: cluster.backup_retention_days,
            backup_window: cluster.backup_window.clone(),
            maintenance_window: cluster.maintenance_window.clone(),
            deletion_protection: false,
            publicly_accessible: spec.publicly_accessible,
            auto_minor_version_upgrade: true,
            copy_tags_to_snapshot: cluster.copy_tags_to_snapshot,
            storage_encrypted: cluster.storage_encrypted,
            created_ms: now_ms,
            failing_over: false,
            tags: spec.tags,
            pending: Default::default(),
            modifying: Vec::new(),
            storage_stuck_since_ms: None,
            standby_in_sync: true,
            failover_refused: false,
            read_replica_source: None,
            promoting: false,
            booted_parameters: None,
            settings: crate::model::rds::DbInstanceSettings {
                security_groups: cluster.security_groups.clone(),
                ..Default::default()
            },
            retain_automated_backups: false,
            option_group: None,
            roles: Vec::new(),
            cluster: Some(cluster.id.clone()),
            promotion_tier: tier,
            writes_blocked: false,
        };
        let mut instance = instance;
        instance.booted_parameters = Some(self.booted_parameters(&instance));
        self.db_instances.insert(id.clone(), instance.clone());
        if cluster.writer.is_none() || self.cluster_writer(&cluster.id).is_none() {
            self.cluster_mut(&cluster.id)?.writer = Some(resource_id);
        }
        self.rds_event(&id, "DB instance created", "RDS-EVENT-0005", "creation", now_ms);
        Ok(instance)
    }

    /// The reader to promote: `target` when given (a reader of the cluster), else the reader
    /// with the lowest promotion tier (then the largest class, then by name), in a zone that is up.
    fn failover_target(
        &self,
        cluster: &DbCluster,
        target: Option<&str>,
        zones_up: &dyn Fn(&DbInstance) -> bool,
    ) -> Result<DbInstance, ControlError> {
        let writer = cluster.writer.clone().unwrap_or_default();
        let readers: Vec<DbInstance> = self
            .cluster_members(&cluster.id)
            .into_iter()
            .filter(|i| i.resource_id != writer && i.status != crate::model::rds::DbInstanceStatus::Deleting)
            .collect();
        if let Some(t) = target {
            let t = t.to_ascii_lowercase();
            return readers.into_iter().find(|i| i.id == t).ok_or_else(|| {
                invalid(format!("The target instance {t} is not a reader of the DB cluster {}.", cluster.id))
            });
        }
        let mut candidates: Vec<DbInstance> = readers.into_iter().filter(|i| zones_up(i)).collect();
        candidates.sort_by(|a, b| {
            a.promotion_tier
                .cmp(&b.promotion_tier)
                .then(class_rank(&b.class).cmp(&class_rank(&a.class)))
                .then(a.id.cmp(&b.id))
        });
        candidates.into_iter().next().ok_or_else(|| {
            RdsError::InvalidClusterState(format!("The DB cluster {} has no reader to fail over to.", cluster.id))
                .into()
        })
    }

    fn fail_over_to(
        &mut self,
        cluster: &str,
        to: &DbInstance,
        reason: Option<String>,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        if let Some(reason) = reason {
            self.cluster_event(cluster, &reason, "RDS-EVENT-0069", "failover", now_ms);
        }
        self.cluster_event(
            cluster,
            &format!("Started cross AZ failover to DB instance: {}", to.id),
            "RDS-EVENT-0072",
            "failover",
            now_ms,
        );
        let c = self.cluster_mut(cluster)?;
        c.writer = Some(to.resource_id.clone());
        c.status = DbClusterStatus::FailingOver;
        c.status_since_ms = now_ms;
        Ok(c.clone())
    }

    /// FailoverDBCluster: the target reader (or the first by promotion tier) becomes the writer.
    pub(crate) fn failover_db_cluster(
        &mut self,
        id: &str,
        target: Option<&str>,
        zones: &[Zone],
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let cluster = self.cluster_in(id, &[DbClusterStatus::Available])?;
        let up = |i: &DbInstance| zones.iter().any(|z| z.name == i.primary.zone && z.state != ZoneState::Unavailable);
        let to = self.failover_target(&cluster, target, &up)?;
        self.fail_over_to(&cluster.id, &to, None, now_ms)
    }

    /// Clusters whose writer's zone is out fail over to a reader in a zone that is up, as Aurora
    /// does by itself.
    pub(crate) fn detect_cluster_failovers(&mut self, zones: &[Zone], now_ms: u64) -> Result<(), ControlError> {
        let down = |zone: &AzName| zones.iter().any(|z| z.name == *zone && z.state == ZoneState::Unavailable);
        let clusters: Vec<DbCluster> =
            self.db_clusters.values().filter(|c| c.status == DbClusterStatus::Available).cloned().collect();
        for c in clusters {
            let Some(writer) = self.cluster_writer(&c.id) else { continue };
            if !down(&writer.primary.zone) {
                continue;
            }
            let up = |i: &DbInstance| !down(&i.primary.zone);
            let Ok(to) = self.failover_target(&c, None, &up) else { continue };
            let reason = format!(
                "The writer DB instance {} is unreachable: its Availability Zone {} is out.",
                writer.id, writer.primary.zone
            );
            self.fail_over_to(&c.id, &to, Some(reason), now_ms)?;
        }
        Ok(())
    }

    /// A cluster instance leaves: when it wrote, the first reader by promotion tier takes over.
    pub(crate) fn leave_cluster(
        &mut self,
        instance: &DbInstance,
        zones: &[Zone],
        now_ms: u64,
    ) -> Result<(), ControlError> {
        let Some(cluster) = instance.cluster.clone() else { return Ok(()) };
        if let Ok(c) = self.cluster_mut(&cluster) {
            // Custom endpoints stop naming it.
            for e in &mut c.custom_endpoints {
                e.static_members.retain(|m| *m != instance.id);
                e.excluded_members.retain(|m| *m != instance.id);
            }
        }
        let Ok(c) = self.db_cluster(&cluster).cloned() else { return Ok(()) };
        if c.writer.as_deref() != Some(instance.resource_id.as_str()) {
            return Ok(());
        }
        let up = |i: &DbInstance| zones.iter().any(|z| z.name == i.primary.zone && z.state != ZoneState::Unavailable);
        match self.failover_target(&c, None, &up) {
            Ok(to) => {
                self.cluster_mut(&cluster)?.writer = Some(to.resource_id.clone());
                self.cluster_event(
                    &cluster,
                    &format!("Completed failover to DB instance: {}", to.id),
                    "RDS-EVENT-0071",
                    "failover",
                    now_ms,
                );
            }
            Err(_) => self.cluster_mut(&cluster)?.writer = None,
        }
        Ok(())
    }

    /// The cluster a custom endpoint belongs to, and the endpoint.
    pub fn custom_endpoint(&self, id: &str) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        let key = id.to_ascii_lowercase();
        self.db_clusters
            .values()
            .find_map(|c| c.custom_endpoints.iter().find(|e| e.id == key).map(|e| (c.clone(), e.clone())))
            .ok_or_else(|| RdsError::ClusterEndpointNotFound(id.to_string()).into())
    }

    fn check_endpoint_members(
        &self,
        cluster: &DbCluster,
        endpoint_type: &str,
        static_members: &[String],
        excluded_members: &[String],
    ) -> Result<(Vec<String>, Vec<String>), ControlError> {
        if !matches!(endpoint_type, "READER" | "ANY") {
            return Err(invalid(format!("Invalid endpoint type {endpoint_type}: it must be READER or ANY.")));
        }
        if !static_members.is_empty() && !excluded_members.is_empty() {
            return Err(combination("StaticMembers and ExcludedMembers can't both be specified."));
        }
        let members: Vec<String> = self.cluster_members(&cluster.id).into_iter().map(|i| i.id).collect();
        let mut out = (Vec::new(), Vec::new());
        for (list, into) in [(static_members, &mut out.0), (excluded_members, &mut out.1)] {
            for m in list {
                let m = m.to_ascii_lowercase();
                if !members.contains(&m) {
                    return Err(RdsError::InstanceNotFound(m).into());
                }
                if !into.contains(&m) {
                    into.push(m);
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn cluster_endpoint_tags_mut(
        &mut self,
        id: &str,
    ) -> Result<&mut BTreeMap<String, String>, ControlError> {
        let (cluster, _) = self.custom_endpoint(id)?;
        let key = id.to_ascii_lowercase();
        self.cluster_mut(&cluster.id)?
            .custom_endpoints
            .iter_mut()
            .find(|e| e.id == key)
            .map(|e| &mut e.tags)
            .ok_or_else(|| RdsError::ClusterEndpointNotFound(id.to_string()).into())
    }

    /// CreateDBClusterEndpoint.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_cluster_endpoint(
        &mut self,
        cluster_id: &str,
        id: &str,
        endpoint_type: &str,
        static_members: &[String],
        excluded_members: &[String],
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        let cluster = self.cluster_in(cluster_id, &[DbClusterStatus::Available])?;
        let key = id.to_ascii_lowercase();
        if !crate::rds::identifier_shape(&key, 63) {
            return Err(invalid("The parameter DBClusterEndpointIdentifier is not a valid identifier."));
        }
        if self.custom_endpoint(&key).is_ok() {
            return Err(RdsError::ClusterEndpointExists(key).into());
        }
        if cluster.custom_endpoints.len() >= MAX_CUSTOM_ENDPOINTS {
            return Err(RdsError::ClusterEndpointQuotaExceeded(MAX_CUSTOM_ENDPOINTS).into());
        }
        let (static_members, excluded_members) =
            self.check_endpoint_members(&cluster, endpoint_type, static_members, excluded_members)?;
        let n = self.next_random();
        let endpoint = CustomEndpoint {
            id: key,
            resource_id: format!("cluster-endpoint-{:026x}", n & ((1u128 << 104) - 1)),
            endpoint_type: endpoint_type.to_string(),
            static_members,
            excluded_members,
            status: "creating".into(),
            status_since_ms: now_ms,
            tags,
        };
        let c = self.cluster_mut(cluster_id)?;
        c.custom_endpoints.push(endpoint.clone());
        Ok((c.clone(), endpoint))
    }

    /// ModifyDBClusterEndpoint.
    pub(crate) fn modify_cluster_endpoint(
        &mut self,
        id: &str,
        endpoint_type: Option<&str>,
        static_members: Option<&[String]>,
        excluded_members: Option<&[String]>,
        now_ms: u64,
    ) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        let (cluster, endpoint) = self.custom_endpoint(id)?;
        if endpoint.status != "available" {
            return Err(RdsError::InvalidClusterEndpointState(format!(
                "The endpoint {} is {}: it must be available to be modified.",
                endpoint.id, endpoint.status
            ))
            .into());
        }
        let endpoint_type = endpoint_type.unwrap_or(&endpoint.endpoint_type).to_string();
        // The lists given replace the endpoint's; checked once, with the type it will have.
        let (static_members, excluded_members) = match (static_members, excluded_members) {
            (None, None) => (endpoint.static_members.clone(), endpoint.excluded_members.clone()),
            (s, e) => (s.unwrap_or_default().to_vec(), e.unwrap_or_default().to_vec()),
        };
        let (static_members, excluded_members) =
            self.check_endpoint_members(&cluster, &endpoint_type, &static_members, &excluded_members)?;
        let c = self.cluster_mut(&cluster.id)?;
        let e = c
            .custom_endpoints
            .iter_mut()
            .find(|e| e.id == endpoint.id)
            .ok_or_else(|| ControlError::invariant("endpoint"))?;
        e.endpoint_type = endpoint_type;
        e.static_members = static_members;
        e.excluded_members = excluded_members;
        e.status = "modifying".into();
        e.status_since_ms = now_ms;
        let out = e.clone();
        Ok((c.clone(), out))
    }

    /// DeleteDBClusterEndpoint.
    pub(crate) fn delete_cluster_endpoint(
        &mut self,
        id: &str,
        now_ms: u64,
    ) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        let (cluster, endpoint) = self.custom_endpoint(id)?;
        if endpoint.status != "available" {
            return Err(RdsError::InvalidClusterEndpointState(format!(
                "The endpoint {} is {}: it must be available to be deleted.",
                endpoint.id, endpoint.status
            ))
            .into());
        }
        let c = self.cluster_mut(&cluster.id)?;
        c.custom_endpoints.retain(|e| e.id != endpoint.id);
        let mut gone = endpoint;
        gone.status = "deleting".into();
        gone.status_since_ms = now_ms;
        Ok((c.clone(), gone))
    }

    /// Whether a storage volume name belongs to a DB cluster's volume.
    pub(crate) fn is_cluster_storage(&self, name: &str) -> bool {
        self.db_clusters.values().any(|c| c.volume.iter().any(|s| s.volumes.iter().any(|v| v == name)))
    }

    /// The cluster volume as a quorum volume of the block store (six copies, quorums 4 and 3);
    /// what its members missed is kept under the region's directory.
    pub fn cluster_volume(
        &self,
        id: &str,
        dir: &std::path::Path,
    ) -> Result<squall_storage::QuorumVolume, ControlError> {
        let c = self.db_cluster(id)?;
        let mut members = Vec::new();
        for s in &c.volume {
            let cluster = self
                .store
                .opened_cluster(s.zone_id.as_str())
                .ok_or_else(|| ControlError::invariant(format!("the storage cluster of {} is not open", s.zone_id)))?;
            for v in &s.volumes {
                members.push(squall_storage::QuorumMember {
                    cluster: cluster.clone(),
                    volume: crate::state::store_name(v)?,
                    copies: 2,
                });
            }
        }
        let journal: PathBuf = dir.join(format!("{}.quorum", c.resource_id.to_ascii_lowercase()));
        squall_storage::QuorumVolume::open(members, WRITE_QUORUM, READ_QUORUM, &journal)
            .map_err(crate::state::storage_error)
    }

    pub(crate) fn cluster_tags_mut(&mut self, id: &str) -> Result<&mut BTreeMap<String, String>, ControlError> {
        Ok(&mut self.cluster_mut(id)?.tags)
    }
}

/// How big a class is, to prefer the largest reader on failover among those of one tier.
fn class_rank(class: &str) -> usize {
    const SIZES: &[&str] = &[
        "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
        "24xlarge",
    ];
    let size = class.rsplit('.').next().unwrap_or_default();
    SIZES.iter().position(|s| *s == size).unwrap_or(0)
}

/// What CreateDBInstance with DBClusterIdentifier asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInstanceSpec {
    pub id: String,
    pub cluster: String,
    pub engine: String,
    pub class: String,
    pub zone: Option<String>,
    pub promotion_tier: Option<u32>,
    pub publicly_accessible: bool,
    /// Its DB parameter group (of the cluster's family; `default.<family>` when absent).
    pub parameter_group: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The request set what an instance of a cluster takes from it (storage, credentials, Multi-AZ).
    pub own_storage_or_credentials: bool,
    /// One of the three instances a Multi-AZ DB cluster makes for itself (no other joins one).
    pub multi_az_member: bool,
}

/// A Multi-AZ DB cluster's class, storage size, type and IOPS, checked as RDS does (`None` for an
/// Aurora engine, which takes none of them).
fn check_multi_az(engine: &ClusterEngine, spec: &DbClusterSpec) -> Result<Option<MultiAzShape>, ControlError> {
    if !engine.multi_az {
        if spec.instance_class.is_some() || spec.allocated_gib.is_some() || spec.iops.is_some() {
            return Err(combination(format!(
                "DBClusterInstanceClass, AllocatedStorage and Iops apply to Multi-AZ DB clusters (engine mysql or \
                 postgres), not to {}.",
                engine.name
            )));
        }
        return Ok(None);
    }
    let class = spec
        .instance_class
        .clone()
        .ok_or_else(|| invalid("The parameter DBClusterInstanceClass must be provided for a Multi-AZ DB cluster."))?;
    let family = class.split('.').nth(1).unwrap_or_default();
    let size = class.split('.').nth(2).unwrap_or_default();
    let d_family = matches!(family, "m5d" | "m6gd" | "m6id" | "r5d" | "r6gd" | "r6id" | "c6gd");
    let known = crate::rds::valid_class(&class)
        || (d_family && class.starts_with("db.") && crate::rds::valid_class(&format!("db.m5.{size}")));
    if !known || class.starts_with("db.t") {
        return Err(invalid(format!(
            "Invalid DB cluster instance class {class}: a Multi-AZ DB cluster takes a db.m or db.r class."
        )));
    }
    if spec.serverless_v2.is_some() || spec.backtrack_window_s.is_some_and(|b| b > 0) {
        return Err(combination("Serverless v2 capacity and backtracking apply to Aurora DB clusters only."));
    }
    let storage_type = spec.storage_type.clone().unwrap_or_else(|| "io1".into());
    let gib = spec
        .allocated_gib
        .ok_or_else(|| invalid("The parameter AllocatedStorage must be provided for a Multi-AZ DB cluster."))?;
    let iops = match storage_type.as_str() {
        "io1" | "io2" => {
            if !(100..=65536).contains(&gib) {
                return Err(invalid(format!(
                    "Invalid storage size for engine name {} and storage type {storage_type}: {gib}",
                    engine.name
                )));
            }
            let iops = spec.iops.ok_or_else(|| {
                invalid(format!("The parameter Iops must be provided for storage type {storage_type}."))
            })?;
            if !(1000..=256_000).contains(&iops) || iops > gib.saturating_mul(50) {
                return Err(invalid(format!(
                    "Invalid Iops {iops} for {gib} GiB of {storage_type}: 1,000 to 256,000 and at most 50 per GiB."
                )));
            }
            Some(iops)
        }
        "gp3" => {
            if !(20..=65536).contains(&gib) {
                return Err(invalid(format!(
                    "Invalid storage size for engine name {} and storage type gp3: {gib}",
                    engine.name
                )));
            }
            spec.iops
        }
        other => {
            return Err(invalid(format!(
                "Invalid storage type for a Multi-AZ DB cluster: {other}. Use io1, io2 or gp3."
            )))
        }
    };
    Ok(Some(MultiAzShape { class, gib, storage_type, iops }))
}

/// What a Multi-AZ DB cluster's instances are: their class and storage.
struct MultiAzShape {
    class: String,
    gib: u32,
    storage_type: String,
    iops: Option<u32>,
}

/// Aurora's password rule: 8 to 41 printable ASCII characters besides `/`, `"`, `@` and space.
fn check_password(p: &str) -> Result<(), ControlError> {
    if p.len() < 8 {
        return Err(invalid(
            "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.",
        ));
    }
    if p.len() > 41 || p.chars().any(|c| matches!(c, '/' | '"' | '@') || !c.is_ascii_graphic()) {
        return Err(invalid(
            "The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides \
             '/', '@', '\"', ' ' may be used, at most 41.",
        ));
    }
    Ok(())
}

impl Region {
    pub fn create_db_cluster(
        &self,
        spec: DbClusterSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.create_db_cluster(spec, &zones, address, now_ms))
    }

    pub fn modify_db_cluster(
        &self,
        id: &str,
        changes: DbClusterChanges,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_cluster(id, changes, now_ms))
    }

    pub fn delete_db_cluster(
        &self,
        id: &str,
        skip_final_snapshot: bool,
        final_snapshot: Option<&str>,
        now_ms: u64,
    ) -> Result<DbCluster, ControlError> {
        let dir = self.dir().join("rds-quorum");
        self.with_state(now_ms, |state| state.delete_db_cluster(id, skip_final_snapshot, final_snapshot, &dir, now_ms))
    }

    pub fn create_cluster_instance(&self, spec: ClusterInstanceSpec, now_ms: u64) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.create_cluster_instance(spec, &zones, now_ms))
    }

    /// ModifyDBInstance PromotionTier of an instance of a cluster (others have no failover order).
    pub fn set_promotion_tier(&self, id: &str, tier: i32, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| {
            if !(0..=15).contains(&tier) {
                return Err(invalid(format!("Invalid promotion tier {tier}: it must be between 0 and 15.")));
            }
            let i = state.instance_mut(id)?;
            if i.cluster.is_some() {
                i.promotion_tier = tier as u32;
            }
            Ok(())
        })
    }

    pub fn failover_db_cluster(&self, id: &str, target: Option<&str>, now_ms: u64) -> Result<DbCluster, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.failover_db_cluster(id, target, &zones, now_ms))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_cluster_endpoint(
        &self,
        cluster_id: &str,
        id: &str,
        endpoint_type: &str,
        static_members: &[String],
        excluded_members: &[String],
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        self.with_state(now_ms, |state| {
            state.create_cluster_endpoint(cluster_id, id, endpoint_type, static_members, excluded_members, tags, now_ms)
        })
    }

    pub fn modify_cluster_endpoint(
        &self,
        id: &str,
        endpoint_type: Option<&str>,
        static_members: Option<&[String]>,
        excluded_members: Option<&[String]>,
        now_ms: u64,
    ) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        self.with_state(now_ms, |state| {
            state.modify_cluster_endpoint(id, endpoint_type, static_members, excluded_members, now_ms)
        })
    }

    pub fn delete_cluster_endpoint(&self, id: &str, now_ms: u64) -> Result<(DbCluster, CustomEndpoint), ControlError> {
        self.with_state(now_ms, |state| state.delete_cluster_endpoint(id, now_ms))
    }

    pub fn reboot_db_cluster(&self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        self.with_state(now_ms, |s| s.reboot_db_cluster(id, now_ms))
    }

    pub fn stop_db_cluster(&self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        self.with_state(now_ms, |state| state.stop_db_cluster(id, now_ms))
    }

    pub fn start_db_cluster(&self, id: &str, now_ms: u64) -> Result<DbCluster, ControlError> {
        self.with_state(now_ms, |state| state.start_db_cluster(id, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultKind;
    use crate::test_support::TestRegion;

    fn spec(id: &str) -> DbClusterSpec {
        DbClusterSpec {
            id: id.into(),
            engine: "aurora-postgresql".into(),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_cluster_volume_spans_three_zones_survives_one_and_turns_read_only_after_one_more_copy() {
        let t = TestRegion::new();
        let made = t.region.create_db_cluster(spec("orders"), "localhost", t.now()).expect("create");
        let zones = made.zones();
        assert_eq!(zones.len(), 3, "three zones: {zones:?}");
        assert!(zones.windows(2).all(|w| w[0] != w[1]));
        let dir = t.region.dir().to_path_buf();
        let volume = t.region.read(t.now(), |s| s.cluster_volume("orders", &dir)).expect("volume");
        volume.write(0, b"committed before").expect("write");
        assert_eq!(volume.health().current_copies, 6);

        // A whole zone goes: four copies are left, the cluster volume still takes writes.
        let region = crate::RegionName::parse("us-east-1").expect("region");
        t.control.install_fault(&region, FaultKind::AzOutage { zone: zones[0].clone() }, None).expect("outage");
        t.control.tick().expect("tick");
        volume.write(4096, b"committed in the outage").expect("a quorum of four");
        assert_eq!(volume.read(0, 16).expect("read"), b"committed before");

        // One node of another zone's volume crashes too: two copies answer, writes are refused
        // (read-only), every acknowledged write still reads back.
        let second = &made.volume[1];
        let node = {
            let state_volume = t.region.read(t.now(), |s| s.cluster_volume("orders", &dir)).expect("volume");
            let m = &state_volume.members()[1];
            let c = m.cluster.lock();
            c.record(&m.volume).expect("record").primary.0
        };
        t.control
            .install_fault(&region, FaultKind::NodeCrash { zone: second.zone.clone(), nodes: vec![node] }, None)
            .expect("crash");
        let refused = volume.write(8192, b"lost quorum");
        assert!(matches!(refused, Err(squall_storage::StorageError::NoQuorum { .. })), "{refused:?}");
        assert_eq!(volume.read(4096, 23).expect("read"), b"committed in the outage");
        assert!(!volume.health().writable());
    }

    #[test]
    fn clusters_move_through_their_statuses_and_their_volume_is_kept_as_db_storage() {
        let t = TestRegion::new();
        t.region.create_db_cluster(spec("orders"), "localhost", t.now()).expect("create");
        let status = |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.db_cluster("orders")?.status)).expect("read");
        assert_eq!(status(&t), DbClusterStatus::Creating);
        t.advance(1_000);
        assert_eq!(status(&t), DbClusterStatus::Available);
        t.region.stop_db_cluster("orders", t.now()).expect("stop");
        let again = t.region.stop_db_cluster("orders", t.now());
        assert!(matches!(again, Err(ControlError::Rds(RdsError::InvalidClusterState(_)))), "{again:?}");
        t.advance(1_000);
        assert_eq!(status(&t), DbClusterStatus::Stopped);
        let names: Vec<String> = t
            .region
            .read(t.now(), |s| Ok(s.db_cluster("orders")?.volume.iter().flat_map(|v| v.volumes.clone()).collect()))
            .expect("names");
        assert!(names.iter().all(|n| t.region.read(t.now(), |s| Ok(s.is_db_storage(n))).expect("read")));
        let dup = t.region.create_db_cluster(spec("ORDERS"), "localhost", t.now());
        assert!(matches!(dup, Err(ControlError::Rds(RdsError::ClusterExists(_)))), "{dup:?}");
        t.region.start_db_cluster("orders", t.now()).expect("start");
        t.advance(1_000);
        t.region.delete_db_cluster("orders", true, None, t.now()).expect("delete");
        t.advance(1_000);
        let gone = t.region.read(t.now(), |s| s.db_cluster("orders").map(|_| ()));
        assert!(matches!(gone, Err(ControlError::Rds(RdsError::ClusterNotFound(_)))), "{gone:?}");
    }
}

#[cfg(test)]
mod failover_tests {
    use super::*;
    use crate::faults::FaultKind;
    use crate::test_support::TestRegion;

    fn instance(id: &str, tier: u32, zone: &AzName) -> ClusterInstanceSpec {
        ClusterInstanceSpec {
            id: id.into(),
            cluster: "orders".into(),
            engine: "aurora-postgresql".into(),
            class: "db.r6g.large".into(),
            zone: Some(zone.to_string()),
            promotion_tier: Some(tier),
            ..Default::default()
        }
    }

    #[test]
    fn the_writer_zone_going_out_promotes_the_first_reader_by_tier_in_a_zone_that_is_up() {
        let t = TestRegion::new();
        let spec = DbClusterSpec {
            id: "orders".into(),
            engine: "aurora-postgresql".into(),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            ..Default::default()
        };
        let c = t.region.create_db_cluster(spec, "localhost", t.now()).expect("cluster");
        let zones = c.zones();
        t.region.create_cluster_instance(instance("w", 0, &zones[0]), t.now()).expect("writer");
        // Tier 0 but in the writer's zone: it goes out with it.
        t.region.create_cluster_instance(instance("same-zone", 0, &zones[0]), t.now()).expect("reader");
        t.region.create_cluster_instance(instance("tier-1", 1, &zones[1]), t.now()).expect("reader");
        t.region.create_cluster_instance(instance("tier-2", 2, &zones[2]), t.now()).expect("reader");
        t.advance(1_000);
        let writer =
            |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.cluster_writer("orders").map(|w| w.id))).expect("read");
        assert_eq!(writer(&t).as_deref(), Some("w"));
        let region = crate::RegionName::parse("us-east-1").expect("region");
        t.control.install_fault(&region, FaultKind::AzOutage { zone: zones[0].clone() }, None).expect("outage");
        t.control.tick().expect("tick");
        assert_eq!(writer(&t).as_deref(), Some("tier-1"));
        let status = t.region.read(t.now(), |s| Ok(s.db_cluster("orders")?.status)).expect("read");
        assert_eq!(status, DbClusterStatus::FailingOver);
        t.advance(1_000);
        let status = t.region.read(t.now(), |s| Ok(s.db_cluster("orders")?.status)).expect("read");
        assert_eq!(status, DbClusterStatus::Available);
        // Deleting the writer hands writing to the next reader up.
        t.region.delete_db_instance("tier-1", false, None, true, t.now()).expect("delete");
        assert_eq!(writer(&t).as_deref(), Some("tier-2"));
    }
}

#[cfg(test)]
mod parameter_group_tests {
    use super::*;
    use crate::db_parameter_groups::ParameterChange;
    use crate::test_support::TestRegion;

    fn change(name: &str, value: &str, method: &str) -> ParameterChange {
        ParameterChange { name: name.into(), value: Some(value.into()), apply_method: Some(method.into()) }
    }

    #[test]
    fn a_cluster_parameter_group_reaches_its_members_dynamic_values_at_once_static_ones_at_the_reboot() {
        let t = TestRegion::new();
        let kind = GroupKind::Cluster;
        t.region
            .create_parameter_group(kind, "tuned", "aurora-postgresql16", "tuned", BTreeMap::new(), t.now())
            .unwrap();
        // The same name as a DB parameter group is another group.
        t.region
            .create_parameter_group(GroupKind::Instance, "tuned", "aurora-postgresql16", "x", BTreeMap::new(), t.now())
            .expect("a DB parameter group of the same name");
        let wrong =
            t.region.create_parameter_group(kind, "Tuned", "aurora-postgresql16", "x", BTreeMap::new(), t.now());
        assert!(matches!(wrong, Err(ControlError::Rds(RdsError::ParameterGroupExists(_)))), "{wrong:?}");
        let spec = DbClusterSpec {
            id: "orders".into(),
            engine: "aurora-postgresql".into(),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            parameter_group: Some("TUNED".into()),
            ..Default::default()
        };
        let missing = DbClusterSpec { id: "other".into(), parameter_group: Some("nope".into()), ..spec.clone() };
        let refused = t.region.create_db_cluster(missing, "localhost", t.now());
        assert!(matches!(refused, Err(ControlError::Rds(RdsError::ClusterParameterGroupNotFound(_)))), "{refused:?}");
        let c = t.region.create_db_cluster(spec, "localhost", t.now()).expect("create");
        assert_eq!(c.parameter_group, "tuned");
        t.advance(1_000);
        let member = ClusterInstanceSpec {
            id: "w".into(),
            cluster: "orders".into(),
            engine: "aurora-postgresql".into(),
            class: "db.r6g.large".into(),
            ..Default::default()
        };
        t.region.create_cluster_instance(member, t.now()).expect("writer");
        t.advance(2_000);
        let view =
            |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.db_parameter_view(s.db_instance("w")?))).expect("view");
        assert_eq!(view(&t).cluster_apply_status, "in-sync");

        t.region
            .modify_parameter_group(kind, "tuned", &[change("statement_timeout", "700", "immediate")], t.now())
            .unwrap();
        let v = view(&t);
        assert_eq!((v.values["statement_timeout"].as_str(), v.cluster_apply_status), ("700", "in-sync"));
        t.region
            .modify_parameter_group(kind, "tuned", &[change("max_connections", "40", "pending-reboot")], t.now())
            .unwrap();
        let v = view(&t);
        assert_eq!(v.cluster_apply_status, "pending-reboot");
        assert_ne!(v.values["max_connections"], "40");

        let c = t.region.reboot_db_cluster("orders", t.now()).expect("reboot");
        assert_eq!(c.status, DbClusterStatus::Rebooting);
        let v = view(&t);
        assert_eq!((v.values["max_connections"].as_str(), v.cluster_apply_status), ("40", "in-sync"));
        t.advance(2_000);
        let status = t.region.read(t.now(), |s| Ok(s.db_cluster("orders")?.status)).unwrap();
        assert_eq!(status, DbClusterStatus::Available);

        let in_use = t.region.delete_parameter_group(kind, "tuned", t.now());
        assert!(matches!(in_use, Err(ControlError::Rds(RdsError::InvalidParameterGroupState(_)))), "{in_use:?}");
        t.region
            .delete_parameter_group(GroupKind::Instance, "tuned", t.now())
            .expect("the DB parameter group goes alone");
        assert!(t.region.read(t.now(), |s| s.parameter_group(kind, "tuned")).is_ok());
    }
}
