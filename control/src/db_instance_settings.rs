//! The settings of a DB instance that RDS checks and shows without touching its storage: VPC
//! security groups (from EC2, of the instance's VPC), storage autoscaling, enhanced monitoring,
//! IAM authentication, Performance Insights, the certificate authority, the KMS key, gp3
//! throughput and CloudWatch log exports — each with RDS's rules and codes.

use crate::error::ControlError;
use crate::model::rds::{DbInstance, DbInstanceSettings, DbSettingsChange, RdsError};
use crate::region::Region;
use crate::state::RegionState;

/// Certificate authorities RDS offers; the first is the default.
pub const CA_CERTIFICATES: &[&str] = &["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1", "rds-ca-2019"];
const MONITORING_INTERVALS: &[u32] = &[0, 1, 5, 10, 15, 30, 60];
/// From this size on (GiB) gp3 throughput and IOPS can be set for these engines.
const GP3_CONFIGURABLE_FROM_GIB: u32 = 400;

/// The log types an engine exports.
pub fn log_types(engine: &str) -> &'static [&'static str] {
    match engine {
        "postgres" => &["postgresql", "upgrade", "iam-db-auth-error"],
        _ => &["audit", "error", "general", "slowquery", "iam-db-auth-error"],
    }
}

/// What an instance is, for the rules that depend on it.
pub(crate) struct InstanceFacts<'a> {
    pub engine: &'a str,
    pub engine_version: &'a str,
    pub vpc_id: &'a str,
    pub allocated_gib: u32,
    pub storage_type: &'a str,
    pub encrypted: bool,
    /// CreateDBInstance (security groups default to the VPC's default group) rather than Modify.
    pub creating: bool,
}

/// Roles one DB instance may have.
pub const MAX_ROLES: usize = 5;

/// The features an engine takes roles for (AddRoleToDBInstance's FeatureName).
pub fn role_features(engine: &str) -> &'static [&'static str] {
    match engine {
        "postgres" => &["s3Import", "s3Export", "Lambda"],
        _ => &[],
    }
}

fn check_role_arn(arn: &str) -> Result<(), ControlError> {
    let mut parts = arn.splitn(6, ':');
    let valid = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some("aws"), Some("iam"), Some(""), Some(account), Some(role))
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
                && role.strip_prefix("role/").is_some_and(|r| !r.is_empty())
    );
    if valid {
        Ok(())
    } else {
        Err(invalid(format!("Invalid role ARN: {arn}. It must be the ARN of an IAM role.")))
    }
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

fn combination(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterCombination(message.into()).into()
}

impl RegionState {
    /// The settings after `change`, checked as RDS checks them.
    pub(crate) fn db_settings(
        &self,
        base: &DbInstanceSettings,
        change: &DbSettingsChange,
        facts: &InstanceFacts<'_>,
    ) -> Result<DbInstanceSettings, ControlError> {
        let mut out = base.clone();
        match &change.security_groups {
            Some(ids) if !ids.is_empty() => {
                out.security_groups = self.vpc_security_groups(ids, facts.vpc_id, "DB instance")?;
            }
            _ if facts.creating => {
                // RDS puts an instance named no group in its VPC's default group.
                out.security_groups = self
                    .security_groups_ref()
                    .values()
                    .filter(|g| g.vpc_id == facts.vpc_id && g.name == "default")
                    .map(|g| g.id.clone())
                    .collect();
            }
            _ => {}
        }
        if let Some(max) = change.max_allocated_gib {
            if max == 0 || max == facts.allocated_gib && !facts.creating {
                // Modify with the allocated size (or 0) turns storage autoscaling off.
                out.max_allocated_gib = None;
            } else if max <= facts.allocated_gib {
                return Err(combination("Max storage size must be greater than storage size."));
            } else if max > 65_536 {
                return Err(invalid(format!("Invalid max storage size: {max}. It must be at most 65536 GiB.")));
            } else {
                out.max_allocated_gib = Some(max);
            }
        }
        if let Some(interval) = change.monitoring_interval {
            if !MONITORING_INTERVALS.contains(&interval) {
                return Err(invalid(format!(
                    "Invalid MonitoringInterval: {interval}. Valid values are 0, 1, 5, 10, 15, 30, 60."
                )));
            }
            out.monitoring_interval = interval;
        }
        if let Some(arn) = &change.monitoring_role_arn {
            check_role_arn(arn).map_err(|_| {
                invalid(format!("Invalid MonitoringRoleArn: {arn}. It must be the ARN of an IAM role."))
            })?;
            out.monitoring_role_arn = Some(arn.clone());
        }
        if out.monitoring_interval == 0 {
            if change.monitoring_role_arn.is_some() {
                return Err(combination(
                    "A MonitoringInterval value other than 0 is required if you specify a MonitoringRoleARN value.",
                ));
            }
            out.monitoring_role_arn = None;
        } else if out.monitoring_role_arn.is_none() {
            return Err(combination(
                "A MonitoringRoleARN value is required if you specify a MonitoringInterval value other than 0.",
            ));
        }
        if let Some(v) = change.iam_auth {
            out.iam_auth = v;
        }
        if let Some(v) = change.performance_insights {
            out.performance_insights = v;
            out.performance_insights_retention_days = v.then_some(out.performance_insights_retention_days.unwrap_or(7));
        }
        if let Some(days) = change.performance_insights_retention_days {
            let valid = days == 7 || days == 731 || (days % 31 == 0 && (31..=713).contains(&days));
            if !valid {
                return Err(invalid(format!(
                    "Invalid PerformanceInsightsRetentionPeriod: {days}. Valid values are 7, month * 31 (1 to 23 \
                     months) and 731."
                )));
            }
            if !out.performance_insights {
                return Err(combination(
                    "PerformanceInsightsRetentionPeriod requires Performance Insights to be enabled.",
                ));
            }
            out.performance_insights_retention_days = Some(days);
        }
        if let Some(ca) = &change.ca_certificate {
            if !CA_CERTIFICATES.contains(&ca.as_str()) {
                return Err(RdsError::CertificateNotFound(ca.clone()).into());
            }
            out.ca_certificate = Some(ca.clone());
        }
        if let Some(key) = &change.kms_key_id {
            if !facts.creating {
                return Err(invalid("The KMS key of a DB instance cannot be changed."));
            }
            if !facts.encrypted {
                return Err(combination("Specifying a KmsKeyId requires StorageEncrypted to be true."));
            }
            out.kms_key_id = Some(key.clone());
        }
        if let Some(throughput) = change.storage_throughput {
            if facts.storage_type != "gp3" {
                return Err(combination(format!(
                    "StorageThroughput can be set only for gp3 storage, not {}.",
                    facts.storage_type
                )));
            }
            if facts.allocated_gib < GP3_CONFIGURABLE_FROM_GIB {
                return Err(combination(format!(
                    "You can't specify IOPS or storage throughput for engine {} and a storage size less than \
                     {GP3_CONFIGURABLE_FROM_GIB}.",
                    facts.engine
                )));
            }
            if !(500..=4000).contains(&throughput) {
                return Err(invalid(format!(
                    "Invalid storage throughput: {throughput}. It must be between 500 and 4000 MiB/s."
                )));
            }
            out.storage_throughput = Some(throughput);
        }
        let known = log_types(facts.engine);
        let unknown: Vec<&String> = change
            .enable_log_exports
            .iter()
            .chain(&change.disable_log_exports)
            .filter(|t| !known.contains(&t.as_str()))
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            return Err(combination(format!(
                "You cannot use the log types '{}' with engine version {} {}. For supported log types, see the \
                 documentation.",
                names.join("', '"),
                facts.engine,
                facts.engine_version
            )));
        }
        for t in &change.enable_log_exports {
            if !out.log_exports.contains(t) {
                out.log_exports.push(t.clone());
            }
        }
        out.log_exports.retain(|t| !change.disable_log_exports.contains(t));
        out.log_exports.sort();
        Ok(out)
    }

    /// AddRoleToDBInstance: a role for one of the engine's features.
    pub(crate) fn add_db_instance_role(
        &mut self,
        id: &str,
        role: &str,
        feature: &str,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?.clone();
        self.check_role_change(&instance)?;
        check_role_arn(role)?;
        let features = role_features(&instance.engine);
        if !features.contains(&feature) {
            return Err(invalid(format!(
                "The feature {feature} is not supported for engine {}{}",
                instance.engine,
                if features.is_empty() { String::new() } else { format!(": use one of {}", features.join(", ")) }
            )));
        }
        if instance.roles.iter().any(|(r, f)| r == role || f == feature) {
            return Err(RdsError::RoleAlreadyExists { role: role.to_string(), instance: instance.id }.into());
        }
        if instance.roles.len() >= MAX_ROLES {
            return Err(RdsError::RoleQuotaExceeded(MAX_ROLES).into());
        }
        let row = self.db_instances.get_mut(&instance.id).ok_or_else(|| RdsError::InstanceNotFound(id.into()))?;
        row.roles.push((role.to_string(), feature.to_string()));
        Ok(row.clone())
    }

    /// RemoveRoleFromDBInstance.
    pub(crate) fn remove_db_instance_role(
        &mut self,
        id: &str,
        role: &str,
        feature: &str,
    ) -> Result<DbInstance, ControlError> {
        let instance = self.db_instance(id)?.clone();
        self.check_role_change(&instance)?;
        if !instance.roles.iter().any(|(r, f)| r == role && f == feature) {
            return Err(RdsError::RoleNotFound { role: role.to_string(), instance: instance.id }.into());
        }
        let row = self.db_instances.get_mut(&instance.id).ok_or_else(|| RdsError::InstanceNotFound(id.into()))?;
        row.roles.retain(|(r, f)| !(r == role && f == feature));
        Ok(row.clone())
    }

    fn check_role_change(&self, instance: &DbInstance) -> Result<(), ControlError> {
        if instance.status != crate::model::rds::DbInstanceStatus::Available {
            return Err(RdsError::InvalidInstanceState {
                id: instance.id.clone(),
                status: instance.status.as_str(),
                why: "it must be available for its roles to change",
            }
            .into());
        }
        Ok(())
    }

    /// Whether a DB instance that is not being deleted uses the security group.
    /// EC2 security groups for an RDS resource in `vpc_id` (each must exist there), without
    /// repeats, in the order given.
    pub(crate) fn vpc_security_groups(
        &self,
        ids: &[String],
        vpc_id: &str,
        resource: &str,
    ) -> Result<Vec<String>, ControlError> {
        let mut groups: Vec<String> = Vec::new();
        for id in ids {
            let group = self
                .security_group(id)
                .ok_or_else(|| invalid(format!("Invalid security group: the security group {id} does not exist.")))?;
            if group.vpc_id != vpc_id {
                return Err(combination(format!(
                    "The {resource} and EC2 security group are in different VPCs. The {resource} is in {vpc_id} and \
                     the EC2 security group is in {}",
                    group.vpc_id
                )));
            }
            if !groups.contains(id) {
                groups.push(id.clone());
            }
        }
        Ok(groups)
    }

    pub(crate) fn db_instance_uses_security_group(&self, id: &str) -> bool {
        self.db_instances.values().any(|i| i.settings.security_groups.iter().any(|g| g == id))
    }
}

impl Region {
    /// AddRoleToDBInstance.
    pub fn add_db_instance_role(
        &self,
        id: &str,
        role: &str,
        feature: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.add_db_instance_role(id, role, feature))
    }

    /// RemoveRoleFromDBInstance.
    pub fn remove_db_instance_role(
        &self,
        id: &str,
        role: &str,
        feature: &str,
        now_ms: u64,
    ) -> Result<DbInstance, ControlError> {
        self.with_state(now_ms, |state| state.remove_db_instance_role(id, role, feature))
    }
}
