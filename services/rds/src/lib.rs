//! RDS over the `awsQuery` protocol (API version 2014-10-31): DB instances whose storage lives in
//! the block store (a standby's in another zone for Multi-AZ), DB subnet groups, the engine
//! catalogue, events and tags. Wire types are generated from botocore's model; the rules are the
//! control plane's (`squall_control::rds`); this crate maps one to the other and names AWS's error
//! codes.

mod backups;
mod blue_green;
mod clusters;
mod event_subscriptions;
pub mod generated;
mod global_clusters;
mod option_groups;
mod parameter_groups;
mod proxies;
mod security_groups;

use std::collections::BTreeMap;
use std::sync::Arc;

use squall_control::model::rds::{
    DbInstance as Instance, DbInstanceSpec, DbModification, DbSettingsChange, DbSnapshot as Snapshot,
    DbSubnetGroup as Group, EventSource, ManagedPassword, RdsEvent, ReadReplicaSpec,
};
use squall_control::{ControlError, ControlPlane, RdsError, Region, RegionName};
use squall_protocol::{decode_action, query_response, ApiError, QueryParams, RequestContext, Timestamp, WireResponse};

use generated::*;
use squall_control::db_event_subscriptions::EVENT_CATEGORIES;

/// Answers one RDS request in the `awsQuery` shape, success or error.
pub fn handle(control: &ControlPlane, ctx: &RequestContext, params: &QueryParams) -> WireResponse {
    let result = decode_action(params, MODEL_OPERATIONS, Request::decode).and_then(|r| dispatch(control, ctx, r));
    match result {
        Ok(response) => {
            query_response(response.action(), XML_NAMESPACE, &ctx.request_id, |w| response.encode_members(w))
        }
        Err(e) => e.to_query_response(&ctx.request_id),
    }
}

fn dispatch(control: &ControlPlane, ctx: &RequestContext, request: Request) -> Result<Response, ApiError> {
    let region = region(control, ctx)?;
    let now = control.now_ms();
    let arns = Arns { region: &ctx.region, account: &ctx.account_id };
    Ok(match request {
        Request::CreateDBInstance(r) if r.db_cluster_identifier.is_some() => {
            let made = clusters::create_instance(&region, &arns, r, now)?;
            Response::CreateDBInstance(CreateDBInstanceResult {
                db_instance: Some(render_instance(&made, &region, &arns, now)),
            })
        }
        Request::CreateDBInstance(r) => {
            let arn = arns.of("db", &r.db_instance_identifier.to_ascii_lowercase());
            let spec = instance_spec(r, arn)?;
            let made = region.create_db_instance(spec, &control.config().rds_address, now).map_err(control_error)?;
            Response::CreateDBInstance(CreateDBInstanceResult {
                db_instance: Some(render_instance(&made, &region, &arns, now)),
            })
        }
        Request::DescribeDBInstances(r) => Response::DescribeDBInstances(describe_instances(&region, &arns, r, now)?),
        Request::DeleteDBInstance(r) => {
            let skip = r.skip_final_snapshot.unwrap_or(false);
            let gone = region
                .delete_db_instance(
                    &r.db_instance_identifier,
                    skip,
                    r.final_db_snapshot_identifier.as_deref(),
                    r.delete_automated_backups.unwrap_or(true),
                    now,
                )
                .map_err(control_error)?;
            // Across regions: a deleted replica leaves its source's list; a deleted source's
            // replicas there become standalone.
            if let Some(source) = gone.read_replica_source.as_deref().filter(|s| s.starts_with("arn:")) {
                control.forget_cross_region_replica(source, &arns.of("db", &gone.id)).map_err(control_error)?;
            }
            control.release_cross_region_replicas(&gone.cross_region_replicas).map_err(control_error)?;
            Response::DeleteDBInstance(DeleteDBInstanceResult {
                db_instance: Some(render_instance(&gone, &region, &arns, now)),
            })
        }
        Request::RebootDBInstance(r) => {
            let i = region
                .reboot_db_instance(&r.db_instance_identifier, r.force_failover.unwrap_or(false), now)
                .map_err(control_error)?;
            Response::RebootDBInstance(RebootDBInstanceResult {
                db_instance: Some(render_instance(&i, &region, &arns, now)),
            })
        }
        Request::ModifyDBInstance(r) => {
            let id = r.db_instance_identifier.clone();
            // An Aurora instance's place in the failover order changes at once.
            if let Some(tier) = r.promotion_tier {
                region.set_promotion_tier(&id, tier, now).map_err(control_error)?;
            }
            let m = modification(r, arns.of("db", &id.to_ascii_lowercase()))?;
            let i = region.modify_db_instance(&id, m, now).map_err(control_error)?;
            Response::ModifyDBInstance(ModifyDBInstanceResult {
                db_instance: Some(render_instance(&i, &region, &arns, now)),
            })
        }
        Request::CreateDBInstanceReadReplica(r) => {
            let spec = read_replica_spec(r)?;
            let address = &control.config().rds_address;
            let made = match squall_control::db_cross_region::parse_db_arn(&spec.source) {
                Some((source_region, _)) if source_region.as_str() != ctx.region => {
                    if !control.serves_region(source_region.as_str()) {
                        return Err(ApiError::client(
                            "InvalidParameterValue",
                            format!("Invalid source region: {source_region}"),
                        ));
                    }
                    let replica_arn = arns.of("db", &spec.id.to_ascii_lowercase());
                    let source = spec.source.clone();
                    control
                        .create_cross_region_read_replica(&source, region.name(), &replica_arn, spec, address)
                        .map_err(control_error)?
                }
                _ if spec.pre_signed_url => {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        "A cross-region read replica names its source DB instance by ARN.",
                    ))
                }
                _ => {
                    let spec = ReadReplicaSpec { source: arns.name_of("db", &spec.source)?, ..spec };
                    region.create_db_read_replica(spec, address, now).map_err(control_error)?
                }
            };
            Response::CreateDBInstanceReadReplica(CreateDBInstanceReadReplicaResult {
                db_instance: Some(render_instance(&made, &region, &arns, now)),
            })
        }
        Request::PromoteReadReplica(r) => {
            let retention = non_negative("BackupRetentionPeriod", r.backup_retention_period)?;
            let source = region
                .read(now, |state| Ok(state.db_instance(&r.db_instance_identifier)?.read_replica_source.clone()))
                .map_err(control_error)?;
            let i = region
                .promote_read_replica(&r.db_instance_identifier, retention, r.preferred_backup_window.as_deref(), now)
                .map_err(control_error)?;
            if let Some(source) = source.as_deref().filter(|s| s.starts_with("arn:")) {
                control.forget_cross_region_replica(source, &arns.of("db", &i.id)).map_err(control_error)?;
            }
            Response::PromoteReadReplica(PromoteReadReplicaResult {
                db_instance: Some(render_instance(&i, &region, &arns, now)),
            })
        }
        Request::StopDBInstance(r) => {
            let i = region
                .stop_db_instance(&r.db_instance_identifier, r.db_snapshot_identifier.as_deref(), now)
                .map_err(control_error)?;
            Response::StopDBInstance(StopDBInstanceResult {
                db_instance: Some(render_instance(&i, &region, &arns, now)),
            })
        }
        Request::StartDBInstance(r) => {
            let i = region.start_db_instance(&r.db_instance_identifier, now).map_err(control_error)?;
            Response::StartDBInstance(StartDBInstanceResult {
                db_instance: Some(render_instance(&i, &region, &arns, now)),
            })
        }
        Request::CreateDBSubnetGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_db_subnet_group(
                    &r.db_subnet_group_name,
                    &r.db_subnet_group_description,
                    &r.subnet_ids,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateDBSubnetGroup(CreateDBSubnetGroupResult { db_subnet_group: Some(render_group(&g, &arns)) })
        }
        Request::DescribeDBSubnetGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let groups = region
                .read(now, |state| match &r.db_subnet_group_name {
                    Some(name) => Ok(vec![state.db_subnet_group(name)?]),
                    None => Ok(state.db_subnet_groups()),
                })
                .map_err(control_error)?;
            let (page, marker) = paginate(groups, |g| g.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBSubnetGroups(DBSubnetGroupMessage {
                marker,
                db_subnet_groups: Some(page.iter().map(|g| render_group(g, &arns)).collect()),
            })
        }
        Request::ModifyDBSubnetGroup(r) => {
            let g = region
                .modify_db_subnet_group(
                    &r.db_subnet_group_name,
                    r.db_subnet_group_description.as_deref(),
                    &r.subnet_ids,
                    now,
                )
                .map_err(control_error)?;
            Response::ModifyDBSubnetGroup(ModifyDBSubnetGroupResult { db_subnet_group: Some(render_group(&g, &arns)) })
        }
        Request::AddRoleToDBInstance(r) => {
            region
                .add_db_instance_role(&r.db_instance_identifier, &r.role_arn, &r.feature_name, now)
                .map_err(control_error)?;
            Response::AddRoleToDBInstance(())
        }
        Request::RemoveRoleFromDBInstance(r) => {
            region
                .remove_db_instance_role(&r.db_instance_identifier, &r.role_arn, &r.feature_name, now)
                .map_err(control_error)?;
            Response::RemoveRoleFromDBInstance(())
        }
        Request::DescribeValidDBInstanceModifications(r) => {
            let i = region.read(now, |state| Ok(state.db_instance(&r.db_instance_identifier)?.clone()));
            Response::DescribeValidDBInstanceModifications(DescribeValidDBInstanceModificationsResult {
                valid_db_instance_modifications_message: Some(valid_modifications(&i.map_err(control_error)?)),
            })
        }
        Request::DeleteDBSubnetGroup(r) => {
            region.delete_db_subnet_group(&r.db_subnet_group_name, now).map_err(control_error)?;
            Response::DeleteDBSubnetGroup(())
        }
        Request::CreateDBSnapshot(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let s = region
                .create_db_snapshot(&r.db_instance_identifier, &r.db_snapshot_identifier, tags, now)
                .map_err(control_error)?;
            Response::CreateDBSnapshot(CreateDBSnapshotResult { db_snapshot: Some(render_snapshot(&s, &arns)) })
        }
        Request::DeleteDBSnapshot(r) => {
            let s = region.delete_db_snapshot(&r.db_snapshot_identifier, now).map_err(control_error)?;
            let mut shown = render_snapshot(&s, &arns);
            shown.status = Some("deleted".into());
            Response::DeleteDBSnapshot(DeleteDBSnapshotResult { db_snapshot: Some(shown) })
        }
        Request::DescribeDBSnapshots(r) => Response::DescribeDBSnapshots(describe_snapshots(&region, &arns, r, now)?),
        Request::RestoreDBInstanceFromDBSnapshot(r) => {
            if r.db_cluster_snapshot_identifier.is_some() {
                return Err(not_built("squall does not serve DB cluster snapshots yet"));
            }
            let snapshot = r.db_snapshot_identifier.clone().ok_or_else(|| {
                ApiError::client("InvalidParameterValue", "The parameter DBSnapshotIdentifier must be provided.")
            })?;
            let arn = arns.of("db", &r.db_instance_identifier.to_ascii_lowercase());
            let overrides = restore_overrides(r, arn)?;
            let made = region
                .restore_db_instance_from_snapshot(&snapshot, overrides, &control.config().rds_address, now)
                .map_err(control_error)?;
            Response::RestoreDBInstanceFromDBSnapshot(RestoreDBInstanceFromDBSnapshotResult {
                db_instance: Some(render_instance(&made, &region, &arns, now)),
            })
        }
        Request::DescribeDBEngineVersions(r) => Response::DescribeDBEngineVersions(engine_versions(r)?),
        Request::DescribeOrderableDBInstanceOptions(r) => {
            Response::DescribeOrderableDBInstanceOptions(orderable_options(&region, r)?)
        }
        Request::DescribeEventCategories(r) => Response::DescribeEventCategories(event_categories(r)?),
        Request::CopyDBSnapshot(r) => {
            if r.target_custom_availability_zone.is_some() {
                return Err(not_built("squall does not serve RDS Custom"));
            }
            let named = &r.source_db_snapshot_identifier;
            let from_region = squall_control::db_cross_region::parse_rds_arn(named, "snapshot")
                .filter(|(region, _)| region.as_str() != ctx.region);
            let source_arn = match &from_region {
                Some(_) => named.clone(),
                None => arns.of("snapshot", &arns.name_of("snapshot", named)?.to_ascii_lowercase()),
            };
            let spec = squall_control::db_snapshot_copy::SnapshotCopySpec {
                tags: tag_map(r.tags.unwrap_or_default())?,
                copy_tags: r.copy_tags.unwrap_or(false),
                kms_key_id: r.kms_key_id,
                source_arn: Some(source_arn),
            };
            let target = &r.target_db_snapshot_identifier;
            let s = match from_region {
                None if r.pre_signed_url.is_some() => {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        "A cross-region copy names its source snapshot by ARN.",
                    ))
                }
                None => {
                    let source = arns.name_of("snapshot", named)?;
                    region.copy_db_snapshot(&source, target, spec, now).map_err(control_error)?
                }
                Some((from, id)) => {
                    if !control.serves_region(from.as_str()) {
                        return Err(ApiError::client(
                            "InvalidParameterValue",
                            format!("Invalid source region: {from}"),
                        ));
                    }
                    let to = region.name().clone();
                    control.copy_db_snapshot_between_regions(&from, &id, &to, target, spec).map_err(control_error)?
                }
            };
            Response::CopyDBSnapshot(CopyDBSnapshotResult { db_snapshot: Some(render_snapshot(&s, &arns)) })
        }
        Request::DescribeDBSnapshotAttributes(r) => {
            let s = region.read(now, |state| Ok(state.db_snapshot(&r.db_snapshot_identifier)?.clone()));
            Response::DescribeDBSnapshotAttributes(DescribeDBSnapshotAttributesResult {
                db_snapshot_attributes_result: Some(snapshot_attributes(&s.map_err(control_error)?)),
            })
        }
        Request::ModifyDBSnapshotAttribute(r) => {
            let s = region
                .modify_db_snapshot_attribute(
                    &r.db_snapshot_identifier,
                    &r.attribute_name,
                    r.values_to_add.as_deref().unwrap_or_default(),
                    r.values_to_remove.as_deref().unwrap_or_default(),
                    now,
                )
                .map_err(control_error)?;
            Response::ModifyDBSnapshotAttribute(ModifyDBSnapshotAttributeResult {
                db_snapshot_attributes_result: Some(snapshot_attributes(&s)),
            })
        }
        Request::DescribeEvents(r) => Response::DescribeEvents(describe_events(&region, &arns, r, now)?),
        Request::AddTagsToResource(r) => {
            let (kind, id) = arns.parse(&r.resource_name)?;
            let tags = tag_map(r.tags)?;
            region.change_db_tags(&kind, &id, tags, &[], now).map_err(control_error)?;
            Response::AddTagsToResource(())
        }
        Request::RemoveTagsFromResource(r) => {
            let (kind, id) = arns.parse(&r.resource_name)?;
            region.change_db_tags(&kind, &id, BTreeMap::new(), &r.tag_keys, now).map_err(control_error)?;
            Response::RemoveTagsFromResource(())
        }
        r @ (Request::DescribeDBInstanceAutomatedBackups(_)
        | Request::DeleteDBInstanceAutomatedBackup(_)
        | Request::RestoreDBInstanceToPointInTime(_)) => backups::handle(control, &region, &arns, r, now)?,
        r @ (Request::CreateOptionGroup(_)
        | Request::CopyOptionGroup(_)
        | Request::ModifyOptionGroup(_)
        | Request::DescribeOptionGroups(_)
        | Request::DescribeOptionGroupOptions(_)
        | Request::DeleteOptionGroup(_)) => option_groups::handle(&region, &arns, r, now)?,
        r @ (Request::CreateDBParameterGroup(_)
        | Request::CopyDBParameterGroup(_)
        | Request::ModifyDBParameterGroup(_)
        | Request::ResetDBParameterGroup(_)
        | Request::DescribeDBParameterGroups(_)
        | Request::DescribeDBParameters(_)
        | Request::DescribeEngineDefaultParameters(_)
        | Request::DeleteDBParameterGroup(_)
        | Request::CreateDBClusterParameterGroup(_)
        | Request::CopyDBClusterParameterGroup(_)
        | Request::ModifyDBClusterParameterGroup(_)
        | Request::ResetDBClusterParameterGroup(_)
        | Request::DescribeDBClusterParameterGroups(_)
        | Request::DescribeDBClusterParameters(_)
        | Request::DescribeEngineDefaultClusterParameters(_)
        | Request::DeleteDBClusterParameterGroup(_)) => parameter_groups::handle(&region, &arns, r, now)?,
        r @ (Request::CreateDBSecurityGroup(_)
        | Request::DescribeDBSecurityGroups(_)
        | Request::AuthorizeDBSecurityGroupIngress(_)
        | Request::RevokeDBSecurityGroupIngress(_)
        | Request::DeleteDBSecurityGroup(_)) => security_groups::handle(&region, &arns, r, now)?,
        r @ (Request::CreateEventSubscription(_)
        | Request::ModifyEventSubscription(_)
        | Request::DeleteEventSubscription(_)
        | Request::DescribeEventSubscriptions(_)
        | Request::AddSourceIdentifierToSubscription(_)
        | Request::RemoveSourceIdentifierFromSubscription(_)) => event_subscriptions::handle(&region, &arns, r, now)?,
        r @ (Request::CreateDBCluster(_)
        | Request::DescribeDBClusters(_)
        | Request::ModifyDBCluster(_)
        | Request::DeleteDBCluster(_)
        | Request::StartDBCluster(_)
        | Request::StopDBCluster(_)
        | Request::FailoverDBCluster(_)
        | Request::CreateDBClusterSnapshot(_)
        | Request::DescribeDBClusterSnapshots(_)
        | Request::DeleteDBClusterSnapshot(_)
        | Request::RestoreDBClusterFromSnapshot(_)
        | Request::CreateDBClusterEndpoint(_)
        | Request::ModifyDBClusterEndpoint(_)
        | Request::DeleteDBClusterEndpoint(_)
        | Request::DescribeDBClusterEndpoints(_)
        | Request::RebootDBCluster(_)
        | Request::CopyDBClusterSnapshot(_)
        | Request::DescribeDBClusterSnapshotAttributes(_)
        | Request::ModifyDBClusterSnapshotAttribute(_)
        | Request::RestoreDBClusterToPointInTime(_)) => clusters::handle(control, &region, &arns, r, now)?,
        r @ (Request::CreateBlueGreenDeployment(_)
        | Request::DescribeBlueGreenDeployments(_)
        | Request::SwitchoverBlueGreenDeployment(_)
        | Request::DeleteBlueGreenDeployment(_)) => blue_green::handle(control, &region, &arns, r, now)?,
        r @ (Request::CreateGlobalCluster(_)
        | Request::DescribeGlobalClusters(_)
        | Request::ModifyGlobalCluster(_)
        | Request::DeleteGlobalCluster(_)
        | Request::RemoveFromGlobalCluster(_)) => {
            let name = squall_control::RegionName::parse(arns.region)
                .map_err(|_| ApiError::new(500, "InternalFailure", format!("region {}", arns.region)))?;
            global_clusters::handle(control, &name, &arns, r)?
        }
        r @ (Request::CreateDBProxy(_)
        | Request::DescribeDBProxies(_)
        | Request::ModifyDBProxy(_)
        | Request::DeleteDBProxy(_)
        | Request::DescribeDBProxyTargetGroups(_)
        | Request::ModifyDBProxyTargetGroup(_)
        | Request::RegisterDBProxyTargets(_)
        | Request::DeregisterDBProxyTargets(_)
        | Request::DescribeDBProxyTargets(_)
        | Request::CreateDBProxyEndpoint(_)
        | Request::DescribeDBProxyEndpoints(_)
        | Request::ModifyDBProxyEndpoint(_)
        | Request::DeleteDBProxyEndpoint(_)) => proxies::handle(&region, &arns, &control.config().rds_address, r, now)?,
        r @ (Request::DescribeDBLogFiles(_) | Request::DownloadDBLogFilePortion(_)) => log_files(&region, r, now)?,
        Request::ListTagsForResource(r) => {
            no_filters(r.filters.as_deref())?;
            let (kind, id) = arns.parse(&r.resource_name)?;
            let tags = region.read(now, |state| state.db_tags(&kind, &id)).map_err(control_error)?;
            Response::ListTagsForResource(TagListMessage { tag_list: Some(render_tags(&tags)) })
        }
    })
}

fn region(control: &ControlPlane, ctx: &RequestContext) -> Result<Arc<Region>, ApiError> {
    let name = RegionName::parse(&ctx.region)
        .map_err(|_| ApiError::client("InvalidParameterValue", format!("Invalid region: {}", ctx.region)))?;
    Ok(control.region(&name))
}

fn not_built(message: &str) -> ApiError {
    ApiError::new(501, "NotImplemented", message)
}

/// The ARNs of this region and account.
struct Arns<'a> {
    region: &'a str,
    account: &'a str,
}

impl Arns<'_> {
    fn of(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:rds:{}:{}:{kind}:{id}", self.region, self.account)
    }

    /// A resource named by its name or by its ARN (of `kind`): the name.
    fn name_of(&self, kind: &str, name_or_arn: &str) -> Result<String, ApiError> {
        if !name_or_arn.starts_with("arn:") {
            return Ok(name_or_arn.to_string());
        }
        match self.parse(name_or_arn)? {
            (k, id) if k == kind => Ok(id),
            _ => Err(ApiError::client(
                "InvalidParameterValue",
                format!("The specified resource name does not match an RDS resource in this region: {name_or_arn}"),
            )),
        }
    }

    /// `(resource type, name)` of an RDS ARN of this region.
    fn parse(&self, arn: &str) -> Result<(String, String), ApiError> {
        let invalid = || {
            ApiError::client(
                "InvalidParameterValue",
                format!("The specified resource name does not match an RDS resource in this region: {arn}"),
            )
        };
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        match parts.as_slice() {
            ["arn", "aws", "rds", region, _account, kind, id] if *region == self.region && !id.is_empty() => {
                match *kind {
                    "db" | "subgrp" | "snapshot" | "pg" | "og" | "secgrp" | "es" | "cluster" | "cluster-snapshot"
                    | "cluster-endpoint" | "cluster-pg" | "db-proxy" | "db-proxy-endpoint" => {
                        Ok((kind.to_string(), id.to_string()))
                    }
                    _ => Err(invalid()),
                }
            }
            _ => Err(invalid()),
        }
    }
}

fn tag_map(tags: Vec<Tag>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for t in tags {
        let key = t.key.unwrap_or_default();
        let value = t.value.unwrap_or_default();
        squall_protocol::tags::RDS
            .check(&key, &value)
            .map_err(|p| ApiError::client("InvalidParameterValue", p.to_string()))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn render_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp { epoch_millis: ms as i64 }
}

/// MaxRecords: 20 to 100 (100 when absent).
fn max_records(n: Option<i32>) -> Result<usize, ApiError> {
    match n {
        None => Ok(100),
        Some(n) if (20..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::client(
            "InvalidParameterValue",
            format!("Invalid value {n} for MaxRecords. Must be between 20 and 100"),
        )),
    }
}

/// The page after `marker` (the key of the last item of the previous page) and the next marker.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items.into_iter().filter(|i| marker.is_none_or(|m| key(i).as_str() > m)).collect();
    if rest.len() > limit {
        rest.truncate(limit);
        let next = rest.last().map(&key);
        (rest, next)
    } else {
        (rest, None)
    }
}

fn no_filters(filters: Option<&[Filter]>) -> Result<(), ApiError> {
    match filters.and_then(|f| f.first()) {
        Some(f) => Err(ApiError::client("InvalidParameterValue", format!("Unrecognized filter name: {}", f.name))),
        None => Ok(()),
    }
}

/// ManageMasterUserPassword and MasterUserSecretKmsKeyId of a request, for the instance `arn`.
pub(crate) fn managed_password(
    manage: Option<bool>,
    kms_key_id: Option<String>,
    arn: String,
) -> Option<ManagedPassword> {
    (manage == Some(true)).then_some(ManagedPassword { kms_key_id, instance_arn: arn })
}

fn instance_spec(r: CreateDBInstanceMessage, arn: String) -> Result<DbInstanceSpec, ApiError> {
    if r.db_cluster_identifier.is_some() {
        return Err(not_built(
            "DB instances in a DB cluster are not built yet in squall (the cluster itself is: CreateDBCluster)",
        ));
    }
    let managed_password = managed_password(r.manage_master_user_password, r.master_user_secret_kms_key_id, arn);
    if r.db_security_groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "DB Security Groups can only be associated with VPC DB Instances using API versions 2012-01-15 \
             through 2012-09-17.",
        ));
    }
    let settings = DbSettingsChange {
        security_groups: r.vpc_security_group_ids,
        max_allocated_gib: non_negative("MaxAllocatedStorage", r.max_allocated_storage)?,
        monitoring_interval: non_negative("MonitoringInterval", r.monitoring_interval)?,
        monitoring_role_arn: r.monitoring_role_arn,
        iam_auth: r.enable_iam_database_authentication,
        performance_insights: r.enable_performance_insights,
        performance_insights_retention_days: non_negative(
            "PerformanceInsightsRetentionPeriod",
            r.performance_insights_retention_period,
        )?,
        ca_certificate: r.ca_certificate_identifier,
        kms_key_id: r.kms_key_id,
        storage_throughput: non_negative("StorageThroughput", r.storage_throughput)?,
        enable_log_exports: r.enable_cloudwatch_logs_exports.unwrap_or_default(),
        disable_log_exports: Vec::new(),
    };
    let port = port(r.port)?;
    Ok(DbInstanceSpec {
        managed_password,
        id: r.db_instance_identifier,
        class: r.db_instance_class,
        engine: r.engine,
        engine_version: r.engine_version,
        allocated_gib: non_negative("AllocatedStorage", r.allocated_storage)?,
        storage_type: r.storage_type,
        iops: non_negative("Iops", r.iops)?,
        master_username: r.master_username,
        master_password: r.master_user_password,
        db_name: r.db_name,
        zone: r.availability_zone,
        multi_az: r.multi_az.unwrap_or(false),
        subnet_group: r.db_subnet_group_name,
        port,
        parameter_group: r.db_parameter_group_name,
        backup_retention_days: non_negative("BackupRetentionPeriod", r.backup_retention_period)?,
        backup_window: r.preferred_backup_window,
        maintenance_window: r.preferred_maintenance_window,
        deletion_protection: r.deletion_protection.unwrap_or(false),
        publicly_accessible: r.publicly_accessible,
        auto_minor_version_upgrade: r.auto_minor_version_upgrade,
        copy_tags_to_snapshot: r.copy_tags_to_snapshot.unwrap_or(false),
        storage_encrypted: r.storage_encrypted.unwrap_or(false),
        tags: tag_map(r.tags.unwrap_or_default())?,
        settings,
        option_group: r.option_group_name,
    })
}

/// What CreateDBInstanceReadReplica names; what squall does not model is refused, not ignored.
fn read_replica_spec(r: CreateDBInstanceReadReplicaMessage) -> Result<ReadReplicaSpec, ApiError> {
    if r.source_db_cluster_identifier.is_some() {
        return Err(not_built("squall does not serve DB clusters yet: name a SourceDBInstanceIdentifier"));
    }
    if r.allocated_storage.is_some() {
        return Err(not_built(
            "squall gives a read replica the allocated storage of its source: leave AllocatedStorage out",
        ));
    }
    let source = r.source_db_instance_identifier.ok_or_else(|| {
        ApiError::client("InvalidParameterValue", "The parameter SourceDBInstanceIdentifier must be provided.")
    })?;
    Ok(ReadReplicaSpec {
        pre_signed_url: r.pre_signed_url.is_some(),
        id: r.db_instance_identifier,
        source,
        class: r.db_instance_class,
        zone: r.availability_zone,
        port: port(r.port)?,
        multi_az: r.multi_az.unwrap_or(false),
        storage_type: r.storage_type,
        subnet_group: r.db_subnet_group_name,
        publicly_accessible: r.publicly_accessible,
        auto_minor_version_upgrade: r.auto_minor_version_upgrade,
        deletion_protection: r.deletion_protection.unwrap_or(false),
        copy_tags_to_snapshot: r.copy_tags_to_snapshot.unwrap_or(false),
        tags: tag_map(r.tags.unwrap_or_default())?,
        security_groups: r.vpc_security_group_ids,
    })
}

fn render_group(g: &Group, arns: &Arns<'_>) -> DBSubnetGroup {
    DBSubnetGroup {
        db_subnet_group_name: Some(g.name.clone()),
        db_subnet_group_description: Some(g.description.clone()),
        vpc_id: Some(g.vpc_id.clone()),
        subnet_group_status: Some("Complete".into()),
        subnets: Some(
            g.subnets
                .iter()
                .map(|s| Subnet {
                    subnet_identifier: Some(s.subnet_id.clone()),
                    subnet_availability_zone: Some(AvailabilityZone { name: Some(s.zone.to_string()) }),
                    subnet_outpost: None,
                    subnet_status: Some("Active".into()),
                })
                .collect(),
        ),
        db_subnet_group_arn: Some(arns.of("subgrp", &g.name)),
        supported_network_types: Some(vec!["IPV4".into()]),
    }
}

/// What an instance's answer shows from the rest of the region: its subnet group, whether its
/// parameter group waits for a reboot, its option group and its read replicas.
struct Related {
    group: Option<Group>,
    /// The master password's secret: its ARN's last part (`name-XXXXXX`).
    secret: Option<String>,
    parameter_status: &'static str,
    option_group: String,
    replicas: Vec<String>,
    /// The port its endpoint serves on: a cluster's writer serves on the cluster's port, its
    /// readers on the reader endpoint's (read-only sessions on the cluster volume).
    port: u16,
}

fn related(state: &squall_control::state::RegionState, i: &Instance) -> Related {
    let group = match &i.subnet_group {
        Some(name) => state.db_subnet_group(name).ok(),
        None => state.db_subnet_groups().into_iter().find(|g| g.name == "default"),
    };
    Related {
        group,
        secret: i.master_secret.as_ref().and_then(|n| state.secret(n).ok()).map(|s| s.arn_name()),
        parameter_status: state.db_parameter_view(i).apply_status,
        option_group: state.option_group_of(i),
        replicas: state.read_replicas_of(&i.id),
        port: match i.cluster.as_deref().and_then(|c| state.db_cluster(c).ok()) {
            Some(c) if c.writer.as_deref() != Some(i.resource_id.as_str()) && c.reader_port != 0 => c.reader_port,
            Some(c) => c.port,
            None => i.port,
        },
    }
}

/// One instance as RDS shows it (one read of the region).
fn render_instance(i: &Instance, region: &Region, arns: &Arns<'_>, now: u64) -> DBInstance {
    let rel = region.read(0, |state| Ok(related(state, i))).unwrap_or_else(|_| Related {
        group: None,
        secret: None,
        parameter_status: "in-sync",
        option_group: String::new(),
        replicas: Vec::new(),
        port: i.port,
    });
    render_with(i, rel, arns, now)
}

fn render_with(i: &Instance, rel: Related, arns: &Arns<'_>, now: u64) -> DBInstance {
    let Related { group, secret, parameter_status, option_group, replicas, port } = rel;
    let creating = i.status == squall_control::model::rds::DbInstanceStatus::Creating;
    DBInstance {
        db_instance_identifier: Some(i.id.clone()),
        db_instance_class: Some(i.class.clone()),
        engine: Some(i.engine.clone()),
        db_instance_status: Some(i.status.as_str().into()),
        master_username: i.master_username.clone(),
        master_user_secret: secret.map(|name| MasterUserSecret {
            secret_arn: Some(format!("arn:aws:secretsmanager:{}:{}:secret:{name}", arns.region, arns.account)),
            secret_status: Some("active".into()),
            kms_key_id: Some(
                i.master_secret_kms_key.clone().unwrap_or_else(|| {
                    format!("arn:aws:kms:{}:{}:alias/aws/secretsmanager", arns.region, arns.account)
                }),
            ),
        }),
        db_name: i.db_name.clone(),
        // RDS shows no endpoint until the instance is first up.
        endpoint: (!creating).then(|| Endpoint {
            address: Some(i.address.clone()),
            port: Some(i32::from(port)),
            hosted_zone_id: Some("Z2R2ITUGPM61AM".into()),
        }),
        allocated_storage: Some(i.allocated_gib as i32),
        db_cluster_identifier: i.cluster.clone(),
        promotion_tier: i.cluster.as_ref().map(|_| i.promotion_tier as i32),
        instance_create_time: (!creating).then(|| timestamp(i.created_ms)),
        // squall restores the present (see squall_control::db_backups).
        latest_restorable_time: (i.backup_retention_days > 0 && !creating).then(|| timestamp(now)),
        preferred_backup_window: Some(i.backup_window.clone()),
        backup_retention_period: Some(i.backup_retention_days as i32),
        db_security_groups: Some(Vec::new()),
        vpc_security_groups: Some(
            i.settings
                .security_groups
                .iter()
                .map(|g| VpcSecurityGroupMembership {
                    vpc_security_group_id: Some(g.clone()),
                    status: Some("active".into()),
                })
                .collect(),
        ),
        max_allocated_storage: i.settings.max_allocated_gib.map(|g| g as i32),
        monitoring_role_arn: i.settings.monitoring_role_arn.clone(),
        enhanced_monitoring_resource_arn: (i.settings.monitoring_interval > 0).then(|| {
            format!("arn:aws:logs:{}:{}:log-group:RDSOSMetrics:log-stream:{}", arns.region, arns.account, i.resource_id)
        }),
        performance_insights_retention_period: i.settings.performance_insights_retention_days.map(|d| d as i32),
        performance_insights_kms_key_id: i.settings.performance_insights.then(|| default_kms_key(arns)),
        enabled_cloudwatch_logs_exports: (!i.settings.log_exports.is_empty()).then(|| i.settings.log_exports.clone()),
        kms_key_id: i.storage_encrypted.then(|| i.settings.kms_key_id.clone().unwrap_or_else(|| default_kms_key(arns))),
        storage_throughput: (i.storage_type == "gp3")
            .then(|| i.settings.storage_throughput.unwrap_or(if i.allocated_gib >= 400 { 500 } else { 125 }) as i32),
        certificate_details: Some(CertificateDetails {
            ca_identifier: Some(ca_certificate(i).into()),
            valid_till: Some(timestamp(i.created_ms + 365 * 24 * 3_600_000)),
        }),
        db_parameter_groups: Some(vec![DBParameterGroupStatus {
            db_parameter_group_name: Some(i.parameter_group.clone()),
            parameter_apply_status: Some(parameter_status.into()),
        }]),
        availability_zone: Some(i.primary.zone.to_string()),
        db_subnet_group: group.map(|g| render_group(&g, arns)),
        preferred_maintenance_window: Some(i.maintenance_window.clone()),
        pending_modified_values: Some(PendingModifiedValues {
            db_instance_class: i.pending.class.clone(),
            allocated_storage: i.pending.allocated_gib.map(|g| g as i32),
            multi_az: i.pending.multi_az,
            db_instance_identifier: i.pending.new_id.clone(),
            engine_version: i.pending.engine_version.clone(),
            storage_type: i.pending.storage_type.clone(),
            iops: i.pending.iops.map(|n| n as i32),
            ..Default::default()
        }),
        multi_az: Some(i.multi_az),
        engine_version: Some(i.engine_version.clone()),
        auto_minor_version_upgrade: Some(i.auto_minor_version_upgrade),
        read_replica_source_db_instance_identifier: i.read_replica_source.clone(),
        read_replica_db_instance_identifiers: Some(
            replicas.into_iter().chain(i.cross_region_replicas.iter().cloned()).collect(),
        ),
        license_model: Some(squall_control::rds::license(&i.engine).into()),
        iops: i.iops.map(|n| n as i32),
        option_group_memberships: Some(vec![OptionGroupMembership {
            option_group_name: Some(option_group),
            status: Some("in-sync".into()),
        }]),
        secondary_availability_zone: i.standby.as_ref().map(|s| s.zone.to_string()),
        status_infos: status_infos(i),
        publicly_accessible: Some(i.publicly_accessible),
        storage_type: Some(i.storage_type.clone()),
        db_instance_port: Some(0),
        storage_encrypted: Some(i.storage_encrypted),
        dbi_resource_id: Some(i.resource_id.clone()),
        ca_certificate_identifier: Some(ca_certificate(i).into()),
        domain_memberships: Some(Vec::new()),
        copy_tags_to_snapshot: Some(i.copy_tags_to_snapshot),
        monitoring_interval: Some(i.settings.monitoring_interval as i32),
        db_instance_arn: Some(arns.of("db", &i.id)),
        iam_database_authentication_enabled: Some(i.settings.iam_auth),
        performance_insights_enabled: Some(i.settings.performance_insights),
        deletion_protection: Some(i.deletion_protection),
        associated_roles: Some(
            i.roles
                .iter()
                .map(|(role, feature)| DBInstanceRole {
                    role_arn: Some(role.clone()),
                    feature_name: Some(feature.clone()),
                    status: Some("ACTIVE".into()),
                })
                .collect(),
        ),
        tag_list: Some(render_tags(&i.tags)),
        customer_owned_ip_enabled: Some(false),
        network_type: Some("IPV4".into()),
        backup_target: Some("region".into()),
        ..Default::default()
    }
}

/// What ModifyDBInstance takes for the instance's storage: squall grows it on the volumes it has
/// (one below 400 GiB, four from 400 GiB) and keeps its storage type.
fn valid_modifications(i: &Instance) -> ValidDBInstanceModificationsMessage {
    let max = squall_control::rds::engine(&i.engine).map_or(65_536, |e| e.max_gib);
    let top = if i.allocated_gib < squall_control::rds::STRIPE_FROM_GIB {
        squall_control::rds::STRIPE_FROM_GIB - 1
    } else {
        max
    };
    let provisioned = i.storage_type.starts_with("io");
    ValidDBInstanceModificationsMessage {
        storage: Some(vec![ValidStorageOptions {
            storage_type: Some(i.storage_type.clone()),
            storage_size: Some(vec![Range { from: Some(i.allocated_gib as i32), to: Some(top as i32), step: Some(1) }]),
            provisioned_iops: provisioned.then(|| vec![Range { from: Some(1000), to: Some(256_000), step: Some(1) }]),
            iops_to_storage_ratio: provisioned.then(|| vec![DoubleRange { from: Some(1.0), to: Some(50.0) }]),
            supports_storage_autoscaling: Some(true),
            ..Default::default()
        }]),
        valid_processor_features: Some(Vec::new()),
        supports_dedicated_log_volume: Some(false),
        ..Default::default()
    }
}

/// The certificate authority of an instance's endpoint.
fn ca_certificate(i: &Instance) -> &str {
    i.settings.ca_certificate.as_deref().unwrap_or(squall_control::db_instance_settings::CA_CERTIFICATES[0])
}

/// The AWS-managed key RDS encrypts with when none is named.
fn default_kms_key(arns: &Arns<'_>) -> String {
    format!("arn:aws:kms:{}:{}:alias/aws/rds", arns.region, arns.account)
}

/// A read replica's replication state, as RDS shows it; and squall's way to show what AWS's
/// statuses have no word for: the storage is stuck.
fn status_infos(i: &Instance) -> Option<Vec<DBInstanceStatusInfo>> {
    let mut infos = Vec::new();
    if i.read_replica_source.is_some() {
        infos.push(DBInstanceStatusInfo {
            status_type: Some("read replication".into()),
            normal: Some(true),
            status: Some(if i.promoting { "stopped" } else { "replicating" }.into()),
            message: None,
        });
    }
    if let Some(since) = i.storage_stuck_since_ms {
        infos.push(DBInstanceStatusInfo {
            status_type: Some("storage".into()),
            normal: Some(false),
            status: Some("stuck".into()),
            message: Some(format!(
                "The storage in {} has not answered since {}: I/O is blocked until it recovers.",
                i.primary.zone,
                timestamp(since)
            )),
        });
    }
    (!infos.is_empty()).then_some(infos)
}

fn render_snapshot(s: &Snapshot, arns: &Arns<'_>) -> DBSnapshot {
    DBSnapshot {
        db_snapshot_identifier: Some(s.id.clone()),
        db_instance_identifier: Some(s.instance_id.clone()),
        snapshot_create_time: (s.status == squall_control::model::rds::DbSnapshotStatus::Available)
            .then(|| timestamp(s.created_ms)),
        engine: Some(s.engine.clone()),
        allocated_storage: Some(s.allocated_gib as i32),
        status: Some(s.status.as_str().into()),
        port: Some(i32::from(s.port)),
        availability_zone: Some(s.zone.to_string()),
        vpc_id: Some(s.vpc_id.clone()),
        instance_create_time: Some(timestamp(s.instance_created_ms)),
        master_username: s.master_username.clone(),
        engine_version: Some(s.engine_version.clone()),
        license_model: Some(squall_control::rds::license(&s.engine).into()),
        snapshot_type: Some(s.snapshot_type.clone()),
        iops: s.iops.map(|n| n as i32),
        percent_progress: Some(if s.status == squall_control::model::rds::DbSnapshotStatus::Available {
            100
        } else {
            0
        }),
        storage_type: Some(s.storage_type.clone()),
        encrypted: Some(s.encrypted),
        db_snapshot_arn: Some(arns.of("snapshot", &s.id)),
        iam_database_authentication_enabled: Some(false),
        dbi_resource_id: Some(s.instance_resource_id.clone()),
        source_db_snapshot_identifier: s.source_snapshot_arn.clone(),
        source_region: s.source_region.clone(),
        tag_list: Some(render_tags(&s.tags)),
        original_snapshot_create_time: Some(timestamp(s.created_ms)),
        snapshot_target: Some("region".into()),
        ..Default::default()
    }
}

const SNAPSHOT_FILTERS: &[&str] = &["db-instance-id", "db-snapshot-id", "dbi-resource-id", "snapshot-type", "engine"];

fn describe_snapshots(
    region: &Region,
    arns: &Arns<'_>,
    r: DescribeDBSnapshotsMessage,
    now: u64,
) -> Result<DBSnapshotMessage, ApiError> {
    let limit = max_records(r.max_records)?;
    let filters = r.filters.unwrap_or_default();
    for f in &filters {
        if !SNAPSHOT_FILTERS.contains(&f.name.as_str()) {
            return Err(ApiError::client("InvalidParameterValue", format!("Unrecognized filter name: {}", f.name)));
        }
    }
    if let Some(t) = &r.snapshot_type {
        if !matches!(t.as_str(), "manual" | "automated" | "shared" | "public" | "awsbackup") {
            return Err(ApiError::client("InvalidParameterValue", format!("Invalid snapshot type: {t}")));
        }
    }
    let wanted = r.db_snapshot_identifier.clone();
    let snapshots: Vec<Snapshot> = region
        .read(now, |state| {
            if let Some(id) = &wanted {
                state.db_snapshot(id)?;
            }
            Ok(state
                .db_snapshots()
                .filter(|s| wanted.as_ref().is_none_or(|w| s.id == w.to_ascii_lowercase()))
                .filter(|s| r.db_instance_identifier.as_ref().is_none_or(|i| s.instance_id == i.to_ascii_lowercase()))
                .filter(|s| r.dbi_resource_id.as_ref().is_none_or(|d| s.instance_resource_id == *d))
                .filter(|s| r.snapshot_type.as_ref().is_none_or(|t| s.snapshot_type == *t))
                .filter(|s| {
                    filters.iter().all(|f| {
                        f.values.iter().any(|v| match f.name.as_str() {
                            "db-instance-id" => *v == s.instance_id || *v == arns.of("db", &s.instance_id),
                            "db-snapshot-id" => *v == s.id || *v == arns.of("snapshot", &s.id),
                            "dbi-resource-id" => *v == s.instance_resource_id,
                            "snapshot-type" => *v == s.snapshot_type,
                            "engine" => *v == s.engine,
                            _ => false,
                        })
                    })
                })
                .cloned()
                .collect())
        })
        .map_err(control_error)?;
    let (page, marker) = paginate(snapshots, |s| s.id.clone(), r.marker.as_deref(), limit);
    Ok(DBSnapshotMessage { marker, db_snapshots: Some(page.iter().map(|s| render_snapshot(s, arns)).collect()) })
}

/// What RestoreDBInstanceFromDBSnapshot names besides the snapshot.
fn restore_overrides(r: RestoreDBInstanceFromDBSnapshotMessage, arn: String) -> Result<DbInstanceSpec, ApiError> {
    Ok(DbInstanceSpec {
        managed_password: managed_password(r.manage_master_user_password, r.master_user_secret_kms_key_id, arn),
        id: r.db_instance_identifier,
        class: r.db_instance_class.unwrap_or_default(),
        engine: r.engine.unwrap_or_default(),
        allocated_gib: non_negative("AllocatedStorage", r.allocated_storage)?,
        storage_type: r.storage_type,
        iops: non_negative("Iops", r.iops)?,
        zone: r.availability_zone,
        multi_az: r.multi_az.unwrap_or(false),
        subnet_group: r.db_subnet_group_name,
        port: port(r.port)?,
        parameter_group: r.db_parameter_group_name,
        backup_retention_days: non_negative("BackupRetentionPeriod", r.backup_retention_period)?,
        backup_window: r.preferred_backup_window,
        deletion_protection: r.deletion_protection.unwrap_or(false),
        publicly_accessible: r.publicly_accessible,
        auto_minor_version_upgrade: r.auto_minor_version_upgrade,
        copy_tags_to_snapshot: r.copy_tags_to_snapshot.unwrap_or(false),
        tags: tag_map(r.tags.unwrap_or_default())?,
        settings: DbSettingsChange { security_groups: r.vpc_security_group_ids, ..Default::default() },
        option_group: r.option_group_name,
        ..Default::default()
    })
}

/// What ModifyDBInstance names; settings squall does not model are refused rather than ignored.
fn modification(r: ModifyDBInstanceMessage, arn: String) -> Result<DbModification, ApiError> {
    let unmanage_password = r.manage_master_user_password == Some(false);
    let rotate_password = r.rotate_master_user_password == Some(true);
    let manage_password = managed_password(r.manage_master_user_password, r.master_user_secret_kms_key_id, arn);
    if r.db_security_groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "DB Security Groups can only be associated with VPC DB Instances using API versions 2012-01-15 \
             through 2012-09-17.",
        ));
    }
    let logs = r.cloudwatch_logs_export_configuration.unwrap_or_default();
    let settings = DbSettingsChange {
        security_groups: r.vpc_security_group_ids,
        max_allocated_gib: non_negative("MaxAllocatedStorage", r.max_allocated_storage)?,
        monitoring_interval: non_negative("MonitoringInterval", r.monitoring_interval)?,
        monitoring_role_arn: r.monitoring_role_arn,
        iam_auth: r.enable_iam_database_authentication,
        performance_insights: r.enable_performance_insights,
        performance_insights_retention_days: non_negative(
            "PerformanceInsightsRetentionPeriod",
            r.performance_insights_retention_period,
        )?,
        ca_certificate: r.ca_certificate_identifier,
        kms_key_id: None,
        storage_throughput: non_negative("StorageThroughput", r.storage_throughput)?,
        enable_log_exports: logs.enable_log_types.unwrap_or_default(),
        disable_log_exports: logs.disable_log_types.unwrap_or_default(),
    };
    Ok(DbModification {
        subnet_group: r.db_subnet_group_name,
        manage_password,
        unmanage_password,
        rotate_password,
        class: r.db_instance_class,
        allocated_gib: non_negative("AllocatedStorage", r.allocated_storage)?,
        multi_az: r.multi_az,
        new_id: r.new_db_instance_identifier,
        port: port(r.db_port_number)?,
        master_password: r.master_user_password,
        backup_retention_days: non_negative("BackupRetentionPeriod", r.backup_retention_period)?,
        backup_window: r.preferred_backup_window,
        maintenance_window: r.preferred_maintenance_window,
        deletion_protection: r.deletion_protection,
        copy_tags_to_snapshot: r.copy_tags_to_snapshot,
        auto_minor_version_upgrade: r.auto_minor_version_upgrade,
        publicly_accessible: r.publicly_accessible,
        parameter_group: r.db_parameter_group_name,
        option_group: r.option_group_name,
        engine_version: r.engine_version,
        allow_major_upgrade: r.allow_major_version_upgrade.unwrap_or(false),
        storage_type: r.storage_type,
        iops: non_negative("Iops", r.iops)?,
        settings,
        apply_immediately: r.apply_immediately.unwrap_or(false),
    })
}

/// A count the request gives as a signed integer (storage, IOPS, days), refused when negative.
fn non_negative(name: &str, v: Option<i32>) -> Result<Option<u32>, ApiError> {
    v.map(|n| u32::try_from(n).map_err(|_| ApiError::client("InvalidParameterValue", format!("Invalid {name}: {n}"))))
        .transpose()
}

fn port(p: Option<i32>) -> Result<Option<u16>, ApiError> {
    match p {
        None => Ok(None),
        Some(p) if (1150..=65535).contains(&p) => Ok(Some(p as u16)),
        Some(p) => Err(ApiError::client(
            "InvalidParameterValue",
            format!("Invalid port {p}: the port must be between 1150 and 65535"),
        )),
    }
}

const INSTANCE_FILTERS: &[&str] = &["db-instance-id", "dbi-resource-id", "engine", "db-cluster-id", "domain"];

fn describe_instances(
    region: &Region,
    arns: &Arns<'_>,
    r: DescribeDBInstancesMessage,
    now: u64,
) -> Result<DBInstanceMessage, ApiError> {
    let limit = max_records(r.max_records)?;
    let filters = r.filters.unwrap_or_default();
    for f in &filters {
        if !INSTANCE_FILTERS.contains(&f.name.as_str()) {
            return Err(ApiError::client("InvalidParameterValue", format!("Unrecognized filter name: {}", f.name)));
        }
        if f.values.is_empty() {
            return Err(ApiError::client(
                "InvalidParameterValue",
                format!("The list of values for filter {} must not be empty.", f.name),
            ));
        }
    }
    let wanted = r.db_instance_identifier.clone();
    let instances: Vec<Instance> = region
        .read(now, |state| {
            if let Some(id) = &wanted {
                state.db_instance(id)?;
            }
            Ok(state
                .db_instances()
                .filter(|i| wanted.as_ref().is_none_or(|w| i.id == w.to_ascii_lowercase()))
                .filter(|i| {
                    filters.iter().all(|f| {
                        f.values.iter().any(|v| match f.name.as_str() {
                            // An id or an ARN.
                            "db-instance-id" => *v == i.id || *v == arns.of("db", &i.id),
                            "dbi-resource-id" => *v == i.resource_id,
                            "engine" => *v == i.engine,
                            "db-cluster-id" => {
                                i.cluster.as_ref().is_some_and(|c| *v == *c || *v == arns.of("cluster", c))
                            }
                            _ => false,
                        })
                    })
                })
                .cloned()
                .collect())
        })
        .map_err(control_error)?;
    let (page, marker) = paginate(instances, |i| i.id.clone(), r.marker.as_deref(), limit);
    let rels = region
        .read(now, |state| Ok(page.iter().map(|i| related(state, i)).collect::<Vec<_>>()))
        .map_err(control_error)?;
    Ok(DBInstanceMessage {
        marker,
        // One read of the region for the whole page.
        db_instances: Some(page.iter().zip(rels).map(|(i, r)| render_with(i, r, arns, now)).collect()),
    })
}

fn engine_versions(r: DescribeDBEngineVersionsMessage) -> Result<DBEngineVersionMessage, ApiError> {
    no_filters(r.filters.as_deref())?;
    let limit = max_records(r.max_records)?;
    let mut out = Vec::new();
    for engine in squall_control::rds::ENGINES {
        if r.engine.as_ref().is_some_and(|e| e != engine.name) {
            continue;
        }
        for (n, version) in engine.versions.iter().enumerate() {
            let family = engine.family(version);
            let wanted_version =
                r.engine_version.as_ref().is_none_or(|v| v == version || version.starts_with(&format!("{v}.")));
            let wanted_family = r.db_parameter_group_family.as_ref().is_none_or(|f| *f == family);
            let default = n == 0;
            if !wanted_version || !wanted_family || (r.default_only == Some(true) && !default) {
                continue;
            }
            let major = squall_control::db_option_groups::major_version(engine.name, version);
            out.push(DBEngineVersion {
                engine: Some(engine.name.into()),
                major_engine_version: Some(major),
                engine_version: Some(version.to_string()),
                db_parameter_group_family: Some(family),
                db_engine_description: Some(engine.description.into()),
                db_engine_version_description: Some(format!("{} {version}", engine.description)),
                supports_log_exports_to_cloudwatch_logs: Some(true),
                supports_read_replica: Some(true),
                supported_engine_modes: Some(vec!["provisioned".into()]),
                status: Some("available".into()),
                supports_parallel_query: Some(false),
                supports_global_databases: Some(false),
                valid_upgrade_target: Some(Vec::new()),
                ..Default::default()
            });
        }
    }
    let (page, marker) = paginate(
        out,
        |v| format!("{}:{}", v.engine.clone().unwrap_or_default(), v.engine_version.clone().unwrap_or_default()),
        r.marker.as_deref(),
        limit,
    );
    Ok(DBEngineVersionMessage { marker, db_engine_versions: Some(page) })
}

fn snapshot_attributes(s: &Snapshot) -> DBSnapshotAttributesResult {
    DBSnapshotAttributesResult {
        db_snapshot_identifier: Some(s.id.clone()),
        db_snapshot_attributes: Some(vec![DBSnapshotAttribute {
            attribute_name: Some("restore".into()),
            attribute_values: Some(s.restore_accounts.clone()),
        }]),
    }
}

/// Storage types an instance may have, and their bounds (GiB, IOPS).
const STORAGE_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2"];

/// One entry per engine version, class and storage type that CreateDBInstance takes.
fn orderable_options(
    region: &Region,
    r: DescribeOrderableDBInstanceOptionsMessage,
) -> Result<OrderableDBInstanceOptionsMessage, ApiError> {
    no_filters(r.filters.as_deref())?;
    let limit = max_records(r.max_records)?;
    let engine = squall_control::rds::engine(&r.engine)
        .ok_or_else(|| ApiError::client("InvalidParameterValue", format!("Invalid DB engine: {}", r.engine)))?;
    let license = squall_control::rds::license(engine.name);
    if r.license_model.as_ref().is_some_and(|l| l != license) || r.vpc == Some(false) {
        return Ok(OrderableDBInstanceOptionsMessage { orderable_db_instance_options: Some(Vec::new()), marker: None });
    }
    let zones: Vec<AvailabilityZone> =
        region.zones().into_iter().map(|z| AvailabilityZone { name: Some(z.name.to_string()) }).collect();
    let classes = squall_control::rds::classes();
    let mut out = Vec::new();
    for (v, version) in engine.versions.iter().enumerate() {
        let wanted =
            r.engine_version.as_ref().is_none_or(|want| want == version || version.starts_with(&format!("{want}.")));
        if !wanted {
            continue;
        }
        for (c, class) in classes.iter().enumerate() {
            if r.db_instance_class.as_ref().is_some_and(|want| want != class) {
                continue;
            }
            for (s, storage) in STORAGE_TYPES.iter().enumerate() {
                let provisioned = storage.starts_with("io");
                let key = format!("{v:03}{c:03}{s:02}");
                out.push((
                    key,
                    OrderableDBInstanceOption {
                        engine: Some(engine.name.into()),
                        engine_version: Some(version.to_string()),
                        db_instance_class: Some(class.clone()),
                        license_model: Some(license.into()),
                        availability_zones: Some(zones.clone()),
                        multi_az_capable: Some(true),
                        read_replica_capable: Some(true),
                        vpc: Some(true),
                        supports_storage_encryption: Some(true),
                        storage_type: Some(storage.to_string()),
                        supports_iops: Some(provisioned || *storage == "gp3"),
                        supports_storage_throughput: Some(*storage == "gp3"),
                        supports_enhanced_monitoring: Some(true),
                        supports_iam_database_authentication: Some(true),
                        supports_performance_insights: Some(true),
                        min_storage_size: Some(if provisioned { 100 } else { engine.min_gib as i32 }),
                        max_storage_size: Some(engine.max_gib as i32),
                        min_iops_per_db_instance: provisioned.then_some(1000),
                        max_iops_per_db_instance: provisioned.then_some(256_000),
                        min_iops_per_gib: provisioned.then_some(1.0),
                        max_iops_per_gib: provisioned.then_some(if *storage == "io2" { 1000.0 } else { 50.0 }),
                        supported_engine_modes: Some(vec!["provisioned".into()]),
                        supports_storage_autoscaling: Some(true),
                        supports_kerberos_authentication: Some(false),
                        outpost_capable: Some(false),
                        supports_global_databases: Some(false),
                        supports_clusters: Some(false),
                        supported_network_types: Some(vec!["IPV4".into()]),
                        ..Default::default()
                    },
                ));
            }
        }
    }
    let (page, marker) = paginate(out, |(key, _)| key.clone(), r.marker.as_deref(), limit);
    Ok(OrderableDBInstanceOptionsMessage {
        orderable_db_instance_options: Some(page.into_iter().map(|(_, o)| o).collect()),
        marker,
    })
}

fn event_categories(r: DescribeEventCategoriesMessage) -> Result<EventCategoriesMessage, ApiError> {
    no_filters(r.filters.as_deref())?;
    if let Some(t) = &r.source_type {
        if !EVENT_CATEGORIES.iter().any(|(source, _)| source == t) {
            return Err(ApiError::client("InvalidParameterValue", format!("Invalid source type: {t}")));
        }
    }
    Ok(EventCategoriesMessage {
        event_categories_map_list: Some(
            EVENT_CATEGORIES
                .iter()
                .filter(|(source, _)| r.source_type.as_ref().is_none_or(|t| t == source))
                .map(|(source, categories)| EventCategoriesMap {
                    source_type: Some(source.to_string()),
                    event_categories: Some(categories.iter().map(|c| c.to_string()).collect()),
                })
                .collect(),
        ),
    })
}

fn describe_events(
    region: &Region,
    arns: &Arns<'_>,
    r: DescribeEventsMessage,
    now: u64,
) -> Result<EventsMessage, ApiError> {
    no_filters(r.filters.as_deref())?;
    let limit = max_records(r.max_records)?;
    if r.source_identifier.is_some() && r.source_type.is_none() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "Cannot specify source identifier without source type",
        ));
    }
    let source = match &r.source_type {
        None => None,
        Some(SourceType::DbInstance) => Some(EventSource::DbInstance),
        Some(SourceType::DbSnapshot) => Some(EventSource::DbSnapshot),
        Some(SourceType::DbCluster) => Some(EventSource::DbCluster),
        Some(SourceType::DbClusterSnapshot) => Some(EventSource::DbClusterSnapshot),
        // No other source writes events in squall yet.
        Some(_) => return Ok(EventsMessage { marker: None, events: Some(Vec::new()) }),
    };
    let end = r.end_time.map_or(now, |t| t.epoch_millis.max(0) as u64);
    let start = match (r.start_time, r.duration) {
        (Some(t), _) => t.epoch_millis.max(0) as u64,
        (None, Some(minutes)) => end.saturating_sub(u64::try_from(minutes).unwrap_or(0) * 60_000),
        (None, None) => end.saturating_sub(60 * 60_000),
    };
    let wanted = r.source_identifier.as_ref().map(|s| s.to_ascii_lowercase());
    let categories = r.event_categories.unwrap_or_default();
    let events: Vec<RdsEvent> = region
        .read(now, |state| {
            Ok(state
                .rds_events()
                .filter(|e| e.time_ms >= start && e.time_ms <= end)
                .filter(|e| source.is_none_or(|s| e.source == s))
                .filter(|e| wanted.as_ref().is_none_or(|w| e.source_id == *w))
                .filter(|e| categories.is_empty() || e.categories.iter().any(|c| categories.contains(c)))
                .cloned()
                .collect())
        })
        .map_err(control_error)?;
    let (page, marker) = paginate(events, |e| format!("{:020}", e.seq), r.marker.as_deref(), limit);
    Ok(EventsMessage {
        marker,
        events: Some(
            page.iter()
                .map(|e| {
                    let (source_type, kind) = match e.source {
                        EventSource::DbInstance => (SourceType::DbInstance, "db"),
                        EventSource::DbSnapshot => (SourceType::DbSnapshot, "snapshot"),
                        EventSource::DbCluster => (SourceType::DbCluster, "cluster"),
                        EventSource::DbClusterSnapshot => (SourceType::DbClusterSnapshot, "cluster-snapshot"),
                    };
                    Event {
                        source_identifier: Some(e.source_id.clone()),
                        source_type: Some(source_type),
                        message: Some(e.message.clone()),
                        event_categories: Some(e.categories.clone()),
                        date: Some(timestamp(e.time_ms)),
                        source_arn: Some(arns.of(kind, &e.source_id)),
                    }
                })
                .collect(),
        ),
    })
}

/// RDS's code, status and wording for each control-plane error.
fn control_error(e: ControlError) -> ApiError {
    let client = |code: &'static str, message: String| ApiError::client(code, message);
    match e {
        ControlError::Rds(e) => match e {
            RdsError::InstanceExists(_) => client("DBInstanceAlreadyExists", "DB instance already exists".into()),
            RdsError::InstanceNotFound(id) => {
                ApiError::new(404, "DBInstanceNotFound", format!("DBInstance {id} not found."))
            }
            RdsError::InvalidInstanceState { id, status, .. } => client(
                "InvalidDBInstanceState",
                format!("Instance {id} is in {status} state, which does not allow this operation."),
            ),
            RdsError::InvalidInstanceStateMessage(m) => client("InvalidDBInstanceState", m),
            RdsError::InstanceQuotaExceeded(m) => client("InstanceQuotaExceeded", m),
            RdsError::SnapshotExists(id) => client(
                "DBSnapshotAlreadyExists",
                format!("Cannot create the snapshot because a snapshot with the identifier {id} already exists."),
            ),
            RdsError::SnapshotNotFound(id) => {
                ApiError::new(404, "DBSnapshotNotFound", format!("DBSnapshot {id} not found."))
            }
            RdsError::InvalidSnapshotState { id, status, .. } => client(
                "InvalidDBSnapshotState",
                format!("Snapshot {id} is in {status} state, which does not allow this operation."),
            ),
            RdsError::SubnetGroupExists(name) => {
                client("DBSubnetGroupAlreadyExists", format!("The DB subnet group '{name}' already exists."))
            }
            RdsError::SubnetGroupNotFound(name) => {
                ApiError::new(404, "DBSubnetGroupNotFoundFault", format!("DBSubnetGroup {name} not found."))
            }
            RdsError::SubnetGroupTooFewZones { covered } => client(
                "DBSubnetGroupDoesNotCoverEnoughAZs",
                format!(
                    "The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ \
                     coverage: {}. Add subnets to cover at least 2 AZs.",
                    covered.join(", ")
                ),
            ),
            RdsError::SubnetGroupInUse { group, instance } => client(
                "InvalidDBSubnetGroupStateFault",
                format!(
                    "Cannot delete the subnet group '{group}' because at least one database instance: {instance} \
                     is still using it."
                ),
            ),
            RdsError::InvalidSubnets(ids) => {
                client("InvalidSubnet", format!("Some input subnets in :[{}] are invalid.", ids.join(", ")))
            }
            RdsError::InvalidParameterValue(m) => client("InvalidParameterValue", m),
            RdsError::InvalidParameterCombination(m) => client("InvalidParameterCombination", m),
            RdsError::InsufficientCapacity { zone, requested_gib } => client(
                "InsufficientDBInstanceCapacity",
                format!("Cannot create a DB instance with {requested_gib} GiB of storage in {zone} at this time."),
            ),
            RdsError::InvalidArn(what) => client(
                "InvalidParameterValue",
                format!("The specified resource name does not match an RDS resource in this region: {what}"),
            ),
            RdsError::NotBuiltYet(m) => not_built(&m),
            RdsError::ParameterGroupExists(name) => {
                client("DBParameterGroupAlreadyExists", format!("Parameter group {name} already exists"))
            }
            RdsError::ParameterGroupNotFound(name) => {
                ApiError::new(404, "DBParameterGroupNotFound", format!("DBParameterGroup not found: {name}"))
            }
            RdsError::InvalidParameterGroupState(m) => client("InvalidDBParameterGroupState", m),
            RdsError::AutomatedBackupNotFound(id) => {
                ApiError::new(404, "DBInstanceAutomatedBackupNotFound", format!("Automated backup {id} not found."))
            }
            RdsError::InvalidAutomatedBackupState(m) => client("InvalidDBInstanceAutomatedBackupState", m),
            RdsError::PointInTimeRestoreNotEnabled(id) => client(
                "PointInTimeRestoreNotEnabled",
                format!(
                    "Automated backups are not enabled for DB instance {id}: it cannot be restored to a point in time."
                ),
            ),
            RdsError::InvalidRestore(m) => client("InvalidRestoreFault", m),
            RdsError::OptionGroupNotFound(name) => {
                ApiError::new(404, "OptionGroupNotFoundFault", format!("Specified OptionGroupName: {name} not found."))
            }
            RdsError::OptionGroupExists(name) => {
                client("OptionGroupAlreadyExistsFault", format!("Option group {name} already exists."))
            }
            RdsError::OptionGroupQuotaExceeded(n) => client(
                "OptionGroupQuotaExceededFault",
                format!("The request would exceed the quota of {n} option groups for this account."),
            ),
            RdsError::InvalidOptionGroupState(m) => client("InvalidOptionGroupStateFault", m),
            RdsError::SubnetInUse(m) => client("SubnetAlreadyInUse", m),
            RdsError::RoleAlreadyExists { role, instance } => client(
                "DBInstanceRoleAlreadyExists",
                format!("Role ARN {role} is already associated with DB Instance {instance}"),
            ),
            RdsError::RoleNotFound { role, instance } => ApiError::new(
                404,
                "DBInstanceRoleNotFound",
                format!("Role ARN {role} cannot be found for DB Instance {instance}"),
            ),
            RdsError::RoleQuotaExceeded(n) => {
                client("DBInstanceRoleQuotaExceeded", format!("A DB instance can have at most {n} associated roles."))
            }
            RdsError::CertificateNotFound(id) => {
                ApiError::new(404, "CertificateNotFound", format!("Certificate {id} not found."))
            }
            RdsError::SharedSnapshotQuotaExceeded(n) => client(
                "SharedSnapshotQuotaExceeded",
                format!("A manual DB snapshot can be shared with at most {n} AWS accounts."),
            ),
            RdsError::ClusterExists(_) => client("DBClusterAlreadyExistsFault", "DB Cluster already exists".into()),
            RdsError::ClusterNotFound(id) => {
                ApiError::new(404, "DBClusterNotFoundFault", format!("DBCluster {id} not found."))
            }
            RdsError::InvalidClusterState(m) => client("InvalidDBClusterStateFault", m),
            RdsError::ClusterParameterGroupNotFound(name) => ApiError::new(
                404,
                "DBClusterParameterGroupNotFound",
                format!("DBClusterParameterGroup not found: {name}"),
            ),
            RdsError::ClusterQuotaExceeded(n) => ApiError::new(
                403,
                "DBClusterQuotaExceededFault",
                format!("The request would exceed the quota of {n} DB clusters for this account."),
            ),
            RdsError::InsufficientStorageClusterCapacity(m) => client("InsufficientStorageClusterCapacity", m),
            RdsError::ClusterSnapshotExists(_) => client(
                "DBClusterSnapshotAlreadyExistsFault",
                "Cannot create the cluster snapshot because one with the identifier already exists.".into(),
            ),
            RdsError::ClusterSnapshotNotFound(id) => {
                ApiError::new(404, "DBClusterSnapshotNotFoundFault", format!("DBClusterSnapshot {id} not found."))
            }
            RdsError::InvalidClusterSnapshotState(m) => client("InvalidDBClusterSnapshotStateFault", m),
            RdsError::ClusterEndpointExists(id) => {
                client("DBClusterEndpointAlreadyExistsFault", format!("The DB cluster endpoint {id} already exists."))
            }
            RdsError::ClusterEndpointNotFound(id) => {
                client("DBClusterEndpointNotFoundFault", format!("DBClusterEndpoint {id} not found."))
            }
            RdsError::InvalidClusterEndpointState(m) => client("InvalidDBClusterEndpointStateFault", m),
            RdsError::ProxyExists(name) => {
                client("DBProxyAlreadyExistsFault", format!("A DB proxy named {name} already exists."))
            }
            RdsError::ProxyNotFound(name) => {
                ApiError::new(404, "DBProxyNotFoundFault", format!("DBProxy {name} not found."))
            }
            RdsError::InvalidProxyState(m) => client("InvalidDBProxyStateFault", m),
            RdsError::ProxyEndpointExists(name) => {
                client("DBProxyEndpointAlreadyExistsFault", format!("A DB proxy endpoint named {name} already exists."))
            }
            RdsError::ProxyEndpointNotFound(name) => {
                ApiError::new(404, "DBProxyEndpointNotFoundFault", format!("DBProxyEndpoint {name} not found."))
            }
            RdsError::InvalidProxyEndpointState(m) => client("InvalidDBProxyEndpointStateFault", m),
            RdsError::ProxyEndpointQuotaExceeded(n) => client(
                "DBProxyEndpointQuotaExceededFault",
                format!("A DB proxy can have at most {n} endpoints besides its default one."),
            ),
            RdsError::GlobalClusterExists(id) => {
                client("GlobalClusterAlreadyExistsFault", format!("Global cluster {id} already exists"))
            }
            RdsError::GlobalClusterNotFound(id) => {
                ApiError::new(404, "GlobalClusterNotFoundFault", format!("Global cluster {id} not found"))
            }
            RdsError::InvalidGlobalClusterState(m) => client("InvalidGlobalClusterStateFault", m),
            RdsError::GlobalClusterQuotaExceeded(n) => client(
                "GlobalClusterQuotaExceededFault",
                format!("The number of global clusters for this account is already at the maximum allowed ({n})."),
            ),
            RdsError::BlueGreenExists(name) => client(
                "BlueGreenDeploymentAlreadyExistsFault",
                format!("A blue/green deployment with the name {name} already exists."),
            ),
            RdsError::BlueGreenNotFound(id) => ApiError::new(
                404,
                "BlueGreenDeploymentNotFoundFault",
                format!("BlueGreenDeploymentIdentifier {id} doesn't refer to an existing blue/green deployment."),
            ),
            RdsError::InvalidBlueGreenState(m) => client("InvalidBlueGreenDeploymentStateFault", m),
            RdsError::BlueGreenSourceNotSupported(m) => client("SourceDatabaseNotSupportedFault", m),
            RdsError::ProxyQuotaExceeded(n) => {
                client("DBProxyQuotaExceededFault", format!("The request would exceed the quota of {n} DB proxies."))
            }
            RdsError::ProxyTargetGroupNotFound(name) => {
                ApiError::new(404, "DBProxyTargetGroupNotFoundFault", format!("DBProxyTargetGroup {name} not found."))
            }
            RdsError::ProxyTargetAlreadyRegistered(t) => {
                client("DBProxyTargetAlreadyRegisteredFault", format!("The target {t} is already registered."))
            }
            RdsError::ProxyTargetNotFound(t) => {
                ApiError::new(404, "DBProxyTargetNotFoundFault", format!("The target {t} is not registered."))
            }
            RdsError::ClusterEndpointQuotaExceeded(n) => ApiError::new(
                403,
                "DBClusterEndpointQuotaExceededFault",
                format!("A DB cluster can have at most {n} custom endpoints."),
            ),
            RdsError::SecurityGroupNotFound(name) => {
                ApiError::new(404, "DBSecurityGroupNotFound", format!("DBSecurityGroup {name} not found."))
            }
            RdsError::SecurityGroupExists(name) => {
                client("DBSecurityGroupAlreadyExists", format!("A DB security group named {name} already exists."))
            }
            RdsError::SecurityGroupQuotaExceeded(n) => client(
                "QuotaExceeded.DBSecurityGroup",
                format!("The request would exceed the quota of {n} DB security groups for this account."),
            ),
            RdsError::InvalidSecurityGroupState(m) => client("InvalidDBSecurityGroupState", m),
            RdsError::AuthorizationExists { grantee, group } => client(
                "AuthorizationAlreadyExists",
                format!("The {grantee} is already authorized for the DB security group {group}."),
            ),
            RdsError::AuthorizationNotFound { grantee, group } => ApiError::new(
                404,
                "AuthorizationNotFound",
                format!("The {grantee} is not authorized for the DB security group {group}."),
            ),
            RdsError::AuthorizationQuotaExceeded(n) => client(
                "AuthorizationQuotaExceeded",
                format!("A DB security group can hold at most {n} authorizations."),
            ),
            RdsError::InstanceNotReady(id) => {
                client("DBInstanceNotReady", format!("DB instance {id} is not ready for this operation."))
            }
            RdsError::LogFileNotFound(file) => ApiError::new(
                404,
                "DBLogFileNotFoundFault",
                format!("DBLog File: {file}, is not found on the DB instance"),
            ),
            RdsError::InvalidTopic(arn) => client("SNSInvalidTopic", format!("Invalid SNS topic ARN: {arn}")),
            RdsError::SubscriptionCategoryNotFound(c) => ApiError::new(
                404,
                "SubscriptionCategoryNotFound",
                format!("The event category {c} does not exist for this source type."),
            ),
            RdsError::SubscriptionNotFound(name) => {
                ApiError::new(404, "SubscriptionNotFound", format!("Event subscription {name} not found."))
            }
            RdsError::SubscriptionExists(name) => {
                client("SubscriptionAlreadyExist", format!("Subscription {name} already exists."))
            }
            RdsError::SubscriptionQuotaExceeded(n) => client(
                "EventSubscriptionQuotaExceeded",
                format!("The request would exceed the quota of {n} event subscriptions for this account."),
            ),
            RdsError::SourceNotFound(id) => ApiError::new(404, "SourceNotFound", format!("Source {id} not found.")),
            RdsError::ParameterGroupQuotaExceeded(n) => client(
                "DBParameterGroupQuotaExceeded",
                format!("The request would exceed the quota of {n} DB parameter groups for this account."),
            ),
        },
        ControlError::TooManyTags => {
            client("TagQuotaPerResourceExceeded", "A resource can have at most 50 tags.".into())
        }
        ControlError::Zone(z) => client("InvalidParameterValue", z.to_string()),
        ControlError::Internal(e) => ApiError::new(500, "InternalFailure", format!("An internal error occurred ({e})")),
        other => client("InvalidParameterValue", other.to_string()),
    }
}

/// DescribeDBLogFiles and DownloadDBLogFilePortion.
fn log_files(region: &Region, request: Request, now: u64) -> Result<Response, ApiError> {
    Ok(match request {
        Request::DescribeDBLogFiles(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let files = region.db_log_files(&r.db_instance_identifier, now).map_err(control_error)?;
            let files: Vec<_> = files
                .into_iter()
                .filter(|f| r.filename_contains.as_ref().is_none_or(|part| f.name.contains(part.as_str())))
                .filter(|f| r.file_last_written.is_none_or(|after| f.last_written_ms as i64 > after))
                .filter(|f| r.file_size.is_none_or(|larger| f.size as i64 > larger))
                .collect();
            let (page, marker) = paginate(files, |f| f.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBLogFiles(DescribeDBLogFilesResponse {
                describe_db_log_files: Some(
                    page.into_iter()
                        .map(|f| DescribeDBLogFilesDetails {
                            log_file_name: Some(f.name),
                            last_written: Some(f.last_written_ms as i64),
                            size: Some(f.size as i64),
                        })
                        .collect(),
                ),
                marker,
            })
        }
        Request::DownloadDBLogFilePortion(r) => {
            let marker = match r.marker.as_deref() {
                None => None,
                Some(m) => Some(
                    m.parse::<u64>()
                        .map_err(|_| ApiError::client("InvalidParameterValue", format!("Invalid marker: {m}")))?,
                ),
            };
            let lines = match r.number_of_lines {
                None => None,
                Some(n) if n >= 1 => Some(n as usize),
                Some(n) => {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("NumberOfLines must be at least 1, not {n}"),
                    ))
                }
            };
            let p = region
                .db_log_portion(&r.db_instance_identifier, &r.log_file_name, marker, lines, now)
                .map_err(control_error)?;
            Response::DownloadDBLogFilePortion(DownloadDBLogFilePortionDetails {
                log_file_data: Some(p.data),
                marker: Some(p.marker),
                additional_data_pending: Some(p.pending),
            })
        }
        other => {
            return Err(ApiError::new(500, "InternalFailure", format!("{} is not a log file action", other.action())))
        }
    })
}
