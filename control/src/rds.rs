//! RDS's rules: DB subnet groups and DB instances, whose storage lives in the block store of
//! their zone (and, for Multi-AZ, of a standby's zone), with the statuses that advance by
//! themselves and the events RDS writes about them.
//!
//! Storage rule: an instance's AllocatedStorage is striped over one volume below 400 GiB and over
//! four from 400 GiB (as RDS stripes EBS volumes), each volume in the zone's storage cluster under
//! a name of RDS's own (`rds-<resource id>-<zone id>-<n>`), not an EC2 volume: DescribeVolumes
//! never shows it, as on AWS.

use std::collections::BTreeMap;

use crate::db_parameter_groups::GroupKind;
use crate::error::ControlError;
use crate::ids::{AzId, AzName};
use crate::model::lifecycle::LifecycleDelays;
use crate::model::rds::{
    DbInstance, DbInstanceSpec, DbInstanceStatus, DbModification, DbSettingsChange, DbSnapshot, DbSnapshotStatus,
    DbStorage, DbSubnet, DbSubnetGroup, EventSource, PendingChanges, RdsError, RdsEvent, ReadReplicaSpec,
    DEFAULT_SUBNET_GROUP,
};
use crate::model::zone::{Zone, ZoneState};
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState};

const GIB: u64 = 1 << 30;
/// From this size on, RDS stripes an instance's storage over four volumes.
pub const STRIPE_FROM_GIB: u32 = 400;
pub const STRIPES: usize = 4;

/// An engine squall serves: its versions (newest first; the first is the default), parameter
/// group family per major version, and default port.
pub struct Engine {
    pub name: &'static str,
    pub description: &'static str,
    pub versions: &'static [&'static str],
    pub port: u16,
    /// Storage bounds in GiB for gp2/gp3.
    pub min_gib: u32,
    pub max_gib: u32,
}

pub const ENGINES: &[Engine] = &[
    Engine {
        name: "postgres",
        description: "PostgreSQL",
        versions: &["16.4", "16.3", "15.8", "15.7", "14.13", "13.16"],
        port: 5432,
        min_gib: 20,
        max_gib: 65536,
    },
    Engine {
        name: "mysql",
        description: "MySQL Community Edition",
        versions: &["8.0.39", "8.0.36", "8.4.3"],
        port: 3306,
        min_gib: 20,
        max_gib: 65536,
    },
    Engine {
        name: "mariadb",
        description: "MariaDB Community Edition",
        versions: &["10.11.9", "10.6.19", "11.4.3"],
        port: 3306,
        min_gib: 20,
        max_gib: 65536,
    },
];

impl Engine {
    /// The parameter group family of a version (`postgres16`, `mysql8.0`, `mariadb10.11`).
    pub fn family(&self, version: &str) -> String {
        let mut parts = version.split('.');
        let major = parts.next().unwrap_or_default();
        match self.name {
            "postgres" => format!("postgres{major}"),
            _ => format!("{}{major}.{}", self.name, parts.next().unwrap_or("0")),
        }
    }
}

pub fn engine(name: &str) -> Option<&'static Engine> {
    ENGINES.iter().find(|e| e.name == name)
}

/// The event that ends every failover, forced or not.
/// Read replicas one DB instance may have, as RDS allows.
const MAX_READ_REPLICAS: usize = 15;

const FAILOVER_COMPLETED: &str = "Multi-AZ instance failover completed";

/// Instance class families squall knows, and their sizes.
const CLASS_FAMILIES: &[&str] = &["t3", "t4g", "m5", "m6g", "m6i", "m7g", "m7i", "r5", "r6g", "r6i", "r7g"];
const CLASS_SIZES: &[&str] =
    &["micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];

/// Every instance class squall offers, family by family.
pub fn classes() -> Vec<String> {
    let mut out = Vec::new();
    for family in CLASS_FAMILIES {
        for size in CLASS_SIZES {
            let class = format!("db.{family}.{size}");
            if valid_class(&class) {
                out.push(class);
            }
        }
    }
    out
}

pub fn valid_class(class: &str) -> bool {
    let mut parts = class.split('.');
    matches!((parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("db"), Some(family), Some(size), None)
            if CLASS_FAMILIES.contains(&family)
                && CLASS_SIZES.contains(&size)
                // micro/small/medium exist only for the burstable families.
                && (family.starts_with('t') || !matches!(size, "micro" | "small" | "medium")))
}

/// AWS's identifier rule (DB instances): 1–63 letters, digits and hyphens, a letter first, no
/// two hyphens in a row, no hyphen last.
pub fn valid_identifier(id: &str) -> bool {
    identifier_shape(id, 63)
}

/// RDS's identifier shape: 1 to `max_len` letters, digits and hyphens, a letter first, no two
/// hyphens in a row, no hyphen last.
pub(crate) fn identifier_shape(id: &str, max_len: usize) -> bool {
    !id.is_empty()
        && id.len() <= max_len
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-')
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn combination(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterCombination(message.into()).into()
}

/// How many volumes hold an instance's storage of this size.
fn stripes_for(allocated_gib: u32) -> usize {
    if allocated_gib >= STRIPE_FROM_GIB {
        STRIPES
    } else {
        1
    }
}

/// AWS's rule for DB snapshot identifiers: as for instances, up to 255 characters.
pub fn valid_snapshot_identifier(id: &str) -> bool {
    identifier_shape(id, 255)
}

/// When the snapshot becomes available (`u64::MAX`: it is).
pub(crate) fn db_snapshot_next_due(s: &DbSnapshot, d: LifecycleDelays) -> u64 {
    match s.status {
        DbSnapshotStatus::Creating => s.status_since_ms.saturating_add(d.volume_create.as_millis() as u64),
        DbSnapshotStatus::Available => u64::MAX,
    }
}

/// When the instance's next transition falls due (`u64::MAX`: none pending).
pub(crate) fn db_instance_next_due(i: &DbInstance, d: LifecycleDelays) -> u64 {
    let step = d.volume_create.as_millis() as u64;
    match i.status {
        DbInstanceStatus::Creating
        | DbInstanceStatus::BackingUp
        | DbInstanceStatus::Rebooting
        | DbInstanceStatus::Modifying
        | DbInstanceStatus::Stopping
        | DbInstanceStatus::Starting
        | DbInstanceStatus::Deleting
        | DbInstanceStatus::Renaming => i.status_since_ms.saturating_add(step),
        DbInstanceStatus::Available if !i.pending.is_empty() => {
            next_window_start(&i.maintenance_window, i.pending.since_ms).unwrap_or(u64::MAX)
        }
        // The next backup window after the newest automated backup.
        DbInstanceStatus::Available if i.backup_retention_days > 0 && i.read_replica_source.is_none() => {
            let since = i.last_backup_ms.max(i.created_ms);
            last_daily_window_start(&i.backup_window, since).map_or(u64::MAX, |w| w + 86_400_000)
        }
        DbInstanceStatus::Available | DbInstanceStatus::Stopped | DbInstanceStatus::StorageFull => u64::MAX,
    }
}

/// Minutes since Monday 00:00 of a `ddd:hh24:mi` point (lower-case day).
fn week_minute(point: &str) -> Option<u32> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (day, time) = point.split_once(':')?;
    let day = DAYS.iter().position(|d| *d == day)? as u32;
    Some(day * 24 * 60 + minutes(time)?)
}

/// When a weekly window (`ddd:hh24:mi-ddd:hh24:mi`, UTC) next opens after `after_ms`.
pub(crate) fn next_window_start(window: &str, after_ms: u64) -> Option<u64> {
    const WEEK_MIN: u64 = 7 * 24 * 60;
    // 1970-01-01 was a Thursday: minutes since then, shifted so Monday 00:00 is 0.
    const EPOCH_WEEKDAY_FROM_MONDAY: u64 = 3;
    let (start, _) = window.split_once('-')?;
    let at = u64::from(week_minute(start)?);
    let now_min = after_ms / 60_000;
    let week_pos = (now_min + EPOCH_WEEKDAY_FROM_MONDAY * 24 * 60) % WEEK_MIN;
    let wait = (at + WEEK_MIN - week_pos) % WEEK_MIN;
    let wait = if wait == 0 { WEEK_MIN } else { wait };
    Some((now_min + wait) * 60_000)
}

impl RegionState {
    // ---- reads ---------------------------------------------------------------------------------

    /// DB instances in identifier order.
    pub fn db_instances(&self) -> impl Iterator<Item = &DbInstance> {
        self.db_instances.values()
    }

    pub fn db_instance(&self, id: &str) -> Result<&DbInstance, ControlError> {
        self.db_instances.get(&id.to_ascii_lowercase()).ok_or_else(|| RdsError::InstanceNotFound(id.into()).into())
    }

    /// The default VPC's subnets, as the subnet group named `default` (RDS shows it so).
    pub(crate) fn default_subnet_group(&self) -> Option<DbSubnetGroup> {
        let vpc = self.default_vpc()?;
        let subnets: Vec<DbSubnet> = self
            .subnets()
            .into_iter()
            .filter(|s| s.vpc_id == vpc.id && s.default_for_az)
            .map(|s| DbSubnet { subnet_id: s.id.clone(), zone: s.zone.clone(), zone_id: s.zone_id.clone() })
            .collect();
        Some(DbSubnetGroup {
            name: DEFAULT_SUBNET_GROUP.to_string(),
            description: "default".to_string(),
            vpc_id: vpc.id.clone(),
            subnets,
            created_ms: 0,
            tags: BTreeMap::new(),
        })
    }

    /// DB subnet groups in name order (`default` among them while the default VPC exists).
    pub fn db_subnet_groups(&self) -> Vec<DbSubnetGroup> {
        let mut all: Vec<DbSubnetGroup> = self.db_subnet_groups.values().cloned().collect();
        if let Some(default) = self.default_subnet_group() {
            all.push(default);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn db_subnet_group(&self, name: &str) -> Result<DbSubnetGroup, ControlError> {
        let key = name.to_ascii_lowercase();
        if key == DEFAULT_SUBNET_GROUP {
            return self.default_subnet_group().ok_or_else(|| RdsError::SubnetGroupNotFound(name.into()).into());
        }
        self.db_subnet_groups.get(&key).cloned().ok_or_else(|| RdsError::SubnetGroupNotFound(name.into()).into())
    }

    /// Events in the order they happened.
    pub fn rds_events(&self) -> impl Iterator<Item = &RdsEvent> {
        self.rds_events.values()
    }

    // ---- subnet groups -------------------------------------------------------------------------

    pub(crate) fn create_db_subnet_group(
        &mut self,
        name: &str,
        description: &str,
        subnet_ids: &[String],
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbSubnetGroup, ControlError> {
        let key = name.to_ascii_lowercase();
        let valid_name = !key.is_empty()
            && key.len() <= 255
            && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '));
        if !valid_name || key == DEFAULT_SUBNET_GROUP {
            return Err(invalid(format!(
                "The parameter DBSubnetGroupName is not a valid identifier: {name}. It must contain at most 255 \
                 letters, digits, periods, underscores, spaces or hyphens, and must not be default."
            )));
        }
        if description.is_empty() {
            return Err(invalid("The parameter DBSubnetGroupDescription must be provided and must not be blank."));
        }
        if self.db_subnet_groups.contains_key(&key) {
            return Err(RdsError::SubnetGroupExists(key).into());
        }
        let subnets = self.db_subnets(subnet_ids)?;
        let group = DbSubnetGroup {
            name: key.clone(),
            description: description.to_string(),
            vpc_id: subnets.0,
            subnets: subnets.1,
            created_ms: now_ms,
            tags,
        };
        self.db_subnet_groups.insert(key, group.clone());
        Ok(group)
    }

    /// The subnets of a group: they exist, lie in one VPC, and cover at least two zones.
    pub(crate) fn db_subnets(&self, subnet_ids: &[String]) -> Result<(String, Vec<DbSubnet>), ControlError> {
        if subnet_ids.is_empty() {
            return Err(invalid("The parameter SubnetIds must be provided and must not be empty."));
        }
        let mut subnets = Vec::new();
        let mut unknown = Vec::new();
        for id in subnet_ids {
            match self.subnet(id) {
                Ok(s) => subnets.push(s.clone()),
                Err(_) => unknown.push(id.clone()),
            }
        }
        let vpc = subnets.first().map(|s| s.vpc_id.clone()).unwrap_or_default();
        if !unknown.is_empty() || subnets.iter().any(|s| s.vpc_id != vpc) {
            let mut named = unknown;
            named.extend(subnets.iter().filter(|s| s.vpc_id != vpc).map(|s| s.id.clone()));
            return Err(RdsError::InvalidSubnets(named).into());
        }
        let mut zones: Vec<String> = subnets.iter().map(|s| s.zone.to_string()).collect();
        zones.sort();
        zones.dedup();
        if zones.len() < 2 {
            return Err(RdsError::SubnetGroupTooFewZones { covered: zones }.into());
        }
        let mut out: Vec<DbSubnet> =
            subnets.into_iter().map(|s| DbSubnet { subnet_id: s.id, zone: s.zone, zone_id: s.zone_id }).collect();
        out.dedup_by(|a, b| a.subnet_id == b.subnet_id);
        Ok((vpc, out))
    }

    /// ModifyDBSubnetGroup: a new description and set of subnets, which must stay in the VPC of
    /// the instances using the group and keep covering their zones.
    pub(crate) fn modify_db_subnet_group(
        &mut self,
        name: &str,
        description: Option<&str>,
        subnet_ids: &[String],
    ) -> Result<DbSubnetGroup, ControlError> {
        let key = name.to_ascii_lowercase();
        if key == DEFAULT_SUBNET_GROUP {
            return Err(invalid("The default DB subnet group cannot be modified."));
        }
        let mut group =
            self.db_subnet_groups.get(&key).cloned().ok_or_else(|| RdsError::SubnetGroupNotFound(name.into()))?;
        let (vpc, subnets) = self.db_subnets(subnet_ids)?;
        let users: Vec<DbInstance> =
            self.db_instances.values().filter(|i| i.subnet_group.as_deref() == Some(key.as_str())).cloned().collect();
        if !users.is_empty() && vpc != group.vpc_id {
            return Err(invalid(format!(
                "The new subnets are in {vpc}, not in {} where DB instances of the group are.",
                group.vpc_id
            )));
        }
        for i in &users {
            for zone in std::iter::once(&i.primary.zone).chain(i.standby.as_ref().map(|s| &s.zone)) {
                if !subnets.iter().any(|s| s.zone == *zone) {
                    let dropped: Vec<&str> =
                        group.subnets.iter().filter(|s| s.zone == *zone).map(|s| s.subnet_id.as_str()).collect();
                    return Err(RdsError::SubnetInUse(format!(
                        "Some of the subnets to be deleted are currently in use: {} (DB instance {} is in {zone}).",
                        dropped.join(", "),
                        i.id
                    ))
                    .into());
                }
            }
        }
        group.vpc_id = vpc;
        group.subnets = subnets;
        if let Some(d) = description {
            group.description = d.to_string();
        }
        self.db_subnet_groups.insert(key, group.clone());
        Ok(group)
    }

    pub(crate) fn delete_db_subnet_group(&mut self, name: &str) -> Result<(), ControlError> {
        let key = name.to_ascii_lowercase();
        if key == DEFAULT_SUBNET_GROUP {
            return Err(invalid("The default DB subnet group cannot be deleted."));
        }
        if !self.db_subnet_groups.contains_key(&key) {
            return Err(RdsError::SubnetGroupNotFound(name.into()).into());
        }
        if let Some(user) = self.db_instances.values().find(|i| i.subnet_group.as_deref() == Some(key.as_str())) {
            return Err(RdsError::SubnetGroupInUse { group: key, instance: user.id.clone() }.into());
        }
        self.db_subnet_groups.remove(&key);
        Ok(())
    }

    // ---- instances -----------------------------------------------------------------------------

    /// CreateDBInstance: checks the request as RDS does, places the primary (and a standby in
    /// another zone of the subnet group), and creates their storage in the block store.
    pub(crate) fn create_db_instance(
        &mut self,
        spec: DbInstanceSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        self.new_db_instance(spec, zones, address, now_ms, None)
    }

    /// A new instance, its storage made empty or restored from `from`'s volumes.
    fn new_db_instance(
        &mut self,
        spec: DbInstanceSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
        from: Option<&DbSnapshot>,
    ) -> Result<DbInstance, ControlError> {
        let id = spec.id.to_ascii_lowercase();
        if !valid_identifier(&id) {
            return Err(invalid(
                "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a \
                 letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
                 contain two consecutive hyphens.",
            ));
        }
        let engine = engine(&spec.engine).ok_or_else(|| invalid(format!("Invalid DB engine: {}", spec.engine)))?;
        let version = match &spec.engine_version {
            None => engine.versions[0].to_string(),
            Some(v) => {
                // A major version alone (`16`, `8.0`) picks its newest minor.
                let found = engine.versions.iter().find(|known| *known == v || known.starts_with(&format!("{v}.")));
                found.ok_or_else(|| invalid(format!("Cannot find version {v} for {}", engine.name)))?.to_string()
            }
        };
        if !valid_class(&spec.class) {
            return Err(combination(format!(
                "RDS does not support creating a DB instance with the following combination: \
                 DBInstanceClass={}, Engine={}, EngineVersion={version}, LicenseModel={}. For supported \
                 combinations of instance class and database engine version, see the documentation.",
                spec.class,
                engine.name,
                license(engine.name)
            )));
        }
        let storage_type = spec.storage_type.clone().unwrap_or_else(|| "gp2".to_string());
        if !matches!(storage_type.as_str(), "gp2" | "gp3" | "io1" | "io2" | "standard") {
            return Err(invalid(format!("Invalid storage type: {storage_type}")));
        }
        let parameter_group = match &spec.parameter_group {
            Some(name) => self.db_parameter_group_for(name, &engine.family(&version))?,
            None => crate::db_parameter_groups::default_group_name(&engine.family(&version)),
        };
        let option_group =
            spec.option_group.as_deref().map(|g| self.db_option_group_for(g, engine.name, &version)).transpose()?;
        let allocated = spec
            .allocated_gib
            .ok_or_else(|| invalid("The parameter AllocatedStorage must be provided and must not be null."))?;
        let (min, max) = match storage_type.as_str() {
            "io1" | "io2" => (100, engine.max_gib),
            "standard" => (5, 3072),
            _ => (engine.min_gib, engine.max_gib),
        };
        if allocated < min || allocated > max {
            return Err(invalid(format!(
                "Invalid storage size for engine name {} and storage type {storage_type}: {allocated}",
                engine.name
            )));
        }
        if matches!(storage_type.as_str(), "io1" | "io2") && spec.iops.is_none() {
            return Err(invalid("The parameter Iops must be provided for storage type io1 and io2."));
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
        let password = match (&spec.managed_password, &spec.master_password) {
            (Some(_), Some(_)) => {
                return Err(combination(
                    "You can't specify MasterUserPassword when ManageMasterUserPassword is turned on.",
                ))
            }
            (Some(_), None) => self.generate_password(),
            (None, password) => password
                .clone()
                .ok_or_else(|| invalid("The parameter MasterUserPassword must be provided and must not be blank."))?,
        };
        if password.len() < 8 {
            return Err(invalid(
                "The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.",
            ));
        }
        if password.len() > 128 || password.chars().any(|c| matches!(c, '/' | '"' | '@') || c.is_whitespace()) {
            return Err(invalid(
                "The parameter MasterUserPassword is not a valid password. Only printable ASCII characters \
                 besides '/', '@', '\"', ' ' may be used.",
            ));
        }
        if spec.multi_az && spec.zone.is_some() {
            return Err(combination("Requesting a specific availability zone is not valid for Multi-AZ instances."));
        }
        let retention = spec.backup_retention_days.unwrap_or(1);
        if retention > 35 {
            return Err(invalid(format!(
                "Invalid backup retention period: {retention}. It must be between 0 and 35 days."
            )));
        }
        let backup_window = match &spec.backup_window {
            Some(w) => check_backup_window(w)?,
            None => "03:00-03:30".to_string(),
        };
        let maintenance_window = match &spec.maintenance_window {
            Some(w) => check_maintenance_window(w)?,
            None => "sun:05:00-sun:05:30".to_string(),
        };
        if self.db_instances.contains_key(&id) {
            return Err(RdsError::InstanceExists(id).into());
        }
        let group = match &spec.subnet_group {
            Some(name) => self.db_subnet_group(name)?,
            None => self
                .default_subnet_group()
                .ok_or_else(|| invalid("There is no default VPC: name a DBSubnetGroupName."))?,
        };
        let settings = self.db_settings(
            &Default::default(),
            &spec.settings,
            &crate::db_instance_settings::InstanceFacts {
                engine: engine.name,
                engine_version: &version,
                vpc_id: &group.vpc_id,
                allocated_gib: allocated,
                storage_type: &storage_type,
                encrypted: spec.storage_encrypted,
                creating: true,
            },
        )?;
        // The zones of the group that are up, in the group's order.
        let mut group_zones: Vec<(AzName, AzId)> = Vec::new();
        for s in &group.subnets {
            if !group_zones.iter().any(|(z, _)| *z == s.zone) {
                group_zones.push((s.zone.clone(), s.zone_id.clone()));
            }
        }
        let up = |zone: &AzName| zones.iter().any(|z| z.name == *zone && z.state != ZoneState::Unavailable);
        let primary_zone = match &spec.zone {
            Some(z) => {
                let found = group_zones.iter().find(|(name, _)| name.as_str() == z).cloned();
                found.ok_or_else(|| {
                    combination(format!(
                        "No default subnet detected in VPC. Please contact AWS Support to recreate default \
                         Subnets, or the DB subnet group does not cover Availability Zone {z}."
                    ))
                })?
            }
            None => {
                let candidates: Vec<&(AzName, AzId)> = group_zones.iter().filter(|(z, _)| up(z)).collect();
                if candidates.is_empty() {
                    return Err(RdsError::InsufficientCapacity { zone: "any".into(), requested_gib: allocated }.into());
                }
                let pick = (self.next_random() % candidates.len() as u128) as usize;
                candidates[pick].clone()
            }
        };
        if !up(&primary_zone.0) {
            return Err(
                RdsError::InsufficientCapacity { zone: primary_zone.0.to_string(), requested_gib: allocated }.into()
            );
        }
        let standby_zone = if spec.multi_az {
            let others: Vec<&(AzName, AzId)> =
                group_zones.iter().filter(|(z, _)| *z != primary_zone.0 && up(z)).collect();
            if others.is_empty() {
                return Err(
                    RdsError::InsufficientCapacity { zone: "a second zone".into(), requested_gib: allocated }.into()
                );
            }
            let pick = (self.next_random() % others.len() as u128) as usize;
            Some(others[pick].clone())
        } else {
            None
        };
        let resource_id = self.resource_id();
        let source = from.map(|s| s.volumes.as_slice());
        let primary = self.create_db_storage(&resource_id, &primary_zone, allocated, source)?;
        let standby = match &standby_zone {
            Some(z) => match self.create_db_storage(&resource_id, z, allocated, source) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.drop_db_storage(&primary);
                    return Err(e);
                }
            },
            None => None,
        };
        let instance = DbInstance {
            id: id.clone(),
            resource_id,
            class: spec.class.clone(),
            engine: engine.name.to_string(),
            engine_version: version,
            status: DbInstanceStatus::Creating,
            status_since_ms: now_ms,
            master_secret: match &spec.managed_password {
                Some(m) => Some(self.create_rds_master_secret(
                    &m.instance_arn,
                    &username,
                    &password,
                    m.kms_key_id.clone(),
                    now_ms,
                )?),
                None => None,
            },
            master_secret_kms_key: spec.managed_password.as_ref().and_then(|m| m.kms_key_id.clone()),
            cross_region_replicas: Vec::new(),
            last_backup_ms: 0,
            master_username: Some(username),
            master_password: Some(password),
            db_name: spec.db_name.clone(),
            allocated_gib: allocated,
            storage_type,
            iops: spec.iops,
            port: spec.port.unwrap_or_else(|| self.free_db_port(engine.port)),
            address: address.to_string(),
            multi_az: spec.multi_az,
            primary,
            standby,
            subnet_group: spec.subnet_group.as_ref().map(|g| g.to_ascii_lowercase()),
            vpc_id: group.vpc_id.clone(),
            booted_parameters: Some(crate::model::rds::BootedParameters {
                group: parameter_group.clone(),
                values: self.group_values(crate::db_parameter_groups::GroupKind::Instance, &parameter_group),
                ..Default::default()
            }),
            settings,
            retain_automated_backups: false,
            option_group,
            roles: Vec::new(),
            cluster: None,
            promotion_tier: 1,
            writes_blocked: false,
            parameter_group,
            backup_retention_days: retention,
            backup_window,
            maintenance_window,
            deletion_protection: spec.deletion_protection,
            publicly_accessible: spec.publicly_accessible.unwrap_or(false),
            auto_minor_version_upgrade: spec.auto_minor_version_upgrade.unwrap_or(true),
            copy_tags_to_snapshot: spec.copy_tags_to_snapshot,
            storage_encrypted: spec.storage_encrypted,
            created_ms: now_ms,
            failing_over: false,
            tags: spec.tags,
            pending: PendingChanges::default(),
            modifying: Vec::new(),
            storage_stuck_since_ms: None,
            standby_in_sync: true,
            failover_refused: false,
            read_replica_source: None,
            promoting: false,
        };
        self.db_instances.insert(id.clone(), instance.clone());
        match from {
            None => self.rds_event(&id, "DB instance created", "RDS-EVENT-0005", "creation", now_ms),
            // A point-in-time restore copies a live instance, not a snapshot: its caller says so.
            Some(s) if s.id.starts_with(crate::db_backups::TRANSIENT_PREFIX) => {}
            Some(s) => {
                let message = format!("Restored from snapshot {}", s.id);
                self.rds_event(&id, &message, "RDS-EVENT-0043", "creation", now_ms)
            }
        }
        Ok(instance)
    }

    /// A new instance whose volumes are restored from `from`'s.
    pub(crate) fn new_db_instance_from(
        &mut self,
        spec: DbInstanceSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
        from: &DbSnapshot,
    ) -> Result<DbInstance, ControlError> {
        self.new_db_instance(spec, zones, address, now_ms, Some(from))
    }

    /// The lowest port of the configured range that no instance of the region has (the engine's
    /// own port when all are taken).
    pub(crate) fn free_db_port(&self, engine_port: u16) -> u16 {
        self.free_db_port_except(engine_port, &[])
    }

    /// A port of `--rds-ports` no endpoint uses and not in `also_taken` (`fallback` when none is).
    pub(crate) fn free_db_port_except(&self, fallback: u16, also_taken: &[u16]) -> u16 {
        let taken: std::collections::BTreeSet<u16> = self
            .db_instances
            .values()
            .map(|i| i.port)
            .chain(self.db_clusters.values().flat_map(|c| [c.port, c.reader_port]))
            .chain(also_taken.iter().copied())
            .collect();
        self.db_ports.clone().find(|p| !taken.contains(p)).unwrap_or(fallback)
    }

    /// A managed secret rotated: its instance takes the new password.
    pub(crate) fn set_managed_master_password(&mut self, secret: &str, password: &str) {
        let id = self.db_instances.values().find(|i| i.master_secret.as_deref() == Some(secret)).map(|i| i.id.clone());
        if let Some(i) = id.and_then(|id| self.db_instances.get_mut(&id)) {
            i.master_password = Some(password.to_string());
        }
    }

    /// A DbiResourceId for a new instance.
    pub(crate) fn instance_resource_id(&mut self) -> String {
        self.resource_id()
    }

    /// `db-` and 26 upper-case letters and digits, as RDS's DbiResourceId.
    fn resource_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut n = self.next_random();
        let mut id = String::from("db-");
        for _ in 0..26 {
            id.push(ALPHABET[(n % 32) as usize] as char);
            n /= 32;
        }
        id
    }

    /// The volumes of one copy of an instance's storage, made in its zone's cluster.
    pub(crate) fn create_db_storage(
        &mut self,
        resource_id: &str,
        zone: &(AzName, AzId),
        allocated_gib: u32,
        from: Option<&[String]>,
    ) -> Result<DbStorage, ControlError> {
        let count = from.map_or(stripes_for(allocated_gib), <[String]>::len);
        let per_volume = u64::from(allocated_gib).div_ceil(count as u64) * GIB;
        let (cluster, snapshots) = self.store.cluster_and_snapshots(zone.1.as_str()).map_err(storage_error)?;
        let mut made = Vec::new();
        for n in 0..count {
            let name = format!("rds-{}-{}-{n}", resource_id.to_ascii_lowercase(), zone.1);
            let created = store_name(&name).and_then(|store| match from.and_then(|f| f.get(n)) {
                None => cluster.lock().create_volume(&store, per_volume).map_err(storage_error),
                Some(snapshot) => snapshots
                    .restore(&store_name(snapshot)?, &mut cluster.lock(), &store, per_volume)
                    .map_err(storage_error),
            });
            if let Err(e) = created {
                self.drop_db_storage(&DbStorage { zone: zone.0.clone(), zone_id: zone.1.clone(), volumes: made });
                return Err(match e {
                    ControlError::Volume(crate::error::VolumeError::InsufficientVolumeCapacity { .. }) => {
                        RdsError::InsufficientCapacity { zone: zone.0.to_string(), requested_gib: allocated_gib }.into()
                    }
                    other => other,
                });
            }
            made.push(name);
        }
        Ok(DbStorage { zone: zone.0.clone(), zone_id: zone.1.clone(), volumes: made })
    }

    /// Deletes the volumes of one copy of an instance's storage (what is gone already is fine).
    pub(crate) fn drop_db_storage(&mut self, storage: &DbStorage) {
        let Ok(cluster) = self.store.cluster(storage.zone_id.as_str()) else { return };
        for name in &storage.volumes {
            let dropped = store_name(name).and_then(|n| match cluster.lock().delete_volume(&n) {
                Ok(()) | Err(squall_storage::StorageError::VolumeNotFound(_)) => Ok(()),
                Err(e) => Err(storage_error(e)),
            });
            if let Err(e) = dropped {
                tracing::warn!(volume = %name, "could not drop an RDS volume: {e}");
            }
        }
    }

    /// Whether a storage volume name belongs to a DB instance (restart keeps it).
    pub(crate) fn is_db_storage(&self, name: &str) -> bool {
        if self.is_cluster_storage(name) {
            return true;
        }
        name.starts_with("rds-")
            && self.db_instances.values().any(|i| {
                i.primary.volumes.iter().chain(i.standby.iter().flat_map(|s| s.volumes.iter())).any(|v| v == name)
            })
    }

    pub(crate) fn instance_mut(&mut self, id: &str) -> Result<&mut DbInstance, ControlError> {
        self.db_instances.get_mut(&id.to_ascii_lowercase()).ok_or_else(|| RdsError::InstanceNotFound(id.into()).into())
    }

    pub(crate) fn rds_event(&mut self, source_id: &str, message: &str, event_id: &str, category: &str, now_ms: u64) {
        self.rds_event_of(EventSource::DbInstance, source_id, message, event_id, category, now_ms);
    }

    pub(crate) fn rds_event_of(
        &mut self,
        source: EventSource,
        source_id: &str,
        message: &str,
        event_id: &str,
        category: &str,
        now_ms: u64,
    ) {
        let seq = self.rds_events.values().next_back().map_or(1, |e| e.seq + 1);
        let event = RdsEvent {
            seq,
            source_id: source_id.to_string(),
            source,
            message: message.to_string(),
            time_ms: now_ms,
            categories: vec![category.to_string()],
            event_id: event_id.to_string(),
            published_to: Vec::new(),
        };
        let published_to = self
            .event_subscriptions
            .values()
            .filter(|s| s.selects(&event))
            .map(|s| (s.name.clone(), s.topic_arn.clone()))
            .collect();
        let event = RdsEvent { published_to, ..event };
        self.rds_events.insert(event.key_string(), event);
    }

    /// DeleteDBInstance.
    pub(crate) fn delete_db_instance(
        &mut self,
        id: &str,
        skip_final_snapshot: bool,
        final_snapshot: Option<&str>,
        delete_automated_backups: bool,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?.clone();
        self.check_not_in_deployment(&instance.resource_id, "DB instance")?;
        let multi_az_cluster = instance.cluster.as_deref().and_then(|c| self.db_clusters.get(c));
        if multi_az_cluster.is_some_and(|c| c.instance_class.is_some()) {
            return Err(RdsError::InvalidClusterState(format!(
                "The DB instance {} belongs to a Multi-AZ DB cluster: delete the DB cluster instead.",
                instance.id
            ))
            .into());
        }
        if instance.deletion_protection {
            return Err(combination(
                "Cannot delete protected DB Instance, please disable deletion protection and try again.",
            ));
        }
        // An instance of an Aurora cluster keeps no storage of its own: the cluster's snapshots
        // are the cluster's business, and no final snapshot is asked for.
        let replica = instance.read_replica_source.is_some() || instance.cluster.is_some();
        match (skip_final_snapshot, final_snapshot) {
            (_, Some(_)) if replica => {
                return Err(combination(
                    "FinalDBSnapshotIdentifier can not be specified when deleting a replica instance",
                ))
            }
            (_, None) if replica => {}
            (true, Some(_)) => {
                return Err(combination("Cannot specify both SkipFinalSnapshot and FinalDBSnapshotIdentifier."))
            }
            (false, None) => {
                return Err(combination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified."))
            }
            (false, Some(_)) | (true, None) => {}
        }
        match instance.status {
            DbInstanceStatus::Deleting => {
                return Err(RdsError::InvalidInstanceState {
                    id: instance.id,
                    status: "deleting",
                    why: "it is already being deleted",
                }
                .into())
            }
            DbInstanceStatus::Available | DbInstanceStatus::Stopped | DbInstanceStatus::BackingUp => {}
            other => {
                return Err(RdsError::InvalidInstanceState {
                    id: instance.id,
                    status: other.as_str(),
                    why: "it must be available or stopped to be deleted",
                }
                .into())
            }
        }
        if let Some(snapshot) = final_snapshot {
            self.create_db_snapshot(id, snapshot, BTreeMap::new(), now_ms)?;
        }
        let i = self.instance_mut(id)?;
        i.status = DbInstanceStatus::Deleting;
        i.status_since_ms = now_ms;
        i.retain_automated_backups = !delete_automated_backups;
        let out = i.clone();
        Ok(out)
    }

    // ---- read replicas -------------------------------------------------------------------------

    /// The read replicas of `source`, by identifier.
    pub fn read_replicas_of(&self, source: &str) -> Vec<String> {
        self.db_instances
            .values()
            .filter(|i| i.read_replica_source.as_deref() == Some(source))
            .map(|i| i.id.clone())
            .collect()
    }

    /// CreateDBInstanceReadReplica: a new instance with the source's engine, storage size and
    /// credentials, in the source's subnet group; its storage starts empty and its SQL endpoint
    /// copies the source's bytes before it serves, then receives its writes asynchronously.
    pub(crate) fn create_db_read_replica(
        &mut self,
        spec: ReadReplicaSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let source = self.db_instance(&spec.source)?.clone();
        self.check_replica_source(&source)?;
        let source_ref = source.id.clone();
        self.create_replica_of(&source, source_ref, true, spec, zones, address, now_ms)
    }

    /// What RDS requires of a read replica's source (counting its replicas in this region and in
    /// others).
    pub(crate) fn check_replica_source(&self, source: &DbInstance) -> Result<(), ControlError> {
        if source.cluster.is_some() {
            return Err(combination(
                "The source is an instance of an Aurora DB cluster: its readers are the cluster's own instances.",
            ));
        }
        if source.status != DbInstanceStatus::Available {
            return Err(RdsError::InvalidInstanceState {
                id: source.id.clone(),
                status: source.status.as_str(),
                why: "it must be available to be the source of a read replica",
            }
            .into());
        }
        if source.backup_retention_days == 0 {
            return Err(RdsError::InvalidInstanceStateMessage(
                "Automated backups are not enabled for this database instance. To enable automated backups, use \
                 ModifyDBInstance to set the backup retention period to a non-zero value."
                    .into(),
            )
            .into());
        }
        if source.read_replica_source.is_some() && !source.engine.contains("postgres") {
            return Err(RdsError::InvalidInstanceState {
                id: source.id.clone(),
                status: "available",
                why: "it is a read replica itself, and only PostgreSQL replicas can be sources (cascading)",
            }
            .into());
        }
        if self.read_replicas_of(&source.id).len() + source.cross_region_replicas.len() >= MAX_READ_REPLICAS {
            return Err(RdsError::InstanceQuotaExceeded(format!(
                "DB instance {} already has {MAX_READ_REPLICAS} read replicas, the most it may have.",
                source.id
            ))
            .into());
        }
        Ok(())
    }

    /// A read replica of `source` (a row of this region, or of another region's for a
    /// cross-region replica, `source_ref` then its ARN): its storage starts empty and its SQL
    /// endpoint copies the source's bytes before it serves.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_replica_of(
        &mut self,
        source: &DbInstance,
        source_ref: String,
        same_region: bool,
        spec: ReadReplicaSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let base = DbInstanceSpec {
            id: spec.id.clone(),
            class: spec.class.clone().unwrap_or_else(|| source.class.clone()),
            engine: source.engine.clone(),
            engine_version: Some(source.engine_version.clone()),
            allocated_gib: Some(source.allocated_gib),
            storage_type: spec.storage_type.clone().or_else(|| Some(source.storage_type.clone())),
            iops: source.iops,
            master_username: source.master_username.clone(),
            master_password: source.master_password.clone(),
            db_name: source.db_name.clone(),
            zone: spec.zone.clone(),
            multi_az: spec.multi_az,
            // Groups are regional: a replica in another region takes its own or the defaults.
            subnet_group: spec.subnet_group.clone().or_else(|| source.subnet_group.clone().filter(|_| same_region)),
            port: spec.port,
            parameter_group: Some(source.parameter_group.clone()).filter(|_| same_region),
            backup_retention_days: Some(0),
            backup_window: Some(source.backup_window.clone()),
            maintenance_window: None,
            deletion_protection: spec.deletion_protection,
            publicly_accessible: spec.publicly_accessible.or(Some(source.publicly_accessible)),
            auto_minor_version_upgrade: spec.auto_minor_version_upgrade.or(Some(source.auto_minor_version_upgrade)),
            copy_tags_to_snapshot: spec.copy_tags_to_snapshot,
            storage_encrypted: source.storage_encrypted,
            tags: spec.tags,
            settings: DbSettingsChange { security_groups: spec.security_groups.clone(), ..Default::default() },
            option_group: source.option_group.clone().filter(|_| same_region),
            managed_password: None,
        };
        self.new_db_instance(base, zones, address, now_ms, None)?;
        let row = self.instance_mut(&spec.id)?;
        row.read_replica_source = Some(source_ref.clone());
        let made = row.clone();
        let message =
            format!("Read replica {} of {source_ref} created: replication starts when it is available", made.id);
        self.rds_event(&made.id, &message, "RDS-EVENT-0046", "read replica", now_ms);
        Ok(made)
    }

    /// Daily automated backups: an available instance whose backup window opened since its newest
    /// automated snapshot backs up (`backing-up`, then the snapshot when that settles), and its
    /// automated snapshots older than the retention period go.
    fn start_daily_backups(&mut self, now_ms: u64) {
        // Cheap when nothing is due: the windows first, the snapshots only for those opened.
        let opened: Vec<(String, String, u64)> = self
            .db_instances
            .values()
            .filter(|i| {
                i.status == DbInstanceStatus::Available
                    && i.backup_retention_days > 0
                    && i.read_replica_source.is_none()
                    // A cluster's instances have no storage of their own: the cluster backs up.
                    && i.cluster.is_none()
                    && i.pending.is_empty()
            })
            .filter_map(|i| {
                let opened = last_daily_window_start(&i.backup_window, now_ms)?;
                // An instance newer than the window waits for the next one.
                (i.created_ms < opened).then(|| (i.id.clone(), i.resource_id.clone(), opened))
            })
            .collect();
        if opened.is_empty() {
            return;
        }
        let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
        for s in self.db_snapshots.values().filter(|s| s.snapshot_type == "automated") {
            let n = newest.entry(s.instance_resource_id.as_str()).or_default();
            *n = (*n).max(s.created_ms);
        }
        let mut due = Vec::new();
        for (id, resource, at) in opened {
            match newest.get(resource.as_str()) {
                Some(n) if *n < at => due.push(id),
                // Backed up since the window opened (backups turned on): the next window.
                Some(n) => {
                    let n = *n;
                    if let Some(row) = self.db_instances.get_mut(&id) {
                        row.last_backup_ms = row.last_backup_ms.max(n);
                    }
                }
                None => {}
            }
        }
        for id in due {
            let Some(i) = self.db_instances.get(&id).cloned() else { continue };
            let keep_from = now_ms.saturating_sub(u64::from(i.backup_retention_days) * 86_400_000);
            let expired: Vec<String> = self
                .db_snapshots
                .values()
                .filter(|s| {
                    s.snapshot_type == "automated"
                        && s.instance_resource_id == i.resource_id
                        && s.created_ms < keep_from
                })
                .map(|s| s.id.clone())
                .collect();
            for snapshot in expired {
                if let Some(gone) = self.db_snapshots.remove(&snapshot) {
                    for name in &gone.volumes {
                        let dropped = crate::state::store_name(name)
                            .and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error));
                        if let Err(e) = dropped {
                            tracing::warn!(snapshot = %name, "could not drop an expired automated backup: {e}");
                        }
                    }
                }
            }
            if let Some(row) = self.db_instances.get_mut(&id) {
                row.status = DbInstanceStatus::BackingUp;
                row.status_since_ms = now_ms;
            }
            self.rds_event(&id, "Backing up DB instance", "RDS-EVENT-0001", "backup", now_ms);
        }
    }

    /// ModifyDBInstance `DBSubnetGroupName`: the group it moves to (`None`: it stays). The group
    /// must cover the zones the instance's storage is in (squall does not move storage between
    /// zones); a move to another VPC is for a single-AZ instance without read replicas that is not
    /// one itself, as RDS requires.
    fn check_subnet_group_move(
        &self,
        instance: &DbInstance,
        name: Option<&str>,
    ) -> Result<Option<DbSubnetGroup>, ControlError> {
        let Some(name) = name else { return Ok(None) };
        let group = self.db_subnet_group(name)?;
        let current = instance.subnet_group.clone().unwrap_or_else(|| "default".into());
        if group.name == current {
            return Ok(None);
        }
        if group.vpc_id != instance.vpc_id {
            if instance.multi_az {
                return Err(combination(
                    "You can't move a Multi-AZ DB instance to another VPC: turn Multi-AZ off first.",
                ));
            }
            if instance.read_replica_source.is_some()
                || !self.read_replicas_of(&instance.id).is_empty()
                || !instance.cross_region_replicas.is_empty()
            {
                return Err(combination(
                    "You can't move a DB instance that is a read replica or has read replicas to another VPC.",
                ));
            }
        }
        let zones = std::iter::once(&instance.primary.zone).chain(instance.standby.as_ref().map(|s| &s.zone));
        for zone in zones {
            if !group.subnets.iter().any(|s| s.zone == *zone) {
                return Err(RdsError::NotBuiltYet(format!(
                    "squall moves a DB instance only to a subnet group with a subnet in its zone {zone}: it does \
                     not move storage between zones"
                ))
                .into());
            }
        }
        Ok(Some(group))
    }

    /// A cross-region replica of an instance of this region was made (`add`) or left.
    pub(crate) fn note_cross_region_replica(&mut self, source: &str, replica_arn: &str, add: bool) {
        if let Some(row) = self.db_instances.get_mut(&source.to_ascii_lowercase()) {
            row.cross_region_replicas.retain(|a| a != replica_arn);
            if add {
                row.cross_region_replicas.push(replica_arn.to_string());
            }
        }
    }

    /// PromoteReadReplica: replication stops now; the instance takes writes when the promotion
    /// completes (status `modifying` until then), with the backups asked for.
    pub(crate) fn promote_read_replica(
        &mut self,
        id: &str,
        backup_retention_days: Option<u32>,
        backup_window: Option<&str>,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?.clone();
        if instance.read_replica_source.is_none() {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: instance.status.as_str(),
                why: "it is not a read replica",
            }
            .into());
        }
        let instance = self.instance_in(id, DbInstanceStatus::Available, "it must be available to be promoted")?;
        if instance.promoting {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: "modifying",
                why: "it is already being promoted",
            }
            .into());
        }
        let retention = backup_retention_days.unwrap_or(1);
        if retention > 35 {
            return Err(invalid(format!(
                "Invalid backup retention period: {retention}. It must be between 0 and 35 days."
            )));
        }
        let window = backup_window.map(check_backup_window).transpose()?;
        {
            let row = self.instance_mut(id)?;
            row.promoting = true;
            row.backup_retention_days = retention;
            if let Some(w) = window {
                row.backup_window = w;
            }
        }
        let out = self.begin(id, DbInstanceStatus::Modifying, now_ms)?;
        self.rds_event(
            &out.id,
            "Replication for the read replica was stopped: promoting it to a standalone instance",
            "RDS-EVENT-0062",
            "read replica",
            now_ms,
        );
        Ok(out)
    }

    /// A read replica becomes a standalone instance (promoted, or its source was deleted).
    pub(crate) fn end_replication(&mut self, id: &str, now_ms: u64) {
        let Some(row) = self.db_instances.get_mut(id) else { return };
        let Some(source) = row.read_replica_source.take() else { return };
        row.promoting = false;
        let message = format!("Replication from {source} has ended: the instance is a standalone DB instance now");
        self.rds_event(id, &message, "RDS-EVENT-0047", "read replica", now_ms);
    }

    /// The instance, if it is in `required` status (else AWS's InvalidDBInstanceState).
    fn instance_in(&self, id: &str, required: DbInstanceStatus, why: &'static str) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?;
        if instance.status != required {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id.clone(),
                status: instance.status.as_str(),
                why,
            }
            .into());
        }
        Ok(instance.clone())
    }

    /// Moves an instance to `status` from now on.
    fn begin(&mut self, id: &str, status: DbInstanceStatus, now_ms: u64) -> Result<DbInstance, ControlError> {
        let i = self.instance_mut(id)?;
        i.status = status;
        i.status_since_ms = now_ms;
        Ok(i.clone())
    }

    /// RebootDBInstance, with a failover to the standby when asked.
    pub(crate) fn reboot_db_instance(
        &mut self,
        id: &str,
        force_failover: bool,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.instance_in(id, DbInstanceStatus::Available, "it must be available to be rebooted")?;
        if force_failover && instance.cluster.is_some() {
            return Err(combination(
                "ForceFailover is not supported for an instance of an Aurora DB cluster: use FailoverDBCluster.",
            ));
        }
        if force_failover && !instance.multi_az {
            return Err(combination(format!(
                "Cannot do a forced failover on DB instance {} because it is not a Multi-AZ instance.",
                instance.id
            )));
        }
        if force_failover && !instance.standby_in_sync {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id.clone(),
                status: "available",
                why: "its standby is not in sync with the primary (it is being rebuilt), so it cannot fail over",
            }
            .into());
        }
        let booted = self.booted_parameters(&instance);
        let row = self.instance_mut(id)?;
        row.failing_over = force_failover;
        row.booted_parameters = Some(booted);
        let out = self.begin(id, DbInstanceStatus::Rebooting, now_ms)?;
        if force_failover {
            self.rds_event(&out.id, "Multi-AZ instance failover started.", "RDS-EVENT-0013", "failover", now_ms);
        } else {
            self.rds_event(&out.id, "DB instance restarted", "RDS-EVENT-0006", "availability", now_ms);
        }
        Ok(out)
    }

    /// StopDBInstance, with a snapshot of the instance taken first when `snapshot_id` names one.
    pub(crate) fn stop_db_instance(
        &mut self,
        id: &str,
        snapshot_id: Option<&str>,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.instance_in(id, DbInstanceStatus::Available, "it must be available to be stopped")?;
        if instance.cluster.is_some() {
            return Err(combination(format!(
                "{} database instances are not eligible for stopping and starting: stop the DB cluster.",
                instance.engine
            )));
        }
        if instance.read_replica_source.is_some() {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: "available",
                why: "it is a read replica, and a read replica cannot be stopped",
            }
            .into());
        }
        if !self.read_replicas_of(&instance.id).is_empty() || !instance.cross_region_replicas.is_empty() {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: "available",
                why: "it has read replicas, and an instance with read replicas cannot be stopped",
            }
            .into());
        }
        if instance.multi_az && instance.engine.starts_with("sqlserver") {
            return Err(combination("Multi-AZ SQL Server instances cannot be stopped."));
        }
        if let Some(snapshot_id) = snapshot_id {
            self.create_db_snapshot(id, snapshot_id, BTreeMap::new(), now_ms)?;
        }
        self.begin(id, DbInstanceStatus::Stopping, now_ms)
    }

    /// StartDBInstance.
    pub(crate) fn start_db_instance(&mut self, id: &str, now_ms: u64) -> Result<DbInstance, ControlError> {
        let instance = self.instance_in(id, DbInstanceStatus::Stopped, "it must be stopped to be started")?;
        let booted = self.booted_parameters(&instance);
        self.instance_mut(id)?.booted_parameters = Some(booted);
        self.begin(id, DbInstanceStatus::Starting, now_ms)
    }

    /// How long a copy of an instance's storage has been stuck (its longest-stuck volume, by the
    /// storage clock), or `None` while every volume of it serves.
    fn db_storage_stuck_for(&mut self, storage: &DbStorage) -> Result<Option<u64>, ControlError> {
        let cluster = self.store.cluster(storage.zone_id.as_str()).map_err(storage_error)?;
        let c = cluster.lock();
        let now = c.now().as_millis() as u64;
        let mut longest = None;
        for name in &storage.volumes {
            let since = c.record(&store_name(name)?).and_then(|r| r.stuck_since_ms);
            // A paused volume holds its I/O as a stuck one does.
            let paused = self.db_paused.get(name).copied();
            if let Some(since) = since.into_iter().chain(paused).min() {
                longest = longest.max(Some(now.saturating_sub(since)));
            }
        }
        Ok(longest)
    }

    /// Records which DB volumes are paused, each since now by its cluster's clock (one paused
    /// already keeps its time).
    pub(crate) fn set_db_paused(&mut self, volumes: &std::collections::BTreeSet<String>) {
        self.db_paused.retain(|v, _| volumes.contains(v));
        let storages: Vec<DbStorage> = self
            .db_instances
            .values()
            .flat_map(|i| std::iter::once(i.primary.clone()).chain(i.standby.clone()))
            .collect();
        for storage in storages {
            let Ok(cluster) = self.store.cluster(storage.zone_id.as_str()) else { continue };
            let now = cluster.lock().now().as_millis() as u64;
            for name in storage.volumes.iter().filter(|v| volumes.contains(*v)) {
                self.db_paused.entry(name.clone()).or_insert(now);
            }
        }
        self.quiet_until.set(0);
    }

    /// Notes on each instance whether its primary's storage is stuck (an instance's storage spans
    /// several volumes and is stuck if any of them is), with an event when that starts and ends:
    /// I/O to such an instance hangs, as in April 2011.
    fn notice_db_storage(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let instances: Vec<DbInstance> = self
            .db_instances
            .values()
            .filter(|i| !matches!(i.status, DbInstanceStatus::Creating | DbInstanceStatus::Deleting))
            .cloned()
            .collect();
        for i in instances {
            let stuck = self.db_storage_stuck_for(&i.primary)?.is_some();
            match (stuck, i.storage_stuck_since_ms) {
                (true, None) => {
                    self.instance_mut(&i.id)?.storage_stuck_since_ms = Some(now_ms);
                    let message = format!(
                        "The storage of the DB instance in {} is not answering: I/O is blocked until it recovers.",
                        i.primary.zone
                    );
                    self.rds_event(&i.id, &message, "RDS-EVENT-0221", "availability", now_ms);
                }
                (false, Some(_)) => {
                    self.instance_mut(&i.id)?.storage_stuck_since_ms = None;
                    self.rds_event(
                        &i.id,
                        "The storage of the DB instance answers again.",
                        "RDS-EVENT-0222",
                        "availability",
                        now_ms,
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Multi-AZ instances whose primary storage has been stuck for the detection time fail over
    /// to the standby, as RDS does when the primary's zone or its EBS volumes fail — if the
    /// standby's storage serves; with both stuck the instance waits with its primary.
    pub(crate) fn detect_db_failovers(&mut self, now_ms: u64) -> Result<(), ControlError> {
        self.notice_db_storage(now_ms)?;
        let detect = self.delays.db_failover_detect.as_millis() as u64;
        let candidates: Vec<DbInstance> = self
            .db_instances
            .values()
            .filter(|i| i.multi_az && i.status == DbInstanceStatus::Available)
            .cloned()
            .collect();
        for i in candidates {
            let Some(standby) = &i.standby else { continue };
            let Some(stuck_for) = self.db_storage_stuck_for(&i.primary)? else { continue };
            if stuck_for < detect {
                continue;
            }
            if self.db_storage_stuck_for(standby)?.is_some() {
                continue; // nowhere to go: the instance stays stuck with its primary
            }
            if !i.standby_in_sync {
                // As for 2.5% of Multi-AZ instances in April 2011: the standby missed writes the
                // primary acknowledged, so promoting it would lose them. The instance waits.
                if !i.failover_refused {
                    let reason = format!(
                        "The primary's storage in {} has not answered for {stuck_for} ms, but the standby in {} is \
                         not in sync: the instance does not fail over and waits for its primary.",
                        i.primary.zone, standby.zone
                    );
                    self.rds_event(&i.id, &reason, "RDS-EVENT-0034", "failover", now_ms);
                    self.instance_mut(&i.id)?.failover_refused = true;
                }
                continue;
            }
            if let Some(row) = self.db_instances.get_mut(&i.id) {
                row.failing_over = true;
                row.status = DbInstanceStatus::Rebooting;
                row.status_since_ms = now_ms;
            }
            let reason = format!(
                "The primary's storage in {} has not answered for {stuck_for} ms: failing over to the standby in {}.",
                i.primary.zone, standby.zone
            );
            self.rds_event(&i.id, &reason, "RDS-EVENT-0034", "failover", now_ms);
            self.rds_event(&i.id, "Multi-AZ instance failover started.", "RDS-EVENT-0013", "failover", now_ms);
        }
        Ok(())
    }

    // ---- modification --------------------------------------------------------------------------

    /// ModifyDBInstance: what RDS applies at once (backups, windows, protection, password, port)
    /// is applied now; class, storage, Multi-AZ and the identifier now with `apply_immediately`,
    /// else when the maintenance window next opens (shown as pending modified values meanwhile).
    /// The engine version ModifyDBInstance may move to, or `None` when it is the version the
    /// instance has.
    fn check_upgrade(
        &self,
        instance: &DbInstance,
        asked: &str,
        m: &DbModification,
    ) -> Result<Option<Upgrade>, ControlError> {
        let e = engine(&instance.engine).ok_or_else(|| invalid(format!("Invalid DB engine: {}", instance.engine)))?;
        let target = e
            .versions
            .iter()
            .filter(|v| **v == asked || v.starts_with(&format!("{asked}.")))
            .max_by_key(|v| version_key(v))
            .ok_or_else(|| invalid(format!("Cannot find version {asked} for {}", e.name)))?
            .to_string();
        if target == instance.engine_version {
            return Ok(None);
        }
        if version_key(&target) < version_key(&instance.engine_version) {
            return Err(combination(format!("Cannot upgrade {} from {} to {target}", e.name, instance.engine_version)));
        }
        let major = e.family(&target) != e.family(&instance.engine_version);
        if !major {
            return Ok(Some(Upgrade { version: target, major, parameter_group: None, option_group: None }));
        }
        if !m.allow_major_upgrade {
            return Err(combination(
                "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.",
            ));
        }
        if !self.read_replicas_of(&instance.id).is_empty() || !instance.cross_region_replicas.is_empty() {
            return Err(combination(format!(
                "DB instance {} has read replicas: upgrade them to {target} first.",
                instance.id
            )));
        }
        let parameter_group = match &m.parameter_group {
            Some(name) => Some(self.db_parameter_group_for(name, &e.family(&target))?),
            None if !instance.parameter_group.starts_with("default.") => {
                return Err(combination(format!(
                    "The current DB instance parameter group {} is custom. You must explicitly specify a new DB \
                     instance parameter group, either default or custom, for the engine version upgrade.",
                    instance.parameter_group
                )))
            }
            None => None,
        };
        let option_group = match &m.option_group {
            Some(name) => Some(self.db_option_group_for(name, e.name, &target)?),
            None if instance.option_group.is_some() => {
                return Err(combination(format!(
                    "The option group {} is for {} {}: name an option group of the new major version.",
                    self.option_group_of(instance),
                    e.name,
                    crate::db_option_groups::major_version(e.name, &instance.engine_version)
                )))
            }
            None => None,
        };
        Ok(Some(Upgrade { version: target, major, parameter_group, option_group }))
    }

    /// A new storage type and IOPS, checked as RDS checks them (`(None, None)`: no change).
    fn check_storage_change(
        &self,
        instance: &DbInstance,
        m: &DbModification,
    ) -> Result<(Option<String>, Option<u32>), ControlError> {
        let storage_type = m.storage_type.clone().filter(|t| *t != instance.storage_type);
        let iops = m.iops.filter(|n| Some(*n) != instance.iops);
        if storage_type.is_none() && iops.is_none() {
            return Ok((None, None));
        }
        let t = storage_type.clone().unwrap_or_else(|| instance.storage_type.clone());
        if !matches!(t.as_str(), "gp2" | "gp3" | "io1" | "io2" | "standard") {
            return Err(invalid(format!("Invalid storage type: {t}")));
        }
        let gib = m.allocated_gib.unwrap_or(instance.allocated_gib);
        let effective = iops.or(instance.iops);
        match t.as_str() {
            "io1" | "io2" => {
                let n = effective
                    .ok_or_else(|| combination(format!("Specify Iops when you change the storage type to {t}.")))?;
                let ratio = if t == "io1" { 50 } else { 1000 };
                if !(1000..=256_000).contains(&n) || n > gib.saturating_mul(ratio) {
                    return Err(combination(format!(
                        "Invalid Iops {n} for {t} storage of {gib} GiB: between 1000 and 256000, at most {ratio} per GiB."
                    )));
                }
            }
            "gp3" if iops.is_some() && gib < STRIPE_FROM_GIB => {
                return Err(combination(format!(
                    "You can't specify IOPS or storage throughput for engine {} and a storage size less than \
                     {STRIPE_FROM_GIB}.",
                    instance.engine
                )));
            }
            "gp2" | "standard" if iops.is_some() => {
                return Err(combination(format!("Iops cannot be set for {t} storage.")));
            }
            _ => {}
        }
        Ok((storage_type, iops))
    }

    pub(crate) fn modify_db_instance(
        &mut self,
        id: &str,
        m: DbModification,
        zones: &[Zone],
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?.clone();
        if instance.cluster.is_some() {
            let cluster_level = m.allocated_gib.is_some()
                || m.multi_az.is_some()
                || m.port.is_some()
                || m.master_password.is_some()
                || m.backup_retention_days.is_some()
                || m.backup_window.is_some()
                || m.engine_version.is_some()
                || m.storage_type.is_some()
                || m.iops.is_some()
                || m.manage_password.is_some()
                || m.unmanage_password
                || m.rotate_password
                || m.subnet_group.is_some()
                || m.option_group.is_some();
            if cluster_level {
                return Err(combination(
                    "The specified DB instance is a member of a DB cluster: modify the storage, credentials, port, \
                     backups, version and subnet group of the DB cluster instead.",
                ));
            }
        }
        // A storage-full instance takes the modification that gives it room.
        if !matches!(instance.status, DbInstanceStatus::Available | DbInstanceStatus::StorageFull) {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: instance.status.as_str(),
                why: "it must be available to be modified",
            }
            .into());
        }
        if let Some(class) = &m.class {
            if !valid_class(class) {
                return Err(combination(format!(
                    "RDS does not support modifying a DB instance to the following combination: \
                     DBInstanceClass={class}, Engine={}, EngineVersion={}.",
                    instance.engine, instance.engine_version
                )));
            }
        }
        if let Some(gib) = m.allocated_gib {
            let max = engine(&instance.engine).map_or(65536, |e| e.max_gib);
            if gib < instance.allocated_gib || gib > max {
                return Err(invalid(format!(
                    "Invalid storage size: {gib}. The allocated storage can only grow, up to {max} GiB, from {}.",
                    instance.allocated_gib
                )));
            }
            if stripes_for(gib) != stripes_for(instance.allocated_gib) {
                return Err(RdsError::NotBuiltYet(format!(
                    "squall grows an instance's storage on the volumes it has: {gib} GiB would need another layout \
                     than {} GiB",
                    instance.allocated_gib
                ))
                .into());
            }
        }
        if let Some(new_id) = &m.new_id {
            let new_id = new_id.to_ascii_lowercase();
            if !valid_identifier(&new_id) {
                return Err(invalid("The parameter NewDBInstanceIdentifier is not a valid identifier."));
            }
            if new_id != instance.id && self.db_instances.contains_key(&new_id) {
                return Err(RdsError::InstanceExists(new_id).into());
            }
        }
        if m.manage_password.is_some() && m.unmanage_password {
            return Err(invalid("ManageMasterUserPassword cannot be both turned on and off."));
        }
        let managed = instance.master_secret.is_some();
        match (&m.master_password, managed, m.unmanage_password) {
            (Some(_), _, false) if m.manage_password.is_some() || managed => {
                return Err(combination(
                    "You can't specify MasterUserPassword when ManageMasterUserPassword is turned on.",
                ))
            }
            (None, true, true) => {
                return Err(combination(
                    "You must specify MasterUserPassword when you turn off ManageMasterUserPassword.",
                ))
            }
            _ => {}
        }
        if m.unmanage_password && !managed {
            return Err(combination("The master user password of this DB instance is not managed by RDS."));
        }
        if m.rotate_password {
            if !managed && m.manage_password.is_none() {
                return Err(combination(
                    "You can't rotate the master user password: it is not managed in Secrets Manager \
                     (ManageMasterUserPassword).",
                ));
            }
            if !m.apply_immediately {
                return Err(combination("You must specify ApplyImmediately when rotating the master user password."));
            }
        }
        if let Some(password) = &m.master_password {
            if password.len() < 8 {
                return Err(invalid(
                    "The parameter MasterUserPassword is not a valid password because it is shorter than 8 \
                     characters.",
                ));
            }
        }
        if m.backup_retention_days.is_some_and(|d| d > 35) {
            return Err(invalid("Invalid backup retention period: it must be between 0 and 35 days."));
        }
        if m.backup_retention_days == Some(0)
            && (!self.read_replicas_of(&instance.id).is_empty() || !instance.cross_region_replicas.is_empty())
        {
            return Err(combination(
                "The backup retention period cannot be 0 for a DB instance that is the source of read replicas.",
            ));
        }
        let backup_window = m.backup_window.as_deref().map(check_backup_window).transpose()?;
        let maintenance_window = m.maintenance_window.as_deref().map(check_maintenance_window).transpose()?;
        if m.multi_az == Some(true) && !instance.multi_az && self.standby_zone_for(&instance, Some(zones)).is_none() {
            return Err(RdsError::InsufficientCapacity {
                zone: "a second zone".into(),
                requested_gib: instance.allocated_gib,
            }
            .into());
        }
        let upgrade = match &m.engine_version {
            Some(v) => self.check_upgrade(&instance, v, &m)?,
            None => None,
        };
        // A major upgrade takes the groups named with it; otherwise they apply now.
        let major_upgrade = upgrade.as_ref().is_some_and(|u| u.major);
        let parameter_group = match &m.parameter_group {
            Some(name) if !major_upgrade => {
                let family = engine(&instance.engine).map(|e| e.family(&instance.engine_version)).unwrap_or_default();
                Some(self.db_parameter_group_for(name, &family)?)
            }
            _ => None,
        };
        let (storage_type, iops) = self.check_storage_change(&instance, &m)?;
        let option_group = m
            .option_group
            .as_deref()
            .filter(|_| !major_upgrade)
            .map(|g| self.db_option_group_for(g, &instance.engine, &instance.engine_version))
            .transpose()?;
        let moving_to = self.check_subnet_group_move(&instance, m.subnet_group.as_deref())?;
        let target_vpc = moving_to.as_ref().map_or(instance.vpc_id.clone(), |g| g.vpc_id.clone());
        let mut setting_change = m.settings.clone();
        if target_vpc != instance.vpc_id && setting_change.security_groups.as_ref().is_none_or(|g| g.is_empty()) {
            // A new VPC: its default group, unless groups of it were named.
            setting_change.security_groups = Some(
                self.security_groups_ref()
                    .values()
                    .filter(|g| g.vpc_id == target_vpc && g.name == "default")
                    .map(|g| g.id.clone())
                    .collect(),
            );
        }
        let settings = self.db_settings(
            &instance.settings,
            &setting_change,
            &crate::db_instance_settings::InstanceFacts {
                engine: &instance.engine,
                engine_version: &instance.engine_version,
                vpc_id: &target_vpc,
                allocated_gib: m.allocated_gib.unwrap_or(instance.allocated_gib),
                storage_type: &instance.storage_type,
                encrypted: instance.storage_encrypted,
                creating: false,
            },
        )?;
        let mut rebooting = false;
        if let Some(group) = &moving_to {
            let i = self.instance_mut(id)?;
            i.subnet_group = Some(group.name.clone());
            i.vpc_id = group.vpc_id.clone();
            i.modifying.push("DB subnet group".into());
            let message = format!("Applying modification to DB subnet group {}", group.name);
            self.rds_event(id, &message, "RDS-EVENT-0014", "configuration change", now_ms);
        }
        {
            let i = self.instance_mut(id)?;
            i.settings = settings;
            if let Some(g) = option_group {
                i.option_group = Some(g);
            }
            if let Some(g) = parameter_group {
                // Associated now; its values are taken at the next reboot (pending-reboot).
                i.parameter_group = g;
            }
            if let Some(v) = m.backup_retention_days {
                i.backup_retention_days = v;
            }
            if let Some(v) = backup_window {
                i.backup_window = v;
            }
            if let Some(v) = maintenance_window {
                i.maintenance_window = v;
            }
            if let Some(v) = m.deletion_protection {
                i.deletion_protection = v;
            }
            if let Some(v) = m.copy_tags_to_snapshot {
                i.copy_tags_to_snapshot = v;
            }
            if let Some(v) = m.auto_minor_version_upgrade {
                i.auto_minor_version_upgrade = v;
            }
            if let Some(v) = m.publicly_accessible {
                i.publicly_accessible = v;
            }
            if let Some(v) = m.master_password.clone() {
                i.master_password = Some(v);
            }
            if let Some(port) = m.port.filter(|p| *p != i.port) {
                // A new port restarts the database, whatever ApplyImmediately says.
                i.port = port;
                rebooting = true;
            }
        }
        // The master password goes to, comes back from, or rotates in its Secrets Manager secret
        // (at once, whatever ApplyImmediately says).
        if let Some(managed) = &m.manage_password {
            if instance.master_secret.is_none() {
                let password = self.generate_password();
                let user = instance.master_username.clone().unwrap_or_default();
                let secret = self.create_rds_master_secret(
                    &managed.instance_arn,
                    &user,
                    &password,
                    managed.kms_key_id.clone(),
                    now_ms,
                )?;
                let i = self.instance_mut(&instance.id)?;
                i.master_secret = Some(secret);
                i.master_secret_kms_key = managed.kms_key_id.clone();
                i.master_password = Some(password);
            }
        }
        if m.unmanage_password {
            if let Some(secret) = instance.master_secret.clone() {
                self.drop_rds_master_secret(&secret);
                let i = self.instance_mut(&instance.id)?;
                i.master_secret = None;
                i.master_secret_kms_key = None;
            }
        } else if m.rotate_password && m.manage_password.is_none() {
            if let Some(secret) = instance.master_secret.clone() {
                let password = self.rotate_rds_master_secret(&secret, now_ms)?;
                self.instance_mut(&instance.id)?.master_password = Some(password);
            }
        }
        // Backups turned off delete the automated ones; turned on, the first is taken now.
        match (instance.backup_retention_days, m.backup_retention_days) {
            (was, Some(0)) if was > 0 => {
                self.drop_automated_snapshots(&instance.resource_id);
                self.drop_log_backups(&instance.resource_id);
            }
            (0, Some(now)) if now > 0 && instance.read_replica_source.is_none() => {
                self.take_automated_snapshot(&instance.id, now_ms)?;
            }
            _ => {}
        }
        let deferred = PendingChanges {
            class: m.class.clone().filter(|c| *c != instance.class),
            allocated_gib: m.allocated_gib.filter(|g| *g != instance.allocated_gib),
            multi_az: m.multi_az.filter(|v| *v != instance.multi_az),
            new_id: m.new_id.as_ref().map(|n| n.to_ascii_lowercase()).filter(|n| *n != instance.id),
            engine_version: upgrade.as_ref().map(|u| u.version.clone()),
            upgrade_parameter_group: upgrade.as_ref().and_then(|u| u.parameter_group.clone()),
            upgrade_option_group: upgrade.as_ref().and_then(|u| u.option_group.clone()),
            storage_type,
            iops,
            since_ms: now_ms,
        };
        let mut current = instance.id.clone();
        if m.apply_immediately {
            current = self.apply_db_changes(&instance.id, deferred, Some(zones), now_ms)?;
        } else if !deferred.is_empty() {
            self.instance_mut(&instance.id)?.pending = deferred;
        }
        if moving_to.is_some() && !rebooting {
            // The instance moves: it restarts (modifying) on its storage where it is.
            self.begin(&current, DbInstanceStatus::Modifying, now_ms)?;
        }
        if rebooting {
            let i = self.begin(&current, DbInstanceStatus::Modifying, now_ms)?;
            self.instance_mut(&i.id)?.modifying.push("port".into());
            self.rds_event(
                &current,
                "Applying modification to database port",
                "RDS-EVENT-0014",
                "configuration change",
                now_ms,
            );
        }
        Ok(self.db_instance(&current)?.clone())
    }

    /// A zone of the instance's subnet group, other than its primary's, that is up.
    fn standby_zone_for(&self, instance: &DbInstance, zones: Option<&[Zone]>) -> Option<(AzName, AzId)> {
        let group = match &instance.subnet_group {
            Some(name) => self.db_subnet_group(name).ok()?,
            None => self.default_subnet_group()?,
        };
        group
            .subnets
            .iter()
            .filter(|s| s.zone != instance.primary.zone)
            .find(|s| {
                zones.is_none_or(|zones| zones.iter().any(|z| z.name == s.zone && z.state != ZoneState::Unavailable))
            })
            .map(|s| (s.zone.clone(), s.zone_id.clone()))
    }

    /// Applies class, storage, Multi-AZ and identifier changes now; answers the identifier the
    /// instance has afterwards. The instance is `modifying` for a lifecycle step.
    pub(crate) fn apply_db_changes(
        &mut self,
        id: &str,
        changes: PendingChanges,
        zones: Option<&[Zone]>,
        now_ms: u64,
    ) -> Result<String, ControlError> {
        if changes.is_empty() {
            return Ok(id.to_ascii_lowercase());
        }
        let instance = self.db_instance(id)?.clone();
        let mut applying: Vec<(String, &str)> = Vec::new();
        if let Some(class) = &changes.class {
            self.instance_mut(id)?.class = class.clone();
            applying.push(("database instance class".into(), "DB instance class"));
        }
        if let Some(gib) = changes.allocated_gib {
            let per_volume = u64::from(gib).div_ceil(instance.primary.volumes.len() as u64) * GIB;
            for storage in std::iter::once(&instance.primary).chain(instance.standby.iter()) {
                let cluster = self.store.cluster(storage.zone_id.as_str()).map_err(storage_error)?;
                for name in &storage.volumes {
                    let grown = cluster.lock().grow_volume(&store_name(name)?, per_volume);
                    grown.map_err(storage_error)?;
                }
            }
            self.instance_mut(id)?.allocated_gib = gib;
            applying.push(("allocated storage".into(), "allocated storage"));
        }
        match changes.multi_az {
            Some(true) => {
                let zone = self.standby_zone_for(&instance, zones).ok_or_else(|| RdsError::InsufficientCapacity {
                    zone: "a second zone".into(),
                    requested_gib: instance.allocated_gib,
                })?;
                // The standby starts as a copy of the primary, taken through the snapshot store
                // (as RDS seeds a new standby from a snapshot).
                let seed = self.random_id("s");
                let names: Vec<String> =
                    (0..instance.primary.volumes.len()).map(|n| format!("rds-seed-{}-{n}", &seed[2..])).collect();
                let (cluster, snapshots) =
                    self.store.cluster_and_snapshots(instance.primary.zone_id.as_str()).map_err(storage_error)?;
                for (volume, name) in instance.primary.volumes.iter().zip(&names) {
                    snapshots
                        .snapshot_volume(&mut cluster.lock(), &store_name(volume)?, &store_name(name)?, None)
                        .map_err(storage_error)?;
                }
                let allocated = self.db_instance(id)?.allocated_gib;
                let made = self.create_db_storage(&instance.resource_id, &zone, allocated, Some(&names));
                for name in &names {
                    let _ = store_name(name).map(|n| self.store.snapshots().delete(&n));
                }
                let standby = made?;
                let i = self.instance_mut(id)?;
                i.standby = Some(standby);
                i.multi_az = true;
                // Writes after the seed's copy are not on it yet: the SQL endpoint copies the
                // primary onto it and marks it in sync. Engines without an endpoint write
                // nothing after the seed.
                i.standby_in_sync = !crate::db_io::served_engine(&i.engine);
                applying.push(("convert to a Multi-AZ DB Instance".into(), "Multi-AZ conversion"));
            }
            Some(false) => {
                if let Some(standby) = self.instance_mut(id)?.standby.take() {
                    self.drop_db_storage(&standby);
                }
                self.instance_mut(id)?.multi_az = false;
                applying.push(("convert to a Single-AZ DB Instance".into(), "Single-AZ conversion"));
            }
            None => {}
        }
        if let Some(version) = &changes.engine_version {
            let family = |v: &str| engine(&instance.engine).map(|e| e.family(v)).unwrap_or_default();
            let (old_family, new_family) = (family(&instance.engine_version), family(version));
            let i = self.instance_mut(id)?;
            i.engine_version = version.clone();
            if old_family != new_family {
                i.parameter_group = changes
                    .upgrade_parameter_group
                    .clone()
                    .unwrap_or_else(|| crate::db_parameter_groups::default_group_name(&new_family));
                i.option_group = changes.upgrade_option_group.clone();
            }
            // The upgrade restarts the database: it runs with its group's values from now.
            let upgraded = i.clone();
            let booted = self.booted_parameters(&upgraded);
            self.instance_mut(id)?.booted_parameters = Some(booted);
            applying.push((format!("engine version {version}"), "engine version"));
        }
        if changes.storage_type.is_some() || changes.iops.is_some() {
            let i = self.instance_mut(id)?;
            if let Some(t) = &changes.storage_type {
                i.storage_type = t.clone();
                if !t.starts_with("io") && t != "gp3" {
                    i.iops = None;
                }
            }
            if let Some(n) = changes.iops {
                i.iops = Some(n);
            }
            applying.push(("storage type and IOPS".into(), "storage"));
        }
        let mut current = instance.id.clone();
        if let Some(new_id) = &changes.new_id {
            let mut row =
                self.db_instances.remove(&instance.id).ok_or_else(|| RdsError::InstanceNotFound(id.into()))?;
            row.id = new_id.clone();
            self.db_instances.insert(new_id.clone(), row);
            // Its read replicas follow the new name.
            let old_id = instance.id.clone();
            self.db_instances.update_where(
                |r| r.read_replica_source.as_deref() == Some(old_id.as_str()),
                |r| r.read_replica_source = Some(new_id.clone()),
            );
            let message = format!("Renamed instance from {} to {new_id}", instance.id);
            self.rds_event(new_id, &message, "RDS-EVENT-0034", "configuration change", now_ms);
            current = new_id.clone();
        }
        let renamed = current != instance.id;
        let i = self.instance_mut(&current)?;
        i.pending = PendingChanges::default();
        i.modifying = applying.iter().map(|(_, done)| done.to_string()).collect();
        // A rename shows as `renaming`, as RDS shows it, whatever else comes with it.
        i.status = if renamed { DbInstanceStatus::Renaming } else { DbInstanceStatus::Modifying };
        i.status_since_ms = now_ms;
        for (what, _) in applying {
            let message = format!("Applying modification to {what}");
            self.rds_event(&current, &message, "RDS-EVENT-0014", "configuration change", now_ms);
        }
        Ok(current)
    }

    // ---- snapshots -----------------------------------------------------------------------------

    /// DB snapshots in identifier order.
    pub fn db_snapshots(&self) -> impl Iterator<Item = &DbSnapshot> {
        self.db_snapshots.values()
    }

    pub fn db_snapshot(&self, id: &str) -> Result<&DbSnapshot, ControlError> {
        self.db_snapshots.get(&id.to_ascii_lowercase()).ok_or_else(|| RdsError::SnapshotNotFound(id.into()).into())
    }

    /// CreateDBSnapshot (and a final snapshot): each volume of the instance's primary storage
    /// snapshotted in the snapshot store, read from any live replica (as EBS snapshots are).
    pub(crate) fn create_db_snapshot(
        &mut self,
        instance_id: &str,
        snapshot_id: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        if self.db_instance(instance_id)?.cluster.is_some() {
            return Err(combination(
                "The specified instance is a member of a cluster and a snapshot cannot be created directly on the \
                 instance. Please use the CreateDBClusterSnapshot API instead.",
            ));
        }
        let id = snapshot_id.to_ascii_lowercase();
        if !valid_snapshot_identifier(&id) {
            return Err(invalid(
                "The parameter DBSnapshotIdentifier is not a valid identifier. Identifiers must begin with a \
                 letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
                 contain two consecutive hyphens.",
            ));
        }
        let instance = self.db_instance(instance_id)?.clone();
        if self.db_snapshots.contains_key(&id) {
            return Err(RdsError::SnapshotExists(id).into());
        }
        if !matches!(instance.status, DbInstanceStatus::Available | DbInstanceStatus::Stopped) {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id,
                status: instance.status.as_str(),
                why: "it must be available or stopped to be snapshotted",
            }
            .into());
        }
        let volumes = self.snapshot_db_volumes(&instance)?;
        let mut snapshot = crate::db_backups::snapshot_row(&instance, &id, volumes, "manual", now_ms);
        snapshot.status = DbSnapshotStatus::Creating;
        snapshot.tags = tags;
        self.db_snapshots.insert(id.clone(), snapshot.clone());
        self.rds_event_of(
            EventSource::DbSnapshot,
            &id,
            "Creating manual snapshot",
            "RDS-EVENT-0091",
            "creation",
            now_ms,
        );
        Ok(snapshot)
    }

    /// DeleteDBSnapshot: the snapshot store's snapshots go with it.
    pub(crate) fn delete_db_snapshot(&mut self, id: &str) -> Result<DbSnapshot, ControlError> {
        let snapshot = self.db_snapshot(id)?.clone();
        if snapshot.snapshot_type == "automated" {
            return Err(RdsError::InvalidSnapshotState {
                id: snapshot.id,
                status: snapshot.status.as_str(),
                why: "only manual snapshots may be deleted (automated ones go with their backup retention period)",
            }
            .into());
        }
        if snapshot.status != DbSnapshotStatus::Available {
            return Err(RdsError::InvalidSnapshotState {
                id: snapshot.id,
                status: snapshot.status.as_str(),
                why: "it must be available to be deleted",
            }
            .into());
        }
        for name in &snapshot.volumes {
            self.store.snapshots().delete(&store_name(name)?).map_err(storage_error)?;
        }
        self.db_snapshots.remove(&snapshot.id);
        Ok(snapshot)
    }

    /// RestoreDBInstanceFromDBSnapshot: a new instance whose storage holds the snapshot's bytes;
    /// `overrides` carries what the request names (the rest comes from the snapshot).
    pub(crate) fn restore_db_instance(
        &mut self,
        snapshot_id: &str,
        overrides: DbInstanceSpec,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let snapshot = self.db_snapshot(snapshot_id)?.clone();
        if snapshot.status != DbSnapshotStatus::Available {
            return Err(RdsError::InvalidSnapshotState {
                id: snapshot.id,
                status: snapshot.status.as_str(),
                why: "it must be available to be restored",
            }
            .into());
        }
        if !overrides.engine.is_empty() && overrides.engine != snapshot.engine {
            return Err(combination(format!(
                "The engine {} cannot be restored from a snapshot of engine {}.",
                overrides.engine, snapshot.engine
            )));
        }
        let allocated = overrides.allocated_gib.unwrap_or(snapshot.allocated_gib);
        if allocated < snapshot.allocated_gib {
            return Err(invalid(format!(
                "The allocated storage {allocated} GiB is smaller than the snapshot's {} GiB.",
                snapshot.allocated_gib
            )));
        }
        if stripes_for(allocated) != snapshot.volumes.len() {
            return Err(RdsError::NotBuiltYet(format!(
                "squall restores a snapshot onto as many volumes as it was taken from: {allocated} GiB would \
                 need another layout than the snapshot's {} GiB",
                snapshot.allocated_gib
            ))
            .into());
        }
        let class = if overrides.class.is_empty() { snapshot.class.clone() } else { overrides.class.clone() };
        let spec = DbInstanceSpec {
            class,
            engine: snapshot.engine.clone(),
            engine_version: Some(snapshot.engine_version.clone()),
            allocated_gib: Some(allocated),
            storage_type: overrides.storage_type.clone().or_else(|| Some(snapshot.storage_type.clone())),
            iops: overrides.iops.or(snapshot.iops),
            master_username: snapshot.master_username.clone(),
            // A managed password is a new one, kept in a new secret.
            master_password: if overrides.managed_password.is_some() { None } else { snapshot.master_password.clone() },
            db_name: snapshot.db_name.clone(),
            // Without a Port, a free one: the source instance may still hold the snapshot's.
            port: overrides.port,
            ..overrides
        };
        self.new_db_instance(spec, zones, address, now_ms, Some(&snapshot))
    }

    /// DB instances by zone: primaries, standbys, primaries whose storage is stuck.
    pub(crate) fn db_status(&mut self) -> Result<BTreeMap<AzName, crate::status::ZoneDbStatus>, ControlError> {
        let mut zones: BTreeMap<AzName, crate::status::ZoneDbStatus> = BTreeMap::new();
        let mut failovers: BTreeMap<String, usize> = BTreeMap::new();
        for e in self.rds_events.values().filter(|e| e.message == FAILOVER_COMPLETED) {
            *failovers.entry(e.source_id.clone()).or_default() += 1;
        }
        let instances: Vec<DbInstance> = self.db_instances.values().cloned().collect();
        for i in instances {
            let stuck = self.db_storage_stuck_for(&i.primary)?.is_some();
            let primary = zones.entry(i.primary.zone.clone()).or_default();
            primary.primaries += 1;
            primary.stuck += usize::from(stuck);
            primary.failovers += failovers.get(i.id.as_str()).copied().unwrap_or(0);
            primary.failovers_refused += usize::from(i.failover_refused);
            if let Some(standby) = &i.standby {
                zones.entry(standby.zone.clone()).or_default().standbys += 1;
            }
        }
        Ok(zones)
    }

    /// The transitions of DB instances that have fallen due.
    pub(crate) fn settle_db_instances(&mut self, now_ms: u64) -> Result<(), ControlError> {
        let d = self.delays;
        let step = d.volume_create.as_millis() as u64;
        let ready: Vec<(String, u64)> = self
            .db_snapshots
            .values()
            .filter(|s| s.status == DbSnapshotStatus::Creating && s.status_since_ms + step <= now_ms)
            .map(|s| (s.id.clone(), s.status_since_ms + step))
            .collect();
        for (id, at) in ready {
            if let Some(s) = self.db_snapshots.get_mut(&id) {
                s.status = DbSnapshotStatus::Available;
                s.status_since_ms = at;
            }
            self.rds_event_of(
                EventSource::DbSnapshot,
                &id,
                "Manual snapshot created",
                "RDS-EVENT-0042",
                "creation",
                at,
            );
        }
        self.start_daily_backups(now_ms);
        let due: Vec<String> =
            self.db_instances.values().filter(|i| db_instance_next_due(i, d) <= now_ms).map(|i| i.id.clone()).collect();
        for id in due {
            // A chain of transitions may all have fallen due since the last look.
            while let Some(i) = self.db_instances.get(&id).cloned() {
                if db_instance_next_due(&i, d) > now_ms {
                    break;
                }
                let at = i.status_since_ms + step;
                let (next, event): (Option<DbInstanceStatus>, Option<(&str, &str, &str)>) = match i.status {
                    // A read replica takes no backups: its bytes come from its source.
                    DbInstanceStatus::Creating if i.read_replica_source.is_some() => {
                        (Some(DbInstanceStatus::Available), None)
                    }
                    DbInstanceStatus::Creating => (
                        Some(DbInstanceStatus::BackingUp),
                        Some(("Backing up DB instance", "RDS-EVENT-0001", "backup")),
                    ),
                    DbInstanceStatus::BackingUp => {
                        // An automated backup: the first, what point-in-time restore starts from, or
                        // the day's in the backup window.
                        if i.backup_retention_days > 0 {
                            if let Err(e) = self.take_automated_snapshot(&id, at) {
                                tracing::warn!(instance = %id, "an automated backup failed: {e}");
                            }
                        }
                        (
                            Some(DbInstanceStatus::Available),
                            Some(("Finished DB Instance backup", "RDS-EVENT-0002", "backup")),
                        )
                    }
                    DbInstanceStatus::Rebooting => (Some(DbInstanceStatus::Available), None),
                    DbInstanceStatus::Modifying | DbInstanceStatus::Renaming => {
                        (Some(DbInstanceStatus::Available), None)
                    }
                    DbInstanceStatus::Available if !i.pending.is_empty() => {
                        // The maintenance window opened: what waited for it is applied now.
                        let opened = next_window_start(&i.maintenance_window, i.pending.since_ms).unwrap_or(now_ms);
                        self.apply_db_changes(&id, i.pending.clone(), None, opened.min(now_ms))?;
                        continue;
                    }
                    DbInstanceStatus::Stopping => (
                        Some(DbInstanceStatus::Stopped),
                        Some(("DB instance stopped", "RDS-EVENT-0087", "notification")),
                    ),
                    DbInstanceStatus::Starting => (
                        Some(DbInstanceStatus::Available),
                        Some(("DB instance started", "RDS-EVENT-0088", "notification")),
                    ),
                    DbInstanceStatus::Deleting => (None, Some(("DB instance deleted", "RDS-EVENT-0003", "deletion"))),
                    DbInstanceStatus::Available | DbInstanceStatus::Stopped | DbInstanceStatus::StorageFull => break,
                };
                match next {
                    None => {
                        // The read replicas of a deleted instance become standalone instances.
                        for replica in self.read_replicas_of(&id) {
                            self.end_replication(&replica, at);
                        }
                        if let Some(gone) = self.db_instances.remove(&id) {
                            if let Some(secret) = &gone.master_secret {
                                self.drop_rds_master_secret(secret);
                            }
                            if !gone.retain_automated_backups {
                                self.drop_automated_snapshots(&gone.resource_id);
                            }
                            self.drop_log_backups(&gone.resource_id);
                            self.drop_db_storage(&gone.primary);
                            if let Some(standby) = &gone.standby {
                                self.drop_db_storage(standby);
                            }
                        }
                    }
                    Some(status) => {
                        let failover = i.status == DbInstanceStatus::Rebooting && i.failing_over;
                        if i.status == DbInstanceStatus::Modifying && i.promoting {
                            self.end_replication(&id, at);
                        }
                        let finished = if matches!(i.status, DbInstanceStatus::Modifying | DbInstanceStatus::Renaming) {
                            i.modifying.clone()
                        } else {
                            Vec::new()
                        };
                        for what in &finished {
                            let message = format!("Finished applying modification to {what}");
                            self.rds_event(&id, &message, "RDS-EVENT-0017", "configuration change", at);
                        }
                        if let Some(row) = self.db_instances.get_mut(&id) {
                            row.status = status;
                            row.status_since_ms = at;
                            row.modifying.clear();
                            if failover {
                                // The standby becomes the primary; the old primary the standby.
                                if let Some(standby) = row.standby.take() {
                                    row.standby = Some(std::mem::replace(&mut row.primary, standby));
                                }
                                // Only an in-sync standby is promoted: the old primary has every
                                // write the new one has.
                                row.standby_in_sync = true;
                                row.failover_refused = false;
                                row.failing_over = false;
                            }
                        }
                        if failover {
                            self.rds_event(&id, FAILOVER_COMPLETED, "RDS-EVENT-0049", "failover", at);
                        }
                    }
                }
                if let Some((message, event_id, category)) = event {
                    self.rds_event(&id, message, event_id, category, at);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn db_tags_mut(&mut self, kind: &str, id: &str) -> Result<&mut BTreeMap<String, String>, ControlError> {
        match kind {
            "db" => Ok(&mut self.instance_mut(id)?.tags),
            "cluster" => self.cluster_tags_mut(id),
            "cluster-snapshot" => self.cluster_snapshot_tags_mut(id),
            "cluster-endpoint" => self.cluster_endpoint_tags_mut(id),
            "db-proxy-endpoint" => {
                let proxy = self
                    .db_proxies
                    .values()
                    .find(|p| p.endpoints.iter().any(|e| e.resource_id == id))
                    .map(|p| p.name.clone())
                    .ok_or_else(|| RdsError::ProxyEndpointNotFound(id.into()))?;
                self.db_proxies
                    .get_mut(&proxy)
                    .and_then(|p| p.endpoints.iter_mut().find(|e| e.resource_id == id))
                    .map(|e| &mut e.tags)
                    .ok_or_else(|| RdsError::ProxyEndpointNotFound(id.into()).into())
            }
            "db-proxy" => {
                let name = self
                    .db_proxies
                    .values()
                    .find(|p| p.resource_id == id)
                    .map(|p| p.name.clone())
                    .ok_or_else(|| RdsError::ProxyNotFound(id.into()))?;
                self.proxy_tags_mut(&name)
            }
            "subgrp" => {
                let key = id.to_ascii_lowercase();
                self.db_subnet_groups
                    .get_mut(&key)
                    .map(|g| &mut g.tags)
                    .ok_or_else(|| RdsError::SubnetGroupNotFound(id.into()).into())
            }
            "og" => {
                let key = id.to_ascii_lowercase();
                if key.starts_with("default:") {
                    self.db_option_group(id)?;
                    return Err(RdsError::InvalidParameterValue("Cannot tag a default option group.".into()).into());
                }
                self.db_option_groups
                    .get_mut(&key)
                    .map(|g| &mut g.tags)
                    .ok_or_else(|| RdsError::OptionGroupNotFound(id.into()).into())
            }
            "pg" | "cluster-pg" => {
                let kind = if kind == "pg" { GroupKind::Instance } else { GroupKind::Cluster };
                if id.to_ascii_lowercase().starts_with("default.") {
                    self.parameter_group(kind, id)?;
                    return Err(RdsError::InvalidParameterValue("Cannot tag a default parameter group.".into()).into());
                }
                self.db_parameter_groups
                    .get_mut(&kind.key(id))
                    .map(|g| &mut g.tags)
                    .ok_or_else(|| RdsError::ParameterGroupNotFound(id.into()).into())
            }
            "snapshot" => {
                let key = id.to_ascii_lowercase();
                self.db_snapshots
                    .get_mut(&key)
                    .map(|s| &mut s.tags)
                    .ok_or_else(|| RdsError::SnapshotNotFound(id.into()).into())
            }
            "secgrp" => self
                .db_security_groups
                .get_mut(&id.to_ascii_lowercase())
                .map(|g| &mut g.tags)
                .ok_or_else(|| RdsError::SecurityGroupNotFound(id.into()).into()),
            "es" => self
                .event_subscriptions
                .get_mut(&id.to_ascii_lowercase())
                .map(|s| &mut s.tags)
                .ok_or_else(|| RdsError::SubscriptionNotFound(id.into()).into()),
            _ => Err(RdsError::InvalidArn(format!("{kind}:{id}")).into()),
        }
    }

    pub fn db_tags(&self, kind: &str, id: &str) -> Result<BTreeMap<String, String>, ControlError> {
        match kind {
            "db" => Ok(self.db_instance(id)?.tags.clone()),
            "cluster" => Ok(self.db_cluster(id)?.tags.clone()),
            "cluster-snapshot" => Ok(self.db_cluster_snapshot(id)?.tags.clone()),
            "cluster-endpoint" => Ok(self.custom_endpoint(id)?.1.tags),
            "db-proxy-endpoint" => Ok(self
                .db_proxies
                .values()
                .flat_map(|p| p.endpoints.iter())
                .find(|e| e.resource_id == id)
                .ok_or_else(|| RdsError::ProxyEndpointNotFound(id.into()))?
                .tags
                .clone()),
            "db-proxy" => Ok(self
                .db_proxies
                .values()
                .find(|p| p.resource_id == id)
                .ok_or_else(|| RdsError::ProxyNotFound(id.into()))?
                .tags
                .clone()),
            "subgrp" => Ok(self.db_subnet_group(id)?.tags),
            "pg" => Ok(self.db_parameter_group(id)?.tags),
            "cluster-pg" => Ok(self.parameter_group(GroupKind::Cluster, id)?.tags),
            "og" => Ok(self.db_option_group(id)?.tags),
            "snapshot" => Ok(self.db_snapshot(id)?.tags.clone()),
            "secgrp" => Ok(self.db_security_group(id)?.tags),
            "es" => Ok(self.event_subscription(id)?.tags),
            _ => Err(RdsError::InvalidArn(format!("{kind}:{id}")).into()),
        }
    }
}

/// An engine upgrade ModifyDBInstance asks for.
struct Upgrade {
    version: String,
    /// To another parameter group family: with the groups named for the new version (`None`:
    /// its defaults).
    major: bool,
    parameter_group: Option<String>,
    option_group: Option<String>,
}

/// An engine version as numbers, for ordering (`8.0.39` → [8, 0, 39]).
pub(crate) fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The license model RDS names for an engine.
pub fn license(engine: &str) -> &'static str {
    match engine {
        "postgres" => "postgresql-license",
        _ => "general-public-license",
    }
}

/// `hh24:mi-hh24:mi`, at least 30 minutes (it may span midnight).
pub(crate) fn check_backup_window(w: &str) -> Result<String, ControlError> {
    let bad = || {
        invalid(format!("The backup window {w} is not valid: it must be hh24:mi-hh24:mi and at least 30 minutes long."))
    };
    let (from, to) = w.split_once('-').ok_or_else(bad)?;
    let (a, b) = (minutes(from).ok_or_else(bad)?, minutes(to).ok_or_else(bad)?);
    let length = (b + 24 * 60 - a) % (24 * 60);
    if length < 30 {
        return Err(bad());
    }
    Ok(w.to_string())
}

/// `ddd:hh24:mi-ddd:hh24:mi` (any case), at least 30 minutes and under a day.
pub(crate) fn check_maintenance_window(w: &str) -> Result<String, ControlError> {
    let lower = w.to_ascii_lowercase();
    let bad = || {
        invalid(format!(
            "The maintenance window {w} is not valid: it must be ddd:hh24:mi-ddd:hh24:mi, at least 30 minutes and \
             less than 24 hours long."
        ))
    };
    let (from, to) = lower.split_once('-').ok_or_else(bad)?;
    let (a, b) = (week_minute(from).ok_or_else(bad)?, week_minute(to).ok_or_else(bad)?);
    let week = 7 * 24 * 60;
    let length = (b + week - a) % week;
    if !(30..24 * 60).contains(&length) {
        return Err(bad());
    }
    Ok(lower)
}

/// When a daily window (`hh24:mi-hh24:mi`, UTC) last opened at or before `now_ms`.
pub(crate) fn last_daily_window_start(window: &str, now_ms: u64) -> Option<u64> {
    const DAY: u64 = 86_400_000;
    let (start, _) = window.split_once('-')?;
    let today = now_ms - now_ms % DAY + u64::from(minutes(start)?) * 60_000;
    Some(if today > now_ms { today.saturating_sub(DAY) } else { today })
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl RdsEvent {
    fn key_string(&self) -> String {
        use crate::table::Row;
        self.key()
    }
}

impl Region {
    pub(crate) fn zones_now(&self) -> Vec<Zone> {
        self.zones()
    }

    /// ModifyDBSubnetGroup.
    pub fn modify_db_subnet_group(
        &self,
        name: &str,
        description: Option<&str>,
        subnet_ids: &[String],
        now_ms: u64,
    ) -> Result<DbSubnetGroup, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_subnet_group(name, description, subnet_ids))
    }

    /// CreateDBSubnetGroup.
    pub fn create_db_subnet_group(
        &self,
        name: &str,
        description: &str,
        subnet_ids: &[String],
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbSubnetGroup, ControlError> {
        self.with_state(now_ms, |state| state.create_db_subnet_group(name, description, subnet_ids, tags, now_ms))
    }

    /// DeleteDBSubnetGroup.
    pub fn delete_db_subnet_group(&self, name: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_db_subnet_group(name))
    }

    /// CreateDBInstance. The zones' storage must answer first, as for CreateVolume.
    pub fn create_db_instance(
        &self,
        spec: DbInstanceSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.create_db_instance(spec, &zones, address, now_ms))
    }

    /// DeleteDBInstance.
    pub fn delete_db_instance(
        &self,
        id: &str,
        skip_final_snapshot: bool,
        final_snapshot: Option<&str>,
        delete_automated_backups: bool,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| {
            let gone =
                state.delete_db_instance(id, skip_final_snapshot, final_snapshot, delete_automated_backups, now_ms)?;
            state.leave_cluster(&gone, &zones, now_ms)?;
            Ok(gone)
        })
    }

    /// RebootDBInstance.
    pub fn reboot_db_instance(&self, id: &str, force_failover: bool, now_ms: u64) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.reboot_db_instance(id, force_failover, now_ms))
    }

    /// CreateDBSnapshot.
    pub fn create_db_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.create_db_snapshot(instance_id, snapshot_id, tags, now_ms))
    }

    /// DeleteDBSnapshot.
    pub fn delete_db_snapshot(&self, id: &str, now_ms: u64) -> Result<DbSnapshot, ControlError> {
        self.with_state(now_ms, |state| state.delete_db_snapshot(id))
    }

    /// RestoreDBInstanceFromDBSnapshot.
    pub fn restore_db_instance_from_snapshot(
        &self,
        snapshot_id: &str,
        overrides: DbInstanceSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.restore_db_instance(snapshot_id, overrides, &zones, address, now_ms))
    }

    /// ModifyDBInstance.
    pub fn modify_db_instance(&self, id: &str, m: DbModification, now_ms: u64) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.modify_db_instance(id, m, &zones, now_ms))
    }

    /// CreateDBInstanceReadReplica.
    pub fn create_db_read_replica(
        &self,
        spec: ReadReplicaSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |state| state.create_db_read_replica(spec, &zones, address, now_ms))
    }

    /// PromoteReadReplica.
    pub fn promote_read_replica(
        &self,
        id: &str,
        backup_retention_days: Option<u32>,
        backup_window: Option<&str>,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.promote_read_replica(id, backup_retention_days, backup_window, now_ms))
    }

    /// StopDBInstance.
    pub fn stop_db_instance(
        &self,
        id: &str,
        snapshot_id: Option<&str>,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.stop_db_instance(id, snapshot_id, now_ms))
    }

    /// StartDBInstance.
    pub fn start_db_instance(&self, id: &str, now_ms: u64) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.start_db_instance(id, now_ms))
    }

    /// AddTagsToResource / RemoveTagsFromResource on an RDS resource (`kind` is the ARN's
    /// resource type: `db`, `subgrp`).
    pub fn change_db_tags(
        &self,
        kind: &str,
        id: &str,
        add: BTreeMap<String, String>,
        remove: &[String],
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| {
            let tags = state.db_tags_mut(kind, id)?;
            for key in remove {
                tags.remove(key);
            }
            tags.extend(add);
            if tags.len() > 50 {
                return Err(ControlError::TooManyTags);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lifecycle::DB_FAILOVER_DETECT;
    use crate::test_support::TestRegion;

    fn spec(id: &str, gib: u32, multi_az: bool) -> DbInstanceSpec {
        DbInstanceSpec {
            id: id.into(),
            class: "db.m6g.large".into(),
            engine: "postgres".into(),
            allocated_gib: Some(gib),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            multi_az,
            ..Default::default()
        }
    }

    /// Volumes in the storage cluster of each zone id.
    fn stored(t: &TestRegion) -> BTreeMap<String, usize> {
        t.region
            .with_state(t.now(), |s| Ok(s.storage_status().into_iter().map(|z| (z.name, z.volumes)).collect()))
            .expect("status")
    }

    #[test]
    fn storage_is_striped_from_400_gib_and_a_standby_has_its_own_in_another_zone() {
        let t = TestRegion::new();
        let small = t.region.create_db_instance(spec("small", 100, false), "localhost", t.now()).expect("small");
        assert_eq!(small.primary.volumes.len(), 1);
        assert!(small.standby.is_none());
        let big = t.region.create_db_instance(spec("big", 1000, true), "localhost", t.now()).expect("big");
        let standby = big.standby.clone().expect("a standby");
        assert_eq!((big.primary.volumes.len(), standby.volumes.len()), (STRIPES, STRIPES));
        assert_ne!(big.primary.zone, standby.zone, "the standby is in another zone");
        let volumes = stored(&t);
        let in_zone = |id: &AzId| volumes.get(id.as_str()).copied().unwrap_or(0);
        let small_there = |id: &AzId| usize::from(small.primary.zone_id == *id);
        assert_eq!(in_zone(&big.primary.zone_id), STRIPES + small_there(&big.primary.zone_id));
        assert_eq!(in_zone(&standby.zone_id), STRIPES + small_there(&standby.zone_id));
        assert_eq!(volumes.values().sum::<usize>(), 1 + 2 * STRIPES, "{volumes:?}");
        // None of it is an EC2 volume.
        let ec2 = t.region.read(t.now(), |s| Ok(s.volumes_after(None, 100, |_| true).0.len())).expect("read");
        assert_eq!(ec2, 0);
    }

    #[test]
    fn a_forced_failover_swaps_the_storage_and_deletion_frees_it() {
        let t = TestRegion::new();
        let made = t.region.create_db_instance(spec("orders", 50, true), "localhost", t.now()).expect("create");
        let standby = made.standby.clone().expect("standby");
        let refused = t.region.reboot_db_instance("orders", true, t.now()).expect_err("still creating");
        assert!(matches!(refused, ControlError::Rds(RdsError::InvalidInstanceState { .. })), "{refused:?}");
        t.advance(1_000);
        t.region.reboot_db_instance("Orders", true, t.now()).expect("failover");
        t.advance(1_000);
        let after = t.region.read(t.now(), |s| Ok(s.db_instance("orders")?.clone())).expect("read");
        assert_eq!(after.status, DbInstanceStatus::Available);
        assert_eq!(after.primary, standby, "the standby's storage is the primary's now");
        assert_eq!(after.standby.as_ref(), Some(&made.primary));
        let messages: Vec<String> =
            t.region.read(t.now(), |s| Ok(s.rds_events().map(|e| e.message.clone()).collect())).expect("events");
        assert_eq!(
            messages,
            [
                "DB instance created",
                "Backing up DB instance",
                // The first automated backup (an event of its snapshot).
                "Automated snapshot created",
                "Finished DB Instance backup",
                "Multi-AZ instance failover started.",
                "Multi-AZ instance failover completed",
            ]
        );
        // The status counts the failover in the zone the primary is in now.
        let zones = t.region.with_state(t.now(), |s| s.db_status()).expect("status");
        assert_eq!(zones.get(&standby.zone).map(|z| (z.primaries, z.failovers)), Some((1, 1)));
        assert_eq!(zones.get(&made.primary.zone).map(|z| (z.standbys, z.failovers)), Some((1, 0)));
        t.region.delete_db_instance("orders", true, None, true, t.now()).expect("delete");
        t.advance(1_000);
        t.region.read(t.now(), |_| Ok(())).expect("settle");
        assert_eq!(stored(&t).values().sum::<usize>(), 0, "the storage went with the instance");
    }

    #[test]
    fn read_replicas_follow_a_renamed_source_and_stand_alone_when_it_is_deleted() {
        let t = TestRegion::new();
        t.region.create_db_instance(spec("orders", 50, false), "localhost", t.now()).expect("create");
        let replica = |id: &str| ReadReplicaSpec { id: id.into(), source: "orders".into(), ..Default::default() };
        let early = t.region.create_db_read_replica(replica("early"), "localhost", t.now()).expect_err("creating");
        assert!(matches!(early, ControlError::Rds(RdsError::InvalidInstanceState { .. })), "{early:?}");
        t.advance(1_000);
        let made = t.region.create_db_read_replica(replica("orders-ro"), "localhost", t.now()).expect("replica");
        assert_eq!((made.read_replica_source.as_deref(), made.allocated_gib), (Some("orders"), 50));
        assert_eq!(made.master_username.as_deref(), Some("app"), "the source's credentials");
        t.advance(1_000);
        let refused = t.region.stop_db_instance("orders", None, t.now()).expect_err("a source with replicas");
        assert!(matches!(refused, ControlError::Rds(RdsError::InvalidInstanceState { .. })), "{refused:?}");
        let m = DbModification { new_id: Some("ledger".into()), apply_immediately: true, ..Default::default() };
        t.region.modify_db_instance("orders", m, t.now()).expect("rename");
        t.advance(1_000);
        let row = t.region.read(t.now(), |s| Ok(s.db_instance("orders-ro")?.clone())).expect("read");
        assert_eq!(row.read_replica_source.as_deref(), Some("ledger"), "the replica follows the new name");
        assert_eq!(t.region.read(t.now(), |s| Ok(s.read_replicas_of("ledger"))).expect("read"), ["orders-ro"]);
        t.region.delete_db_instance("ledger", true, None, true, t.now()).expect("delete");
        t.advance(1_000);
        let row = t.region.read(t.now(), |s| Ok(s.db_instance("orders-ro")?.clone())).expect("read");
        assert_eq!(row.read_replica_source, None, "a deleted source's replicas stand alone");
        assert_eq!(row.status, DbInstanceStatus::Available);
    }

    #[test]
    fn an_outage_of_the_primary_zone_fails_over_after_the_detection_time() {
        let t = TestRegion::new();
        let made = t.region.create_db_instance(spec("orders", 20, true), "localhost", t.now()).expect("create");
        let standby = made.standby.clone().expect("standby");
        t.advance(1_000);
        t.region.read(t.now(), |_| Ok(())).expect("settle");
        let region = crate::RegionName::parse("us-east-1").expect("region");
        t.control
            .install_fault(&region, crate::faults::FaultKind::AzOutage { zone: made.primary.zone.clone() }, None)
            .expect("outage");
        // The storage notices at its next tick; RDS waits for the detection time.
        t.control.tick().expect("tick");
        let during = t.region.read(t.now(), |s| Ok(s.db_instance("orders")?.clone())).expect("read");
        assert_eq!(during.status, DbInstanceStatus::Available, "not before the detection time");
        t.advance(DB_FAILOVER_DETECT.as_millis() as u64);
        t.control.tick().expect("tick");
        t.advance(1_000);
        let after = t.region.read(t.now(), |s| Ok(s.db_instance("orders")?.clone())).expect("read");
        assert_eq!(after.status, DbInstanceStatus::Available);
        assert_eq!(after.primary, standby, "the standby took over");
        let messages: Vec<String> =
            t.region.read(t.now(), |s| Ok(s.rds_events().map(|e| e.message.clone()).collect())).expect("events");
        let started = messages.iter().position(|m| m == "Multi-AZ instance failover started.").expect("started");
        assert!(messages[started - 1].starts_with("The primary's storage in"), "{messages:?}");
        assert_eq!(messages.last().map(String::as_str), Some("Multi-AZ instance failover completed"));
        // The old primary's zone is still out: no failover back to it.
        t.advance(10_000);
        t.control.tick().expect("tick");
        let still = t.region.read(t.now(), |s| Ok(s.db_instance("orders")?.clone())).expect("read");
        assert_eq!((still.status, still.primary), (DbInstanceStatus::Available, standby));
    }

    #[test]
    fn a_snapshot_restores_the_same_bytes_in_another_zone_and_a_final_snapshot_outlives_its_instance() {
        let t = TestRegion::new();
        let made = t.region.create_db_instance(spec("src", 500, false), "localhost", t.now()).expect("create");
        assert_eq!(made.primary.volumes.len(), STRIPES);
        // Bytes on two of the four striped volumes, as the SQL endpoint will write them.
        let write = |storage: &DbStorage, n: usize, offset: u64, data: &[u8]| {
            t.region
                .with_state(t.now(), |s| {
                    let c = s.store.cluster(storage.zone_id.as_str()).map_err(storage_error)?;
                    let name = store_name(&storage.volumes[n])?;
                    let written = c.lock().write(&name, offset, data);
                    written.map_err(storage_error)
                })
                .expect("write")
        };
        let read = |storage: &DbStorage, n: usize, offset: u64, len: u64| {
            t.region
                .with_state(t.now(), |s| {
                    let c = s.store.cluster(storage.zone_id.as_str()).map_err(storage_error)?;
                    let name = store_name(&storage.volumes[n])?;
                    let bytes = c.lock().read(&name, offset, len);
                    bytes.map_err(storage_error)
                })
                .expect("read")
        };
        write(&made.primary, 0, 4096, b"page one");
        write(&made.primary, 3, 7 << 20, b"page seven MiB in");
        let early = t.region.create_db_snapshot("src", "snap-1", BTreeMap::new(), t.now()).expect_err("creating");
        assert!(matches!(early, ControlError::Rds(RdsError::InvalidInstanceState { .. })), "{early:?}");
        t.advance(1_000);
        let snap = t.region.create_db_snapshot("src", "Snap-1", BTreeMap::new(), t.now()).expect("snapshot");
        assert_eq!((snap.id.as_str(), snap.status), ("snap-1", DbSnapshotStatus::Creating));
        // Written after the snapshot: not in it.
        write(&made.primary, 0, 4096, b"PAGE ONE");
        let other_zone = t.region.zones().into_iter().find(|z| z.name != made.primary.zone).expect("zone").name;
        let restore = |zone: &AzName| DbInstanceSpec {
            id: "copy".into(),
            class: "db.r6g.large".into(),
            zone: Some(zone.to_string()),
            ..Default::default()
        };
        let busy = t.region.restore_db_instance_from_snapshot("snap-1", restore(&other_zone), "localhost", t.now());
        assert!(matches!(busy, Err(ControlError::Rds(RdsError::InvalidSnapshotState { .. }))), "{busy:?}");
        t.advance(1_000);
        let copy = t
            .region
            .restore_db_instance_from_snapshot("snap-1", restore(&other_zone), "localhost", t.now())
            .expect("restore");
        assert_eq!(
            (copy.primary.zone.clone(), copy.class.as_str(), copy.allocated_gib),
            (other_zone, "db.r6g.large", 500)
        );
        assert_eq!(copy.master_password, made.master_password, "the restored instance keeps its users");
        assert_eq!(read(&copy.primary, 0, 4096, 8), b"page one");
        assert_eq!(read(&copy.primary, 3, 7 << 20, 17), b"page seven MiB in");
        assert_eq!(read(&made.primary, 0, 4096, 8), b"PAGE ONE");
        // A final snapshot at deletion outlives the instance; a restore smaller than it is refused.
        t.advance(1_000);
        t.region.delete_db_instance("src", false, Some("src-final"), true, t.now()).expect("delete");
        t.advance(1_000);
        let kept = t.region.read(t.now(), |s| Ok(s.db_snapshot("src-final")?.clone())).expect("final snapshot");
        assert_eq!(kept.status, DbSnapshotStatus::Available);
        assert!(t.region.read(t.now(), |s| Ok(s.db_instance("src").is_err())).expect("read"), "the instance is gone");
        let small = DbInstanceSpec { allocated_gib: Some(300), ..restore(&made.primary.zone) };
        let refused = t.region.restore_db_instance_from_snapshot("src-final", small, "localhost", t.now());
        assert!(matches!(refused, Err(ControlError::Rds(RdsError::InvalidParameterValue(_)))), "{refused:?}");
        t.region.delete_db_snapshot("snap-1", t.now()).expect("delete snapshot");
        let gone = t.region.delete_db_snapshot("snap-1", t.now()).expect_err("gone");
        assert!(matches!(gone, ControlError::Rds(RdsError::SnapshotNotFound(_))), "{gone:?}");
    }

    #[test]
    fn automated_backups_are_taken_daily_in_the_backup_window_and_expire() {
        let t = TestRegion::new();
        let spec = DbInstanceSpec {
            backup_retention_days: Some(2),
            backup_window: Some("03:00-03:30".into()),
            ..spec("daily", 20, false)
        };
        t.region.create_db_instance(spec, "localhost", t.now()).expect("create");
        t.advance(1_000);
        t.advance(1_000);
        let automated = |t: &TestRegion| {
            t.region
                .read(t.now(), |s| {
                    Ok(s.db_snapshots()
                        .filter(|x| x.snapshot_type == "automated")
                        .map(|x| x.created_ms)
                        .collect::<Vec<_>>())
                })
                .expect("read")
        };
        let status = |t: &TestRegion| t.region.read(t.now(), |s| Ok(s.db_instance("daily")?.status)).expect("read");
        assert_eq!((automated(&t).len(), status(&t)), (1, DbInstanceStatus::Available), "the first, at creation");
        // The next window: backing-up, then the day's snapshot.
        let window = |now: u64| {
            let next = last_daily_window_start("03:00-03:30", now).expect("window") + 86_400_000;
            next - now + 60_000
        };
        t.advance(window(t.now()));
        assert_eq!(status(&t), DbInstanceStatus::BackingUp);
        t.advance(1_000);
        assert_eq!((automated(&t).len(), status(&t)), (2, DbInstanceStatus::Available));
        t.advance(3_600_000);
        assert_eq!(automated(&t).len(), 2, "one a day");
        // Days later: the ones past the retention period go.
        t.advance(2 * 86_400_000 + window(t.now()));
        assert_eq!(status(&t), DbInstanceStatus::BackingUp);
        t.advance(1_000);
        let kept = automated(&t);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0] > t.now() - 86_400_000);
    }

    #[test]
    fn modifications_apply_now_or_in_the_maintenance_window() {
        let t = TestRegion::new();
        let made = t.region.create_db_instance(spec("orders", 100, false), "localhost", t.now()).expect("create");
        t.advance(1_000);
        // Bytes the standby must have when Multi-AZ is turned on.
        t.region
            .with_state(t.now(), |s| {
                let c = s.store.cluster(made.primary.zone_id.as_str()).map_err(storage_error)?;
                let written = c.lock().write(&store_name(&made.primary.volumes[0])?, 8192, b"row 42");
                written.map_err(storage_error)
            })
            .expect("write");
        let now = DbModification {
            class: Some("db.r6g.xlarge".into()),
            allocated_gib: Some(150),
            multi_az: Some(true),
            backup_retention_days: Some(7),
            deletion_protection: Some(true),
            apply_immediately: true,
            ..Default::default()
        };
        let modifying = t.region.modify_db_instance("orders", now, t.now()).expect("modify");
        assert_eq!(modifying.status, DbInstanceStatus::Modifying);
        assert_eq!((modifying.class.as_str(), modifying.allocated_gib), ("db.r6g.xlarge", 150));
        assert_eq!((modifying.backup_retention_days, modifying.deletion_protection), (7, true));
        let standby = modifying.standby.clone().expect("a standby now");
        assert_ne!(standby.zone, made.primary.zone);
        let copied = t
            .region
            .with_state(t.now(), |s| {
                let c = s.store.cluster(standby.zone_id.as_str()).map_err(storage_error)?;
                let name = store_name(&standby.volumes[0])?;
                let mut c = c.lock();
                let size = c.record(&name).map(|r| r.size).unwrap_or(0);
                let bytes = c.read(&name, 8192, 6);
                Ok((size, bytes.map_err(storage_error)?))
            })
            .expect("standby bytes");
        assert_eq!(copied, (150 << 30, b"row 42".to_vec()), "the standby starts as a copy, at the new size");
        t.advance(1_000);
        let refused = t.region.delete_db_instance("orders", true, None, true, t.now()).expect_err("protected");
        assert!(matches!(refused, ControlError::Rds(RdsError::InvalidParameterCombination(_))), "{refused:?}");
        // Without ApplyImmediately: pending until the maintenance window opens.
        let later = DbModification {
            class: Some("db.m6g.large".into()),
            new_id: Some("Orders-V2".into()),
            ..Default::default()
        };
        let pending = t.region.modify_db_instance("orders", later, t.now()).expect("modify");
        assert_eq!(pending.status, DbInstanceStatus::Available);
        assert_eq!(pending.class, "db.r6g.xlarge");
        assert_eq!(
            (pending.pending.class.as_deref(), pending.pending.new_id.as_deref()),
            (Some("db.m6g.large"), Some("orders-v2"))
        );
        let opens = next_window_start(&pending.maintenance_window, t.now()).expect("window");
        assert!(opens > t.now() && opens <= t.now() + 7 * 24 * 3_600_000);
        t.advance(opens - t.now() + 1_000);
        let renaming = t.region.read(t.now(), |s| Ok(s.db_instance("orders-v2")?.status)).expect("settle");
        assert_eq!(renaming, DbInstanceStatus::Renaming, "a rename shows as renaming");
        t.advance(1_000);
        let renamed = t.region.read(t.now(), |s| Ok(s.db_instance("orders-v2")?.clone())).expect("renamed");
        assert_eq!((renamed.class.as_str(), renamed.status), ("db.m6g.large", DbInstanceStatus::Available));
        assert!(renamed.pending.is_empty());
        assert!(t.region.read(t.now(), |s| Ok(s.db_instance("orders").is_err())).expect("read"));
        let messages: Vec<String> =
            t.region.read(t.now(), |s| Ok(s.rds_events().map(|e| e.message.clone()).collect())).expect("events");
        assert!(
            messages.contains(&"Finished applying modification to Multi-AZ conversion".to_string()),
            "{messages:?}"
        );
        assert!(messages.contains(&"Renamed instance from orders to orders-v2".to_string()), "{messages:?}");
        // Days went by: the day's automated backup runs first.
        t.region.read(t.now(), |_| Ok(())).expect("settle");
        t.advance(1_000);
        // Storage only grows; a layout change is not built; a bad class is refused.
        for (m, what) in [
            (DbModification { allocated_gib: Some(50), apply_immediately: true, ..Default::default() }, "shrink"),
            (DbModification { class: Some("db.z1.tiny".into()), ..Default::default() }, "class"),
        ] {
            let err = t.region.modify_db_instance("orders-v2", m, t.now()).expect_err(what);
            assert!(matches!(err, ControlError::Rds(_)), "{what}: {err:?}");
        }
        let wider = DbModification { allocated_gib: Some(500), apply_immediately: true, ..Default::default() };
        let err = t.region.modify_db_instance("orders-v2", wider, t.now()).expect_err("layout");
        assert!(matches!(err, ControlError::Rds(RdsError::NotBuiltYet(_))), "{err:?}");
    }

    #[test]
    fn maintenance_windows_open_on_their_weekday() {
        // 2026-11-30 is a Monday; 12:00 UTC.
        let monday_noon = 1_796_040_000_000u64;
        assert_eq!(next_window_start("mon:13:00-mon:13:30", monday_noon), Some(monday_noon + 3_600_000));
        assert_eq!(next_window_start("mon:11:00-mon:11:30", monday_noon), Some(monday_noon + (7 * 24 - 1) * 3_600_000));
        assert_eq!(next_window_start("tue:00:00-tue:00:30", monday_noon), Some(monday_noon + 12 * 3_600_000));
        assert_eq!(next_window_start("nope", monday_noon), None);
    }

    #[test]
    fn a_single_az_instance_shows_its_stuck_storage_until_the_zone_heals() {
        let t = TestRegion::new();
        let made = t.region.create_db_instance(spec("big", 1000, false), "localhost", t.now()).expect("create");
        assert_eq!(made.primary.volumes.len(), STRIPES);
        t.advance(1_000);
        t.region.read(t.now(), |_| Ok(())).expect("settle");
        let region = crate::RegionName::parse("us-east-1").expect("region");
        let outage = t
            .control
            .install_fault(&region, crate::faults::FaultKind::AzOutage { zone: made.primary.zone.clone() }, None)
            .expect("outage");
        t.control.tick().expect("tick");
        let stuck = t.region.read(t.now(), |s| Ok(s.db_instance("big")?.clone())).expect("read");
        assert!(stuck.storage_stuck_since_ms.is_some(), "the instance shows its stuck storage");
        assert_eq!(stuck.status, DbInstanceStatus::Available, "no status of AWS's says stuck; StatusInfos does");
        let zones = t.region.with_state(t.now(), |s| s.db_status()).expect("status");
        assert_eq!(zones.get(&made.primary.zone).map(|z| z.stuck), Some(1));
        // Long after the detection time: a single-AZ instance has nowhere to go.
        t.advance(60_000);
        t.control.tick().expect("tick");
        let still = t.region.read(t.now(), |s| Ok(s.db_instance("big")?.clone())).expect("read");
        assert_eq!(still.primary, made.primary);
        t.control.remove_fault(&outage.id).expect("heal");
        for _ in 0..50 {
            t.advance(1_000);
            t.control.tick().expect("tick");
        }
        let healed = t.region.read(t.now(), |s| Ok(s.db_instance("big")?.clone())).expect("read");
        assert_eq!(healed.storage_stuck_since_ms, None, "the storage recovered after the heal");
        let messages: Vec<String> =
            t.region.read(t.now(), |s| Ok(s.rds_events().map(|e| e.message.clone()).collect())).expect("events");
        let began = messages.iter().position(|m| m.starts_with("The storage of the DB instance in")).expect("began");
        assert!(
            messages[began..].contains(&"The storage of the DB instance answers again.".to_string()),
            "{messages:?}"
        );
    }

    #[test]
    fn instances_and_their_storage_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = crate::RegionName::parse("us-east-1").expect("region");
        let config = || crate::ControlConfig::new(name.clone(), dir.path().to_path_buf());
        let made = {
            let c = crate::ControlPlane::new(config());
            c.region(&name).create_db_instance(spec("kept", 20, true), "localhost", c.now_ms()).expect("create")
        };
        let c = crate::ControlPlane::new(config());
        let region = c.region(&name);
        let back = region.read(c.now_ms(), |s| Ok(s.db_instance("kept")?.clone())).expect("read");
        assert_eq!((back.resource_id, back.primary, back.standby), (made.resource_id, made.primary, made.standby));
        let volumes: usize =
            region.with_state(c.now_ms(), |s| Ok(s.storage_status().iter().map(|z| z.volumes).sum())).expect("status");
        assert_eq!(volumes, 2, "the restart kept the instance's storage (it is no orphan)");
    }

    #[test]
    fn a_failed_creation_leaves_no_storage_and_rules_answer_as_aws() {
        // Zones of 1 TiB: a 2 TiB instance does not fit, and what was made for it goes.
        let t = TestRegion::with_config(|c| c.cluster.node_capacity = 1 << 40);
        let err = t.region.create_db_instance(spec("huge", 2048, false), "localhost", t.now()).expect_err("too big");
        assert!(matches!(err, ControlError::Rds(RdsError::InsufficientCapacity { .. })), "{err:?}");
        assert_eq!(stored(&t).values().sum::<usize>(), 0);
        for (id, why) in [("-x", "leading hyphen"), ("a-", "trailing hyphen"), ("a--b", "double hyphen"), ("", "empty")]
        {
            let err = t.region.create_db_instance(spec(id, 20, false), "localhost", t.now()).expect_err(why);
            assert!(matches!(err, ControlError::Rds(RdsError::InvalidParameterValue(_))), "{why}: {err:?}");
        }
        assert!(valid_identifier(&"a".repeat(63)) && !valid_identifier(&"a".repeat(64)));
        assert!(valid_class("db.t3.micro") && valid_class("db.r6g.2xlarge"));
        assert!(!valid_class("db.m5.micro") && !valid_class("t3.micro") && !valid_class("db.t3"));
        assert!(check_backup_window("23:45-00:15").is_ok(), "a window may span midnight");
        assert!(check_backup_window("03:00-03:20").is_err() && check_backup_window("3:00-03:30").is_err());
        assert!(check_maintenance_window("Sun:23:30-Mon:00:15").is_ok());
        assert!(check_maintenance_window("mon:03:00-tue:03:00").is_err(), "a day or more");
        assert_eq!(engine("postgres").map(|e| e.family("16.4")), Some("postgres16".to_string()));
        assert_eq!(engine("mysql").map(|e| e.family("8.0.39")), Some("mysql8.0".to_string()));
    }
}
