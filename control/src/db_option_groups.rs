//! DB option groups: the options each engine offers (a catalogue with RDS's settings), the
//! `default:<engine>-<major>` groups that cannot change, the user's groups of an engine and
//! major version, and the group an instance belongs to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::model::rds::{DbInstance, RdsError};
use crate::rds::{engine, ENGINES};
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Option groups one account may make (RDS's default quota).
pub const MAX_OPTION_GROUPS: usize = 20;

/// One setting of an option.
#[derive(Debug)]
pub struct SettingDef {
    pub name: &'static str,
    pub description: &'static str,
    pub default: Option<&'static str>,
    /// `0-100` for numbers, `a,b,c` for choices.
    pub allowed: Option<&'static str>,
    /// A comma-separated list of the allowed values rather than one of them.
    pub collection: bool,
}

/// An option an engine offers in its option groups.
#[derive(Debug)]
pub struct OptionDef {
    pub name: &'static str,
    pub description: &'static str,
    /// `(engine, major versions)` the option exists for.
    pub engines: &'static [(&'static str, &'static [&'static str])],
    pub default_port: Option<u16>,
    pub settings: &'static [SettingDef],
}

const AUDIT_SETTINGS: &[SettingDef] = &[
    SettingDef {
        name: "SERVER_AUDIT_EVENTS",
        description: "Specifies the types of events to log.",
        default: Some("CONNECT,QUERY"),
        allowed: Some("CONNECT,QUERY,TABLE,QUERY_DDL,QUERY_DML,QUERY_DML_NO_SELECT,QUERY_DCL"),
        collection: true,
    },
    SettingDef {
        name: "SERVER_AUDIT_EXCL_USERS",
        description: "Exclude specified users from being logged.",
        default: None,
        allowed: None,
        collection: false,
    },
    SettingDef {
        name: "SERVER_AUDIT_FILE_ROTATE_SIZE",
        description: "The size in bytes at which the audit log file rotates.",
        default: Some("1000000"),
        allowed: Some("1-1000000000"),
        collection: false,
    },
    SettingDef {
        name: "SERVER_AUDIT_FILE_ROTATIONS",
        description: "The number of audit log files to keep.",
        default: Some("9"),
        allowed: Some("0-100"),
        collection: false,
    },
    SettingDef {
        name: "SERVER_AUDIT_INCL_USERS",
        description: "Include specified users to be logged.",
        default: None,
        allowed: None,
        collection: false,
    },
    SettingDef {
        name: "SERVER_AUDIT_QUERY_LOG_LIMIT",
        description: "The maximum length of the query string in a record.",
        default: Some("1024"),
        allowed: Some("0-2147483647"),
        collection: false,
    },
];

const MEMCACHED_SETTINGS: &[SettingDef] = &[
    SettingDef {
        name: "BACKLOG_QUEUE_LIMIT",
        description: "The backlog queue configures how many network connections can be waiting to be processed.",
        default: Some("1024"),
        allowed: Some("1-2048"),
        collection: false,
    },
    SettingDef {
        name: "BINDING_PROTOCOL",
        description: "The binding protocol to use.",
        default: Some("auto"),
        allowed: Some("auto,ascii,binary"),
        collection: false,
    },
];

/// The options squall knows, by name.
pub const OPTIONS: &[OptionDef] = &[
    OptionDef {
        name: "MARIADB_AUDIT_PLUGIN",
        description: "MariaDB Audit Plugin",
        engines: &[("mysql", &["5.7", "8.0"]), ("mariadb", &["10.6", "10.11", "11.4"])],
        default_port: None,
        settings: AUDIT_SETTINGS,
    },
    OptionDef {
        name: "MEMCACHED",
        description: "Innodb Memcached for MySQL",
        engines: &[("mysql", &["5.7", "8.0"])],
        default_port: Some(11211),
        settings: MEMCACHED_SETTINGS,
    },
];

/// The options of an engine's major version.
pub fn options_for(engine: &str, major: &str) -> Vec<&'static OptionDef> {
    OPTIONS.iter().filter(|o| o.engines.iter().any(|(e, majors)| *e == engine && majors.contains(&major))).collect()
}

/// The major version of an engine version as option groups name it (`16`, `8.0`).
pub fn major_version(engine: &str, version: &str) -> String {
    match engine {
        "postgres" => version.split('.').next().unwrap_or_default().to_string(),
        _ => version.split('.').take(2).collect::<Vec<_>>().join("."),
    }
}

/// `default:postgres-16`, `default:mysql-8-0`.
pub fn default_group_name(engine: &str, major: &str) -> String {
    format!("default:{engine}-{}", major.replace('.', "-"))
}

/// An option in a group, with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionInGroup {
    pub name: String,
    pub port: Option<u16>,
    pub settings: BTreeMap<String, String>,
    pub security_groups: Vec<String>,
}

/// A DB option group made by the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbOptionGroup {
    /// Lower-case.
    pub name: String,
    pub engine: String,
    pub major_version: String,
    pub description: String,
    pub options: Vec<OptionInGroup>,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for DbOptionGroup {
    const TABLE: &'static str = "db_option_groups";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// One option ModifyOptionGroup includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionChange {
    pub name: String,
    pub port: Option<u16>,
    pub settings: Vec<(String, String)>,
    pub security_groups: Vec<String>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn state_error(message: impl Into<String>) -> ControlError {
    RdsError::InvalidOptionGroupState(message.into()).into()
}

/// The major versions squall serves for an engine.
fn majors(engine_name: &str) -> Vec<String> {
    let mut out: Vec<String> = ENGINES
        .iter()
        .filter(|e| e.name == engine_name)
        .flat_map(|e| e.versions.iter().map(|v| major_version(e.name, v)))
        .collect();
    out.dedup();
    out
}

fn check_setting(option: &OptionDef, name: &str, value: &str) -> Result<(), ControlError> {
    let def = option
        .settings
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| invalid(format!("Invalid option setting name {name} for option {}.", option.name)))?;
    let bad = || {
        invalid(format!(
            "Invalid value {value} for option setting {name}: allowed values are {}",
            def.allowed.unwrap_or("")
        ))
    };
    let Some(allowed) = def.allowed else { return Ok(()) };
    if let Some((lo, hi)) = allowed.split_once('-').filter(|(lo, _)| lo.bytes().all(|b| b.is_ascii_digit())) {
        let n: u64 = value.trim().parse().map_err(|_| bad())?;
        let (lo, hi): (u64, u64) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
        return if (lo..=hi).contains(&n) { Ok(()) } else { Err(bad()) };
    }
    let choices: Vec<&str> = allowed.split(',').collect();
    let items: Vec<&str> = if def.collection { value.split(',').collect() } else { vec![value] };
    if items.iter().all(|v| choices.iter().any(|c| c.eq_ignore_ascii_case(v.trim()))) {
        Ok(())
    } else {
        Err(bad())
    }
}

impl RegionState {
    /// A group by name (any case): a user's, or a default group of an engine version squall
    /// serves.
    pub fn db_option_group(&self, name: &str) -> Result<DbOptionGroup, ControlError> {
        let key = name.to_ascii_lowercase();
        if let Some(g) = self.db_option_groups.get(&key) {
            return Ok(g.clone());
        }
        for e in ENGINES {
            for major in majors(e.name) {
                if default_group_name(e.name, &major) == key {
                    return Ok(default_group(e.name, &major));
                }
            }
        }
        Err(RdsError::OptionGroupNotFound(name.to_string()).into())
    }

    /// The user's groups and the default groups instances use, in name order.
    pub fn db_option_groups_all(&self) -> Vec<DbOptionGroup> {
        let mut all: BTreeMap<String, DbOptionGroup> =
            self.db_option_groups.values().map(|g| (g.name.clone(), g.clone())).collect();
        for i in self.db_instances.values() {
            let g = self.option_group_of(i);
            if let std::collections::btree_map::Entry::Vacant(slot) = all.entry(g.clone()) {
                if let Ok(found) = self.db_option_group(&g) {
                    slot.insert(found);
                }
            }
        }
        all.into_values().collect()
    }

    /// The option group an instance belongs to.
    pub fn option_group_of(&self, i: &DbInstance) -> String {
        i.option_group
            .clone()
            .unwrap_or_else(|| default_group_name(&i.engine, &major_version(&i.engine, &i.engine_version)))
    }

    /// The group `name` for an instance of `engine_name` `version`: it exists and matches.
    pub(crate) fn db_option_group_for(
        &self,
        name: &str,
        engine_name: &str,
        version: &str,
    ) -> Result<String, ControlError> {
        let group = self.db_option_group(name)?;
        let major = major_version(engine_name, version);
        if group.engine != engine_name || group.major_version != major {
            return Err(RdsError::InvalidParameterCombination(format!(
                "The option group {} is for {} {}, and cannot be used with engine {engine_name} major version \
                 {major}.",
                group.name, group.engine, group.major_version
            ))
            .into());
        }
        Ok(group.name)
    }

    /// CreateOptionGroup and CopyOptionGroup: `group` as asked (its name in any case).
    pub(crate) fn create_db_option_group(&mut self, group: DbOptionGroup) -> Result<DbOptionGroup, ControlError> {
        let (name, engine_name, major) = (group.name.as_str(), group.engine.as_str(), group.major_version.as_str());
        if !crate::rds::identifier_shape(name, 255) {
            return Err(invalid(
                "The parameter OptionGroupName is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain \
                 two consecutive hyphens.",
            ));
        }
        if group.description.trim().is_empty() {
            return Err(invalid("The parameter OptionGroupDescription must be provided and must not be blank."));
        }
        if engine(engine_name).is_none() {
            return Err(invalid(format!("Invalid DB engine: {engine_name}")));
        }
        if !majors(engine_name).iter().any(|m| m == major) {
            return Err(RdsError::InvalidParameterCombination(format!(
                "Cannot find major version {major} for {engine_name}"
            ))
            .into());
        }
        let key = name.to_ascii_lowercase();
        if self.db_option_groups.contains_key(&key) {
            return Err(RdsError::OptionGroupExists(key).into());
        }
        if self.db_option_groups.len() >= MAX_OPTION_GROUPS {
            return Err(RdsError::OptionGroupQuotaExceeded(MAX_OPTION_GROUPS).into());
        }
        let group = DbOptionGroup { name: key.clone(), ..group };
        self.db_option_groups.insert(key, group.clone());
        Ok(group)
    }

    pub(crate) fn modify_db_option_group(
        &mut self,
        name: &str,
        include: &[OptionChange],
        remove: &[String],
    ) -> Result<DbOptionGroup, ControlError> {
        let mut group = self.db_option_group(name)?;
        if !self.db_option_groups.contains_key(&group.name) {
            return Err(state_error("Default option groups cannot be modified."));
        }
        let offered = options_for(&group.engine, &group.major_version);
        for name in remove {
            if !group.options.iter().any(|o| o.name == *name) {
                return Err(invalid(format!("Option {name} is not in option group {}.", group.name)));
            }
            group.options.retain(|o| o.name != *name);
        }
        for change in include {
            let def = offered.iter().find(|o| o.name == change.name).ok_or_else(|| {
                invalid(format!(
                    "Option {} is not available for engine {} major version {}.",
                    change.name, group.engine, group.major_version
                ))
            })?;
            let mut settings: BTreeMap<String, String> =
                group.options.iter().find(|o| o.name == def.name).map(|o| o.settings.clone()).unwrap_or_default();
            for (k, v) in &change.settings {
                check_setting(def, k, v)?;
                settings.insert(k.clone(), v.clone());
            }
            for sg in &change.security_groups {
                if self.security_group(sg).is_none() {
                    return Err(invalid(format!("Invalid security group: the security group {sg} does not exist.")));
                }
            }
            if change.port.is_some() && def.default_port.is_none() {
                return Err(invalid(format!("Option {} does not take a port.", def.name)));
            }
            let option = OptionInGroup {
                name: def.name.to_string(),
                port: change.port.or(def.default_port),
                settings,
                security_groups: change.security_groups.clone(),
            };
            match group.options.iter_mut().find(|o| o.name == def.name) {
                Some(existing) => *existing = option,
                None => group.options.push(option),
            }
        }
        group.options.sort_by(|a, b| a.name.cmp(&b.name));
        self.db_option_groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    pub(crate) fn delete_db_option_group(&mut self, name: &str) -> Result<(), ControlError> {
        let group = self.db_option_group(name)?;
        if !self.db_option_groups.contains_key(&group.name) {
            return Err(state_error(format!("Default option group {} cannot be deleted.", group.name)));
        }
        if let Some(user) = self.db_instances.values().find(|i| i.option_group.as_deref() == Some(group.name.as_str()))
        {
            return Err(state_error(format!(
                "The option group '{}' cannot be deleted because it is in use by DB instance {}.",
                group.name, user.id
            )));
        }
        self.db_option_groups.remove(&group.name);
        Ok(())
    }
}

fn default_group(engine_name: &str, major: &str) -> DbOptionGroup {
    DbOptionGroup {
        name: default_group_name(engine_name, major),
        engine: engine_name.to_string(),
        major_version: major.to_string(),
        description: format!("Default option group for {engine_name} {major}"),
        options: Vec::new(),
        created_ms: 0,
        tags: BTreeMap::new(),
    }
}

impl Region {
    /// CreateOptionGroup.
    pub fn create_db_option_group(
        &self,
        name: &str,
        engine_name: &str,
        major: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbOptionGroup, ControlError> {
        self.with_state(now_ms, |state| {
            state.create_db_option_group(DbOptionGroup {
                name: name.to_string(),
                engine: engine_name.to_string(),
                major_version: major.to_string(),
                description: description.to_string(),
                options: Vec::new(),
                created_ms: now_ms,
                tags,
            })
        })
    }

    /// CopyOptionGroup.
    pub fn copy_db_option_group(
        &self,
        source: &str,
        target: &str,
        description: &str,
        tags: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<DbOptionGroup, ControlError> {
        self.with_state(now_ms, |state| {
            let from = state.db_option_group(source)?;
            state.create_db_option_group(DbOptionGroup {
                name: target.to_string(),
                description: description.to_string(),
                created_ms: now_ms,
                tags,
                ..from
            })
        })
    }

    /// ModifyOptionGroup.
    pub fn modify_db_option_group(
        &self,
        name: &str,
        include: &[OptionChange],
        remove: &[String],
        now_ms: u64,
    ) -> Result<DbOptionGroup, ControlError> {
        self.with_state(now_ms, |state| state.modify_db_option_group(name, include, remove))
    }

    /// DeleteOptionGroup.
    pub fn delete_db_option_group(&self, name: &str, now_ms: u64) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.delete_db_option_group(name))
    }
}
