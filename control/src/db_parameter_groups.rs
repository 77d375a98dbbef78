//! DB parameter groups: the engine's parameters per family (a catalogue of the common ones, with
//! RDS's defaults, types, allowed values and apply types), the `default.<family>` groups that
//! cannot change, the user's groups, and what an instance runs with — dynamic values set with
//! `immediate` at once, the rest at its next reboot (`pending-reboot` until then).
//!
//! The SQL endpoint of a PostgreSQL instance takes its values from here ([`RegionState::
//! db_parameter_view`]): `SHOW` answers them, `statement_timeout` and `lock_timeout` are its
//! sessions' defaults, and `max_connections` caps its connections.

use std::collections::BTreeMap;

use crate::error::ControlError;
use crate::model::rds::{BootedParameters, DbInstance, DbParameterGroup, ParameterOverride, RdsError};
use crate::region::Region;
use crate::state::RegionState;

/// The DB parameter groups one account may make (RDS's default quota).
pub const MAX_PARAMETER_GROUPS: usize = 100;
/// Parameters one ModifyDBParameterGroup or ResetDBParameterGroup call may name.
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

/// When a parameter's new value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyType {
    /// At the instance's next reboot.
    Static,
    /// At once (with `immediate`) or at the next reboot (`pending-reboot`).
    Dynamic,
}

impl ApplyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
        }
    }
}

/// One parameter of an engine family.
#[derive(Debug)]
pub struct ParameterDef {
    pub name: &'static str,
    /// The engine's default (a formula such as `{DBInstanceClassMemory/9531392}` where RDS sizes
    /// it from the instance); `None` where RDS leaves the engine's built-in default.
    pub default: Option<&'static str>,
    /// `integer`, `float`, `boolean`, `string` or `list`.
    pub data_type: &'static str,
    /// `1-65535` for numbers, `a,b,c` for lists and booleans (`0,1`).
    pub allowed: Option<&'static str>,
    pub apply: ApplyType,
    pub modifiable: bool,
    /// RDS sets the default (source `system`) rather than the engine (`engine-default`).
    pub system: bool,
    pub description: &'static str,
}

const fn p(
    name: &'static str,
    default: Option<&'static str>,
    data_type: &'static str,
    allowed: Option<&'static str>,
    apply: ApplyType,
    description: &'static str,
) -> ParameterDef {
    ParameterDef { name, default, data_type, allowed, apply, modifiable: true, system: false, description }
}

const fn system(def: ParameterDef) -> ParameterDef {
    ParameterDef { system: true, ..def }
}

const fn fixed(def: ParameterDef) -> ParameterDef {
    ParameterDef { modifiable: false, system: true, ..def }
}

use ApplyType::{Dynamic, Static};

/// PostgreSQL families (`postgres13` … `postgres17`), in name order.
const POSTGRES: &[ParameterDef] = &[
    p("application_name", None, "string", None, Dynamic, "Sets the application name to be reported in statistics and logs."),
    fixed(p(
        "archive_command",
        Some("/etc/rds/dbbin/pgscripts/rds_wal_archive %p"),
        "string",
        None,
        Dynamic,
        "Sets the shell command that will be called to archive a WAL file.",
    )),
    p("autovacuum", Some("1"), "boolean", Some("0,1"), Dynamic, "Starts the autovacuum subprocess."),
    system(p(
        "effective_cache_size",
        Some("{DBInstanceClassMemory/16384}"),
        "integer",
        Some("1-2147483647"),
        Dynamic,
        "(8kB) Sets the planner's assumption about the size of the disk cache.",
    )),
    p(
        "idle_in_transaction_session_timeout",
        None,
        "integer",
        Some("0-2147483647"),
        Dynamic,
        "(ms) Sets the maximum allowed duration of any idling transaction.",
    ),
    p("lock_timeout", None, "integer", Some("0-2147483647"), Dynamic, "(ms) Sets the maximum allowed duration of any wait for a lock."),
    p("log_connections", None, "boolean", Some("0,1"), Dynamic, "Logs each successful connection."),
    p(
        "log_min_duration_statement",
        None,
        "integer",
        Some("-1-2147483647"),
        Dynamic,
        "(ms) Sets the minimum execution time above which statements will be logged.",
    ),
    p("log_statement", None, "list", Some("none,ddl,mod,all"), Dynamic, "Sets the type of statements logged."),
    system(p(
        "maintenance_work_mem",
        Some("GREATEST({DBInstanceClassMemory*1024/63963136},65536)"),
        "integer",
        Some("1024-2147483647"),
        Dynamic,
        "(kB) Sets the maximum memory to be used for maintenance operations.",
    )),
    system(p(
        "max_connections",
        Some("LEAST({DBInstanceClassMemory/9531392},5000)"),
        "integer",
        Some("6-8388607"),
        Static,
        "Sets the maximum number of concurrent connections.",
    )),
    p(
        "max_locks_per_transaction",
        Some("64"),
        "integer",
        Some("10-2147483647"),
        Static,
        "Sets the maximum number of locks per transaction.",
    ),
    fixed(p("port", Some("{EndPointPort}"), "integer", Some("1-65535"), Static, "Sets the TCP port the server listens on.")),
    p(
        "random_page_cost",
        None,
        "float",
        Some("0-2147483647"),
        Dynamic,
        "Sets the planner's estimate of the cost of a nonsequentially fetched disk page.",
    ),
    p("search_path", None, "string", None, Dynamic, "Sets the schema search order for names that are not schema-qualified."),
    system(p(
        "shared_buffers",
        Some("{DBInstanceClassMemory/32768}"),
        "integer",
        Some("16-1073741823"),
        Static,
        "(8kB) Sets the number of shared memory buffers used by the server.",
    )),
    p(
        "shared_preload_libraries",
        Some("pg_stat_statements"),
        "list",
        Some("auto_explain,orafce,pgaudit,pglogical,pg_bigm,pg_cron,pg_hint_plan,pg_prewarm,pg_similarity,pg_stat_statements,pg_tle,pg_transport,plprofiler"),
        Static,
        "Lists shared libraries to preload into server.",
    ),
    p(
        "statement_timeout",
        None,
        "integer",
        Some("0-2147483647"),
        Dynamic,
        "(ms) Sets the maximum allowed duration of any statement.",
    ),
    p("timezone", Some("UTC"), "string", None, Dynamic, "Sets the time zone for displaying and interpreting time stamps."),
    p(
        "track_activity_query_size",
        Some("4096"),
        "integer",
        Some("100-1048576"),
        Static,
        "Sets the size reserved for pg_stat_activity.current_query, in bytes.",
    ),
    p(
        "work_mem",
        None,
        "integer",
        Some("64-2147483647"),
        Dynamic,
        "(kB) Sets the maximum memory to be used for query workspaces.",
    ),
];

/// MySQL and MariaDB families, in name order.
const MYSQL: &[ParameterDef] = &[
    p("autocommit", None, "boolean", Some("0,1"), Dynamic, "Sets the autocommit mode."),
    p(
        "character_set_server",
        None,
        "string",
        Some("ascii,big5,binary,cp1251,gbk,latin1,latin2,utf8,utf8mb3,utf8mb4,utf16,utf32"),
        Dynamic,
        "The server's default character set.",
    ),
    p("collation_server", None, "string", None, Dynamic, "The server's default collation."),
    p("event_scheduler", None, "list", Some("ON,OFF"), Dynamic, "Indicates the status of the Event Scheduler."),
    p("general_log", None, "boolean", Some("0,1"), Dynamic, "Whether the general query log is enabled."),
    system(p(
        "innodb_buffer_pool_size",
        Some("{DBInstanceClassMemory*3/4}"),
        "integer",
        Some("5242880-18446744073709551615"),
        Static,
        "The size in bytes of the memory buffer innodb uses to cache data and indexes of its tables.",
    )),
    p(
        "innodb_flush_log_at_trx_commit",
        Some("1"),
        "list",
        Some("0,1,2"),
        Dynamic,
        "Determines Innodb transaction durability.",
    ),
    p("long_query_time", None, "float", Some("0-31536000"), Dynamic, "Defines what MySQL considers long queries."),
    p("lower_case_table_names", None, "list", Some("0,1"), Static, "Affects how table and database names are stored."),
    p(
        "max_allowed_packet",
        None,
        "integer",
        Some("1024-1073741824"),
        Dynamic,
        "This value by default is small, to catch large (possibly incorrect) packets.",
    ),
    system(p(
        "max_connections",
        Some("{DBInstanceClassMemory/12582880}"),
        "integer",
        Some("1-100000"),
        Dynamic,
        "The number of simultaneous client connections allowed.",
    )),
    fixed(p("port", Some("{EndPointPort}"), "integer", Some("1-65535"), Static, "Port number to use for connections.")),
    p("slow_query_log", None, "boolean", Some("0,1"), Dynamic, "Enable or disable the slow query log."),
    p("sql_mode", None, "string", None, Dynamic, "Current SQL Server Mode."),
    p("time_zone", None, "string", None, Dynamic, "The current time zone."),
    p(
        "wait_timeout",
        None,
        "integer",
        Some("1-31536000"),
        Dynamic,
        "The number of seconds the server waits for activity on a connection before closing it.",
    ),
];

/// The engine a family belongs to, if squall knows the family.
pub fn family_engine(family: &str) -> Option<&'static str> {
    let known = |prefix: &str, majors: &[&str]| family.strip_prefix(prefix).is_some_and(|m| majors.contains(&m));
    if known("postgres", &["11", "12", "13", "14", "15", "16", "17"]) {
        Some("postgres")
    } else if known("aurora-postgresql", &["13", "14", "15", "16"]) {
        Some("aurora-postgresql")
    } else if known("aurora-mysql", &["5.7", "8.0"]) {
        Some("aurora-mysql")
    } else if known("mysql", &["5.7", "8.0", "8.4"]) {
        Some("mysql")
    } else if known("mariadb", &["10.4", "10.5", "10.6", "10.11", "11.4"]) {
        Some("mariadb")
    } else {
        None
    }
}

/// The parameters of a family squall knows.
pub fn family_parameters(family: &str) -> Option<&'static [ParameterDef]> {
    match family_engine(family)? {
        "postgres" | "aurora-postgresql" => Some(POSTGRES),
        _ => Some(MYSQL),
    }
}

/// `default.postgres16`: the group an instance of that family gets when it names none.
pub fn default_group_name(family: &str) -> String {
    format!("default.{family}")
}

/// Memory of an instance class in bytes (`DBInstanceClassMemory` in formulas): 1 GiB for a
/// micro doubling with each size; memory-optimised (`r`) families have twice as much.
pub fn class_memory(class: &str) -> u64 {
    let mut parts = class.split('.');
    let (_, family, size) = (parts.next(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let gib: u64 = match size {
        "micro" => 1,
        "small" => 2,
        "medium" => 4,
        "large" => 8,
        "xlarge" => 16,
        "2xlarge" => 32,
        "4xlarge" => 64,
        "8xlarge" => 128,
        "12xlarge" => 192,
        "16xlarge" => 256,
        _ => 8,
    };
    let factor = if family.starts_with('r') { 2 } else { 1 };
    (gib * factor) << 30
}

/// What a formula refers to: the instance's memory, storage and port.
#[derive(Debug, Clone, Copy)]
pub struct FormulaInputs {
    pub memory: u64,
    pub allocated_gib: u32,
    pub port: u16,
}

/// Evaluates an RDS parameter formula: an integer, `{Variable}`, `{Variable*n/m}` (left to
/// right), or `LEAST(...)`, `GREATEST(...)`, `SUM(...)` of those. `None` if it is not one.
pub fn evaluate(formula: &str, inputs: FormulaInputs) -> Option<i128> {
    let mut parser = Formula { s: formula.trim().as_bytes(), at: 0, inputs };
    let v = parser.expr()?;
    parser.skip_spaces();
    (parser.at == parser.s.len()).then_some(v)
}

struct Formula<'a> {
    s: &'a [u8],
    at: usize,
    inputs: FormulaInputs,
}

impl Formula<'_> {
    fn skip_spaces(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn word(&mut self) -> &str {
        let start = self.at;
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at]).unwrap_or_default()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_spaces();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Option<i128> {
        self.skip_spaces();
        let negative = self.eat(b'-');
        let digits = self.word();
        let n: i128 = digits.parse().ok()?;
        Some(if negative { -n } else { n })
    }

    fn expr(&mut self) -> Option<i128> {
        self.skip_spaces();
        if self.eat(b'{') {
            self.skip_spaces();
            let mut v: i128 = match self.word() {
                "DBInstanceClassMemory" => i128::from(self.inputs.memory),
                "AllocatedStorage" => i128::from(self.inputs.allocated_gib) << 30,
                "EndPointPort" => i128::from(self.inputs.port),
                _ => return None,
            };
            loop {
                if self.eat(b'*') {
                    v = v.checked_mul(self.number()?)?;
                } else if self.eat(b'/') {
                    v = v.checked_div(self.number()?)?;
                } else {
                    break;
                }
            }
            return self.eat(b'}').then_some(v);
        }
        if self.s.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
            let name = self.word().to_ascii_uppercase();
            if !self.eat(b'(') {
                return None;
            }
            let mut args = vec![self.expr()?];
            while self.eat(b',') {
                args.push(self.expr()?);
            }
            if !self.eat(b')') {
                return None;
            }
            return match name.as_str() {
                "LEAST" => args.into_iter().min(),
                "GREATEST" => args.into_iter().max(),
                "SUM" => args.into_iter().try_fold(0i128, i128::checked_add),
                _ => None,
            };
        }
        self.number()
    }
}

/// Whether `value` is one RDS takes for `def`.
fn check_value(def: &ParameterDef, value: &str) -> Result<(), ControlError> {
    let bad = || {
        ControlError::from(RdsError::InvalidParameterValue(format!(
            "Invalid parameter value: {value} for: {} allowed values are: {}",
            def.name,
            def.allowed.unwrap_or("any string")
        )))
    };
    let Some(allowed) = def.allowed else { return Ok(()) };
    match def.data_type {
        "integer" | "float" => {
            let sample = FormulaInputs { memory: 1 << 30, allocated_gib: 20, port: 5432 };
            if value.contains(['{', '(']) {
                return evaluate(value, sample).map(|_| ()).ok_or_else(bad);
            }
            let n: f64 = value.trim().parse().map_err(|_| bad())?;
            if def.data_type == "integer" && value.trim().contains(['.', 'e', 'E']) {
                return Err(bad());
            }
            // `-1-2147483647`: the first hyphen after a digit splits the bounds.
            let split = allowed.char_indices().skip(1).find(|(_, c)| *c == '-').map(|(i, _)| i);
            let (lo, hi) = match split {
                Some(i) => (&allowed[..i], &allowed[i + 1..]),
                None => (allowed, allowed),
            };
            let (lo, hi): (f64, f64) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
            if n < lo || n > hi {
                return Err(bad());
            }
            Ok(())
        }
        _ => {
            let choices: Vec<&str> = allowed.split(',').collect();
            let items: Vec<&str> = if def.data_type == "list" { value.split(',').collect() } else { vec![value] };
            if items.iter().all(|v| choices.iter().any(|c| c.eq_ignore_ascii_case(v.trim()))) {
                Ok(())
            } else {
                Err(bad())
            }
        }
    }
}

/// One parameter named in a Modify or Reset call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterChange {
    pub name: String,
    pub value: Option<String>,
    /// `immediate` or `pending-reboot`; absent: `immediate` for dynamic parameters, `pending-reboot`
    /// for static ones.
    pub apply_method: Option<String>,
}

/// A parameter as DescribeDBParameters shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterShown {
    pub def: &'static ParameterDef,
    pub value: Option<String>,
    /// `user`, `system` or `engine-default`.
    pub source: &'static str,
    /// `immediate` or `pending-reboot`.
    pub apply_method: &'static str,
}

impl PartialEq for ParameterDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ParameterDef {}

/// What an instance runs with now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterView {
    /// Every parameter with a value, formulas worked out for the instance: the engine's
    /// default, then its cluster's DB cluster parameter group, then its DB parameter group.
    pub values: BTreeMap<String, String>,
    /// `in-sync` or `pending-reboot`: of its DB parameter group.
    pub apply_status: &'static str,
    /// `in-sync` or `pending-reboot`: of its cluster's DB cluster parameter group (`in-sync`
    /// outside a cluster).
    pub cluster_apply_status: &'static str,
}

/// A DB parameter group (of instances) or a DB cluster parameter group: two namespaces with the
/// same rules, kept in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Instance,
    Cluster,
}

impl GroupKind {
    pub fn of(group: &DbParameterGroup) -> Self {
        if group.cluster {
            Self::Cluster
        } else {
            Self::Instance
        }
    }

    /// The group's key in the table: its lower-case name, under `cluster:` for a cluster's.
    pub fn key(self, name: &str) -> String {
        let name = name.to_ascii_lowercase();
        match self {
            Self::Instance => name,
            Self::Cluster => format!("cluster:{name}"),
        }
    }

    fn name_parameter(self) -> &'static str {
        match self {
            Self::Instance => "DBParameterGroupName",
            Self::Cluster => "DBClusterParameterGroupName",
        }
    }

    fn default_description(self, family: &str) -> String {
        match self {
            Self::Instance => format!("Default parameter group for {family}"),
            Self::Cluster => format!("Default cluster parameter group for {family}"),
        }
    }
}

fn not_found(name: &str) -> ControlError {
    RdsError::ParameterGroupNotFound(name.to_string()).into()
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

/// The value one layer of groups (a cluster's, then an instance's) gives a parameter now, and
/// whether a value of it waits for a reboot. `booted`: its value when the instance started;
/// `set`: the group's value now; `same_group`: the group is the one it started with.
fn layer<'a>(
    def: &ParameterDef,
    booted: Option<&'a str>,
    set: Option<&'a ParameterOverride>,
    same_group: bool,
) -> (Option<&'a str>, bool) {
    let set = set.filter(|_| same_group);
    let value = match (def.apply, set) {
        (Dynamic, Some(o)) if !o.pending_reboot => Some(o.value.as_str()),
        (Dynamic, None) if same_group => None,
        _ => booted,
    };
    let waits = same_group
        && set.map(|o| o.value.as_str()) != booted
        && match (def.apply, set) {
            (Static, _) => true,
            (Dynamic, Some(o)) => o.pending_reboot,
            (Dynamic, None) => false,
        };
    (value, waits || !same_group)
}

fn status(pending: bool) -> &'static str {
    if pending {
        "pending-reboot"
    } else {
        "in-sync"
    }
}

impl RegionState {
    // ---- reads ---------------------------------------------------------------------------------

    /// A group by name (any case): a user's, or the default group of a family squall knows.
    pub fn parameter_group(&self, kind: GroupKind, name: &str) -> Result<DbParameterGroup, ControlError> {
        if let Some(g) = self.db_parameter_groups.get(&kind.key(name)) {
            return Ok(g.clone());
        }
        match name.to_ascii_lowercase().strip_prefix("default.") {
            Some(family) if family_engine(family).is_some() => Ok(default_group(kind, family)),
            _ => Err(not_found(name)),
        }
    }

    /// A DB parameter group by name.
    pub fn db_parameter_group(&self, name: &str) -> Result<DbParameterGroup, ControlError> {
        self.parameter_group(GroupKind::Instance, name)
    }

    /// The user's groups of a kind and the default groups of the families the region's
    /// instances (or clusters) use, in name order.
    pub fn parameter_groups_all(&self, kind: GroupKind) -> Vec<DbParameterGroup> {
        let mut all: BTreeMap<String, DbParameterGroup> = self
            .db_parameter_groups
            .values()
            .filter(|g| GroupKind::of(g) == kind)
            .map(|g| (g.name.clone(), g.clone()))
            .collect();
        let used: Vec<&String> = match kind {
            GroupKind::Instance => self.db_instances.values().map(|i| &i.parameter_group).collect(),
            GroupKind::Cluster => self.db_clusters.values().map(|c| &c.parameter_group).collect(),
        };
        for name in used {
            if let Some(family) = name.strip_prefix("default.") {
                all.entry(name.clone()).or_insert_with(|| default_group(kind, family));
            }
        }
        all.into_values().collect()
    }

    /// The parameters of a group as DescribeDBParameters lists them, in name order.
    pub fn parameters_of(&self, kind: GroupKind, group: &str) -> Result<Vec<ParameterShown>, ControlError> {
        let group = self.parameter_group(kind, group)?;
        let defs = family_parameters(&group.family).ok_or_else(|| not_found(&group.name))?;
        Ok(defs
            .iter()
            .map(|def| match group.overrides.get(def.name) {
                Some(o) => ParameterShown {
                    def,
                    value: Some(o.value.clone()),
                    source: "user",
                    apply_method: if o.pending_reboot { "pending-reboot" } else { "immediate" },
                },
                None => engine_default(def),
            })
            .collect())
    }

    /// The group `name` of `kind` for a resource of `family`: it exists and is of that family.
    /// Answers its stored (lower-case) name.
    pub(crate) fn parameter_group_for(
        &self,
        kind: GroupKind,
        name: &str,
        family: &str,
    ) -> Result<String, ControlError> {
        let group = self.parameter_group(kind, name).map_err(|e| match kind {
            GroupKind::Cluster => RdsError::ClusterParameterGroupNotFound(name.to_string()).into(),
            GroupKind::Instance => e,
        })?;
        if group.family != family {
            return Err(RdsError::InvalidParameterCombination(format!(
                "The parameter group {} with DBParameterGroupFamily {} can't be used for this {}. Use a parameter \
                 group with DBParameterGroupFamily {family}.",
                group.name,
                group.family,
                if kind == GroupKind::Cluster { "DB cluster" } else { "instance" }
            ))
            .into());
        }
        Ok(group.name)
    }

    /// The DB parameter group `name` for an instance of `family`.
    pub(crate) fn db_parameter_group_for(&self, name: &str, family: &str) -> Result<String, ControlError> {
        self.parameter_group_for(GroupKind::Instance, name, family)
    }

    pub(crate) fn group_values(&self, kind: GroupKind, group: &str) -> BTreeMap<String, String> {
        self.parameter_group(kind, group)
            .map(|g| g.overrides.into_iter().map(|(k, o)| (k, o.value)).collect())
            .unwrap_or_default()
    }

    /// The values an instance starting now takes from its group and its cluster's.
    pub(crate) fn booted_parameters(&self, instance: &DbInstance) -> BootedParameters {
        let group = &instance.parameter_group;
        let cluster_group =
            instance.cluster.as_deref().and_then(|c| self.db_clusters.get(c)).map(|c| c.parameter_group.clone());
        BootedParameters {
            group: group.clone(),
            values: self.group_values(GroupKind::Instance, group),
            cluster_values: cluster_group
                .as_deref()
                .map(|g| self.group_values(GroupKind::Cluster, g))
                .unwrap_or_default(),
            cluster_group,
        }
    }

    /// What an instance runs with now, and whether its groups hold values that wait for a
    /// reboot.
    pub fn db_parameter_view(&self, instance: &DbInstance) -> ParameterView {
        let current = self.booted_parameters(instance);
        let booted = instance.booted_parameters.clone().unwrap_or_else(|| current.clone());
        let family = self
            .db_parameter_group(&booted.group)
            .map(|g| g.family)
            .unwrap_or_else(|_| instance.parameter_group.trim_start_matches("default.").to_string());
        let group = self.db_parameter_group(&instance.parameter_group).ok();
        let same_group = booted.group == instance.parameter_group;
        let cluster_group =
            current.cluster_group.as_deref().and_then(|g| self.parameter_group(GroupKind::Cluster, g).ok());
        let same_cluster_group = booted.cluster_group == current.cluster_group;
        let inputs = FormulaInputs {
            memory: class_memory(&instance.class),
            allocated_gib: instance.allocated_gib,
            port: instance.port,
        };
        let (mut pending, mut cluster_pending) = (false, false);
        let mut values = BTreeMap::new();
        for def in family_parameters(&family).unwrap_or_default() {
            let set = group.as_ref().and_then(|g| g.overrides.get(def.name));
            let (own, waits) = layer(def, booted.values.get(def.name).map(String::as_str), set, same_group);
            pending |= waits;
            let cluster_value = match &cluster_group {
                Some(g) => {
                    let at_boot = booted.cluster_values.get(def.name).map(String::as_str);
                    let (v, waits) = layer(def, at_boot, g.overrides.get(def.name), same_cluster_group);
                    cluster_pending |= waits;
                    v
                }
                None => None,
            };
            if let Some(v) = own.or(cluster_value).or(def.default) {
                let v = match (def.data_type, v) {
                    ("boolean", "1") => Some("on".to_string()),
                    ("boolean", "0") => Some("off".to_string()),
                    (_, v) if v.contains('{') => evaluate(v, inputs).map(|n| n.to_string()),
                    (_, v) => Some(v.to_string()),
                };
                if let Some(v) = v {
                    values.insert(def.name.to_string(), v);
                }
            }
        }
        ParameterView {
            values,
            apply_status: status(pending || !same_group),
            cluster_apply_status: status(cluster_pending || (cluster_group.is_some() && !same_cluster_group)),
        }
    }

    // ---- commands ------------------------------------------------------------------------------

    pub(crate) fn create_parameter_group(
        &mut self,
        kind: GroupKind,
        name: &str,
        family: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbParameterGroup, ControlError> {
        self.new_parameter_group(kind, name, family, description, BTreeMap::new(), tags, now_ms)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_parameter_group(
        &mut self,
        kind: GroupKind,
        name: &str,
        family: &str,
        description: &str,
        overrides: BTreeMap<String, ParameterOverride>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbParameterGroup, ControlError> {
        if !crate::rds::identifier_shape(name, 255) {
            return Err(invalid(format!(
                "The parameter {} is not a valid identifier. Identifiers must begin with a letter; must contain \
                 only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two \
                 consecutive hyphens.",
                kind.name_parameter()
            )));
        }
        if description.trim().is_empty() {
            return Err(invalid("The parameter Description must be provided and must not be blank."));
        }
        if family_engine(family).is_none() {
            return Err(invalid(format!("DBParameterGroupFamily {family} is not a valid parameter group family.")));
        }
        let key = kind.key(name);
        if self.db_parameter_groups.contains_key(&key) {
            return Err(RdsError::ParameterGroupExists(name.to_ascii_lowercase()).into());
        }
        if self.db_parameter_groups.values().filter(|g| GroupKind::of(g) == kind).count() >= MAX_PARAMETER_GROUPS {
            return Err(RdsError::ParameterGroupQuotaExceeded(MAX_PARAMETER_GROUPS).into());
        }
        let group = DbParameterGroup {
            name: name.to_ascii_lowercase(),
            family: family.to_string(),
            description: description.to_string(),
            created_ms: now_ms,
            overrides,
            tags,
            cluster: kind == GroupKind::Cluster,
        };
        self.db_parameter_groups.insert(key, group.clone());
        Ok(group)
    }

    pub(crate) fn copy_parameter_group(
        &mut self,
        kind: GroupKind,
        source: &str,
        target: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbParameterGroup, ControlError> {
        let from = self.parameter_group(kind, source)?;
        self.new_parameter_group(kind, target, &from.family, description, from.overrides, tags, now_ms)
    }

    /// A user's group that may change (default groups cannot).
    fn changeable_group(&self, kind: GroupKind, name: &str) -> Result<DbParameterGroup, ControlError> {
        let group = self.parameter_group(kind, name)?;
        if !self.db_parameter_groups.contains_key(&kind.key(&group.name)) {
            return Err(invalid("Cannot modify a default parameter group."));
        }
        Ok(group)
    }

    pub(crate) fn modify_parameter_group(
        &mut self,
        kind: GroupKind,
        name: &str,
        changes: &[ParameterChange],
    ) -> Result<String, ControlError> {
        let mut group = self.changeable_group(kind, name)?;
        let defs = family_parameters(&group.family).unwrap_or_default();
        if changes.is_empty() {
            return Err(invalid("The parameter Parameters must be provided and must not be empty."));
        }
        if changes.len() > MAX_PARAMETERS_PER_CALL {
            return Err(invalid(format!(
                "A maximum of {MAX_PARAMETERS_PER_CALL} parameters can be modified in a single request."
            )));
        }
        for change in changes {
            let def = defs
                .iter()
                .find(|d| d.name == change.name)
                .ok_or_else(|| invalid(format!("Could not find parameter with name: {}", change.name)))?;
            if !def.modifiable {
                return Err(invalid(format!("The parameter {} cannot be modified.", def.name)));
            }
            let value = change
                .value
                .as_deref()
                .ok_or_else(|| invalid(format!("The parameter value for parameter {} must be provided.", def.name)))?;
            check_value(def, value)?;
            let pending_reboot = apply_method(def, change.apply_method.as_deref())?;
            group
                .overrides
                .insert(def.name.to_string(), ParameterOverride { value: value.to_string(), pending_reboot });
        }
        let out = group.name.clone();
        self.db_parameter_groups.insert(kind.key(&group.name), group);
        Ok(out)
    }

    pub(crate) fn reset_parameter_group(
        &mut self,
        kind: GroupKind,
        name: &str,
        all: bool,
        changes: &[ParameterChange],
    ) -> Result<String, ControlError> {
        let mut group = self.changeable_group(kind, name)?;
        let defs = family_parameters(&group.family).unwrap_or_default();
        match (all, changes.is_empty()) {
            (true, false) => {
                return Err(RdsError::InvalidParameterCombination(
                    "Cannot reset all parameters and name parameters to reset in one request.".into(),
                )
                .into())
            }
            (false, true) => {
                return Err(RdsError::InvalidParameterCombination(
                    "Either ResetAllParameters or Parameters must be specified.".into(),
                )
                .into())
            }
            (true, true) => group.overrides.clear(),
            (false, false) => {
                if changes.len() > MAX_PARAMETERS_PER_CALL {
                    return Err(invalid(format!(
                        "A maximum of {MAX_PARAMETERS_PER_CALL} parameters can be reset in a single request."
                    )));
                }
                for change in changes {
                    let def = defs
                        .iter()
                        .find(|d| d.name == change.name)
                        .ok_or_else(|| invalid(format!("Could not find parameter with name: {}", change.name)))?;
                    apply_method(def, change.apply_method.as_deref())?;
                    group.overrides.remove(def.name);
                }
            }
        }
        let out = group.name.clone();
        self.db_parameter_groups.insert(kind.key(&group.name), group);
        Ok(out)
    }

    pub(crate) fn delete_parameter_group(&mut self, kind: GroupKind, name: &str) -> Result<(), ControlError> {
        let group = self.parameter_group(kind, name)?;
        let noun = match kind {
            GroupKind::Instance => ("DBParameterGroup", "database instances"),
            GroupKind::Cluster => ("DBClusterParameterGroup", "DB clusters"),
        };
        if !self.db_parameter_groups.contains_key(&kind.key(&group.name)) {
            return Err(RdsError::InvalidParameterGroupState(format!(
                "Default {} cannot be deleted: {}",
                noun.0, group.name
            ))
            .into());
        }
        let used = match kind {
            GroupKind::Instance => self.db_instances.values().any(|i| i.parameter_group == group.name),
            GroupKind::Cluster => self.db_clusters.values().any(|c| c.parameter_group == group.name),
        };
        if used {
            return Err(RdsError::InvalidParameterGroupState(format!(
                "One or more {} are still members of this parameter group {}, so the group cannot be deleted",
                noun.1, group.name
            ))
            .into());
        }
        self.db_parameter_groups.remove(&kind.key(&group.name));
        Ok(())
    }
}

/// Whether a change waits for a reboot: `immediate` is refused for static parameters.
fn apply_method(def: &ParameterDef, method: Option<&str>) -> Result<bool, ControlError> {
    match (method, def.apply) {
        (None, Static) | (Some("pending-reboot"), _) => Ok(true),
        (None, Dynamic) | (Some("immediate"), Dynamic) => Ok(false),
        (Some("immediate"), Static) => {
            Err(RdsError::InvalidParameterCombination("cannot use immediate apply method for static parameter".into())
                .into())
        }
        (Some(other), _) => {
            Err(invalid(format!("Invalid apply method: {other}. Valid values are immediate and pending-reboot.")))
        }
    }
}

fn engine_default(def: &'static ParameterDef) -> ParameterShown {
    ParameterShown {
        def,
        value: def.default.map(str::to_string),
        source: if def.system { "system" } else { "engine-default" },
        apply_method: "pending-reboot",
    }
}

/// The engine's defaults of a family, as DescribeEngineDefaultParameters lists them.
pub fn engine_defaults(family: &str) -> Result<Vec<ParameterShown>, ControlError> {
    let defs = family_parameters(family)
        .ok_or_else(|| invalid(format!("DBParameterGroupFamily {family} is not a valid parameter group family.")))?;
    Ok(defs.iter().map(engine_default).collect())
}

fn default_group(kind: GroupKind, family: &str) -> DbParameterGroup {
    DbParameterGroup {
        name: default_group_name(family),
        family: family.to_string(),
        description: kind.default_description(family),
        created_ms: 0,
        overrides: BTreeMap::new(),
        tags: BTreeMap::new(),
        cluster: kind == GroupKind::Cluster,
    }
}

impl Region {
    /// CreateDBParameterGroup, CreateDBClusterParameterGroup.
    pub fn create_parameter_group(
        &self,
        kind: GroupKind,
        name: &str,
        family: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbParameterGroup, ControlError> {
        self.with_state(now_ms, |state| state.create_parameter_group(kind, name, family, description, tags, now_ms))
    }

    /// CopyDBParameterGroup, CopyDBClusterParameterGroup.
    pub fn copy_parameter_group(
        &self,
        kind: GroupKind,
        source: &str,
        target: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbParameterGroup, ControlError> {
        self.with_state(now_ms, |state| state.copy_parameter_group(kind, source, target, description, tags, now_ms))
    }

    /// ModifyDBParameterGroup, ModifyDBClusterParameterGroup.
    pub fn modify_parameter_group(
        &self,
        kind: GroupKind,
        name: &str,
        changes: &[ParameterChange],
        now_ms: u64,
    ) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| state.modify_parameter_group(kind, name, changes))
    }

    /// ResetDBParameterGroup, ResetDBClusterParameterGroup.
    pub fn reset_parameter_group(
        &self,
        kind: GroupKind,
        name: &str,
        all: bool,
        changes: &[ParameterChange],
        now_ms: u64,
    ) -> Result<String, ControlError> {
        self.with_state(now_ms, |state| state.reset_parameter_group(kind, name, all, changes))
    }

    /// DeleteDBParameterGroup, DeleteDBClusterParameterGroup.
    pub fn delete_parameter_group(&self, kind: GroupKind, name: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_parameter_group(kind, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: FormulaInputs = FormulaInputs { memory: 1 << 30, allocated_gib: 20, port: 4510 };

    #[test]
    fn formulas_are_worked_out_as_rds_does() {
        assert_eq!(evaluate("LEAST({DBInstanceClassMemory/9531392},5000)", SMALL), Some(112));
        assert_eq!(evaluate("GREATEST({DBInstanceClassMemory*1024/63963136},65536)", SMALL), Some(65536));
        assert_eq!(evaluate("{EndPointPort}", SMALL), Some(4510));
        assert_eq!(evaluate("SUM(1, 2,3)", SMALL), Some(6));
        assert_eq!(evaluate("42", SMALL), Some(42));
        assert_eq!(evaluate("{Nonsense}", SMALL), None);
        assert_eq!(evaluate("LEAST(1,", SMALL), None);
        assert_eq!(evaluate("{DBInstanceClassMemory/0}", SMALL), None);
    }

    #[test]
    fn values_are_checked_against_the_allowed_ones() {
        let max = POSTGRES.iter().find(|d| d.name == "max_connections").unwrap();
        assert!(check_value(max, "100").is_ok());
        assert!(check_value(max, "5").is_err());
        assert!(check_value(max, "ten").is_err());
        assert!(check_value(max, "1.5").is_err());
        assert!(check_value(max, "LEAST({DBInstanceClassMemory/9531392},100)").is_ok());
        let min_duration = POSTGRES.iter().find(|d| d.name == "log_min_duration_statement").unwrap();
        assert!(check_value(min_duration, "-1").is_ok());
        assert!(check_value(min_duration, "-2").is_err());
        let libraries = POSTGRES.iter().find(|d| d.name == "shared_preload_libraries").unwrap();
        assert!(check_value(libraries, "pg_stat_statements,pg_cron").is_ok());
        assert!(check_value(libraries, "pg_stat_statements,evil").is_err());
        let autovacuum = POSTGRES.iter().find(|d| d.name == "autovacuum").unwrap();
        assert!(check_value(autovacuum, "0").is_ok());
        assert!(check_value(autovacuum, "yes").is_err());
    }

    #[test]
    fn catalogues_are_in_name_order_and_families_are_known() {
        for defs in [POSTGRES, MYSQL] {
            assert!(defs.windows(2).all(|w| w[0].name < w[1].name));
        }
        assert_eq!(family_engine("postgres16"), Some("postgres"));
        assert_eq!(family_engine("mysql8.0"), Some("mysql"));
        assert_eq!(family_engine("mariadb10.11"), Some("mariadb"));
        assert_eq!(family_engine("postgres99"), None);
        assert_eq!(class_memory("db.t3.micro"), 1 << 30);
        assert_eq!(class_memory("db.r6g.large"), 16 << 30);
    }
}

#[cfg(test)]
mod instance_tests {
    use super::*;
    use crate::model::rds::{DbInstanceSpec, DbModification};
    use crate::test_support::TestRegion;

    fn change(name: &str, value: &str, method: &str) -> ParameterChange {
        ParameterChange { name: name.into(), value: Some(value.into()), apply_method: Some(method.into()) }
    }

    fn view(t: &TestRegion, id: &str) -> ParameterView {
        t.region.read(t.now(), |s| Ok(s.db_parameter_view(s.db_instance(id)?))).expect("view")
    }

    #[test]
    fn dynamic_values_apply_at_once_static_ones_at_the_reboot() {
        let t = TestRegion::new();
        t.region
            .create_parameter_group(GroupKind::Instance, "tuned", "postgres16", "tuned", BTreeMap::new(), t.now())
            .expect("group");
        let set = [change("statement_timeout", "500", "immediate")];
        t.region.modify_parameter_group(GroupKind::Instance, "tuned", &set, t.now()).expect("modify");
        let spec = DbInstanceSpec {
            id: "db".into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            allocated_gib: Some(20),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            parameter_group: Some("Tuned".into()),
            ..Default::default()
        };
        t.region.create_db_instance(spec, "localhost", t.now()).expect("create");
        let v = view(&t, "db");
        assert_eq!(v.apply_status, "in-sync");
        assert_eq!(v.values["statement_timeout"], "500");
        assert_eq!(v.values["max_connections"], "112", "LEAST({{DBInstanceClassMemory/9531392}},5000) for 1 GiB");
        assert_eq!(v.values["autovacuum"], "on");

        // Static: pending until the reboot.
        let set = [change("max_connections", "50", "pending-reboot")];
        t.region.modify_parameter_group(GroupKind::Instance, "tuned", &set, t.now()).expect("modify");
        let v = view(&t, "db");
        assert_eq!((v.apply_status, v.values["max_connections"].as_str()), ("pending-reboot", "112"));
        t.advance(1_000);
        t.region.reboot_db_instance("db", false, t.now()).expect("reboot");
        let v = view(&t, "db");
        assert_eq!((v.apply_status, v.values["max_connections"].as_str()), ("in-sync", "50"));

        // Dynamic with immediate: at once, also when reset.
        let set = [change("statement_timeout", "900", "immediate")];
        t.region.modify_parameter_group(GroupKind::Instance, "tuned", &set, t.now()).expect("modify");
        assert_eq!(view(&t, "db").values["statement_timeout"], "900");
        let reset = [ParameterChange { name: "statement_timeout".into(), ..Default::default() }];
        t.region.reset_parameter_group(GroupKind::Instance, "tuned", false, &reset, t.now()).expect("reset");
        let v = view(&t, "db");
        assert!(!v.values.contains_key("statement_timeout"), "{v:?}");
        assert_eq!(v.apply_status, "in-sync");

        // Another group: associated now, its values taken at the reboot.
        t.advance(1_000);
        let m = DbModification { parameter_group: Some("default.postgres16".into()), ..Default::default() };
        t.region.modify_db_instance("db", m, t.now()).expect("modify instance");
        let v = view(&t, "db");
        assert_eq!((v.apply_status, v.values["max_connections"].as_str()), ("pending-reboot", "50"));
        t.advance(1_000);
        t.region.reboot_db_instance("db", false, t.now()).expect("reboot");
        let v = view(&t, "db");
        assert_eq!((v.apply_status, v.values["max_connections"].as_str()), ("in-sync", "112"));
        let gone = t.region.delete_parameter_group(GroupKind::Instance, "tuned", t.now());
        assert!(gone.is_ok(), "no instance uses the group any more: {gone:?}");
    }
}
