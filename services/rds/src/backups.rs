//! Automated backups on the wire: DescribeDBInstanceAutomatedBackups,
//! DeleteDBInstanceAutomatedBackup and RestoreDBInstanceToPointInTime. The rules are the control
//! plane's (`squall_control::db_backups`).

use squall_control::db_backups::{AutomatedBackup, RestorePoint};
use squall_control::model::rds::{DbInstanceSpec, DbSettingsChange};
use squall_control::{ControlPlane, Region};
use squall_protocol::ApiError;

use super::generated::*;
use super::{
    control_error, max_records, no_filters, non_negative, not_built, paginate, port, render_instance, tag_map,
    timestamp, Arns,
};

/// Answers one of the automated-backup actions.
pub(crate) fn handle(
    control: &ControlPlane,
    region: &Region,
    arns: &Arns<'_>,
    request: Request,
    now: u64,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::DescribeDBInstanceAutomatedBackups(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let wanted_arn =
                r.db_instance_automated_backups_arn.as_deref().map(|a| backup_resource(arns, a)).transpose()?;
            let all = region.read(now, |state| Ok(state.automated_backups(now))).map_err(control_error)?;
            let found: Vec<AutomatedBackup> = all
                .into_iter()
                .filter(|b| r.dbi_resource_id.as_ref().is_none_or(|d| *d == b.resource_id))
                .filter(|b| wanted_arn.as_ref().is_none_or(|d| *d == b.resource_id))
                .filter(|b| r.db_instance_identifier.as_ref().is_none_or(|i| i.to_ascii_lowercase() == b.instance_id))
                .collect();
            let named = r.dbi_resource_id.is_some() || r.db_instance_identifier.is_some() || wanted_arn.is_some();
            if named && found.is_empty() {
                let what = r.dbi_resource_id.or(r.db_instance_identifier).or(wanted_arn).unwrap_or_default();
                return Err(not_found(&what));
            }
            let (page, marker) = paginate(found, |b| b.instance_id.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBInstanceAutomatedBackups(DBInstanceAutomatedBackupMessage {
                marker,
                db_instance_automated_backups: Some(page.iter().map(|b| render_backup(b, arns)).collect()),
            })
        }
        Request::DeleteDBInstanceAutomatedBackup(r) => {
            let resource = match (r.dbi_resource_id, r.db_instance_automated_backups_arn) {
                (Some(id), None) => id,
                (None, Some(arn)) => backup_resource(arns, &arn)?,
                _ => {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Specify either DbiResourceId or DBInstanceAutomatedBackupsArn.",
                    ))
                }
            };
            let gone = region.delete_db_instance_automated_backup(&resource, now).map_err(control_error)?;
            Response::DeleteDBInstanceAutomatedBackup(DeleteDBInstanceAutomatedBackupResult {
                db_instance_automated_backup: Some(render_backup(&gone, arns)),
            })
        }
        Request::RestoreDBInstanceToPointInTime(r) => {
            if r.source_db_instance_automated_backups_arn.is_some() {
                return Err(not_built(
                    "squall restores from a live DB instance: name SourceDBInstanceIdentifier or SourceDbiResourceId",
                ));
            }
            let point = match (r.restore_time, r.use_latest_restorable_time.unwrap_or(false)) {
                (Some(_), true) => {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Cannot specify both RestoreTime and UseLatestRestorableTime.",
                    ))
                }
                (Some(t), false) => RestorePoint::At(t.epoch_millis.max(0) as u64),
                (None, true) => RestorePoint::Latest,
                (None, false) => {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Specify either RestoreTime or UseLatestRestorableTime.",
                    ))
                }
            };
            let source = match (r.source_db_instance_identifier, r.source_dbi_resource_id) {
                (Some(id), None) => arns.name_of("db", &id)?,
                (None, Some(resource)) => region
                    .read(now, |state| {
                        Ok(state.db_instances().find(|i| i.resource_id == resource).map(|i| i.id.clone()))
                    })
                    .map_err(control_error)?
                    .ok_or_else(|| {
                        ApiError::new(404, "DBInstanceNotFound", format!("DBInstance {resource} not found."))
                    })?,
                _ => {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Specify either SourceDBInstanceIdentifier or SourceDbiResourceId.",
                    ))
                }
            };
            let arn = arns.of("db", &r.target_db_instance_identifier.to_ascii_lowercase());
            let overrides = DbInstanceSpec {
                managed_password: super::managed_password(
                    r.manage_master_user_password,
                    r.master_user_secret_kms_key_id,
                    arn,
                ),
                id: r.target_db_instance_identifier,
                class: r.db_instance_class.unwrap_or_default(),
                zone: r.availability_zone,
                multi_az: r.multi_az.unwrap_or(false),
                subnet_group: r.db_subnet_group_name,
                port: port(r.port)?,
                parameter_group: r.db_parameter_group_name,
                storage_type: r.storage_type,
                iops: non_negative("Iops", r.iops)?,
                backup_retention_days: non_negative("BackupRetentionPeriod", r.backup_retention_period)?,
                backup_window: r.preferred_backup_window,
                deletion_protection: r.deletion_protection.unwrap_or(false),
                publicly_accessible: r.publicly_accessible,
                auto_minor_version_upgrade: r.auto_minor_version_upgrade,
                copy_tags_to_snapshot: r.copy_tags_to_snapshot.unwrap_or(false),
                tags: tag_map(r.tags.unwrap_or_default())?,
                settings: DbSettingsChange {
                    security_groups: r.vpc_security_group_ids,
                    max_allocated_gib: non_negative("MaxAllocatedStorage", r.max_allocated_storage)?,
                    iam_auth: r.enable_iam_database_authentication,
                    ca_certificate: r.ca_certificate_identifier,
                    enable_log_exports: r.enable_cloudwatch_logs_exports.unwrap_or_default(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let made = region
                .restore_db_instance_to_point_in_time(&source, point, overrides, &control.config().rds_address, now)
                .map_err(control_error)?;
            Response::RestoreDBInstanceToPointInTime(RestoreDBInstanceToPointInTimeResult {
                db_instance: Some(render_instance(&made, region, arns, now)),
            })
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not an automated-backup action", other.action()),
            ))
        }
    })
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(404, "DBInstanceAutomatedBackupNotFound", format!("Automated backup {what} not found."))
}

/// The resource id in an automated backup's ARN (`…:auto-backup:ab-<resource id>`).
fn backup_resource(arns: &Arns<'_>, arn: &str) -> Result<String, ApiError> {
    let prefix = arns.of("auto-backup", "ab-");
    arn.strip_prefix(&prefix)
        .filter(|r| !r.is_empty())
        .map(|r| format!("db-{}", r.to_ascii_uppercase()))
        .ok_or_else(|| not_found(arn))
}

fn render_backup(b: &AutomatedBackup, arns: &Arns<'_>) -> DBInstanceAutomatedBackup {
    let s = &b.snapshot;
    let suffix = b.resource_id.trim_start_matches("db-").to_ascii_lowercase();
    DBInstanceAutomatedBackup {
        db_instance_arn: Some(arns.of("db", &b.instance_id)),
        dbi_resource_id: Some(b.resource_id.clone()),
        region: Some(arns.region.to_string()),
        db_instance_identifier: Some(b.instance_id.clone()),
        restore_window: Some(RestoreWindow {
            earliest_time: Some(timestamp(b.earliest_ms)),
            latest_time: Some(timestamp(b.latest_ms)),
        }),
        allocated_storage: Some(s.allocated_gib as i32),
        status: Some(b.status.into()),
        port: Some(i32::from(s.port)),
        availability_zone: Some(s.zone.to_string()),
        vpc_id: Some(s.vpc_id.clone()),
        instance_create_time: Some(timestamp(s.instance_created_ms)),
        master_username: s.master_username.clone(),
        engine: Some(s.engine.clone()),
        engine_version: Some(s.engine_version.clone()),
        license_model: Some(squall_control::rds::license(&s.engine).into()),
        iops: s.iops.map(|n| n as i32),
        encrypted: Some(s.encrypted),
        storage_type: Some(s.storage_type.clone()),
        iam_database_authentication_enabled: Some(false),
        backup_retention_period: Some(b.retention_days as i32),
        preferred_backup_window: (!b.backup_window.is_empty()).then(|| b.backup_window.clone()),
        db_instance_automated_backups_arn: Some(arns.of("auto-backup", &format!("ab-{suffix}"))),
        backup_target: Some("region".into()),
        ..Default::default()
    }
}
