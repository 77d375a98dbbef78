//! AWS Fault Injection Service on squall's fault engine: templates are checked as FIS checks
//! them, experiments resolve their targets among the region's resources and run their actions
//! through the same rules and calls as `/_squall/faults` and the EC2 and RDS APIs — an
//! experiment's effects are what a direct fault's are.
//!
//! Experiments advance on the control plane's background tick (and before each FIS request):
//! an action starts when every action it starts after has completed, ends by itself after its
//! duration (undoing what it did: a fault rule removed, stopped instances started), and
//! StopExperiment undoes what is still in force.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::faults::FaultKind;
use crate::ids::{AzName, InstanceId, RegionName, VolumeId};
use crate::model::fis::{
    ActionRun, ActionStatus, Experiment, ExperimentStatus, ExperimentTemplate, FisError, FisTarget, TemplateSpec, Undo,
};
use crate::model::instance::InstanceState;
use crate::{ControlPlane, Region};

/// One parameter of an action, as GetAction describes it.
#[derive(Debug, Clone, Copy)]
pub struct ParamInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub kind: ParamKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An ISO 8601 duration within (min, max) milliseconds.
    Duration(u64, u64),
    Bool,
    /// An integer percentage, 1–100.
    Percentage,
    Text,
}

/// An action squall runs, as ListActions and GetAction describe it.
#[derive(Debug, Clone, Copy)]
pub struct ActionInfo {
    pub id: &'static str,
    pub description: &'static str,
    /// (target key, resource type) of the resources it acts on.
    pub target: Option<(&'static str, &'static str)>,
    pub parameters: &'static [ParamInfo],
}

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const TWELVE_HOURS: u64 = 12 * 60 * MINUTE;

const fn duration(name: &'static str, description: &'static str, required: bool, min: u64) -> ParamInfo {
    ParamInfo { name, description, required, kind: ParamKind::Duration(min, TWELVE_HOURS) }
}

const API_ERROR_PARAMS: &[ParamInfo] = &[
    duration("duration", "How long the errors are injected, PT1M to PT12H.", true, MINUTE),
    ParamInfo {
        name: "service",
        description: "The service whose API fails: ec2 or rds.",
        required: true,
        kind: ParamKind::Text,
    },
    ParamInfo {
        name: "operations",
        description: "Comma-separated API operations that fail (all when absent).",
        required: false,
        kind: ParamKind::Text,
    },
    ParamInfo {
        name: "percentage",
        description: "Percentage of matching requests that fail, 1-100.",
        required: true,
        kind: ParamKind::Percentage,
    },
];

/// The actions squall runs.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        id: "aws:ebs:pause-volume-io",
        description:
            "Pauses I/O on the target EBS volumes: reads and writes (NBD included) wait until the action ends.",
        target: Some(("Volumes", "aws:ec2:ebs-volume")),
        parameters: &[duration("duration", "How long I/O stays paused, PT1S to PT12H.", true, SECOND)],
    },
    ActionInfo {
        id: "aws:ec2:stop-instances",
        description:
            "Stops the target EC2 instances, and starts them again after startInstancesAfterDuration if given.",
        target: Some(("Instances", "aws:ec2:instance")),
        parameters: &[
            duration("startInstancesAfterDuration", "When to start the instances again, PT1M to PT12H.", false, MINUTE),
            ParamInfo {
                name: "completeIfInstancesTerminated",
                description: "Complete (rather than fail) if the instances were terminated meanwhile.",
                required: false,
                kind: ParamKind::Bool,
            },
        ],
    },
    ActionInfo {
        id: "aws:ec2:reboot-instances",
        description: "Reboots the target EC2 instances.",
        target: Some(("Instances", "aws:ec2:instance")),
        parameters: &[],
    },
    ActionInfo {
        id: "aws:ec2:terminate-instances",
        description: "Terminates the target EC2 instances.",
        target: Some(("Instances", "aws:ec2:instance")),
        parameters: &[],
    },
    ActionInfo {
        id: "aws:ec2:api-insufficient-instance-capacity-error",
        description: "RunInstances and StartInstances in the given zones answer InsufficientInstanceCapacity.",
        target: Some(("Roles", "aws:iam:role")),
        parameters: &[
            duration("duration", "How long the errors are injected, PT1M to PT12H.", true, MINUTE),
            ParamInfo {
                name: "availabilityZoneIdentifiers",
                description: "Comma-separated zone names or ids.",
                required: true,
                kind: ParamKind::Text,
            },
            ParamInfo {
                name: "percentage",
                description: "Percentage of matching requests that fail, 1-100.",
                required: true,
                kind: ParamKind::Percentage,
            },
        ],
    },
    ActionInfo {
        id: "aws:fis:inject-api-internal-error",
        description: "Matching API requests answer an internal error (HTTP 500).",
        target: Some(("Roles", "aws:iam:role")),
        parameters: API_ERROR_PARAMS,
    },
    ActionInfo {
        id: "aws:fis:inject-api-throttle-error",
        description: "Matching API requests are throttled.",
        target: Some(("Roles", "aws:iam:role")),
        parameters: API_ERROR_PARAMS,
    },
    ActionInfo {
        id: "aws:fis:inject-api-unavailable-error",
        description: "Matching API requests answer service unavailable (HTTP 503).",
        target: Some(("Roles", "aws:iam:role")),
        parameters: API_ERROR_PARAMS,
    },
    ActionInfo {
        id: "aws:network:disrupt-connectivity",
        description: "Cuts the target subnets' zones off their storage network: volumes there stop answering, \
                      DB instances whose storage is there fail over (Multi-AZ) or wait.",
        target: Some(("Subnets", "aws:ec2:subnet")),
        parameters: &[
            duration("duration", "How long connectivity is disrupted, PT1M to PT12H.", true, MINUTE),
            ParamInfo {
                name: "scope",
                description:
                    "all (the default) or availability-zone: squall cuts the zone's storage network either way.",
                required: false,
                kind: ParamKind::Text,
            },
        ],
    },
    ActionInfo {
        id: "aws:rds:reboot-db-instances",
        description: "Reboots the target DB instances; with forceFailover=true a Multi-AZ instance fails over.",
        target: Some(("DBInstances", "aws:rds:db")),
        parameters: &[ParamInfo {
            name: "forceFailover",
            description: "Fail Multi-AZ instances over to their standby (default false).",
            required: false,
            kind: ParamKind::Bool,
        }],
    },
    ActionInfo {
        id: "aws:fis:wait",
        description: "Waits for the duration (for ordering other actions with startAfter).",
        target: None,
        parameters: &[duration("duration", "How long to wait, PT1S to PT12H.", true, SECOND)],
    },
];

/// A resource type targets may name, as GetTargetResourceType describes it.
#[derive(Debug, Clone, Copy)]
pub struct TargetTypeInfo {
    pub resource_type: &'static str,
    pub description: &'static str,
    /// Target parameters, and the filter paths squall evaluates.
    pub parameters: &'static [(&'static str, &'static str)],
    pub filters: &'static [&'static str],
}

pub const TARGET_TYPES: &[TargetTypeInfo] = &[
    TargetTypeInfo {
        resource_type: "aws:ec2:ebs-volume",
        description: "An EBS volume.",
        parameters: &[("availabilityZoneIdentifier", "The zone (name or id) of the volumes.")],
        filters: &[
            "AvailabilityZone",
            "State",
            "VolumeType",
            "Attachments.DeleteOnTermination",
            "Attachments.InstanceId",
        ],
    },
    TargetTypeInfo {
        resource_type: "aws:ec2:instance",
        description: "An EC2 instance.",
        parameters: &[],
        filters: &["Placement.AvailabilityZone", "State.Name", "InstanceType", "SubnetId", "VpcId"],
    },
    TargetTypeInfo {
        resource_type: "aws:ec2:subnet",
        description: "A VPC subnet.",
        parameters: &[
            ("availabilityZoneIdentifier", "The zone (name or id) of the subnets."),
            ("vpc", "The VPC of the subnets."),
        ],
        filters: &["AvailabilityZone", "VpcId", "DefaultForAz"],
    },
    TargetTypeInfo {
        resource_type: "aws:rds:db",
        description: "An RDS DB instance.",
        parameters: &[("availabilityZoneIdentifiers", "Comma-separated zones (names or ids) of the primaries.")],
        filters: &["Engine", "DBInstanceStatus", "MultiAZ"],
    },
    TargetTypeInfo {
        resource_type: "aws:iam:role",
        description: "An IAM role (the API-error actions' target: named by ARN).",
        parameters: &[],
        filters: &[],
    },
];

pub fn action_info(id: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.id == id)
}

pub fn target_type_info(resource_type: &str) -> Option<&'static TargetTypeInfo> {
    TARGET_TYPES.iter().find(|t| t.resource_type == resource_type)
}

/// Milliseconds of an ISO 8601 duration (`PT2M`, `PT1H30M`, `PT0.5S`, `P1D`).
pub fn parse_duration(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut any = false;
    if !days.is_empty() {
        total += days.strip_suffix('D')?.parse::<f64>().ok()? * 86_400_000.0;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, ms) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)] {
            if let Some(at) = t.find(unit) {
                let n: f64 = t[..at].parse().ok()?;
                if n < 0.0 {
                    return None;
                }
                total += n * ms;
                t = &t[at + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    (any && total.is_finite()).then_some(total.round() as u64)
}

/// squall's stop condition (an extension: squall has no CloudWatch alarms): the experiment stops
/// when more volumes of its region's block store are stuck than the condition's value says.
pub const STUCK_VOLUMES: &str = "squall:stuck-volumes";

/// The number a stop condition's value names (`more than 2 stuck volumes`): the SDKs want at
/// least 20 characters there, as for an alarm's ARN.
fn stuck_volume_limit(value: &str) -> Option<u32> {
    let mut numbers = value.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty());
    let n = numbers.next()?.parse().ok()?;
    numbers.next().is_none().then_some(n)
}

fn validation(message: impl Into<String>) -> FisError {
    FisError::Validation(message.into())
}

/// `ALL`, `COUNT(n)`, `PERCENT(n)` → how many of `found` to take.
fn selection_count(mode: &str, found: usize) -> Option<usize> {
    if mode == "ALL" {
        return Some(found);
    }
    let number = |prefix: &str| mode.strip_prefix(prefix)?.strip_suffix(')')?.parse::<u64>().ok();
    if let Some(n) = number("COUNT(") {
        return (n > 0).then(|| found.min(n as usize));
    }
    if let Some(p) = number("PERCENT(") {
        // At least one of what was found, as FIS picks "at least one target" for a positive percentage.
        return (1..=100).contains(&p).then(|| ((found as u64 * p) / 100).max(u64::from(found > 0)) as usize);
    }
    None
}

/// Checks a template as FIS does; every problem is named.
pub fn validate_template(spec: &TemplateSpec) -> Result<(), FisError> {
    if spec.description.len() > 512 {
        return Err(validation("description must be at most 512 characters"));
    }
    if !spec.role_arn.starts_with("arn:aws:iam::") || !spec.role_arn.contains(":role/") {
        return Err(validation(format!("roleArn {} is not the ARN of an IAM role", spec.role_arn)));
    }
    if spec.actions.is_empty() {
        return Err(validation("The template must have at least one action"));
    }
    if spec.stop_conditions.is_empty() {
        return Err(validation("stopConditions must have at least one entry (source none for no stop condition)"));
    }
    for c in &spec.stop_conditions {
        match c.source.as_str() {
            "none" => {}
            STUCK_VOLUMES => {
                if c.value.as_deref().and_then(stuck_volume_limit).is_none() {
                    return Err(validation(format!(
                        "Stop condition {STUCK_VOLUMES} needs a value naming the number of stuck volumes beyond which \
                         the experiment stops, such as \"more than 2 stuck volumes\""
                    )));
                }
            }
            "aws:cloudwatch:alarm" => {
                return Err(validation(format!(
                    "Stop condition source aws:cloudwatch:alarm is not supported: squall has no CloudWatch alarms \
                     (use source none, or squall's {STUCK_VOLUMES})"
                )))
            }
            other => return Err(validation(format!("Invalid stop condition source: {other}"))),
        }
    }
    if !matches!(spec.empty_target_resolution.as_str(), "" | "fail" | "skip") {
        return Err(validation("experimentOptions.emptyTargetResolutionMode must be fail or skip"));
    }
    for (name, t) in &spec.targets {
        let info = target_type_info(&t.resource_type)
            .ok_or_else(|| validation(format!("Target {name}: resource type {} is not supported", t.resource_type)))?;
        if selection_count(&t.selection_mode, 0).is_none() {
            return Err(validation(format!(
                "Target {name}: selectionMode {} is not valid (ALL, COUNT(n) or PERCENT(n))",
                t.selection_mode
            )));
        }
        if !t.resource_arns.is_empty() && !t.resource_tags.is_empty() {
            return Err(validation(format!("Target {name}: resourceArns and resourceTags cannot both be given")));
        }
        if t.resource_arns.is_empty() && t.resource_tags.is_empty() && t.parameters.is_empty() {
            return Err(validation(format!("Target {name}: give resourceArns, resourceTags or parameters")));
        }
        if t.resource_arns.len() > 5 {
            return Err(validation(format!("Target {name}: at most 5 resourceArns")));
        }
        for (path, _) in &t.filters {
            if !info.filters.contains(&path.as_str()) {
                return Err(validation(format!(
                    "Target {name}: filter path {path} is not supported for {} (supported: {})",
                    t.resource_type,
                    info.filters.join(", ")
                )));
            }
        }
        for key in t.parameters.keys() {
            if !info.parameters.iter().any(|(p, _)| p == key) {
                return Err(validation(format!("Target {name}: unknown parameter {key} for {}", t.resource_type)));
            }
        }
    }
    for (name, a) in &spec.actions {
        let info = action_info(&a.action_id)
            .ok_or_else(|| validation(format!("Action {name}: unknown action ID {}", a.action_id)))?;
        for p in info.parameters {
            let Some(value) = a.parameters.get(p.name) else {
                if p.required {
                    return Err(validation(format!("Action {name}: parameter {} is required", p.name)));
                }
                continue;
            };
            let ok = match p.kind {
                ParamKind::Duration(min, max) => parse_duration(value).is_some_and(|d| d >= min && d <= max),
                ParamKind::Bool => matches!(value.as_str(), "true" | "false"),
                ParamKind::Percentage => value.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)),
                ParamKind::Text => !value.is_empty(),
            };
            if !ok {
                let expected = match p.kind {
                    ParamKind::Duration(min, _) if min >= MINUTE => "an ISO 8601 duration from PT1M to PT12H",
                    ParamKind::Duration(..) => "an ISO 8601 duration from PT1S to PT12H",
                    ParamKind::Bool => "true or false",
                    ParamKind::Percentage => "an integer from 1 to 100",
                    ParamKind::Text => "a value",
                };
                return Err(validation(format!(
                    "Action {name}: parameter {} is {value:?}, which is not {expected}",
                    p.name
                )));
            }
        }
        if let Some(unknown) = a.parameters.keys().find(|k| !info.parameters.iter().any(|p| p.name == k.as_str())) {
            return Err(validation(format!("Action {name}: unknown parameter {unknown} for {}", a.action_id)));
        }
        if a.action_id == "aws:network:disrupt-connectivity" {
            let scope = a.parameters.get("scope").map_or("all", String::as_str);
            if !matches!(scope, "all" | "availability-zone") {
                return Err(validation(format!(
                    "Action {name}: scope {scope} is not supported by squall (all or availability-zone)"
                )));
            }
        }
        if a.action_id.starts_with("aws:fis:inject-api-") {
            let service = a.parameters.get("service").map_or("", String::as_str);
            if !matches!(service, "ec2" | "rds") {
                return Err(validation(format!("Action {name}: service {service} is not supported (ec2 or rds)")));
            }
        }
        match info.target {
            None => {
                if !a.targets.is_empty() {
                    return Err(validation(format!("Action {name}: {} takes no targets", a.action_id)));
                }
            }
            Some((key, resource_type)) => {
                let Some(target) = a.targets.get(key) else {
                    return Err(validation(format!("Action {name}: target {key} is required for {}", a.action_id)));
                };
                if let Some(other) = a.targets.keys().find(|k| *k != key) {
                    return Err(validation(format!("Action {name}: unknown target key {other} (expected {key})")));
                }
                let t = spec.targets.get(target).ok_or_else(|| {
                    validation(format!("Action {name}: target {target} is not defined in the template's targets"))
                })?;
                if t.resource_type != resource_type {
                    return Err(validation(format!(
                        "Action {name}: target {target} has resource type {}, but {} acts on {resource_type}",
                        t.resource_type, a.action_id
                    )));
                }
            }
        }
        for after in &a.start_after {
            if !spec.actions.contains_key(after) {
                return Err(validation(format!("Action {name}: startAfter names {after}, which is not an action")));
            }
        }
    }
    // startAfter must not loop.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < spec.actions.len() {
        let ready: Vec<&str> = spec
            .actions
            .iter()
            .filter(|(n, a)| !done.contains(n.as_str()) && a.start_after.iter().all(|x| done.contains(x.as_str())))
            .map(|(n, _)| n.as_str())
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = spec.actions.keys().map(String::as_str).filter(|n| !done.contains(n)).collect();
            return Err(validation(format!("The startAfter of actions {} form a cycle", stuck.join(", "))));
        }
        done.extend(ready);
    }
    if let Some(unused) =
        spec.targets.keys().find(|t| !spec.actions.values().any(|a| a.targets.values().any(|v| v == *t)))
    {
        return Err(validation(format!("Target {unused} is not used by any action")));
    }
    Ok(())
}

/// Templates and experiments of every region, with their own seeded randomness.
#[derive(Debug)]
pub(crate) struct FisBook {
    templates: BTreeMap<String, ExperimentTemplate>,
    experiments: BTreeMap<String, Experiment>,
    /// clientToken → the template or experiment it made (idempotent retries).
    tokens: BTreeMap<String, String>,
    /// Instances an ended action must start again that were still stopping when it ended: started
    /// once stopped (each tick looks).
    to_start: Vec<(RegionName, Vec<InstanceId>)>,
    rng: StdRng,
}

impl FisBook {
    pub(crate) fn new(seed: u64) -> Mutex<Self> {
        Mutex::new(Self {
            templates: BTreeMap::new(),
            experiments: BTreeMap::new(),
            tokens: BTreeMap::new(),
            to_start: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xf15),
        })
    }

    fn new_id(&mut self, prefix: &str, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut id = prefix.to_string();
        for _ in 0..len {
            id.push(ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char);
        }
        id
    }
}

/// The id a resource ARN names: what follows the last `/` (or `:db:` for RDS); a role's ARN as is.
fn arn_resource(arn: &str) -> &str {
    if let Some((_, id)) = arn.split_once(":db:") {
        return id;
    }
    if arn.contains(":role/") {
        return arn;
    }
    arn.rsplit('/').next().unwrap_or(arn)
}

fn instance_state_name(s: InstanceState) -> &'static str {
    match s {
        InstanceState::Pending => "pending",
        InstanceState::Running => "running",
        InstanceState::ShuttingDown => "shutting-down",
        InstanceState::Terminated => "terminated",
        InstanceState::Stopping => "stopping",
        InstanceState::Stopped => "stopped",
    }
}

/// A candidate resource: its id, tags, and the values of the filter paths.
struct Candidate {
    id: String,
    tags: BTreeMap<String, String>,
    fields: BTreeMap<&'static str, Vec<String>>,
    zone: Option<(String, String)>,
}

impl ControlPlane {
    fn fis_lock(&self) -> MutexGuard<'_, FisBook> {
        self.fis.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// CreateExperimentTemplate.
    pub fn create_experiment_template(
        &self,
        region: &RegionName,
        spec: TemplateSpec,
        client_token: Option<&str>,
    ) -> Result<ExperimentTemplate, FisError> {
        validate_template(&spec)?;
        let now = self.now_ms();
        let mut book = self.fis_lock();
        if let Some(id) = client_token.and_then(|t| book.tokens.get(&format!("t/{region}/{t}"))).cloned() {
            if let Some(t) = book.templates.get(&id) {
                return Ok(t.clone());
            }
        }
        let id = book.new_id("EXT", 14);
        let template =
            ExperimentTemplate { id: id.clone(), region: region.clone(), spec, created_ms: now, updated_ms: now };
        book.templates.insert(id.clone(), template.clone());
        if let Some(t) = client_token {
            book.tokens.insert(format!("t/{region}/{t}"), id);
        }
        Ok(template)
    }

    pub fn experiment_template(&self, region: &RegionName, id: &str) -> Result<ExperimentTemplate, FisError> {
        self.fis_lock()
            .templates
            .get(id)
            .filter(|t| t.region == *region)
            .cloned()
            .ok_or_else(|| FisError::NotFound(format!("Experiment template {id} not found.")))
    }

    pub fn experiment_templates(&self, region: &RegionName) -> Vec<ExperimentTemplate> {
        self.fis_lock().templates.values().filter(|t| t.region == *region).cloned().collect()
    }

    /// UpdateExperimentTemplate: `change` edits a copy, which must pass the checks again.
    pub fn update_experiment_template(
        &self,
        region: &RegionName,
        id: &str,
        change: impl FnOnce(&mut TemplateSpec),
    ) -> Result<ExperimentTemplate, FisError> {
        let mut template = self.experiment_template(region, id)?;
        change(&mut template.spec);
        validate_template(&template.spec)?;
        template.updated_ms = self.now_ms();
        self.fis_lock().templates.insert(id.to_string(), template.clone());
        Ok(template)
    }

    pub fn delete_experiment_template(&self, region: &RegionName, id: &str) -> Result<ExperimentTemplate, FisError> {
        let template = self.experiment_template(region, id)?;
        self.fis_lock().templates.remove(id);
        Ok(template)
    }

    /// Tags of a template or an experiment (by id).
    pub fn change_fis_tags(
        &self,
        region: &RegionName,
        id: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<BTreeMap<String, String>, FisError> {
        let mut book = self.fis_lock();
        let tags = if let Some(t) = book.templates.get_mut(id).filter(|t| t.region == *region) {
            &mut t.spec.tags
        } else if let Some(e) = book.experiments.get_mut(id).filter(|e| e.region == *region) {
            &mut e.tags
        } else {
            return Err(FisError::NotFound(format!("Resource {id} not found.")));
        };
        let kept = tags.keys().filter(|k| !remove.contains(k) && !add.contains_key(*k)).count();
        if kept + add.len() > crate::tags::MAX_TAGS {
            // Refused whole: the resource keeps its tags.
            return Err(FisError::Validation(format!(
                "The maximum number of tags per resource is {}.",
                crate::tags::MAX_TAGS
            )));
        }
        for k in remove {
            tags.remove(k);
        }
        tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(tags.clone())
    }

    /// StartExperiment: the experiment is `initiating`; the next advance resolves its targets
    /// and starts the actions that wait for nothing.
    pub fn start_experiment(
        &self,
        region: &RegionName,
        template_id: &str,
        tags: BTreeMap<String, String>,
        skip_actions: bool,
        client_token: Option<&str>,
    ) -> Result<Experiment, FisError> {
        let template = self.experiment_template(region, template_id)?;
        let now = self.now_ms();
        let experiment = {
            let mut book = self.fis_lock();
            if let Some(id) = client_token.and_then(|t| book.tokens.get(&format!("e/{region}/{t}"))).cloned() {
                if let Some(e) = book.experiments.get(&id) {
                    return Ok(e.clone());
                }
            }
            let id = book.new_id("EXP", 17);
            let actions = template
                .spec
                .actions
                .iter()
                .map(|(name, a)| {
                    let run = ActionRun {
                        spec: a.clone(),
                        status: ActionStatus::Pending,
                        reason: "Initial state".into(),
                        start_ms: None,
                        end_ms: None,
                        due_ms: None,
                        undo: Vec::new(),
                    };
                    (name.clone(), run)
                })
                .collect();
            let experiment = Experiment {
                id: id.clone(),
                region: region.clone(),
                template_id: template.id.clone(),
                template: template.spec.clone(),
                status: ExperimentStatus::Initiating,
                reason: "Experiment is initiating.".into(),
                created_ms: now,
                start_ms: Some(now),
                end_ms: None,
                actions,
                resolved: BTreeMap::new(),
                tags,
                skip_actions,
            };
            book.experiments.insert(id.clone(), experiment.clone());
            if let Some(t) = client_token {
                book.tokens.insert(format!("e/{region}/{t}"), id);
            }
            experiment
        };
        tracing::info!(experiment = %experiment.id, template = %template.id, "FIS experiment started");
        Ok(experiment)
    }

    pub fn experiment(&self, region: &RegionName, id: &str) -> Result<Experiment, FisError> {
        self.advance_experiments();
        self.fis_lock()
            .experiments
            .get(id)
            .filter(|e| e.region == *region)
            .cloned()
            .ok_or_else(|| FisError::NotFound("Experiment not found.".into()))
    }

    pub fn experiments(&self, region: Option<&RegionName>) -> Vec<Experiment> {
        self.advance_experiments();
        self.fis_lock().experiments.values().filter(|e| region.is_none_or(|r| e.region == *r)).cloned().collect()
    }

    /// StopExperiment: what the running actions have in force is undone, pending ones are
    /// cancelled; the experiment is `stopped`.
    pub fn stop_experiment(&self, region: &RegionName, id: &str) -> Result<Experiment, FisError> {
        let _advancing = self.fis_advancing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut e = self.experiment_unadvanced(region, id)?;
        if e.status.is_final() {
            return Err(FisError::Conflict(format!("Experiment {id} is {} and cannot be stopped.", e.status.as_str())));
        }
        let now = self.now_ms();
        e.status = ExperimentStatus::Stopping;
        e.reason = "Experiment is stopping.".into();
        self.store_experiment(&e);
        let region_handle = self.region(region);
        for run in e.actions.values_mut() {
            match run.status {
                ActionStatus::Running => {
                    self.undo_action(&region_handle, run);
                    run.status = ActionStatus::Stopped;
                    run.reason = "Action was stopped.".into();
                    run.end_ms = Some(now);
                }
                ActionStatus::Pending => {
                    run.status = ActionStatus::Cancelled;
                    run.reason = "Action was cancelled.".into();
                }
                _ => {}
            }
        }
        e.status = ExperimentStatus::Stopped;
        e.reason = "Experiment stopped.".into();
        e.end_ms = Some(now);
        self.store_experiment(&e);
        Ok(e)
    }

    /// Forgets every template and experiment (POST /_squall/reset); what running actions have
    /// in force is undone by the reset that follows (faults removed, state forgotten).
    pub(crate) fn forget_experiments(&self) {
        let _advancing = self.fis_advancing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut book = self.fis_lock();
        book.templates.clear();
        book.experiments.clear();
        book.tokens.clear();
        book.to_start.clear();
    }

    fn experiment_unadvanced(&self, region: &RegionName, id: &str) -> Result<Experiment, FisError> {
        self.fis_lock()
            .experiments
            .get(id)
            .filter(|e| e.region == *region)
            .cloned()
            .ok_or_else(|| FisError::NotFound("Experiment not found.".into()))
    }

    fn store_experiment(&self, e: &Experiment) {
        self.fis_lock().experiments.insert(e.id.clone(), e.clone());
    }

    /// Moves every experiment on: targets resolved, actions started and ended as they fall due.
    pub(crate) fn advance_experiments(&self) {
        let _advancing = self.fis_advancing.lock().unwrap_or_else(PoisonError::into_inner);
        self.start_deferred();
        let live: Vec<Experiment> =
            self.fis_lock().experiments.values().filter(|e| !e.status.is_final()).cloned().collect();
        for mut e in live {
            self.advance(&mut e);
            self.store_experiment(&e);
        }
    }

    fn advance(&self, e: &mut Experiment) {
        let now = self.now_ms();
        let region = self.region(&e.region);
        if e.status == ExperimentStatus::Initiating {
            if let Err(reason) = self.resolve_targets(&region, e) {
                e.status = ExperimentStatus::Failed;
                e.reason = reason;
                e.end_ms = Some(now);
                for run in e.actions.values_mut() {
                    run.status = ActionStatus::Cancelled;
                    run.reason = "Experiment failed.".into();
                }
                return;
            }
            e.status = ExperimentStatus::Running;
            e.reason = "Experiment is running.".into();
            if e.skip_actions {
                for run in e.actions.values_mut() {
                    run.status = ActionStatus::Skipped;
                    run.reason = "Actions were skipped (actionsMode skip-all).".into();
                }
            }
        }
        if e.status != ExperimentStatus::Running {
            return;
        }
        if let Some(reason) = self.stop_condition_fired(e) {
            self.halt(&region, e, ExperimentStatus::Stopped, &reason, now);
            return;
        }
        // Actions whose time is up end; then those whose predecessors are done start — in
        // rounds, so a chain of instantaneous actions runs in one advance.
        loop {
            let mut changed = false;
            let names: Vec<String> = e.actions.keys().cloned().collect();
            for name in &names {
                let due = {
                    let run = &e.actions[name];
                    run.status == ActionStatus::Running && run.due_ms.is_some_and(|d| d <= now)
                };
                if due {
                    let run = e.actions.get_mut(name).expect("listed");
                    self.undo_action(&region, run);
                    run.status = ActionStatus::Completed;
                    run.reason = "Action completed.".into();
                    run.end_ms = run.due_ms;
                    changed = true;
                }
            }
            for name in &names {
                let ready = {
                    let run = &e.actions[name];
                    run.status == ActionStatus::Pending
                        && run
                            .spec
                            .start_after
                            .iter()
                            .all(|a| e.actions.get(a).is_some_and(|r| r.status.lets_others_start()))
                };
                if !ready {
                    continue;
                }
                changed = true;
                let spec = e.actions[name].spec.clone();
                let targets: Vec<String> =
                    spec.targets.values().flat_map(|t| e.resolved.get(t).cloned().unwrap_or_default()).collect();
                let empty_target = !spec.targets.is_empty() && targets.is_empty();
                let outcome = if empty_target { None } else { Some(self.start_action(&region, &spec, &targets, now)) };
                let run = e.actions.get_mut(name).expect("listed");
                match outcome {
                    None => {
                        run.status = ActionStatus::Skipped;
                        run.reason = "No targets were found: the action was skipped.".into();
                    }
                    Some(Ok((undo, due))) => {
                        run.start_ms = Some(now);
                        run.undo = undo;
                        match due {
                            Some(due) => {
                                run.status = ActionStatus::Running;
                                run.reason = "Action is running.".into();
                                run.due_ms = Some(due);
                            }
                            None => {
                                run.status = ActionStatus::Completed;
                                run.reason = "Action completed.".into();
                                run.end_ms = Some(now);
                            }
                        }
                    }
                    Some(Err(why)) => {
                        run.status = ActionStatus::Failed;
                        run.reason = why.clone();
                        run.start_ms = Some(now);
                        run.end_ms = Some(now);
                        self.fail_experiment(&region, e, &format!("Action {name} failed: {why}"), now);
                        return;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        if e.actions.values().all(|r| r.status.is_final()) {
            e.status = ExperimentStatus::Completed;
            e.reason = "Experiment completed.".into();
            e.end_ms = Some(e.actions.values().filter_map(|r| r.end_ms).max().unwrap_or(now));
        }
    }

    fn fail_experiment(&self, region: &Region, e: &mut Experiment, reason: &str, now: u64) {
        self.halt(region, e, ExperimentStatus::Failed, reason, now);
    }

    /// Ends an experiment early: running actions undone and stopped, pending ones cancelled.
    fn halt(&self, region: &Region, e: &mut Experiment, status: ExperimentStatus, reason: &str, now: u64) {
        for run in e.actions.values_mut() {
            match run.status {
                ActionStatus::Running => {
                    self.undo_action(region, run);
                    run.status = ActionStatus::Stopped;
                    run.reason = format!("The experiment ended: {reason}");
                    run.end_ms = Some(now);
                }
                ActionStatus::Pending => {
                    run.status = ActionStatus::Cancelled;
                    run.reason = format!("The experiment ended: {reason}");
                }
                _ => {}
            }
        }
        e.status = status;
        e.reason = reason.to_string();
        e.end_ms = Some(now);
    }

    /// The reason a stop condition of the experiment fired, if one did.
    fn stop_condition_fired(&self, e: &Experiment) -> Option<String> {
        let limits: Vec<u32> = e
            .template
            .stop_conditions
            .iter()
            .filter(|c| c.source == STUCK_VOLUMES)
            .filter_map(|c| c.value.as_deref().and_then(stuck_volume_limit))
            .collect();
        let limit = limits.into_iter().min()?;
        // Only the region's storage clusters: not the whole status of every region on each tick.
        let stuck: usize = self
            .region(&e.region)
            .with_state(self.now_ms(), |state| Ok(state.storage_status().iter().map(|s| s.stuck).sum()))
            .unwrap_or(0);
        (stuck > limit as usize)
            .then(|| format!("Stop condition {STUCK_VOLUMES} fired: {stuck} volumes are stuck, more than {limit}."))
    }

    /// Resolves each target the actions use; a target that resolves to nothing fails the
    /// experiment unless the template says `skip`.
    fn resolve_targets(&self, region: &Region, e: &mut Experiment) -> Result<(), String> {
        let mut rng = StdRng::seed_from_u64(self.config.seed ^ fnv(&e.id));
        for (name, target) in &e.template.targets {
            let found = self.resolve_target(region, target).map_err(|why| format!("Target {name}: {why}"))?;
            let take = selection_count(&target.selection_mode, found.len()).unwrap_or(found.len());
            let mut chosen = found;
            if take < chosen.len() {
                chosen.shuffle(&mut rng);
                chosen.truncate(take);
                chosen.sort();
            }
            if chosen.is_empty() && e.template.empty_target_resolution != "skip" {
                return Err(format!("Target resolution failed: target {name} resolved to no resources."));
            }
            e.resolved.insert(name.clone(), chosen);
        }
        Ok(())
    }

    fn resolve_target(&self, region: &Region, t: &FisTarget) -> Result<Vec<String>, String> {
        if t.resource_type == "aws:iam:role" {
            return Ok(t.resource_arns.clone());
        }
        let now = self.now_ms();
        let candidates: Vec<Candidate> = region
            .read(now, |state| {
                Ok(match t.resource_type.as_str() {
                    "aws:ec2:instance" => {
                        let (all, _) =
                            state.instances_after(None, usize::MAX, |i| i.state != InstanceState::Terminated);
                        all.into_iter()
                            .map(|i| Candidate {
                                id: i.id.to_string(),
                                fields: BTreeMap::from([
                                    ("Placement.AvailabilityZone", vec![i.zone.to_string()]),
                                    ("State.Name", vec![instance_state_name(i.state).to_string()]),
                                    ("InstanceType", vec![i.instance_type.clone()]),
                                    ("SubnetId", i.subnet_id.iter().cloned().collect()),
                                    ("VpcId", i.vpc_id.iter().cloned().collect()),
                                ]),
                                zone: Some((i.zone.to_string(), i.zone_id.to_string())),
                                tags: i.tags,
                            })
                            .collect()
                    }
                    "aws:ec2:ebs-volume" => {
                        let (all, _) = state.volumes_after(None, usize::MAX, |_| true);
                        all.into_iter()
                            .map(|v| Candidate {
                                id: v.id.to_string(),
                                fields: BTreeMap::from([
                                    ("AvailabilityZone", vec![v.zone.to_string()]),
                                    ("State", vec![serde_plain(&v.state)]),
                                    ("VolumeType", vec![serde_plain(&v.volume_type)]),
                                    (
                                        "Attachments.DeleteOnTermination",
                                        v.attachments.iter().map(|a| a.delete_on_termination.to_string()).collect(),
                                    ),
                                    (
                                        "Attachments.InstanceId",
                                        v.attachments.iter().map(|a| a.instance.to_string()).collect(),
                                    ),
                                ]),
                                zone: Some((v.zone.to_string(), v.zone_id.to_string())),
                                tags: v.tags,
                            })
                            .collect()
                    }
                    "aws:ec2:subnet" => state
                        .subnets()
                        .into_iter()
                        .map(|s| Candidate {
                            id: s.id.clone(),
                            fields: BTreeMap::from([
                                ("AvailabilityZone", vec![s.zone.to_string()]),
                                ("VpcId", vec![s.vpc_id.clone()]),
                                ("DefaultForAz", vec![s.default_for_az.to_string()]),
                            ]),
                            zone: Some((s.zone.to_string(), s.zone_id.to_string())),
                            tags: s.tags,
                        })
                        .collect(),
                    "aws:rds:db" => state
                        .db_instances()
                        .map(|i| Candidate {
                            id: i.id.clone(),
                            fields: BTreeMap::from([
                                ("Engine", vec![i.engine.clone()]),
                                ("DBInstanceStatus", vec![i.status.as_str().to_string()]),
                                ("MultiAZ", vec![i.multi_az.to_string()]),
                            ]),
                            zone: Some((i.primary.zone.to_string(), i.primary.zone_id.to_string())),
                            tags: i.tags.clone(),
                        })
                        .collect(),
                    _ => Vec::new(),
                })
            })
            .map_err(|e| e.to_string())?;
        let ids: BTreeSet<&str> = t.resource_arns.iter().map(|a| arn_resource(a)).collect();
        let zones: Option<Vec<String>> = t
            .parameters
            .get("availabilityZoneIdentifier")
            .or_else(|| t.parameters.get("availabilityZoneIdentifiers"))
            .map(|z| z.split(',').map(|s| s.trim().to_string()).collect());
        let vpc = t.parameters.get("vpc");
        Ok(candidates
            .into_iter()
            .filter(|c| ids.is_empty() || ids.contains(c.id.as_str()))
            .filter(|c| t.resource_tags.iter().all(|(k, v)| c.tags.get(k) == Some(v)))
            .filter(|c| {
                t.filters.iter().all(|(path, values)| {
                    c.fields.get(path.as_str()).is_some_and(|have| have.iter().any(|h| values.contains(h)))
                })
            })
            .filter(|c| {
                zones
                    .as_ref()
                    .is_none_or(|zs| c.zone.as_ref().is_some_and(|(name, id)| zs.contains(name) || zs.contains(id)))
            })
            .filter(|c| vpc.is_none_or(|v| c.fields.get("VpcId").is_some_and(|have| have.contains(v))))
            .map(|c| c.id)
            .collect())
    }

    /// Does what an action does; answers what to undo and when it ends (`None`: done now).
    fn start_action(
        &self,
        region: &Region,
        spec: &crate::model::fis::FisAction,
        targets: &[String],
        now: u64,
    ) -> Result<(Vec<Undo>, Option<u64>), String> {
        let param = |name: &str| spec.parameters.get(name).map(String::as_str);
        let until = |name: &str| param(name).and_then(parse_duration).map(|d| now + d);
        let name = region.name().clone();
        let fault = |kind: FaultKind| -> Result<Undo, String> {
            self.install_fault(&name, kind, None).map(|f| Undo::RemoveFault(f.id)).map_err(|e| e.to_string())
        };
        let instances =
            || targets.iter().map(|t| InstanceId::parse(t).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>();
        match spec.action_id.as_str() {
            "aws:fis:wait" => Ok((Vec::new(), until("duration"))),
            "aws:ebs:pause-volume-io" => {
                let volumes = targets
                    .iter()
                    .map(|t| VolumeId::parse(t).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((vec![fault(FaultKind::VolumeIoPause { volumes, db_volumes: Vec::new() })?], until("duration")))
            }
            "aws:ec2:stop-instances" => {
                let ids = instances()?;
                let changed = region
                    .change_instance_states(&ids, InstanceState::Stopping, now, false)
                    .map_err(|e| e.to_string())?;
                let stopped: Vec<InstanceId> = changed
                    .into_iter()
                    .filter(|(_, before, _)| matches!(before, InstanceState::Running | InstanceState::Pending))
                    .map(|(id, _, _)| id)
                    .collect();
                match until("startInstancesAfterDuration") {
                    Some(due) => Ok((vec![Undo::StartInstances(stopped)], Some(due))),
                    None => Ok((Vec::new(), None)),
                }
            }
            "aws:ec2:reboot-instances" => {
                region.reboot_instances(&instances()?, now, false).map_err(|e| e.to_string())?;
                Ok((Vec::new(), None))
            }
            "aws:ec2:terminate-instances" => {
                region
                    .change_instance_states(&instances()?, InstanceState::ShuttingDown, now, false)
                    .map_err(|e| e.to_string())?;
                Ok((Vec::new(), None))
            }
            "aws:rds:reboot-db-instances" => {
                let force = param("forceFailover") == Some("true");
                for id in targets {
                    let multi_az = region.read(now, |s| Ok(s.db_instance(id)?.multi_az)).map_err(|e| e.to_string())?;
                    region.reboot_db_instance(id, force && multi_az, now).map_err(|e| e.to_string())?;
                }
                Ok((Vec::new(), None))
            }
            "aws:network:disrupt-connectivity" => {
                let zones: BTreeSet<AzName> = region
                    .read(now, |s| targets.iter().map(|t| Ok(s.subnet(t)?.zone.clone())).collect())
                    .map_err(|e| e.to_string())?;
                let mut undo = Vec::new();
                for zone in zones {
                    let nodes = self.storage_nodes(&name, zone.as_str()).map_err(|e| e.to_string())?;
                    match fault(FaultKind::NetworkPartition { zone, nodes, networks: vec!["primary".into()] }) {
                        Ok(u) => undo.push(u),
                        Err(e) => {
                            self.undo_all(region, &undo);
                            return Err(e);
                        }
                    }
                }
                Ok((undo, until("duration")))
            }
            "aws:ec2:api-insufficient-instance-capacity-error" => {
                let probability = param("percentage").and_then(|p| p.parse::<f64>().ok()).unwrap_or(100.0) / 100.0;
                let mut undo = Vec::new();
                for z in param("availabilityZoneIdentifiers").unwrap_or_default().split(',').map(str::trim) {
                    let zone = region
                        .zone_by_name(z)
                        .or_else(|_| region.zone_by_id(z))
                        .map_err(|e| e.to_string())
                        .map(|zone| zone.name)
                        .inspect_err(|_| self.undo_all(region, &undo))?;
                    let kind = FaultKind::ApiError {
                        service: "ec2".into(),
                        actions: vec!["RunInstances".into(), "StartInstances".into()],
                        zone: Some(zone),
                        code: "InsufficientInstanceCapacity".into(),
                        probability,
                    };
                    undo.push(fault(kind).inspect_err(|_| self.undo_all(region, &undo))?);
                }
                Ok((undo, until("duration")))
            }
            id if id.starts_with("aws:fis:inject-api-") => {
                let service = param("service").unwrap_or("ec2").to_string();
                let code = match (id, service.as_str()) {
                    ("aws:fis:inject-api-internal-error", "rds") => "InternalFailure",
                    ("aws:fis:inject-api-internal-error", _) => "InternalError",
                    ("aws:fis:inject-api-throttle-error", "rds") => "Throttling",
                    ("aws:fis:inject-api-throttle-error", _) => "RequestLimitExceeded",
                    (_, "rds") => "ServiceUnavailable",
                    _ => "Unavailable",
                };
                let actions = param("operations")
                    .map(|o| o.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                    .unwrap_or_default();
                let probability = param("percentage").and_then(|p| p.parse::<f64>().ok()).unwrap_or(100.0) / 100.0;
                let kind = FaultKind::ApiError { service, actions, zone: None, code: code.into(), probability };
                Ok((vec![fault(kind)?], until("duration")))
            }
            other => Err(format!("squall does not run {other}")),
        }
    }

    fn undo_all(&self, region: &Region, undo: &[Undo]) {
        let now = self.now_ms();
        for u in undo {
            match u {
                Undo::RemoveFault(id) => {
                    let _ = self.remove_fault(id);
                }
                Undo::StartInstances(ids) => {
                    let stopping = self.start_stopped(region, ids, now);
                    if !stopping.is_empty() {
                        self.fis_lock().to_start.push((region.name().clone(), stopping));
                    }
                }
            }
        }
    }

    /// Starts those of `ids` that are stopped (terminated ones stay terminated); answers those
    /// still stopping, to start once they have stopped.
    fn start_stopped(&self, region: &Region, ids: &[InstanceId], now: u64) -> Vec<InstanceId> {
        let state_of = |id: &InstanceId| region.read(now, |s| Ok(s.instance(id)?.state)).ok();
        let stopped: Vec<InstanceId> =
            ids.iter().filter(|id| state_of(id) == Some(InstanceState::Stopped)).cloned().collect();
        if let Err(e) = region.change_instance_states(&stopped, InstanceState::Pending, now, false) {
            tracing::warn!("an experiment could not start the instances it stopped: {e}");
        }
        ids.iter().filter(|id| state_of(id) == Some(InstanceState::Stopping)).cloned().collect()
    }

    /// Starts the instances ended actions left stopping, once they have stopped.
    fn start_deferred(&self) {
        let waiting = std::mem::take(&mut self.fis_lock().to_start);
        let now = self.now_ms();
        for (region, ids) in waiting {
            let handle = self.region(&region);
            let still = self.start_stopped(&handle, &ids, now);
            if !still.is_empty() {
                self.fis_lock().to_start.push((region, still));
            }
        }
    }

    fn undo_action(&self, region: &Region, run: &mut ActionRun) {
        let undo = std::mem::take(&mut run.undo);
        self.undo_all(region, &undo);
    }
}

/// A serde value's plain string (`in-use`, `gp3`).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|j| j.as_str().map(str::to_string)).unwrap_or_default()
}

/// A stable 64-bit hash (FNV-1a): seeds an experiment's choices from its id.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fis::{FisAction, FisStopCondition};

    fn template() -> TemplateSpec {
        let target = FisTarget {
            resource_type: "aws:ec2:ebs-volume".into(),
            resource_tags: BTreeMap::from([("drill".into(), "yes".into())]),
            selection_mode: "ALL".into(),
            ..Default::default()
        };
        let wait = FisAction {
            action_id: "aws:fis:wait".into(),
            parameters: BTreeMap::from([("duration".into(), "PT1S".into())]),
            ..Default::default()
        };
        let pause = FisAction {
            action_id: "aws:ebs:pause-volume-io".into(),
            parameters: BTreeMap::from([("duration".into(), "PT2S".into())]),
            targets: BTreeMap::from([("Volumes".into(), "vols".into())]),
            start_after: vec!["wait".into()],
            ..Default::default()
        };
        TemplateSpec {
            description: "d".into(),
            targets: BTreeMap::from([("vols".into(), target)]),
            actions: BTreeMap::from([("wait".into(), wait), ("pause".into(), pause)]),
            stop_conditions: vec![FisStopCondition { source: "none".into(), value: None }],
            role_arn: "arn:aws:iam::000000000000:role/fis".into(),
            ..Default::default()
        }
    }

    #[test]
    fn instances_still_stopping_when_an_experiment_stops_start_once_they_have_stopped() {
        use crate::model::instance::{InstanceAttributes, LaunchRequest};
        let t = crate::test_support::TestRegion::new();
        let request = LaunchRequest {
            image_id: "ami-0123456789abcdef0".into(),
            private_ip: None,
            catalogue_root: None,
            instance_type: "t3.micro".into(),
            placement_zone: Some("us-east-1a".into()),
            subnet_id: None,
            security_group_ids: Vec::new(),
            security_group_names: Vec::new(),
            count: 1,
            key_name: None,
            user_data: None,
            client_token: None,
            attributes: InstanceAttributes::default(),
            tags: BTreeMap::from([("drill".into(), "yes".into())]),
            volume_tags: BTreeMap::new(),
            mappings: Vec::new(),
            interfaces: Vec::new(),
        };
        let (_, launched) = t.region.run_instances(request, t.now(), false).unwrap();
        let id = launched[0].id.clone();
        t.advance(60_000);
        let state = |t: &crate::test_support::TestRegion| t.run(|s| Ok(s.instance(&id)?.state)).unwrap();
        assert_eq!(state(&t), InstanceState::Running);
        let spec = TemplateSpec {
            description: "stop".into(),
            targets: BTreeMap::from([(
                "az".into(),
                FisTarget {
                    resource_type: "aws:ec2:instance".into(),
                    resource_tags: BTreeMap::from([("drill".into(), "yes".into())]),
                    selection_mode: "ALL".into(),
                    ..Default::default()
                },
            )]),
            actions: BTreeMap::from([(
                "stop".into(),
                FisAction {
                    action_id: "aws:ec2:stop-instances".into(),
                    parameters: BTreeMap::from([("startInstancesAfterDuration".into(), "PT30M".into())]),
                    targets: BTreeMap::from([("Instances".into(), "az".into())]),
                    ..Default::default()
                },
            )]),
            stop_conditions: vec![FisStopCondition { source: "none".into(), value: None }],
            role_arn: "arn:aws:iam::000000000000:role/fis".into(),
            ..Default::default()
        };
        let region = t.region.name().clone();
        let template = t.control.create_experiment_template(&region, spec, None).unwrap();
        let e = t.control.start_experiment(&region, &template.id, BTreeMap::new(), false, None).unwrap();
        t.control.advance_experiments();
        assert_eq!(state(&t), InstanceState::Stopping);
        let stopped = t.control.stop_experiment(&region, &e.id).unwrap();
        assert_eq!(stopped.status, ExperimentStatus::Stopped);
        assert_eq!(state(&t), InstanceState::Stopping, "still stopping when the experiment ended");
        t.advance(60_000);
        t.run(|_| Ok(())).unwrap(); // the instance has stopped by now
        t.control.advance_experiments();
        assert!(matches!(state(&t), InstanceState::Pending | InstanceState::Running), "{:?}", state(&t));
    }

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(parse_duration("PT2M"), Some(120_000));
        assert_eq!(parse_duration("PT1H30M5S"), Some(5_405_000));
        assert_eq!(parse_duration("PT0.5S"), Some(500));
        assert_eq!(parse_duration("P1D"), Some(86_400_000));
        for bad in ["2M", "PT", "PTM", "PT5X", "P", "PT-1S", ""] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_stuck_volumes_condition_names_one_number() {
        assert_eq!(stuck_volume_limit("more than 2 stuck volumes"), Some(2));
        assert_eq!(stuck_volume_limit("0"), Some(0));
        assert_eq!(stuck_volume_limit("no number at all here"), None);
        assert_eq!(stuck_volume_limit("between 2 and 5 volumes"), None, "one number only");
    }

    #[test]
    fn selection_modes_pick_all_a_count_or_a_percentage() {
        assert_eq!(selection_count("ALL", 7), Some(7));
        assert_eq!(selection_count("COUNT(2)", 7), Some(2));
        assert_eq!(selection_count("COUNT(9)", 7), Some(7));
        assert_eq!(selection_count("PERCENT(50)", 7), Some(3));
        assert_eq!(selection_count("PERCENT(10)", 3), Some(1), "a positive percentage takes at least one");
        for bad in ["SOME", "COUNT(0)", "PERCENT(101)", "COUNT(x)"] {
            assert_eq!(selection_count(bad, 3), None, "{bad}");
        }
    }

    #[test]
    fn bad_templates_are_refused_with_what_is_wrong() {
        assert_eq!(validate_template(&template()), Ok(()));
        type Change = Box<dyn Fn(&mut TemplateSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|t| t.actions.get_mut("wait").unwrap().action_id = "aws:ec2:melt".into()),
                "unknown action ID aws:ec2:melt",
            ),
            (
                Box::new(|t| {
                    t.actions.get_mut("wait").unwrap().parameters.insert("duration".into(), "2 minutes".into());
                }),
                "parameter duration is \"2 minutes\"",
            ),
            (
                Box::new(|t| {
                    t.actions.get_mut("pause").unwrap().targets.insert("Volumes".into(), "ghost".into());
                }),
                "target ghost is not defined",
            ),
            (Box::new(|t| t.actions.get_mut("wait").unwrap().start_after = vec!["pause".into()]), "form a cycle"),
            (
                Box::new(|t| t.actions.get_mut("wait").unwrap().start_after = vec!["nope".into()]),
                "startAfter names nope",
            ),
            (Box::new(|t| t.targets.get_mut("vols").unwrap().selection_mode = "SOME".into()), "selectionMode SOME"),
            (Box::new(|t| t.role_arn = "role".into()), "roleArn"),
        ];
        for (change, expected) in cases {
            let mut t = template();
            change(&mut t);
            match validate_template(&t) {
                Err(FisError::Validation(m)) => assert!(m.contains(expected), "{m} should say {expected}"),
                other => panic!("expected a validation error about {expected}, got {other:?}"),
            }
        }
    }
}
