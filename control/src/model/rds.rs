//! RDS as data: DB subnet groups, DB instances (their storage in the block store, a standby's in
//! another zone), and the events RDS reports about them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AzId, AzName};
use crate::table::Row;

/// A subnet of a DB subnet group, with the zone it lies in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSubnet {
    pub subnet_id: String,
    pub zone: AzName,
    pub zone_id: AzId,
}

/// A DB subnet group: the subnets (of one VPC, in at least two zones) an instance may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSubnetGroup {
    /// Lower-case, as RDS stores it.
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub subnets: Vec<DbSubnet>,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for DbSubnetGroup {
    const TABLE: &'static str = "db_subnet_groups";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// The name RDS shows for the subnet group of the default VPC.
pub const DEFAULT_SUBNET_GROUP: &str = "default";

/// A DB instance's status, as DescribeDBInstances shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbInstanceStatus {
    Creating,
    BackingUp,
    Available,
    Rebooting,
    Modifying,
    Stopping,
    Stopped,
    Starting,
    Deleting,
    /// A new identifier is being applied (NewDBInstanceIdentifier).
    Renaming,
    /// Its storage has no room left: reads work, writes fail until the storage grows.
    StorageFull,
}

impl DbInstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::BackingUp => "backing-up",
            Self::Available => "available",
            Self::Rebooting => "rebooting",
            Self::Modifying => "modifying",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Deleting => "deleting",
            Self::Renaming => "renaming",
            Self::StorageFull => "storage-full",
        }
    }
}

/// Where one copy of an instance's storage lives: a zone and the block-store volumes (striped)
/// that hold it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbStorage {
    pub zone: AzName,
    pub zone_id: AzId,
    /// Names of the volumes in the zone's storage cluster (not EC2 volumes: RDS's own).
    pub volumes: Vec<String>,
}

/// A DB instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInstance {
    /// The identifier, lower-case.
    pub id: String,
    /// `db-` and 26 upper-case letters and digits: the id that never changes.
    pub resource_id: String,
    pub class: String,
    pub engine: String,
    pub engine_version: String,
    pub status: DbInstanceStatus,
    pub status_since_ms: u64,
    pub master_username: Option<String>,
    /// Kept for the SQL endpoint; never shown.
    pub master_password: Option<String>,
    /// The Secrets Manager secret RDS keeps the master password in (ManageMasterUserPassword).
    #[serde(default)]
    pub master_secret: Option<String>,
    #[serde(default)]
    pub master_secret_kms_key: Option<String>,
    /// ARNs of this instance's read replicas in other regions.
    #[serde(default)]
    pub cross_region_replicas: Vec<String>,
    /// When its newest automated backup was taken (0: none recorded; the creation counts).
    #[serde(default)]
    pub last_backup_ms: u64,
    pub db_name: Option<String>,
    pub allocated_gib: u32,
    pub storage_type: String,
    pub iops: Option<u32>,
    pub port: u16,
    /// The endpoint's host name (`<id>.<hash>.<region>.rds.amazonaws.com` on AWS; squall
    /// answers `localhost` or what it is configured to answer).
    pub address: String,
    pub multi_az: bool,
    /// The primary's storage (its zone is the instance's AvailabilityZone).
    pub primary: DbStorage,
    /// The standby's storage in another zone, for Multi-AZ.
    pub standby: Option<DbStorage>,
    /// `None`: the default VPC's subnets.
    pub subnet_group: Option<String>,
    pub vpc_id: String,
    pub parameter_group: String,
    pub backup_retention_days: u32,
    pub backup_window: String,
    pub maintenance_window: String,
    pub deletion_protection: bool,
    pub publicly_accessible: bool,
    pub auto_minor_version_upgrade: bool,
    pub copy_tags_to_snapshot: bool,
    pub storage_encrypted: bool,
    pub created_ms: u64,
    /// A reboot in progress promotes the standby when it completes.
    pub failing_over: bool,
    pub tags: BTreeMap<String, String>,
    /// Changes asked without ApplyImmediately: applied when the maintenance window next opens.
    #[serde(default)]
    pub pending: PendingChanges,
    /// What the running `modifying` status applies (each gets its "finished" event).
    #[serde(default)]
    pub modifying: Vec<String>,
    /// Since when the primary's storage has been stuck (I/O to the database hangs), as the
    /// storage tick last saw it; `None` while it serves.
    #[serde(default)]
    pub storage_stuck_since_ms: Option<u64>,
    /// Whether the standby has every write the primary acknowledged: writes stop reaching a
    /// standby that stops answering, and failover never promotes a standby out of sync. A new
    /// standby is out of sync until its SQL endpoint has copied the primary onto it.
    #[serde(default = "in_sync")]
    pub standby_in_sync: bool,
    /// An automatic failover was refused (standby out of sync) and said so in an event.
    #[serde(default)]
    pub failover_refused: bool,
    /// For a read replica, the instance (of the same region) whose writes it receives,
    /// asynchronously; `None` for an instance that takes writes.
    #[serde(default)]
    pub read_replica_source: Option<String>,
    /// PromoteReadReplica is running: replication has stopped, and the replica takes writes
    /// when the promotion completes.
    #[serde(default)]
    pub promoting: bool,
    /// The parameter group and values the instance last started with; `None` (rows written
    /// before parameter groups existed) reads as "in sync with its group".
    #[serde(default)]
    pub booted_parameters: Option<BootedParameters>,
    #[serde(default)]
    pub settings: DbInstanceSettings,
    /// DeleteDBInstance with DeleteAutomatedBackups=false: the automated snapshots outlive it.
    #[serde(default)]
    pub retain_automated_backups: bool,
    /// The option group (`None`: the default one of its engine and major version).
    #[serde(default)]
    pub option_group: Option<String>,
    /// IAM roles associated with the instance for a feature (AddRoleToDBInstance):
    /// `(role ARN, feature name)`.
    #[serde(default)]
    pub roles: Vec<(String, String)>,
    /// The Aurora DB cluster it belongs to: its storage is the cluster volume, not its own.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Its place in the order of failover (0 first, 15 last) within its cluster.
    #[serde(default = "default_promotion_tier")]
    pub promotion_tier: u32,
    /// A blue/green switchover holds its writes while the green copy catches up (its SQL endpoint
    /// serves read-only meanwhile).
    #[serde(default)]
    pub writes_blocked: bool,
}

fn default_promotion_tier() -> u32 {
    1
}

/// Settings of a DB instance that RDS checks and shows: security groups, storage autoscaling,
/// monitoring, authentication, certificates, encryption keys, throughput, log exports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInstanceSettings {
    /// EC2 security group ids of the instance's VPC.
    pub security_groups: Vec<String>,
    /// Storage autoscaling's ceiling (GiB); `None`: off.
    pub max_allocated_gib: Option<u32>,
    /// Enhanced monitoring's interval in seconds (0: off).
    pub monitoring_interval: u32,
    pub monitoring_role_arn: Option<String>,
    pub iam_auth: bool,
    pub performance_insights: bool,
    pub performance_insights_retention_days: Option<u32>,
    /// `None`: RDS's default certificate authority.
    pub ca_certificate: Option<String>,
    pub kms_key_id: Option<String>,
    /// gp3 throughput in MiB/s, where it can be set.
    pub storage_throughput: Option<u32>,
    /// Log types exported to CloudWatch Logs.
    pub log_exports: Vec<String>,
}

/// What CreateDBInstance or ModifyDBInstance names of [`DbInstanceSettings`] (`None`: not named).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbSettingsChange {
    pub security_groups: Option<Vec<String>>,
    pub max_allocated_gib: Option<u32>,
    pub monitoring_interval: Option<u32>,
    pub monitoring_role_arn: Option<String>,
    pub iam_auth: Option<bool>,
    pub performance_insights: Option<bool>,
    pub performance_insights_retention_days: Option<u32>,
    pub ca_certificate: Option<String>,
    pub kms_key_id: Option<String>,
    pub storage_throughput: Option<u32>,
    pub enable_log_exports: Vec<String>,
    pub disable_log_exports: Vec<String>,
}

fn in_sync() -> bool {
    true
}

/// How full an instance's storage is, as its SQL endpoint last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbUsage {
    /// Bytes the database uses (its file, its write-ahead log, the layout's header).
    pub used: u64,
    /// Bytes of the storage.
    pub capacity: u64,
    /// Bytes the database file may still grow by.
    pub room: u64,
}

/// Changes of ModifyDBInstance that wait for the maintenance window (PendingModifiedValues).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChanges {
    pub class: Option<String>,
    pub allocated_gib: Option<u32>,
    pub multi_az: Option<bool>,
    pub new_id: Option<String>,
    /// An engine upgrade, and for a major one the parameter and option groups it moves to
    /// (`None`: the new version's default groups).
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default)]
    pub upgrade_parameter_group: Option<String>,
    #[serde(default)]
    pub upgrade_option_group: Option<String>,
    #[serde(default)]
    pub storage_type: Option<String>,
    #[serde(default)]
    pub iops: Option<u32>,
    /// When the changes were asked (the window after this applies them).
    pub since_ms: u64,
}

impl PendingChanges {
    pub fn is_empty(&self) -> bool {
        self.class.is_none()
            && self.allocated_gib.is_none()
            && self.multi_az.is_none()
            && self.new_id.is_none()
            && self.engine_version.is_none()
            && self.storage_type.is_none()
            && self.iops.is_none()
    }
}

/// What ModifyDBInstance asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbModification {
    pub class: Option<String>,
    pub allocated_gib: Option<u32>,
    pub multi_az: Option<bool>,
    pub new_id: Option<String>,
    pub port: Option<u16>,
    pub master_password: Option<String>,
    pub backup_retention_days: Option<u32>,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub deletion_protection: Option<bool>,
    pub copy_tags_to_snapshot: Option<bool>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub publicly_accessible: Option<bool>,
    /// A new DB parameter group: associated at once, its values taken at the next reboot.
    pub parameter_group: Option<String>,
    /// A new option group: applied at once.
    pub option_group: Option<String>,
    pub engine_version: Option<String>,
    pub allow_major_upgrade: bool,
    pub storage_type: Option<String>,
    pub iops: Option<u32>,
    pub settings: DbSettingsChange,
    /// ManageMasterUserPassword: `Some(true)` hands the password to a secret RDS manages,
    /// `Some(false)` takes it back (with a MasterUserPassword).
    pub manage_password: Option<ManagedPassword>,
    pub unmanage_password: bool,
    /// RotateMasterUserPassword.
    pub rotate_password: bool,
    /// DBSubnetGroupName: another subnet group (of the same VPC or another).
    pub subnet_group: Option<String>,
    pub apply_immediately: bool,
}

/// A master password RDS keeps in Secrets Manager: the KMS key of the secret and the ARN of the
/// instance (the secret's description and tag name it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedPassword {
    pub kms_key_id: Option<String>,
    pub instance_arn: String,
}

impl Row for DbInstance {
    const TABLE: &'static str = "db_instances";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// A log backup of a DB instance: its storage as it was after the writes up to `last_write_ms`,
/// taken at `time_ms` (a point-in-time restore goes back to the newest one at or before the time
/// asked for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbLogBackup {
    pub resource_id: String,
    pub time_ms: u64,
    pub last_write_ms: u64,
    /// Snapshots of the primary storage's volumes in the snapshot store.
    pub volumes: Vec<String>,
}

impl Row for DbLogBackup {
    const TABLE: &'static str = "db_log_backups";
    type Key = String;
    fn key(&self) -> String {
        format!("{}/{:020}", self.resource_id, self.time_ms)
    }
}

/// A DB snapshot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbSnapshotStatus {
    Creating,
    Available,
}

impl DbSnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
        }
    }
}

/// A DB snapshot: a snapshot in the block store's snapshot store of each volume of the
/// instance's primary storage, and what a restore needs to rebuild the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSnapshot {
    /// Lower-case.
    pub id: String,
    pub instance_id: String,
    /// The instance's DbiResourceId.
    pub instance_resource_id: String,
    pub class: String,
    pub engine: String,
    pub engine_version: String,
    pub allocated_gib: u32,
    pub storage_type: String,
    pub iops: Option<u32>,
    pub port: u16,
    pub master_username: Option<String>,
    /// Kept for the restored instance's SQL endpoint; never shown.
    pub master_password: Option<String>,
    pub db_name: Option<String>,
    pub zone: AzName,
    pub vpc_id: String,
    pub instance_created_ms: u64,
    pub status: DbSnapshotStatus,
    pub status_since_ms: u64,
    pub created_ms: u64,
    /// `manual` (CreateDBSnapshot, a final snapshot) or `automated`.
    pub snapshot_type: String,
    /// The snapshot store's snapshots, one per volume of the instance's storage, in order.
    pub volumes: Vec<String>,
    pub encrypted: bool,
    pub tags: BTreeMap<String, String>,
    /// The `restore` attribute: account ids (or `all`) that may restore a manual snapshot.
    #[serde(default)]
    pub restore_accounts: Vec<String>,
    /// For a copy: the ARN of the snapshot it was copied from, and that snapshot's region when
    /// it was another's.
    #[serde(default)]
    pub source_snapshot_arn: Option<String>,
    #[serde(default)]
    pub source_region: Option<String>,
}

impl Row for DbSnapshot {
    const TABLE: &'static str = "db_snapshots";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// A DB parameter group made by the user (the `default.<family>` groups are the engine's
/// defaults and are not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbParameterGroup {
    /// Lower-case, as RDS stores it.
    pub name: String,
    pub family: String,
    pub description: String,
    pub created_ms: u64,
    /// The values set by ModifyDBParameterGroup, by parameter name.
    pub overrides: BTreeMap<String, ParameterOverride>,
    pub tags: BTreeMap<String, String>,
    /// A DB cluster parameter group (its own namespace: a DB parameter group and a DB cluster
    /// parameter group may have the same name).
    #[serde(default)]
    pub cluster: bool,
}

impl Row for DbParameterGroup {
    const TABLE: &'static str = "db_parameter_groups";
    type Key = String;
    fn key(&self) -> String {
        crate::db_parameter_groups::GroupKind::of(self).key(&self.name)
    }
}

/// A parameter's value in a group, and when instances take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterOverride {
    pub value: String,
    /// `pending-reboot`: instances take the value at their next reboot; otherwise (`immediate`,
    /// only for dynamic parameters) at once.
    pub pending_reboot: bool,
}

/// The parameter values an instance started with: the values of its group that wait for a
/// reboot are these until the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootedParameters {
    pub group: String,
    pub values: BTreeMap<String, String>,
    /// For an instance of a DB cluster: its cluster's DB cluster parameter group then, and the
    /// values it set.
    #[serde(default)]
    pub cluster_group: Option<String>,
    #[serde(default)]
    pub cluster_values: BTreeMap<String, String>,
}

/// What kind of resource an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventSource {
    DbInstance,
    DbSnapshot,
    DbCluster,
    DbClusterSnapshot,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DbInstance => "db-instance",
            Self::DbSnapshot => "db-snapshot",
            Self::DbCluster => "db-cluster",
            Self::DbClusterSnapshot => "db-cluster-snapshot",
        }
    }
}

/// One event, as DescribeEvents reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdsEvent {
    /// Order of the events (zero-padded in the table's key).
    pub seq: u64,
    pub source_id: String,
    pub source: EventSource,
    pub message: String,
    pub time_ms: u64,
    pub categories: Vec<String>,
    /// AWS's event id (`RDS-EVENT-0005`).
    pub event_id: String,
    /// The event subscriptions that selected the event when it happened, and their SNS topics:
    /// what RDS published it to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published_to: Vec<(String, String)>,
}

impl Row for RdsEvent {
    const TABLE: &'static str = "rds_events";
    type Key = String;
    fn key(&self) -> String {
        format!("{:020}", self.seq)
    }
}

/// What CreateDBInstance asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbInstanceSpec {
    pub id: String,
    pub class: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub allocated_gib: Option<u32>,
    pub storage_type: Option<String>,
    pub iops: Option<u32>,
    pub master_username: Option<String>,
    pub master_password: Option<String>,
    pub db_name: Option<String>,
    pub zone: Option<String>,
    pub multi_az: bool,
    pub subnet_group: Option<String>,
    pub port: Option<u16>,
    pub parameter_group: Option<String>,
    pub backup_retention_days: Option<u32>,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub deletion_protection: bool,
    pub publicly_accessible: Option<bool>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub copy_tags_to_snapshot: bool,
    pub storage_encrypted: bool,
    pub tags: BTreeMap<String, String>,
    pub settings: DbSettingsChange,
    pub option_group: Option<String>,
    /// ManageMasterUserPassword: RDS makes the password and keeps it in a secret.
    pub managed_password: Option<ManagedPassword>,
}

/// What CreateDBInstanceReadReplica asks for besides the source (the rest comes from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReplicaSpec {
    pub id: String,
    /// The source: an identifier (or ARN) in the replica's region, or the ARN of an instance in
    /// another region.
    pub source: String,
    /// The request carried a `PreSignedUrl` (a cross-region replica's).
    pub pre_signed_url: bool,
    pub class: Option<String>,
    pub zone: Option<String>,
    pub port: Option<u16>,
    pub multi_az: bool,
    pub storage_type: Option<String>,
    pub subnet_group: Option<String>,
    pub publicly_accessible: Option<bool>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub deletion_protection: bool,
    pub copy_tags_to_snapshot: bool,
    pub tags: BTreeMap<String, String>,
    /// VPC security groups (the VPC's default group when none).
    pub security_groups: Option<Vec<String>>,
}

/// The errors of RDS, in squall's terms (the RDS service maps them to AWS's codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdsError {
    #[error("DB instance {0} already exists")]
    InstanceExists(String),
    #[error("DB instance {0} not found")]
    InstanceNotFound(String),
    #[error("DB instance {id} is {status}: {why}")]
    InvalidInstanceState { id: String, status: &'static str, why: &'static str },
    /// InvalidDBInstanceState with RDS's own words for the case.
    #[error("{0}")]
    InvalidInstanceStateMessage(String),
    #[error("{0}")]
    InstanceQuotaExceeded(String),
    #[error("DB snapshot {0} already exists")]
    SnapshotExists(String),
    #[error("DB snapshot {0} not found")]
    SnapshotNotFound(String),
    #[error("DB snapshot {id} is {status}: {why}")]
    InvalidSnapshotState { id: String, status: &'static str, why: &'static str },
    #[error("DB subnet group {0} already exists")]
    SubnetGroupExists(String),
    #[error("DB subnet group {0} not found")]
    SubnetGroupNotFound(String),
    #[error("the DB subnet group covers only {covered:?}: at least 2 zones are needed")]
    SubnetGroupTooFewZones { covered: Vec<String> },
    #[error("DB subnet group {group} is used by DB instance {instance}")]
    SubnetGroupInUse { group: String, instance: String },
    #[error("subnets {0:?} do not exist or are not in one VPC")]
    InvalidSubnets(Vec<String>),
    /// A value outside what RDS accepts (AWS's message, word for word where known).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Values that cannot go together.
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("no storage for {requested_gib} GiB in zone {zone}")]
    InsufficientCapacity { zone: String, requested_gib: u32 },
    #[error("{0} is not the ARN of an RDS resource of this region")]
    InvalidArn(String),
    #[error("{0}")]
    NotBuiltYet(String),
    #[error("DB parameter group {0} already exists")]
    ParameterGroupExists(String),
    #[error("DB parameter group {0} not found")]
    ParameterGroupNotFound(String),
    /// InvalidDBParameterGroupState, with RDS's words for the case.
    #[error("{0}")]
    InvalidParameterGroupState(String),
    #[error("at most {0} DB parameter groups")]
    ParameterGroupQuotaExceeded(usize),
    #[error("a snapshot may be shared with at most {0} accounts")]
    SharedSnapshotQuotaExceeded(usize),
    #[error("certificate {0} not found")]
    CertificateNotFound(String),
    #[error("no automated backup of DB instance resource {0}")]
    AutomatedBackupNotFound(String),
    #[error("{0}")]
    InvalidAutomatedBackupState(String),
    #[error("automated backups are not enabled for DB instance {0}")]
    PointInTimeRestoreNotEnabled(String),
    #[error("{0}")]
    InvalidRestore(String),
    #[error("option group {0} not found")]
    OptionGroupNotFound(String),
    #[error("option group {0} already exists")]
    OptionGroupExists(String),
    #[error("at most {0} option groups")]
    OptionGroupQuotaExceeded(usize),
    #[error("{0}")]
    InvalidOptionGroupState(String),
    #[error("{0}")]
    SubnetInUse(String),
    #[error("role {role} is already associated with DB instance {instance}")]
    RoleAlreadyExists { role: String, instance: String },
    #[error("role {role} is not associated with DB instance {instance}")]
    RoleNotFound { role: String, instance: String },
    #[error("at most {0} roles per DB instance")]
    RoleQuotaExceeded(usize),
    #[error("DB security group {0} not found")]
    SecurityGroupNotFound(String),
    #[error("DB security group {0} already exists")]
    SecurityGroupExists(String),
    #[error("at most {0} DB security groups")]
    SecurityGroupQuotaExceeded(usize),
    #[error("{0}")]
    InvalidSecurityGroupState(String),
    #[error("{grantee} is already authorized in DB security group {group}")]
    AuthorizationExists { grantee: String, group: String },
    #[error("{grantee} is not authorized in DB security group {group}")]
    AuthorizationNotFound { grantee: String, group: String },
    #[error("at most {0} authorizations per DB security group")]
    AuthorizationQuotaExceeded(usize),
    #[error("not an SNS topic ARN: {0}")]
    InvalidTopic(String),
    #[error("event category {0} not found")]
    SubscriptionCategoryNotFound(String),
    #[error("event subscription {0} not found")]
    SubscriptionNotFound(String),
    #[error("event subscription {0} already exists")]
    SubscriptionExists(String),
    #[error("at most {0} event subscriptions")]
    SubscriptionQuotaExceeded(usize),
    #[error("source {0} not found")]
    SourceNotFound(String),
    #[error("DB instance {0} is not ready")]
    InstanceNotReady(String),
    #[error("log file {0} not found")]
    LogFileNotFound(String),
    #[error("DB cluster {0} already exists")]
    ClusterExists(String),
    #[error("DB cluster {0} not found")]
    ClusterNotFound(String),
    /// InvalidDBClusterStateFault, with RDS's words for the case.
    #[error("{0}")]
    InvalidClusterState(String),
    #[error("DB cluster parameter group {0} not found")]
    ClusterParameterGroupNotFound(String),
    #[error("at most {0} DB clusters")]
    ClusterQuotaExceeded(usize),
    #[error("{0}")]
    InsufficientStorageClusterCapacity(String),
    #[error("DB cluster snapshot {0} already exists")]
    ClusterSnapshotExists(String),
    #[error("DB cluster snapshot {0} not found")]
    ClusterSnapshotNotFound(String),
    #[error("{0}")]
    InvalidClusterSnapshotState(String),
    #[error("DB cluster endpoint {0} already exists")]
    ClusterEndpointExists(String),
    #[error("DB cluster endpoint {0} not found")]
    ClusterEndpointNotFound(String),
    #[error("{0}")]
    InvalidClusterEndpointState(String),
    #[error("at most {0} custom endpoints per DB cluster")]
    ClusterEndpointQuotaExceeded(usize),
    #[error("DB proxy {0} already exists")]
    ProxyExists(String),
    #[error("DB proxy {0} not found")]
    ProxyNotFound(String),
    #[error("{0}")]
    InvalidProxyState(String),
    #[error("at most {0} DB proxies")]
    ProxyQuotaExceeded(usize),
    #[error("target group {0} not found")]
    ProxyTargetGroupNotFound(String),
    #[error("target {0} is already registered")]
    ProxyTargetAlreadyRegistered(String),
    #[error("target {0} is not registered")]
    ProxyTargetNotFound(String),
    #[error("DB proxy endpoint {0} already exists")]
    ProxyEndpointExists(String),
    #[error("DB proxy endpoint {0} not found")]
    ProxyEndpointNotFound(String),
    #[error("{0}")]
    InvalidProxyEndpointState(String),
    #[error("at most {0} endpoints per DB proxy")]
    ProxyEndpointQuotaExceeded(usize),
    #[error("global cluster {0} already exists")]
    GlobalClusterExists(String),
    #[error("global cluster {0} not found")]
    GlobalClusterNotFound(String),
    /// InvalidGlobalClusterStateFault, with RDS's words for the case.
    #[error("{0}")]
    InvalidGlobalClusterState(String),
    #[error("at most {0} global clusters")]
    GlobalClusterQuotaExceeded(usize),
    #[error("blue/green deployment {0} already exists")]
    BlueGreenExists(String),
    #[error("blue/green deployment {0} not found")]
    BlueGreenNotFound(String),
    /// InvalidBlueGreenDeploymentStateFault.
    #[error("{0}")]
    InvalidBlueGreenState(String),
    /// SourceDatabaseNotSupportedFault / SourceClusterNotSupportedFault.
    #[error("{0}")]
    BlueGreenSourceNotSupported(String),
}
