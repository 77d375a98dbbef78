//! Blue/green deployments: a green copy of a DB instance (a read replica of it) or of an Aurora
//! cluster (a cluster that replicates it, with an instance for each of its instances), kept in
//! step with the blue one, optionally on a newer engine version, another class or parameter
//! group. Switchover renames as RDS does — the blue resources take `-old1`, the green ones take
//! the blue names — and moves the endpoints: the green one answers on the port the blue one had
//! (squall's endpoints differ by port), so clients keep their connection settings and reach the
//! new database, which stops replicating and takes writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db_clusters::{ClusterInstanceSpec, DbClusterSpec, DbClusterStatus};
use crate::db_parameter_groups::GroupKind;
use crate::error::ControlError;
use crate::model::lifecycle::LifecycleDelays;
use crate::model::rds::{DbInstanceStatus, RdsError, ReadReplicaSpec};
use crate::model::zone::Zone;
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Blue/green deployments one account may have (RDS's default quota).
pub const MAX_DEPLOYMENTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlueGreenStatus {
    Provisioning,
    Available,
    SwitchoverInProgress,
    SwitchoverCompleted,
}

impl BlueGreenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Available => "AVAILABLE",
            Self::SwitchoverInProgress => "SWITCHOVER_IN_PROGRESS",
            Self::SwitchoverCompleted => "SWITCHOVER_COMPLETED",
        }
    }
}

/// What a deployment copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Instance,
    Cluster,
}

/// A blue resource and its green copy, by resource id (they survive the switchover's renames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenPair {
    /// `db` (an instance) or `cluster`.
    pub kind: String,
    pub blue: String,
    pub green: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenDeployment {
    /// `bgd-` and 16 lower-case letters and digits.
    pub id: String,
    pub name: String,
    pub source_kind: SourceKind,
    /// The source first (the instance, or the cluster then its instances).
    pub pairs: Vec<BlueGreenPair>,
    pub status: BlueGreenStatus,
    pub status_since_ms: u64,
    /// Whether the green copy runs another engine version (a task of its own).
    pub upgrade: bool,
    /// How long a switchover may wait for the green copy to catch up before it is rolled back.
    #[serde(default)]
    pub switchover_timeout_ms: u64,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for BlueGreenDeployment {
    const TABLE: &'static str = "blue_green_deployments";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// A switchover's time-out when none is asked for (RDS's default, 300 s).
pub const DEFAULT_SWITCHOVER_TIMEOUT_S: u32 = 300;

/// When a deployment's next transition falls due (`u64::MAX`: none by time; a provisioning one
/// turns available in the pass that makes its green copy available, a switchover completes when
/// the SQL layer reports the green copy caught up): a switchover's time-out.
pub(crate) fn blue_green_next_due(b: &BlueGreenDeployment, _d: LifecycleDelays) -> u64 {
    match b.status {
        BlueGreenStatus::SwitchoverInProgress => b.status_since_ms.saturating_add(b.switchover_timeout_ms),
        _ => u64::MAX,
    }
}

/// What CreateBlueGreenDeployment asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlueGreenSpec {
    pub name: String,
    /// `db` or `cluster`, and the identifier, of the source in this region.
    pub source: (String, String),
    pub engine_version: Option<String>,
    pub parameter_group: Option<String>,
    pub cluster_parameter_group: Option<String>,
    pub class: Option<String>,
    pub tags: BTreeMap<String, String>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn not_found(id: &str) -> ControlError {
    RdsError::BlueGreenNotFound(id.to_string()).into()
}

impl RegionState {
    pub fn blue_green_deployments(&self) -> Vec<BlueGreenDeployment> {
        self.blue_green.values().cloned().collect()
    }

    pub fn blue_green_deployment(&self, id: &str) -> Result<&BlueGreenDeployment, ControlError> {
        self.blue_green.get(&id.to_ascii_lowercase()).ok_or_else(|| not_found(id))
    }

    /// The current identifier of a pair's member (`db` or `cluster`, by resource id).
    pub fn blue_green_member_id(&self, kind: &str, resource_id: &str) -> Option<String> {
        match kind {
            "cluster" => self.db_clusters.values().find(|c| c.resource_id == resource_id).map(|c| c.id.clone()),
            _ => self.db_instances.values().find(|i| i.resource_id == resource_id).map(|i| i.id.clone()),
        }
    }

    /// Refuses to delete a resource of a deployment that has not switched over, as RDS does.
    pub(crate) fn check_not_in_deployment(&self, resource_id: &str, what: &str) -> Result<(), ControlError> {
        if self.in_deployment(resource_id) {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The {what} is part of a blue/green deployment: delete the deployment first."
            ))
            .into());
        }
        Ok(())
    }

    /// Whether a resource takes part in a deployment that has not switched over.
    fn in_deployment(&self, resource_id: &str) -> bool {
        self.blue_green.values().any(|b| {
            b.status != BlueGreenStatus::SwitchoverCompleted
                && b.pairs.iter().any(|p| p.blue == resource_id || p.green == resource_id)
        })
    }

    /// `<name>-green-<6 letters>`, not taken.
    fn green_name(&mut self, blue: &str) -> String {
        loop {
            let mut n = self.next_random();
            let mut tail = String::new();
            for _ in 0..6 {
                tail.push((b'a' + (n % 26) as u8) as char);
                n /= 26;
            }
            let base: String = blue.chars().take(63 - 13).collect();
            let name = format!("{base}-green-{tail}");
            if !self.db_instances.contains_key(&name) && !self.db_clusters.contains_key(&name) {
                return name;
            }
        }
    }

    /// The version a green copy runs: the target (never older than the blue one's), else the blue's.
    fn green_version(&self, versions: &[&str], blue: &str, asked: Option<&str>) -> Result<String, ControlError> {
        let Some(v) = asked else { return Ok(blue.to_string()) };
        let found = versions
            .iter()
            .find(|known| **known == v || known.starts_with(&format!("{v}.")))
            .ok_or_else(|| invalid(format!("Cannot find the target engine version {v}.")))?;
        if crate::rds::version_key(found) < crate::rds::version_key(blue) {
            return Err(invalid(format!(
                "The target engine version {found} is older than the source's {blue}: a blue/green deployment \
                 never downgrades."
            )));
        }
        Ok(found.to_string())
    }

    /// CreateBlueGreenDeployment: the green copy starts now, and the deployment is available once
    /// it is.
    pub(crate) fn create_blue_green(
        &mut self,
        spec: BlueGreenSpec,
        region: &crate::RegionName,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        if !crate::rds::identifier_shape(&spec.name.to_ascii_lowercase(), 60) {
            return Err(invalid(
                "The parameter BlueGreenDeploymentName is not a valid identifier: 1 to 60 letters, digits and \
                 hyphens, starting with a letter.",
            ));
        }
        if self.blue_green.values().any(|b| b.name.eq_ignore_ascii_case(&spec.name)) {
            return Err(RdsError::BlueGreenExists(spec.name.clone()).into());
        }
        if self.blue_green.len() >= MAX_DEPLOYMENTS {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The number of blue/green deployments is already at the maximum allowed ({MAX_DEPLOYMENTS})."
            ))
            .into());
        }
        let (kind, source) = &spec.source;
        let (source_kind, pairs, upgrade) = match kind.as_str() {
            "db" => self.green_instance(&spec, source, zones, address, now_ms)?,
            "cluster" => self.green_cluster(&spec, source, region, zones, address, now_ms)?,
            other => {
                return Err(invalid(format!("The source must be a DB instance or a DB cluster ARN, not {other}.")))
            }
        };
        let mut n = self.next_random();
        let mut id = String::from("bgd-");
        for _ in 0..16 {
            id.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[(n % 36) as usize] as char);
            n /= 36;
        }
        let deployment = BlueGreenDeployment {
            id: id.clone(),
            name: spec.name.clone(),
            source_kind,
            pairs,
            status: BlueGreenStatus::Provisioning,
            status_since_ms: now_ms,
            upgrade,
            switchover_timeout_ms: 0,
            created_ms: now_ms,
            tags: spec.tags,
        };
        self.blue_green.insert(id, deployment.clone());
        Ok(deployment)
    }

    fn green_instance(
        &mut self,
        spec: &BlueGreenSpec,
        source: &str,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<(SourceKind, Vec<BlueGreenPair>, bool), ControlError> {
        let blue = self.db_instance(source)?.clone();
        if blue.cluster.is_some() || blue.read_replica_source.is_some() {
            return Err(RdsError::BlueGreenSourceNotSupported(format!(
                "The DB instance {} can't be the source of a blue/green deployment: it is {}.",
                blue.id,
                if blue.cluster.is_some() { "an instance of a DB cluster" } else { "a read replica" }
            ))
            .into());
        }
        if self.in_deployment(&blue.resource_id) {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The DB instance {} is already part of a blue/green deployment.",
                blue.id
            ))
            .into());
        }
        if spec.cluster_parameter_group.is_some() {
            return Err(RdsError::InvalidParameterCombination(
                "TargetDBClusterParameterGroupName applies to a DB cluster source.".into(),
            )
            .into());
        }
        let engine = crate::rds::engine(&blue.engine).ok_or_else(|| invalid("engine"))?;
        let version = self.green_version(engine.versions, &blue.engine_version, spec.engine_version.as_deref())?;
        let family = engine.family(&version);
        let parameter_group = match &spec.parameter_group {
            Some(g) => Some(self.db_parameter_group_for(g, &family)?),
            None if family != engine.family(&blue.engine_version) => {
                Some(crate::db_parameter_groups::default_group_name(&family))
            }
            None => None,
        };
        if let Some(c) = &spec.class {
            if !crate::rds::valid_class(c) {
                return Err(invalid(format!("Invalid DB instance class: {c}")));
            }
        }
        self.check_replica_source(&blue)?;
        let name = self.green_name(&blue.id);
        let replica = ReadReplicaSpec {
            id: name.clone(),
            source: blue.id.clone(),
            class: spec.class.clone(),
            multi_az: blue.multi_az,
            security_groups: Some(blue.settings.security_groups.clone()),
            ..Default::default()
        };
        let green = self.create_replica_of(&blue, blue.id.clone(), true, replica, zones, address, now_ms)?;
        let row = self.db_instances.get_mut(&green.id).ok_or_else(|| ControlError::invariant("green instance"))?;
        row.engine_version = version.clone();
        row.backup_retention_days = blue.backup_retention_days;
        if let Some(g) = parameter_group {
            row.parameter_group = g;
        }
        let pairs = vec![BlueGreenPair { kind: "db".into(), blue: blue.resource_id, green: green.resource_id }];
        Ok((SourceKind::Instance, pairs, version != blue.engine_version))
    }

    fn green_cluster(
        &mut self,
        spec: &BlueGreenSpec,
        source: &str,
        region: &crate::RegionName,
        zones: &[Zone],
        address: &str,
        now_ms: u64,
    ) -> Result<(SourceKind, Vec<BlueGreenPair>, bool), ControlError> {
        let blue = self.db_cluster(source)?.clone();
        if blue.status != DbClusterStatus::Available {
            return Err(RdsError::InvalidClusterState(format!(
                "DbCluster {} is in {} state but expected it to be available.",
                blue.id,
                blue.status.as_str()
            ))
            .into());
        }
        if blue.instance_class.is_some() {
            return Err(RdsError::BlueGreenSourceNotSupported(format!(
                "The DB cluster {} is a Multi-AZ DB cluster: squall's blue/green deployments copy DB instances and \
                 Aurora clusters.",
                blue.id
            ))
            .into());
        }
        if blue.global_cluster.is_some() || blue.replication_source.is_some() {
            return Err(RdsError::BlueGreenSourceNotSupported(format!(
                "The DB cluster {} can't be the source of a blue/green deployment: it is a member of a global \
                 cluster.",
                blue.id
            ))
            .into());
        }
        if self.in_deployment(&blue.resource_id) {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The DB cluster {} is already part of a blue/green deployment.",
                blue.id
            ))
            .into());
        }
        let members = self.cluster_members(&blue.id);
        if members.is_empty() {
            return Err(RdsError::BlueGreenSourceNotSupported(format!(
                "The DB cluster {} has no DB instances to copy.",
                blue.id
            ))
            .into());
        }
        let engine = crate::db_clusters::cluster_engine(&blue.engine).ok_or_else(|| invalid("engine"))?;
        let version = self.green_version(engine.versions, &blue.engine_version, spec.engine_version.as_deref())?;
        let family = engine.family(&version);
        let cluster_group = match &spec.cluster_parameter_group {
            Some(g) => Some(self.parameter_group_for(GroupKind::Cluster, g, &family)?),
            None if family != engine.family(&blue.engine_version) => Some(format!("default.{family}")),
            None => Some(blue.parameter_group.clone()),
        };
        let name = self.green_name(&blue.id);
        let green_spec = DbClusterSpec {
            id: name.clone(),
            engine: blue.engine.clone(),
            engine_version: Some(version.clone()),
            master_username: Some(blue.master_username.clone()),
            master_password: Some(blue.master_password.clone()),
            db_name: blue.db_name.clone(),
            subnet_group: blue.subnet_group.clone(),
            security_groups: blue.security_groups.clone(),
            parameter_group: cluster_group,
            backup_retention_days: Some(blue.backup_retention_days),
            storage_encrypted: blue.storage_encrypted,
            kms_key_id: blue.kms_key_id.clone(),
            copy_tags_to_snapshot: blue.copy_tags_to_snapshot,
            storage_type: Some(blue.storage_type.clone()),
            serverless_v2: blue.serverless_v2,
            availability_zones: blue.zones().iter().map(|z| z.to_string()).collect(),
            tags: blue.tags.clone(),
            ..Default::default()
        };
        let green = self.create_db_cluster(green_spec, zones, address, now_ms)?;
        self.join_replication(&green.id, crate::global_clusters::source_of(region, &blue.id))?;
        let mut pairs =
            vec![BlueGreenPair { kind: "cluster".into(), blue: blue.resource_id.clone(), green: green.resource_id }];
        let mut ordered = members;
        // The writer's copy first, so that it writes in the green cluster too.
        ordered.sort_by_key(|m| Some(m.resource_id.as_str()) != blue.writer.as_deref());
        for m in ordered {
            let instance_name = self.green_name(&m.id);
            let parameter_group = match &spec.parameter_group {
                Some(g) => Some(g.clone()),
                None if family == engine.family(&blue.engine_version) => Some(m.parameter_group.clone()),
                None => None,
            };
            let made = self.create_cluster_instance(
                ClusterInstanceSpec {
                    id: instance_name,
                    cluster: green.id.clone(),
                    engine: blue.engine.clone(),
                    class: spec.class.clone().unwrap_or_else(|| m.class.clone()),
                    zone: Some(m.primary.zone.to_string()),
                    promotion_tier: Some(m.promotion_tier),
                    publicly_accessible: m.publicly_accessible,
                    parameter_group,
                    tags: m.tags.clone(),
                    own_storage_or_credentials: false,
                    multi_az_member: false,
                },
                zones,
                now_ms,
            )?;
            pairs.push(BlueGreenPair { kind: "db".into(), blue: m.resource_id, green: made.resource_id });
        }
        Ok((SourceKind::Cluster, pairs, version != blue.engine_version))
    }

    /// A cluster replicates another of this region (`region/identifier`), read-only.
    fn join_replication(&mut self, cluster: &str, source: String) -> Result<(), ControlError> {
        let c = self.db_clusters.get_mut(cluster).ok_or_else(|| RdsError::ClusterNotFound(cluster.into()))?;
        c.replication_source = Some(source);
        Ok(())
    }

    /// Provisioning deployments whose green resources are all available turn available.
    pub(crate) fn settle_blue_green(&mut self, now_ms: u64) {
        let d = self.delays();
        let ready: Vec<String> = self
            .blue_green
            .values()
            .filter(|b| b.status == BlueGreenStatus::Provisioning)
            .filter(|b| b.pairs.iter().all(|p| self.green_available(p)))
            .map(|b| b.id.clone())
            .collect();
        for id in ready {
            if let Some(b) = self.blue_green.get_mut(&id) {
                b.status = BlueGreenStatus::Available;
                b.status_since_ms = now_ms;
            }
        }
        // A switchover whose green copy did not catch up in time is rolled back: the blue
        // resources take writes again, nothing was renamed.
        let timed_out: Vec<BlueGreenDeployment> =
            self.blue_green.values().filter(|b| blue_green_next_due(b, d) <= now_ms).cloned().collect();
        for b in timed_out {
            self.block_blue_writes(&b, false);
            if let Some(row) = self.blue_green.get_mut(&b.id) {
                row.status = BlueGreenStatus::Available;
                row.status_since_ms = now_ms;
            }
            tracing::warn!(deployment = %b.id, "a blue/green switchover timed out and was rolled back");
        }
    }

    /// Holds (or lets go) the writes of a deployment's blue resources.
    fn block_blue_writes(&mut self, b: &BlueGreenDeployment, blocked: bool) {
        for p in &b.pairs {
            match p.kind.as_str() {
                "cluster" => {
                    self.db_clusters.update_where(|c| c.resource_id == p.blue, |c| c.writes_blocked = blocked);
                }
                _ => self.db_instances.update_where(|i| i.resource_id == p.blue, |i| i.writes_blocked = blocked),
            }
        }
    }

    /// Whether a switchover waits for its green copy.
    pub fn switchovers_waiting(&self) -> bool {
        self.blue_green.values().any(|b| b.status == BlueGreenStatus::SwitchoverInProgress)
    }

    /// Switchovers whose green copy has every write of the blue one (the SQL layer reports it
    /// `caught_up`; or neither is served, so no write can be missing) complete now.
    pub(crate) fn finish_switchovers(
        &mut self,
        served: &[&str],
        caught_up: &[&str],
        now_ms: u64,
    ) -> Result<(), ControlError> {
        let ready: Vec<String> = self
            .blue_green
            .values()
            .filter(|b| b.status == BlueGreenStatus::SwitchoverInProgress)
            .filter(|b| {
                b.pairs.first().is_some_and(|p| {
                    caught_up.contains(&p.green.as_str())
                        || (!served.contains(&p.blue.as_str()) && !served.contains(&p.green.as_str()))
                })
            })
            .map(|b| b.id.clone())
            .collect();
        for id in ready {
            self.finish_switchover(&id, now_ms)?;
        }
        Ok(())
    }

    /// The switch itself: renames, ports, the green resources stop replicating and write.
    fn finish_switchover(&mut self, id: &str, now_ms: u64) -> Result<(), ControlError> {
        let b = self.blue_green_deployment(id)?.clone();
        for p in &b.pairs {
            match p.kind.as_str() {
                "cluster" => self.switch_clusters(p, now_ms)?,
                _ => self.switch_instances(p, b.source_kind == SourceKind::Cluster, now_ms)?,
            }
        }
        self.block_blue_writes(&b, false);
        let row = self.blue_green.get_mut(&b.id).ok_or_else(|| not_found(id))?;
        row.status = BlueGreenStatus::SwitchoverCompleted;
        row.status_since_ms = now_ms;
        Ok(())
    }

    fn green_available(&self, p: &BlueGreenPair) -> bool {
        match p.kind.as_str() {
            "cluster" => {
                self.db_clusters.values().any(|c| c.resource_id == p.green && c.status.as_str() == "available")
            }
            _ => {
                self.db_instances.values().any(|i| i.resource_id == p.green && i.status == DbInstanceStatus::Available)
            }
        }
    }

    /// SwitchoverBlueGreenDeployment: the blue resources stop taking writes; once the green copy
    /// has every write (the SQL layer reports it) the renames and the endpoints' ports move, the
    /// green resources stop replicating and take writes. Not caught up within `timeout_s`: the
    /// switchover is rolled back.
    pub(crate) fn switchover_blue_green(
        &mut self,
        id: &str,
        timeout_s: u32,
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        let b = self.blue_green_deployment(id)?.clone();
        if b.status != BlueGreenStatus::Available {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The blue/green deployment {} can't be switched over in its current state ({}): it must be AVAILABLE.",
                b.id,
                b.status.as_str()
            ))
            .into());
        }
        for p in &b.pairs {
            let ready_blue = match p.kind.as_str() {
                "cluster" => {
                    self.db_clusters.values().any(|c| c.resource_id == p.blue && c.status == DbClusterStatus::Available)
                }
                _ => self
                    .db_instances
                    .values()
                    .any(|i| i.resource_id == p.blue && i.status == DbInstanceStatus::Available),
            };
            if !ready_blue || !self.green_available(p) {
                return Err(RdsError::InvalidBlueGreenState(format!(
                    "The blue/green deployment {}: every blue and green resource must be available to switch over.",
                    b.id
                ))
                .into());
            }
        }
        self.block_blue_writes(&b, true);
        let row = self.blue_green.get_mut(&b.id).ok_or_else(|| not_found(id))?;
        row.status = BlueGreenStatus::SwitchoverInProgress;
        row.status_since_ms = now_ms;
        row.switchover_timeout_ms = u64::from(timeout_s) * 1000;
        let shown = row.clone();
        // An engine squall serves no SQL for has no writes to wait for.
        let engine = match b.pairs.first().map(|p| (p.kind.as_str(), p.blue.as_str())) {
            Some(("cluster", r)) => self.db_clusters.values().find(|c| c.resource_id == r).map(|c| c.engine.clone()),
            Some((_, r)) => self.db_instances.values().find(|i| i.resource_id == r).map(|i| i.engine.clone()),
            None => None,
        };
        if !engine.as_deref().is_some_and(crate::served_engine) {
            self.finish_switchover(&b.id, now_ms)?;
        }
        Ok(shown)
    }

    /// `<name>-old1` (or the first free `-oldN`).
    fn old_name(&self, name: &str, taken: &dyn Fn(&str) -> bool) -> String {
        (1..).map(|n| format!("{name}-old{n}")).find(|c| !taken(c)).unwrap_or_else(|| format!("{name}-old"))
    }

    fn switch_instances(&mut self, p: &BlueGreenPair, in_cluster: bool, now_ms: u64) -> Result<(), ControlError> {
        let find = |s: &Self, r: &str| s.db_instances.values().find(|i| i.resource_id == r).cloned();
        let (Some(mut blue), Some(mut green)) = (find(self, &p.blue), find(self, &p.green)) else {
            return Err(ControlError::invariant("a blue/green pair's instances"));
        };
        let blue_name = blue.id.clone();
        let old = self.old_name(&blue_name, &|n| self.db_instances.contains_key(n));
        self.db_instances.remove(&blue.id);
        self.db_instances.remove(&green.id);
        let green_name = std::mem::replace(&mut green.id, blue_name.clone());
        blue.id = old.clone();
        if !in_cluster {
            std::mem::swap(&mut blue.port, &mut green.port);
            green.backup_retention_days = green.backup_retention_days.max(1);
        }
        self.db_instances.insert(blue.id.clone(), blue);
        self.db_instances.insert(green.id.clone(), green);
        self.db_instances.update_where(
            |r| r.read_replica_source.as_deref() == Some(blue_name.as_str()) && r.id != blue_name,
            |r| r.read_replica_source = Some(old.clone()),
        );
        if !in_cluster {
            self.end_replication(&blue_name, now_ms);
        }
        self.rds_event(
            &old,
            &format!("Renamed instance from {blue_name} to {old}"),
            "RDS-EVENT-0034",
            "configuration change",
            now_ms,
        );
        self.rds_event(
            &blue_name,
            &format!("Renamed instance from {green_name} to {blue_name}"),
            "RDS-EVENT-0034",
            "configuration change",
            now_ms,
        );
        Ok(())
    }

    fn switch_clusters(&mut self, p: &BlueGreenPair, now_ms: u64) -> Result<(), ControlError> {
        let find = |s: &Self, r: &str| s.db_clusters.values().find(|c| c.resource_id == r).cloned();
        let (Some(mut blue), Some(mut green)) = (find(self, &p.blue), find(self, &p.green)) else {
            return Err(ControlError::invariant("a blue/green pair's clusters"));
        };
        let blue_name = blue.id.clone();
        let old = self.old_name(&blue_name, &|n| self.db_clusters.contains_key(n));
        let green_name = green.id.clone();
        self.db_clusters.remove(&blue.id);
        self.db_clusters.remove(&green.id);
        green.id = blue_name.clone();
        blue.id = old.clone();
        std::mem::swap(&mut blue.port, &mut green.port);
        std::mem::swap(&mut blue.reader_port, &mut green.reader_port);
        green.replication_source = None;
        self.db_clusters.insert(blue.id.clone(), blue);
        self.db_clusters.insert(green.id.clone(), green);
        // Members follow their cluster's new name.
        self.db_instances
            .update_where(|i| i.cluster.as_deref() == Some(blue_name.as_str()), |i| i.cluster = Some(old.clone()));
        self.db_instances.update_where(
            |i| i.cluster.as_deref() == Some(green_name.as_str()),
            |i| i.cluster = Some(blue_name.clone()),
        );
        for (id, from) in [(&old, &blue_name), (&blue_name, &green_name)] {
            self.rds_event_of(
                crate::model::rds::EventSource::DbCluster,
                id,
                &format!("DB cluster renamed from {from}"),
                "RDS-EVENT-0178",
                "notification",
                now_ms,
            );
        }
        Ok(())
    }

    /// DeleteBlueGreenDeployment: before a switchover, `delete_target` deletes the green
    /// resources (else they stay, as standalone copies); after one, the deployment only goes.
    pub(crate) fn delete_blue_green(
        &mut self,
        id: &str,
        delete_target: bool,
        zones: &[Zone],
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        let b = self.blue_green_deployment(id)?.clone();
        if b.status == BlueGreenStatus::SwitchoverInProgress {
            return Err(RdsError::InvalidBlueGreenState(format!(
                "The blue/green deployment {} is switching over: it can be deleted once the switchover completes.",
                b.id
            ))
            .into());
        }
        let switched = b.status == BlueGreenStatus::SwitchoverCompleted;
        if delete_target && switched {
            return Err(RdsError::InvalidParameterCombination(
                "DeleteTarget can't be specified after a switchover: the green resources are the production ones now."
                    .into(),
            )
            .into());
        }
        self.blue_green.remove(&b.id);
        if delete_target {
            // Instances first, then the cluster they belonged to.
            for p in b.pairs.iter().rev() {
                let Some(name) = self.blue_green_member_id(&p.kind, &p.green) else { continue };
                match p.kind.as_str() {
                    "cluster" => {
                        if let Some(c) = self.db_clusters.get_mut(&name) {
                            c.replication_source = None;
                        }
                        self.delete_db_cluster(&name, true, None, std::path::Path::new(""), now_ms)?;
                    }
                    _ => {
                        let gone = self.delete_db_instance(&name, true, None, true, now_ms)?;
                        self.leave_cluster(&gone, zones, now_ms)?;
                    }
                }
            }
        } else if !switched {
            // The green copies stay as standalone resources: they stop replicating.
            for p in &b.pairs {
                let Some(name) = self.blue_green_member_id(&p.kind, &p.green) else { continue };
                match p.kind.as_str() {
                    "cluster" => {
                        if let Some(c) = self.db_clusters.get_mut(&name) {
                            c.replication_source = None;
                        }
                    }
                    _ => self.end_replication(&name, now_ms),
                }
            }
        }
        Ok(b)
    }
}

impl Region {
    pub fn create_blue_green(
        &self,
        spec: BlueGreenSpec,
        address: &str,
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        let zones = self.zones_now();
        let region = self.name().clone();
        self.with_state(now_ms, |s| s.create_blue_green(spec, &region, &zones, address, now_ms))
    }

    pub fn switchover_blue_green(
        &self,
        id: &str,
        timeout_s: u32,
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        self.with_state(now_ms, |s| s.switchover_blue_green(id, timeout_s, now_ms))
    }

    pub fn delete_blue_green(
        &self,
        id: &str,
        delete_target: bool,
        now_ms: u64,
    ) -> Result<BlueGreenDeployment, ControlError> {
        let zones = self.zones_now();
        self.with_state(now_ms, |s| s.delete_blue_green(id, delete_target, &zones, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rds::DbInstanceSpec;
    use crate::test_support::TestRegion;

    fn status(t: &TestRegion, id: &str) -> BlueGreenStatus {
        t.region.read(t.now(), |s| Ok(s.blue_green_deployment(id)?.status)).expect("deployment")
    }

    fn blocked(t: &TestRegion, id: &str) -> bool {
        t.region.read(t.now(), |s| Ok(s.db_instance(id)?.writes_blocked)).expect("instance")
    }

    #[test]
    fn a_switchover_waits_for_the_green_copy_and_rolls_back_when_it_does_not_catch_up() {
        let t = TestRegion::new();
        let spec = DbInstanceSpec {
            id: "orders".into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            engine_version: Some("15.8".into()),
            allocated_gib: Some(20),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            backup_retention_days: Some(1),
            ..Default::default()
        };
        let blue = t.region.create_db_instance(spec, "localhost", t.now()).expect("create");
        t.advance(5_000);
        let spec = BlueGreenSpec {
            name: "upgrade".into(),
            source: ("db".into(), "orders".into()),
            engine_version: Some("16.4".into()),
            ..Default::default()
        };
        let made = t.region.create_blue_green(spec, "localhost", t.now()).expect("deployment");
        let early = t.region.switchover_blue_green(&made.id, 300, t.now());
        assert!(matches!(early, Err(ControlError::Rds(RdsError::InvalidBlueGreenState(_)))), "{early:?}");
        t.advance(5_000);
        assert_eq!(status(&t, &made.id), BlueGreenStatus::Available);
        let green = made.pairs[0].green.clone();

        // Not caught up within the time-out: rolled back, the blue instance writes again.
        t.region.switchover_blue_green(&made.id, 30, t.now()).expect("switchover");
        assert_eq!(status(&t, &made.id), BlueGreenStatus::SwitchoverInProgress);
        assert!(blocked(&t, "orders"), "the blue instance holds its writes during the switchover");
        let served = [blue.resource_id.as_str(), green.as_str()];
        t.region.with_state(t.now(), |s| s.finish_switchovers(&served, &[], t.now())).expect("not yet");
        assert_eq!(status(&t, &made.id), BlueGreenStatus::SwitchoverInProgress);
        t.advance(31_000);
        assert_eq!(status(&t, &made.id), BlueGreenStatus::Available);
        assert!(!blocked(&t, "orders"));
        let renamed = t.region.read(t.now(), |s| Ok(s.db_instance("orders-old1").is_ok())).expect("read");
        assert!(!renamed, "nothing was renamed");

        // Caught up: the names move, the green copy writes, the blue one too (under its new name).
        t.region.switchover_blue_green(&made.id, 300, t.now()).expect("switchover");
        t.region.with_state(t.now(), |s| s.finish_switchovers(&served, &[green.as_str()], t.now())).expect("done");
        assert_eq!(status(&t, &made.id), BlueGreenStatus::SwitchoverCompleted);
        let (now, old) = t
            .region
            .read(t.now(), |s| Ok((s.db_instance("orders")?.clone(), s.db_instance("orders-old1")?.clone())))
            .expect("both");
        assert_eq!((now.resource_id.as_str(), now.engine_version.as_str()), (green.as_str(), "16.4"));
        assert_eq!((old.resource_id, old.writes_blocked), (blue.resource_id.clone(), false));
        assert_eq!(now.port, blue.port, "the green instance answers on the blue port");
        assert!(now.read_replica_source.is_none());
    }
}
