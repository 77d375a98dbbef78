//! Launch templates: Create/Describe/Modify/Delete LaunchTemplate, versions, GetLaunchTemplateData,
//! and RunInstances with `LaunchTemplate`. A version's parameters are kept as the query pairs
//! of `LaunchTemplateData` (decoded here with the generated decoder whenever they are shown),
//! and a launch from a template merges them into the RunInstances request before it is decoded,
//! so every launch parameter works from a template exactly as it does given directly.

use std::collections::{BTreeMap, BTreeSet};

use squall_control::launch_templates::{
    top_level, LaunchTemplate as ControlTemplate, TemplateRef, TemplateVersion, VersionDeletion,
};
use squall_control::state::RegionState;
use squall_control::{ControlPlane, InstanceId};
use squall_protocol::{ApiError, QueryParams, RequestContext};

use crate::common::{instance_id, offset_page, page_size, region, tags_for, timestamp, wire_tags};
use crate::generated::*;
use crate::volumes::to_wire_type;
use crate::{check_dry_run, control_error, filter};

const DATA_PREFIX: &str = "LaunchTemplateData.";
const TEMPLATE_FILTERS: &[&str] = &["create-time", "launch-template-name", "tag-key", "tag-value", "tag:*"];
const VERSION_FILTERS: &[&str] = &[
    "create-time",
    "ebs-optimized",
    "iam-instance-profile",
    "image-id",
    "instance-type",
    "is-default-version",
    "kernel-id",
    "ram-disk-id",
];

/// The `LaunchTemplateData.*` pairs of a request, relative to the prefix.
pub(crate) fn template_data(params: &QueryParams) -> BTreeMap<String, String> {
    params.iter().filter_map(|(k, v)| k.strip_prefix(DATA_PREFIX).map(|k| (k.to_string(), v.to_string()))).collect()
}

fn template_ref(id: Option<&String>, name: Option<&String>) -> Result<TemplateRef, ApiError> {
    match (id, name) {
        (Some(_), Some(_)) => Err(ApiError::client(
            "InvalidParameterCombination",
            "Only one of launchTemplateId or launchTemplateName may be specified.",
        )),
        (Some(id), None) => {
            check_template_id(id)?;
            Ok(TemplateRef::Id(id.clone()))
        }
        (None, Some(name)) => Ok(TemplateRef::Name(name.clone())),
        (None, None) => Err(ApiError::missing_parameter("launchTemplateName or launchTemplateId")),
    }
}

fn check_template_id(id: &str) -> Result<(), ApiError> {
    let ok = id.strip_prefix("lt-").is_some_and(|h| h.len() == 17 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::client(
            "InvalidLaunchTemplateId.Malformed",
            format!("The specified ID for the launch template ({id}) is not valid. The ID must be in the form lt-xxxxxxxxxxxxxxxxx."),
        ))
    }
}

fn created_by(ctx: &RequestContext) -> String {
    format!("arn:aws:iam::{}:root", ctx.account_id)
}

fn wire_template(t: &ControlTemplate, ctx: &RequestContext) -> LaunchTemplate {
    LaunchTemplate {
        launch_template_id: Some(t.id.clone()),
        launch_template_name: Some(t.name.clone()),
        create_time: Some(timestamp(t.created_ms)),
        created_by: Some(created_by(ctx)),
        default_version_number: Some(i64::from(t.default_version)),
        latest_version_number: Some(i64::from(t.latest_version)),
        tags: Some(wire_tags(&t.tags)),
        operator: None,
    }
}

/// A version's parameters as AWS shows them.
fn response_data(data: &BTreeMap<String, String>) -> Result<ResponseLaunchTemplateData, ApiError> {
    let q = QueryParams::from_pairs(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    let request = RequestLaunchTemplateData::decode_members(&q, "")?;
    Ok(ResponseLaunchTemplateData::from(&request))
}

fn wire_version(
    t: &ControlTemplate,
    v: &TemplateVersion,
    ctx: &RequestContext,
) -> Result<LaunchTemplateVersion, ApiError> {
    Ok(LaunchTemplateVersion {
        launch_template_id: Some(t.id.clone()),
        launch_template_name: Some(t.name.clone()),
        version_number: Some(i64::from(v.number)),
        version_description: v.description.clone(),
        create_time: Some(timestamp(v.created_ms)),
        created_by: Some(created_by(ctx)),
        default_version: Some(v.number == t.default_version),
        launch_template_data: Some(response_data(&v.data)?),
        operator: None,
    })
}

pub(crate) fn create_launch_template(
    control: &ControlPlane,
    ctx: &RequestContext,
    params: &QueryParams,
    r: CreateLaunchTemplateRequest,
) -> Result<CreateLaunchTemplateResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::LaunchTemplate)?;
    if r.version_description.as_ref().is_some_and(|d| d.len() > 255) {
        return Err(ApiError::invalid_value("VersionDescription", "(longer than 255 characters)"));
    }
    let t = region(control, ctx)?
        .create_launch_template(
            &r.launch_template_name,
            r.version_description.clone(),
            template_data(params),
            tags,
            control.now_ms(),
            r.dry_run == Some(true),
        )
        .map_err(control_error)?;
    Ok(CreateLaunchTemplateResult { launch_template: Some(wire_template(&t, ctx)), warning: None })
}

pub(crate) fn create_launch_template_version(
    control: &ControlPlane,
    ctx: &RequestContext,
    params: &QueryParams,
    r: CreateLaunchTemplateVersionRequest,
) -> Result<CreateLaunchTemplateVersionResult, ApiError> {
    let which = template_ref(r.launch_template_id.as_ref(), r.launch_template_name.as_ref())?;
    let (t, v) = region(control, ctx)?
        .create_template_version(
            &which,
            r.source_version.as_deref(),
            r.version_description.clone(),
            template_data(params),
            control.now_ms(),
            r.dry_run == Some(true),
        )
        .map_err(control_error)?;
    Ok(CreateLaunchTemplateVersionResult { launch_template_version: Some(wire_version(&t, &v, ctx)?), warning: None })
}

pub(crate) fn describe_launch_templates(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeLaunchTemplatesRequest,
) -> Result<DescribeLaunchTemplatesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, TEMPLATE_FILTERS)?;
    let ids = r.launch_template_ids.unwrap_or_default();
    let names = r.launch_template_names.unwrap_or_default();
    for id in &ids {
        check_template_id(id)?;
    }
    let limit = page_size(r.max_results, 1, 200)?.unwrap_or(usize::MAX);
    let templates = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.launch_template(&TemplateRef::Id(id.clone()))?;
            }
            for name in &names {
                state.launch_template(&TemplateRef::Name(name.clone()))?;
            }
            Ok(state.launch_templates())
        })
        .map_err(control_error)?;
    let list: Vec<LaunchTemplate> = templates
        .iter()
        .filter(|t| (ids.is_empty() && names.is_empty()) || ids.contains(&t.id) || names.contains(&t.name))
        .filter(|t| {
            filter::matches(&filters, |name| match name {
                "create-time" => vec![timestamp(t.created_ms).to_string()],
                "launch-template-name" => vec![t.name.clone()],
                other => filter::tag_values(&t.tags, other),
            })
        })
        .map(|t| wire_template(t, ctx))
        .collect();
    let (page, next_token) = offset_page(list, r.next_token.as_deref(), limit)?;
    Ok(DescribeLaunchTemplatesResult { launch_templates: Some(page), next_token })
}

pub(crate) fn describe_launch_template_versions(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeLaunchTemplateVersionsRequest,
) -> Result<DescribeLaunchTemplateVersionsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, VERSION_FILTERS)?;
    let versions = r.versions.unwrap_or_default();
    let limit = page_size(r.max_results, 1, 200)?.unwrap_or(usize::MAX);
    let bound = |v: &Option<String>, name: &str| {
        v.as_deref().map(|s| s.parse::<u32>().map_err(|_| ApiError::invalid_value(name, s))).transpose()
    };
    let (min, max) = (bound(&r.min_version, "MinVersion")?, bound(&r.max_version, "MaxVersion")?);
    let which = match (&r.launch_template_id, &r.launch_template_name) {
        (None, None) => {
            // Without a template, only $Latest and $Default may be asked for, across all of them.
            if versions.is_empty() || versions.iter().any(|v| v != "$Latest" && v != "$Default") {
                return Err(ApiError::missing_parameter("launchTemplateName or launchTemplateId"));
            }
            None
        }
        (id, name) => Some(template_ref(id.as_ref(), name.as_ref())?),
    };
    let templates = region(control, ctx)?
        .read(control.now_ms(), |state| match &which {
            Some(w) => {
                let t = state.launch_template(w)?.clone();
                for v in &versions {
                    t.version(Some(v))?;
                }
                Ok(vec![t])
            }
            None => Ok(state.launch_templates()),
        })
        .map_err(control_error)?;
    let mut list = Vec::new();
    for t in &templates {
        let chosen: Vec<&TemplateVersion> = if versions.is_empty() {
            t.versions.values().rev().collect()
        } else {
            let mut numbers = BTreeSet::new();
            for v in &versions {
                numbers.insert(t.version(Some(v)).map_err(control_error)?.number);
            }
            numbers.iter().rev().filter_map(|n| t.versions.get(n)).collect()
        };
        for v in chosen {
            if min.is_some_and(|m| v.number < m) || max.is_some_and(|m| v.number > m) {
                continue;
            }
            let wire = wire_version(t, v, ctx)?;
            let data = wire.launch_template_data.clone().unwrap_or_default();
            let keep = filter::matches(&filters, |name| match name {
                "create-time" => vec![timestamp(v.created_ms).to_string()],
                "ebs-optimized" => data.ebs_optimized.map(|b| b.to_string()).into_iter().collect(),
                "iam-instance-profile" => data
                    .iam_instance_profile
                    .as_ref()
                    .and_then(|p| p.arn.clone().or(p.name.clone()))
                    .into_iter()
                    .collect(),
                "image-id" => data.image_id.clone().into_iter().collect(),
                "instance-type" => data.instance_type.map(|t| t.as_str().to_string()).into_iter().collect(),
                "is-default-version" => vec![(v.number == t.default_version).to_string()],
                "kernel-id" => data.kernel_id.clone().into_iter().collect(),
                "ram-disk-id" => data.ram_disk_id.clone().into_iter().collect(),
                _ => Vec::new(),
            });
            if keep {
                list.push(wire);
            }
        }
    }
    let (page, next_token) = offset_page(list, r.next_token.as_deref(), limit)?;
    Ok(DescribeLaunchTemplateVersionsResult { launch_template_versions: Some(page), next_token })
}

pub(crate) fn modify_launch_template(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyLaunchTemplateRequest,
) -> Result<ModifyLaunchTemplateResult, ApiError> {
    let which = template_ref(r.launch_template_id.as_ref(), r.launch_template_name.as_ref())?;
    let t = region(control, ctx)?
        .set_default_version(&which, r.default_version.as_deref(), control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(ModifyLaunchTemplateResult { launch_template: Some(wire_template(&t, ctx)) })
}

pub(crate) fn delete_launch_template(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteLaunchTemplateRequest,
) -> Result<DeleteLaunchTemplateResult, ApiError> {
    let which = template_ref(r.launch_template_id.as_ref(), r.launch_template_name.as_ref())?;
    let t = region(control, ctx)?
        .delete_launch_template(&which, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(DeleteLaunchTemplateResult { launch_template: Some(wire_template(&t, ctx)) })
}

pub(crate) fn delete_launch_template_versions(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteLaunchTemplateVersionsRequest,
) -> Result<DeleteLaunchTemplateVersionsResult, ApiError> {
    let which = template_ref(r.launch_template_id.as_ref(), r.launch_template_name.as_ref())?;
    if r.versions.is_empty() || r.versions.len() > 200 {
        return Err(ApiError::invalid_parameter_value("Between 1 and 200 versions may be deleted at once."));
    }
    let (t, results) = region(control, ctx)?
        .delete_template_versions(&which, &r.versions, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    let mut done = Vec::new();
    let mut refused = Vec::new();
    let refusal = |version: Option<i64>, code, message: String| DeleteLaunchTemplateVersionsResponseErrorItem {
        launch_template_id: Some(t.id.clone()),
        launch_template_name: Some(t.name.clone()),
        version_number: version,
        response_error: Some(ResponseError { code: Some(code), message: Some(message) }),
    };
    for result in results {
        match result {
            VersionDeletion::Deleted(n) => done.push(DeleteLaunchTemplateVersionsResponseSuccessItem {
                launch_template_id: Some(t.id.clone()),
                launch_template_name: Some(t.name.clone()),
                version_number: Some(i64::from(n)),
            }),
            VersionDeletion::IsDefault(n) => refused.push(refusal(
                Some(i64::from(n)),
                LaunchTemplateErrorCode::UnexpectedError,
                "Cannot delete the default version of a launch template.".into(),
            )),
            VersionDeletion::NotFound(v) => refused.push(refusal(
                v.parse().ok(),
                LaunchTemplateErrorCode::LaunchTemplateVersionDoesNotExist,
                format!("Could not find launch template version {v} for launch template {}", t.id),
            )),
        }
    }
    Ok(DeleteLaunchTemplateVersionsResult {
        successfully_deleted_launch_template_versions: Some(done),
        unsuccessfully_deleted_launch_template_versions: Some(refused),
    })
}

/// GetLaunchTemplateData: the parameters that would launch an instance like this one.
pub(crate) fn get_launch_template_data(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: GetLaunchTemplateDataRequest,
) -> Result<GetLaunchTemplateDataResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let id = instance_id(&r.instance_id)?;
    let data = region(control, ctx)?.read(control.now_ms(), |state| Ok(data_of(state, &id))).map_err(control_error)?;
    Ok(GetLaunchTemplateDataResult { launch_template_data: Some(data?) })
}

fn data_of(state: &RegionState, id: &InstanceId) -> Result<ResponseLaunchTemplateData, ApiError> {
    let i = state.instance(id).map_err(control_error)?;
    let (volumes, _) = state.volumes_after(None, usize::MAX, |v| v.attachments.iter().any(|a| a.instance == *id));
    let mut devices: Vec<LaunchTemplateBlockDeviceMapping> = volumes
        .iter()
        .flat_map(|v| v.attachments.iter().filter(|a| a.instance == *id).map(move |a| (v, a)))
        .map(|(v, a)| LaunchTemplateBlockDeviceMapping {
            device_name: Some(a.device.clone()),
            ebs: Some(LaunchTemplateEbsBlockDevice {
                encrypted: Some(v.encrypted),
                delete_on_termination: Some(a.delete_on_termination),
                iops: v.iops.map(|n| n as i32),
                snapshot_id: v.snapshot_id.as_ref().map(|s| s.to_string()),
                volume_size: Some(v.size_gib as i32),
                volume_type: Some(to_wire_type(v.volume_type)),
                throughput: v.throughput.map(|n| n as i32),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    devices.sort_by(|a, b| a.device_name.cmp(&b.device_name));
    let interfaces = state.interfaces_of(id);
    let a = &i.attributes;
    Ok(ResponseLaunchTemplateData {
        image_id: Some(i.image_id.clone()),
        instance_type: InstanceType::from_wire(&i.instance_type),
        key_name: i.key_name.clone(),
        ebs_optimized: Some(a.ebs_optimized),
        block_device_mappings: Some(devices),
        network_interfaces: Some(
            interfaces
                .iter()
                .map(|n| LaunchTemplateInstanceNetworkInterfaceSpecification {
                    delete_on_termination: n.attachment.as_ref().map(|x| x.delete_on_termination),
                    description: Some(n.description.clone()),
                    device_index: n.attachment.as_ref().map(|x| x.device_index as i32),
                    groups: Some(n.groups.clone()),
                    ipv6_addresses: Some(
                        n.ipv6_addresses
                            .iter()
                            .map(|x| InstanceIpv6Address { ipv6_address: Some(x.clone()), is_primary_ipv6: None })
                            .collect(),
                    ),
                    network_interface_id: Some(n.id.clone()),
                    private_ip_address: Some(n.private_ip.clone()),
                    subnet_id: Some(n.subnet_id.clone()),
                    network_card_index: Some(0),
                    interface_type: Some("interface".into()),
                    ..Default::default()
                })
                .collect(),
        ),
        monitoring: Some(LaunchTemplatesMonitoring { enabled: Some(a.monitoring), metric_category_ids: None }),
        placement: Some(LaunchTemplatePlacement {
            availability_zone: Some(i.zone.to_string()),
            tenancy: Some(a.tenancy.as_deref().and_then(Tenancy::from_wire).unwrap_or(Tenancy::Default)),
            host_id: a.host_id.clone(),
            group_name: Some(String::new()),
            ..Default::default()
        }),
        disable_api_termination: Some(a.disable_api_termination),
        disable_api_stop: Some(a.disable_api_stop),
        instance_initiated_shutdown_behavior: Some(if a.shutdown_terminates {
            ShutdownBehavior::Terminate
        } else {
            ShutdownBehavior::Stop
        }),
        user_data: i.user_data.clone(),
        tag_specifications: (!i.tags.is_empty()).then(|| {
            vec![LaunchTemplateTagSpecification {
                resource_type: Some(ResourceType::Instance),
                tags: Some(wire_tags(&i.tags)),
            }]
        }),
        credit_specification: a
            .cpu_credits
            .clone()
            .or(squall_control::model::instance::default_cpu_credits(&i.instance_type).map(str::to_string))
            .map(|c| CreditSpecification { cpu_credits: Some(c) }),
        hibernation_options: Some(LaunchTemplateHibernationOptions { configured: Some(a.hibernation) }),
        metadata_options: Some(LaunchTemplateInstanceMetadataOptions {
            state: Some(LaunchTemplateInstanceMetadataOptionsState::Applied),
            http_tokens: Some(if a.metadata.tokens_required {
                LaunchTemplateHttpTokensState::Required
            } else {
                LaunchTemplateHttpTokensState::Optional
            }),
            http_put_response_hop_limit: Some(i32::from(a.metadata.hop_limit)),
            http_endpoint: Some(if a.metadata.endpoint_enabled {
                LaunchTemplateInstanceMetadataEndpointState::Enabled
            } else {
                LaunchTemplateInstanceMetadataEndpointState::Disabled
            }),
            http_protocol_ipv6: Some(LaunchTemplateInstanceMetadataProtocolIpv6::Disabled),
            instance_metadata_tags: Some(if a.metadata.tags_enabled {
                LaunchTemplateInstanceMetadataTagsState::Enabled
            } else {
                LaunchTemplateInstanceMetadataTagsState::Disabled
            }),
        }),
        ..Default::default()
    })
}

/// RunInstances with `LaunchTemplate`: the template version's parameters join the request's,
/// which win parameter by parameter; tag specifications of both apply (the request's win on a
/// key). A subnet or security groups given to RunInstances go to the template's primary network
/// interface when the template has one. Answers the merged parameters and the template and
/// version used (the instances are tagged with them, as AWS does).
pub(crate) fn expand_run_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    params: &QueryParams,
) -> Result<Option<(QueryParams, String, u32)>, ApiError> {
    let id = params.get("LaunchTemplate.LaunchTemplateId").map(str::to_string);
    let name = params.get("LaunchTemplate.LaunchTemplateName").map(str::to_string);
    if id.is_none() && name.is_none() {
        if params.has_prefix("LaunchTemplate") {
            return Err(ApiError::missing_parameter("launchTemplateName or launchTemplateId"));
        }
        return Ok(None);
    }
    let which = template_ref(id.as_ref(), name.as_ref())?;
    let version = params.get("LaunchTemplate.Version").map(str::to_string);
    let (t, v) = region(control, ctx)?
        .read(control.now_ms(), |state| {
            let t = state.launch_template(&which)?.clone();
            let v = t.version(version.as_deref())?.clone();
            Ok((t, v))
        })
        .map_err(control_error)?;
    let mut merged: BTreeMap<String, String> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("LaunchTemplate."))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let given: BTreeSet<String> = merged.keys().map(|k| top_level(k).to_string()).collect();
    let template_has_interfaces = v.data.keys().any(|k| top_level(k) == "NetworkInterface");
    // Tag specifications: the template's first, then the request's (which win on a key).
    let request_specs: Vec<(String, String)> = merged
        .iter()
        .filter(|(k, _)| top_level(k) == "TagSpecification")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merged.retain(|k, _| top_level(k) != "TagSpecification");
    let mut next = 1u32;
    for specs in [
        v.data
            .iter()
            .filter(|(k, _)| top_level(k) == "TagSpecification")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        request_specs,
    ] {
        let mut renumbered = BTreeMap::new();
        for (k, val) in specs {
            let mut parts = k.splitn(3, '.');
            let (_, n, rest) = (parts.next(), parts.next().unwrap_or("1"), parts.next().unwrap_or(""));
            let index = *renumbered.entry(n.to_string()).or_insert_with(|| {
                next += 1;
                next - 1
            });
            merged.insert(format!("TagSpecification.{index}.{rest}"), val);
        }
    }
    for (k, val) in &v.data {
        let top = top_level(k);
        if top == "TagSpecification" || given.contains(top) {
            continue;
        }
        merged.insert(k.clone(), val.clone());
    }
    if template_has_interfaces && !given.contains("NetworkInterface") {
        let primary = merged
            .iter()
            .find(|(k, val)| k.starts_with("NetworkInterface.") && k.ends_with(".DeviceIndex") && val.as_str() == "0")
            .map(|(k, _)| k.trim_end_matches(".DeviceIndex").to_string());
        if let Some(prefix) = primary {
            if let Some(subnet) = merged.remove("SubnetId") {
                merged.insert(format!("{prefix}.SubnetId"), subnet);
            }
            let groups: Vec<(String, String)> = merged
                .iter()
                .filter(|(k, _)| top_level(k) == "SecurityGroupId")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !groups.is_empty() {
                merged.retain(|k, _| {
                    top_level(k) != "SecurityGroupId" && !k.starts_with(&format!("{prefix}.SecurityGroupId"))
                });
                for (k, val) in groups {
                    let n = k.split('.').nth(1).unwrap_or("1");
                    merged.insert(format!("{prefix}.SecurityGroupId.{n}"), val);
                }
            }
        }
    }
    Ok(Some((QueryParams::from_pairs(merged), t.id, v.number)))
}
