//! AWS Fault Injection Service (`restJson1`, API version 2020-12-01): experiment templates,
//! experiments that act on the region's resources through squall's fault engine, and the
//! catalogue of actions and target resource types squall runs. Wire types are generated from
//! botocore's model; the rules and the runner are the control plane's (`squall_control::fis`).

pub mod generated;

use std::collections::BTreeMap;

use squall_control::fis::{self as rules, ACTIONS, TARGET_TYPES};
use squall_control::model::fis::{
    Experiment as ControlExperiment, ExperimentTemplate as ControlTemplate, FisAction, FisError, FisStopCondition,
    FisTarget, TemplateSpec,
};
use squall_control::{ControlPlane, RegionName};
use squall_protocol::rest::{serve, RestRequest, RestService};
use squall_protocol::{ApiError, RequestContext, Timestamp, WireResponse};

use generated::*;

/// Answers one FIS request (`method`, `path`, the request's parts).
pub fn handle(
    control: &ControlPlane,
    ctx: &RequestContext,
    method: &str,
    path: &str,
    req: RestRequest,
) -> WireResponse {
    let service =
        RestService { name: "FIS", route: generated::route, decode: Request::decode, encode: Response::encode };
    serve(&service, method, path, req, &ctx.request_id, |request| dispatch(control, ctx, request))
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

/// FIS's tag rules on the tags a request brings (lengths, `aws:`, at most 50).
fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    squall_protocol::tags::FIS
        .check_all(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|p| validation(p.to_string()))
}

fn fis_error(e: FisError) -> ApiError {
    match e {
        FisError::Validation(m) => validation(m),
        FisError::NotFound(m) => ApiError::new(404, "ResourceNotFoundException", m),
        FisError::Conflict(m) => ApiError::new(409, "ConflictException", m),
    }
}

/// ARNs of this request's region and account.
struct Arns<'a> {
    region: &'a str,
    account: &'a str,
}

impl Arns<'_> {
    fn template(&self, id: &str) -> String {
        format!("arn:aws:fis:{}:{}:experiment-template/{id}", self.region, self.account)
    }
    fn experiment(&self, id: &str) -> String {
        format!("arn:aws:fis:{}:{}:experiment/{id}", self.region, self.account)
    }
    fn action(&self, id: &str) -> String {
        format!("arn:aws:fis:{}::action/{id}", self.region)
    }
    /// The ARN of a resource a target resolved to.
    fn resource(&self, resource_type: &str, id: &str) -> String {
        match resource_type {
            "aws:ec2:instance" => format!("arn:aws:ec2:{}:{}:instance/{id}", self.region, self.account),
            "aws:ec2:ebs-volume" => format!("arn:aws:ec2:{}:{}:volume/{id}", self.region, self.account),
            "aws:ec2:subnet" => format!("arn:aws:ec2:{}:{}:subnet/{id}", self.region, self.account),
            "aws:rds:db" => format!("arn:aws:rds:{}:{}:db:{id}", self.region, self.account),
            _ => id.to_string(),
        }
    }
}

fn timestamp(ms: u64) -> Timestamp {
    Timestamp { epoch_millis: ms as i64 }
}

fn dispatch(control: &ControlPlane, ctx: &RequestContext, request: Request) -> Result<Response, ApiError> {
    let region = RegionName::parse(&ctx.region).map_err(|_| validation(format!("Invalid region {}", ctx.region)))?;
    let arns = Arns { region: &ctx.region, account: &ctx.account_id };
    Ok(match request {
        Request::CreateExperimentTemplate(r) => {
            let token = r.client_token.clone();
            let spec = create_spec(r)?;
            let t = control.create_experiment_template(&region, spec, Some(&token)).map_err(fis_error)?;
            Response::CreateExperimentTemplate(CreateExperimentTemplateResponse {
                experiment_template: Some(render_template(&t, &arns)),
            })
        }
        Request::GetExperimentTemplate(r) => {
            let t = control.experiment_template(&region, &r.id).map_err(fis_error)?;
            Response::GetExperimentTemplate(GetExperimentTemplateResponse {
                experiment_template: Some(render_template(&t, &arns)),
            })
        }
        Request::ListExperimentTemplates(r) => {
            let all = control.experiment_templates(&region);
            let (page, next_token) = paginate(all, r.max_results, r.next_token.as_deref(), |t| t.id.clone())?;
            Response::ListExperimentTemplates(ListExperimentTemplatesResponse {
                experiment_templates: Some(
                    page.iter()
                        .map(|t| ExperimentTemplateSummary {
                            id: Some(t.id.clone()),
                            arn: Some(arns.template(&t.id)),
                            description: Some(t.spec.description.clone()),
                            creation_time: Some(timestamp(t.created_ms)),
                            last_update_time: Some(timestamp(t.updated_ms)),
                            tags: Some(t.spec.tags.clone()),
                        })
                        .collect(),
                ),
                next_token,
            })
        }
        Request::UpdateExperimentTemplate(r) => {
            let id = r.id.clone();
            let change = update_change(r)?;
            let t = control.update_experiment_template(&region, &id, change).map_err(fis_error)?;
            Response::UpdateExperimentTemplate(UpdateExperimentTemplateResponse {
                experiment_template: Some(render_template(&t, &arns)),
            })
        }
        Request::DeleteExperimentTemplate(r) => {
            let t = control.delete_experiment_template(&region, &r.id).map_err(fis_error)?;
            Response::DeleteExperimentTemplate(DeleteExperimentTemplateResponse {
                experiment_template: Some(render_template(&t, &arns)),
            })
        }
        Request::StartExperiment(r) => {
            let skip =
                r.experiment_options.as_ref().and_then(|o| o.actions_mode.as_ref()) == Some(&ActionsMode::SkipAll);
            let tags = r.tags.unwrap_or_default();
            check_tags(&tags)?;
            let e = control
                .start_experiment(&region, &r.experiment_template_id, tags, skip, Some(&r.client_token))
                .map_err(fis_error)?;
            Response::StartExperiment(StartExperimentResponse { experiment: Some(render_experiment(&e, &arns)) })
        }
        Request::GetExperiment(r) => {
            let e = control.experiment(&region, &r.id).map_err(fis_error)?;
            Response::GetExperiment(GetExperimentResponse { experiment: Some(render_experiment(&e, &arns)) })
        }
        Request::ListExperiments(r) => {
            let all: Vec<ControlExperiment> = control
                .experiments(Some(&region))
                .into_iter()
                .filter(|e| r.experiment_template_id.as_ref().is_none_or(|t| *t == e.template_id))
                .collect();
            let (page, next_token) = paginate(all, r.max_results, r.next_token.as_deref(), |e| e.id.clone())?;
            Response::ListExperiments(ListExperimentsResponse {
                experiments: Some(
                    page.iter()
                        .map(|e| ExperimentSummary {
                            id: Some(e.id.clone()),
                            arn: Some(arns.experiment(&e.id)),
                            experiment_template_id: Some(e.template_id.clone()),
                            state: Some(experiment_state(e)),
                            creation_time: Some(timestamp(e.created_ms)),
                            tags: Some(e.tags.clone()),
                            experiment_options: Some(experiment_options(e)),
                        })
                        .collect(),
                ),
                next_token,
            })
        }
        Request::StopExperiment(r) => {
            let e = control.stop_experiment(&region, &r.id).map_err(fis_error)?;
            Response::StopExperiment(StopExperimentResponse { experiment: Some(render_experiment(&e, &arns)) })
        }
        Request::ListExperimentResolvedTargets(r) => {
            let e = control.experiment(&region, &r.experiment_id).map_err(fis_error)?;
            if let Some(name) = &r.target_name {
                if !e.template.targets.contains_key(name) {
                    return Err(validation(format!("Target {name} is not a target of experiment {}", e.id)));
                }
            }
            let mut all = Vec::new();
            for (name, ids) in &e.resolved {
                if r.target_name.as_ref().is_some_and(|n| n != name) {
                    continue;
                }
                let resource_type = e.template.targets.get(name).map(|t| t.resource_type.clone()).unwrap_or_default();
                for id in ids {
                    all.push(ResolvedTarget {
                        resource_type: Some(resource_type.clone()),
                        target_name: Some(name.clone()),
                        target_information: Some(BTreeMap::from([(
                            "identifier".to_string(),
                            arns.resource(&resource_type, id),
                        )])),
                    });
                }
            }
            let (page, next_token) = paginate(all, r.max_results, r.next_token.as_deref(), |t| {
                format!("{:?}{:?}", t.target_name, t.target_information)
            })?;
            Response::ListExperimentResolvedTargets(ListExperimentResolvedTargetsResponse {
                resolved_targets: Some(page),
                next_token,
            })
        }
        Request::ListActions(r) => {
            let all: Vec<&rules::ActionInfo> = ACTIONS.iter().collect();
            let (page, next_token) = paginate(all, r.max_results, r.next_token.as_deref(), |a| a.id.to_string())?;
            Response::ListActions(ListActionsResponse {
                actions: Some(
                    page.iter()
                        .map(|a| ActionSummary {
                            id: Some(a.id.into()),
                            arn: Some(arns.action(a.id)),
                            description: Some(a.description.into()),
                            targets: Some(action_targets(a)),
                            tags: Some(BTreeMap::new()),
                        })
                        .collect(),
                ),
                next_token,
            })
        }
        Request::GetAction(r) => {
            let a = rules::action_info(&r.id).ok_or_else(|| {
                ApiError::new(404, "ResourceNotFoundException", format!("Action {} not found.", r.id))
            })?;
            Response::GetAction(GetActionResponse {
                action: Some(Action {
                    id: Some(a.id.into()),
                    arn: Some(arns.action(a.id)),
                    description: Some(a.description.into()),
                    parameters: Some(
                        a.parameters
                            .iter()
                            .map(|p| {
                                let param = ActionParameter {
                                    description: Some(p.description.into()),
                                    required: Some(p.required),
                                };
                                (p.name.to_string(), param)
                            })
                            .collect(),
                    ),
                    targets: Some(action_targets(a)),
                    tags: Some(BTreeMap::new()),
                }),
            })
        }
        Request::ListTargetResourceTypes(r) => {
            let all: Vec<&rules::TargetTypeInfo> = TARGET_TYPES.iter().collect();
            let (page, next_token) =
                paginate(all, r.max_results, r.next_token.as_deref(), |t| t.resource_type.to_string())?;
            Response::ListTargetResourceTypes(ListTargetResourceTypesResponse {
                target_resource_types: Some(
                    page.iter()
                        .map(|t| TargetResourceTypeSummary {
                            resource_type: Some(t.resource_type.into()),
                            description: Some(t.description.into()),
                        })
                        .collect(),
                ),
                next_token,
            })
        }
        Request::GetTargetResourceType(r) => {
            let t = rules::target_type_info(&r.resource_type).ok_or_else(|| {
                ApiError::new(
                    404,
                    "ResourceNotFoundException",
                    format!("Target resource type {} not found.", r.resource_type),
                )
            })?;
            Response::GetTargetResourceType(GetTargetResourceTypeResponse {
                target_resource_type: Some(TargetResourceType {
                    resource_type: Some(t.resource_type.into()),
                    description: Some(t.description.into()),
                    parameters: Some(
                        t.parameters
                            .iter()
                            .map(|(name, description)| {
                                let p = TargetResourceTypeParameter {
                                    description: Some((*description).into()),
                                    required: Some(false),
                                };
                                (name.to_string(), p)
                            })
                            .collect(),
                    ),
                }),
            })
        }
        Request::TagResource(r) => {
            let id = fis_resource_id(&r.resource_arn)?;
            check_tags(&r.tags)?;
            control.change_fis_tags(&region, &id, &r.tags, &[]).map_err(fis_error)?;
            Response::TagResource(TagResourceResponse {})
        }
        Request::UntagResource(r) => {
            let id = fis_resource_id(&r.resource_arn)?;
            control
                .change_fis_tags(&region, &id, &BTreeMap::new(), &r.tag_keys.unwrap_or_default())
                .map_err(fis_error)?;
            Response::UntagResource(UntagResourceResponse {})
        }
        Request::ListTagsForResource(r) => {
            let id = fis_resource_id(&r.resource_arn)?;
            let tags = control.change_fis_tags(&region, &id, &BTreeMap::new(), &[]).map_err(fis_error)?;
            Response::ListTagsForResource(ListTagsForResourceResponse { tags: Some(tags) })
        }
    })
}

/// The template or experiment id an FIS ARN names.
fn fis_resource_id(arn: &str) -> Result<String, ApiError> {
    let id = arn
        .strip_prefix("arn:aws:fis:")
        .and_then(|rest| rest.rsplit_once('/'))
        .filter(|(kind, _)| kind.ends_with(":experiment-template") || kind.ends_with(":experiment"))
        .map(|(_, id)| id.to_string());
    id.ok_or_else(|| validation(format!("{arn} is not the ARN of an experiment template or an experiment")))
}

/// A page of `items` in their order, after the item whose key is `token`.
fn paginate<T>(
    items: Vec<T>,
    max_results: Option<i32>,
    token: Option<&str>,
    key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = match max_results {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => return Err(validation(format!("maxResults {n} must be between 1 and 100"))),
    };
    let start = match token {
        None => 0,
        Some(t) => {
            items.iter().position(|i| key(i) == t).map(|p| p + 1).ok_or_else(|| validation("Invalid nextToken"))?
        }
    };
    let mut page: Vec<T> = items.into_iter().skip(start).collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more { page.last().map(&key) } else { None };
    Ok((page, next))
}

fn action_targets(a: &rules::ActionInfo) -> BTreeMap<String, ActionTarget> {
    a.target
        .iter()
        .map(|(key, resource_type)| (key.to_string(), ActionTarget { resource_type: Some(resource_type.to_string()) }))
        .collect()
}

fn filters_of(filters: Option<Vec<ExperimentTemplateTargetInputFilter>>) -> Vec<(String, Vec<String>)> {
    filters.unwrap_or_default().into_iter().map(|f| (f.path, f.values)).collect()
}

/// A template target from CreateExperimentTemplate's or UpdateExperimentTemplate's input (two
/// shapes of the model with the same members).
macro_rules! target_of {
    ($t:expr) => {{
        let t = $t;
        FisTarget {
            resource_type: t.resource_type,
            resource_arns: t.resource_arns.unwrap_or_default(),
            resource_tags: t.resource_tags.unwrap_or_default(),
            filters: filters_of(t.filters),
            selection_mode: t.selection_mode,
            parameters: t.parameters.unwrap_or_default(),
        }
    }};
}

fn create_spec(r: CreateExperimentTemplateRequest) -> Result<TemplateSpec, ApiError> {
    if r.experiment_report_configuration.is_some() {
        return Err(validation("squall writes no experiment reports: leave experimentReportConfiguration out"));
    }
    let options = r.experiment_options.unwrap_or_default();
    let tags = r.tags.unwrap_or_default();
    check_tags(&tags)?;
    Ok(TemplateSpec {
        description: r.description,
        targets: r.targets.unwrap_or_default().into_iter().map(|(name, t)| (name, target_of!(t))).collect(),
        actions: r
            .actions
            .into_iter()
            .map(|(name, a)| {
                let action = FisAction {
                    action_id: a.action_id,
                    description: a.description,
                    parameters: a.parameters.unwrap_or_default(),
                    targets: a.targets.unwrap_or_default(),
                    start_after: a.start_after.unwrap_or_default(),
                };
                (name, action)
            })
            .collect(),
        stop_conditions: r
            .stop_conditions
            .into_iter()
            .map(|c| FisStopCondition { source: c.source, value: c.value })
            .collect(),
        role_arn: r.role_arn,
        tags,
        empty_target_resolution: options
            .empty_target_resolution_mode
            .map_or_else(|| "fail".to_string(), |m| m.as_str().to_string()),
        account_targeting: options.account_targeting.map_or_else(|| "single-account".into(), |a| a.as_str().into()),
        log_configuration: r.log_configuration.map(|l| format!("{l:?}")),
    })
}

type Change = Box<dyn FnOnce(&mut TemplateSpec)>;

/// UpdateExperimentTemplate: what it names replaces the template's; an action or target named
/// again keeps what the update leaves out.
fn update_change(r: UpdateExperimentTemplateRequest) -> Result<Change, ApiError> {
    if r.experiment_report_configuration.is_some() {
        return Err(validation("squall writes no experiment reports: leave experimentReportConfiguration out"));
    }
    Ok(Box::new(move |spec: &mut TemplateSpec| {
        if let Some(d) = r.description {
            spec.description = d;
        }
        if let Some(role) = r.role_arn {
            spec.role_arn = role;
        }
        if let Some(conditions) = r.stop_conditions {
            spec.stop_conditions =
                conditions.into_iter().map(|c| FisStopCondition { source: c.source, value: c.value }).collect();
        }
        if let Some(targets) = r.targets {
            spec.targets = targets.into_iter().map(|(name, t)| (name, target_of!(t))).collect();
        }
        if let Some(actions) = r.actions {
            let old = std::mem::take(&mut spec.actions);
            spec.actions = actions
                .into_iter()
                .map(|(name, a)| {
                    let before = old.get(&name).cloned().unwrap_or_default();
                    let action = FisAction {
                        action_id: a.action_id.unwrap_or(before.action_id),
                        description: a.description.or(before.description),
                        parameters: a.parameters.unwrap_or(before.parameters),
                        targets: a.targets.unwrap_or(before.targets),
                        start_after: a.start_after.unwrap_or(before.start_after),
                    };
                    (name, action)
                })
                .collect();
        }
        if let Some(mode) = r.experiment_options.and_then(|o| o.empty_target_resolution_mode) {
            spec.empty_target_resolution = mode.as_str().to_string();
        }
        if let Some(l) = r.log_configuration {
            spec.log_configuration = Some(format!("{l:?}"));
        }
    }))
}

fn render_target(t: &FisTarget) -> ExperimentTemplateTarget {
    ExperimentTemplateTarget {
        resource_type: Some(t.resource_type.clone()),
        resource_arns: (!t.resource_arns.is_empty()).then(|| t.resource_arns.clone()),
        resource_tags: (!t.resource_tags.is_empty()).then(|| t.resource_tags.clone()),
        filters: (!t.filters.is_empty()).then(|| {
            t.filters
                .iter()
                .map(|(path, values)| ExperimentTemplateTargetFilter {
                    path: Some(path.clone()),
                    values: Some(values.clone()),
                })
                .collect()
        }),
        selection_mode: Some(t.selection_mode.clone()),
        parameters: (!t.parameters.is_empty()).then(|| t.parameters.clone()),
    }
}

fn render_template(t: &ControlTemplate, arns: &Arns<'_>) -> ExperimentTemplate {
    let spec = &t.spec;
    ExperimentTemplate {
        id: Some(t.id.clone()),
        arn: Some(arns.template(&t.id)),
        description: Some(spec.description.clone()),
        targets: Some(spec.targets.iter().map(|(n, target)| (n.clone(), render_target(target))).collect()),
        actions: Some(
            spec.actions
                .iter()
                .map(|(n, a)| {
                    let action = ExperimentTemplateAction {
                        action_id: Some(a.action_id.clone()),
                        description: a.description.clone(),
                        parameters: Some(a.parameters.clone()),
                        targets: Some(a.targets.clone()),
                        start_after: (!a.start_after.is_empty()).then(|| a.start_after.clone()),
                    };
                    (n.clone(), action)
                })
                .collect(),
        ),
        stop_conditions: Some(
            spec.stop_conditions
                .iter()
                .map(|c| ExperimentTemplateStopCondition { source: Some(c.source.clone()), value: c.value.clone() })
                .collect(),
        ),
        creation_time: Some(timestamp(t.created_ms)),
        last_update_time: Some(timestamp(t.updated_ms)),
        role_arn: Some(spec.role_arn.clone()),
        tags: Some(spec.tags.clone()),
        experiment_options: Some(ExperimentTemplateExperimentOptions {
            account_targeting: AccountTargeting::from_wire(&spec.account_targeting),
            empty_target_resolution_mode: EmptyTargetResolutionMode::from_wire(&spec.empty_target_resolution),
        }),
        target_account_configurations_count: Some(0),
        ..Default::default()
    }
}

fn experiment_state(e: &ControlExperiment) -> ExperimentState {
    ExperimentState {
        status: ExperimentStatus::from_wire(e.status.as_str()),
        reason: Some(e.reason.clone()),
        error: None,
    }
}

fn experiment_options(e: &ControlExperiment) -> ExperimentOptions {
    ExperimentOptions {
        account_targeting: AccountTargeting::from_wire(&e.template.account_targeting),
        empty_target_resolution_mode: EmptyTargetResolutionMode::from_wire(&e.template.empty_target_resolution),
        actions_mode: Some(if e.skip_actions { ActionsMode::SkipAll } else { ActionsMode::RunAll }),
    }
}

fn render_experiment(e: &ControlExperiment, arns: &Arns<'_>) -> Experiment {
    Experiment {
        id: Some(e.id.clone()),
        arn: Some(arns.experiment(&e.id)),
        experiment_template_id: Some(e.template_id.clone()),
        role_arn: Some(e.template.role_arn.clone()),
        state: Some(experiment_state(e)),
        targets: Some(
            e.template
                .targets
                .iter()
                .map(|(n, t)| {
                    let target = ExperimentTarget {
                        resource_type: Some(t.resource_type.clone()),
                        resource_arns: (!t.resource_arns.is_empty()).then(|| t.resource_arns.clone()),
                        resource_tags: (!t.resource_tags.is_empty()).then(|| t.resource_tags.clone()),
                        filters: (!t.filters.is_empty()).then(|| {
                            t.filters
                                .iter()
                                .map(|(path, values)| ExperimentTargetFilter {
                                    path: Some(path.clone()),
                                    values: Some(values.clone()),
                                })
                                .collect()
                        }),
                        selection_mode: Some(t.selection_mode.clone()),
                        parameters: (!t.parameters.is_empty()).then(|| t.parameters.clone()),
                    };
                    (n.clone(), target)
                })
                .collect(),
        ),
        actions: Some(
            e.actions
                .iter()
                .map(|(n, run)| {
                    let action = ExperimentAction {
                        action_id: Some(run.spec.action_id.clone()),
                        description: run.spec.description.clone(),
                        parameters: Some(run.spec.parameters.clone()),
                        targets: Some(run.spec.targets.clone()),
                        start_after: (!run.spec.start_after.is_empty()).then(|| run.spec.start_after.clone()),
                        state: Some(ExperimentActionState {
                            status: ExperimentActionStatus::from_wire(run.status.as_str()),
                            reason: Some(run.reason.clone()),
                        }),
                        start_time: run.start_ms.map(timestamp),
                        end_time: run.end_ms.map(timestamp),
                    };
                    (n.clone(), action)
                })
                .collect(),
        ),
        stop_conditions: Some(
            e.template
                .stop_conditions
                .iter()
                .map(|c| ExperimentStopCondition { source: Some(c.source.clone()), value: c.value.clone() })
                .collect(),
        ),
        creation_time: Some(timestamp(e.created_ms)),
        start_time: e.start_ms.map(timestamp),
        end_time: e.end_ms.map(timestamp),
        tags: Some(e.tags.clone()),
        experiment_options: Some(experiment_options(e)),
        target_account_configurations_count: Some(0),
        ..Default::default()
    }
}
