//! DB security groups (EC2-Classic's) on the wire: Create/Describe/Delete and
//! Authorize/RevokeDBSecurityGroupIngress. The rules are the control plane's
//! (`squall_control::db_security_groups`).

use squall_control::db_security_groups::{authorization_status, DbSecurityGroup, Grantee, IngressSpec};
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, no_filters, paginate, tag_map, Arns};

/// Answers one of the DB security group actions.
pub(crate) fn handle(region: &Region, arns: &Arns<'_>, request: Request, now: u64) -> Result<Response, ApiError> {
    let step = region.read(now, |s| Ok(s.authorization_step_ms())).map_err(control_error)?;
    let render = |g: &DbSecurityGroup| Some(render_group(g, arns, step, now));
    Ok(match request {
        Request::CreateDBSecurityGroup(r) => {
            let tags = tag_map(r.tags.unwrap_or_default())?;
            let g = region
                .create_db_security_group(&r.db_security_group_name, &r.db_security_group_description, tags, now)
                .map_err(control_error)?;
            Response::CreateDBSecurityGroup(CreateDBSecurityGroupResult { db_security_group: render(&g) })
        }
        Request::DescribeDBSecurityGroups(r) => {
            no_filters(r.filters.as_deref())?;
            let limit = max_records(r.max_records)?;
            let groups = region
                .read(now, |s| match &r.db_security_group_name {
                    Some(name) => Ok(vec![s.db_security_group(name)?]),
                    None => Ok(s.db_security_groups_all()),
                })
                .map_err(control_error)?;
            let (page, marker) = paginate(groups, |g| g.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBSecurityGroups(DBSecurityGroupMessage {
                marker,
                db_security_groups: Some(page.iter().map(|g| render_group(g, arns, step, now)).collect()),
            })
        }
        Request::AuthorizeDBSecurityGroupIngress(r) => {
            let spec =
                ingress(r.cidrip, r.ec2_security_group_id, r.ec2_security_group_name, r.ec2_security_group_owner_id);
            let g = region
                .authorize_db_security_group_ingress(&r.db_security_group_name, &spec, arns.account, now)
                .map_err(control_error)?;
            Response::AuthorizeDBSecurityGroupIngress(AuthorizeDBSecurityGroupIngressResult {
                db_security_group: render(&g),
            })
        }
        Request::RevokeDBSecurityGroupIngress(r) => {
            let spec =
                ingress(r.cidrip, r.ec2_security_group_id, r.ec2_security_group_name, r.ec2_security_group_owner_id);
            let g = region
                .revoke_db_security_group_ingress(&r.db_security_group_name, &spec, arns.account, now)
                .map_err(control_error)?;
            Response::RevokeDBSecurityGroupIngress(RevokeDBSecurityGroupIngressResult { db_security_group: render(&g) })
        }
        Request::DeleteDBSecurityGroup(r) => {
            region.delete_db_security_group(&r.db_security_group_name, now).map_err(control_error)?;
            Response::DeleteDBSecurityGroup(())
        }
        other => {
            return Err(ApiError::new(
                500,
                "InternalFailure",
                format!("{} is not a DB security group action", other.action()),
            ))
        }
    })
}

/// What an Authorize/RevokeDBSecurityGroupIngress names: a CIDR range or an EC2 group.
fn ingress(cidr: Option<String>, id: Option<String>, name: Option<String>, owner: Option<String>) -> IngressSpec {
    IngressSpec { cidr, ec2_group_id: id, ec2_group_name: name, ec2_group_owner: owner }
}

fn render_group(g: &DbSecurityGroup, arns: &Arns<'_>, step: u64, now: u64) -> DBSecurityGroup {
    let mut ec2 = Vec::new();
    let mut ranges = Vec::new();
    for a in &g.authorizations {
        let Some(status) = authorization_status(a, step, now) else { continue };
        match &a.grantee {
            Grantee::Cidr(c) => ranges.push(IPRange { status: Some(status.into()), cidrip: Some(c.clone()) }),
            Grantee::Ec2Group { id, name, owner } => ec2.push(EC2SecurityGroup {
                status: Some(status.into()),
                ec2_security_group_name: name.clone(),
                ec2_security_group_id: id.clone(),
                ec2_security_group_owner_id: Some(owner.clone()),
            }),
        }
    }
    DBSecurityGroup {
        owner_id: Some(arns.account.to_string()),
        db_security_group_name: Some(g.name.clone()),
        db_security_group_description: Some(g.description.clone()),
        vpc_id: None,
        ec2_security_groups: Some(ec2),
        ip_ranges: Some(ranges),
        db_security_group_arn: Some(arns.of("secgrp", &g.name)),
    }
}
