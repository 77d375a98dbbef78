//! DB parameter groups on the wire: Create/Copy/Modify/Reset/Describe/Delete DBParameterGroup(s),
//! DescribeDBParameters and DescribeEngineDefaultParameters. The rules are the control plane's
//! (`squall_control::db_parameter_groups`).

use squall_control::db_parameter_groups::{engine_defaults, GroupKind, ParameterChange, ParameterShown};
use squall_control::model::rds::DbParameterGroup as Group;
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, no_filters, paginate, tag_map, Arns};

/// Answers one of the parameter-group actions: DB parameter groups and DB cluster parameter
/// groups follow the same rules (`GroupKind`), each in its own namespace.
pub(crate) fn handle(region: &Region, arns: &Arns<'_>, request: Request, now: u64) -> Result<Response, ApiError> {
    use GroupKind::{Cluster, Instance};
    Ok(match request {
        Request::CreateDBParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_parameter_group(
                    Instance,
                    &r.db_parameter_group_name,
                    &r.db_parameter_group_family,
                    &r.description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateDBParameterGroup(CreateDBParameterGroupResult {
                db_parameter_group: Some(render_group(&g, arns)),
            })
        }
        Request::CreateDBClusterParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_parameter_group(
                    Cluster,
                    &r.db_cluster_parameter_group_name,
                    &r.db_parameter_group_family,
                    &r.description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateDBClusterParameterGroup(CreateDBClusterParameterGroupResult {
                db_cluster_parameter_group: Some(render_cluster_group(&g, arns)),
            })
        }
        Request::CopyDBParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let source = arns.name_of("pg", &r.source_db_parameter_group_identifier)?;
            let g = region
                .copy_parameter_group(
                    Instance,
                    &source,
                    &r.target_db_parameter_group_identifier,
                    &r.target_db_parameter_group_description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CopyDBParameterGroup(CopyDBParameterGroupResult {
                db_parameter_group: Some(render_group(&g, arns)),
            })
        }
        Request::CopyDBClusterParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let source = arns.name_of("cluster-pg", &r.source_db_cluster_parameter_group_identifier)?;
            let g = region
                .copy_parameter_group(
                    Cluster,
                    &source,
                    &r.target_db_cluster_parameter_group_identifier,
                    &r.target_db_cluster_parameter_group_description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CopyDBClusterParameterGroup(CopyDBClusterParameterGroupResult {
                db_cluster_parameter_group: Some(render_cluster_group(&g, arns)),
            })
        }
        Request::ModifyDBParameterGroup(r) => {
            let changes = changes(&r.parameters)?;
            let name = region
                .modify_parameter_group(Instance, &r.db_parameter_group_name, &changes, now)
                .map_err(control_error)?;
            Response::ModifyDBParameterGroup(DBParameterGroupNameMessage { db_parameter_group_name: Some(name) })
        }
        Request::ModifyDBClusterParameterGroup(r) => {
            let changes = changes(&r.parameters)?;
            let name = region
                .modify_parameter_group(Cluster, &r.db_cluster_parameter_group_name, &changes, now)
                .map_err(control_error)?;
            Response::ModifyDBClusterParameterGroup(DBClusterParameterGroupNameMessage {
                db_cluster_parameter_group_name: Some(name),
            })
        }
        Request::ResetDBParameterGroup(r) => {
            let changes = changes(r.parameters.as_deref().unwrap_or_default())?;
            let all = r.reset_all_parameters.unwrap_or(false);
            let name = region
                .reset_parameter_group(Instance, &r.db_parameter_group_name, all, &changes, now)
                .map_err(control_error)?;
            Response::ResetDBParameterGroup(DBParameterGroupNameMessage { db_parameter_group_name: Some(name) })
        }
        Request::ResetDBClusterParameterGroup(r) => {
            let changes = changes(r.parameters.as_deref().unwrap_or_default())?;
            let all = r.reset_all_parameters.unwrap_or(false);
            let name = region
                .reset_parameter_group(Cluster, &r.db_cluster_parameter_group_name, all, &changes, now)
                .map_err(control_error)?;
            Response::ResetDBClusterParameterGroup(DBClusterParameterGroupNameMessage {
                db_cluster_parameter_group_name: Some(name),
            })
        }
        Request::DescribeDBParameterGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let (page, marker) =
                groups(region, Instance, r.db_parameter_group_name.as_deref(), r.max_records, r.marker, now)?;
            Response::DescribeDBParameterGroups(DBParameterGroupsMessage {
                marker,
                db_parameter_groups: Some(page.iter().map(|g| render_group(g, arns)).collect()),
            })
        }
        Request::DescribeDBClusterParameterGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let (page, marker) =
                groups(region, Cluster, r.db_cluster_parameter_group_name.as_deref(), r.max_records, r.marker, now)?;
            Response::DescribeDBClusterParameterGroups(DBClusterParameterGroupsMessage {
                marker,
                db_cluster_parameter_groups: Some(page.iter().map(|g| render_cluster_group(g, arns)).collect()),
            })
        }
        Request::DescribeDBParameters(r) => {
            no_filters(r.filters.as_deref())?;
            let (parameters, marker) = parameters(
                region,
                Instance,
                &r.db_parameter_group_name,
                r.source.as_deref(),
                r.max_records,
                r.marker,
                now,
            )?;
            Response::DescribeDBParameters(DBParameterGroupDetails { parameters: Some(parameters), marker })
        }
        Request::DescribeDBClusterParameters(r) => {
            no_filters(r.filters.as_deref())?;
            let (parameters, marker) = parameters(
                region,
                Cluster,
                &r.db_cluster_parameter_group_name,
                r.source.as_deref(),
                r.max_records,
                r.marker,
                now,
            )?;
            Response::DescribeDBClusterParameters(DBClusterParameterGroupDetails {
                parameters: Some(parameters),
                marker,
            })
        }
        Request::DescribeEngineDefaultParameters(r) => {
            no_filters(r.filters.as_deref())?;
            Response::DescribeEngineDefaultParameters(DescribeEngineDefaultParametersResult {
                engine_defaults: Some(defaults(r.db_parameter_group_family, r.max_records, r.marker)?),
            })
        }
        Request::DescribeEngineDefaultClusterParameters(r) => {
            no_filters(r.filters.as_deref())?;
            Response::DescribeEngineDefaultClusterParameters(DescribeEngineDefaultClusterParametersResult {
                engine_defaults: Some(defaults(r.db_parameter_group_family, r.max_records, r.marker)?),
            })
        }
        Request::DeleteDBParameterGroup(r) => {
            region.delete_parameter_group(Instance, &r.db_parameter_group_name, now).map_err(control_error)?;
            Response::DeleteDBParameterGroup(())
        }
        Request::DeleteDBClusterParameterGroup(r) => {
            region.delete_parameter_group(Cluster, &r.db_cluster_parameter_group_name, now).map_err(control_error)?;
            Response::DeleteDBClusterParameterGroup(())
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not a parameter-group action", other.action()),
            ))
        }
    })
}

/// A page of the groups of a kind (one when named).
fn groups(
    region: &Region,
    kind: GroupKind,
    name: Option<&str>,
    max: Option<i32>,
    marker: Option<String>,
    now: u64,
) -> Result<(Vec<Group>, Option<String>), ApiError> {
    let limit = max_records(max)?;
    let groups = region
        .read(now, |state| match name {
            Some(name) => Ok(vec![state.parameter_group(kind, name)?]),
            None => Ok(state.parameter_groups_all(kind)),
        })
        .map_err(control_error)?;
    Ok(paginate(groups, |g| g.name.clone(), marker.as_deref(), limit))
}

/// A page of a group's parameters, of one source when asked.
fn parameters(
    region: &Region,
    kind: GroupKind,
    group: &str,
    source: Option<&str>,
    max: Option<i32>,
    marker: Option<String>,
    now: u64,
) -> Result<(Vec<Parameter>, Option<String>), ApiError> {
    let limit = max_records(max)?;
    if let Some(source) = source {
        if !matches!(source, "user" | "system" | "engine-default") {
            return Err(ApiError::client(
                "InvalidParameterValue",
                format!("Invalid source: {source}. Valid values are user, system and engine-default."),
            ));
        }
    }
    let all = region.read(now, |state| state.parameters_of(kind, group)).map_err(control_error)?;
    let wanted: Vec<ParameterShown> = all.into_iter().filter(|p| source.is_none_or(|s| p.source == s)).collect();
    let (page, marker) = paginate(wanted, |p| p.def.name.to_string(), marker.as_deref(), limit);
    Ok((page.iter().map(render_parameter).collect(), marker))
}

/// A page of a family's engine defaults.
fn defaults(family: String, max: Option<i32>, marker: Option<String>) -> Result<EngineDefaults, ApiError> {
    let limit = max_records(max)?;
    let all = engine_defaults(&family).map_err(control_error)?;
    let (page, marker) = paginate(all, |p| p.def.name.to_string(), marker.as_deref(), limit);
    Ok(EngineDefaults {
        db_parameter_group_family: Some(family),
        marker,
        parameters: Some(page.iter().map(render_parameter).collect()),
    })
}

/// The parameters of a Modify or Reset call: each names itself.
fn changes(parameters: &[Parameter]) -> Result<Vec<ParameterChange>, ApiError> {
    parameters
        .iter()
        .map(|p| {
            let name = p.parameter_name.clone().filter(|n| !n.is_empty()).ok_or_else(|| {
                ApiError::client("InvalidParameterValue", "Each parameter must have a ParameterName.")
            })?;
            Ok(ParameterChange {
                name,
                value: p.parameter_value.clone(),
                apply_method: p.apply_method.map(|m| m.as_str().to_string()),
            })
        })
        .collect()
}

fn render_group(g: &Group, arns: &Arns<'_>) -> DBParameterGroup {
    DBParameterGroup {
        db_parameter_group_name: Some(g.name.clone()),
        db_parameter_group_family: Some(g.family.clone()),
        description: Some(g.description.clone()),
        db_parameter_group_arn: Some(arns.of("pg", &g.name)),
    }
}

fn render_cluster_group(g: &Group, arns: &Arns<'_>) -> DBClusterParameterGroup {
    DBClusterParameterGroup {
        db_cluster_parameter_group_name: Some(g.name.clone()),
        db_parameter_group_family: Some(g.family.clone()),
        description: Some(g.description.clone()),
        db_cluster_parameter_group_arn: Some(arns.of("cluster-pg", &g.name)),
    }
}

fn render_parameter(p: &ParameterShown) -> Parameter {
    Parameter {
        parameter_name: Some(p.def.name.into()),
        parameter_value: p.value.clone(),
        description: Some(p.def.description.into()),
        source: Some(p.source.into()),
        apply_type: Some(p.def.apply.as_str().into()),
        data_type: Some(p.def.data_type.into()),
        allowed_values: p.def.allowed.map(str::to_string),
        is_modifiable: Some(p.def.modifiable),
        apply_method: ApplyMethod::from_wire(p.apply_method),
        ..Default::default()
    }
}
