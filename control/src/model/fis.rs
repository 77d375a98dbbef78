//! AWS Fault Injection Service as data: experiment templates (targets, actions, stop
//! conditions) and the experiments run from them, with the state of each action.

use std::collections::BTreeMap;

use crate::ids::{InstanceId, RegionName};

/// How a template names the resources an action acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FisTarget {
    pub resource_type: String,
    pub resource_arns: Vec<String>,
    pub resource_tags: BTreeMap<String, String>,
    /// (path into the resource's Describe* shape, values any of which matches).
    pub filters: Vec<(String, Vec<String>)>,
    /// `ALL`, `COUNT(n)` or `PERCENT(n)`.
    pub selection_mode: String,
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FisAction {
    pub action_id: String,
    pub description: Option<String>,
    pub parameters: BTreeMap<String, String>,
    /// Target key of the action (`Volumes`, `Instances`, …) → name of a template target.
    pub targets: BTreeMap<String, String>,
    pub start_after: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FisStopCondition {
    pub source: String,
    pub value: Option<String>,
}

/// What CreateExperimentTemplate and UpdateExperimentTemplate carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateSpec {
    pub description: String,
    pub targets: BTreeMap<String, FisTarget>,
    pub actions: BTreeMap<String, FisAction>,
    pub stop_conditions: Vec<FisStopCondition>,
    pub role_arn: String,
    pub tags: BTreeMap<String, String>,
    /// `fail` (AWS's default) or `skip`: what an action whose target resolves to nothing does.
    pub empty_target_resolution: String,
    pub account_targeting: String,
    /// Accepted and kept (squall writes no experiment logs).
    pub log_configuration: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentTemplate {
    pub id: String,
    pub region: RegionName,
    pub spec: TemplateSpec,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentStatus {
    Pending,
    Initiating,
    Running,
    Completed,
    Stopping,
    Stopped,
    Failed,
}

impl ExperimentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Initiating => "initiating",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Stopped | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    Pending,
    Running,
    Completed,
    Cancelled,
    Stopped,
    Failed,
    Skipped,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Whether actions that start after this one may start (it is done, one way or another).
    pub fn lets_others_start(self) -> bool {
        matches!(self, Self::Completed | Self::Skipped)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

/// What an action still has in force, undone when it ends or the experiment stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// A rule of the fault engine.
    RemoveFault(String),
    /// Instances the action stopped, started again at its end.
    StartInstances(Vec<InstanceId>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRun {
    pub spec: FisAction,
    pub status: ActionStatus,
    pub reason: String,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// When a running action ends by itself.
    pub due_ms: Option<u64>,
    pub undo: Vec<Undo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    pub id: String,
    pub region: RegionName,
    pub template_id: String,
    pub template: TemplateSpec,
    pub status: ExperimentStatus,
    pub reason: String,
    pub created_ms: u64,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub actions: BTreeMap<String, ActionRun>,
    /// Target name → the resources it resolved to (ids as AWS's ARNs name them after the last
    /// `/`, or the ARN for roles), in the order chosen.
    pub resolved: BTreeMap<String, Vec<String>>,
    pub tags: BTreeMap<String, String>,
    /// `skip-all`: the experiment resolves its targets and runs no action.
    pub skip_actions: bool,
}

/// Why FIS refused a request (the service maps each to AWS's exception).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FisError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}
