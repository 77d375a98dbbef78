//! DB option groups on the wire: Create/Copy/Modify/Describe/DeleteOptionGroup(s) and
//! DescribeOptionGroupOptions. The rules are the control plane's
//! (`squall_control::db_option_groups`).

use squall_control::db_option_groups::{options_for, DbOptionGroup, OptionChange};
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, no_filters, paginate, tag_map, Arns};

/// Answers one of the option-group actions.
pub(crate) fn handle(region: &Region, arns: &Arns<'_>, request: Request, now: u64) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateOptionGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_db_option_group(
                    &r.option_group_name,
                    &r.engine_name,
                    &r.major_engine_version,
                    &r.option_group_description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateOptionGroup(CreateOptionGroupResult { option_group: Some(render_group(&g, arns)) })
        }
        Request::CopyOptionGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let source = arns.name_of("og", &r.source_option_group_identifier)?;
            let g = region
                .copy_db_option_group(
                    &source,
                    &r.target_option_group_identifier,
                    &r.target_option_group_description,
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CopyOptionGroup(CopyOptionGroupResult { option_group: Some(render_group(&g, arns)) })
        }
        Request::ModifyOptionGroup(r) => {
            let include =
                r.options_to_include
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| {
                        if o.db_security_group_memberships.as_ref().is_some_and(|g| !g.is_empty()) {
                            return Err(ApiError::client(
                                "InvalidParameterCombination",
                                "DB security groups are for EC2-Classic: use VpcSecurityGroupMemberships.",
                            ));
                        }
                        let port = match o.port {
                            None => None,
                            Some(p) => Some(u16::try_from(p).map_err(|_| {
                                ApiError::client("InvalidParameterValue", format!("Invalid port: {p}"))
                            })?),
                        };
                        Ok(OptionChange {
                            name: o.option_name,
                            port,
                            settings: o
                                .option_settings
                                .unwrap_or_default()
                                .into_iter()
                                .map(|s| (s.name.unwrap_or_default(), s.value.unwrap_or_default()))
                                .collect(),
                            security_groups: o.vpc_security_group_memberships.unwrap_or_default(),
                        })
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
            let remove = r.options_to_remove.unwrap_or_default();
            if include.is_empty() && remove.is_empty() {
                return Err(ApiError::client(
                    "InvalidParameterCombination",
                    "Specify OptionsToInclude or OptionsToRemove.",
                ));
            }
            let g =
                region.modify_db_option_group(&r.option_group_name, &include, &remove, now).map_err(control_error)?;
            Response::ModifyOptionGroup(ModifyOptionGroupResult { option_group: Some(render_group(&g, arns)) })
        }
        Request::DescribeOptionGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            if r.major_engine_version.is_some() && r.engine_name.is_none() {
                return Err(ApiError::client(
                    "InvalidParameterCombination",
                    "If MajorEngineVersion is supplied, EngineName must also be supplied.",
                ));
            }
            let groups = region
                .read(now, |state| match &r.option_group_name {
                    Some(name) => Ok(vec![state.db_option_group(name)?]),
                    None => Ok(state.db_option_groups_all()),
                })
                .map_err(control_error)?;
            let wanted: Vec<DbOptionGroup> = groups
                .into_iter()
                .filter(|g| r.engine_name.as_ref().is_none_or(|e| *e == g.engine))
                .filter(|g| r.major_engine_version.as_ref().is_none_or(|m| *m == g.major_version))
                .collect();
            let (page, marker) = paginate(wanted, |g| g.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeOptionGroups(OptionGroups {
                option_groups_list: Some(page.iter().map(|g| render_group(g, arns)).collect()),
                marker,
            })
        }
        Request::DescribeOptionGroupOptions(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let engine = squall_control::rds::engine(&r.engine_name).ok_or_else(|| {
                ApiError::client("InvalidParameterValue", format!("Invalid DB engine: {}", r.engine_name))
            })?;
            let mut majors: Vec<String> = engine
                .versions
                .iter()
                .map(|v| squall_control::db_option_groups::major_version(engine.name, v))
                .collect();
            majors.sort();
            majors.dedup();
            let mut out = Vec::new();
            for major in majors.iter().filter(|m| r.major_engine_version.as_ref().is_none_or(|w| w == *m)) {
                for def in options_for(engine.name, major) {
                    out.push((
                        format!("{major}:{}", def.name),
                        OptionGroupOption {
                            name: Some(def.name.into()),
                            description: Some(def.description.into()),
                            engine_name: Some(engine.name.into()),
                            major_engine_version: Some(major.clone()),
                            port_required: Some(def.default_port.is_some()),
                            default_port: def.default_port.map(i32::from),
                            persistent: Some(false),
                            permanent: Some(false),
                            vpc_only: Some(false),
                            option_group_option_settings: Some(
                                def.settings
                                    .iter()
                                    .map(|s| OptionGroupOptionSetting {
                                        setting_name: Some(s.name.into()),
                                        setting_description: Some(s.description.into()),
                                        default_value: s.default.map(str::to_string),
                                        apply_type: Some("DYNAMIC".into()),
                                        allowed_values: s.allowed.map(str::to_string),
                                        is_modifiable: Some(true),
                                        is_required: Some(false),
                                        ..Default::default()
                                    })
                                    .collect(),
                            ),
                            ..Default::default()
                        },
                    ));
                }
            }
            let (page, marker) = paginate(out, |(k, _)| k.clone(), r.marker.as_deref(), limit);
            Response::DescribeOptionGroupOptions(OptionGroupOptionsMessage {
                option_group_options: Some(page.into_iter().map(|(_, o)| o).collect()),
                marker,
            })
        }
        Request::DeleteOptionGroup(r) => {
            region.delete_db_option_group(&r.option_group_name, now).map_err(control_error)?;
            Response::DeleteOptionGroup(())
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not an option-group action", other.action()),
            ))
        }
    })
}

fn render_group(g: &DbOptionGroup, arns: &Arns<'_>) -> OptionGroup {
    OptionGroup {
        option_group_name: Some(g.name.clone()),
        option_group_description: Some(g.description.clone()),
        engine_name: Some(g.engine.clone()),
        major_engine_version: Some(g.major_version.clone()),
        options: Some(
            g.options
                .iter()
                .map(|o| {
                    let def = squall_control::db_option_groups::OPTIONS.iter().find(|d| d.name == o.name);
                    OptionShape {
                        option_name: Some(o.name.clone()),
                        option_description: def.map(|d| d.description.to_string()),
                        persistent: Some(false),
                        permanent: Some(false),
                        port: o.port.map(i32::from),
                        option_settings: Some(
                            def.map(|d| d.settings)
                                .unwrap_or_default()
                                .iter()
                                .map(|s| OptionSetting {
                                    name: Some(s.name.into()),
                                    value: o.settings.get(s.name).cloned().or(s.default.map(str::to_string)),
                                    default_value: s.default.map(str::to_string),
                                    description: Some(s.description.into()),
                                    apply_type: Some("DYNAMIC".into()),
                                    data_type: Some(
                                        if s.allowed.is_some_and(|a| a.contains('-')) { "INTEGER" } else { "STRING" }
                                            .into(),
                                    ),
                                    allowed_values: s.allowed.map(str::to_string),
                                    is_modifiable: Some(true),
                                    is_collection: Some(s.collection),
                                })
                                .collect(),
                        ),
                        db_security_group_memberships: Some(Vec::new()),
                        vpc_security_group_memberships: Some(
                            o.security_groups
                                .iter()
                                .map(|g| VpcSecurityGroupMembership {
                                    vpc_security_group_id: Some(g.clone()),
                                    status: Some("active".into()),
                                })
                                .collect(),
                        ),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        allows_vpc_and_non_vpc_instance_memberships: Some(true),
        option_group_arn: Some(arns.of("og", &g.name)),
        ..Default::default()
    }
}
