//! EC2 instances: `RunInstances`, `DescribeInstances`, `StopInstances`, `StartInstances`,
//! `TerminateInstances`. Instances run no code; they own real EBS volumes and move through AWS's
//! states by themselves.

use crate::generated::{GetInstanceUefiDataRequest, GetInstanceUefiDataResult, InstanceBootModeValues};
use squall_control::model::instance as instances;
use squall_control::model::instance::{
    AttributeChange, InstanceAttributes, InstanceState as State, LaunchRequest, RequestedMapping,
};
use squall_control::model::instance::{Check, MetadataOptions};
use squall_control::model::network::LaunchInterface;
use squall_control::model::volume::AttachmentState;
use squall_control::{ControlPlane, InstanceId};
use squall_protocol::{ApiError, RequestContext, Timestamp};

use crate::common::{after_token, instance_id, offset_page, page_size, region, tags_for, timestamp, wire_tags};
use crate::generated::{
    ArchitectureType, DescribeInstanceTypesRequest, DescribeInstanceTypesResult, GetConsoleOutputRequest,
    GetConsoleOutputResult, InstanceTypeHypervisor, InstanceTypeInfo, MemoryInfo, ProcessorInfo,
    RebootInstancesRequest, RootDeviceType, UsageClassType, VCpuInfo,
};
use crate::generated::{
    ArchitectureValues, AttachmentStatus, DescribeInstanceStatusRequest, DescribeInstanceStatusResult,
    DescribeInstancesRequest, DescribeInstancesResult, DeviceType, EbsInstanceBlockDevice, EbsStatusDetails,
    EbsStatusSummary, HypervisorType, Instance, InstanceBlockDeviceMapping, InstanceState, InstanceStateChange,
    InstanceStateName, InstanceStatus, InstanceStatusDetails, InstanceStatusSummary, InstanceType, Monitoring,
    MonitoringState, Placement, Reservation, ResourceType, RunInstancesRequest, StartInstancesRequest,
    StartInstancesResult, StateReason, StatusName, StatusType, StopInstancesRequest, StopInstancesResult,
    SummaryStatus, Tenancy, TerminateInstancesRequest, TerminateInstancesResult, VirtualizationType,
};
use crate::generated::{
    AttributeBooleanValue, AttributeValue, DescribeInstanceAttributeRequest, GroupIdentifier, InstanceAttribute,
    InstanceAttributeName, ModifyInstanceAttributeRequest, ShutdownBehavior,
};
use crate::generated::{
    DescribeInstanceCreditSpecificationsRequest, DescribeInstanceCreditSpecificationsResult,
    DescribeInstanceTypeOfferingsRequest, DescribeInstanceTypeOfferingsResult, HibernationOptions, HttpTokensState,
    InstanceCreditSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsResponse,
    InstanceMetadataOptionsState, InstanceMetadataProtocolState, InstanceMetadataTagsState, InstanceMonitoring,
    InstanceTypeOffering, LocationType, ModifyInstanceCreditSpecificationRequest,
    ModifyInstanceCreditSpecificationResult, ModifyInstanceMetadataOptionsRequest, ModifyInstanceMetadataOptionsResult,
    SuccessfulInstanceCreditSpecificationItem, UnsuccessfulInstanceCreditSpecificationErrorCode,
    UnsuccessfulInstanceCreditSpecificationItem, UnsuccessfulInstanceCreditSpecificationItemError,
};
use crate::volumes::to_control_type;
use crate::{check_dry_run, control_error, filter};

const INSTANCE_FILTERS: &[&str] = &[
    "network-interface.network-interface-id",
    "network-interface.attachment.attachment-id",
    "network-interface.attachment.device-index",
    "network-interface.mac-address",
    "network-interface.description",
    "network-interface.status",
    "network-interface.group-id",
    "network-interface.ipv6-addresses.ipv6-address",
    "ipv6-address",
    "boot-mode",
    "availability-zone",
    "image-id",
    "instance-id",
    "instance-state-code",
    "instance-state-name",
    "instance-type",
    "key-name",
    "private-ip-address",
    "reservation-id",
    "subnet-id",
    "vpc-id",
    "instance.group-id",
    "group-id",
    "client-token",
    "tag-key",
    "tag-value",
    "tag:*",
    "architecture",
    "owner-id",
    "private-dns-name",
    "dns-name",
    "ip-address",
    "instance.group-name",
    "group-name",
    "source-dest-check",
    "state-reason-code",
    "instance-lifecycle",
    "monitoring-state",
    "root-device-name",
    "root-device-type",
    "hypervisor",
    "virtualization-type",
    "tenancy",
    "metadata-options.http-tokens",
    "metadata-options.http-put-response-hop-limit",
    "metadata-options.http-endpoint",
    "metadata-options.instance-metadata-tags",
    "network-interface.subnet-id",
    "network-interface.vpc-id",
    "network-interface.private-dns-name",
    "network-interface.addresses.private-ip-address",
    "hibernation-options.configured",
    "placement-group-name",
    "host-id",
];

fn wire_state_name(s: State) -> InstanceStateName {
    match s {
        State::Pending => InstanceStateName::Pending,
        State::Running => InstanceStateName::Running,
        State::ShuttingDown => InstanceStateName::ShuttingDown,
        State::Terminated => InstanceStateName::Terminated,
        State::Stopping => InstanceStateName::Stopping,
        State::Stopped => InstanceStateName::Stopped,
    }
}

fn wire_state(s: State) -> InstanceState {
    InstanceState { code: Some(s.code()), name: Some(wire_state_name(s)) }
}

/// `User initiated (2026-01-01 10:00:00 GMT)`, as AWS words a user's stop or terminate.
fn user_initiated(ms: u64) -> String {
    let t = Timestamp { epoch_millis: ms as i64 }.to_string();
    format!("User initiated ({} {} GMT)", &t[..10], &t[11..19])
}

/// The architecture of an instance type: Graviton families (`t4g`, `m6g`, …) are arm64.
fn architecture(instance_type: &str) -> ArchitectureValues {
    let family = instance_type.split('.').next().unwrap_or_default();
    if family.len() > 1 && family.ends_with('g') || family.ends_with("gd") || family.ends_with("gn") {
        ArchitectureValues::Arm64
    } else {
        ArchitectureValues::X8664
    }
}

/// An instance's public address and whether its VPC gives DNS hostnames.
pub(crate) struct Net {
    public_ip: Option<String>,
    dns_hostnames: bool,
    interfaces: Vec<crate::network_interfaces::Rendered>,
}

/// The interfaces of many instances at once, by instance id.
type InterfaceIndex = std::collections::BTreeMap<String, Vec<squall_control::model::network::NetworkInterface>>;

/// An instance's addresses and interfaces; `index` (from `interfaces_by_instance`) saves a scan of
/// every interface per instance when many are rendered.
fn net_of(state: &squall_control::state::RegionState, i: &instances::Instance, index: Option<&InterfaceIndex>) -> Net {
    let interfaces = match index {
        Some(index) => index
            .get(&i.id.to_string())
            .map(|list| list.iter().map(|n| crate::network_interfaces::render(state, n)).collect())
            .unwrap_or_default(),
        None => crate::network_interfaces::interfaces_of(state, &i.id),
    };
    Net {
        public_ip: state.public_ip_of(&i.id),
        dns_hostnames: i.vpc_id.as_deref().and_then(|v| state.vpc(v).ok()).is_some_and(|v| v.dns_hostnames()),
        interfaces,
    }
}

/// An instance's public address and whether its VPC gives DNS hostnames (what the address
/// filters read), without its interfaces.
fn public_of(state: &squall_control::state::RegionState, i: &instances::Instance) -> (Option<String>, bool) {
    (state.public_ip_of(&i.id), i.vpc_id.as_deref().and_then(|v| state.vpc(v).ok()).is_some_and(|v| v.dns_hostnames()))
}

/// `ip-10-0-0-1.ec2.internal` in us-east-1, `ip-10-0-0-1.<region>.compute.internal` elsewhere;
/// public names likewise (`ec2-54-1-2-3.compute-1.amazonaws.com`).
pub(crate) fn dns_names(region: &str, private_ip: &str, public_ip: Option<&str>) -> (String, Option<String>) {
    let private = private_ip.replace('.', "-");
    let public = public_ip.map(|ip| ip.replace('.', "-"));
    if region == "us-east-1" {
        (format!("ip-{private}.ec2.internal"), public.map(|p| format!("ec2-{p}.compute-1.amazonaws.com")))
    } else {
        (
            format!("ip-{private}.{region}.compute.internal"),
            public.map(|p| format!("ec2-{p}.{region}.compute.amazonaws.com")),
        )
    }
}

fn wire_instance(
    i: &instances::Instance,
    devices: Vec<InstanceBlockDeviceMapping>,
    groups: &[(String, String)],
    net: &Net,
    ctx: &RequestContext,
) -> Instance {
    let (private_dns, public_dns) = dns_names(&ctx.region, &i.private_ip, net.public_ip.as_deref());
    Instance {
        instance_id: Some(i.id.to_string()),
        image_id: Some(i.image_id.clone()),
        instance_type: InstanceType::from_wire(&i.instance_type),
        state: Some(wire_state(i.state)),
        private_ip_address: (i.state != State::Terminated).then(|| i.private_ip.clone()),
        private_dns_name: Some(if i.state == State::Terminated { String::new() } else { private_dns }),
        public_ip_address: net.public_ip.clone(),
        public_dns_name: Some(public_dns.filter(|_| net.dns_hostnames).unwrap_or_default()),
        state_transition_reason: Some(i.user_transition_ms.map(user_initiated).unwrap_or_default()),
        state_reason: i
            .state_reason
            .as_ref()
            .map(|(code, message)| StateReason { code: Some(code.clone()), message: Some(message.clone()) }),
        key_name: i.key_name.clone(),
        ami_launch_index: Some(i.launch_index as i32),
        launch_time: Some(timestamp(i.launch_time_ms)),
        placement: Some(Placement {
            availability_zone: Some(i.zone.to_string()),
            availability_zone_id: Some(i.zone_id.to_string()),
            tenancy: Some(i.attributes.tenancy.as_deref().and_then(Tenancy::from_wire).unwrap_or(Tenancy::Default)),
            host_id: i.attributes.host_id.clone(),
            group_name: Some(String::new()),
            ..Default::default()
        }),
        monitoring: Some(Monitoring {
            state: Some(if i.attributes.monitoring { MonitoringState::Enabled } else { MonitoringState::Disabled }),
            metric_category_ids: None,
        }),
        metadata_options: Some(wire_metadata(&i.attributes.metadata, InstanceMetadataOptionsState::Applied)),
        hibernation_options: Some(HibernationOptions { configured: Some(i.attributes.hibernation) }),
        architecture: Some(architecture(&i.instance_type)),
        current_instance_boot_mode: Some(boot_mode(&i.instance_type)),
        root_device_name: Some(i.root_device.clone()),
        root_device_type: Some(DeviceType::Ebs),
        block_device_mappings: Some(devices),
        virtualization_type: Some(VirtualizationType::Hvm),
        hypervisor: Some(HypervisorType::Xen),
        ebs_optimized: Some(i.attributes.ebs_optimized),
        ena_support: Some(true),
        tags: (!i.tags.is_empty()).then(|| wire_tags(&i.tags)),
        subnet_id: if i.state == State::Terminated { None } else { i.subnet_id.clone() },
        vpc_id: if i.state == State::Terminated { None } else { i.vpc_id.clone() },
        client_token: Some(i.client_token.clone().unwrap_or_default()),
        source_dest_check: (i.state != State::Terminated).then_some(i.attributes.source_dest_check),
        network_interfaces: Some(crate::network_interfaces::wire_instance_interfaces(&net.interfaces, ctx)),
        ipv6_address: net.interfaces.first().and_then(|r| r.ipv6_first()),
        security_groups: Some(
            groups
                .iter()
                .map(|(id, name)| GroupIdentifier { group_id: Some(id.clone()), group_name: Some(name.clone()) })
                .collect(),
        ),
        ..Default::default()
    }
}

fn filter_values(
    state: &squall_control::state::RegionState,
    ctx: &RequestContext,
    i: &instances::Instance,
    name: &str,
) -> Vec<String> {
    let on = |b: bool| vec![b.to_string()];
    let enabled = |b: bool| vec![if b { "enabled" } else { "disabled" }.to_string()];
    let m = &i.attributes.metadata;
    match name {
        "architecture" => vec![architecture(&i.instance_type).as_str().to_string()],
        "owner-id" => vec![ctx.account_id.clone()],
        "private-dns-name" | "network-interface.private-dns-name" => {
            vec![dns_names(&ctx.region, &i.private_ip, None).0]
        }
        "dns-name" | "ip-address" => {
            let (public_ip, dns_hostnames) = public_of(state, i);
            let (_, public) = dns_names(&ctx.region, &i.private_ip, public_ip.as_deref());
            if name == "ip-address" {
                public_ip.into_iter().collect()
            } else {
                public.filter(|_| dns_hostnames).into_iter().collect()
            }
        }
        "instance.group-name" | "group-name" => group_names(state, i).into_iter().map(|(_, n)| n).collect(),
        "source-dest-check" => on(i.attributes.source_dest_check),
        "state-reason-code" => i.state_reason.iter().map(|(code, _)| code.clone()).collect(),
        // Every instance squall runs is on demand: no spot or scheduled lifecycle to match.
        "instance-lifecycle" => Vec::new(),
        "monitoring-state" => enabled(i.attributes.monitoring),
        "root-device-name" => vec![i.root_device.clone()],
        "root-device-type" => vec!["ebs".into()],
        "hypervisor" => vec!["xen".into()],
        "virtualization-type" => vec!["hvm".into()],
        "tenancy" => vec![i.attributes.tenancy.clone().unwrap_or_else(|| "default".into())],
        "metadata-options.http-tokens" => vec![if m.tokens_required { "required" } else { "optional" }.to_string()],
        "metadata-options.http-put-response-hop-limit" => vec![m.hop_limit.to_string()],
        "metadata-options.http-endpoint" => enabled(m.endpoint_enabled),
        "metadata-options.instance-metadata-tags" => enabled(m.tags_enabled),
        "network-interface.subnet-id" => i.subnet_id.iter().cloned().collect(),
        "network-interface.vpc-id" => i.vpc_id.iter().cloned().collect(),
        "network-interface.addresses.private-ip-address" => vec![i.private_ip.clone()],
        "hibernation-options.configured" => on(i.attributes.hibernation),
        "network-interface.network-interface-id"
        | "network-interface.attachment.attachment-id"
        | "network-interface.attachment.device-index"
        | "network-interface.mac-address"
        | "network-interface.description"
        | "network-interface.status"
        | "network-interface.group-id"
        | "network-interface.ipv6-addresses.ipv6-address"
        | "ipv6-address" => state
            .interfaces_of(&i.id)
            .iter()
            .flat_map(|n| {
                let a = n.attachment.as_ref();
                match name {
                    "network-interface.network-interface-id" => vec![n.id.clone()],
                    "network-interface.attachment.attachment-id" => a.map(|a| a.id.clone()).into_iter().collect(),
                    "network-interface.attachment.device-index" => {
                        a.map(|a| a.device_index.to_string()).into_iter().collect()
                    }
                    "network-interface.mac-address" => vec![n.mac.clone()],
                    "network-interface.description" => vec![n.description.clone()],
                    "network-interface.status" => vec![n.status().to_string()],
                    "network-interface.group-id" => n.groups.clone(),
                    _ => n.ipv6_addresses.clone(),
                }
            })
            .collect(),
        "boot-mode" => vec![boot_mode(&i.instance_type).as_str().to_string()],
        "placement-group-name" => Vec::new(),
        "host-id" => i.attributes.host_id.iter().cloned().collect(),
        "availability-zone" => vec![i.zone.to_string()],
        "image-id" => vec![i.image_id.clone()],
        "instance-id" => vec![i.id.to_string()],
        "instance-state-code" => vec![i.state.code().to_string()],
        "instance-state-name" => vec![wire_state_name(i.state).as_str().to_string()],
        "instance-type" => vec![i.instance_type.clone()],
        "key-name" => i.key_name.iter().cloned().collect(),
        "private-ip-address" => vec![i.private_ip.clone()],
        "reservation-id" => vec![i.reservation_id.clone()],
        "subnet-id" => i.subnet_id.iter().cloned().collect(),
        "vpc-id" => i.vpc_id.iter().cloned().collect(),
        "instance.group-id" | "group-id" => i.security_groups.clone(),
        "client-token" => i.client_token.iter().cloned().collect(),
        other => filter::tag_values(&i.tags, other),
    }
}

pub(crate) fn run_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RunInstancesRequest,
    template: Option<(String, u32)>,
) -> Result<Reservation, ApiError> {
    let image = r.image_id.clone().ok_or_else(|| ApiError::missing_parameter("ImageId"))?;
    crate::images::check_image_id(&image)?;
    if r.min_count < 1 || r.max_count < r.min_count {
        return Err(ApiError::invalid_parameter_value(format!(
            "Invalid value '{}' for MinCount/MaxCount: MinCount must be at least 1 and no more than MaxCount ({}).",
            r.min_count, r.max_count
        )));
    }
    if r.max_count > 100 {
        return Err(ApiError::client(
            "InstanceLimitExceeded",
            "You have requested more instances (".to_string()
                + &r.max_count.to_string()
                + ") than your current instance limit of 100 allows.",
        ));
    }
    if r.security_groups.as_ref().is_some_and(|g| !g.is_empty()) && r.subnet_id.is_some() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter groupName cannot be used with the parameter subnet",
        ));
    }
    if let Some(d) = &r.user_data {
        if squall_protocol::codec::base64_decode(d).is_none() {
            return Err(ApiError::client("InvalidParameterValue", "Invalid BASE64 encoding of user data."));
        }
        if d.len() > 25 * 1024 {
            return Err(ApiError::client("InvalidParameterValue", "User data is limited to 16384 bytes"));
        }
    }
    let region = region(control, ctx)?;
    let mut mappings = Vec::new();
    for m in r.block_device_mappings.as_deref().unwrap_or_default() {
        let device =
            m.device_name.clone().ok_or_else(|| ApiError::missing_parameter("BlockDeviceMapping.N.DeviceName"))?;
        let Some(ebs) = &m.ebs else { continue };
        mappings.push(RequestedMapping {
            device,
            size_gib: ebs
                .volume_size
                .map(|s| {
                    u32::try_from(s)
                        .map_err(|_| ApiError::invalid_value("BlockDeviceMapping.N.Ebs.VolumeSize", &s.to_string()))
                })
                .transpose()?,
            volume_type: ebs.volume_type.map(to_control_type).transpose()?,
            iops: ebs.iops.map(|i| i.max(0) as u32),
            delete_on_termination: ebs.delete_on_termination,
            snapshot_id: ebs.snapshot_id.as_deref().map(crate::common::snapshot_id).transpose()?,
        });
    }
    let interfaces = launch_interfaces(&r)?;
    if r.private_ip_address.is_some() && r.max_count > 1 {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "A PrivateIpAddress can be given to a single instance only: MaxCount must be 1.",
        ));
    }
    let associate_public_ip = r
        .network_interfaces
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|n| n.device_index == Some(0))
        .and_then(|n| n.associate_public_ip_address);
    let request = LaunchRequest {
        private_ip: r.private_ip_address.clone(),
        catalogue_root: crate::images::catalogue_image(region.name().as_str(), &image)
            .map(|i| (i.root_device.to_string(), i.root_gib)),
        image_id: image,
        instance_type: r.instance_type.map(|t| t.as_str().to_string()).unwrap_or_else(|| "m1.small".to_string()),
        placement_zone: r.placement.as_ref().and_then(|p| p.availability_zone.clone()),
        subnet_id: r.subnet_id.clone(),
        security_group_ids: r.security_group_ids.clone().unwrap_or_default(),
        security_group_names: r.security_groups.clone().unwrap_or_default(),
        count: r.max_count as u32,
        key_name: r.key_name.clone(),
        user_data: r.user_data.clone(),
        client_token: r.client_token.clone(),
        attributes: InstanceAttributes {
            disable_api_termination: r.disable_api_termination == Some(true),
            disable_api_stop: r.disable_api_stop == Some(true),
            shutdown_terminates: r.instance_initiated_shutdown_behavior == Some(ShutdownBehavior::Terminate),
            ebs_optimized: r.ebs_optimized == Some(true),
            monitoring: r.monitoring.as_ref().is_some_and(|m| m.enabled),
            metadata: match &r.metadata_options {
                Some(m) => metadata_options(
                    MetadataOptions::default(),
                    m.http_tokens,
                    m.http_put_response_hop_limit,
                    m.http_endpoint,
                    m.instance_metadata_tags,
                )?,
                None => MetadataOptions::default(),
            },
            hibernation: r.hibernation_options.as_ref().and_then(|h| h.configured).unwrap_or(false),
            tenancy: r.placement.as_ref().and_then(|p| p.tenancy).map(|t| t.as_str().to_string()),
            host_id: r.placement.as_ref().and_then(|p| p.host_id.clone()),
            associate_public_ip,
            cpu_credits: match &r.credit_specification {
                Some(c) => {
                    Some(cpu_credits(&c.cpu_credits, r.instance_type.map(|t| t.as_str()).unwrap_or("m1.small"))?)
                }
                None => None,
            },
            ..Default::default()
        },
        tags: {
            let mut tags = tags_for_kind(&r, ResourceType::Instance)?;
            // Instances launched from a template carry its id and version, as on AWS.
            if let Some((id, version)) = &template {
                tags.insert("aws:ec2launchtemplate:id".into(), id.clone());
                tags.insert("aws:ec2launchtemplate:version".into(), version.to_string());
            }
            tags
        },
        volume_tags: tags_for_kind(&r, ResourceType::Volume)?,
        mappings,
        interfaces,
    };
    let now = control.now_ms();
    let (reservation, launched) = region.run_instances(request, now, r.dry_run == Some(true)).map_err(control_error)?;
    // What the launch made, read back for the answer.
    let (devices, groups, nets) = region
        .read(now, |state| {
            let devices: Vec<_> = launched.iter().map(|i| block_devices(state, &i.id)).collect();
            let groups: Vec<_> = launched.iter().map(|i| group_names(state, i)).collect();
            let nets: Vec<_> = launched.iter().map(|i| net_of(state, i, None)).collect();
            Ok((devices, groups, nets))
        })
        .map_err(control_error)?;
    Ok(Reservation {
        reservation_id: Some(reservation),
        owner_id: Some(ctx.account_id.clone()),
        groups: Some(Vec::new()),
        instances: Some(
            launched
                .iter()
                .zip(devices)
                .zip(groups)
                .zip(nets)
                .map(|(((i, d), g), n)| wire_instance(i, d, &g, &n, ctx))
                .collect(),
        ),
        requester_id: None,
    })
}

/// `NetworkInterface.N` of a RunInstances, with EC2's rules for what may go with them.
fn launch_interfaces(r: &RunInstancesRequest) -> Result<Vec<LaunchInterface>, ApiError> {
    let Some(list) = r.network_interfaces.as_deref().filter(|l| !l.is_empty()) else { return Ok(Vec::new()) };
    let combination = |m: &str| Err(ApiError::client("InvalidParameterCombination", m.to_string()));
    if r.subnet_id.is_some() {
        return combination(
            "Network interfaces and an instance-level subnet ID may not be specified on the same request",
        );
    }
    if r.security_group_ids.as_ref().is_some_and(|g| !g.is_empty())
        || r.security_groups.as_ref().is_some_and(|g| !g.is_empty())
    {
        return combination(
            "Network interfaces and an instance-level security groups may not be specified on the same request",
        );
    }
    if r.private_ip_address.is_some() {
        return combination(
            "Network interfaces and an instance-level private IP address should not be specified on the same request",
        );
    }
    if list.len() > 1 && list.iter().any(|n| n.associate_public_ip_address.is_some()) {
        return combination(
            "The associatePublicIPAddress parameter cannot be specified when launching with multiple network interfaces.",
        );
    }
    let mut out = Vec::new();
    for n in list {
        let device_index = n.device_index.ok_or_else(|| {
            ApiError::invalid_parameter_value("Each network interface requires a device index.".to_string())
        })?;
        if device_index < 0 {
            return Err(ApiError::invalid_value("NetworkInterface.N.DeviceIndex", &device_index.to_string()));
        }
        if n.network_interface_id.is_some() && (n.subnet_id.is_some() || n.private_ip_address.is_some()) {
            return combination(
                "A network interface ID cannot be specified together with a subnet ID or private IP address.",
            );
        }
        if n.associate_public_ip_address.is_some() && n.network_interface_id.is_some() {
            return combination(
                "The associatePublicIPAddress parameter can only be specified for new network interfaces.",
            );
        }
        out.push(LaunchInterface {
            device_index: device_index as u32,
            interface_id: n.network_interface_id.clone(),
            subnet_id: n.subnet_id.clone(),
            groups: n.groups.clone().unwrap_or_default(),
            private_ip: n.private_ip_address.clone(),
            description: n.description.clone(),
            delete_on_termination: n.delete_on_termination,
            ipv6_count: n.ipv6_address_count.unwrap_or(0).max(0) as u32,
        });
    }
    Ok(out)
}

/// (id, name) of each of the instance's security groups.
fn group_names(ebs: &squall_control::state::RegionState, i: &instances::Instance) -> Vec<(String, String)> {
    i.security_groups
        .iter()
        .map(|id| (id.clone(), ebs.security_group(id).map(|g| g.name.clone()).unwrap_or_default()))
        .collect()
}

/// Tags of `TagSpecification.N` for one resource type; other types in the request are fine.
fn tags_for_kind(
    r: &RunInstancesRequest,
    kind: ResourceType,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let specs: Vec<_> =
        r.tag_specifications.iter().flatten().filter(|s| s.resource_type == Some(kind)).cloned().collect();
    tags_for(Some(&specs), kind)
}

fn block_devices(ebs: &squall_control::state::RegionState, instance: &InstanceId) -> Vec<InstanceBlockDeviceMapping> {
    let (volumes, _) = ebs.volumes_after(None, usize::MAX, |v| v.attachments.iter().any(|a| a.instance == *instance));
    volumes
        .iter()
        .flat_map(|v| v.attachments.iter().filter(|a| a.instance == *instance).map(move |a| (v, a)))
        .map(|(v, a)| InstanceBlockDeviceMapping {
            device_name: Some(a.device.clone()),
            ebs: Some(EbsInstanceBlockDevice {
                volume_id: Some(v.id.to_string()),
                status: Some(match a.state {
                    AttachmentState::Attaching => AttachmentStatus::Attaching,
                    AttachmentState::Attached => AttachmentStatus::Attached,
                    AttachmentState::Detaching => AttachmentStatus::Detaching,
                }),
                attach_time: Some(timestamp(a.attach_time_ms)),
                delete_on_termination: Some(a.delete_on_termination),
                ..Default::default()
            }),
        })
        .collect()
}

pub(crate) fn describe_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInstancesRequest,
) -> Result<DescribeInstancesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, INSTANCE_FILTERS)?;
    let ids = r.instance_ids.unwrap_or_default().iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 5, 1000)?;
    if limit.is_some() && !ids.is_empty() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    let after = after_token(r.next_token.as_deref(), instance_id)?;
    let now = control.now_ms();
    let region = region(control, ctx)?;
    let (found, more) = region
        .read(now, |state| {
            state.require_instances(&ids)?;
            let (list, more) = state.instances_after(after.as_ref(), limit.unwrap_or(usize::MAX), |i| {
                (ids.is_empty() || ids.contains(&i.id))
                    && filter::matches(&filters, |name| filter_values(state, ctx, i, name))
            });
            let index = state.interfaces_by_instance();
            Ok((
                list.into_iter()
                    .map(|i| {
                        let d = block_devices(state, &i.id);
                        let g = group_names(state, &i);
                        let n = net_of(state, &i, Some(&index));
                        (i, d, g, n)
                    })
                    .collect::<Vec<_>>(),
                more,
            ))
        })
        .map_err(control_error)?;
    let next_token = if more { found.last().map(|(i, _, _, _)| i.id.to_string()) } else { None };
    // Consecutive instances of one launch share a reservation, as AWS groups them.
    let mut reservations: Vec<Reservation> = Vec::new();
    for (i, devices, groups, net) in &found {
        let wire = wire_instance(i, devices.clone(), groups, net, ctx);
        match reservations.last_mut() {
            Some(r) if r.reservation_id.as_deref() == Some(i.reservation_id.as_str()) => {
                r.instances.get_or_insert_with(Vec::new).push(wire)
            }
            _ => reservations.push(Reservation {
                reservation_id: Some(i.reservation_id.clone()),
                owner_id: Some(ctx.account_id.clone()),
                groups: Some(Vec::new()),
                instances: Some(vec![wire]),
                requester_id: None,
            }),
        }
    }
    Ok(DescribeInstancesResult { reservations: Some(reservations), next_token })
}

fn change_states(
    control: &ControlPlane,
    ctx: &RequestContext,
    ids: &[String],
    target: State,
    dry_run: Option<bool>,
) -> Result<Vec<InstanceStateChange>, ApiError> {
    let ids = ids.iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let now = control.now_ms();
    let changes = region(control, ctx)?
        .change_instance_states(&ids, target, now, dry_run == Some(true))
        .map_err(control_error)?;
    Ok(changes
        .into_iter()
        .map(|(id, previous, current)| InstanceStateChange {
            instance_id: Some(id.to_string()),
            previous_state: Some(wire_state(previous)),
            current_state: Some(wire_state(current)),
        })
        .collect())
}

pub(crate) fn stop_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: StopInstancesRequest,
) -> Result<StopInstancesResult, ApiError> {
    if r.hibernate == Some(true) {
        // Only an instance launched with hibernation configured hibernates.
        let ids = r.instance_ids.iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
        let unable: Vec<String> = region(control, ctx)?
            .read(control.now_ms(), |state| {
                state.require_instances(&ids)?;
                Ok(ids
                    .iter()
                    .filter(|id| state.instance(id).is_ok_and(|i| !i.attributes.hibernation))
                    .map(|id| id.to_string())
                    .collect())
            })
            .map_err(control_error)?;
        if let Some(id) = unable.first() {
            return Err(ApiError::client(
                "UnsupportedOperation",
                format!("The instance '{id}' is not enabled for hibernation: launch it with HibernationOptions."),
            ));
        }
    }
    Ok(StopInstancesResult {
        stopping_instances: Some(change_states(control, ctx, &r.instance_ids, State::Stopping, r.dry_run)?),
    })
}

pub(crate) fn start_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: StartInstancesRequest,
) -> Result<StartInstancesResult, ApiError> {
    Ok(StartInstancesResult {
        starting_instances: Some(change_states(control, ctx, &r.instance_ids, State::Pending, r.dry_run)?),
    })
}

pub(crate) fn terminate_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: TerminateInstancesRequest,
) -> Result<TerminateInstancesResult, ApiError> {
    Ok(TerminateInstancesResult {
        terminating_instances: Some(change_states(control, ctx, &r.instance_ids, State::ShuttingDown, r.dry_run)?),
    })
}

/// A system or instance check as a status summary with its reachability detail.
fn wire_check(check: Check) -> InstanceStatusSummary {
    let (status, detail, impaired_since) = match check {
        Check::NotApplicable => (SummaryStatus::NotApplicable, StatusType::InsufficientData, None),
        Check::Initializing => (SummaryStatus::Initializing, StatusType::Initializing, None),
        Check::Passed => (SummaryStatus::Ok, StatusType::Passed, None),
        Check::Failed { since_ms } => (SummaryStatus::Impaired, StatusType::Failed, Some(since_ms)),
    };
    InstanceStatusSummary {
        status: Some(status),
        details: Some(vec![InstanceStatusDetails {
            name: Some(StatusName::Reachability),
            status: Some(detail),
            impaired_since: impaired_since.map(timestamp),
        }]),
    }
}

/// The attached-EBS check (details only once the instance has run long enough to have them).
fn wire_ebs_check(check: Check) -> EbsStatusSummary {
    let details = |status, since: Option<u64>| {
        Some(vec![EbsStatusDetails {
            name: Some(StatusName::Reachability),
            status: Some(status),
            impaired_since: since.map(timestamp),
        }])
    };
    match check {
        Check::NotApplicable => EbsStatusSummary { status: Some(SummaryStatus::NotApplicable), details: None },
        Check::Initializing => EbsStatusSummary { status: Some(SummaryStatus::Initializing), details: None },
        Check::Passed => {
            EbsStatusSummary { status: Some(SummaryStatus::Ok), details: details(StatusType::Passed, None) }
        }
        Check::Failed { since_ms } => EbsStatusSummary {
            status: Some(SummaryStatus::Impaired),
            details: details(StatusType::Failed, Some(since_ms)),
        },
    }
}

/// Instance status reflects the health of the instance's volumes: while an attached volume has no
/// writable primary (it is re-mirroring), I/O hangs, so the attached-EBS check fails and so does
/// reachability, as a stuck root volume makes an instance unreachable.
pub(crate) fn describe_instance_status(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInstanceStatusRequest,
) -> Result<DescribeInstanceStatusResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(
        &filters,
        &[
            "availability-zone",
            "instance-state-code",
            "instance-state-name",
            "instance-status.status",
            "instance-status.reachability",
            "system-status.status",
            "attached-ebs-status.status",
        ],
    )?;
    let ids = r.instance_ids.unwrap_or_default().iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let limit = page_size(r.max_results, 5, 1000)?;
    if limit.is_some() && !ids.is_empty() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    let include_all = r.include_all_instances.unwrap_or(false);
    let after = after_token(r.next_token.as_deref(), instance_id)?;
    let now = control.now_ms();
    let (list, more) = region(control, ctx)?
        .instance_statuses(&ids, after.as_ref(), limit.unwrap_or(usize::MAX), include_all, now)
        .map_err(control_error)?;
    let last = list.last().map(|(i, _)| i.id.to_string());
    let mut items = Vec::new();
    for (i, status) in &list {
        let item = InstanceStatus {
            instance_id: Some(i.id.to_string()),
            availability_zone: Some(i.zone.to_string()),
            availability_zone_id: Some(i.zone_id.to_string()),
            instance_state: Some(wire_state(i.state)),
            system_status: Some(wire_check(status.system)),
            instance_status: Some(wire_check(status.instance)),
            attached_ebs_status: Some(wire_ebs_check(status.ebs)),
            events: Some(Vec::new()),
            ..Default::default()
        };
        let status_of =
            |s: &Option<InstanceStatusSummary>| s.as_ref().and_then(|s| s.status).map(|s| s.as_str().to_string());
        let keep = filter::matches(&filters, |name| match name {
            "availability-zone" => vec![i.zone.to_string()],
            "instance-state-code" => vec![i.state.code().to_string()],
            "instance-state-name" => vec![wire_state_name(i.state).as_str().to_string()],
            "instance-status.status" => status_of(&item.instance_status).into_iter().collect(),
            "instance-status.reachability" => item
                .instance_status
                .iter()
                .flat_map(|s| s.details.iter().flatten())
                .filter_map(|d| d.status.map(|s| s.as_str().to_string()))
                .collect(),
            "system-status.status" => status_of(&item.system_status).into_iter().collect(),
            "attached-ebs-status.status" => item
                .attached_ebs_status
                .as_ref()
                .and_then(|s| s.status)
                .map(|s| s.as_str().to_string())
                .into_iter()
                .collect(),
            _ => vec![],
        });
        if keep {
            items.push(item);
        }
    }
    Ok(DescribeInstanceStatusResult { instance_statuses: Some(items), next_token: if more { last } else { None } })
}

/// RebootInstances: a running instance stays running (it runs no code to restart).
pub(crate) fn reboot_instances(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RebootInstancesRequest,
) -> Result<(), ApiError> {
    let ids = r.instance_ids.iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let now = control.now_ms();
    region(control, ctx)?.reboot_instances(&ids, now, r.dry_run == Some(true)).map_err(control_error)
}

/// GetConsoleOutput: well-formed and empty, as for an instance that printed nothing yet.
pub(crate) fn get_console_output(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: GetConsoleOutputRequest,
) -> Result<GetConsoleOutputResult, ApiError> {
    let id = instance_id(&r.instance_id)?;
    let now = control.now_ms();
    region(control, ctx)?.read(now, |state| state.instance(&id).map(|_| ())).map_err(control_error)?;
    check_dry_run(r.dry_run)?;
    Ok(GetConsoleOutputResult {
        instance_id: Some(id.to_string()),
        timestamp: Some(timestamp(now)),
        output: Some(String::new()),
    })
}

/// (type, vCPUs, MiB, architecture, free tier) of the catalogue DescribeInstanceTypes serves.
const INSTANCE_TYPES: &[(InstanceType, i32, i64, ArchitectureType, bool)] = &[
    (InstanceType::T2Micro, 1, 1024, ArchitectureType::X8664, true),
    (InstanceType::T3Micro, 2, 1024, ArchitectureType::X8664, true),
    (InstanceType::T3Small, 2, 2048, ArchitectureType::X8664, false),
    (InstanceType::T3Medium, 2, 4096, ArchitectureType::X8664, false),
    (InstanceType::T3Large, 2, 8192, ArchitectureType::X8664, false),
    (InstanceType::T4gMicro, 2, 1024, ArchitectureType::Arm64, false),
    (InstanceType::M5Large, 2, 8192, ArchitectureType::X8664, false),
    (InstanceType::M5Xlarge, 4, 16384, ArchitectureType::X8664, false),
    (InstanceType::C5Large, 2, 4096, ArchitectureType::X8664, false),
    (InstanceType::R5Large, 2, 16384, ArchitectureType::X8664, false),
    (InstanceType::M6gLarge, 2, 8192, ArchitectureType::Arm64, false),
];

pub(crate) fn describe_instance_types(
    _control: &ControlPlane,
    _ctx: &RequestContext,
    r: DescribeInstanceTypesRequest,
) -> Result<DescribeInstanceTypesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(
        &filters,
        &[
            "current-generation",
            "free-tier-eligible",
            "instance-type",
            "memory-info.size-in-mib",
            "processor-info.supported-architecture",
            "vcpu-info.default-vcpus",
        ],
    )?;
    let wanted = r.instance_types.unwrap_or_default();
    if let Some(missing) = wanted.iter().find(|t| !INSTANCE_TYPES.iter().any(|(known, ..)| known == *t)) {
        return Err(ApiError::invalid_parameter_value(format!(
            "The following supplied instance types do not exist: [{}]",
            missing.as_str()
        )));
    }
    let limit = page_size(r.max_results, 5, 100)?.unwrap_or(100);
    let matching: Vec<InstanceTypeInfo> = INSTANCE_TYPES
        .iter()
        .filter(|(t, ..)| wanted.is_empty() || wanted.contains(t))
        .filter(|(t, cpus, mib, arch, free)| {
            filter::matches(&filters, |name| match name {
                "current-generation" => vec!["true".to_string()],
                "free-tier-eligible" => vec![free.to_string()],
                "instance-type" => vec![t.as_str().to_string()],
                "memory-info.size-in-mib" => vec![mib.to_string()],
                "processor-info.supported-architecture" => vec![arch.as_str().to_string()],
                "vcpu-info.default-vcpus" => vec![cpus.to_string()],
                _ => vec![],
            })
        })
        .map(|(t, cpus, mib, arch, free)| InstanceTypeInfo {
            instance_type: Some(*t),
            current_generation: Some(true),
            free_tier_eligible: Some(*free),
            supported_usage_classes: Some(vec![UsageClassType::OnDemand, UsageClassType::Spot]),
            supported_root_device_types: Some(vec![RootDeviceType::Ebs]),
            supported_virtualization_types: Some(vec![VirtualizationType::Hvm]),
            bare_metal: Some(false),
            hypervisor: Some(if t.as_str().starts_with("t2") {
                InstanceTypeHypervisor::Xen
            } else {
                InstanceTypeHypervisor::Nitro
            }),
            processor_info: Some(ProcessorInfo { supported_architectures: Some(vec![*arch]), ..Default::default() }),
            v_cpu_info: Some(VCpuInfo { default_v_cpus: Some(*cpus), ..Default::default() }),
            memory_info: Some(MemoryInfo { size_in_mi_b: Some(*mib) }),
            instance_storage_supported: Some(false),
            ..Default::default()
        })
        .collect();
    let (page, next_token) = offset_page(matching, r.next_token.as_deref(), limit)?;
    Ok(DescribeInstanceTypesResult { instance_types: Some(page), next_token })
}

fn attr_bool(value: bool) -> Option<AttributeBooleanValue> {
    Some(AttributeBooleanValue { value: Some(value) })
}

fn attr_value(value: impl Into<String>) -> Option<AttributeValue> {
    Some(AttributeValue { value: Some(value.into()) })
}

pub(crate) fn describe_instance_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInstanceAttributeRequest,
) -> Result<InstanceAttribute, ApiError> {
    check_dry_run(r.dry_run)?;
    let id = instance_id(&r.instance_id)?;
    let (i, devices, groups) = region(control, ctx)?
        .read(control.now_ms(), |state| {
            let i = state.instance(&id)?.clone();
            let d = block_devices(state, &id);
            let g = group_names(state, &i);
            Ok((i, d, g))
        })
        .map_err(control_error)?;
    let mut out = InstanceAttribute { instance_id: Some(i.id.to_string()), ..Default::default() };
    match r.attribute {
        InstanceAttributeName::InstanceType => out.instance_type = attr_value(i.instance_type.clone()),
        InstanceAttributeName::Kernel => out.kernel_id = Some(AttributeValue { value: None }),
        InstanceAttributeName::Ramdisk => out.ramdisk_id = Some(AttributeValue { value: None }),
        InstanceAttributeName::UserData => out.user_data = Some(AttributeValue { value: i.user_data.clone() }),
        InstanceAttributeName::DisableApiTermination => {
            out.disable_api_termination = attr_bool(i.attributes.disable_api_termination)
        }
        InstanceAttributeName::DisableApiStop => out.disable_api_stop = attr_bool(i.attributes.disable_api_stop),
        InstanceAttributeName::InstanceInitiatedShutdownBehavior => {
            out.instance_initiated_shutdown_behavior =
                attr_value(if i.attributes.shutdown_terminates { "terminate" } else { "stop" })
        }
        InstanceAttributeName::RootDeviceName => out.root_device_name = attr_value(i.root_device.clone()),
        InstanceAttributeName::BlockDeviceMapping => out.block_device_mappings = Some(devices),
        InstanceAttributeName::ProductCodes => out.product_codes = Some(Vec::new()),
        InstanceAttributeName::SourceDestCheck => out.source_dest_check = attr_bool(i.attributes.source_dest_check),
        InstanceAttributeName::GroupSet => {
            out.groups = Some(
                groups
                    .into_iter()
                    .map(|(id, name)| GroupIdentifier { group_id: Some(id), group_name: Some(name) })
                    .collect(),
            )
        }
        InstanceAttributeName::EbsOptimized => out.ebs_optimized = attr_bool(i.attributes.ebs_optimized),
        InstanceAttributeName::SriovNetSupport => out.sriov_net_support = attr_value("simple"),
        InstanceAttributeName::EnaSupport => out.ena_support = attr_bool(true),
        InstanceAttributeName::EnclaveOptions => {
            out.enclave_options = Some(crate::generated::EnclaveOptions { enabled: Some(false) })
        }
    }
    Ok(out)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::invalid_value(name, other)),
    }
}

/// The one change a ModifyInstanceAttribute asks for (AWS takes one attribute per call).
fn attribute_change(r: &ModifyInstanceAttributeRequest) -> Result<AttributeChange, ApiError> {
    let mut changes = Vec::new();
    if let Some(v) = r.source_dest_check.as_ref().and_then(|v| v.value) {
        changes.push(AttributeChange::SourceDestCheck(v));
    }
    if let Some(v) = r.disable_api_stop.as_ref().and_then(|v| v.value) {
        changes.push(AttributeChange::DisableApiStop(v));
    }
    if let Some(v) = r.disable_api_termination.as_ref().and_then(|v| v.value) {
        changes.push(AttributeChange::DisableApiTermination(v));
    }
    if let Some(v) = r.ebs_optimized.as_ref().and_then(|v| v.value) {
        changes.push(AttributeChange::EbsOptimized(v));
    }
    if let Some(v) = r.instance_type.as_ref().and_then(|v| v.value.clone()) {
        changes.push(AttributeChange::InstanceType(v));
    }
    if let Some(v) = &r.user_data {
        let data = v.value.as_ref().map(|b| squall_protocol::codec::base64_encode(&b.0)).filter(|s| !s.is_empty());
        changes.push(AttributeChange::UserData(data));
    }
    if let Some(v) = r.instance_initiated_shutdown_behavior.as_ref().and_then(|v| v.value.clone()) {
        changes.push(AttributeChange::ShutdownTerminates(shutdown_behavior(&v)?));
    }
    if let Some(groups) = &r.groups {
        changes.push(AttributeChange::Groups(groups.clone()));
    }
    for m in r.block_device_mappings.iter().flatten() {
        let device =
            m.device_name.clone().ok_or_else(|| ApiError::missing_parameter("BlockDeviceMapping.N.DeviceName"))?;
        let value = m.ebs.as_ref().and_then(|e| e.delete_on_termination).unwrap_or(false);
        changes.push(AttributeChange::DeleteOnTermination { device, value });
    }
    if let (Some(name), Some(value)) = (r.attribute, r.value.as_deref()) {
        changes.push(match name {
            InstanceAttributeName::InstanceType => AttributeChange::InstanceType(value.to_string()),
            InstanceAttributeName::UserData => AttributeChange::UserData(
                Some(squall_protocol::codec::base64_encode(value.as_bytes())).filter(|s| !s.is_empty()),
            ),
            InstanceAttributeName::DisableApiTermination => {
                AttributeChange::DisableApiTermination(parse_bool("Value", value)?)
            }
            InstanceAttributeName::DisableApiStop => AttributeChange::DisableApiStop(parse_bool("Value", value)?),
            InstanceAttributeName::InstanceInitiatedShutdownBehavior => {
                AttributeChange::ShutdownTerminates(shutdown_behavior(value)?)
            }
            InstanceAttributeName::SourceDestCheck => AttributeChange::SourceDestCheck(parse_bool("Value", value)?),
            InstanceAttributeName::EbsOptimized => AttributeChange::EbsOptimized(parse_bool("Value", value)?),
            other => {
                return Err(ApiError::client(
                    "InvalidParameterValue",
                    format!("Value ({}) for parameter attribute is invalid. Unknown attribute.", other.as_str()),
                ))
            }
        });
    }
    match changes.len() {
        1 => Ok(changes.remove(0)),
        0 => Err(ApiError::missing_parameter("Attribute")),
        _ => Err(ApiError::client(
            "InvalidParameterCombination",
            "Fields for multiple attribute types specified: only one attribute can be modified at a time",
        )),
    }
}

fn shutdown_behavior(value: &str) -> Result<bool, ApiError> {
    match value {
        "terminate" => Ok(true),
        "stop" => Ok(false),
        other => Err(ApiError::invalid_value("InstanceInitiatedShutdownBehavior", other)),
    }
}

pub(crate) fn modify_instance_attribute(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyInstanceAttributeRequest,
) -> Result<(), ApiError> {
    let id = instance_id(&r.instance_id)?;
    let change = attribute_change(&r)?;
    if let AttributeChange::InstanceType(t) = &change {
        if InstanceType::from_wire(t).is_none() {
            return Err(ApiError::invalid_value("InstanceType", t));
        }
    }
    region(control, ctx)?
        .modify_instance_attribute(&id, change, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)
}

/// The metadata options after a request's changes, checked as EC2 checks them.
fn metadata_options(
    mut m: MetadataOptions,
    tokens: Option<HttpTokensState>,
    hop_limit: Option<i32>,
    endpoint: Option<InstanceMetadataEndpointState>,
    tags: Option<InstanceMetadataTagsState>,
) -> Result<MetadataOptions, ApiError> {
    if let Some(t) = tokens {
        m.tokens_required = t == HttpTokensState::Required;
    }
    if let Some(n) = hop_limit {
        m.hop_limit = u8::try_from(n).ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
            ApiError::invalid_parameter_value(format!(
                "The HttpPutResponseHopLimit value {n} is not valid. Specify a value between 1 and 64."
            ))
        })?;
    }
    if let Some(e) = endpoint {
        m.endpoint_enabled = e == InstanceMetadataEndpointState::Enabled;
    }
    if let Some(t) = tags {
        m.tags_enabled = t == InstanceMetadataTagsState::Enabled;
    }
    Ok(m)
}

fn wire_metadata(m: &MetadataOptions, state: InstanceMetadataOptionsState) -> InstanceMetadataOptionsResponse {
    InstanceMetadataOptionsResponse {
        state: Some(state),
        http_tokens: Some(if m.tokens_required { HttpTokensState::Required } else { HttpTokensState::Optional }),
        http_put_response_hop_limit: Some(i32::from(m.hop_limit)),
        http_endpoint: Some(if m.endpoint_enabled {
            InstanceMetadataEndpointState::Enabled
        } else {
            InstanceMetadataEndpointState::Disabled
        }),
        http_protocol_ipv6: Some(InstanceMetadataProtocolState::Disabled),
        instance_metadata_tags: Some(if m.tags_enabled {
            InstanceMetadataTagsState::Enabled
        } else {
            InstanceMetadataTagsState::Disabled
        }),
    }
}

/// A CPU credit option for an instance type: only burstable types take one.
fn cpu_credits(value: &str, instance_type: &str) -> Result<String, ApiError> {
    if squall_control::model::instance::default_cpu_credits(instance_type).is_none() {
        return Err(ApiError::client(
            "InvalidParameterCombination",
            format!("CPU credit options are for burstable performance instances only, not {instance_type}."),
        ));
    }
    match value {
        "standard" | "unlimited" => Ok(value.to_string()),
        other => Err(ApiError::invalid_parameter_value(format!(
            "Value ({other}) for parameter cpuCredits is invalid. Valid values: standard, unlimited."
        ))),
    }
}

/// (instance type, location) of every offering: the catalogue's types in the region, each zone,
/// each zone id.
pub(crate) fn describe_instance_type_offerings(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInstanceTypeOfferingsRequest,
) -> Result<DescribeInstanceTypeOfferingsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, &["instance-type", "location"])?;
    let location_type = r.location_type.unwrap_or(LocationType::Region);
    let zones = region(control, ctx)?.zones();
    let locations: Vec<String> = match location_type {
        LocationType::Region => vec![ctx.region.clone()],
        LocationType::AvailabilityZone => zones.iter().map(|z| z.name.to_string()).collect(),
        LocationType::AvailabilityZoneId => zones.iter().map(|z| z.id.to_string()).collect(),
        LocationType::Outpost => Vec::new(),
    };
    let limit = page_size(r.max_results, 5, 1000)?.unwrap_or(usize::MAX);
    let start: usize = match r.next_token.as_deref() {
        None => 0,
        Some(t) => t.parse().map_err(|_| ApiError::invalid_parameter_value(format!("Invalid NextToken: {t}")))?,
    };
    let all: Vec<InstanceTypeOffering> = INSTANCE_TYPES
        .iter()
        .flat_map(|(t, ..)| locations.iter().map(move |l| (*t, l.clone())))
        .filter(|(t, l)| {
            filter::matches(&filters, |name| match name {
                "instance-type" => vec![t.as_str().to_string()],
                "location" => vec![l.clone()],
                _ => Vec::new(),
            })
        })
        .map(|(t, l)| InstanceTypeOffering {
            instance_type: Some(t),
            location_type: Some(location_type),
            location: Some(l),
        })
        .collect();
    let page: Vec<InstanceTypeOffering> = all.iter().skip(start).take(limit).cloned().collect();
    let next = start + page.len();
    Ok(DescribeInstanceTypeOfferingsResult {
        instance_type_offerings: Some(page),
        next_token: (next < all.len()).then(|| next.to_string()),
    })
}

/// MonitorInstances (`on`) and UnmonitorInstances: the new state is `pending` or `disabling`,
/// and DescribeInstances shows `enabled` or `disabled` from then on.
pub(crate) fn set_monitoring(
    control: &ControlPlane,
    ctx: &RequestContext,
    ids: &[String],
    on: bool,
    dry_run: Option<bool>,
) -> Result<Vec<InstanceMonitoring>, ApiError> {
    let ids = ids.iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let region = region(control, ctx)?;
    let now = control.now_ms();
    region.read(now, |state| state.require_instances(&ids)).map_err(control_error)?;
    check_dry_run(dry_run)?;
    let mut out = Vec::new();
    for id in ids {
        region.modify_instance_attribute(&id, AttributeChange::Monitoring(on), now, false).map_err(control_error)?;
        out.push(InstanceMonitoring {
            instance_id: Some(id.to_string()),
            monitoring: Some(Monitoring {
                state: Some(if on { MonitoringState::Pending } else { MonitoringState::Disabling }),
                metric_category_ids: None,
            }),
        });
    }
    Ok(out)
}

pub(crate) fn modify_instance_metadata_options(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyInstanceMetadataOptionsRequest,
) -> Result<ModifyInstanceMetadataOptionsResult, ApiError> {
    let id = instance_id(&r.instance_id)?;
    let region = region(control, ctx)?;
    let now = control.now_ms();
    let current =
        region.read(now, |state| Ok(state.instance(&id)?.attributes.metadata.clone())).map_err(control_error)?;
    let wanted = metadata_options(
        current,
        r.http_tokens,
        r.http_put_response_hop_limit,
        r.http_endpoint,
        r.instance_metadata_tags,
    )?;
    region
        .modify_instance_attribute(&id, AttributeChange::Metadata(wanted.clone()), now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(ModifyInstanceMetadataOptionsResult {
        instance_id: Some(id.to_string()),
        instance_metadata_options: Some(wire_metadata(&wanted, InstanceMetadataOptionsState::Pending)),
    })
}

pub(crate) fn describe_instance_credit_specifications(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeInstanceCreditSpecificationsRequest,
) -> Result<DescribeInstanceCreditSpecificationsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, &["instance-id"])?;
    let ids = r.instance_ids.unwrap_or_default().iter().map(|s| instance_id(s)).collect::<Result<Vec<_>, _>>()?;
    let list = region(control, ctx)?
        .read(control.now_ms(), |state| {
            state.require_instances(&ids)?;
            let (all, _) = state.instances_after(None, usize::MAX, |i| {
                (ids.is_empty() || ids.contains(&i.id)) && i.state != State::Terminated
            });
            Ok(all)
        })
        .map_err(control_error)?
        .into_iter()
        .filter_map(|i| {
            let credits = i.attributes.cpu_credits.clone().or_else(|| {
                squall_control::model::instance::default_cpu_credits(&i.instance_type).map(str::to_string)
            })?;
            filter::matches(&filters, |name| match name {
                "instance-id" => vec![i.id.to_string()],
                _ => Vec::new(),
            })
            .then(|| InstanceCreditSpecification { instance_id: Some(i.id.to_string()), cpu_credits: Some(credits) })
        })
        .collect();
    Ok(DescribeInstanceCreditSpecificationsResult { instance_credit_specifications: Some(list), next_token: None })
}

pub(crate) fn modify_instance_credit_specification(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ModifyInstanceCreditSpecificationRequest,
) -> Result<ModifyInstanceCreditSpecificationResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let region = region(control, ctx)?;
    let now = control.now_ms();
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for item in r.instance_credit_specifications {
        let fail = |code, message: String| UnsuccessfulInstanceCreditSpecificationItem {
            instance_id: Some(item.instance_id.clone()),
            error: Some(UnsuccessfulInstanceCreditSpecificationItemError { code: Some(code), message: Some(message) }),
        };
        let Ok(id) = instance_id(&item.instance_id) else {
            failed.push(fail(
                UnsuccessfulInstanceCreditSpecificationErrorCode::InvalidInstanceIDMalformed,
                format!("Invalid id: \"{}\"", item.instance_id),
            ));
            continue;
        };
        let credits = item.cpu_credits.clone().unwrap_or_default();
        match region.modify_instance_attribute(&id, AttributeChange::CpuCredits(credits), now, false) {
            Ok(()) => ok.push(SuccessfulInstanceCreditSpecificationItem { instance_id: Some(id.to_string()) }),
            Err(e) => {
                use squall_control::{ControlError as E, InstanceError as I};
                let code = match &e {
                    E::Instance(I::NotFound(_)) => {
                        UnsuccessfulInstanceCreditSpecificationErrorCode::InvalidInstanceIDNotFound
                    }
                    E::Instance(I::IncorrectInstanceState { .. }) => {
                        UnsuccessfulInstanceCreditSpecificationErrorCode::IncorrectInstanceState
                    }
                    E::Instance(I::NotBurstable(_)) => {
                        UnsuccessfulInstanceCreditSpecificationErrorCode::InstanceCreditSpecificationNotSupported
                    }
                    _ => return Err(control_error(e)),
                };
                failed.push(fail(code, control_error(e).message));
            }
        }
    }
    Ok(ModifyInstanceCreditSpecificationResult {
        successful_instance_credit_specifications: Some(ok),
        unsuccessful_instance_credit_specifications: Some(failed),
    })
}

/// Instance type families that boot with legacy BIOS only (Xen-based generations); the others
/// (Nitro) boot UEFI, which the public images prefer.
const LEGACY_BIOS_FAMILIES: &[&str] = &[
    "t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4", "x1", "x1e", "i2", "i3", "d2", "g3", "p2", "p3",
    "h1", "f1",
];

/// The boot mode an instance runs with: UEFI on Graviton and on Nitro types (the catalogue
/// images are `uefi-preferred`), legacy BIOS on the older Xen types.
pub(crate) fn boot_mode(instance_type: &str) -> InstanceBootModeValues {
    let family = instance_type.split('.').next().unwrap_or_default();
    if architecture(instance_type) == ArchitectureValues::Arm64 || !LEGACY_BIOS_FAMILIES.contains(&family) {
        InstanceBootModeValues::Uefi
    } else {
        InstanceBootModeValues::LegacyBios
    }
}

/// CRC-32C (Castagnoli), as the AWS variable-store header carries it.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// An empty UEFI variable store in AWS's format (python-uefivars `aws`): the `AMZNUEFI` magic,
/// a CRC-32C of what follows, version 0, then a zlib stream holding the variable count (0) —
/// squall runs no firmware, so an instance has no non-volatile variables of its own.
pub(crate) fn empty_uefi_store() -> String {
    let raw = [0u8; 8];
    let mut z = vec![0x78, 0x01, 0x01, raw.len() as u8, 0x00, !(raw.len() as u8), 0xff];
    z.extend_from_slice(&raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&z);
    let mut out = 0x4946_4555_4e5a_4d41u64.to_le_bytes().to_vec();
    out.extend_from_slice(&crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
    squall_protocol::codec::base64_encode(&out)
}

/// GetInstanceUefiData: a UEFI instance's variable store; none for one booting legacy BIOS.
pub(crate) fn get_instance_uefi_data(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: GetInstanceUefiDataRequest,
) -> Result<GetInstanceUefiDataResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let id = instance_id(&r.instance_id)?;
    let instance_type = region(control, ctx)?
        .read(control.now_ms(), |state| Ok(state.instance(&id)?.instance_type.clone()))
        .map_err(control_error)?;
    let uefi = boot_mode(&instance_type) == InstanceBootModeValues::Uefi;
    Ok(GetInstanceUefiDataResult { instance_id: Some(id.to_string()), uefi_data: uefi.then(empty_uefi_store) })
}

#[cfg(test)]
mod uefi_tests {
    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
    }
}
