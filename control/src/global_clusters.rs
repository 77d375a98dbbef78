//! Aurora global databases: a global cluster is a set of DB clusters in several regions — one
//! primary that writes, secondaries in other regions that replicate it and serve read-only SQL.
//! The global cluster's row lives in the region that made it; its members are the clusters (in
//! any region) that name its resource id, so joining and leaving touch only the member's region.
//! A secondary's SQL endpoint is a replica of the primary's writer endpoint (its cluster volume
//! gets the primary's bytes, then follows its writes, as a cross-region read replica does).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db_clusters::{cluster_engine, DbCluster, DbClusterSpec};
use crate::error::ControlError;
use crate::model::rds::RdsError;
use crate::table::Row;
use crate::{ControlPlane, RegionName};

/// Global clusters one account may have (RDS's default quota).
pub const MAX_GLOBAL_CLUSTERS: usize = 5;
/// Secondary clusters one global cluster may have (Aurora's limit).
pub const MAX_SECONDARIES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalCluster {
    /// Lower-case.
    pub id: String,
    /// `cluster-` and 26 characters: what its members name (it survives renames).
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub database_name: Option<String>,
    pub storage_encrypted: bool,
    pub deletion_protection: bool,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for GlobalCluster {
    const TABLE: &'static str = "global_clusters";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// A member of a global cluster, as DescribeGlobalClusters lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalMember {
    pub region: RegionName,
    pub cluster: DbCluster,
    /// The primary: the member that writes (the others replicate it).
    pub writer: bool,
}

/// What CreateGlobalCluster asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalClusterSpec {
    pub id: String,
    /// The primary: an existing cluster, by region and identifier.
    pub source: Option<(RegionName, String)>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub database_name: Option<String>,
    pub storage_encrypted: Option<bool>,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

fn not_found(id: &str) -> ControlError {
    RdsError::GlobalClusterNotFound(id.to_string()).into()
}

fn combination(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterCombination(message.into()).into()
}

fn state_error(message: impl Into<String>) -> ControlError {
    RdsError::InvalidGlobalClusterState(message.into()).into()
}

/// `region/identifier` of the cluster a secondary replicates.
pub fn source_of(region: &RegionName, cluster: &str) -> String {
    format!("{region}/{cluster}")
}

impl ControlPlane {
    /// Every global cluster, in identifier order, with the region that keeps its row.
    pub fn global_clusters(&self) -> Vec<(RegionName, GlobalCluster)> {
        let now = self.now_ms();
        let mut out: Vec<(RegionName, GlobalCluster)> = Vec::new();
        for name in self.known_regions() {
            let found = self.region(&name).read(now, |s| Ok(s.global_clusters.values().cloned().collect::<Vec<_>>()));
            out.extend(found.unwrap_or_default().into_iter().map(|g| (name.clone(), g)));
        }
        out.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        out
    }

    /// A global cluster by identifier (any case).
    pub fn global_cluster(&self, id: &str) -> Result<(RegionName, GlobalCluster), ControlError> {
        let key = id.to_ascii_lowercase();
        self.global_clusters().into_iter().find(|(_, g)| g.id == key).ok_or_else(|| not_found(id))
    }

    /// The clusters of a global cluster in every region: the primary first.
    pub fn global_members(&self, resource_id: &str) -> Vec<GlobalMember> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for name in self.known_regions() {
            let found = self.region(&name).read(now, |s| {
                Ok(s.db_clusters().into_iter().filter(|c| c.global_cluster.as_deref() == Some(resource_id)).collect())
            });
            let clusters: Vec<DbCluster> = found.unwrap_or_default();
            out.extend(clusters.into_iter().map(|c| GlobalMember {
                region: name.clone(),
                writer: c.replication_source.is_none(),
                cluster: c,
            }));
        }
        out.sort_by_key(|m| !m.writer);
        out
    }

    /// CreateGlobalCluster in `region` (which keeps the row): empty, or around an existing
    /// cluster (`source`), which becomes its primary.
    pub fn create_global_cluster(
        &self,
        region: &RegionName,
        spec: GlobalClusterSpec,
    ) -> Result<GlobalCluster, ControlError> {
        let now = self.now_ms();
        let id = spec.id.to_ascii_lowercase();
        if !crate::rds::identifier_shape(&id, 63) {
            return Err(RdsError::InvalidParameterValue(
                "The parameter GlobalClusterIdentifier is not a valid identifier. Identifiers must begin with a \
                 letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or \
                 contain two consecutive hyphens."
                    .into(),
            )
            .into());
        }
        let all = self.global_clusters();
        if all.iter().any(|(_, g)| g.id == id) {
            return Err(RdsError::GlobalClusterExists(id).into());
        }
        if all.len() >= MAX_GLOBAL_CLUSTERS {
            return Err(RdsError::GlobalClusterQuotaExceeded(MAX_GLOBAL_CLUSTERS).into());
        }
        let source = match &spec.source {
            Some((r, c)) => {
                let cluster = self.region(r).read(now, |s| Ok(s.db_cluster(c)?.clone()))?;
                if cluster.instance_class.is_some() {
                    return Err(combination(format!(
                        "The DB cluster {} is a Multi-AZ DB cluster: global clusters are made of Aurora clusters.",
                        cluster.id
                    )));
                }
                if cluster.global_cluster.is_some() {
                    return Err(combination(format!(
                        "The DB cluster {} is already a member of a global cluster.",
                        cluster.id
                    )));
                }
                if cluster.status.as_str() != "available" {
                    return Err(RdsError::InvalidClusterState(format!(
                        "DbCluster {} is in {} state but expected it to be available.",
                        cluster.id,
                        cluster.status.as_str()
                    ))
                    .into());
                }
                for (name, asked) in [("Engine", &spec.engine), ("EngineVersion", &spec.engine_version)] {
                    let own = if name == "Engine" { &cluster.engine } else { &cluster.engine_version };
                    if asked.as_ref().is_some_and(|a| a != own) {
                        return Err(combination(format!(
                            "The {name} {} does not match the source DB cluster's {own}.",
                            asked.as_deref().unwrap_or_default()
                        )));
                    }
                }
                Some((r.clone(), cluster))
            }
            None => None,
        };
        let (engine, version, database_name, encrypted) = match &source {
            Some((_, c)) => (c.engine.clone(), c.engine_version.clone(), c.db_name.clone(), c.storage_encrypted),
            None => {
                let name = spec.engine.clone().ok_or_else(|| {
                    RdsError::InvalidParameterValue(
                        "The parameter Engine must be provided when SourceDBClusterIdentifier is not.".into(),
                    )
                })?;
                let engine = cluster_engine(&name).filter(|e| !e.multi_az).ok_or_else(|| {
                    RdsError::InvalidParameterValue(format!(
                        "The engine {name} is not supported for global clusters: use aurora-postgresql or \
                         aurora-mysql."
                    ))
                })?;
                let version = match &spec.engine_version {
                    None => engine.versions[0].to_string(),
                    Some(v) => engine
                        .versions
                        .iter()
                        .find(|known| *known == v || known.starts_with(&format!("{v}.")))
                        .ok_or_else(|| RdsError::InvalidParameterValue(format!("Cannot find version {v} for {name}")))?
                        .to_string(),
                };
                (name, version, spec.database_name.clone(), spec.storage_encrypted.unwrap_or(false))
            }
        };
        let home = self.region(region);
        let made = home.with_state(now, |s| {
            let resource_id = s.global_resource_id();
            let g = GlobalCluster {
                id: id.clone(),
                resource_id,
                engine,
                engine_version: version,
                database_name,
                storage_encrypted: encrypted,
                deletion_protection: spec.deletion_protection,
                created_ms: now,
                tags: spec.tags.clone(),
            };
            s.global_clusters.insert(id.clone(), g.clone());
            Ok(g)
        })?;
        if let Some((r, c)) = source {
            let joined = self.region(&r).with_state(now, |s| s.join_global(&c.id, &made.resource_id, None));
            if let Err(e) = joined {
                let _ = home.with_state(now, |s| {
                    s.global_clusters.remove(&made.id);
                    Ok(())
                });
                return Err(e);
            }
        }
        Ok(made)
    }

    /// ModifyGlobalCluster: rename, deletion protection.
    pub fn modify_global_cluster(
        &self,
        id: &str,
        new_id: Option<&str>,
        deletion_protection: Option<bool>,
    ) -> Result<GlobalCluster, ControlError> {
        let now = self.now_ms();
        let (home, g) = self.global_cluster(id)?;
        let new_id = match new_id {
            Some(n) => {
                let n = n.to_ascii_lowercase();
                if !crate::rds::identifier_shape(&n, 63) {
                    return Err(RdsError::InvalidParameterValue(
                        "The parameter NewGlobalClusterIdentifier is not a valid identifier.".into(),
                    )
                    .into());
                }
                if n != g.id && self.global_clusters().iter().any(|(_, other)| other.id == n) {
                    return Err(RdsError::GlobalClusterExists(n).into());
                }
                Some(n)
            }
            None => None,
        };
        self.region(&home).with_state(now, |s| {
            let mut row = s.global_clusters.remove(&g.id).ok_or_else(|| not_found(&g.id))?;
            if let Some(p) = deletion_protection {
                row.deletion_protection = p;
            }
            if let Some(n) = &new_id {
                row.id = n.clone();
            }
            s.global_clusters.insert(row.id.clone(), row.clone());
            Ok(row)
        })
    }

    /// DeleteGlobalCluster: only once it has no members, and not while protected.
    pub fn delete_global_cluster(&self, id: &str) -> Result<GlobalCluster, ControlError> {
        let now = self.now_ms();
        let (home, g) = self.global_cluster(id)?;
        if g.deletion_protection {
            return Err(combination(
                "Cannot delete protected Global Cluster, please disable deletion protection and try again.",
            ));
        }
        if !self.global_members(&g.resource_id).is_empty() {
            return Err(state_error(format!(
                "The global cluster {} is not empty: remove its DB clusters first (RemoveFromGlobalCluster).",
                g.id
            )));
        }
        self.region(&home).with_state(now, |s| s.global_clusters.remove(&g.id).ok_or_else(|| not_found(&g.id)))
    }

    /// RemoveFromGlobalCluster: a secondary leaves and becomes a standalone cluster that writes
    /// (its SQL endpoint stops replicating and takes writes on what it has); the primary may
    /// leave only as the last member.
    pub fn remove_from_global_cluster(
        &self,
        id: &str,
        member: &(RegionName, String),
    ) -> Result<GlobalCluster, ControlError> {
        let now = self.now_ms();
        let (_, g) = self.global_cluster(id)?;
        let members = self.global_members(&g.resource_id);
        let (region, cluster) = member;
        let found =
            members.iter().find(|m| m.region == *region && m.cluster.id == cluster.to_ascii_lowercase()).ok_or_else(
                || RdsError::ClusterNotFound(format!("{cluster} is not a member of the global cluster {}", g.id)),
            )?;
        if found.writer && members.len() > 1 {
            return Err(state_error(format!(
                "The primary DB cluster {} cannot leave the global cluster {} while it has secondary clusters.",
                found.cluster.id, g.id
            )));
        }
        self.region(region).with_state(now, |s| s.leave_global(&found.cluster.id, now))?;
        Ok(g)
    }

    /// CreateDBCluster with GlobalClusterIdentifier: a secondary cluster in `region` of the
    /// global cluster (or its primary, for an empty one). A secondary takes the primary's engine,
    /// credentials and database, and replicates it.
    pub fn create_global_member(
        &self,
        region: &RegionName,
        global_id: &str,
        mut spec: DbClusterSpec,
        address: &str,
    ) -> Result<DbCluster, ControlError> {
        let now = self.now_ms();
        let (_, g) = self.global_cluster(global_id)?;
        if spec.engine != g.engine {
            return Err(combination(format!(
                "The engine {} does not match the global cluster's engine {}.",
                spec.engine, g.engine
            )));
        }
        let members = self.global_members(&g.resource_id);
        if members.iter().any(|m| m.region == *region) {
            return Err(combination(format!(
                "The global cluster {} already has a DB cluster in {region}: one per region.",
                g.id
            )));
        }
        let primary = members.iter().find(|m| m.writer);
        let source = match primary {
            None => None,
            Some(p) => {
                if members.len() > MAX_SECONDARIES {
                    return Err(state_error(format!(
                        "The global cluster {} has {MAX_SECONDARIES} secondary clusters already.",
                        g.id
                    )));
                }
                if spec.master_username.is_some() || spec.master_password.is_some() {
                    return Err(combination(
                        "A secondary cluster of a global cluster takes the primary's master user: do not set \
                         MasterUsername or MasterUserPassword.",
                    ));
                }
                spec.master_username = Some(p.cluster.master_username.clone());
                spec.master_password = Some(p.cluster.master_password.clone());
                spec.db_name = p.cluster.db_name.clone();
                Some(source_of(&p.region, &p.cluster.id))
            }
        };
        spec.engine_version = Some(spec.engine_version.unwrap_or_else(|| g.engine_version.clone()));
        if spec.engine_version.as_deref() != Some(g.engine_version.as_str()) {
            return Err(combination(format!(
                "The engine version {} does not match the global cluster's {}.",
                spec.engine_version.as_deref().unwrap_or_default(),
                g.engine_version
            )));
        }
        let target = self.region(region);
        let zones = target.zones_now();
        target.with_state(now, |s| {
            let made = s.create_db_cluster(spec, &zones, address, now)?;
            s.join_global(&made.id, &g.resource_id, source.clone())
        })
    }
}

impl crate::state::RegionState {
    /// A `cluster-` resource id for a global cluster.
    fn global_resource_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut n = self.next_random();
        let mut id = String::from("cluster-");
        for _ in 0..13 {
            id.push(ALPHABET[(n % 32) as usize] as char);
            n /= 32;
        }
        id
    }

    /// A cluster of this region joins a global cluster: as its primary (`source` None) or as a
    /// secondary replicating `source` (`region/cluster`).
    pub(crate) fn join_global(
        &mut self,
        cluster: &str,
        resource_id: &str,
        source: Option<String>,
    ) -> Result<DbCluster, ControlError> {
        let c = self
            .db_clusters
            .get_mut(&cluster.to_ascii_lowercase())
            .ok_or_else(|| RdsError::ClusterNotFound(cluster.to_string()))?;
        c.global_cluster = Some(resource_id.to_string());
        c.replication_source = source;
        Ok(c.clone())
    }

    /// A cluster leaves its global cluster: a secondary stops replicating and writes.
    pub(crate) fn leave_global(&mut self, cluster: &str, now_ms: u64) -> Result<(), ControlError> {
        let c = self
            .db_clusters
            .get_mut(&cluster.to_ascii_lowercase())
            .ok_or_else(|| RdsError::ClusterNotFound(cluster.to_string()))?;
        let was_secondary = c.replication_source.is_some();
        c.global_cluster = None;
        c.replication_source = None;
        let id = c.id.clone();
        if was_secondary {
            self.rds_event_of(
                crate::model::rds::EventSource::DbCluster,
                &id,
                "Global database cluster member was detached and promoted to a standalone cluster",
                "RDS-EVENT-0228",
                "global-failover",
                now_ms,
            );
        }
        Ok(())
    }
}
