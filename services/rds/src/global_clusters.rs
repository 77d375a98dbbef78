//! Aurora global databases on the wire: Create/Describe/Modify/Delete GlobalCluster(s) and
//! RemoveFromGlobalCluster. The rules are the control plane's (`squall_control::global_clusters`);
//! a global cluster spans regions, so these answer from every region squall serves.

use squall_control::global_clusters::{GlobalCluster as Global, GlobalClusterSpec};
use squall_control::{ControlPlane, RegionName};
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, paginate, tag_map, Arns};

const FILTERS: &[&str] = &["global-cluster-id", "engine", "region"];

/// `(region, identifier)` of a DB cluster named by ARN (any region) or identifier (this one).
pub(crate) fn cluster_ref(arns: &Arns<'_>, name: &str) -> Result<(RegionName, String), ApiError> {
    if name.starts_with("arn:") {
        return squall_control::db_cross_region::parse_rds_arn(name, "cluster")
            .ok_or_else(|| ApiError::client("InvalidParameterValue", format!("{name} is not a DB cluster ARN.")));
    }
    let region = RegionName::parse(arns.region)
        .map_err(|_| ApiError::new(500, "InternalFailure", format!("region {}", arns.region)))?;
    Ok((region, name.to_ascii_lowercase()))
}

fn cluster_arn(arns: &Arns<'_>, region: &RegionName, id: &str) -> String {
    format!("arn:aws:rds:{region}:{}:cluster:{id}", arns.account)
}

fn render(control: &ControlPlane, g: &Global, arns: &Arns<'_>) -> GlobalCluster {
    let members = control.global_members(&g.resource_id);
    let secondaries: Vec<String> =
        members.iter().filter(|m| !m.writer).map(|m| cluster_arn(arns, &m.region, &m.cluster.id)).collect();
    GlobalCluster {
        global_cluster_identifier: Some(g.id.clone()),
        global_cluster_resource_id: Some(g.resource_id.clone()),
        global_cluster_arn: Some(format!("arn:aws:rds::{}:global-cluster:{}", arns.account, g.id)),
        status: Some("available".into()),
        engine: Some(g.engine.clone()),
        engine_version: Some(g.engine_version.clone()),
        database_name: g.database_name.clone(),
        storage_encrypted: Some(g.storage_encrypted),
        deletion_protection: Some(g.deletion_protection),
        global_cluster_members: Some(
            members
                .iter()
                .map(|m| GlobalClusterMember {
                    db_cluster_arn: Some(cluster_arn(arns, &m.region, &m.cluster.id)),
                    readers: Some(if m.writer { secondaries.clone() } else { Vec::new() }),
                    is_writer: Some(m.writer),
                    global_write_forwarding_status: (!m.writer).then_some(WriteForwardingStatus::Disabled),
                    synchronization_status: Some(GlobalClusterMemberSynchronizationStatus::Connected),
                })
                .collect(),
        ),
        endpoint: members.iter().find(|m| m.writer).map(|m| m.cluster.address.clone()),
        tag_list: Some(g.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()),
        ..Default::default()
    }
}

/// Answers one of the global-cluster actions.
pub(crate) fn handle(
    control: &ControlPlane,
    region: &RegionName,
    arns: &Arns<'_>,
    request: Request,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateGlobalCluster(r) => {
            let source = r.source_db_cluster_identifier.as_deref().map(|s| cluster_ref(arns, s)).transpose()?;
            let spec = GlobalClusterSpec {
                id: r.global_cluster_identifier.clone(),
                source,
                engine: r.engine.clone(),
                engine_version: r.engine_version.clone(),
                database_name: r.database_name.clone(),
                storage_encrypted: r.storage_encrypted,
                deletion_protection: r.deletion_protection == Some(true),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
            };
            let g = control.create_global_cluster(region, spec).map_err(control_error)?;
            Response::CreateGlobalCluster(CreateGlobalClusterResult { global_cluster: Some(render(control, &g, arns)) })
        }
        Request::DescribeGlobalClusters(r) => {
            let limit = max_records(r.max_records)?;
            let filters = r.filters.unwrap_or_default();
            for f in &filters {
                if !FILTERS.contains(&f.name.as_str()) {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Unrecognized filter name: {}", f.name),
                    ));
                }
            }
            let all: Vec<(RegionName, Global)> = match &r.global_cluster_identifier {
                Some(id) => vec![control.global_cluster(id).map_err(control_error)?],
                None => control.global_clusters(),
            };
            let selected: Vec<Global> = all
                .into_iter()
                .filter(|(home, g)| {
                    filters.iter().all(|f| {
                        let value = match f.name.as_str() {
                            "global-cluster-id" => g.id.clone(),
                            "engine" => g.engine.clone(),
                            _ => home.to_string(),
                        };
                        f.values.iter().any(|v| v.eq_ignore_ascii_case(&value))
                    })
                })
                .map(|(_, g)| g)
                .collect();
            let (page, marker) = paginate(selected, |g| g.id.clone(), r.marker.as_deref(), limit);
            Response::DescribeGlobalClusters(GlobalClustersMessage {
                marker,
                global_clusters: Some(page.iter().map(|g| render(control, g, arns)).collect()),
            })
        }
        Request::ModifyGlobalCluster(r) => {
            if let Some(v) = &r.engine_version {
                let (_, g) = control.global_cluster(&r.global_cluster_identifier).map_err(control_error)?;
                if *v != g.engine_version {
                    return Err(super::not_built(
                        "ModifyGlobalCluster EngineVersion (upgrading every member) is not supported yet by squall.",
                    ));
                }
            }
            let g = control
                .modify_global_cluster(
                    &r.global_cluster_identifier,
                    r.new_global_cluster_identifier.as_deref(),
                    r.deletion_protection,
                )
                .map_err(control_error)?;
            Response::ModifyGlobalCluster(ModifyGlobalClusterResult { global_cluster: Some(render(control, &g, arns)) })
        }
        Request::DeleteGlobalCluster(r) => {
            let g = control.delete_global_cluster(&r.global_cluster_identifier).map_err(control_error)?;
            let mut shown = render(control, &g, arns);
            shown.status = Some("deleting".into());
            Response::DeleteGlobalCluster(DeleteGlobalClusterResult { global_cluster: Some(shown) })
        }
        Request::RemoveFromGlobalCluster(r) => {
            let member = cluster_ref(arns, &r.db_cluster_identifier)?;
            let g = control.remove_from_global_cluster(&r.global_cluster_identifier, &member).map_err(control_error)?;
            Response::RemoveFromGlobalCluster(RemoveFromGlobalClusterResult {
                global_cluster: Some(render(control, &g, arns)),
            })
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not a global-cluster action", other.action()),
            ))
        }
    })
}
