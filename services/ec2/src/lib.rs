//! EC2 over the `ec2` query protocol: decode a request with the generated codec, call the
//! control plane, encode the generated response type.

mod common;
mod filter;
pub mod generated;
mod images;
mod instances;
mod key_pairs;
mod launch_templates;
mod network;
mod network_interfaces;
mod prefix_lists;
mod regions;
mod routing;
mod security_groups;
mod snapshots;
mod tags;
mod volumes;

use squall_control::{ControlError, ControlPlane};
use squall_protocol::{decode_action, ec2_response, ApiError, QueryParams, RequestContext, WireResponse};

use generated::{Request, Response};

/// `Version=` value of every EC2 request.
pub const API_VERSION: &str = generated::API_VERSION;

/// Answers one EC2 request in the `ec2` protocol's shape, success or error.
pub fn handle(control: &ControlPlane, ctx: &RequestContext, params: &QueryParams) -> WireResponse {
    let result = launch_template_params(control, ctx, params).and_then(|(expanded, template)| {
        let params = expanded.as_ref().unwrap_or(params);
        decode_action(params, generated::MODEL_OPERATIONS, Request::decode)
            .map_err(|e| empty_list_error(params, e))
            .and_then(|request| dispatch(control, ctx, params, request, template))
    });
    match result {
        Ok(response) => {
            ec2_response(response.action(), generated::XML_NAMESPACE, &ctx.request_id, |w| response.encode_members(w))
        }
        Err(e) => e.to_ec2_response(&ctx.request_id),
    }
}

/// The `ec2` protocol sends nothing for an empty list, so a required list left empty arrives as
/// a missing parameter; where EC2 words that case its own way, answer as it does.
fn empty_list_error(params: &QueryParams, e: ApiError) -> ApiError {
    if e.code != "MissingParameter" {
        return e;
    }
    match params.action() {
        Some("TerminateInstances" | "StopInstances" | "StartInstances") => {
            ApiError::client("InvalidParameterCombination", "No instances specified")
        }
        _ => e,
    }
}

/// The launch template a RunInstances names, merged into its parameters (`None`: no template).
#[allow(clippy::type_complexity)]
fn launch_template_params(
    control: &ControlPlane,
    ctx: &RequestContext,
    params: &QueryParams,
) -> Result<(Option<QueryParams>, Option<(String, u32)>), ApiError> {
    if params.action() != Some("RunInstances") {
        return Ok((None, None));
    }
    Ok(match launch_templates::expand_run_instances(control, ctx, params)? {
        Some((merged, id, version)) => (Some(merged), Some((id, version))),
        None => (None, None),
    })
}

fn dispatch(
    control: &ControlPlane,
    ctx: &RequestContext,
    params: &QueryParams,
    request: Request,
    template: Option<(String, u32)>,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::DescribeRegions(r) => Response::DescribeRegions(regions::describe_regions(ctx, r)?),
        Request::DescribeAvailabilityZones(r) => {
            Response::DescribeAvailabilityZones(regions::describe_availability_zones(control, ctx, r)?)
        }
        Request::CreateVolume(r) => Response::CreateVolume(volumes::create_volume(control, ctx, r)?),
        Request::DeleteVolume(r) => Response::DeleteVolume(volumes::delete_volume(control, ctx, r)?),
        Request::DescribeVolumes(r) => Response::DescribeVolumes(volumes::describe_volumes(control, ctx, r)?),
        Request::ModifyVolume(r) => Response::ModifyVolume(volumes::modify_volume(control, ctx, r)?),
        Request::DescribeVolumesModifications(r) => {
            Response::DescribeVolumesModifications(volumes::describe_volumes_modifications(control, ctx, r)?)
        }
        Request::AttachVolume(r) => Response::AttachVolume(volumes::attach_volume(control, ctx, r)?),
        Request::DetachVolume(r) => Response::DetachVolume(volumes::detach_volume(control, ctx, r)?),
        Request::DescribeVolumeStatus(r) => {
            Response::DescribeVolumeStatus(volumes::describe_volume_status(control, ctx, r)?)
        }
        Request::EnableVolumeIO(r) => Response::EnableVolumeIO(volumes::enable_volume_io(control, ctx, r)?),
        Request::ModifyVolumeAttribute(r) => {
            Response::ModifyVolumeAttribute(volumes::modify_volume_attribute(control, ctx, r)?)
        }
        Request::DescribeVolumeAttribute(r) => {
            Response::DescribeVolumeAttribute(volumes::describe_volume_attribute(control, ctx, r)?)
        }
        Request::CreateSnapshot(r) => Response::CreateSnapshot(snapshots::create_snapshot(control, ctx, r)?),
        Request::CreateSnapshots(r) => Response::CreateSnapshots(snapshots::create_snapshots(control, ctx, r)?),
        Request::DeleteSnapshot(r) => Response::DeleteSnapshot(snapshots::delete_snapshot(control, ctx, r)?),
        Request::DescribeSnapshots(r) => Response::DescribeSnapshots(snapshots::describe_snapshots(control, ctx, r)?),
        Request::CopySnapshot(r) => Response::CopySnapshot(snapshots::copy_snapshot(control, ctx, r)?),
        Request::ModifySnapshotAttribute(r) => {
            Response::ModifySnapshotAttribute(snapshots::modify_snapshot_attribute(control, ctx, r)?)
        }
        Request::DescribeSnapshotAttribute(r) => {
            Response::DescribeSnapshotAttribute(snapshots::describe_snapshot_attribute(control, ctx, r)?)
        }
        Request::ResetSnapshotAttribute(r) => {
            Response::ResetSnapshotAttribute(snapshots::reset_snapshot_attribute(control, ctx, r)?)
        }
        Request::DescribeImages(r) => Response::DescribeImages(images::describe_images(control, ctx, r)?),
        Request::CreateSecurityGroup(r) => {
            Response::CreateSecurityGroup(security_groups::create_security_group(control, ctx, r)?)
        }
        Request::DeleteSecurityGroup(r) => {
            Response::DeleteSecurityGroup(security_groups::delete_security_group(control, ctx, r)?)
        }
        Request::DescribeSecurityGroups(r) => {
            Response::DescribeSecurityGroups(security_groups::describe_security_groups(control, ctx, r)?)
        }
        Request::AuthorizeSecurityGroupIngress(r) => {
            Response::AuthorizeSecurityGroupIngress(security_groups::authorize_security_group_ingress(control, ctx, r)?)
        }
        Request::AuthorizeSecurityGroupEgress(r) => {
            Response::AuthorizeSecurityGroupEgress(security_groups::authorize_security_group_egress(control, ctx, r)?)
        }
        Request::RevokeSecurityGroupIngress(r) => {
            Response::RevokeSecurityGroupIngress(security_groups::revoke_security_group_ingress(control, ctx, r)?)
        }
        Request::RevokeSecurityGroupEgress(r) => {
            Response::RevokeSecurityGroupEgress(security_groups::revoke_security_group_egress(control, ctx, r)?)
        }
        Request::DescribeSecurityGroupRules(r) => {
            Response::DescribeSecurityGroupRules(security_groups::describe_security_group_rules(control, ctx, r)?)
        }
        Request::CreateVpc(r) => Response::CreateVpc(network::create_vpc(control, ctx, r)?),
        Request::DeleteVpc(r) => Response::DeleteVpc(network::delete_vpc(control, ctx, r)?),
        Request::CreateSubnet(r) => Response::CreateSubnet(network::create_subnet(control, ctx, r)?),
        Request::DeleteSubnet(r) => Response::DeleteSubnet(network::delete_subnet(control, ctx, r)?),
        Request::CreateKeyPair(r) => Response::CreateKeyPair(key_pairs::create_key_pair(control, ctx, r)?),
        Request::ImportKeyPair(r) => Response::ImportKeyPair(key_pairs::import_key_pair(control, ctx, r)?),
        Request::DescribeKeyPairs(r) => Response::DescribeKeyPairs(key_pairs::describe_key_pairs(control, ctx, r)?),
        Request::DeleteKeyPair(r) => Response::DeleteKeyPair(key_pairs::delete_key_pair(control, ctx, r)?),
        Request::CreateImage(r) => Response::CreateImage(images::create_image(control, ctx, r)?),
        Request::RegisterImage(r) => Response::RegisterImage(images::register_image(control, ctx, r)?),
        Request::DeregisterImage(r) => Response::DeregisterImage(images::deregister_image(control, ctx, r)?),
        Request::DescribeInstanceAttribute(r) => {
            Response::DescribeInstanceAttribute(instances::describe_instance_attribute(control, ctx, r)?)
        }
        Request::ModifyInstanceAttribute(r) => {
            Response::ModifyInstanceAttribute(instances::modify_instance_attribute(control, ctx, r)?)
        }
        Request::CreateNetworkInterface(r) => {
            Response::CreateNetworkInterface(network_interfaces::create_network_interface(control, ctx, r)?)
        }
        Request::DeleteNetworkInterface(r) => {
            Response::DeleteNetworkInterface(network_interfaces::delete_network_interface(control, ctx, r)?)
        }
        Request::DescribeNetworkInterfaces(r) => {
            Response::DescribeNetworkInterfaces(network_interfaces::describe_network_interfaces(control, ctx, r)?)
        }
        Request::AttachNetworkInterface(r) => {
            Response::AttachNetworkInterface(network_interfaces::attach_network_interface(control, ctx, r)?)
        }
        Request::DetachNetworkInterface(r) => {
            Response::DetachNetworkInterface(network_interfaces::detach_network_interface(control, ctx, r)?)
        }
        Request::ModifyNetworkInterfaceAttribute(r) => Response::ModifyNetworkInterfaceAttribute(
            network_interfaces::modify_network_interface_attribute(control, ctx, r)?,
        ),
        Request::DescribeNetworkInterfaceAttribute(r) => Response::DescribeNetworkInterfaceAttribute(
            network_interfaces::describe_network_interface_attribute(control, ctx, r)?,
        ),
        Request::AssociateVpcCidrBlock(r) => {
            Response::AssociateVpcCidrBlock(network_interfaces::associate_vpc_cidr_block(control, ctx, r)?)
        }
        Request::DisassociateVpcCidrBlock(r) => {
            Response::DisassociateVpcCidrBlock(network_interfaces::disassociate_vpc_cidr_block(control, ctx, r)?)
        }
        Request::AssociateSubnetCidrBlock(r) => {
            Response::AssociateSubnetCidrBlock(network_interfaces::associate_subnet_cidr_block(control, ctx, r)?)
        }
        Request::DisassociateSubnetCidrBlock(r) => {
            Response::DisassociateSubnetCidrBlock(network_interfaces::disassociate_subnet_cidr_block(control, ctx, r)?)
        }
        Request::CreateLaunchTemplate(r) => {
            Response::CreateLaunchTemplate(launch_templates::create_launch_template(control, ctx, params, r)?)
        }
        Request::CreateLaunchTemplateVersion(r) => Response::CreateLaunchTemplateVersion(
            launch_templates::create_launch_template_version(control, ctx, params, r)?,
        ),
        Request::DescribeLaunchTemplates(r) => {
            Response::DescribeLaunchTemplates(launch_templates::describe_launch_templates(control, ctx, r)?)
        }
        Request::DescribeLaunchTemplateVersions(r) => Response::DescribeLaunchTemplateVersions(
            launch_templates::describe_launch_template_versions(control, ctx, r)?,
        ),
        Request::ModifyLaunchTemplate(r) => {
            Response::ModifyLaunchTemplate(launch_templates::modify_launch_template(control, ctx, r)?)
        }
        Request::DeleteLaunchTemplate(r) => {
            Response::DeleteLaunchTemplate(launch_templates::delete_launch_template(control, ctx, r)?)
        }
        Request::DeleteLaunchTemplateVersions(r) => {
            Response::DeleteLaunchTemplateVersions(launch_templates::delete_launch_template_versions(control, ctx, r)?)
        }
        Request::GetLaunchTemplateData(r) => {
            Response::GetLaunchTemplateData(launch_templates::get_launch_template_data(control, ctx, r)?)
        }
        Request::DescribeManagedPrefixLists(r) => {
            Response::DescribeManagedPrefixLists(prefix_lists::describe_managed_prefix_lists(control, ctx, r)?)
        }
        Request::DescribePrefixLists(r) => {
            Response::DescribePrefixLists(prefix_lists::describe_prefix_lists(control, ctx, r)?)
        }
        Request::GetManagedPrefixListEntries(r) => {
            Response::GetManagedPrefixListEntries(prefix_lists::get_managed_prefix_list_entries(control, ctx, r)?)
        }
        Request::GetInstanceUefiData(r) => {
            Response::GetInstanceUefiData(instances::get_instance_uefi_data(control, ctx, r)?)
        }
        Request::DescribeVpcs(r) => Response::DescribeVpcs(network::describe_vpcs(control, ctx, r)?),
        Request::DescribeVpcAttribute(r) => {
            Response::DescribeVpcAttribute(routing::describe_vpc_attribute(control, ctx, r)?)
        }
        Request::ModifyVpcAttribute(r) => Response::ModifyVpcAttribute(routing::modify_vpc_attribute(control, ctx, r)?),
        Request::DescribeAccountAttributes(r) => {
            Response::DescribeAccountAttributes(routing::describe_account_attributes(control, ctx, r)?)
        }
        Request::DescribeNetworkAcls(r) => {
            Response::DescribeNetworkAcls(routing::describe_network_acls(control, ctx, r)?)
        }
        Request::CreateInternetGateway(r) => {
            Response::CreateInternetGateway(routing::create_internet_gateway(control, ctx, r)?)
        }
        Request::AttachInternetGateway(r) => {
            Response::AttachInternetGateway(routing::attach_internet_gateway(control, ctx, r)?)
        }
        Request::DetachInternetGateway(r) => {
            Response::DetachInternetGateway(routing::detach_internet_gateway(control, ctx, r)?)
        }
        Request::DeleteInternetGateway(r) => {
            Response::DeleteInternetGateway(routing::delete_internet_gateway(control, ctx, r)?)
        }
        Request::DescribeInternetGateways(r) => {
            Response::DescribeInternetGateways(routing::describe_internet_gateways(control, ctx, r)?)
        }
        Request::CreateRouteTable(r) => Response::CreateRouteTable(routing::create_route_table(control, ctx, r)?),
        Request::DeleteRouteTable(r) => Response::DeleteRouteTable(routing::delete_route_table(control, ctx, r)?),
        Request::DescribeRouteTables(r) => {
            Response::DescribeRouteTables(routing::describe_route_tables(control, ctx, r)?)
        }
        Request::AssociateRouteTable(r) => {
            Response::AssociateRouteTable(routing::associate_route_table(control, ctx, r)?)
        }
        Request::DisassociateRouteTable(r) => {
            Response::DisassociateRouteTable(routing::disassociate_route_table(control, ctx, r)?)
        }
        Request::CreateRoute(r) => Response::CreateRoute(routing::create_route(control, ctx, r)?),
        Request::ReplaceRoute(r) => Response::ReplaceRoute(routing::replace_route(control, ctx, r)?),
        Request::DeleteRoute(r) => Response::DeleteRoute(routing::delete_route(control, ctx, r)?),
        Request::AllocateAddress(r) => Response::AllocateAddress(routing::allocate_address(control, ctx, r)?),
        Request::AssociateAddress(r) => Response::AssociateAddress(routing::associate_address(control, ctx, r)?),
        Request::DisassociateAddress(r) => {
            Response::DisassociateAddress(routing::disassociate_address(control, ctx, r)?)
        }
        Request::ReleaseAddress(r) => Response::ReleaseAddress(routing::release_address(control, ctx, r)?),
        Request::DescribeAddresses(r) => Response::DescribeAddresses(routing::describe_addresses(control, ctx, r)?),
        Request::ModifySubnetAttribute(r) => {
            Response::ModifySubnetAttribute(routing::modify_subnet_attribute(control, ctx, r)?)
        }
        Request::DescribeSubnets(r) => Response::DescribeSubnets(network::describe_subnets(control, ctx, r)?),
        Request::RunInstances(r) => Response::RunInstances(instances::run_instances(control, ctx, r, template)?),
        Request::DescribeInstances(r) => Response::DescribeInstances(instances::describe_instances(control, ctx, r)?),
        Request::ModifySnapshotTier(r) => {
            Response::ModifySnapshotTier(snapshots::modify_snapshot_tier(control, ctx, r)?)
        }
        Request::RestoreSnapshotTier(r) => {
            Response::RestoreSnapshotTier(snapshots::restore_snapshot_tier(control, ctx, r)?)
        }
        Request::DescribeSnapshotTierStatus(r) => {
            Response::DescribeSnapshotTierStatus(snapshots::describe_snapshot_tier_status(control, ctx, r)?)
        }
        Request::DescribeInstanceTypeOfferings(r) => {
            Response::DescribeInstanceTypeOfferings(instances::describe_instance_type_offerings(control, ctx, r)?)
        }
        Request::MonitorInstances(r) => Response::MonitorInstances(crate::generated::MonitorInstancesResult {
            instance_monitorings: Some(instances::set_monitoring(control, ctx, &r.instance_ids, true, r.dry_run)?),
        }),
        Request::UnmonitorInstances(r) => Response::UnmonitorInstances(crate::generated::UnmonitorInstancesResult {
            instance_monitorings: Some(instances::set_monitoring(control, ctx, &r.instance_ids, false, r.dry_run)?),
        }),
        Request::ModifyInstanceMetadataOptions(r) => {
            Response::ModifyInstanceMetadataOptions(instances::modify_instance_metadata_options(control, ctx, r)?)
        }
        Request::DescribeInstanceCreditSpecifications(r) => Response::DescribeInstanceCreditSpecifications(
            instances::describe_instance_credit_specifications(control, ctx, r)?,
        ),
        Request::ModifyInstanceCreditSpecification(r) => Response::ModifyInstanceCreditSpecification(
            instances::modify_instance_credit_specification(control, ctx, r)?,
        ),
        Request::DescribeInstanceStatus(r) => {
            Response::DescribeInstanceStatus(instances::describe_instance_status(control, ctx, r)?)
        }
        Request::RebootInstances(r) => Response::RebootInstances(instances::reboot_instances(control, ctx, r)?),
        Request::GetConsoleOutput(r) => Response::GetConsoleOutput(instances::get_console_output(control, ctx, r)?),
        Request::DescribeInstanceTypes(r) => {
            Response::DescribeInstanceTypes(instances::describe_instance_types(control, ctx, r)?)
        }
        Request::StopInstances(r) => Response::StopInstances(instances::stop_instances(control, ctx, r)?),
        Request::StartInstances(r) => Response::StartInstances(instances::start_instances(control, ctx, r)?),
        Request::TerminateInstances(r) => {
            Response::TerminateInstances(instances::terminate_instances(control, ctx, r)?)
        }
        Request::CreateTags(r) => Response::CreateTags(tags::create_tags(control, ctx, r)?),
        Request::DeleteTags(r) => Response::DeleteTags(tags::delete_tags(control, ctx, r)?),
        Request::DescribeTags(r) => Response::DescribeTags(tags::describe_tags(control, ctx, r)?),
    })
}

/// EC2's code, status and wording for each control-plane error.
pub(crate) fn control_error(e: ControlError) -> ApiError {
    use squall_control::{
        ImageError, InstanceError, KeyPairError, NetworkError, SecurityGroupError, SnapshotError, VolumeError,
        ZoneError,
    };
    use ControlError as E;
    let invalid = ApiError::invalid_parameter_value;
    let combination = |m: String| ApiError::client("InvalidParameterCombination", m);
    match e {
        E::Zone(ZoneError::UnknownZoneName { zone, .. }) => invalid(format!("Invalid availability zone: [{zone}]")),
        E::Zone(ZoneError::UnknownZoneId { zone_id, .. }) => invalid(format!("Invalid availability zone: [{zone_id}]")),
        E::DryRun => ApiError::dry_run_operation(),
        E::Volume(VolumeError::NotFound(v)) => {
            ApiError::client("InvalidVolume.NotFound", format!("The volume '{v}' does not exist."))
        }
        E::Snapshot(SnapshotError::NotFound(s)) => {
            ApiError::client("InvalidSnapshot.NotFound", format!("The snapshot '{s}' does not exist."))
        }
        E::Instance(InstanceError::NotFound(i)) => {
            ApiError::client("InvalidInstanceID.NotFound", format!("The instance ID '{i}' does not exist"))
        }
        E::Instance(InstanceError::NotFoundMany(ids)) => {
            let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
            ApiError::client(
                "InvalidInstanceID.NotFound",
                format!("The instance IDs '{}' do not exist", ids.join(", ")),
            )
        }
        E::UnknownResourceId(r) => ApiError::client("InvalidID", format!("The ID '{r}' is not valid")),
        E::Volume(VolumeError::MissingSizeOrSnapshot) => ApiError::missing_parameter("size or snapshotId"),
        E::Volume(VolumeError::InvalidVolumeSize { size_gib, max_gib, .. }) if size_gib > max_gib => {
            invalid(format!("Volume of {size_gib}GiB is too large; maximum is {max_gib}GiB."))
        }
        E::Volume(VolumeError::InvalidVolumeSize { size_gib, min_gib, .. }) => {
            invalid(format!("Volume of {size_gib}GiB is too small; minimum is {min_gib}GiB."))
        }
        E::Volume(VolumeError::VolumeSmallerThanSnapshot { size_gib, snapshot_gib }) => {
            invalid(format!("Volume of {size_gib}GiB is smaller than snapshot, expect size >= {snapshot_gib}GiB"))
        }
        E::Volume(VolumeError::IopsNotSupported(t)) => combination(format!(
            "The parameter iops is not supported for {} volumes.",
            volumes::to_wire_type(t).as_str()
        )),
        E::Volume(VolumeError::IopsRequired(_)) => ApiError::missing_parameter("iops"),
        E::Volume(VolumeError::InvalidIops { iops, max, .. }) if iops > max => {
            invalid(format!("Volume iops of {iops} is too high; maximum is {max}."))
        }
        E::Volume(VolumeError::InvalidIops { iops, min, .. }) => {
            invalid(format!("Volume iops of {iops} is too low; minimum is {min}."))
        }
        E::Volume(VolumeError::IopsRatio { iops, size_gib, per_gib }) => invalid(format!(
            "Iops to volume size ratio of {:.6} is too high; maximum is {per_gib}.000000.",
            f64::from(iops) / f64::from(size_gib.max(1))
        )),
        E::Volume(VolumeError::ThroughputNotSupported(t)) => combination(format!(
            "The parameter throughput is not supported for {} volumes.",
            volumes::to_wire_type(t).as_str()
        )),
        E::Volume(VolumeError::InvalidThroughput { throughput, min, max }) => {
            invalid(format!("Throughput of {throughput} MiB/s is not valid; it must be between {min} and {max} MiB/s."))
        }
        E::Volume(VolumeError::MultiAttachNotSupported(t)) => combination(format!(
            "Multi-Attach is not supported for {} volumes; it is supported for io1 and io2 only.",
            volumes::to_wire_type(t).as_str()
        )),
        E::TooManyTags => ApiError::client("TagLimitExceeded", "The maximum number of tags per resource is 50."),
        E::IdempotentParameterMismatch(token) => ApiError::client(
            "IdempotentParameterMismatch",
            format!("The client token '{token}' was already used with different request parameters."),
        ),
        E::Volume(VolumeError::InUse { volume, instance }) => {
            ApiError::client("VolumeInUse", format!("Volume {volume} is currently attached to {instance}"))
        }
        E::Volume(VolumeError::IncorrectVolumeState { volume, state }) => {
            let state = match state {
                squall_control::model::volume::VolumeState::Creating => "creating",
                squall_control::model::volume::VolumeState::Available => "available",
                squall_control::model::volume::VolumeState::InUse => "in-use",
                squall_control::model::volume::VolumeState::Deleting => "deleting",
            };
            ApiError::client("IncorrectState", format!("The volume '{volume}' is in the '{state}' state."))
        }
        E::Volume(VolumeError::ZoneMismatch { volume, instance }) => ApiError::client(
            "InvalidVolume.ZoneMismatch",
            format!("The volume '{volume}' is not in the same availability zone as instance '{instance}'"),
        ),
        E::Volume(VolumeError::DeviceInUse { device, .. }) => {
            invalid(format!("Invalid value '{device}' for unixDevice. Attachment point {device} is already in use"))
        }
        E::Volume(VolumeError::NotAttached { volume }) => {
            ApiError::client("IncorrectState", format!("Volume '{volume}' is in the 'available' state."))
        }
        E::Volume(VolumeError::AttachmentNotFound { volume, instance, device }) => ApiError::client(
            "InvalidAttachment.NotFound",
            match (instance, device) {
                (_, Some(device)) => format!("Attachment point {device} is not in use for volume {volume}"),
                (Some(instance), None) => format!("The volume '{volume}' is not attached to instance '{instance}'"),
                (None, None) => format!("The volume '{volume}' has no such attachment"),
            },
        ),
        E::Snapshot(SnapshotError::InUse { snapshot, volume }) => ApiError::client(
            "InvalidSnapshot.InUse",
            format!("The snapshot {snapshot} is currently in use by {volume}"),
        ),
        E::Volume(VolumeError::InsufficientVolumeCapacity { .. }) => ApiError::new(
            500,
            "InsufficientVolumeCapacity",
            "There is not enough capacity to fulfill your EBS volume provision request. You can try to provision a \
             different volume type, EBS volume in a different availability zone, or you can wait and try again later.",
        ),
        E::Volume(VolumeError::ModificationInProgress(v)) => ApiError::client(
            "IncorrectModificationState",
            format!("Cannot modify volume {v} as it is already being modified"),
        ),
        E::Volume(VolumeError::CannotShrink { .. }) => {
            invalid("New size cannot be smaller than existing size".to_string())
        }
        E::Instance(InstanceError::IncorrectInstanceState { instance, state }) => {
            use squall_control::model::instance::InstanceState as S;
            let state = match state {
                S::Pending => "pending",
                S::Running => "running",
                S::ShuttingDown => "shutting-down",
                S::Terminated => "terminated",
                S::Stopping => "stopping",
                S::Stopped => "stopped",
            };
            ApiError::client(
                "IncorrectInstanceState",
                format!("The instance '{instance}' is not in a state from which it can be changed: it is '{state}'."),
            )
        }
        E::SecurityGroup(SecurityGroupError::Unnamed) => ApiError::missing_parameter("GroupId"),
        E::SecurityGroup(SecurityGroupError::NotFound(g)) => {
            ApiError::client("InvalidGroup.NotFound", format!("The security group '{g}' does not exist"))
        }
        E::SecurityGroup(SecurityGroupError::Exists { name, vpc_id }) => ApiError::client(
            "InvalidGroup.Duplicate",
            format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
        ),
        E::SecurityGroup(SecurityGroupError::CannotDeleteDefaultGroup(g)) => ApiError::client(
            "CannotDelete",
            format!("the specified group: \"{g}\" name: \"default\" cannot be deleted by a user"),
        ),
        E::SecurityGroup(SecurityGroupError::InUse(g)) => {
            ApiError::client("DependencyViolation", format!("resource {g} has a dependent object"))
        }
        E::SecurityGroup(SecurityGroupError::DuplicatePermission(g)) => ApiError::client(
            "InvalidPermission.Duplicate",
            format!("the specified rule already exists in security group {g}"),
        ),
        E::SecurityGroup(SecurityGroupError::PermissionNotFound(_)) => {
            ApiError::client("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
        }
        E::SecurityGroup(SecurityGroupError::SecurityGroupRuleNotFound(r)) => ApiError::client(
            "InvalidSecurityGroupRuleId.NotFound",
            format!("The security group rule ID '{r}' does not exist"),
        ),
        E::Snapshot(SnapshotError::SnapshotNotPending(s)) | E::Snapshot(SnapshotError::SnapshotNotCompleted(s)) => {
            ApiError::client("IncorrectState", format!("Snapshot '{s}' is in an invalid state for this operation."))
        }
        E::Snapshot(SnapshotError::BlockIndexOutOfRange { snapshot, index }) => {
            invalid(format!("Block {index} is beyond the end of snapshot {snapshot}."))
        }
        E::Snapshot(SnapshotError::ChangedBlocksMismatch { snapshot, declared, written }) => {
            invalid(format!("Snapshot {snapshot}: {declared} changed blocks declared, {written} written."))
        }
        E::Snapshot(SnapshotError::ChecksumMismatch(s)) => {
            invalid(format!("Snapshot {s}: the checksum does not match."))
        }
        E::Network(NetworkError::VpcNotFound(v)) => {
            ApiError::client("InvalidVpcID.NotFound", format!("The vpc ID '{v}' does not exist"))
        }
        E::Network(NetworkError::SubnetNotFound(s)) => {
            ApiError::client("InvalidSubnetID.NotFound", format!("The subnet ID '{s}' does not exist"))
        }
        E::Network(NetworkError::InvalidCidr(c)) => {
            invalid(format!("Value ({c}) for parameter cidrBlock is invalid. This is not a valid CIDR block."))
        }
        E::Network(NetworkError::VpcRange(c)) => {
            ApiError::client("InvalidVpc.Range", format!("The CIDR '{c}' is invalid."))
        }
        E::Network(NetworkError::SubnetRange(c)) => {
            ApiError::client("InvalidSubnet.Range", format!("The CIDR '{c}' is invalid."))
        }
        E::Network(NetworkError::SubnetConflict(c)) => {
            ApiError::client("InvalidSubnet.Conflict", format!("The CIDR '{c}' conflicts with another subnet"))
        }
        E::Network(NetworkError::DependencyViolation { kind, id }) => ApiError::client(
            "DependencyViolation",
            format!("The {kind} '{id}' has dependencies and cannot be deleted."),
        ),
        E::Network(NetworkError::InsufficientFreeAddresses(s)) => ApiError::client(
            "InsufficientFreeAddressesInSubnet",
            format!(
                "There are not enough free addresses in subnet '{s}' to satisfy the requested number of instances."
            ),
        ),
        E::Network(NetworkError::GroupSubnetMismatch { group, subnet }) => ApiError::client(
            "InvalidParameter",
            format!("Security group {group} and subnet {subnet} belong to different networks."),
        ),
        // No EC2 operation reaches RDS's rules; were one to, it is still the input that was refused.
        E::Rds(e) => invalid(e.to_string()),
        E::Secrets(e) => invalid(e.to_string()),
        E::Routing(e) => routing_error(e),
        E::Template(e) => template_error(e),
        E::KeyPair(KeyPairError::Unnamed) => ApiError::missing_parameter("KeyName"),
        E::KeyPair(KeyPairError::NotFound(k)) => {
            ApiError::client("InvalidKeyPair.NotFound", format!("The key pair '{k}' does not exist"))
        }
        E::KeyPair(KeyPairError::Exists(k)) => {
            ApiError::client("InvalidKeyPair.Duplicate", format!("The keypair '{k}' already exists."))
        }
        E::KeyPair(KeyPairError::InvalidKeyName(k)) => {
            invalid(format!("Value ({k}) for parameter KeyName is invalid."))
        }
        E::KeyPair(KeyPairError::InvalidKeyFormat) => {
            ApiError::client("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
        }
        E::Image(ImageError::NotFound(i)) => {
            ApiError::client("InvalidAMIID.NotFound", format!("The image id '[{i}]' does not exist"))
        }
        E::Image(ImageError::InvalidImageName(_)) => ApiError::client(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', \
             '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
        ),
        E::Image(ImageError::ImageNameInUse { name, image }) => {
            ApiError::client("InvalidAMIName.Duplicate", format!("AMI name {name} is already in use by AMI {image}"))
        }
        E::Image(ImageError::MissingRootSnapshot(device)) => ApiError::client(
            "InvalidBlockDeviceMapping",
            format!("The root device {device} must be mapped to a snapshot."),
        ),
        E::Snapshot(SnapshotError::TierState(m)) => ApiError::client("IncorrectState", m),
        E::Snapshot(SnapshotError::Archived(id)) => ApiError::client(
            "IncorrectState",
            format!("The snapshot '{id}' is in the archive tier: restore it (RestoreSnapshotTier) before using it."),
        ),
        E::Snapshot(SnapshotError::SnapshotUsedByImage { snapshot, image }) => {
            ApiError::client("InvalidSnapshot.InUse", format!("The snapshot {snapshot} is currently in use by {image}"))
        }
        E::Instance(InstanceError::TerminationProtected(i)) => ApiError::client(
            "OperationNotPermitted",
            format!(
                "The instance '{i}' may not be terminated. Modify its 'disableApiTermination' instance attribute \
                 and try again."
            ),
        ),
        E::Instance(InstanceError::NotBurstable(i)) => ApiError::client(
            "UnsupportedOperation",
            format!("The instance '{i}' is not a burstable performance instance: it has no CPU credit option."),
        ),
        E::Instance(InstanceError::InvalidCpuCredits(c)) => {
            invalid(format!("Value ({c}) for parameter cpuCredits is invalid. Valid values: standard, unlimited."))
        }
        E::Instance(InstanceError::StopProtected(i)) => ApiError::client(
            "OperationNotPermitted",
            format!(
                "The instance '{i}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again."
            ),
        ),
        E::Instance(InstanceError::InsufficientInstanceCapacity { instance_type, zone }) => ApiError::new(
            500,
            "InsufficientInstanceCapacity",
            format!(
                "We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested \
                 ({zone}). Our system will be working on provisioning additional capacity. You can currently get \
                 {instance_type} capacity by not specifying an Availability Zone in your request or choosing other \
                 Availability Zones."
            ),
        ),
        E::Zone(ZoneError::StorageTimeout { zone, waited_ms }) => ApiError::new(
            503,
            "Unavailable",
            format!(
                "The service is unavailable in {zone} at this time: its storage did not answer within {waited_ms} ms. \
                 Please try again later or use another Availability Zone."
            ),
        ),
        E::Zone(ZoneError::StorageBusy { zone }) => ApiError::new(
            503,
            "Unavailable",
            format!(
                "The service is unavailable in {zone} at this time: too many requests are waiting for its storage. \
                 Please try again later or use another Availability Zone."
            ),
        ),
        E::Zone(ZoneError::ZoneUnavailable(zone)) => ApiError::new(
            503,
            "Unavailable",
            format!("The service is unavailable in {zone} at this time. Please try again later."),
        ),
        E::Network(NetworkError::AddressOutsideSubnet { address, subnet }) => {
            invalid(format!("Address {address} does not fall within the subnet's address range ({subnet})."))
        }
        E::Network(NetworkError::AddressReserved(address)) => {
            invalid(format!("Address {address} is in subnet's reserved address range"))
        }
        E::Network(NetworkError::AddressInUse(address)) => {
            ApiError::client("InvalidIPAddress.InUse", format!("Address {address} is in use."))
        }
        E::Network(NetworkError::NoDefaultVpc) => ApiError::client("VPCIdNotSpecified", "No default VPC for this user"),
        E::Network(NetworkError::InterfaceNotFound(id)) => ApiError::client(
            "InvalidNetworkInterfaceID.NotFound",
            format!("The networkInterface ID '{id}' does not exist"),
        ),
        E::Network(NetworkError::InterfaceInUse(id)) => {
            ApiError::client("InvalidNetworkInterface.InUse", format!("Interface: [{id}] in use."))
        }
        E::Network(NetworkError::InterfaceAttachmentNotFound(id)) => {
            ApiError::client("InvalidAttachmentID.NotFound", format!("Interface attachment '{id}' does not exist."))
        }
        E::Network(NetworkError::DeviceIndexInUse { instance, index }) => invalid(format!(
            "Instance '{instance}' already has an interface attached at device index '{index}'."
        )),
        E::Network(NetworkError::InterfaceZoneMismatch { interface, instance }) => invalid(format!(
            "You may not attach a network interface to an instance if they are not in the same availability              zone ({interface}, {instance})"
        )),
        E::Network(NetworkError::PrimaryInterface) => ApiError::client(
            "OperationNotPermitted",
            "The network interface at device index 0 cannot be detached.",
        ),
        E::Network(NetworkError::InvalidInterfaceRequest(m)) => invalid(m),
        E::Network(NetworkError::NoIpv6Block(id)) => invalid(format!(
            "The {} '{id}' does not have an IPv6 CIDR block associated with it.",
            if id.starts_with("vpc-") { "VPC" } else { "subnet" }
        )),
        E::Image(ImageError::ImageNotAvailable(i)) => ApiError::client(
            "InvalidAMIID.Unavailable",
            format!("The image id '[{i}]' is not available yet; its snapshots are still being taken."),
        ),
        E::Instance(InstanceError::PlacementMismatch { zone, subnet, subnet_zone }) => invalid(format!(
            "Value ({zone}) for parameter availabilityZone is invalid. Subnet '{subnet}' is in the availability \
             zone {subnet_zone}"
        )),
        E::Instance(InstanceError::MappingWithoutSize(_)) => {
            ApiError::missing_parameter("BlockDeviceMapping.N.Ebs.VolumeSize")
        }
        E::Network(NetworkError::NoDefaultSubnet(zone)) => ApiError::client(
            "MissingInput",
            format!("No subnets found for the default VPC in {zone}. Please specify a subnet."),
        ),
        E::Instance(InstanceError::NoDevice { device, .. }) => {
            ApiError::client("InvalidInstanceAttributeValue", format!("No device is currently mapped at {device}"))
        }
        E::Internal(e) => ApiError::internal(format!("An internal error has occurred ({e})")),
    }
}

/// EC2 answers `DryRun=true` with `DryRunOperation` (412) when the call would have succeeded.
pub(crate) fn check_dry_run(dry_run: Option<bool>) -> Result<(), ApiError> {
    if dry_run == Some(true) {
        Err(ApiError::dry_run_operation())
    } else {
        Ok(())
    }
}

/// Gateways' and route tables' errors with EC2's codes and words.
fn template_error(e: squall_control::launch_templates::TemplateError) -> ApiError {
    use squall_control::launch_templates::TemplateError as T;
    match e {
        T::IdNotFound(id) => ApiError::client(
            "InvalidLaunchTemplateId.NotFound",
            format!("The specified launch template, with template ID {id}, does not exist."),
        ),
        T::NameNotFound(_) => ApiError::client(
            "InvalidLaunchTemplateName.NotFoundException",
            "At least one of the launch templates specified in the request does not exist.",
        ),
        T::NameInUse(name) => ApiError::client(
            "InvalidLaunchTemplateName.AlreadyExistsException",
            format!("Launch template name already in use: {name}"),
        ),
        T::InvalidName(name) => ApiError::client(
            "InvalidLaunchTemplateName.MalformedException",
            format!(
                "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and \
                 the following characters: - ( ) . / _.' ({name})"
            ),
        ),
        T::VersionNotFound { template, version } => ApiError::client(
            "InvalidLaunchTemplateId.VersionNotFound",
            format!("Could not find launch template version {version} for launch template {template}"),
        ),
        T::TemplateLimit(n) => ApiError::client(
            "LaunchTemplateLimitExceeded",
            format!("You've reached the limit of {n} launch templates in this Region."),
        ),
        T::VersionLimit(n) => ApiError::client(
            "LaunchTemplateVersionLimitExceeded",
            format!("You've reached the limit of {n} versions for this launch template."),
        ),
    }
}

fn routing_error(e: squall_control::RoutingError) -> ApiError {
    use squall_control::RoutingError as R;
    match e {
        R::GatewayNotFound(id) => ApiError::client(
            "InvalidInternetGatewayID.NotFound",
            format!("The internetGateway ID '{id}' does not exist"),
        ),
        R::RouteTableNotFound(id) => {
            ApiError::client("InvalidRouteTableID.NotFound", format!("The routeTable ID '{id}' does not exist"))
        }
        R::AssociationNotFound(id) => {
            ApiError::client("InvalidAssociationID.NotFound", format!("The association ID '{id}' does not exist"))
        }
        R::AlreadyAttached { resource, other } => ApiError::client(
            "Resource.AlreadyAssociated",
            format!("resource {resource} is already associated with {other}"),
        ),
        R::NotAttached { gateway, vpc } => {
            ApiError::client("Gateway.NotAttached", format!("resource {gateway} is not attached to network {vpc}"))
        }
        R::RouteExists { table, destination } => ApiError::client(
            "RouteAlreadyExists",
            format!("The route identified by {destination} already exists in route table {table}."),
        ),
        R::RouteNotFound { table, destination } => ApiError::client(
            "InvalidRoute.NotFound",
            format!("no route with destination-cidr-block {destination} in route table {table}"),
        ),
        R::Invalid(m) => ApiError::invalid_parameter_value(m),
        R::DependencyViolation { kind, id } => ApiError::client(
            "DependencyViolation",
            format!("The {kind} '{id}' has dependencies and cannot be deleted."),
        ),
        R::AddressNotFound(id) => {
            ApiError::client("InvalidAllocationID.NotFound", format!("The allocation ID '{id}' does not exist"))
        }
        R::AddressInUse(ip) => ApiError::client("InvalidIPAddress.InUse", format!("Address {ip} is in use.")),
        R::AddressLimit(n) => {
            ApiError::client("AddressLimitExceeded", format!("The maximum number of addresses has been reached ({n})."))
        }
        R::AddressAssociated { address, instance } => ApiError::client(
            "Resource.AlreadyAssociated",
            format!("resource {address} is already associated with associate-id {instance}"),
        ),
        R::SubnetAssociated { subnet, table } => ApiError::client(
            "Resource.AlreadyAssociated",
            format!(
                "the specified association for route table {table} conflicts with an existing association ({subnet})"
            ),
        ),
    }
}
