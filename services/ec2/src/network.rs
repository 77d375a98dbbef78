//! The default network of each region: `DescribeVpcs`, `DescribeSubnets`. Every region has one
//! default VPC (172.31.0.0/16) with a default subnet per Availability Zone; the subnet decides
//! where an instance runs.

use squall_control::{ControlPlane, DefaultNetwork};
use squall_protocol::{ApiError, RequestContext};

use crate::common::region;
use crate::generated::{
    DescribeSubnetsRequest, DescribeSubnetsResult, DescribeVpcsRequest, DescribeVpcsResult, Subnet, SubnetState,
    Tenancy, Vpc, VpcCidrBlockAssociation, VpcCidrBlockState, VpcCidrBlockStateCode, VpcState,
};
use crate::{check_dry_run, filter};

const VPC_FILTERS: &[&str] =
    &["cidr", "cidr-block-association.cidr-block", "is-default", "owner-id", "state", "vpc-id"];
const SUBNET_FILTERS: &[&str] = &[
    "availability-zone",
    "availability-zone-id",
    "cidr-block",
    "default-for-az",
    "owner-id",
    "state",
    "subnet-id",
    "vpc-id",
];

/// IPv4 addresses of a /20 that instances can use (AWS reserves five per subnet).
const SUBNET_ADDRESSES: i32 = 4096 - 5;

fn wire_vpc(n: &DefaultNetwork, account: &str) -> Vpc {
    Vpc {
        vpc_id: Some(n.vpc_id.clone()),
        cidr_block: Some(n.cidr.to_string()),
        state: Some(VpcState::Available),
        is_default: Some(true),
        owner_id: Some(account.to_string()),
        instance_tenancy: Some(Tenancy::Default),
        dhcp_options_id: Some("default".to_string()),
        cidr_block_association_set: Some(vec![VpcCidrBlockAssociation {
            association_id: Some(format!("vpc-cidr-assoc-{}", &n.vpc_id[4..])),
            cidr_block: Some(n.cidr.to_string()),
            cidr_block_state: Some(VpcCidrBlockState {
                state: Some(VpcCidrBlockStateCode::Associated),
                status_message: None,
            }),
        }]),
        tags: Some(Vec::new()),
        ..Default::default()
    }
}

pub(crate) fn describe_vpcs(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVpcsRequest,
) -> Result<DescribeVpcsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, VPC_FILTERS)?;
    let network = region(control, ctx)?.default_network();
    for id in r.vpc_ids.iter().flatten() {
        if *id != network.vpc_id {
            return Err(ApiError::client("InvalidVpcID.NotFound", format!("The vpc ID '{id}' does not exist")));
        }
    }
    let keep = filter::matches(&filters, |name| match name {
        "cidr" | "cidr-block-association.cidr-block" => vec![network.cidr.to_string()],
        "is-default" => vec!["true".to_string()],
        "owner-id" => vec![ctx.account_id.clone()],
        "state" => vec!["available".to_string()],
        "vpc-id" => vec![network.vpc_id.clone()],
        _ => vec![],
    });
    let vpcs = if keep { vec![wire_vpc(&network, &ctx.account_id)] } else { Vec::new() };
    Ok(DescribeVpcsResult { vpcs: Some(vpcs), next_token: None })
}

pub(crate) fn describe_subnets(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSubnetsRequest,
) -> Result<DescribeSubnetsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, SUBNET_FILTERS)?;
    let network = region(control, ctx)?.default_network();
    let ids = r.subnet_ids.unwrap_or_default();
    if let Some(missing) = ids.iter().find(|id| !network.subnets.iter().any(|s| s.id == **id)) {
        return Err(ApiError::client("InvalidSubnetID.NotFound", format!("The subnet ID '{missing}' does not exist")));
    }
    let subnets = network
        .subnets
        .iter()
        .filter(|s| ids.is_empty() || ids.contains(&s.id))
        .filter(|s| {
            filter::matches(&filters, |name| match name {
                "availability-zone" => vec![s.zone.to_string()],
                "availability-zone-id" => vec![s.zone_id.to_string()],
                "cidr-block" => vec![s.cidr.clone()],
                "default-for-az" => vec!["true".to_string()],
                "owner-id" => vec![ctx.account_id.clone()],
                "state" => vec!["available".to_string()],
                "subnet-id" => vec![s.id.clone()],
                "vpc-id" => vec![network.vpc_id.clone()],
                _ => vec![],
            })
        })
        .map(|s| Subnet {
            subnet_id: Some(s.id.clone()),
            vpc_id: Some(network.vpc_id.clone()),
            cidr_block: Some(s.cidr.clone()),
            availability_zone: Some(s.zone.to_string()),
            availability_zone_id: Some(s.zone_id.to_string()),
            state: Some(SubnetState::Available),
            available_ip_address_count: Some(SUBNET_ADDRESSES),
            default_for_az: Some(true),
            map_public_ip_on_launch: Some(true),
            owner_id: Some(ctx.account_id.clone()),
            subnet_arn: Some(format!("arn:aws:ec2:{}:{}:subnet/{}", ctx.region, ctx.account_id, s.id)),
            assign_ipv6_address_on_creation: Some(false),
            ipv6_cidr_block_association_set: Some(Vec::new()),
            tags: Some(Vec::new()),
            ..Default::default()
        })
        .collect();
    Ok(DescribeSubnetsResult { subnets: Some(subnets), next_token: None })
}
