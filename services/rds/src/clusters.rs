//! Aurora DB clusters on the wire: Create/Describe/Modify/Delete/Start/StopDBCluster. The rules
//! are the control plane's (`squall_control::db_clusters`); this file decodes, calls, renders.

use squall_control::db_backups::RestorePoint;
use squall_control::db_cluster_snapshots::{ClusterRestoreSpec, DbClusterSnapshot};
use squall_control::db_clusters::{
    serverless_v2, ClusterInstanceSpec, CustomEndpoint, DbCluster, DbClusterChanges, DbClusterSpec, ServerlessV2,
};
use squall_control::model::rds::DbInstance;
use squall_control::{ControlPlane, Region};
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, not_built, paginate, tag_map, timestamp, Arns};

const CLUSTER_FILTERS: &[&str] = &["clone-group-id", "db-cluster-id", "db-cluster-resource-id", "domain", "engine"];

/// A parameter squall does not act on yet: refused by name rather than taken and ignored.
fn unsupported(given: bool, name: &str) -> Result<(), ApiError> {
    if given {
        return Err(not_built(&format!("{name} is not supported yet by squall's DB clusters.")));
    }
    Ok(())
}

/// A non-negative count of the request (`AllocatedStorage`, `Iops`).
fn whole(v: Option<i32>, name: &str) -> Result<Option<u32>, ApiError> {
    v.map(|n| u32::try_from(n).map_err(|_| ApiError::client("InvalidParameterValue", format!("Invalid {name} {n}"))))
        .transpose()
}

/// A port of the request.
fn port_of(v: Option<i32>) -> Result<Option<u16>, ApiError> {
    v.map(|p| u16::try_from(p).map_err(|_| ApiError::client("InvalidParameterValue", format!("Invalid port {p}"))))
        .transpose()
}

fn scaling(c: Option<&ServerlessV2ScalingConfiguration>) -> Result<Option<ServerlessV2>, ApiError> {
    c.map(|c| serverless_v2(c.min_capacity, c.max_capacity, c.seconds_until_auto_pause).map_err(control_error))
        .transpose()
}

fn render_snapshot(s: &DbClusterSnapshot, arns: &Arns<'_>) -> DBClusterSnapshot {
    DBClusterSnapshot {
        availability_zones: Some(s.zones.iter().map(|z| z.to_string()).collect()),
        db_cluster_snapshot_identifier: Some(s.id.clone()),
        db_cluster_identifier: Some(s.cluster_id.clone()),
        snapshot_create_time: Some(timestamp(s.created_ms)),
        engine: Some(s.engine.clone()),
        engine_mode: Some(s.engine_mode.clone()),
        allocated_storage: Some(0),
        status: Some(s.status.as_str().to_string()),
        port: Some(i32::from(s.port)),
        vpc_id: Some(s.vpc_id.clone()),
        cluster_create_time: Some(timestamp(s.cluster_created_ms)),
        master_username: Some(s.master_username.clone()),
        engine_version: Some(s.engine_version.clone()),
        license_model: Some(
            if s.engine == "aurora-mysql" { "general-public-license" } else { "postgresql-license" }.into(),
        ),
        snapshot_type: Some(s.snapshot_type.clone()),
        percent_progress: Some(if s.status.as_str() == "available" { 100 } else { 0 }),
        storage_encrypted: Some(s.encrypted),
        backup_retention_period: Some(s.backup_retention_days as i32),
        preferred_backup_window: Some(s.backup_window.clone()),
        kms_key_id: s.kms_key_id.clone(),
        db_cluster_snapshot_arn: Some(arns.of("cluster-snapshot", &s.id)),
        iam_database_authentication_enabled: Some(false),
        tag_list: Some(s.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()),
        storage_type: Some(s.storage_type.clone()),
        db_cluster_resource_id: Some(s.cluster_resource_id.clone()),
        source_db_cluster_snapshot_arn: s.source_snapshot_arn.clone(),
        ..Default::default()
    }
}

/// The `restore` attribute: the accounts (or `all`) the snapshot is shared with.
fn snapshot_attributes(s: &DbClusterSnapshot) -> DBClusterSnapshotAttributesResult {
    DBClusterSnapshotAttributesResult {
        db_cluster_snapshot_identifier: Some(s.id.clone()),
        db_cluster_snapshot_attributes: Some(vec![DBClusterSnapshotAttribute {
            attribute_name: Some("restore".into()),
            attribute_values: Some(s.restore_accounts.clone()),
        }]),
    }
}

const SNAPSHOT_FILTERS: &[&str] =
    &["db-cluster-id", "db-cluster-snapshot-id", "snapshot-type", "engine", "engine-version", "db-cluster-resource-id"];

/// CreateDBInstance with DBClusterIdentifier: an instance of the cluster.
pub(crate) fn create_instance(
    region: &Region,
    arns: &Arns<'_>,
    r: CreateDBInstanceMessage,
    now: u64,
) -> Result<DbInstance, ApiError> {
    let cluster = arns.name_of("cluster", r.db_cluster_identifier.as_deref().unwrap_or_default())?;
    let spec = ClusterInstanceSpec {
        id: r.db_instance_identifier.clone(),
        cluster,
        engine: r.engine.clone(),
        class: r.db_instance_class.clone(),
        zone: r.availability_zone.clone(),
        promotion_tier: r.promotion_tier.map(|t| t.max(0) as u32),
        publicly_accessible: r.publicly_accessible == Some(true),
        parameter_group: r.db_parameter_group_name.clone(),
        tags: tag_map(r.tags.clone().unwrap_or_default())?,
        own_storage_or_credentials: r.allocated_storage.is_some()
            || r.master_username.is_some()
            || r.master_user_password.is_some()
            || r.multi_az == Some(true)
            || r.storage_type.is_some(),
        multi_az_member: false,
    };
    region.create_cluster_instance(spec, now).map_err(control_error)
}

fn members(c: &DbCluster, region: &Region, now: u64) -> Vec<DBClusterMember> {
    let members = region
        .read(now, |s| {
            Ok(s.cluster_members(&c.id)
                .into_iter()
                .map(|i| {
                    let status = s.db_parameter_view(&i).cluster_apply_status;
                    (i, status)
                })
                .collect::<Vec<_>>())
        })
        .unwrap_or_default();
    members
        .iter()
        .map(|(i, status)| DBClusterMember {
            db_instance_identifier: Some(i.id.clone()),
            // A global cluster's secondary has no writer: every instance reads.
            is_cluster_writer: Some(
                c.replication_source.is_none() && c.writer.as_deref() == Some(i.resource_id.as_str()),
            ),
            db_cluster_parameter_group_status: Some(status.to_string()),
            promotion_tier: Some(i.promotion_tier as i32),
        })
        .collect()
}

/// The host of one of the cluster's endpoints (`cluster`, `cluster-ro`, `cluster-custom`): the
/// configured address when it is `localhost` or an IP, else RDS's form under it.
fn endpoint_host(c: &DbCluster, name: &str, kind: &str) -> String {
    if c.address == "localhost" || c.address.parse::<std::net::IpAddr>().is_ok() {
        c.address.clone()
    } else {
        format!("{name}.{kind}-{}.{}", &c.resource_id[8..20].to_ascii_lowercase(), c.address)
    }
}

fn render_endpoint(c: &DbCluster, e: &CustomEndpoint, arns: &Arns<'_>) -> DBClusterEndpoint {
    DBClusterEndpoint {
        db_cluster_endpoint_identifier: Some(e.id.clone()),
        db_cluster_identifier: Some(c.id.clone()),
        db_cluster_endpoint_resource_identifier: Some(e.resource_id.clone()),
        endpoint: Some(endpoint_host(c, &e.id, "cluster-custom")),
        status: Some(e.status.clone()),
        endpoint_type: Some("CUSTOM".into()),
        custom_endpoint_type: Some(e.endpoint_type.clone()),
        static_members: Some(e.static_members.clone()),
        excluded_members: Some(e.excluded_members.clone()),
        db_cluster_endpoint_arn: Some(arns.of("cluster-endpoint", &e.id)),
    }
}

/// The writer and reader endpoints every cluster has, then its custom ones.
fn all_endpoints(c: &DbCluster, arns: &Arns<'_>) -> Vec<DBClusterEndpoint> {
    let status = if c.status.as_str() == "available" { "available" } else { c.status.as_str() };
    let mut out: Vec<DBClusterEndpoint> = [("WRITER", "cluster"), ("READER", "cluster-ro")]
        .iter()
        .map(|(kind, host)| DBClusterEndpoint {
            db_cluster_identifier: Some(c.id.clone()),
            endpoint: Some(endpoint_host(c, &c.id, host)),
            status: Some(status.to_string()),
            endpoint_type: Some(kind.to_string()),
            ..Default::default()
        })
        .collect();
    out.extend(c.custom_endpoints.iter().map(|e| render_endpoint(c, e, arns)));
    out
}

fn render(c: &DbCluster, control: &ControlPlane, region: &Region, arns: &Arns<'_>, now: u64) -> DBCluster {
    let global = c.global_cluster.as_ref().and_then(|resource| {
        control.global_clusters().into_iter().find(|(_, g)| g.resource_id == *resource).map(|(_, g)| g.id)
    });
    let source = c
        .replication_source
        .as_ref()
        .and_then(|s| s.split_once('/'))
        .map(|(source_region, id)| format!("arn:aws:rds:{source_region}:{}:cluster:{id}", arns.account));
    DBCluster {
        global_cluster_identifier: global,
        replication_source_identifier: source,
        global_write_forwarding_status: c.replication_source.as_ref().map(|_| WriteForwardingStatus::Disabled),
        allocated_storage: Some(c.allocated_gib.map_or(1, |g| g as i32)),
        iops: c.iops.map(|n| n as i32),
        availability_zones: Some(c.zones().iter().map(|z| z.to_string()).collect()),
        backup_retention_period: Some(c.backup_retention_days as i32),
        database_name: c.db_name.clone(),
        db_cluster_identifier: Some(c.id.clone()),
        db_cluster_parameter_group: Some(c.parameter_group.clone()),
        db_subnet_group: Some(c.subnet_group.clone().unwrap_or_else(|| "default".into())),
        status: Some(c.status.as_str().to_string()),
        endpoint: Some(endpoint_host(c, &c.id, "cluster")),
        reader_endpoint: Some(endpoint_host(c, &c.id, "cluster-ro")),
        custom_endpoints: Some(c.custom_endpoints.iter().map(|e| endpoint_host(c, &e.id, "cluster-custom")).collect()),
        multi_az: Some(c.instance_class.is_some()),
        engine: Some(c.engine.clone()),
        engine_version: Some(c.engine_version.clone()),
        earliest_restorable_time: Some(timestamp(c.created_ms)),
        // squall restores any time since the cluster was made (its log backups, or now).
        latest_restorable_time: Some(timestamp(now)),
        port: Some(i32::from(c.port)),
        master_username: Some(c.master_username.clone()),
        db_cluster_option_group_memberships: Some(Vec::new()),
        preferred_backup_window: Some(c.backup_window.clone()),
        preferred_maintenance_window: Some(c.maintenance_window.clone()),
        read_replica_identifiers: Some(Vec::new()),
        db_cluster_members: Some(members(c, region, now)),
        vpc_security_groups: Some(
            c.security_groups
                .iter()
                .map(|g| VpcSecurityGroupMembership {
                    vpc_security_group_id: Some(g.clone()),
                    status: Some("active".into()),
                })
                .collect(),
        ),
        hosted_zone_id: Some("Z2R2ITUGPM61AM".into()),
        storage_encrypted: Some(c.storage_encrypted),
        kms_key_id: c.kms_key_id.clone(),
        db_cluster_resource_id: Some(c.resource_id.clone()),
        db_cluster_arn: Some(arns.of("cluster", &c.id)),
        associated_roles: Some(Vec::new()),
        iam_database_authentication_enabled: Some(c.iam_auth),
        cluster_create_time: Some(timestamp(c.created_ms)),
        backtrack_window: (c.engine == "aurora-mysql").then_some(c.backtrack_window_s as i64),
        engine_mode: Some(c.engine_mode.clone()),
        storage_type: Some(c.storage_type.clone()),
        deletion_protection: Some(c.deletion_protection),
        http_endpoint_enabled: Some(c.http_endpoint),
        copy_tags_to_snapshot: Some(c.copy_tags_to_snapshot),
        cross_account_clone: Some(false),
        tag_list: Some(c.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()),
        network_type: Some("IPV4".into()),
        serverless_v2_scaling_configuration: c.serverless_v2.map(|s| ServerlessV2ScalingConfigurationInfo {
            min_capacity: Some(f64::from(s.min_half_acus) / 2.0),
            max_capacity: Some(f64::from(s.max_half_acus) / 2.0),
            seconds_until_auto_pause: s.seconds_until_auto_pause.map(|p| p as i32),
        }),
        auto_minor_version_upgrade: Some(true),
        db_cluster_instance_class: c.instance_class.clone(),
        ..Default::default()
    }
}

/// Answers one of the DB cluster actions.
pub(crate) fn handle(
    control: &ControlPlane,
    region: &Region,
    arns: &Arns<'_>,
    request: Request,
    now: u64,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateDBCluster(r) => {
            unsupported(r.replication_source_identifier.is_some(), "ReplicationSourceIdentifier")?;
            unsupported(r.manage_master_user_password == Some(true), "ManageMasterUserPassword")?;
            unsupported(r.scaling_configuration.is_some(), "ScalingConfiguration (Aurora Serverless v1)")?;
            unsupported(r.enable_limitless_database == Some(true), "EnableLimitlessDatabase")?;
            unsupported(r.monitoring_interval.is_some_and(|m| m > 0), "MonitoringInterval")?;
            unsupported(r.enable_performance_insights == Some(true), "EnablePerformanceInsights")?;
            unsupported(
                r.enable_cloudwatch_logs_exports.as_ref().is_some_and(|l| !l.is_empty()),
                "EnableCloudwatchLogsExports",
            )?;
            unsupported(r.option_group_name.is_some(), "OptionGroupName")?;
            let port = port_of(r.port)?;
            let spec = DbClusterSpec {
                id: r.db_cluster_identifier.clone(),
                engine: r.engine.clone(),
                engine_version: r.engine_version.clone(),
                engine_mode: r.engine_mode.clone(),
                master_username: r.master_username.clone(),
                master_password: r.master_user_password.clone(),
                db_name: r.database_name.clone(),
                port,
                subnet_group: r.db_subnet_group_name.clone(),
                security_groups: r.vpc_security_group_ids.clone().unwrap_or_default(),
                parameter_group: r.db_cluster_parameter_group_name.clone(),
                backup_retention_days: r.backup_retention_period.map(|d| d.max(0) as u32),
                backup_window: r.preferred_backup_window.clone(),
                maintenance_window: r.preferred_maintenance_window.clone(),
                deletion_protection: r.deletion_protection == Some(true),
                storage_encrypted: r.storage_encrypted == Some(true),
                kms_key_id: r.kms_key_id.clone(),
                copy_tags_to_snapshot: r.copy_tags_to_snapshot == Some(true),
                iam_auth: r.enable_iam_database_authentication == Some(true),
                storage_type: r.storage_type.clone(),
                serverless_v2: scaling(r.serverless_v2_scaling_configuration.as_ref())?,
                backtrack_window_s: r.backtrack_window.map(|b| b.max(0) as u64),
                http_endpoint: r.enable_http_endpoint == Some(true),
                availability_zones: r.availability_zones.clone().unwrap_or_default(),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
                instance_class: r.db_cluster_instance_class.clone(),
                allocated_gib: whole(r.allocated_storage, "AllocatedStorage")?,
                iops: whole(r.iops, "Iops")?,
            };
            let address = &control.config().rds_address;
            let c = match &r.global_cluster_identifier {
                Some(global) => {
                    let name = squall_control::RegionName::parse(arns.region)
                        .map_err(|_| ApiError::new(500, "InternalFailure", format!("region {}", arns.region)))?;
                    control.create_global_member(&name, global, spec, address)
                }
                None => region.create_db_cluster(spec, address, now),
            }
            .map_err(control_error)?;
            Response::CreateDBCluster(CreateDBClusterResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::DescribeDBClusters(r) => {
            let limit = max_records(r.max_records)?;
            let filters = r.filters.unwrap_or_default();
            for f in &filters {
                if !CLUSTER_FILTERS.contains(&f.name.as_str()) {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Unrecognized filter name: {}", f.name),
                    ));
                }
            }
            let wanted = r.db_cluster_identifier.as_deref().map(|id| arns.name_of("cluster", id)).transpose()?;
            let clusters = region
                .read(now, |state| match &wanted {
                    Some(id) => Ok(vec![state.db_cluster(id)?.clone()]),
                    None => Ok(state.db_clusters()),
                })
                .map_err(control_error)?;
            let selected: Vec<DbCluster> = clusters
                .into_iter()
                .filter(|c| {
                    filters.iter().all(|f| {
                        let values: Vec<String> = match f.name.as_str() {
                            "db-cluster-id" => vec![c.id.clone(), arns.of("cluster", &c.id)],
                            "db-cluster-resource-id" => vec![c.resource_id.clone()],
                            "engine" => vec![c.engine.clone()],
                            _ => Vec::new(),
                        };
                        f.values.iter().any(|v| values.contains(v))
                    })
                })
                .collect();
            let (page, marker) = paginate(selected, |c| c.id.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBClusters(DBClusterMessage {
                marker,
                db_clusters: Some(page.iter().map(|c| render(c, control, region, arns, now)).collect()),
            })
        }
        Request::ModifyDBCluster(r) => {
            unsupported(r.manage_master_user_password.is_some(), "ManageMasterUserPassword")?;
            unsupported(r.engine_mode.is_some(), "EngineMode")?;
            unsupported(r.db_subnet_group_name.is_some(), "DBSubnetGroupName")?;
            unsupported(r.option_group_name.is_some(), "OptionGroupName")?;
            unsupported(r.monitoring_interval.is_some_and(|m| m > 0), "MonitoringInterval")?;
            unsupported(r.enable_performance_insights == Some(true), "EnablePerformanceInsights")?;
            unsupported(r.cloudwatch_logs_export_configuration.is_some(), "CloudwatchLogsExportConfiguration")?;
            unsupported(r.db_instance_parameter_group_name.is_some(), "DBInstanceParameterGroupName")?;
            unsupported(r.enable_global_write_forwarding == Some(true), "EnableGlobalWriteForwarding")?;
            unsupported(r.enable_local_write_forwarding == Some(true), "EnableLocalWriteForwarding")?;
            unsupported(r.enable_limitless_database == Some(true), "EnableLimitlessDatabase")?;
            unsupported(r.rotate_master_user_password == Some(true), "RotateMasterUserPassword")?;
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let changes = DbClusterChanges {
                new_id: r.new_db_cluster_identifier.clone(),
                master_password: r.master_user_password.clone(),
                port: port_of(r.port)?,
                security_groups: r.vpc_security_group_ids.clone(),
                backup_retention_days: r.backup_retention_period.map(|d| d.max(0) as u32),
                backup_window: r.preferred_backup_window.clone(),
                maintenance_window: r.preferred_maintenance_window.clone(),
                deletion_protection: r.deletion_protection,
                copy_tags_to_snapshot: r.copy_tags_to_snapshot,
                iam_auth: r.enable_iam_database_authentication,
                serverless_v2: scaling(r.serverless_v2_scaling_configuration.as_ref())?,
                backtrack_window_s: r.backtrack_window.map(|b| b.max(0) as u64),
                http_endpoint: r.enable_http_endpoint,
                engine_version: r.engine_version.clone(),
                storage_type: r.storage_type.clone(),
                parameter_group: r.db_cluster_parameter_group_name.clone(),
                instance_class: r.db_cluster_instance_class.clone(),
                allocated_gib: whole(r.allocated_storage, "AllocatedStorage")?,
                iops: whole(r.iops, "Iops")?,
            };
            let c = region.modify_db_cluster(&id, changes, now).map_err(control_error)?;
            Response::ModifyDBCluster(ModifyDBClusterResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::DeleteDBCluster(r) => {
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let c = region
                .delete_db_cluster(
                    &id,
                    r.skip_final_snapshot == Some(true),
                    r.final_db_snapshot_identifier.as_deref(),
                    now,
                )
                .map_err(control_error)?;
            Response::DeleteDBCluster(DeleteDBClusterResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::StartDBCluster(r) => {
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let c = region.start_db_cluster(&id, now).map_err(control_error)?;
            Response::StartDBCluster(StartDBClusterResult { db_cluster: Some(render(&c, control, region, arns, now)) })
        }
        Request::RebootDBCluster(r) => {
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let c = region.reboot_db_cluster(&id, now).map_err(control_error)?;
            Response::RebootDBCluster(RebootDBClusterResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::CopyDBClusterSnapshot(r) => {
            unsupported(r.pre_signed_url.is_some(), "PreSignedUrl (copies between regions)")?;
            let source = arns.name_of("cluster-snapshot", &r.source_db_cluster_snapshot_identifier)?;
            let tags = tag_map(r.tags.clone().unwrap_or_default())?;
            let s = region
                .copy_db_cluster_snapshot(
                    &source,
                    &r.target_db_cluster_snapshot_identifier,
                    r.copy_tags == Some(true),
                    tags,
                    arns.of("cluster-snapshot", &source.to_ascii_lowercase()),
                    now,
                )
                .map_err(control_error)?;
            Response::CopyDBClusterSnapshot(CopyDBClusterSnapshotResult {
                db_cluster_snapshot: Some(render_snapshot(&s, arns)),
            })
        }
        Request::DescribeDBClusterSnapshotAttributes(r) => {
            let id = arns.name_of("cluster-snapshot", &r.db_cluster_snapshot_identifier)?;
            let s = region.read(now, |state| Ok(state.db_cluster_snapshot(&id)?.clone())).map_err(control_error)?;
            Response::DescribeDBClusterSnapshotAttributes(DescribeDBClusterSnapshotAttributesResult {
                db_cluster_snapshot_attributes_result: Some(snapshot_attributes(&s)),
            })
        }
        Request::ModifyDBClusterSnapshotAttribute(r) => {
            let id = arns.name_of("cluster-snapshot", &r.db_cluster_snapshot_identifier)?;
            let s = region
                .modify_db_cluster_snapshot_attribute(
                    &id,
                    &r.attribute_name,
                    r.values_to_add.as_deref().unwrap_or_default(),
                    r.values_to_remove.as_deref().unwrap_or_default(),
                    now,
                )
                .map_err(control_error)?;
            Response::ModifyDBClusterSnapshotAttribute(ModifyDBClusterSnapshotAttributeResult {
                db_cluster_snapshot_attributes_result: Some(snapshot_attributes(&s)),
            })
        }
        Request::FailoverDBCluster(r) => {
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let target = r.target_db_instance_identifier.as_deref().map(|t| arns.name_of("db", t)).transpose()?;
            let c = region.failover_db_cluster(&id, target.as_deref(), now).map_err(control_error)?;
            Response::FailoverDBCluster(FailoverDBClusterResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::CreateDBClusterSnapshot(r) => {
            let cluster = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let tags = tag_map(r.tags.clone().unwrap_or_default())?;
            let s = region
                .create_db_cluster_snapshot(&cluster, &r.db_cluster_snapshot_identifier, tags, now)
                .map_err(control_error)?;
            Response::CreateDBClusterSnapshot(CreateDBClusterSnapshotResult {
                db_cluster_snapshot: Some(render_snapshot(&s, arns)),
            })
        }
        Request::DescribeDBClusterSnapshots(r) => {
            let limit = max_records(r.max_records)?;
            let filters = r.filters.unwrap_or_default();
            for f in &filters {
                if !SNAPSHOT_FILTERS.contains(&f.name.as_str()) {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Unrecognized filter name: {}", f.name),
                    ));
                }
            }
            if let Some(t) = &r.snapshot_type {
                if !matches!(t.as_str(), "manual" | "automated" | "shared" | "public" | "awsbackup") {
                    return Err(ApiError::client("InvalidParameterValue", format!("Invalid snapshot type: {t}")));
                }
            }
            let wanted = r
                .db_cluster_snapshot_identifier
                .as_deref()
                .map(|id| arns.name_of("cluster-snapshot", id))
                .transpose()?;
            let cluster = r.db_cluster_identifier.as_deref().map(|id| arns.name_of("cluster", id)).transpose()?;
            let snapshots = region
                .read(now, |state| match &wanted {
                    Some(id) => Ok(vec![state.db_cluster_snapshot(id)?.clone()]),
                    None => Ok(state.db_cluster_snapshots()),
                })
                .map_err(control_error)?;
            let selected: Vec<DbClusterSnapshot> = snapshots
                .into_iter()
                .filter(|s| cluster.as_ref().is_none_or(|c| s.cluster_id == c.to_ascii_lowercase()))
                .filter(|s| r.snapshot_type.as_ref().is_none_or(|t| *t == s.snapshot_type))
                .filter(|s| r.db_cluster_resource_id.as_ref().is_none_or(|id| *id == s.cluster_resource_id))
                .filter(|s| {
                    filters.iter().all(|f| {
                        let values: Vec<String> = match f.name.as_str() {
                            "db-cluster-id" => vec![s.cluster_id.clone(), arns.of("cluster", &s.cluster_id)],
                            "db-cluster-snapshot-id" => vec![s.id.clone(), arns.of("cluster-snapshot", &s.id)],
                            "snapshot-type" => vec![s.snapshot_type.clone()],
                            "engine" => vec![s.engine.clone()],
                            "engine-version" => vec![s.engine_version.clone()],
                            "db-cluster-resource-id" => vec![s.cluster_resource_id.clone()],
                            _ => Vec::new(),
                        };
                        f.values.iter().any(|v| values.contains(v))
                    })
                })
                .collect();
            let (page, marker) = paginate(selected, |s| s.id.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBClusterSnapshots(DBClusterSnapshotMessage {
                marker,
                db_cluster_snapshots: Some(page.iter().map(|s| render_snapshot(s, arns)).collect()),
            })
        }
        Request::DeleteDBClusterSnapshot(r) => {
            let id = arns.name_of("cluster-snapshot", &r.db_cluster_snapshot_identifier)?;
            let s = region.delete_db_cluster_snapshot(&id, now).map_err(control_error)?;
            let mut shown = render_snapshot(&s, arns);
            shown.status = Some("deleted".into());
            Response::DeleteDBClusterSnapshot(DeleteDBClusterSnapshotResult { db_cluster_snapshot: Some(shown) })
        }
        Request::RestoreDBClusterFromSnapshot(r) => {
            unsupported(r.option_group_name.is_some(), "OptionGroupName")?;
            unsupported(r.scaling_configuration.is_some(), "ScalingConfiguration (Aurora Serverless v1)")?;
            unsupported(r.db_cluster_instance_class.is_some(), "DBClusterInstanceClass (Multi-AZ DB clusters)")?;
            unsupported(r.monitoring_interval.is_some_and(|m| m > 0), "MonitoringInterval")?;
            unsupported(r.enable_performance_insights == Some(true), "EnablePerformanceInsights")?;
            unsupported(
                r.enable_cloudwatch_logs_exports.as_ref().is_some_and(|l| !l.is_empty()),
                "EnableCloudwatchLogsExports",
            )?;
            unsupported(r.database_name.is_some(), "DatabaseName (the snapshot's database is restored)")?;
            let snapshot = arns.name_of("cluster-snapshot", &r.snapshot_identifier)?;
            let spec = ClusterRestoreSpec {
                id: r.db_cluster_identifier.clone(),
                snapshot,
                engine: r.engine.clone(),
                engine_version: r.engine_version.clone(),
                port: port_of(r.port)?,
                subnet_group: r.db_subnet_group_name.clone(),
                security_groups: r.vpc_security_group_ids.clone().unwrap_or_default(),
                availability_zones: r.availability_zones.clone().unwrap_or_default(),
                deletion_protection: r.deletion_protection == Some(true),
                copy_tags_to_snapshot: r.copy_tags_to_snapshot == Some(true),
                serverless_v2: scaling(r.serverless_v2_scaling_configuration.as_ref())?,
                backup_retention_days: r.backup_retention_period.map(|d| d.max(0) as u32),
                parameter_group: r.db_cluster_parameter_group_name.clone(),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
            };
            let c = region
                .restore_db_cluster_from_snapshot(spec, &control.config().rds_address, now)
                .map_err(control_error)?;
            Response::RestoreDBClusterFromSnapshot(RestoreDBClusterFromSnapshotResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::RestoreDBClusterToPointInTime(r) => {
            unsupported(r.option_group_name.is_some(), "OptionGroupName")?;
            unsupported(r.scaling_configuration.is_some(), "ScalingConfiguration (Aurora Serverless v1)")?;
            unsupported(r.db_cluster_instance_class.is_some(), "DBClusterInstanceClass (Multi-AZ DB clusters)")?;
            unsupported(r.monitoring_interval.is_some_and(|m| m > 0), "MonitoringInterval")?;
            unsupported(r.enable_performance_insights == Some(true), "EnablePerformanceInsights")?;
            unsupported(
                r.enable_cloudwatch_logs_exports.as_ref().is_some_and(|l| !l.is_empty()),
                "EnableCloudwatchLogsExports",
            )?;
            if let Some(t) = &r.restore_type {
                if !matches!(t.as_str(), "full-copy" | "copy-on-write") {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Invalid RestoreType {t}: use full-copy or copy-on-write."),
                    ));
                }
            }
            let source = match (&r.source_db_cluster_identifier, &r.source_db_cluster_resource_id) {
                (Some(id), _) => arns.name_of("cluster", id)?,
                (None, Some(resource)) => region
                    .read(now, |s| {
                        s.db_clusters().into_iter().find(|c| c.resource_id == *resource).map(|c| c.id).ok_or_else(
                            || squall_control::model::rds::RdsError::ClusterNotFound(resource.clone()).into(),
                        )
                    })
                    .map_err(control_error)?,
                (None, None) => {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        "SourceDBClusterIdentifier or SourceDbClusterResourceId must be specified.",
                    ))
                }
            };
            let point = match (r.restore_to_time, r.use_latest_restorable_time.unwrap_or(false)) {
                (Some(_), true) => {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Cannot specify both RestoreToTime and UseLatestRestorableTime.",
                    ))
                }
                (Some(t), false) => RestorePoint::At(t.epoch_millis.max(0) as u64),
                (None, _) => RestorePoint::Latest,
            };
            let spec = ClusterRestoreSpec {
                id: r.db_cluster_identifier.clone(),
                snapshot: source,
                engine: String::new(),
                engine_version: None,
                port: port_of(r.port)?,
                subnet_group: r.db_subnet_group_name.clone(),
                security_groups: r.vpc_security_group_ids.clone().unwrap_or_default(),
                availability_zones: Vec::new(),
                deletion_protection: r.deletion_protection == Some(true),
                copy_tags_to_snapshot: r.copy_tags_to_snapshot == Some(true),
                serverless_v2: scaling(r.serverless_v2_scaling_configuration.as_ref())?,
                backup_retention_days: r.backup_retention_period.map(|d| d.max(0) as u32),
                parameter_group: r.db_cluster_parameter_group_name.clone(),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
            };
            let c = region
                .restore_db_cluster_to_point_in_time(spec, point, &control.config().rds_address, now)
                .map_err(control_error)?;
            Response::RestoreDBClusterToPointInTime(RestoreDBClusterToPointInTimeResult {
                db_cluster: Some(render(&c, control, region, arns, now)),
            })
        }
        Request::CreateDBClusterEndpoint(r) => {
            let cluster = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let (c, e) = region
                .create_cluster_endpoint(
                    &cluster,
                    &r.db_cluster_endpoint_identifier,
                    &r.endpoint_type,
                    r.static_members.as_deref().unwrap_or_default(),
                    r.excluded_members.as_deref().unwrap_or_default(),
                    tag_map(r.tags.clone().unwrap_or_default())?,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateDBClusterEndpoint(render_endpoint(&c, &e, arns))
        }
        Request::ModifyDBClusterEndpoint(r) => {
            let (c, e) = region
                .modify_cluster_endpoint(
                    &r.db_cluster_endpoint_identifier,
                    r.endpoint_type.as_deref(),
                    r.static_members.as_deref(),
                    r.excluded_members.as_deref(),
                    now,
                )
                .map_err(control_error)?;
            Response::ModifyDBClusterEndpoint(render_endpoint(&c, &e, arns))
        }
        Request::DeleteDBClusterEndpoint(r) => {
            let (c, e) =
                region.delete_cluster_endpoint(&r.db_cluster_endpoint_identifier, now).map_err(control_error)?;
            Response::DeleteDBClusterEndpoint(render_endpoint(&c, &e, arns))
        }
        Request::DescribeDBClusterEndpoints(r) => {
            let limit = max_records(r.max_records)?;
            let filters = r.filters.unwrap_or_default();
            for f in &filters {
                if !matches!(
                    f.name.as_str(),
                    "db-cluster-endpoint-type"
                        | "db-cluster-endpoint-custom-type"
                        | "db-cluster-endpoint-id"
                        | "db-cluster-endpoint-status"
                ) {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Unrecognized filter name: {}", f.name),
                    ));
                }
            }
            let cluster = r.db_cluster_identifier.as_deref().map(|id| arns.name_of("cluster", id)).transpose()?;
            let clusters = region
                .read(now, |s| match &cluster {
                    Some(id) => Ok(vec![s.db_cluster(id)?.clone()]),
                    None => Ok(s.db_clusters()),
                })
                .map_err(control_error)?;
            let wanted = r.db_cluster_endpoint_identifier.as_ref().map(|e| e.to_ascii_lowercase());
            if let Some(w) = &wanted {
                if !clusters.iter().any(|c| c.custom_endpoints.iter().any(|e| e.id == *w)) {
                    return Err(control_error(squall_control::ControlError::Rds(
                        squall_control::RdsError::ClusterEndpointNotFound(w.clone()),
                    )));
                }
            }
            let endpoints: Vec<DBClusterEndpoint> = clusters
                .iter()
                .flat_map(|c| all_endpoints(c, arns))
                .filter(|e| wanted.as_ref().is_none_or(|w| e.db_cluster_endpoint_identifier.as_ref() == Some(w)))
                .filter(|e| {
                    filters.iter().all(|f| {
                        let value = match f.name.as_str() {
                            "db-cluster-endpoint-type" => e.endpoint_type.clone(),
                            "db-cluster-endpoint-custom-type" => e.custom_endpoint_type.clone(),
                            "db-cluster-endpoint-id" => e.db_cluster_endpoint_identifier.clone(),
                            _ => e.status.clone(),
                        };
                        value.is_some_and(|v| f.values.iter().any(|x| x.eq_ignore_ascii_case(&v)))
                    })
                })
                .collect();
            let key = |e: &DBClusterEndpoint| {
                format!(
                    "{}/{}/{}",
                    e.db_cluster_identifier.clone().unwrap_or_default(),
                    e.endpoint_type.clone().unwrap_or_default(),
                    e.db_cluster_endpoint_identifier.clone().unwrap_or_default()
                )
            };
            let (page, marker) = paginate(endpoints, key, r.marker.as_deref(), limit);
            Response::DescribeDBClusterEndpoints(DBClusterEndpointMessage { marker, db_cluster_endpoints: Some(page) })
        }
        Request::StopDBCluster(r) => {
            let id = arns.name_of("cluster", &r.db_cluster_identifier)?;
            let c = region.stop_db_cluster(&id, now).map_err(control_error)?;
            Response::StopDBCluster(StopDBClusterResult { db_cluster: Some(render(&c, control, region, arns, now)) })
        }
        other => {
            return Err(ApiError::new(500, "InternalFailure", format!("{} is not a DB cluster action", other.action())))
        }
    })
}
