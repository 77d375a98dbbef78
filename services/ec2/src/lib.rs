//! EC2 over the `ec2` query protocol: decode a request with the generated codec, call the
//! control plane, encode the generated response type.

mod filter;
pub mod generated;
mod regions;

use squall_control::{ControlError, ControlPlane};
use squall_protocol::{
    decode_action, ec2_response, ApiError, QueryParams, RequestContext, WireResponse,
};

use generated::{Request, Response};

/// `Version=` value of every EC2 request.
pub const API_VERSION: &str = generated::API_VERSION;

/// Answers one EC2 request in the `ec2` protocol's shape, success or error.
pub fn handle(control: &ControlPlane, ctx: &RequestContext, params: &QueryParams) -> WireResponse {
    let result = decode_action(params, generated::MODEL_OPERATIONS, Request::decode)
        .and_then(|request| dispatch(control, ctx, request));
    match result {
        Ok(response) => ec2_response(
            response.action(),
            generated::XML_NAMESPACE,
            &ctx.request_id,
            |w| response.encode_members(w),
        ),
        Err(e) => e.to_ec2_response(&ctx.request_id),
    }
}

fn dispatch(
    control: &ControlPlane,
    ctx: &RequestContext,
    request: Request,
) -> Result<Response, ApiError> {
    match request {
        Request::DescribeRegions(r) => {
            regions::describe_regions(ctx, r).map(Response::DescribeRegions)
        }
        Request::DescribeAvailabilityZones(r) => {
            regions::describe_availability_zones(control, ctx, r)
                .map(Response::DescribeAvailabilityZones)
        }
    }
}

/// EC2's wording for each control-plane error.
pub(crate) fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::UnknownZoneName { zone, .. } => {
            ApiError::invalid_parameter_value(format!("Invalid availability zone: [{zone}]"))
        }
        ControlError::UnknownZoneId { zone_id, .. } => {
            ApiError::invalid_parameter_value(format!("Invalid availability zone: [{zone_id}]"))
        }
        ControlError::UnknownRegion(region) => {
            ApiError::invalid_parameter_value(format!("Invalid region: [{region}]"))
        }
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
