//! DB parameter groups on the wire: Create/Copy/Modify/Reset/Describe/Delete DBParameterGroup(s),
//! DescribeDBParameters and DescribeEngineDefaultParameters. The rules are the control plane's
//! (`squall_control::db_parameter_groups`).

use squall_control::db_parameter_groups::{engine_defaults, ParameterChange, ParameterShown};
use squall_control::model::rds::DbParameterGroup as Group;
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, no_filters, paginate, tag_map, Arns};

/// Answers one of the parameter-group actions.
pub(crate) fn handle(region: &Region, arns: &Arns<'_>, request: Request, now: u64) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateDBParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_db_parameter_group(
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
        Request::CopyDBParameterGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let source = arns.name_of("pg", &r.source_db_parameter_group_identifier)?;
            let g = region
                .copy_db_parameter_group(
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
        Request::ModifyDBParameterGroup(r) => {
            let changes = changes(&r.parameters)?;
            let name =
                region.modify_db_parameter_group(&r.db_parameter_group_name, &changes, now).map_err(control_error)?;
            Response::ModifyDBParameterGroup(DBParameterGroupNameMessage { db_parameter_group_name: Some(name) })
        }
        Request::ResetDBParameterGroup(r) => {
            let changes = changes(r.parameters.as_deref().unwrap_or_default())?;
            let name = region
                .reset_db_parameter_group(
                    &r.db_parameter_group_name,
                    r.reset_all_parameters.unwrap_or(false),
                    &changes,
                    now,
                )
                .map_err(control_error)?;
            Response::ResetDBParameterGroup(DBParameterGroupNameMessage { db_parameter_group_name: Some(name) })
        }
        Request::DescribeDBParameterGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let groups = region
                .read(now, |state| match &r.db_parameter_group_name {
                    Some(name) => Ok(vec![state.db_parameter_group(name)?]),
                    None => Ok(state.db_parameter_groups_all()),
                })
                .map_err(control_error)?;
            let (page, marker) = paginate(groups, |g| g.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBParameterGroups(DBParameterGroupsMessage {
                marker,
                db_parameter_groups: Some(page.iter().map(|g| render_group(g, arns)).collect()),
            })
        }
        Request::DescribeDBParameters(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            if let Some(source) = &r.source {
                if !matches!(source.as_str(), "user" | "system" | "engine-default") {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        format!("Invalid source: {source}. Valid values are user, system and engine-default."),
                    ));
                }
            }
            let all =
                region.read(now, |state| state.db_parameters(&r.db_parameter_group_name)).map_err(control_error)?;
            let wanted: Vec<ParameterShown> =
                all.into_iter().filter(|p| r.source.as_ref().is_none_or(|s| p.source == s.as_str())).collect();
            let (page, marker) = paginate(wanted, |p| p.def.name.to_string(), r.marker.as_deref(), limit);
            Response::DescribeDBParameters(DBParameterGroupDetails {
                parameters: Some(page.iter().map(render_parameter).collect()),
                marker,
            })
        }
        Request::DescribeEngineDefaultParameters(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let all = engine_defaults(&r.db_parameter_group_family).map_err(control_error)?;
            let (page, marker) = paginate(all, |p| p.def.name.to_string(), r.marker.as_deref(), limit);
            Response::DescribeEngineDefaultParameters(DescribeEngineDefaultParametersResult {
                engine_defaults: Some(EngineDefaults {
                    db_parameter_group_family: Some(r.db_parameter_group_family),
                    marker,
                    parameters: Some(page.iter().map(render_parameter).collect()),
                }),
            })
        }
        Request::DeleteDBParameterGroup(r) => {
            region.delete_db_parameter_group(&r.db_parameter_group_name, now).map_err(control_error)?;
            Response::DeleteDBParameterGroup(())
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
