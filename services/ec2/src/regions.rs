//! Regions and Availability Zones: `DescribeRegions`, `DescribeAvailabilityZones`.

use squall_control::{ControlPlane, RegionName, RegionOptIn, Zone, ZoneState, REGION_CATALOG};
use squall_protocol::{ApiError, RequestContext};

use crate::generated::{
    AvailabilityZone, AvailabilityZoneMessage, AvailabilityZoneOptInStatus, AvailabilityZoneState,
    DescribeAvailabilityZonesRequest, DescribeAvailabilityZonesResult, DescribeRegionsRequest, DescribeRegionsResult,
    Region,
};
use crate::{check_dry_run, control_error, filter};

const REGION_FILTERS: &[&str] = &["endpoint", "opt-in-status", "region-name"];

const ZONE_FILTERS: &[&str] = &[
    "group-long-name",
    "group-name",
    "message",
    "network-border-group",
    "opt-in-status",
    "parent-zone-id",
    "parent-zone-name",
    "region-name",
    "state",
    "zone-id",
    "zone-name",
    "zone-type",
];

fn opt_in_status(opt_in: RegionOptIn) -> &'static str {
    match opt_in {
        RegionOptIn::NotRequired => "opt-in-not-required",
        RegionOptIn::NotOptedIn => "not-opted-in",
    }
}

pub(crate) fn describe_regions(
    _ctx: &RequestContext,
    request: DescribeRegionsRequest,
) -> Result<DescribeRegionsResult, ApiError> {
    check_dry_run(request.dry_run)?;
    let filters = request.filters.unwrap_or_default();
    filter::validate(&filters, REGION_FILTERS)?;
    let named = request.region_names.unwrap_or_default();
    for name in &named {
        if !REGION_CATALOG.iter().any(|r| r.name == name) {
            return Err(ApiError::invalid_parameter_value(format!("Invalid region: [{name}]")));
        }
    }
    let all = request.all_regions.unwrap_or(false);
    let regions = REGION_CATALOG
        .iter()
        // Named regions are listed whether enabled or not, as AWS documents.
        .filter(|r| {
            if named.is_empty() {
                all || r.opt_in == RegionOptIn::NotRequired
            } else {
                named.iter().any(|n| n == r.name)
            }
        })
        .filter(|r| {
            filter::matches(&filters, |name| match name {
                "endpoint" => vec![endpoint(r.name)],
                "opt-in-status" => vec![opt_in_status(r.opt_in).to_string()],
                "region-name" => vec![r.name.to_string()],
                _ => vec![],
            })
        })
        .map(|r| Region {
            region_name: Some(r.name.to_string()),
            endpoint: Some(endpoint(r.name)),
            opt_in_status: Some(opt_in_status(r.opt_in).to_string()),
            geography: None,
        })
        .collect();
    Ok(DescribeRegionsResult { regions: Some(regions) })
}

fn endpoint(region: &str) -> String {
    format!("ec2.{region}.amazonaws.com")
}

fn zone_state(state: ZoneState) -> AvailabilityZoneState {
    match state {
        ZoneState::Available => AvailabilityZoneState::Available,
        ZoneState::Impaired => AvailabilityZoneState::Impaired,
        ZoneState::Unavailable => AvailabilityZoneState::Unavailable,
    }
}

pub(crate) fn describe_availability_zones(
    control: &ControlPlane,
    ctx: &RequestContext,
    request: DescribeAvailabilityZonesRequest,
) -> Result<DescribeAvailabilityZonesResult, ApiError> {
    check_dry_run(request.dry_run)?;
    let filters = request.filters.unwrap_or_default();
    filter::validate(&filters, ZONE_FILTERS)?;
    let region_name = RegionName::parse(&ctx.region)
        .map_err(|_| ApiError::invalid_parameter_value(format!("Invalid region: [{}]", ctx.region)))?;
    let region = control.region(&region_name);
    let names = request.zone_names.unwrap_or_default();
    let ids = request.zone_ids.unwrap_or_default();
    // Every named zone must exist; the answer is the zones named by either list.
    for name in &names {
        region.zone_by_name(name).map_err(control_error)?;
    }
    for id in &ids {
        region.zone_by_id(id).map_err(control_error)?;
    }
    let selected = |z: &Zone| {
        (names.is_empty() && ids.is_empty())
            || names.iter().any(|n| z.name == n.as_str())
            || ids.iter().any(|i| z.id == i.as_str())
    };
    // AZs of a region form one zone group, `<region>-zg-1`; the border group is the region.
    let group_name = format!("{region_name}-zg-1");
    let border_group = region_name.to_string();
    let group_long_name = region.long_name().map(|l| format!("{l} 1"));
    let zones = region
        .zones()
        .into_iter()
        .filter(selected)
        .filter(|z| {
            filter::matches(&filters, |name| match name {
                "group-name" => vec![group_name.clone()],
                "network-border-group" | "region-name" => vec![border_group.clone()],
                "group-long-name" => group_long_name.iter().cloned().collect(),
                "message" => z.messages.clone(),
                "opt-in-status" => vec![AvailabilityZoneOptInStatus::OptInNotRequired.as_str().to_string()],
                "state" => vec![zone_state(z.state).as_str().to_string()],
                "zone-id" => vec![z.id.to_string()],
                "zone-name" => vec![z.name.to_string()],
                "zone-type" => vec!["availability-zone".to_string()],
                _ => vec![],
            })
        })
        .map(|z| AvailabilityZone {
            opt_in_status: Some(AvailabilityZoneOptInStatus::OptInNotRequired),
            messages: Some(z.messages.iter().map(|m| AvailabilityZoneMessage { message: Some(m.clone()) }).collect()),
            region_name: Some(region_name.to_string()),
            zone_name: Some(z.name.to_string()),
            zone_id: Some(z.id.to_string()),
            group_name: Some(group_name.clone()),
            network_border_group: Some(border_group.clone()),
            zone_type: Some("availability-zone".to_string()),
            group_long_name: group_long_name.clone(),
            state: Some(zone_state(z.state)),
            ..Default::default()
        })
        .collect();
    Ok(DescribeAvailabilityZonesResult { availability_zones: Some(zones) })
}
