//! Tags on any resource squall knows: `CreateTags`, `DeleteTags`, `DescribeTags`.

use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{offset_page, page_size, region, tag_map, validate_tag};
use crate::generated::{
    CreateTagsRequest, DeleteTagsRequest, DescribeTagsRequest, DescribeTagsResult, ResourceType, TagDescription,
};
use crate::{check_dry_run, control_error, filter};

const TAG_FILTERS: &[&str] = &["key", "resource-id", "resource-type", "tag:*", "value"];

pub(crate) fn create_tags(control: &ControlPlane, ctx: &RequestContext, r: CreateTagsRequest) -> Result<(), ApiError> {
    let tags = tag_map(&r.tags)?;
    let now = control.now_ms();
    region(control, ctx)?.create_tags(&r.resources, &tags, now, r.dry_run == Some(true)).map_err(control_error)
}

pub(crate) fn delete_tags(control: &ControlPlane, ctx: &RequestContext, r: DeleteTagsRequest) -> Result<(), ApiError> {
    let mut tags = Vec::new();
    for t in r.tags.unwrap_or_default() {
        let key = t.key.unwrap_or_default();
        validate_tag(&key, t.value.as_deref().unwrap_or_default())?;
        tags.push((key, t.value));
    }
    let now = control.now_ms();
    region(control, ctx)?.delete_tags(&r.resources, &tags, now, r.dry_run == Some(true)).map_err(control_error)
}

fn resource_type(name: &str) -> ResourceType {
    ResourceType::from_wire(name).unwrap_or(ResourceType::Volume)
}

pub(crate) fn describe_tags(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeTagsRequest,
) -> Result<DescribeTagsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, TAG_FILTERS)?;
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(1000);
    let now = control.now_ms();
    let all = region(control, ctx)?.read(now, |state| Ok(state.all_tags())).map_err(control_error)?;
    let matching: Vec<_> = all
        .into_iter()
        .filter(|(id, kind, key, value)| {
            filter::matches(&filters, |name| match name {
                "key" => vec![key.clone()],
                "value" => vec![value.clone()],
                "resource-id" => vec![id.clone()],
                "resource-type" => vec![kind.to_string()],
                other => match other.strip_prefix("tag:") {
                    Some(k) if k == key => vec![value.clone()],
                    _ => vec![],
                },
            })
        })
        .collect();
    // The token is the position in the (sorted, stable) list of tags.
    let (page, next_token) = offset_page(matching, r.next_token.as_deref(), limit)?;
    let tags = page
        .into_iter()
        .map(|(id, kind, key, value)| TagDescription {
            resource_id: Some(id),
            resource_type: Some(resource_type(kind)),
            key: Some(key),
            value: Some(value),
        })
        .collect();
    Ok(DescribeTagsResult { tags: Some(tags), next_token })
}
