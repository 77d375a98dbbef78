//! VPCs and subnets: `DescribeVpcs`, `DescribeSubnets`, `CreateVpc`, `DeleteVpc`,
//! `CreateSubnet`, `DeleteSubnet`. Every region starts with a default VPC (172.31.0.0/16) and a
//! default subnet per Availability Zone; the subnet decides where an instance runs.

use squall_control::model::network::{Ipv6Association, Subnet as ControlSubnet, SubnetSpec, Vpc as ControlVpc};
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{region, tags_for, wire_tags};
use crate::generated::{
    CreateSubnetRequest, CreateSubnetResult, CreateVpcRequest, CreateVpcResult, DeleteSubnetRequest, DeleteVpcRequest,
    DescribeSubnetsRequest, DescribeSubnetsResult, DescribeVpcsRequest, DescribeVpcsResult, IpSource,
    Ipv6AddressAttribute, ResourceType, Subnet, SubnetCidrBlockState, SubnetCidrBlockStateCode,
    SubnetIpv6CidrBlockAssociation, SubnetState, Tenancy, Vpc, VpcCidrBlockAssociation, VpcCidrBlockState,
    VpcCidrBlockStateCode, VpcIpv6CidrBlockAssociation, VpcState,
};
use crate::{check_dry_run, control_error, filter};

const VPC_FILTERS: &[&str] =
    &["cidr", "cidr-block-association.cidr-block", "is-default", "owner-id", "state", "tag-key", "tag:*", "vpc-id"];
const SUBNET_FILTERS: &[&str] = &[
    "availability-zone",
    "availability-zone-id",
    "cidr-block",
    "cidr",
    "cidrBlock",
    "default-for-az",
    "defaultForAz",
    "owner-id",
    "state",
    "subnet-id",
    "tag-key",
    "tag:*",
    "vpc-id",
];

fn wire_vpc(v: &ControlVpc, account: &str) -> Vpc {
    Vpc {
        vpc_id: Some(v.id.clone()),
        cidr_block: Some(v.cidr.clone()),
        state: Some(VpcState::Available),
        is_default: Some(v.is_default),
        owner_id: Some(account.to_string()),
        instance_tenancy: Some(Tenancy::Default),
        dhcp_options_id: Some("default".to_string()),
        cidr_block_association_set: Some(vec![VpcCidrBlockAssociation {
            association_id: Some(format!("vpc-cidr-assoc-{}", &v.id[4..])),
            cidr_block: Some(v.cidr.clone()),
            cidr_block_state: Some(VpcCidrBlockState {
                state: Some(VpcCidrBlockStateCode::Associated),
                status_message: None,
            }),
        }]),
        ipv6_cidr_block_association_set: v
            .ipv6
            .as_ref()
            .map(|a| vec![wire_vpc_ipv6(a, VpcCidrBlockStateCode::Associated)]),
        tags: Some(wire_tags(&v.tags)),
        ..Default::default()
    }
}

pub(crate) fn wire_vpc_ipv6(a: &Ipv6Association, state: VpcCidrBlockStateCode) -> VpcIpv6CidrBlockAssociation {
    VpcIpv6CidrBlockAssociation {
        association_id: Some(a.id.clone()),
        ipv6_cidr_block: Some(a.cidr.clone()),
        ipv6_cidr_block_state: Some(VpcCidrBlockState { state: Some(state), status_message: None }),
        network_border_group: None,
        ipv6_pool: Some("Amazon".to_string()),
        ipv6_address_attribute: Some(Ipv6AddressAttribute::Public),
        ip_source: Some(IpSource::Amazon),
    }
}

pub(crate) fn wire_subnet_ipv6(a: &Ipv6Association, state: SubnetCidrBlockStateCode) -> SubnetIpv6CidrBlockAssociation {
    SubnetIpv6CidrBlockAssociation {
        association_id: Some(a.id.clone()),
        ipv6_cidr_block: Some(a.cidr.clone()),
        ipv6_cidr_block_state: Some(SubnetCidrBlockState { state: Some(state), status_message: None }),
        ipv6_address_attribute: Some(Ipv6AddressAttribute::Public),
        ip_source: Some(IpSource::Amazon),
    }
}

fn wire_subnet(s: &ControlSubnet, ctx: &RequestContext) -> Subnet {
    Subnet {
        subnet_id: Some(s.id.clone()),
        vpc_id: Some(s.vpc_id.clone()),
        cidr_block: Some(s.cidr.clone()),
        availability_zone: Some(s.zone.to_string()),
        availability_zone_id: Some(s.zone_id.to_string()),
        state: Some(SubnetState::Available),
        available_ip_address_count: Some(s.available_addresses().min(i32::MAX as u64) as i32),
        default_for_az: Some(s.default_for_az),
        map_public_ip_on_launch: Some(s.maps_public_ip()),
        owner_id: Some(ctx.account_id.clone()),
        subnet_arn: Some(format!("arn:aws:ec2:{}:{}:subnet/{}", ctx.region, ctx.account_id, s.id)),
        assign_ipv6_address_on_creation: Some(s.assign_ipv6),
        ipv6_cidr_block_association_set: Some(
            s.ipv6.iter().map(|a| wire_subnet_ipv6(a, SubnetCidrBlockStateCode::Associated)).collect(),
        ),
        tags: Some(wire_tags(&s.tags)),
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
    let ids = r.vpc_ids.unwrap_or_default();
    let vpcs = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.vpc(id)?;
            }
            Ok(state.vpcs())
        })
        .map_err(control_error)?;
    let vpcs = vpcs
        .iter()
        .filter(|v| ids.is_empty() || ids.contains(&v.id))
        .filter(|v| {
            filter::matches(&filters, |name| match name {
                "cidr" | "cidr-block-association.cidr-block" => vec![v.cidr.clone()],
                "is-default" => vec![v.is_default.to_string()],
                "owner-id" => vec![ctx.account_id.clone()],
                "state" => vec!["available".to_string()],
                "vpc-id" => vec![v.id.clone()],
                other => filter::tag_values(&v.tags, other),
            })
        })
        .map(|v| wire_vpc(v, &ctx.account_id))
        .collect();
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
    let ids = r.subnet_ids.unwrap_or_default();
    let subnets = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.subnet(id)?;
            }
            Ok(state.subnets())
        })
        .map_err(control_error)?;
    let subnets = subnets
        .iter()
        .filter(|s| ids.is_empty() || ids.contains(&s.id))
        .filter(|s| {
            filter::matches(&filters, |name| match name {
                "availability-zone" => vec![s.zone.to_string()],
                "availability-zone-id" => vec![s.zone_id.to_string()],
                "cidr-block" | "cidr" | "cidrBlock" => vec![s.cidr.clone()],
                "default-for-az" | "defaultForAz" => vec![s.default_for_az.to_string()],
                "owner-id" => vec![ctx.account_id.clone()],
                "state" => vec!["available".to_string()],
                "subnet-id" => vec![s.id.clone()],
                "vpc-id" => vec![s.vpc_id.clone()],
                other => filter::tag_values(&s.tags, other),
            })
        })
        .map(|s| wire_subnet(s, ctx))
        .collect();
    Ok(DescribeSubnetsResult { subnets: Some(subnets), next_token: None })
}

pub(crate) fn create_vpc(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateVpcRequest,
) -> Result<CreateVpcResult, ApiError> {
    let cidr = r.cidr_block.as_deref().ok_or_else(|| ApiError::missing_parameter("CidrBlock"))?;
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Vpc)?;
    let region = region(control, ctx)?;
    let mut vpc = region.create_vpc(cidr, tags, control.now_ms(), r.dry_run == Some(true)).map_err(control_error)?;
    if r.amazon_provided_ipv6_cidr_block == Some(true) {
        vpc.ipv6 = Some(region.associate_vpc_ipv6(&vpc.id, control.now_ms()).map_err(control_error)?);
    }
    let mut wire = wire_vpc(&vpc, &ctx.account_id);
    // A new VPC is `pending` in CreateVpc's answer and `available` right after.
    wire.state = Some(VpcState::Pending);
    Ok(CreateVpcResult { vpc: Some(wire) })
}

pub(crate) fn delete_vpc(control: &ControlPlane, ctx: &RequestContext, r: DeleteVpcRequest) -> Result<(), ApiError> {
    region(control, ctx)?.delete_vpc(&r.vpc_id, control.now_ms(), r.dry_run == Some(true)).map_err(control_error)
}

pub(crate) fn create_subnet(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateSubnetRequest,
) -> Result<CreateSubnetResult, ApiError> {
    let cidr = r.cidr_block.clone().ok_or_else(|| ApiError::missing_parameter("CidrBlock"))?;
    let region = region(control, ctx)?;
    let zone = match (&r.availability_zone, &r.availability_zone_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "Only one of availabilityZone or availabilityZoneId may be specified.",
            ))
        }
        (Some(name), None) => region.zone_by_name(name).map_err(control_error)?,
        (None, Some(id)) => region.zone_by_id(id).map_err(control_error)?,
        // AWS picks a zone; squall takes the first.
        (None, None) => region.zones().into_iter().next().ok_or_else(|| ApiError::internal("no zones"))?,
    };
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::Subnet)?;
    let spec = SubnetSpec { vpc_id: r.vpc_id.clone(), cidr, zone: zone.name, zone_id: zone.id, tags };
    let subnet = region.create_subnet(spec, control.now_ms(), r.dry_run == Some(true)).map_err(control_error)?;
    Ok(CreateSubnetResult { subnet: Some(wire_subnet(&subnet, ctx)) })
}

pub(crate) fn delete_subnet(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteSubnetRequest,
) -> Result<(), ApiError> {
    region(control, ctx)?.delete_subnet(&r.subnet_id, control.now_ms(), r.dry_run == Some(true)).map_err(control_error)
}
