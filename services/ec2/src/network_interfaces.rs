//! Elastic network interfaces (Create/Delete/Describe/Attach/Detach, attributes) and the IPv6
//! blocks of VPCs and subnets. The rules are the control plane's (`squall_control`
//! network_interfaces): every instance has its primary interface at device index 0.

use squall_control::model::network::{InterfaceSpec, NetworkInterface as ControlInterface};
use squall_control::network_interfaces::InterfaceChange;
use squall_control::state::RegionState;
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{instance_id, offset_page, page_size, region, tags_for, timestamp, wire_tags};
use crate::generated::*;
use crate::instances::dns_names;
use crate::network::{wire_subnet_ipv6, wire_vpc_ipv6};
use crate::{control_error, filter};

const INTERFACE_FILTERS: &[&str] = &[
    "addresses.private-ip-address",
    "addresses.primary",
    "association.public-ip",
    "association.ip-owner-id",
    "attachment.attachment-id",
    "attachment.instance-id",
    "attachment.instance-owner-id",
    "attachment.device-index",
    "attachment.status",
    "attachment.delete-on-termination",
    "availability-zone",
    "availability-zone-id",
    "description",
    "group-id",
    "group-name",
    "interface-type",
    "ipv6-addresses.ipv6-address",
    "mac-address",
    "network-interface-id",
    "owner-id",
    "private-dns-name",
    "private-ip-address",
    "requester-managed",
    "source-dest-check",
    "status",
    "subnet-id",
    "tag-key",
    "tag-value",
    "tag:*",
    "vpc-id",
];

/// A network interface as EC2 renders it (the public address of an instance's primary one).
pub(crate) struct Rendered {
    eni: ControlInterface,
    groups: Vec<(String, String)>,
    public_ip: Option<String>,
    dns_hostnames: bool,
}

impl Rendered {
    /// The first IPv6 address of the interface (an instance's `ipv6Address`).
    pub(crate) fn ipv6_first(&self) -> Option<String> {
        self.eni.ipv6_addresses.first().cloned()
    }
}

pub(crate) fn render(state: &RegionState, eni: &ControlInterface) -> Rendered {
    let public_ip = eni
        .attachment
        .as_ref()
        .filter(|a| a.device_index == 0)
        .and_then(|a| squall_control::InstanceId::parse(&a.instance_id).ok())
        .and_then(|i| state.public_ip_of(&i));
    Rendered {
        groups: eni
            .groups
            .iter()
            .map(|g| (g.clone(), state.security_group(g).map(|s| s.name.clone()).unwrap_or_default()))
            .collect(),
        public_ip,
        dns_hostnames: state.vpc(&eni.vpc_id).is_ok_and(|v| v.dns_hostnames()),
        eni: eni.clone(),
    }
}

fn wire_groups(groups: &[(String, String)]) -> Vec<GroupIdentifier> {
    groups
        .iter()
        .map(|(id, name)| GroupIdentifier { group_id: Some(id.clone()), group_name: Some(name.clone()) })
        .collect()
}

fn wire_attachment(
    a: &squall_control::model::network::InterfaceAttachment,
    account: &str,
) -> NetworkInterfaceAttachment {
    NetworkInterfaceAttachment {
        attach_time: Some(timestamp(a.attach_time_ms)),
        attachment_id: Some(a.id.clone()),
        delete_on_termination: Some(a.delete_on_termination),
        device_index: Some(a.device_index as i32),
        network_card_index: Some(0),
        instance_id: Some(a.instance_id.clone()),
        instance_owner_id: Some(account.to_string()),
        status: Some(AttachmentStatus::Attached),
        ..Default::default()
    }
}

fn wire_interface(r: &Rendered, ctx: &RequestContext) -> NetworkInterface {
    let n = &r.eni;
    let (private_dns, public_dns) = dns_names(&ctx.region, &n.private_ip, r.public_ip.as_deref());
    let public_dns = public_dns.filter(|_| r.dns_hostnames).unwrap_or_default();
    let association = r.public_ip.as_ref().map(|ip| NetworkInterfaceAssociation {
        ip_owner_id: Some("amazon".to_string()),
        public_dns_name: Some(public_dns.clone()),
        public_ip: Some(ip.clone()),
        ..Default::default()
    });
    NetworkInterface {
        association: association.clone(),
        attachment: n.attachment.as_ref().map(|a| wire_attachment(a, &ctx.account_id)),
        availability_zone: Some(n.zone.to_string()),
        availability_zone_id: Some(n.zone_id.to_string()),
        description: Some(n.description.clone()),
        groups: Some(wire_groups(&r.groups)),
        interface_type: Some(NetworkInterfaceType::Interface),
        ipv6_addresses: Some(
            n.ipv6_addresses
                .iter()
                .map(|a| NetworkInterfaceIpv6Address { ipv6_address: Some(a.clone()), ..Default::default() })
                .collect(),
        ),
        mac_address: Some(n.mac.clone()),
        network_interface_id: Some(n.id.clone()),
        owner_id: Some(ctx.account_id.clone()),
        private_dns_name: Some(private_dns.clone()),
        private_ip_address: Some(n.private_ip.clone()),
        private_ip_addresses: Some(vec![NetworkInterfacePrivateIpAddress {
            association,
            primary: Some(true),
            private_dns_name: Some(private_dns),
            private_ip_address: Some(n.private_ip.clone()),
        }]),
        requester_id: None,
        requester_managed: Some(false),
        source_dest_check: Some(n.source_dest_check),
        status: Some(if n.attachment.is_some() {
            NetworkInterfaceStatus::InUse
        } else {
            NetworkInterfaceStatus::Available
        }),
        subnet_id: Some(n.subnet_id.clone()),
        tag_set: Some(wire_tags(&n.tags)),
        vpc_id: Some(n.vpc_id.clone()),
        ipv6_address: n.ipv6_addresses.first().cloned(),
        ..Default::default()
    }
}

/// The instance's view of its interfaces (DescribeInstances `networkInterfaceSet`): the same
/// members as DescribeNetworkInterfaces shows, converted by the generated `From`.
pub(crate) fn wire_instance_interfaces(rendered: &[Rendered], ctx: &RequestContext) -> Vec<InstanceNetworkInterface> {
    rendered
        .iter()
        .map(|r| {
            let mut wire = InstanceNetworkInterface::from(&wire_interface(r, ctx));
            wire.interface_type = Some("interface".to_string());
            wire
        })
        .collect()
}

/// The interfaces of an instance, rendered.
pub(crate) fn interfaces_of(state: &RegionState, id: &squall_control::InstanceId) -> Vec<Rendered> {
    state.interfaces_of(id).iter().map(|n| render(state, n)).collect()
}

fn check_interface_id(id: &str) -> Result<(), ApiError> {
    let ok = id
        .strip_prefix("eni-")
        .is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::client(
            "InvalidNetworkInterfaceID.Malformed",
            format!("Invalid id: \"{id}\" (expecting \"eni-...\")"),
        ))
    }
}

pub(crate) fn create_network_interface(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateNetworkInterfaceRequest,
) -> Result<CreateNetworkInterfaceResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::NetworkInterface)?;
    if r.interface_type.is_some() {
        return Err(ApiError::new(501, "NotImplemented", "squall makes network interfaces of type interface only"));
    }
    if r.private_ip_addresses.as_ref().is_some_and(|a| a.len() > 1) || r.secondary_private_ip_address_count.is_some() {
        return Err(ApiError::new(501, "NotImplemented", "squall gives a network interface one private IPv4 address"));
    }
    let private_ip = r
        .private_ip_address
        .clone()
        .or_else(|| r.private_ip_addresses.as_ref().and_then(|a| a.first()).and_then(|a| a.private_ip_address.clone()));
    let ipv6_count = match (&r.ipv6_addresses, r.ipv6_address_count) {
        (Some(_), Some(_)) => {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "The parameters 'ipv6AddressCount' and 'ipv6Addresses' cannot be specified together.",
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::new(
                501,
                "NotImplemented",
                "squall assigns IPv6 addresses by count (Ipv6AddressCount)",
            ))
        }
        (None, Some(n)) if n < 0 => return Err(ApiError::invalid_value("Ipv6AddressCount", &n.to_string())),
        (None, n) => n.unwrap_or(0) as u32,
    };
    let spec = InterfaceSpec {
        subnet_id: r.subnet_id.clone(),
        private_ip,
        description: r.description.clone(),
        groups: r.groups.clone().unwrap_or_default(),
        tags,
        ipv6_count,
        stable_name: None,
    };
    let region = region(control, ctx)?;
    let now = control.now_ms();
    let eni = region.create_network_interface(spec, now, r.dry_run == Some(true)).map_err(control_error)?;
    let rendered = region.read(now, |state| Ok(render(state, &eni))).map_err(control_error)?;
    let mut wire = wire_interface(&rendered, ctx);
    // AWS shows a new interface as `pending`, a value the model's status enum lacks: `available`.
    wire.status = Some(NetworkInterfaceStatus::Available);
    Ok(CreateNetworkInterfaceResult { network_interface: Some(wire), client_token: r.client_token })
}

pub(crate) fn delete_network_interface(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteNetworkInterfaceRequest,
) -> Result<(), ApiError> {
    check_interface_id(&r.network_interface_id)?;
    region(control, ctx)?
        .delete_network_interface(&r.network_interface_id, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)
}

pub(crate) fn describe_network_interfaces(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeNetworkInterfacesRequest,
) -> Result<DescribeNetworkInterfacesResult, ApiError> {
    crate::check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, INTERFACE_FILTERS)?;
    let ids = r.network_interface_ids.unwrap_or_default();
    for id in &ids {
        check_interface_id(id)?;
    }
    if !ids.is_empty() && r.max_results.is_some() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter networkInterfaceIdSet cannot be used with the parameter maxResults",
        ));
    }
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(usize::MAX);
    let rendered = region(control, ctx)?
        .read(control.now_ms(), |state| {
            let missing: Vec<&String> = ids.iter().filter(|id| state.network_interface(id).is_err()).collect();
            if let Some(first) = missing.first() {
                return Err(squall_control::ControlError::Network(squall_control::NetworkError::InterfaceNotFound(
                    first.to_string(),
                )));
            }
            Ok(state
                .network_interfaces()
                .iter()
                .filter(|n| ids.is_empty() || ids.contains(&n.id))
                .map(|n| render(state, n))
                .collect::<Vec<_>>())
        })
        .map_err(control_error)?;
    let matching: Vec<NetworkInterface> = rendered
        .iter()
        .filter(|r| filter::matches(&filters, |name| filter_values(r, ctx, name)))
        .map(|r| wire_interface(r, ctx))
        .collect();
    let (page, next_token) = offset_page(matching, r.next_token.as_deref(), limit)?;
    Ok(DescribeNetworkInterfacesResult { network_interfaces: Some(page), next_token })
}

fn filter_values(r: &Rendered, ctx: &RequestContext, name: &str) -> Vec<String> {
    let n = &r.eni;
    let a = n.attachment.as_ref();
    match name {
        "addresses.private-ip-address" | "private-ip-address" => vec![n.private_ip.clone()],
        "addresses.primary" => vec!["true".into()],
        "association.public-ip" => r.public_ip.iter().cloned().collect(),
        "association.ip-owner-id" => r.public_ip.iter().map(|_| "amazon".to_string()).collect(),
        "attachment.attachment-id" => a.map(|a| a.id.clone()).into_iter().collect(),
        "attachment.instance-id" => a.map(|a| a.instance_id.clone()).into_iter().collect(),
        "attachment.instance-owner-id" => a.map(|_| ctx.account_id.clone()).into_iter().collect(),
        "attachment.device-index" => a.map(|a| a.device_index.to_string()).into_iter().collect(),
        "attachment.status" => a.map(|_| "attached".to_string()).into_iter().collect(),
        "attachment.delete-on-termination" => a.map(|a| a.delete_on_termination.to_string()).into_iter().collect(),
        "availability-zone" => vec![n.zone.to_string()],
        "availability-zone-id" => vec![n.zone_id.to_string()],
        "description" => vec![n.description.clone()],
        "group-id" => r.groups.iter().map(|(id, _)| id.clone()).collect(),
        "group-name" => r.groups.iter().map(|(_, name)| name.clone()).collect(),
        "interface-type" => vec!["interface".into()],
        "ipv6-addresses.ipv6-address" => n.ipv6_addresses.clone(),
        "mac-address" => vec![n.mac.clone()],
        "network-interface-id" => vec![n.id.clone()],
        "owner-id" => vec![ctx.account_id.clone()],
        "private-dns-name" => vec![dns_names(&ctx.region, &n.private_ip, None).0],
        "requester-managed" => vec!["false".into()],
        "source-dest-check" => vec![n.source_dest_check.to_string()],
        "status" => vec![n.status().to_string()],
        "subnet-id" => vec![n.subnet_id.clone()],
        "vpc-id" => vec![n.vpc_id.clone()],
        other => filter::tag_values(&n.tags, other),
    }
}

pub(crate) fn attach_network_interface(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AttachNetworkInterfaceRequest,
) -> Result<AttachNetworkInterfaceResult, ApiError> {
    check_interface_id(&r.network_interface_id)?;
    let instance = instance_id(&r.instance_id)?;
    if r.device_index < 0 {
        return Err(ApiError::invalid_value("DeviceIndex", &r.device_index.to_string()));
    }
    if r.network_card_index.is_some_and(|c| c != 0) {
        return Err(ApiError::invalid_parameter_value("Network card index must be 0 for this instance type."));
    }
    let id = region(control, ctx)?
        .attach_network_interface(
            &r.network_interface_id,
            &instance,
            r.device_index as u32,
            control.now_ms(),
            r.dry_run == Some(true),
        )
        .map_err(control_error)?;
    Ok(AttachNetworkInterfaceResult { attachment_id: Some(id), network_card_index: Some(0) })
}

pub(crate) fn detach_network_interface(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DetachNetworkInterfaceRequest,
) -> Result<(), ApiError> {
    region(control, ctx)?
        .detach_network_interface(&r.attachment_id, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)
}

pub(crate) fn modify_network_interface_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyNetworkInterfaceAttributeRequest,
) -> Result<(), ApiError> {
    check_interface_id(&r.network_interface_id)?;
    let mut changes = Vec::new();
    if let Some(d) = &r.description {
        changes.push(InterfaceChange::Description(d.value.clone().unwrap_or_default()));
    }
    if let Some(g) = &r.groups {
        changes.push(InterfaceChange::Groups(g.clone()));
    }
    if let Some(v) = r.source_dest_check.as_ref().and_then(|v| v.value) {
        changes.push(InterfaceChange::SourceDestCheck(v));
    }
    if let Some(a) = &r.attachment {
        let attachment_id =
            a.attachment_id.clone().ok_or_else(|| ApiError::missing_parameter("Attachment.AttachmentId"))?;
        let value =
            a.delete_on_termination.ok_or_else(|| ApiError::missing_parameter("Attachment.DeleteOnTermination"))?;
        changes.push(InterfaceChange::DeleteOnTermination { attachment_id, value });
    }
    let change = match changes.len() {
        0 => {
            return Err(ApiError::missing_parameter(
                "description, groupSet, sourceDestCheck or attachment (one attribute per call)",
            ))
        }
        1 => changes.remove(0),
        _ => {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "Fields for multiple attribute types specified: only one attribute can be modified at a time.",
            ))
        }
    };
    region(control, ctx)?
        .modify_network_interface(&r.network_interface_id, change, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)
}

pub(crate) fn describe_network_interface_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeNetworkInterfaceAttributeRequest,
) -> Result<DescribeNetworkInterfaceAttributeResult, ApiError> {
    crate::check_dry_run(r.dry_run)?;
    check_interface_id(&r.network_interface_id)?;
    let attribute = r.attribute.ok_or_else(|| ApiError::missing_parameter("Attribute"))?;
    let rendered = region(control, ctx)?
        .read(control.now_ms(), |state| Ok(render(state, state.network_interface(&r.network_interface_id)?)))
        .map_err(control_error)?;
    let n = &rendered.eni;
    let mut out =
        DescribeNetworkInterfaceAttributeResult { network_interface_id: Some(n.id.clone()), ..Default::default() };
    match attribute {
        NetworkInterfaceAttribute::Description => {
            out.description = Some(AttributeValue { value: Some(n.description.clone()) })
        }
        NetworkInterfaceAttribute::GroupSet => out.groups = Some(wire_groups(&rendered.groups)),
        NetworkInterfaceAttribute::SourceDestCheck => {
            out.source_dest_check = Some(AttributeBooleanValue { value: Some(n.source_dest_check) })
        }
        NetworkInterfaceAttribute::Attachment => {
            out.attachment = n.attachment.as_ref().map(|a| wire_attachment(a, &ctx.account_id))
        }
        NetworkInterfaceAttribute::AssociatePublicIpAddress => {
            out.associate_public_ip_address = Some(rendered.public_ip.is_some())
        }
    }
    Ok(out)
}

pub(crate) fn associate_vpc_cidr_block(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AssociateVpcCidrBlockRequest,
) -> Result<AssociateVpcCidrBlockResult, ApiError> {
    if r.amazon_provided_ipv6_cidr_block != Some(true) {
        return Err(ApiError::new(
            501,
            "NotImplemented",
            "squall associates Amazon-provided IPv6 blocks only (AmazonProvidedIpv6CidrBlock)",
        ));
    }
    let a = region(control, ctx)?.associate_vpc_ipv6(&r.vpc_id, control.now_ms()).map_err(control_error)?;
    Ok(AssociateVpcCidrBlockResult {
        ipv6_cidr_block_association: Some(wire_vpc_ipv6(&a, VpcCidrBlockStateCode::Associating)),
        cidr_block_association: None,
        vpc_id: Some(r.vpc_id),
    })
}

pub(crate) fn disassociate_vpc_cidr_block(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DisassociateVpcCidrBlockRequest,
) -> Result<DisassociateVpcCidrBlockResult, ApiError> {
    let (vpc, a) = region(control, ctx)?
        .disassociate_vpc_ipv6(&r.association_id, control.now_ms())
        .map_err(|e| cidr_error(e, &r.association_id))?;
    Ok(DisassociateVpcCidrBlockResult {
        ipv6_cidr_block_association: Some(wire_vpc_ipv6(&a, VpcCidrBlockStateCode::Disassociating)),
        cidr_block_association: None,
        vpc_id: Some(vpc),
    })
}

pub(crate) fn associate_subnet_cidr_block(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AssociateSubnetCidrBlockRequest,
) -> Result<AssociateSubnetCidrBlockResult, ApiError> {
    let cidr = r.ipv6_cidr_block.clone().ok_or_else(|| ApiError::missing_parameter("Ipv6CidrBlock"))?;
    let a =
        region(control, ctx)?.associate_subnet_ipv6(&r.subnet_id, &cidr, control.now_ms()).map_err(control_error)?;
    Ok(AssociateSubnetCidrBlockResult {
        ipv6_cidr_block_association: Some(wire_subnet_ipv6(&a, SubnetCidrBlockStateCode::Associating)),
        subnet_id: Some(r.subnet_id),
    })
}

pub(crate) fn disassociate_subnet_cidr_block(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DisassociateSubnetCidrBlockRequest,
) -> Result<DisassociateSubnetCidrBlockResult, ApiError> {
    let (subnet, a) = region(control, ctx)?
        .disassociate_subnet_ipv6(&r.association_id, control.now_ms())
        .map_err(|e| cidr_error(e, &r.association_id))?;
    Ok(DisassociateSubnetCidrBlockResult {
        ipv6_cidr_block_association: Some(wire_subnet_ipv6(&a, SubnetCidrBlockStateCode::Disassociating)),
        subnet_id: Some(subnet),
    })
}

/// An unknown CIDR association answers `InvalidVpcCidrBlockAssociationId.NotFound` / the subnet's.
fn cidr_error(e: squall_control::ControlError, id: &str) -> ApiError {
    match e {
        squall_control::ControlError::Network(squall_control::NetworkError::InterfaceAttachmentNotFound(_)) => {
            if id.starts_with("subnet-") {
                ApiError::client(
                    "InvalidSubnetCidrBlockAssociationID.NotFound",
                    format!("The subnet CIDR block with association ID '{id}' does not exist"),
                )
            } else {
                ApiError::client(
                    "InvalidVpcCidrBlockAssociationId.NotFound",
                    format!("The vpc CIDR block association ID '{id}' does not exist"),
                )
            }
        }
        other => control_error(other),
    }
}
