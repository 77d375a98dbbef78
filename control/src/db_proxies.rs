//! RDS Proxy, as metadata: proxies with their authentication, network and timeouts, the default
//! target group and its connection-pool settings, and the DB instances or clusters registered as
//! targets (with their health). squall does not run a proxy between clients and the SQL
//! endpoints: clients connect to the targets' endpoints themselves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::model::rds::{DbInstanceStatus, RdsError};
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Proxies a region holds (RDS's default quota).
pub const MAX_PROXIES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyAuth {
    pub description: Option<String>,
    pub user_name: Option<String>,
    /// `SECRETS`.
    pub auth_scheme: String,
    pub secret_arn: Option<String>,
    /// `DISABLED`, `REQUIRED` or `ENABLED`.
    pub iam_auth: String,
    pub client_password_auth_type: Option<String>,
}

/// A registered target: a DB instance or a DB cluster, by identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProxyTarget {
    Instance(String),
    Cluster(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionPool {
    pub max_connections_percent: u32,
    pub max_idle_connections_percent: u32,
    pub borrow_timeout_s: u32,
    pub session_pinning_filters: Vec<String>,
    pub init_query: Option<String>,
}

impl Default for ConnectionPool {
    fn default() -> Self {
        Self {
            max_connections_percent: 100,
            max_idle_connections_percent: 50,
            borrow_timeout_s: 120,
            session_pinning_filters: Vec::new(),
            init_query: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbProxy {
    pub name: String,
    /// `prx-` and 17 hex digits (the ARN's last part).
    pub resource_id: String,
    pub engine_family: String,
    pub role_arn: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    pub auth: Vec<ProxyAuth>,
    pub require_tls: bool,
    pub idle_client_timeout_s: u32,
    pub debug_logging: bool,
    /// `creating`, `modifying`, `available` or `deleting`.
    pub status: String,
    pub status_since_ms: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub pool: ConnectionPool,
    pub targets: Vec<ProxyTarget>,
    pub tags: BTreeMap<String, String>,
    /// Its endpoints besides the default one (CreateDBProxyEndpoint).
    #[serde(default)]
    pub endpoints: Vec<ProxyEndpoint>,
}

/// An endpoint of a proxy besides its default one: in other subnets of its VPC (or another
/// VPC), read-write or read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyEndpoint {
    /// Lower-case.
    pub name: String,
    /// `prx-endpoint-` and 17 hex digits (the ARN's last part).
    pub resource_id: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    /// `READ_WRITE` or `READ_ONLY`.
    pub target_role: String,
    /// `creating`, `modifying`, `available` or `deleting`.
    pub status: String,
    pub status_since_ms: u64,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

/// Endpoints one proxy may have besides its default one (RDS's quota).
pub const MAX_PROXY_ENDPOINTS: usize = 20;

impl Row for DbProxy {
    const TABLE: &'static str = "db_proxies";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// What CreateDBProxy asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySpec {
    pub name: String,
    pub engine_family: String,
    pub role_arn: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    pub auth: Vec<ProxyAuth>,
    pub require_tls: bool,
    pub idle_client_timeout_s: Option<u32>,
    pub debug_logging: bool,
    pub tags: BTreeMap<String, String>,
}

/// What ModifyDBProxy changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyChanges {
    pub new_name: Option<String>,
    pub auth: Option<Vec<ProxyAuth>>,
    pub require_tls: Option<bool>,
    pub idle_client_timeout_s: Option<u32>,
    pub debug_logging: Option<bool>,
    pub role_arn: Option<String>,
    pub security_groups: Option<Vec<String>>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn not_found(name: &str) -> ControlError {
    RdsError::ProxyNotFound(name.to_string()).into()
}

/// The engine family of an engine (`postgres`, `aurora-postgresql` → `POSTGRESQL`).
pub fn engine_family(engine: &str) -> &'static str {
    if engine.contains("postgres") {
        "POSTGRESQL"
    } else if engine.starts_with("sqlserver") {
        "SQLSERVER"
    } else {
        "MYSQL"
    }
}

fn check_role(arn: &str) -> Result<(), ControlError> {
    let ok =
        arn.strip_prefix("arn:aws:iam::").and_then(|rest| rest.split_once(":role/")).is_some_and(|(account, role)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !role.is_empty()
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("RoleArn {arn} is not a valid IAM role ARN.")))
    }
}

fn check_auth(auth: &[ProxyAuth]) -> Result<(), ControlError> {
    for a in auth {
        if a.auth_scheme != "SECRETS" {
            return Err(invalid(format!("Invalid AuthScheme {}: it must be SECRETS.", a.auth_scheme)));
        }
        if !a.secret_arn.as_deref().is_some_and(|s| s.starts_with("arn:aws:secretsmanager:")) {
            return Err(invalid("Each Auth entry needs the SecretArn of a Secrets Manager secret."));
        }
        if !matches!(a.iam_auth.as_str(), "DISABLED" | "REQUIRED" | "ENABLED") {
            return Err(invalid(format!("Invalid IAMAuth {}.", a.iam_auth)));
        }
    }
    Ok(())
}

impl RegionState {
    pub fn db_proxies(&self) -> Vec<DbProxy> {
        self.db_proxies.values().cloned().collect()
    }

    pub fn db_proxy(&self, name: &str) -> Result<&DbProxy, ControlError> {
        self.db_proxies.get(&name.to_ascii_lowercase()).ok_or_else(|| not_found(name))
    }

    fn proxy_available(&self, name: &str) -> Result<DbProxy, ControlError> {
        let p = self.db_proxy(name)?.clone();
        if p.status != "available" {
            return Err(RdsError::InvalidProxyState(format!(
                "DB proxy {} is {}: it must be available for this operation.",
                p.name, p.status
            ))
            .into());
        }
        Ok(p)
    }

    pub(crate) fn create_db_proxy(&mut self, spec: ProxySpec, now_ms: u64) -> Result<DbProxy, ControlError> {
        let name = spec.name.to_ascii_lowercase();
        if !crate::rds::identifier_shape(&name, 63) {
            return Err(invalid(
                "The parameter DBProxyName is not a valid identifier. Identifiers must begin with a letter; must \
                 contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two \
                 consecutive hyphens.",
            ));
        }
        if self.db_proxies.contains_key(&name) {
            return Err(RdsError::ProxyExists(name).into());
        }
        if self.db_proxies.len() >= MAX_PROXIES {
            return Err(RdsError::ProxyQuotaExceeded(MAX_PROXIES).into());
        }
        check_role(&spec.role_arn)?;
        check_auth(&spec.auth)?;
        let timeout = spec.idle_client_timeout_s.unwrap_or(1800);
        if !(1..=28_800).contains(&timeout) {
            return Err(invalid(format!("IdleClientTimeout {timeout} must be between 1 and 28800 seconds.")));
        }
        let (vpc_id, _) = self.db_subnets(&spec.subnet_ids)?;
        let security_groups = if spec.security_groups.is_empty() {
            self.security_groups_ref()
                .values()
                .filter(|g| g.vpc_id == vpc_id && g.name == "default")
                .map(|g| g.id.clone())
                .collect()
        } else {
            self.vpc_security_groups(&spec.security_groups, &vpc_id, "DB proxy")?
        };
        let n = self.next_random();
        let proxy = DbProxy {
            name: name.clone(),
            resource_id: format!("prx-{:017x}", n & ((1u128 << 68) - 1)),
            engine_family: spec.engine_family,
            role_arn: spec.role_arn,
            vpc_id,
            subnet_ids: spec.subnet_ids,
            security_groups,
            auth: spec.auth,
            require_tls: spec.require_tls,
            idle_client_timeout_s: timeout,
            debug_logging: spec.debug_logging,
            status: "creating".into(),
            status_since_ms: now_ms,
            created_ms: now_ms,
            updated_ms: now_ms,
            pool: ConnectionPool::default(),
            targets: Vec::new(),
            tags: spec.tags,
            endpoints: Vec::new(),
        };
        self.db_proxies.insert(name, proxy.clone());
        Ok(proxy)
    }

    pub(crate) fn modify_db_proxy(
        &mut self,
        name: &str,
        changes: ProxyChanges,
        now_ms: u64,
    ) -> Result<DbProxy, ControlError> {
        let mut p = self.proxy_available(name)?;
        if let Some(r) = &changes.role_arn {
            check_role(r)?;
        }
        if let Some(a) = &changes.auth {
            check_auth(a)?;
        }
        if let Some(t) = changes.idle_client_timeout_s {
            if !(1..=28_800).contains(&t) {
                return Err(invalid(format!("IdleClientTimeout {t} must be between 1 and 28800 seconds.")));
            }
            p.idle_client_timeout_s = t;
        }
        if let Some(g) = &changes.security_groups {
            p.security_groups = self.vpc_security_groups(g, &p.vpc_id, "DB proxy")?;
        }
        if let Some(n) = &changes.new_name {
            let n = n.to_ascii_lowercase();
            if !crate::rds::identifier_shape(&n, 63) {
                return Err(invalid("The parameter NewDBProxyName is not a valid identifier."));
            }
            if n != p.name && self.db_proxies.contains_key(&n) {
                return Err(RdsError::ProxyExists(n).into());
            }
        }
        if let Some(r) = changes.role_arn {
            p.role_arn = r;
        }
        if let Some(a) = changes.auth {
            p.auth = a;
        }
        if let Some(v) = changes.require_tls {
            p.require_tls = v;
        }
        if let Some(v) = changes.debug_logging {
            p.debug_logging = v;
        }
        p.status = "modifying".into();
        p.status_since_ms = now_ms;
        p.updated_ms = now_ms;
        self.db_proxies.remove(&p.name);
        if let Some(n) = changes.new_name {
            p.name = n.to_ascii_lowercase();
        }
        self.db_proxies.insert(p.name.clone(), p.clone());
        Ok(p)
    }

    pub(crate) fn delete_db_proxy(&mut self, name: &str, now_ms: u64) -> Result<DbProxy, ControlError> {
        let mut p = self.db_proxy(name)?.clone();
        if p.status == "deleting" {
            return Err(RdsError::InvalidProxyState(format!("DB proxy {} is already being deleted.", p.name)).into());
        }
        p.status = "deleting".into();
        p.status_since_ms = now_ms;
        self.db_proxies.insert(p.name.clone(), p.clone());
        Ok(p)
    }

    /// ModifyDBProxyTargetGroup: the connection pool of the default target group.
    pub(crate) fn modify_proxy_pool(
        &mut self,
        name: &str,
        group: &str,
        pool: ConnectionPool,
    ) -> Result<DbProxy, ControlError> {
        let p = self.proxy_available(name)?;
        if group != "default" {
            return Err(RdsError::ProxyTargetGroupNotFound(group.to_string()).into());
        }
        if !(1..=100).contains(&pool.max_connections_percent)
            || pool.max_idle_connections_percent > pool.max_connections_percent
        {
            return Err(invalid(
                "MaxConnectionsPercent must be between 1 and 100, and MaxIdleConnectionsPercent at most MaxConnectionsPercent.",
            ));
        }
        if pool.borrow_timeout_s > 3600 {
            return Err(invalid("ConnectionBorrowTimeout must be between 0 and 3600 seconds."));
        }
        let row = self.db_proxies.get_mut(&p.name).ok_or_else(|| not_found(name))?;
        row.pool = pool;
        Ok(row.clone())
    }

    /// RegisterDBProxyTargets: instances or one cluster of the proxy's engine family, available.
    pub(crate) fn register_proxy_targets(
        &mut self,
        name: &str,
        group: &str,
        instances: &[String],
        clusters: &[String],
    ) -> Result<(DbProxy, Vec<ProxyTarget>), ControlError> {
        let p = self.proxy_available(name)?;
        if group != "default" {
            return Err(RdsError::ProxyTargetGroupNotFound(group.to_string()).into());
        }
        if !instances.is_empty() && !clusters.is_empty() || clusters.len() > 1 {
            return Err(RdsError::InvalidParameterCombination(
                "Register either DB instances or one DB cluster with a target group.".into(),
            )
            .into());
        }
        let mut added = Vec::new();
        for i in instances {
            let db = self.db_instance(i)?;
            if engine_family(&db.engine) != p.engine_family {
                return Err(invalid(format!(
                    "The engine of {} does not match the proxy's engine family {}.",
                    db.id, p.engine_family
                )));
            }
            if db.status != DbInstanceStatus::Available {
                return Err(
                    RdsError::InvalidInstanceStateMessage(format!("DB instance {} is not available.", db.id)).into()
                );
            }
            added.push(ProxyTarget::Instance(db.id.clone()));
        }
        for c in clusters {
            let cluster = self.db_cluster(c)?;
            if engine_family(&cluster.engine) != p.engine_family {
                return Err(invalid(format!(
                    "The engine of {} does not match the proxy's engine family {}.",
                    cluster.id, p.engine_family
                )));
            }
            added.push(ProxyTarget::Cluster(cluster.id.clone()));
        }
        for t in &added {
            if p.targets.contains(t) {
                return Err(RdsError::ProxyTargetAlreadyRegistered(format!("{t:?}")).into());
            }
        }
        let row = self.db_proxies.get_mut(&p.name).ok_or_else(|| not_found(name))?;
        row.targets.extend(added.iter().cloned());
        Ok((row.clone(), added))
    }

    pub(crate) fn deregister_proxy_targets(
        &mut self,
        name: &str,
        group: &str,
        instances: &[String],
        clusters: &[String],
    ) -> Result<DbProxy, ControlError> {
        let p = self.proxy_available(name)?;
        if group != "default" {
            return Err(RdsError::ProxyTargetGroupNotFound(group.to_string()).into());
        }
        let wanted: Vec<ProxyTarget> = instances
            .iter()
            .map(|i| ProxyTarget::Instance(i.to_ascii_lowercase()))
            .chain(clusters.iter().map(|c| ProxyTarget::Cluster(c.to_ascii_lowercase())))
            .collect();
        for t in &wanted {
            if !p.targets.contains(t) {
                return Err(RdsError::ProxyTargetNotFound(format!("{t:?}")).into());
            }
        }
        let row = self.db_proxies.get_mut(&p.name).ok_or_else(|| not_found(name))?;
        row.targets.retain(|t| !wanted.contains(t));
        Ok(row.clone())
    }

    /// The proxy an endpoint belongs to, and the endpoint.
    pub fn proxy_endpoint(&self, name: &str) -> Result<(DbProxy, ProxyEndpoint), ControlError> {
        let key = name.to_ascii_lowercase();
        self.db_proxies
            .values()
            .find_map(|p| p.endpoints.iter().find(|e| e.name == key).map(|e| (p.clone(), e.clone())))
            .ok_or_else(|| RdsError::ProxyEndpointNotFound(name.to_string()).into())
    }

    /// CreateDBProxyEndpoint: in subnets of one VPC (the proxy's or another), with that VPC's
    /// security groups (its default group when none are named).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_proxy_endpoint(
        &mut self,
        proxy: &str,
        name: &str,
        subnet_ids: &[String],
        security_groups: &[String],
        target_role: Option<&str>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<(DbProxy, ProxyEndpoint), ControlError> {
        let p = self.proxy_available(proxy)?;
        let key = name.to_ascii_lowercase();
        if !crate::rds::identifier_shape(&key, 63) || key == "default" {
            return Err(invalid(
                "The parameter DBProxyEndpointName is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; must not end with a hyphen or contain two \
                 consecutive hyphens; and must not be default.",
            ));
        }
        if self.proxy_endpoint(&key).is_ok() {
            return Err(RdsError::ProxyEndpointExists(key).into());
        }
        if p.endpoints.len() >= MAX_PROXY_ENDPOINTS {
            return Err(RdsError::ProxyEndpointQuotaExceeded(MAX_PROXY_ENDPOINTS).into());
        }
        let role = target_role.unwrap_or("READ_WRITE");
        if !matches!(role, "READ_WRITE" | "READ_ONLY") {
            return Err(invalid(format!("Invalid TargetRole {role}: use READ_WRITE or READ_ONLY.")));
        }
        if role == "READ_ONLY" && !p.targets.iter().any(|t| matches!(t, ProxyTarget::Cluster(_))) {
            return Err(RdsError::InvalidParameterCombination(
                "A READ_ONLY endpoint needs a proxy whose target is an Aurora DB cluster.".into(),
            )
            .into());
        }
        let (vpc_id, _) = self.db_subnets(subnet_ids)?;
        let security_groups = if security_groups.is_empty() {
            self.security_groups_ref()
                .values()
                .filter(|g| g.vpc_id == vpc_id && g.name == "default")
                .map(|g| g.id.clone())
                .collect()
        } else {
            self.vpc_security_groups(security_groups, &vpc_id, "DB proxy endpoint")?
        };
        let n = self.next_random();
        let endpoint = ProxyEndpoint {
            name: key,
            resource_id: format!("prx-endpoint-{:017x}", n & ((1u128 << 68) - 1)),
            vpc_id,
            subnet_ids: subnet_ids.to_vec(),
            security_groups,
            target_role: role.to_string(),
            status: "creating".into(),
            status_since_ms: now_ms,
            created_ms: now_ms,
            tags,
        };
        let row = self.db_proxies.get_mut(&p.name).ok_or_else(|| not_found(proxy))?;
        row.endpoints.push(endpoint.clone());
        Ok((row.clone(), endpoint))
    }

    /// ModifyDBProxyEndpoint (rename, security groups) and DeleteDBProxyEndpoint: an endpoint
    /// that is available.
    pub(crate) fn change_proxy_endpoint(
        &mut self,
        name: &str,
        new_name: Option<&str>,
        security_groups: Option<&[String]>,
        delete: bool,
        now_ms: u64,
    ) -> Result<(DbProxy, ProxyEndpoint), ControlError> {
        let (p, e) = self.proxy_endpoint(name)?;
        if e.status != "available" {
            return Err(RdsError::InvalidProxyEndpointState(format!(
                "The DB proxy endpoint {} is {}: it must be available.",
                e.name, e.status
            ))
            .into());
        }
        let mut changed = e.clone();
        if let Some(n) = new_name {
            let n = n.to_ascii_lowercase();
            if !crate::rds::identifier_shape(&n, 63) || n == "default" {
                return Err(invalid("The parameter NewDBProxyEndpointName is not a valid identifier."));
            }
            if n != e.name && self.proxy_endpoint(&n).is_ok() {
                return Err(RdsError::ProxyEndpointExists(n).into());
            }
            changed.name = n;
        }
        if let Some(groups) = security_groups {
            changed.security_groups = self.vpc_security_groups(groups, &e.vpc_id, "DB proxy endpoint")?;
        }
        changed.status = if delete { "deleting" } else { "modifying" }.into();
        changed.status_since_ms = now_ms;
        let row = self.db_proxies.get_mut(&p.name).ok_or_else(|| not_found(&p.name))?;
        for slot in row.endpoints.iter_mut().filter(|x| x.name == e.name) {
            *slot = changed.clone();
        }
        Ok((row.clone(), changed))
    }

    /// Statuses that advance: `creating`/`modifying` → `available`, `deleting` → gone.
    pub(crate) fn settle_db_proxies(&mut self, now_ms: u64) {
        let step = self.delays().volume_create.as_millis() as u64;
        let with_endpoints: Vec<String> = self
            .db_proxies
            .values()
            .filter(|p| p.endpoints.iter().any(|e| e.status != "available" && e.status_since_ms + step <= now_ms))
            .map(|p| p.name.clone())
            .collect();
        for name in with_endpoints {
            if let Some(p) = self.db_proxies.get_mut(&name) {
                p.endpoints.retain(|e| !(e.status == "deleting" && e.status_since_ms + step <= now_ms));
                for e in
                    p.endpoints.iter_mut().filter(|e| e.status != "available" && e.status_since_ms + step <= now_ms)
                {
                    e.status = "available".into();
                    e.status_since_ms += step;
                }
            }
        }
        let due: Vec<String> = self
            .db_proxies
            .values()
            .filter(|p| p.status != "available" && p.status_since_ms + step <= now_ms)
            .map(|p| p.name.clone())
            .collect();
        for name in due {
            let deleting = self.db_proxies.get(&name).is_some_and(|p| p.status == "deleting");
            if deleting {
                self.db_proxies.remove(&name);
            } else if let Some(p) = self.db_proxies.get_mut(&name) {
                p.status = "available".into();
                p.status_since_ms += step;
            }
        }
    }

    pub(crate) fn proxy_tags_mut(&mut self, name: &str) -> Result<&mut BTreeMap<String, String>, ControlError> {
        self.db_proxies.get_mut(&name.to_ascii_lowercase()).map(|p| &mut p.tags).ok_or_else(|| not_found(name))
    }
}

/// When a proxy's next transition falls due.
pub(crate) fn db_proxy_next_due(p: &DbProxy, d: crate::model::lifecycle::LifecycleDelays) -> u64 {
    let step = d.volume_create.as_millis() as u64;
    let endpoints = p
        .endpoints
        .iter()
        .filter(|e| e.status != "available")
        .map(|e| e.status_since_ms.saturating_add(step))
        .min()
        .unwrap_or(u64::MAX);
    if p.status == "available" {
        endpoints
    } else {
        endpoints.min(p.status_since_ms.saturating_add(step))
    }
}

impl Region {
    pub fn create_db_proxy(&self, spec: ProxySpec, now_ms: u64) -> Result<DbProxy, ControlError> {
        self.with_state(now_ms, |state| state.create_db_proxy(spec, now_ms))
    }

    pub fn modify_db_proxy(&self, name: &str, changes: ProxyChanges, now_ms: u64) -> Result<DbProxy, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_proxy(name, changes, now_ms))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_proxy_endpoint(
        &self,
        proxy: &str,
        name: &str,
        subnet_ids: &[String],
        security_groups: &[String],
        target_role: Option<&str>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<(DbProxy, ProxyEndpoint), ControlError> {
        self.with_state(now_ms, |s| {
            s.create_proxy_endpoint(proxy, name, subnet_ids, security_groups, target_role, tags, now_ms)
        })
    }

    pub fn change_proxy_endpoint(
        &self,
        name: &str,
        new_name: Option<&str>,
        security_groups: Option<&[String]>,
        delete: bool,
        now_ms: u64,
    ) -> Result<(DbProxy, ProxyEndpoint), ControlError> {
        self.with_state(now_ms, |s| s.change_proxy_endpoint(name, new_name, security_groups, delete, now_ms))
    }

    pub fn delete_db_proxy(&self, name: &str, now_ms: u64) -> Result<DbProxy, ControlError> {
        self.with_state(now_ms, |state| state.delete_db_proxy(name, now_ms))
    }

    pub fn modify_proxy_pool(
        &self,
        name: &str,
        group: &str,
        pool: ConnectionPool,
        now_ms: u64,
    ) -> Result<DbProxy, ControlError> {
        self.with_state(now_ms, |state| state.modify_proxy_pool(name, group, pool))
    }

    pub fn register_proxy_targets(
        &self,
        name: &str,
        group: &str,
        instances: &[String],
        clusters: &[String],
        now_ms: u64,
    ) -> Result<(DbProxy, Vec<ProxyTarget>), ControlError> {
        self.with_state(now_ms, |state| state.register_proxy_targets(name, group, instances, clusters))
    }

    pub fn deregister_proxy_targets(
        &self,
        name: &str,
        group: &str,
        instances: &[String],
        clusters: &[String],
        now_ms: u64,
    ) -> Result<DbProxy, ControlError> {
        self.with_state(now_ms, |state| state.deregister_proxy_targets(name, group, instances, clusters))
    }
}
