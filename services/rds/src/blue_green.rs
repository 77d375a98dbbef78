//! Blue/green deployments on the wire: Create/Describe/Switchover/DeleteBlueGreenDeployment. The
//! rules are the control plane's (`squall_control::blue_green`); this file decodes, calls, renders.

use squall_control::blue_green::{
    BlueGreenDeployment as Deployment, BlueGreenSpec, BlueGreenStatus, DEFAULT_SWITCHOVER_TIMEOUT_S,
};
use squall_control::{ControlPlane, Region};
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, not_built, paginate, tag_map, timestamp, Arns};

const FILTERS: &[&str] = &["blue-green-deployment-identifier", "blue-green-deployment-name", "source", "target"];

/// The ARNs of a deployment's members as they are named now.
fn member_arns(d: &Deployment, region: &Region, arns: &Arns<'_>) -> Vec<(String, String)> {
    region
        .read(0, |s| {
            Ok(d.pairs
                .iter()
                .map(|p| {
                    let name = |r: &str| s.blue_green_member_id(&p.kind, r).unwrap_or_default();
                    (arns.of(&p.kind, &name(&p.blue)), arns.of(&p.kind, &name(&p.green)))
                })
                .collect())
        })
        .unwrap_or_default()
}

fn render(d: &Deployment, region: &Region, arns: &Arns<'_>) -> BlueGreenDeployment {
    let members = member_arns(d, region, arns);
    let member_status = match d.status {
        BlueGreenStatus::Provisioning => "PROVISIONING",
        BlueGreenStatus::Available => "AVAILABLE",
        BlueGreenStatus::SwitchoverInProgress => "SWITCHOVER_IN_PROGRESS",
        BlueGreenStatus::SwitchoverCompleted => "SWITCHOVER_COMPLETED",
    };
    let done = if d.status == BlueGreenStatus::Provisioning { "IN_PROGRESS" } else { "COMPLETED" };
    let mut tasks = vec![BlueGreenDeploymentTask {
        name: Some(
            match d.source_kind {
                squall_control::blue_green::SourceKind::Instance => "CREATING_READ_REPLICA_OF_SOURCE",
                squall_control::blue_green::SourceKind::Cluster => "CREATE_DB_INSTANCES_FOR_CLUSTER",
            }
            .into(),
        ),
        status: Some(done.into()),
    }];
    if d.upgrade {
        tasks.push(BlueGreenDeploymentTask {
            name: Some("DB_ENGINE_VERSION_UPGRADE".into()),
            status: Some(done.into()),
        });
    }
    BlueGreenDeployment {
        blue_green_deployment_identifier: Some(d.id.clone()),
        blue_green_deployment_name: Some(d.name.clone()),
        source: members.first().map(|(blue, _)| blue.clone()),
        target: members.first().map(|(_, green)| green.clone()),
        switchover_details: Some(
            members
                .iter()
                .map(|(blue, green)| SwitchoverDetail {
                    source_member: Some(blue.clone()),
                    target_member: Some(green.clone()),
                    status: Some(member_status.into()),
                })
                .collect(),
        ),
        tasks: Some(tasks),
        status: Some(d.status.as_str().into()),
        status_details: None,
        create_time: Some(timestamp(d.created_ms)),
        delete_time: None,
        tag_list: Some(d.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()),
    }
}

/// Answers one of the blue/green actions.
pub(crate) fn handle(
    control: &ControlPlane,
    region: &Region,
    arns: &Arns<'_>,
    request: Request,
    now: u64,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateBlueGreenDeployment(r) => {
            if r.upgrade_target_storage_config == Some(true)
                || r.target_iops.is_some()
                || r.target_storage_type.is_some()
                || r.target_allocated_storage.is_some()
                || r.target_storage_throughput.is_some()
                || r.target_resource_configurations.as_ref().is_some_and(|c| !c.is_empty())
            {
                return Err(not_built("Changing the green environment's storage is not supported yet by squall."));
            }
            let source = arns.parse(&r.source).map_err(|_| {
                ApiError::client(
                    "InvalidParameterValue",
                    format!("The source {} is not the ARN of a DB instance or DB cluster of this region.", r.source),
                )
            })?;
            let spec = BlueGreenSpec {
                name: r.blue_green_deployment_name.clone(),
                source,
                engine_version: r.target_engine_version.clone(),
                parameter_group: r.target_db_parameter_group_name.clone(),
                cluster_parameter_group: r.target_db_cluster_parameter_group_name.clone(),
                class: r.target_db_instance_class.clone(),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
            };
            let d = region.create_blue_green(spec, &control.config().rds_address, now).map_err(control_error)?;
            Response::CreateBlueGreenDeployment(CreateBlueGreenDeploymentResponse {
                blue_green_deployment: Some(render(&d, region, arns)),
            })
        }
        Request::DescribeBlueGreenDeployments(r) => {
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
            let all = region
                .read(now, |s| match &r.blue_green_deployment_identifier {
                    Some(id) => Ok(vec![s.blue_green_deployment(id)?.clone()]),
                    None => Ok(s.blue_green_deployments()),
                })
                .map_err(control_error)?;
            let selected: Vec<Deployment> = all
                .into_iter()
                .filter(|d| {
                    let members = member_arns(d, region, arns);
                    filters.iter().all(|f| {
                        let values: Vec<String> = match f.name.as_str() {
                            "blue-green-deployment-identifier" => vec![d.id.clone()],
                            "blue-green-deployment-name" => vec![d.name.clone()],
                            "source" => members.first().map(|m| m.0.clone()).into_iter().collect(),
                            _ => members.first().map(|m| m.1.clone()).into_iter().collect(),
                        };
                        f.values.iter().any(|v| values.contains(v))
                    })
                })
                .collect();
            let (page, marker) = paginate(selected, |d| d.id.clone(), r.marker.as_deref(), limit);
            Response::DescribeBlueGreenDeployments(DescribeBlueGreenDeploymentsResponse {
                blue_green_deployments: Some(page.iter().map(|d| render(d, region, arns)).collect()),
                marker,
            })
        }
        Request::SwitchoverBlueGreenDeployment(r) => {
            let timeout = r.switchover_timeout.unwrap_or(DEFAULT_SWITCHOVER_TIMEOUT_S as i32);
            if timeout < 30 {
                return Err(ApiError::client(
                    "InvalidParameterValue",
                    format!("SwitchoverTimeout must be at least 30 seconds (got {timeout})."),
                ));
            }
            let d = region
                .switchover_blue_green(&r.blue_green_deployment_identifier, timeout as u32, now)
                .map_err(control_error)?;
            Response::SwitchoverBlueGreenDeployment(SwitchoverBlueGreenDeploymentResponse {
                blue_green_deployment: Some(render(&d, region, arns)),
            })
        }
        Request::DeleteBlueGreenDeployment(r) => {
            let d = region
                .delete_blue_green(&r.blue_green_deployment_identifier, r.delete_target == Some(true), now)
                .map_err(control_error)?;
            let mut shown = render(&d, region, arns);
            shown.status = Some("DELETING".into());
            Response::DeleteBlueGreenDeployment(DeleteBlueGreenDeploymentResponse {
                blue_green_deployment: Some(shown),
            })
        }
        other => {
            return Err(ApiError::new(500, "InternalFailure", format!("{} is not a blue/green action", other.action())))
        }
    })
}
