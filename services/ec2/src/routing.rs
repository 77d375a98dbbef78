//! Internet gateways, route tables, network ACLs, VPC attributes and account attributes: what
//! Terraform's AWS provider reads and writes around `aws_vpc` and `aws_subnet`. The rules are
//! the control plane's (`squall_control` routing).

use squall_control::model::network::{Vpc as ControlVpc, VpcAttribute};
use squall_control::model::routing::{
    InternetGateway as ControlGateway, RouteOrigin as ControlOrigin, RouteTable as ControlTable,
};
use squall_control::state::RegionState;
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{region, tags_for, wire_tags};
use crate::generated::*;
use crate::{check_dry_run, control_error, filter};

const GATEWAY_FILTERS: &[&str] =
    &["attachment.state", "attachment.vpc-id", "internet-gateway-id", "owner-id", "tag-key", "tag:*"];
const ROUTE_TABLE_FILTERS: &[&str] = &[
    "association.gateway-id",
    "association.main",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "owner-id",
    "route-table-id",
    "route.destination-cidr-block",
    "route.gateway-id",
    "route.origin",
    "route.state",
    "tag-key",
    "tag:*",
    "vpc-id",
];
const ACL_FILTERS: &[&str] = &[
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "default",
    "network-acl-id",
    "owner-id",
    "vpc-id",
];

fn wire_gateway(g: &ControlGateway, account: &str) -> InternetGateway {
    InternetGateway {
        attachments: Some(
            g.vpc_id
                .iter()
                .map(|v| InternetGatewayAttachment {
                    state: Some(AttachmentStatus::Available),
                    vpc_id: Some(v.clone()),
                })
                .collect(),
        ),
        internet_gateway_id: Some(g.id.clone()),
        owner_id: Some(account.to_string()),
        tags: Some(wire_tags(&g.tags)),
    }
}

fn wire_table(state: &RegionState, t: &ControlTable, account: &str) -> RouteTable {
    RouteTable {
        associations: Some(
            t.associations
                .iter()
                .map(|a| RouteTableAssociation {
                    main: Some(a.subnet_id.is_none()),
                    route_table_association_id: Some(a.id.clone()),
                    route_table_id: Some(t.id.clone()),
                    subnet_id: a.subnet_id.clone(),
                    association_state: Some(RouteTableAssociationState {
                        state: Some(RouteTableAssociationStateCode::Associated),
                        status_message: None,
                    }),
                    ..Default::default()
                })
                .collect(),
        ),
        propagating_vgws: Some(Vec::new()),
        route_table_id: Some(t.id.clone()),
        routes: Some(
            t.routes
                .iter()
                .map(|r| Route {
                    destination_cidr_block: Some(r.destination.clone()),
                    gateway_id: Some(r.gateway_id.clone()),
                    origin: Some(match r.origin {
                        ControlOrigin::CreateRouteTable => RouteOrigin::CreateRouteTable,
                        ControlOrigin::CreateRoute => RouteOrigin::CreateRoute,
                    }),
                    state: Some(if state.route_active(t, r) { RouteState::Active } else { RouteState::Blackhole }),
                    ..Default::default()
                })
                .collect(),
        ),
        tags: Some(wire_tags(&t.tags)),
        vpc_id: Some(t.vpc_id.clone()),
        owner_id: Some(account.to_string()),
    }
}

pub(crate) fn create_internet_gateway(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateInternetGatewayRequest,
) -> Result<CreateInternetGatewayResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::InternetGateway)?;
    check_dry_run(r.dry_run)?;
    let g = region(control, ctx)?.create_internet_gateway(tags, control.now_ms()).map_err(control_error)?;
    Ok(CreateInternetGatewayResult { internet_gateway: Some(wire_gateway(&g, &ctx.account_id)) })
}

pub(crate) fn attach_internet_gateway(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AttachInternetGatewayRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?
        .attach_internet_gateway(&r.internet_gateway_id, &r.vpc_id, control.now_ms())
        .map_err(control_error)
}

pub(crate) fn detach_internet_gateway(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DetachInternetGatewayRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?
        .detach_internet_gateway(&r.internet_gateway_id, &r.vpc_id, control.now_ms())
        .map_err(control_error)
}

pub(crate) fn delete_internet_gateway(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteInternetGatewayRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?.delete_internet_gateway(&r.internet_gateway_id, control.now_ms()).map_err(control_error)
}

pub(crate) fn describe_internet_gateways(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInternetGatewaysRequest,
) -> Result<DescribeInternetGatewaysResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, GATEWAY_FILTERS)?;
    let ids = r.internet_gateway_ids.unwrap_or_default();
    let gateways = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.internet_gateway(id)?;
            }
            Ok(state.internet_gateways_all())
        })
        .map_err(control_error)?;
    let list = gateways
        .iter()
        .filter(|g| ids.is_empty() || ids.contains(&g.id))
        .filter(|g| {
            filter::matches(&filters, |name| match name {
                "attachment.state" => g.vpc_id.iter().map(|_| "available".to_string()).collect(),
                "attachment.vpc-id" => g.vpc_id.iter().cloned().collect(),
                "internet-gateway-id" => vec![g.id.clone()],
                "owner-id" => vec![ctx.account_id.clone()],
                other => filter::tag_values(&g.tags, other),
            })
        })
        .map(|g| wire_gateway(g, &ctx.account_id))
        .collect();
    Ok(DescribeInternetGatewaysResult { internet_gateways: Some(list), next_token: None })
}

pub(crate) fn create_route_table(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateRouteTableRequest,
) -> Result<CreateRouteTableResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::RouteTable)?;
    check_dry_run(r.dry_run)?;
    let region = region(control, ctx)?;
    let now = control.now_ms();
    let t = region.create_route_table(&r.vpc_id, tags, now).map_err(control_error)?;
    let wire = region.read(now, |state| Ok(wire_table(state, &t, &ctx.account_id))).map_err(control_error)?;
    Ok(CreateRouteTableResult { route_table: Some(wire), client_token: r.client_token })
}

pub(crate) fn delete_route_table(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteRouteTableRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?.delete_route_table(&r.route_table_id, control.now_ms()).map_err(control_error)
}

pub(crate) fn describe_route_tables(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeRouteTablesRequest,
) -> Result<DescribeRouteTablesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, ROUTE_TABLE_FILTERS)?;
    let ids = r.route_table_ids.unwrap_or_default();
    let list = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.route_table(id)?;
            }
            Ok(state
                .route_tables_all()
                .iter()
                .filter(|t| ids.is_empty() || ids.contains(&t.id))
                .filter(|t| {
                    filter::matches(&filters, |name| match name {
                        "association.main" => {
                            t.associations.iter().map(|a| a.subnet_id.is_none().to_string()).collect()
                        }
                        "association.route-table-association-id" => {
                            t.associations.iter().map(|a| a.id.clone()).collect()
                        }
                        "association.route-table-id" => {
                            if t.associations.is_empty() {
                                Vec::new()
                            } else {
                                vec![t.id.clone()]
                            }
                        }
                        "association.subnet-id" => t.associations.iter().filter_map(|a| a.subnet_id.clone()).collect(),
                        "association.gateway-id" => Vec::new(),
                        "owner-id" => vec![ctx.account_id.clone()],
                        "route-table-id" => vec![t.id.clone()],
                        "route.destination-cidr-block" => t.routes.iter().map(|r| r.destination.clone()).collect(),
                        "route.gateway-id" => t.routes.iter().map(|r| r.gateway_id.clone()).collect(),
                        "route.origin" => t
                            .routes
                            .iter()
                            .map(|r| match r.origin {
                                ControlOrigin::CreateRouteTable => "CreateRouteTable".to_string(),
                                ControlOrigin::CreateRoute => "CreateRoute".to_string(),
                            })
                            .collect(),
                        "route.state" => t
                            .routes
                            .iter()
                            .map(|r| if state.route_active(t, r) { "active" } else { "blackhole" }.to_string())
                            .collect(),
                        "vpc-id" => vec![t.vpc_id.clone()],
                        other => filter::tag_values(&t.tags, other),
                    })
                })
                .map(|t| wire_table(state, t, &ctx.account_id))
                .collect::<Vec<_>>())
        })
        .map_err(control_error)?;
    Ok(DescribeRouteTablesResult { route_tables: Some(list), next_token: None })
}

pub(crate) fn associate_route_table(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AssociateRouteTableRequest,
) -> Result<AssociateRouteTableResult, ApiError> {
    check_dry_run(r.dry_run)?;
    if r.gateway_id.is_some() || r.public_ipv4_pool.is_some() {
        return Err(ApiError::new(501, "NotImplemented", "squall associates route tables with subnets only"));
    }
    let subnet = r.subnet_id.ok_or_else(|| ApiError::missing_parameter("subnetId"))?;
    let id = region(control, ctx)?
        .associate_route_table(&r.route_table_id, &subnet, control.now_ms())
        .map_err(control_error)?;
    Ok(AssociateRouteTableResult {
        association_id: Some(id),
        association_state: Some(RouteTableAssociationState {
            state: Some(RouteTableAssociationStateCode::Associated),
            status_message: None,
        }),
    })
}

pub(crate) fn disassociate_route_table(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DisassociateRouteTableRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    region(control, ctx)?.disassociate_route_table(&r.association_id, control.now_ms()).map_err(control_error)
}

/// The target of CreateRoute/ReplaceRoute: an internet gateway; other targets are not served.
fn route_target(gateway: Option<String>, others: &[(&str, bool)]) -> Result<String, ApiError> {
    if let Some((name, _)) = others.iter().find(|(_, given)| *given) {
        return Err(ApiError::new(
            501,
            "NotImplemented",
            format!("squall routes to internet gateways only, not to a {name}"),
        ));
    }
    gateway.ok_or_else(|| ApiError::missing_parameter("gatewayId"))
}

pub(crate) fn create_route(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateRouteRequest,
) -> Result<CreateRouteResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let destination =
        r.destination_cidr_block.clone().ok_or_else(|| ApiError::missing_parameter("destinationCidrBlock"))?;
    let target = route_target(
        r.gateway_id,
        &[
            ("NAT gateway", r.nat_gateway_id.is_some()),
            ("instance", r.instance_id.is_some()),
            ("network interface", r.network_interface_id.is_some()),
            ("VPC peering connection", r.vpc_peering_connection_id.is_some()),
            ("transit gateway", r.transit_gateway_id.is_some()),
            ("VPC endpoint", r.vpc_endpoint_id.is_some()),
        ],
    )?;
    region(control, ctx)?
        .put_route(&r.route_table_id, &destination, &target, false, control.now_ms())
        .map_err(control_error)?;
    Ok(CreateRouteResult { r#return: Some(true) })
}

pub(crate) fn replace_route(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ReplaceRouteRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    let destination =
        r.destination_cidr_block.clone().ok_or_else(|| ApiError::missing_parameter("destinationCidrBlock"))?;
    let target = route_target(
        r.gateway_id,
        &[
            ("NAT gateway", r.nat_gateway_id.is_some()),
            ("instance", r.instance_id.is_some()),
            ("network interface", r.network_interface_id.is_some()),
            ("VPC peering connection", r.vpc_peering_connection_id.is_some()),
            ("transit gateway", r.transit_gateway_id.is_some()),
            ("VPC endpoint", r.vpc_endpoint_id.is_some()),
        ],
    )?;
    region(control, ctx)?
        .put_route(&r.route_table_id, &destination, &target, true, control.now_ms())
        .map_err(control_error)
}

pub(crate) fn delete_route(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteRouteRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    let destination = r.destination_cidr_block.ok_or_else(|| ApiError::missing_parameter("destinationCidrBlock"))?;
    region(control, ctx)?.delete_route(&r.route_table_id, &destination, control.now_ms()).map_err(control_error)
}

pub(crate) fn describe_vpc_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeVpcAttributeRequest,
) -> Result<DescribeVpcAttributeResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let vpc: ControlVpc = region(control, ctx)?
        .read(control.now_ms(), |state| Ok(state.vpc(&r.vpc_id)?.clone()))
        .map_err(control_error)?;
    let value = |v: bool| Some(AttributeBooleanValue { value: Some(v) });
    let mut out = DescribeVpcAttributeResult { vpc_id: Some(vpc.id.clone()), ..Default::default() };
    match r.attribute {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support = value(vpc.dns_support()),
        VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames = value(vpc.dns_hostnames()),
        VpcAttributeName::EnableNetworkAddressUsageMetrics => {
            out.enable_network_address_usage_metrics = value(vpc.address_usage_metrics())
        }
    }
    Ok(out)
}

pub(crate) fn modify_vpc_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyVpcAttributeRequest,
) -> Result<(), ApiError> {
    let given: Vec<(VpcAttribute, Option<bool>)> = [
        (VpcAttribute::DnsSupport, r.enable_dns_support.map(|v| v.value)),
        (VpcAttribute::DnsHostnames, r.enable_dns_hostnames.map(|v| v.value)),
        (VpcAttribute::AddressUsageMetrics, r.enable_network_address_usage_metrics.map(|v| v.value)),
    ]
    .into_iter()
    .filter_map(|(a, v)| v.map(|v| (a, v)))
    .collect();
    let [(attribute, value)] = given.as_slice() else {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "Exactly one attribute of enableDnsSupport, enableDnsHostnames and enableNetworkAddressUsageMetrics \
             must be given.",
        ));
    };
    let value = value.ok_or_else(|| ApiError::missing_parameter("Value"))?;
    region(control, ctx)?.modify_vpc_attribute(&r.vpc_id, *attribute, value, control.now_ms()).map_err(control_error)
}

pub(crate) fn describe_account_attributes(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeAccountAttributesRequest,
) -> Result<DescribeAccountAttributesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let default_vpc = region(control, ctx)?
        .read(control.now_ms(), |state| Ok(state.default_vpc().map(|v| v.id.clone())))
        .map_err(control_error)?;
    let all: Vec<(&str, Vec<String>)> = vec![
        ("supported-platforms", vec!["VPC".into()]),
        ("default-vpc", vec![default_vpc.unwrap_or_else(|| "none".into())]),
        ("max-instances", vec!["20".into()]),
        ("vpc-max-security-groups-per-interface", vec!["5".into()]),
        ("max-elastic-ips", vec!["5".into()]),
        ("vpc-max-elastic-ips", vec!["5".into()]),
    ];
    let names: Vec<&str> = r.attribute_names.unwrap_or_default().iter().map(|n| n.as_str()).collect();
    let attributes = all
        .into_iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .map(|(name, values)| AccountAttribute {
            attribute_name: Some(name.to_string()),
            attribute_values: Some(
                values.into_iter().map(|v| AccountAttributeValue { attribute_value: Some(v) }).collect(),
            ),
        })
        .collect();
    Ok(DescribeAccountAttributesResult { account_attributes: Some(attributes) })
}

/// Each VPC's default network ACL (allow all, then deny all, both ways), associated with every
/// subnet of the VPC; its id derives from the VPC's.
pub(crate) fn describe_network_acls(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeNetworkAclsRequest,
) -> Result<DescribeNetworkAclsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, ACL_FILTERS)?;
    let (vpcs, subnets) = region(control, ctx)?
        .read(control.now_ms(), |state| Ok((state.vpcs(), state.subnets())))
        .map_err(control_error)?;
    let ids = r.network_acl_ids.unwrap_or_default();
    let acl_id = |vpc: &str| format!("acl-{}", &vpc[4..]);
    for id in &ids {
        if !vpcs.iter().any(|v| acl_id(&v.id) == *id) {
            return Err(ApiError::client(
                "InvalidNetworkAclID.NotFound",
                format!("The network ACL ID '{id}' does not exist"),
            ));
        }
    }
    let entry = |egress: bool, number: i32, action: RuleAction| NetworkAclEntry {
        cidr_block: Some("0.0.0.0/0".into()),
        egress: Some(egress),
        protocol: Some("-1".into()),
        rule_action: Some(action),
        rule_number: Some(number),
        ..Default::default()
    };
    let acls = vpcs
        .iter()
        .map(|v| {
            let id = acl_id(&v.id);
            let associations: Vec<NetworkAclAssociation> = subnets
                .iter()
                .filter(|s| s.vpc_id == v.id)
                .map(|s| NetworkAclAssociation {
                    network_acl_association_id: Some(format!("aclassoc-{}", &s.id[7..])),
                    network_acl_id: Some(id.clone()),
                    subnet_id: Some(s.id.clone()),
                })
                .collect();
            NetworkAcl {
                associations: Some(associations),
                entries: Some(vec![
                    entry(true, 100, RuleAction::Allow),
                    entry(true, 32767, RuleAction::Deny),
                    entry(false, 100, RuleAction::Allow),
                    entry(false, 32767, RuleAction::Deny),
                ]),
                is_default: Some(true),
                network_acl_id: Some(id),
                tags: Some(Vec::new()),
                vpc_id: Some(v.id.clone()),
                owner_id: Some(ctx.account_id.clone()),
            }
        })
        .filter(|a| ids.is_empty() || a.network_acl_id.as_ref().is_some_and(|id| ids.contains(id)))
        .filter(|a| {
            filter::matches(&filters, |name| match name {
                "association.association-id" => {
                    a.associations.iter().flatten().filter_map(|x| x.network_acl_association_id.clone()).collect()
                }
                "association.network-acl-id" | "network-acl-id" => a.network_acl_id.iter().cloned().collect(),
                "association.subnet-id" => {
                    a.associations.iter().flatten().filter_map(|x| x.subnet_id.clone()).collect()
                }
                "default" => vec!["true".into()],
                "owner-id" => vec![ctx.account_id.clone()],
                "vpc-id" => a.vpc_id.iter().cloned().collect(),
                _ => Vec::new(),
            })
        })
        .collect();
    Ok(DescribeNetworkAclsResult { network_acls: Some(acls), next_token: None })
}

const ADDRESS_FILTERS: &[&str] = &[
    "allocation-id",
    "association-id",
    "domain",
    "instance-id",
    "network-border-group",
    "private-ip-address",
    "public-ip",
    "tag-key",
    "tag:*",
];

fn wire_address(a: &squall_control::model::routing::Address, region: &str) -> Address {
    Address {
        allocation_id: Some(a.allocation_id.clone()),
        association_id: a.association.as_ref().map(|x| x.id.clone()),
        domain: Some(DomainType::Vpc),
        private_ip_address: a.association.as_ref().map(|x| x.private_ip.clone()),
        tags: Some(wire_tags(&a.tags)),
        public_ipv4_pool: Some("amazon".into()),
        network_border_group: Some(region.to_string()),
        instance_id: a.association.as_ref().map(|x| x.instance_id.clone()),
        public_ip: Some(a.public_ip.clone()),
        ..Default::default()
    }
}

pub(crate) fn allocate_address(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AllocateAddressRequest,
) -> Result<AllocateAddressResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::ElasticIp)?;
    check_dry_run(r.dry_run)?;
    if r.domain == Some(DomainType::Standard) {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "Elastic IP addresses for use with EC2-Classic (standard) are no longer available: use domain vpc.",
        ));
    }
    if r.address.is_some() || r.customer_owned_ipv4_pool.is_some() || r.ipam_pool_id.is_some() {
        return Err(ApiError::new(501, "NotImplemented", "squall allocates addresses from Amazon's pool only"));
    }
    let a = region(control, ctx)?.allocate_address(tags, control.now_ms()).map_err(control_error)?;
    Ok(AllocateAddressResult {
        allocation_id: Some(a.allocation_id),
        public_ipv4_pool: Some("amazon".into()),
        network_border_group: Some(ctx.region.clone()),
        domain: Some(DomainType::Vpc),
        public_ip: Some(a.public_ip),
        ..Default::default()
    })
}

/// The allocation id a request names directly or by its public IP.
fn allocation_of(
    control: &ControlPlane,
    ctx: &RequestContext,
    allocation: Option<String>,
    public_ip: Option<String>,
) -> Result<String, ApiError> {
    match (allocation, public_ip) {
        (Some(id), _) => Ok(id),
        (None, Some(ip)) => region(control, ctx)?
            .read(control.now_ms(), |state| {
                Ok(state.addresses_all().into_iter().find(|a| a.public_ip == ip).map(|a| a.allocation_id))
            })
            .map_err(control_error)?
            .ok_or_else(|| ApiError::client("InvalidAddress.NotFound", format!("Address '{ip}' not found."))),
        (None, None) => Err(ApiError::missing_parameter("AllocationId")),
    }
}

pub(crate) fn associate_address(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AssociateAddressRequest,
) -> Result<AssociateAddressResult, ApiError> {
    check_dry_run(r.dry_run)?;
    if r.network_interface_id.is_some() || r.private_ip_address.is_some() {
        return Err(ApiError::new(501, "NotImplemented", "squall associates addresses with instances only"));
    }
    let allocation = allocation_of(control, ctx, r.allocation_id, r.public_ip)?;
    let instance = r.instance_id.ok_or_else(|| ApiError::missing_parameter("InstanceId"))?;
    let instance = crate::common::instance_id(&instance)?;
    let id = region(control, ctx)?
        .associate_address(&allocation, &instance, r.allow_reassociation.unwrap_or(false), control.now_ms())
        .map_err(control_error)?;
    Ok(AssociateAddressResult { association_id: Some(id) })
}

pub(crate) fn disassociate_address(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DisassociateAddressRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    let association = match (r.association_id, r.public_ip) {
        (Some(id), _) => id,
        (None, Some(ip)) => {
            let allocation = allocation_of(control, ctx, None, Some(ip.clone()))?;
            region(control, ctx)?
                .read(control.now_ms(), |state| Ok(state.address(&allocation)?.association.clone()))
                .map_err(control_error)?
                .map(|x| x.id)
                .ok_or_else(|| {
                    ApiError::client("InvalidAssociationID.NotFound", format!("Address '{ip}' is not associated."))
                })?
        }
        (None, None) => return Err(ApiError::missing_parameter("AssociationId")),
    };
    region(control, ctx)?.disassociate_address(&association, control.now_ms()).map_err(control_error)
}

pub(crate) fn release_address(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ReleaseAddressRequest,
) -> Result<(), ApiError> {
    check_dry_run(r.dry_run)?;
    let allocation = allocation_of(control, ctx, r.allocation_id, r.public_ip)?;
    region(control, ctx)?.release_address(&allocation, control.now_ms()).map_err(control_error)
}

pub(crate) fn describe_addresses(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeAddressesRequest,
) -> Result<DescribeAddressesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, ADDRESS_FILTERS)?;
    let ids = r.allocation_ids.unwrap_or_default();
    let ips = r.public_ips.unwrap_or_default();
    let all = region(control, ctx)?
        .read(control.now_ms(), |state| {
            for id in &ids {
                state.address(id)?;
            }
            Ok(state.addresses_all())
        })
        .map_err(control_error)?;
    if let Some(ip) = ips.iter().find(|ip| !all.iter().any(|a| a.public_ip == **ip)) {
        return Err(ApiError::client("InvalidAddress.NotFound", format!("Address '{ip}' not found.")));
    }
    let list = all
        .iter()
        .filter(|a| ids.is_empty() || ids.contains(&a.allocation_id))
        .filter(|a| ips.is_empty() || ips.contains(&a.public_ip))
        .filter(|a| {
            filter::matches(&filters, |name| match name {
                "allocation-id" => vec![a.allocation_id.clone()],
                "association-id" => a.association.iter().map(|x| x.id.clone()).collect(),
                "domain" => vec!["vpc".into()],
                "instance-id" => a.association.iter().map(|x| x.instance_id.clone()).collect(),
                "network-border-group" => vec![ctx.region.clone()],
                "private-ip-address" => a.association.iter().map(|x| x.private_ip.clone()).collect(),
                "public-ip" => vec![a.public_ip.clone()],
                other => filter::tag_values(&a.tags, other),
            })
        })
        .map(|a| wire_address(a, &ctx.region))
        .collect();
    Ok(DescribeAddressesResult { addresses: Some(list) })
}

pub(crate) fn modify_subnet_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifySubnetAttributeRequest,
) -> Result<(), ApiError> {
    if let Some(value) = r.assign_ipv6_address_on_creation.and_then(|v| v.value) {
        return region(control, ctx)?.set_assign_ipv6(&r.subnet_id, value, control.now_ms()).map_err(control_error);
    }
    let Some(value) = r.map_public_ip_on_launch.and_then(|v| v.value) else {
        let given = r.map_customer_owned_ip_on_launch.is_some()
            || r.enable_dns64.is_some()
            || r.private_dns_hostname_type_on_launch.is_some()
            || r.enable_resource_name_dns_a_record_on_launch.is_some()
            || r.enable_resource_name_dns_aaaa_record_on_launch.is_some();
        return Err(if given {
            ApiError::new(
                501,
                "NotImplemented",
                "squall changes a subnet's MapPublicIpOnLaunch and AssignIpv6AddressOnCreation only",
            )
        } else {
            ApiError::missing_parameter("MapPublicIpOnLaunch")
        });
    };
    region(control, ctx)?.set_map_public_ip(&r.subnet_id, value, control.now_ms()).map_err(control_error)
}
