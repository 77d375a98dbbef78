//! RDS event subscriptions on the wire: Create/Modify/Delete/DescribeEventSubscriptions and
//! Add/RemoveSourceIdentifierTo/FromSubscription. The rules are the control plane's
//! (`squall_control::db_event_subscriptions`).

use squall_control::db_event_subscriptions::{
    EventSubscription as Subscription, SubscriptionChanges, SubscriptionSpec,
};
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, no_filters, paginate, tag_map, timestamp, Arns};

/// Answers one of the event subscription actions.
pub(crate) fn handle(region: &Region, arns: &Arns<'_>, request: Request, now: u64) -> Result<Response, ApiError> {
    let step = region.read(now, |s| Ok(s.authorization_step_ms())).map_err(control_error)?;
    let render = |s: &Subscription| Some(render_subscription(s, arns, step, now));
    Ok(match request {
        Request::CreateEventSubscription(r) => {
            let spec = SubscriptionSpec {
                name: r.subscription_name,
                topic_arn: r.sns_topic_arn,
                source_type: r.source_type,
                categories: r.event_categories.unwrap_or_default(),
                source_ids: r.source_ids.unwrap_or_default(),
                enabled: r.enabled.unwrap_or(true),
                tags: tag_map(r.tags.unwrap_or_default())?,
            };
            let s = region.create_event_subscription(spec, now).map_err(control_error)?;
            Response::CreateEventSubscription(CreateEventSubscriptionResult { event_subscription: render(&s) })
        }
        Request::ModifyEventSubscription(r) => {
            let changes = SubscriptionChanges {
                topic_arn: r.sns_topic_arn,
                source_type: r.source_type,
                categories: r.event_categories,
                enabled: r.enabled,
            };
            let s = region.modify_event_subscription(&r.subscription_name, changes, now).map_err(control_error)?;
            Response::ModifyEventSubscription(ModifyEventSubscriptionResult { event_subscription: render(&s) })
        }
        Request::DeleteEventSubscription(r) => {
            let s = region.delete_event_subscription(&r.subscription_name, now).map_err(control_error)?;
            let mut shown = render_subscription(&s, arns, step, now);
            shown.status = Some("deleting".into());
            Response::DeleteEventSubscription(DeleteEventSubscriptionResult { event_subscription: Some(shown) })
        }
        Request::DescribeEventSubscriptions(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let subs = region
                .read(now, |s| match &r.subscription_name {
                    Some(name) => Ok(vec![s.event_subscription(name)?]),
                    None => Ok(s.event_subscriptions_all()),
                })
                .map_err(control_error)?;
            let (page, marker) = paginate(subs, |s| s.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeEventSubscriptions(EventSubscriptionsMessage {
                marker,
                event_subscriptions_list: Some(page.iter().map(|s| render_subscription(s, arns, step, now)).collect()),
            })
        }
        Request::AddSourceIdentifierToSubscription(r) => {
            let s = region
                .change_subscription_source(&r.subscription_name, &r.source_identifier, true, now)
                .map_err(control_error)?;
            Response::AddSourceIdentifierToSubscription(AddSourceIdentifierToSubscriptionResult {
                event_subscription: render(&s),
            })
        }
        Request::RemoveSourceIdentifierFromSubscription(r) => {
            let s = region
                .change_subscription_source(&r.subscription_name, &r.source_identifier, false, now)
                .map_err(control_error)?;
            Response::RemoveSourceIdentifierFromSubscription(RemoveSourceIdentifierFromSubscriptionResult {
                event_subscription: render(&s),
            })
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not an event subscription action", other.action()),
            ))
        }
    })
}

/// `2026-12-01 13:40:00.123`, the form RDS gives SubscriptionCreationTime in.
fn creation_time(ms: u64) -> String {
    timestamp(ms).to_string().replace('T', " ").trim_end_matches('Z').to_string()
}

fn render_subscription(s: &Subscription, arns: &Arns<'_>, step: u64, now: u64) -> EventSubscription {
    EventSubscription {
        customer_aws_id: Some(arns.account.to_string()),
        cust_subscription_id: Some(s.name.clone()),
        sns_topic_arn: Some(s.topic_arn.clone()),
        status: Some(s.status(step, now).into()),
        subscription_creation_time: Some(creation_time(s.created_ms)),
        source_type: s.source_type.clone(),
        source_ids_list: Some(s.source_ids.clone()),
        event_categories_list: Some(s.categories.clone()),
        enabled: Some(s.enabled),
        event_subscription_arn: Some(arns.of("es", &s.name)),
    }
}
