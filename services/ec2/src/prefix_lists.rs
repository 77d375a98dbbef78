//! AWS-managed prefix lists (DescribeManagedPrefixLists, DescribePrefixLists,
//! GetManagedPrefixListEntries): the lists of the services reachable through gateway endpoints
//! (S3, DynamoDB) and CloudFront's origin-facing list, which security-group rules and routes
//! name. They are AWS's, the same in every account: a catalogue, like the public images. In
//! us-east-1 the ids are AWS's own; other regions get stable ids of the same form. The CIDR
//! blocks are a subset of AWS's published ranges for us-east-1, served in every region.

use squall_control::{stable_hex, ControlPlane};
use squall_protocol::{ApiError, RequestContext};

use crate::common::{offset_page, page_size, region};
use crate::generated::*;
use crate::{check_dry_run, filter};

struct Catalogue {
    /// The service part of the name (`s3` in `com.amazonaws.us-east-1.s3`); `None` for the
    /// global CloudFront list.
    service: Option<&'static str>,
    name: &'static str,
    us_east_1_id: &'static str,
    max_entries: i32,
    cidrs: &'static [&'static str],
}

const CATALOGUE: &[Catalogue] = &[
    Catalogue {
        service: Some("s3"),
        name: "s3",
        us_east_1_id: "pl-63a5400a",
        max_entries: 15,
        cidrs: &["3.5.0.0/19", "16.182.0.0/16", "18.34.0.0/19", "18.34.232.0/21", "52.216.0.0/15", "54.231.0.0/16"],
    },
    Catalogue {
        service: Some("dynamodb"),
        name: "dynamodb",
        us_east_1_id: "pl-02cd2c6b",
        max_entries: 15,
        cidrs: &["3.218.180.0/22", "52.94.0.0/22", "52.119.224.0/20"],
    },
    Catalogue {
        service: None,
        name: "com.amazonaws.global.cloudfront.origin-facing",
        us_east_1_id: "pl-3b927c52",
        max_entries: 55,
        cidrs: &["3.172.0.0/18", "13.32.0.0/15", "52.84.0.0/15", "54.230.0.0/16", "64.252.64.0/18", "130.176.0.0/17"],
    },
];

const MANAGED_FILTERS: &[&str] = &["owner-id", "prefix-list-id", "prefix-list-name"];
const GATEWAY_FILTERS: &[&str] = &["prefix-list-id", "prefix-list-name"];

struct Listed {
    id: String,
    name: String,
    entry: &'static Catalogue,
}

fn lists(region: &str) -> Vec<Listed> {
    CATALOGUE
        .iter()
        .map(|c| Listed {
            id: if region == "us-east-1" {
                c.us_east_1_id.to_string()
            } else {
                format!("pl-{}", &stable_hex(&format!("{region}/{}", c.name))[..8])
            },
            name: match c.service {
                Some(s) => format!("com.amazonaws.{region}.{s}"),
                None => c.name.to_string(),
            },
            entry: c,
        })
        .collect()
}

fn check_ids(all: &[Listed], ids: &[String]) -> Result<(), ApiError> {
    for id in ids {
        if !all.iter().any(|l| l.id == *id) {
            return Err(not_found(id));
        }
    }
    Ok(())
}

/// `InvalidPrefixListId.NotFound` unless `id` names a prefix list of the region (security-group
/// rules that name one).
pub(crate) fn check_exists(region: &str, id: &str) -> Result<(), ApiError> {
    if lists(region).iter().any(|l| l.id == id) {
        Ok(())
    } else {
        Err(ApiError::client("InvalidPrefixListId.NotFound", format!("The prefix list ID '{id}' does not exist")))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::client("InvalidPrefixListID.NotFound", format!("The prefix list ID '{id}' does not exist"))
}

pub(crate) fn describe_managed_prefix_lists(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeManagedPrefixListsRequest,
) -> Result<DescribeManagedPrefixListsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, MANAGED_FILTERS)?;
    let ids = r.prefix_list_ids.unwrap_or_default();
    let all = lists(&ctx.region);
    check_ids(&all, &ids)?;
    let limit = page_size(r.max_results, 1, 100)?.unwrap_or(usize::MAX);
    let found: Vec<ManagedPrefixList> = all
        .iter()
        .filter(|l| ids.is_empty() || ids.contains(&l.id))
        .filter(|l| {
            filter::matches(&filters, |name| match name {
                "owner-id" => vec!["AWS".into()],
                "prefix-list-id" => vec![l.id.clone()],
                "prefix-list-name" => vec![l.name.clone()],
                _ => Vec::new(),
            })
        })
        .map(|l| ManagedPrefixList {
            prefix_list_id: Some(l.id.clone()),
            address_family: Some("IPv4".into()),
            state: Some(PrefixListState::CreateComplete),
            prefix_list_arn: Some(format!("arn:aws:ec2:{}:aws:prefix-list/{}", ctx.region, l.id)),
            prefix_list_name: Some(l.name.clone()),
            max_entries: Some(l.entry.max_entries),
            version: Some(1),
            tags: Some(Vec::new()),
            owner_id: Some("AWS".into()),
            ..Default::default()
        })
        .collect();
    let (page, next_token) = offset_page(found, r.next_token.as_deref(), limit)?;
    Ok(DescribeManagedPrefixListsResult { prefix_lists: Some(page), next_token })
}

/// DescribePrefixLists: the lists of gateway-endpoint services (S3, DynamoDB), with their blocks.
pub(crate) fn describe_prefix_lists(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribePrefixListsRequest,
) -> Result<DescribePrefixListsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, GATEWAY_FILTERS)?;
    let ids = r.prefix_list_ids.unwrap_or_default();
    let all: Vec<Listed> = lists(&ctx.region).into_iter().filter(|l| l.entry.service.is_some()).collect();
    check_ids(&all, &ids)?;
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(usize::MAX);
    let found: Vec<PrefixList> = all
        .iter()
        .filter(|l| ids.is_empty() || ids.contains(&l.id))
        .filter(|l| {
            filter::matches(&filters, |name| match name {
                "prefix-list-id" => vec![l.id.clone()],
                "prefix-list-name" => vec![l.name.clone()],
                _ => Vec::new(),
            })
        })
        .map(|l| PrefixList {
            cidrs: Some(l.entry.cidrs.iter().map(|c| c.to_string()).collect()),
            prefix_list_id: Some(l.id.clone()),
            prefix_list_name: Some(l.name.clone()),
        })
        .collect();
    let (page, next_token) = offset_page(found, r.next_token.as_deref(), limit)?;
    Ok(DescribePrefixListsResult { prefix_lists: Some(page), next_token })
}

pub(crate) fn get_managed_prefix_list_entries(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: GetManagedPrefixListEntriesRequest,
) -> Result<GetManagedPrefixListEntriesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?;
    let all = lists(&ctx.region);
    let l = all.iter().find(|l| l.id == r.prefix_list_id).ok_or_else(|| not_found(&r.prefix_list_id))?;
    if r.target_version.is_some_and(|v| v != 1) {
        return Err(ApiError::client(
            "InvalidParameterValue",
            format!("The prefix list {} does not have version {}.", l.id, r.target_version.unwrap_or_default()),
        ));
    }
    let limit = page_size(r.max_results, 1, 100)?.unwrap_or(usize::MAX);
    let entries: Vec<PrefixListEntry> =
        l.entry.cidrs.iter().map(|c| PrefixListEntry { cidr: Some(c.to_string()), description: None }).collect();
    let (page, next_token) = offset_page(entries, r.next_token.as_deref(), limit)?;
    Ok(GetManagedPrefixListEntriesResult { entries: Some(page), next_token })
}
