//! What the EC2 handlers share: id parsing with EC2's malformed-id errors, tags, paging, time.

use std::collections::BTreeMap;
use std::sync::Arc;

use squall_control::{ControlPlane, Region, RegionName};
use squall_protocol::{ApiError, RequestContext, Timestamp};

use crate::generated::{ResourceType, Tag, TagSpecification};

pub(crate) fn region(control: &ControlPlane, ctx: &RequestContext) -> Result<Arc<Region>, ApiError> {
    let name = RegionName::parse(&ctx.region)
        .map_err(|_| ApiError::invalid_parameter_value(format!("Invalid region: [{}]", ctx.region)))?;
    Ok(control.region(&name))
}

pub(crate) fn timestamp(ms: u64) -> Timestamp {
    Timestamp { epoch_millis: ms as i64 }
}

/// Parses an id of one kind, answering EC2's `Invalid<Kind>ID.Malformed` for anything else.
pub(crate) fn parse_id<T>(
    value: &str,
    code: &'static str,
    prefix: &str,
    parse: fn(&str) -> Result<T, squall_control::IdError>,
) -> Result<T, ApiError> {
    parse(value).map_err(|_| ApiError::client(code, format!("Invalid id: \"{value}\" (expecting \"{prefix}-...\")")))
}

pub(crate) fn volume_id(value: &str) -> Result<squall_control::VolumeId, ApiError> {
    parse_id(value, "InvalidVolumeID.Malformed", "vol", squall_control::VolumeId::parse)
}

pub(crate) fn snapshot_id(value: &str) -> Result<squall_control::SnapshotId, ApiError> {
    parse_id(value, "InvalidSnapshotID.Malformed", "snap", squall_control::SnapshotId::parse)
}

pub(crate) fn instance_id(value: &str) -> Result<squall_control::InstanceId, ApiError> {
    parse_id(value, "InvalidInstanceID.Malformed", "i", squall_control::InstanceId::parse)
}

/// AWS's tag rules (keys 1..=128 characters, values up to 256, the `aws:` prefix reserved).
pub(crate) fn validate_tag(key: &str, value: &str) -> Result<(), ApiError> {
    squall_protocol::tags::EC2.check(key, value).map_err(|p| ApiError::invalid_parameter_value(p.to_string()))
}

pub(crate) fn tag_map(tags: &[Tag]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for t in tags {
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        validate_tag(&key, &value)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// The tags of `TagSpecification.N` meant for `resource` (a spec for another type is an error).
pub(crate) fn tags_for(
    specs: Option<&[TagSpecification]>,
    resource: ResourceType,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for spec in specs.unwrap_or_default() {
        match spec.resource_type {
            Some(t) if t == resource => out.extend(tag_map(spec.tags.as_deref().unwrap_or_default())?),
            Some(t) => {
                return Err(ApiError::invalid_parameter_value(format!(
                    "'{}' is not a valid taggable resource type for this operation.",
                    t.as_str()
                )))
            }
            None => return Err(ApiError::missing_parameter("TagSpecification.N.ResourceType")),
        }
    }
    Ok(out)
}

pub(crate) fn wire_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

/// Page size from `MaxResults`: EC2 rejects values under `min` and caps values over `max`.
pub(crate) fn page_size(max_results: Option<i32>, min: i32, max: i32) -> Result<Option<usize>, ApiError> {
    match max_results {
        None => Ok(None),
        Some(n) if n < min => Err(ApiError::invalid_parameter_value(format!(
            "Value ( {n} ) for parameter maxResults is invalid. Parameter must be between {min} and {max}."
        ))),
        Some(n) => Ok(Some(n.min(max) as usize)),
    }
}

/// `NextToken` is the id of the last item of the previous page; anything else is refused.
pub(crate) fn after_token<T>(
    token: Option<&str>,
    parse: impl Fn(&str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    match token {
        None | Some("") => Ok(None),
        Some(t) => parse(t)
            .map(Some)
            .map_err(|_| ApiError::invalid_parameter_value(format!("Invalid value '{t}' for NextToken."))),
    }
}

/// One page of an in-memory listing whose `NextToken` is the position of the page's first item.
pub(crate) fn offset_page<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start: usize = match token {
        None | Some("") => 0,
        Some(t) => {
            t.parse().map_err(|_| ApiError::invalid_parameter_value(format!("Invalid value '{t}' for NextToken.")))?
        }
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let end = start + page.len();
    Ok((page, (end < total).then(|| end.to_string())))
}
