//! RDS event subscriptions: which of RDS's events (by source type, source ids and categories) go
//! to an SNS topic. squall has no SNS, so a topic ARN is checked for its shape only; what a
//! subscription publishes is kept with each event where a test can read it
//! ([`RegionState::event_notifications`], served at `GET /_squall/rds/notifications`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::model::rds::{RdsError, RdsEvent};
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Event subscriptions one account may make (RDS's default quota).
pub const MAX_EVENT_SUBSCRIPTIONS: usize = 20;

/// The categories RDS writes events in, per source type (DescribeEventCategories).
pub const EVENT_CATEGORIES: &[(&str, &[&str])] = &[
    (
        "db-instance",
        &[
            "availability",
            "backup",
            "configuration change",
            "creation",
            "deletion",
            "failover",
            "failure",
            "low storage",
            "maintenance",
            "notification",
            "read replica",
            "recovery",
            "restoration",
            "security",
            "security patching",
        ],
    ),
    ("db-parameter-group", &["configuration change"]),
    ("db-security-group", &["configuration change", "failure"]),
    ("db-snapshot", &["creation", "deletion", "notification", "restoration"]),
    (
        "db-cluster",
        &[
            "configuration change",
            "creation",
            "deletion",
            "failover",
            "failure",
            "global-failover",
            "maintenance",
            "migration",
            "notification",
            "serverless",
        ],
    ),
    ("db-cluster-snapshot", &["backup", "notification"]),
];

/// Where a subscription's change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriptionChange {
    Creating,
    Modifying,
}

/// An event subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSubscription {
    /// Lower-case.
    pub name: String,
    pub topic_arn: String,
    pub source_type: Option<String>,
    pub source_ids: Vec<String>,
    pub categories: Vec<String>,
    pub enabled: bool,
    pub created_ms: u64,
    /// The last change, and when it started: it shows until it settles, then `active`.
    pub change: SubscriptionChange,
    pub change_since_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for EventSubscription {
    const TABLE: &'static str = "event_subscriptions";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl EventSubscription {
    /// AWS's status at `now_ms`: `creating`, `modifying`, then `active`.
    pub fn status(&self, step_ms: u64, now_ms: u64) -> &'static str {
        if self.change_since_ms.saturating_add(step_ms) <= now_ms {
            return "active";
        }
        match self.change {
            SubscriptionChange::Creating => "creating",
            SubscriptionChange::Modifying => "modifying",
        }
    }

    /// Whether the subscription selects `event`.
    pub fn selects(&self, event: &RdsEvent) -> bool {
        self.enabled
            && event.time_ms >= self.created_ms
            && self.source_type.as_deref().is_none_or(|t| t == event.source.as_str())
            && (self.source_ids.is_empty()
                || self.source_ids.iter().any(|id| id.eq_ignore_ascii_case(&event.source_id)))
            && (self.categories.is_empty() || self.categories.iter().any(|c| event.categories.contains(c)))
    }
}

/// What CreateEventSubscription asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionSpec {
    pub name: String,
    pub topic_arn: String,
    pub source_type: Option<String>,
    pub categories: Vec<String>,
    pub source_ids: Vec<String>,
    pub enabled: bool,
    pub tags: BTreeMap<String, String>,
}

/// What ModifyEventSubscription changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionChanges {
    pub topic_arn: Option<String>,
    pub source_type: Option<String>,
    pub categories: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// One event a subscription would have published to its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subscription: String,
    pub topic_arn: String,
    pub event: RdsEvent,
}

fn invalid(message: impl Into<String>) -> ControlError {
    RdsError::InvalidParameterValue(message.into()).into()
}

/// `arn:aws:sns:<region>:<12 digits>:<topic>`.
fn check_topic(arn: &str) -> Result<(), ControlError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, "sns", region, account, topic] => {
            partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !topic.is_empty()
                && topic.len() <= 256
                && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(RdsError::InvalidTopic(arn.to_string()).into())
    }
}

fn check_source_type(source_type: Option<&str>) -> Result<(), ControlError> {
    match source_type {
        Some(t) if !EVENT_CATEGORIES.iter().any(|(s, _)| *s == t) => Err(invalid(format!(
            "Invalid source type: {t}. Valid values: {}",
            EVENT_CATEGORIES.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Every category exists for the source type (for any source type when none is given).
fn check_categories(source_type: Option<&str>, categories: &[String]) -> Result<(), ControlError> {
    for c in categories {
        let known = EVENT_CATEGORIES
            .iter()
            .filter(|(s, _)| source_type.is_none_or(|t| t == *s))
            .any(|(_, cats)| cats.contains(&c.as_str()));
        if !known {
            return Err(RdsError::SubscriptionCategoryNotFound(c.clone()).into());
        }
    }
    Ok(())
}

impl RegionState {
    /// A subscription by name (any case).
    pub fn event_subscription(&self, name: &str) -> Result<EventSubscription, ControlError> {
        self.event_subscriptions
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| RdsError::SubscriptionNotFound(name.to_string()).into())
    }

    /// Every subscription, in name order.
    pub fn event_subscriptions_all(&self) -> Vec<EventSubscription> {
        self.event_subscriptions.values().cloned().collect()
    }

    /// The events RDS published to the subscriptions' topics, oldest first: each event a
    /// subscription selected when it happened.
    pub fn event_notifications(&self) -> Vec<Notification> {
        let mut out = Vec::new();
        for event in self.rds_events.values() {
            for (subscription, topic_arn) in &event.published_to {
                out.push(Notification {
                    subscription: subscription.clone(),
                    topic_arn: topic_arn.clone(),
                    event: RdsEvent { published_to: Vec::new(), ..event.clone() },
                });
            }
        }
        out
    }

    /// The source `id` of `source_type` exists (its stored name).
    fn event_source(&self, source_type: &str, id: &str) -> Result<String, ControlError> {
        let found = match source_type {
            "db-instance" => self.db_instance(id).ok().map(|i| i.id.clone()),
            "db-snapshot" => self.db_snapshot(id).ok().map(|s| s.id.clone()),
            "db-parameter-group" => self.db_parameter_group(id).ok().map(|g| g.name),
            "db-security-group" => self.db_security_group(id).ok().map(|g| g.name),
            _ => None,
        };
        found.ok_or_else(|| RdsError::SourceNotFound(id.to_string()).into())
    }

    fn create_event_subscription(
        &mut self,
        spec: SubscriptionSpec,
        now_ms: u64,
    ) -> Result<EventSubscription, ControlError> {
        if !crate::rds::identifier_shape(&spec.name, 255) {
            return Err(invalid(
                "The parameter SubscriptionName is not a valid identifier. Identifiers must begin with a letter; \
                 must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain \
                 two consecutive hyphens.",
            ));
        }
        check_topic(&spec.topic_arn)?;
        check_source_type(spec.source_type.as_deref())?;
        check_categories(spec.source_type.as_deref(), &spec.categories)?;
        let mut source_ids = Vec::new();
        if !spec.source_ids.is_empty() {
            let Some(t) = spec.source_type.as_deref() else {
                return Err(RdsError::InvalidParameterCombination(
                    "SourceIds can be given only together with a SourceType.".into(),
                )
                .into());
            };
            for id in &spec.source_ids {
                let id = self.event_source(t, id)?;
                if !source_ids.contains(&id) {
                    source_ids.push(id);
                }
            }
        }
        let key = spec.name.to_ascii_lowercase();
        if self.event_subscriptions.contains_key(&key) {
            return Err(RdsError::SubscriptionExists(key).into());
        }
        if self.event_subscriptions.len() >= MAX_EVENT_SUBSCRIPTIONS {
            return Err(RdsError::SubscriptionQuotaExceeded(MAX_EVENT_SUBSCRIPTIONS).into());
        }
        let s = EventSubscription {
            name: key.clone(),
            topic_arn: spec.topic_arn,
            source_type: spec.source_type,
            source_ids,
            categories: spec.categories,
            enabled: spec.enabled,
            created_ms: now_ms,
            change: SubscriptionChange::Creating,
            change_since_ms: now_ms,
            tags: spec.tags,
        };
        self.event_subscriptions.insert(key, s.clone());
        Ok(s)
    }

    fn modify_event_subscription(
        &mut self,
        name: &str,
        c: SubscriptionChanges,
        now_ms: u64,
    ) -> Result<EventSubscription, ControlError> {
        let mut s = self.event_subscription(name)?;
        if let Some(arn) = c.topic_arn {
            check_topic(&arn)?;
            s.topic_arn = arn;
        }
        if let Some(t) = c.source_type {
            check_source_type(Some(&t))?;
            if s.source_type.as_deref() != Some(t.as_str()) {
                // The source ids were of the old type.
                s.source_ids.clear();
            }
            s.source_type = Some(t);
        }
        if let Some(categories) = c.categories {
            s.categories = categories;
        }
        check_categories(s.source_type.as_deref(), &s.categories)?;
        if let Some(enabled) = c.enabled {
            s.enabled = enabled;
        }
        s.change = SubscriptionChange::Modifying;
        s.change_since_ms = now_ms;
        self.event_subscriptions.insert(s.name.clone(), s.clone());
        Ok(s)
    }

    fn change_subscription_source(
        &mut self,
        name: &str,
        source: &str,
        add: bool,
    ) -> Result<EventSubscription, ControlError> {
        let mut s = self.event_subscription(name)?;
        if add {
            let Some(t) = s.source_type.clone() else {
                return Err(RdsError::InvalidParameterCombination(format!(
                    "Event subscription {} has no SourceType: source identifiers need one.",
                    s.name
                ))
                .into());
            };
            let id = self.event_source(&t, source)?;
            if !s.source_ids.contains(&id) {
                s.source_ids.push(id);
            }
        } else {
            let before = s.source_ids.len();
            s.source_ids.retain(|id| !id.eq_ignore_ascii_case(source));
            if s.source_ids.len() == before {
                return Err(RdsError::SourceNotFound(source.to_string()).into());
            }
        }
        self.event_subscriptions.insert(s.name.clone(), s.clone());
        Ok(s)
    }
}

impl Region {
    /// CreateEventSubscription.
    pub fn create_event_subscription(
        &self,
        spec: SubscriptionSpec,
        now_ms: u64,
    ) -> Result<EventSubscription, ControlError> {
        self.with_state(now_ms, |state| state.create_event_subscription(spec, now_ms))
    }

    /// ModifyEventSubscription.
    pub fn modify_event_subscription(
        &self,
        name: &str,
        changes: SubscriptionChanges,
        now_ms: u64,
    ) -> Result<EventSubscription, ControlError> {
        self.with_state(now_ms, |state| state.modify_event_subscription(name, changes, now_ms))
    }

    /// AddSourceIdentifierToSubscription (`add`) or RemoveSourceIdentifierFromSubscription.
    pub fn change_subscription_source(
        &self,
        name: &str,
        source: &str,
        add: bool,
        now_ms: u64,
    ) -> Result<EventSubscription, ControlError> {
        self.with_state(now_ms, |state| state.change_subscription_source(name, source, add))
    }

    /// DeleteEventSubscription: the subscription as it was.
    pub fn delete_event_subscription(&self, name: &str, now_ms: u64) -> Result<EventSubscription, ControlError> {
        self.with_state(now_ms, |state| {
            let s = state.event_subscription(name)?;
            state.event_subscriptions.remove(&s.name);
            Ok(s)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rds::EventSource;

    fn event(source: EventSource, id: &str, category: &str, time_ms: u64) -> RdsEvent {
        RdsEvent {
            seq: 1,
            source_id: id.into(),
            source,
            message: "DB instance restarted".into(),
            time_ms,
            categories: vec![category.into()],
            event_id: "RDS-EVENT-0006".into(),
            published_to: Vec::new(),
        }
    }

    fn subscription() -> EventSubscription {
        EventSubscription {
            name: "ops".into(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:ops".into(),
            source_type: Some("db-instance".into()),
            source_ids: vec!["orders".into()],
            categories: vec!["availability".into()],
            enabled: true,
            created_ms: 1_000,
            change: SubscriptionChange::Creating,
            change_since_ms: 1_000,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn a_subscription_selects_by_type_source_category_and_time() {
        let s = subscription();
        assert!(s.selects(&event(EventSource::DbInstance, "orders", "availability", 2_000)));
        assert!(!s.selects(&event(EventSource::DbInstance, "orders", "availability", 999)), "before it existed");
        assert!(!s.selects(&event(EventSource::DbInstance, "users", "availability", 2_000)), "another source");
        assert!(!s.selects(&event(EventSource::DbInstance, "orders", "backup", 2_000)), "another category");
        assert!(!s.selects(&event(EventSource::DbSnapshot, "orders", "availability", 2_000)), "another type");
        let all = EventSubscription { source_type: None, source_ids: vec![], categories: vec![], ..subscription() };
        assert!(all.selects(&event(EventSource::DbSnapshot, "snap", "creation", 2_000)));
        let off = EventSubscription { enabled: false, ..subscription() };
        assert!(!off.selects(&event(EventSource::DbInstance, "orders", "availability", 2_000)));
        assert_eq!(s.status(300, 1_100), "creating");
        assert_eq!(s.status(300, 1_300), "active");
    }

    #[test]
    fn topics_and_categories_are_checked() {
        assert!(check_topic("arn:aws:sns:us-east-1:000000000000:ops-alerts").is_ok());
        assert!(check_topic("arn:aws:sqs:us-east-1:000000000000:q").is_err());
        assert!(check_topic("arn:aws:sns:us-east-1:123:ops").is_err());
        assert!(check_topic("ops").is_err());
        assert!(check_categories(Some("db-snapshot"), &["creation".into()]).is_ok());
        assert!(check_categories(Some("db-snapshot"), &["failover".into()]).is_err());
        assert!(check_categories(None, &["failover".into()]).is_ok());
        assert!(check_source_type(Some("db-volume")).is_err());
    }
}
