//! Security groups of the default VPC: `CreateSecurityGroup`, `DeleteSecurityGroup`,
//! `DescribeSecurityGroups`, `Authorize/RevokeSecurityGroupIngress/Egress`,
//! `DescribeSecurityGroupRules`.

use squall_control::model::security_group::{GroupRef, SecurityGroup as Group, SecurityGroupRule as Rule};
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{region, tags_for, wire_tags};
use crate::generated::{
    AuthorizeSecurityGroupEgressRequest, AuthorizeSecurityGroupEgressResult, AuthorizeSecurityGroupIngressRequest,
    AuthorizeSecurityGroupIngressResult, CreateSecurityGroupRequest, CreateSecurityGroupResult,
    DeleteSecurityGroupRequest, DeleteSecurityGroupResult, DescribeSecurityGroupRulesRequest,
    DescribeSecurityGroupRulesResult, DescribeSecurityGroupsRequest, DescribeSecurityGroupsResult, IpPermission,
    IpRange, Ipv6Range, PrefixListId, ReferencedSecurityGroup, ResourceType, RevokeSecurityGroupEgressRequest,
    RevokeSecurityGroupEgressResult, RevokeSecurityGroupIngressRequest, RevokeSecurityGroupIngressResult,
    SecurityGroup, SecurityGroupRule, UserIdGroupPair,
};
use crate::{check_dry_run, control_error, filter};

fn normalize_protocol(p: &str) -> Result<String, ApiError> {
    match p.to_ascii_lowercase().as_str() {
        "-1" | "all" => Ok("-1".into()),
        "6" | "tcp" => Ok("tcp".into()),
        "17" | "udp" => Ok("udp".into()),
        "1" | "icmp" => Ok("icmp".into()),
        other if other.parse::<u8>().is_ok() => Ok(other.to_string()),
        other => Err(ApiError::client(
            "InvalidParameterValue",
            format!("Invalid value '{other}' for IP protocol. Unknown protocol."),
        )),
    }
}

/// The rules an `IpPermission` grants (one per CIDR and per referenced group).
fn rules_of(p: &IpPermission, egress: bool) -> Result<Vec<Rule>, ApiError> {
    let protocol = normalize_protocol(p.ip_protocol.as_deref().unwrap_or("-1"))?;
    let (from, to) = if protocol == "-1" { (None, None) } else { (p.from_port, p.to_port) };
    if matches!(protocol.as_str(), "tcp" | "udp") && (from.is_none() || to.is_none()) {
        return Err(ApiError::missing_parameter("FromPort and ToPort"));
    }
    let base = |cidr: Option<String>, group: Option<String>, description: Option<String>| Rule {
        id: String::new(),
        egress,
        protocol: protocol.clone(),
        from_port: from,
        to_port: to,
        cidr_ipv4: cidr,
        group,
        description,
        cidr_ipv6: None,
        prefix_list: None,
    };
    let mut out = Vec::new();
    for r in p.ip_ranges.iter().flatten() {
        out.push(base(r.cidr_ip.clone(), None, r.description.clone()));
    }
    for g in p.user_id_group_pairs.iter().flatten() {
        out.push(base(None, g.group_id.clone(), g.description.clone()));
    }
    for r in p.ipv6_ranges.iter().flatten() {
        let cidr = r.cidr_ipv6.clone().ok_or_else(|| ApiError::missing_parameter("Ipv6Ranges.N.CidrIpv6"))?;
        let valid = cidr
            .split_once('/')
            .is_some_and(|(a, n)| a.parse::<std::net::Ipv6Addr>().is_ok() && n.parse::<u8>().is_ok_and(|n| n <= 128));
        if !valid {
            return Err(ApiError::invalid_parameter_value(format!("CIDR block {cidr} is malformed")));
        }
        out.push(Rule { cidr_ipv6: Some(cidr), ..base(None, None, r.description.clone()) });
    }
    for l in p.prefix_list_ids.iter().flatten() {
        let id = l.prefix_list_id.clone().ok_or_else(|| ApiError::missing_parameter("PrefixListIds.N.PrefixListId"))?;
        out.push(Rule { prefix_list: Some(id), ..base(None, None, l.description.clone()) });
    }
    Ok(out)
}

/// Rules from either `IpPermissions` or the legacy flat parameters.
fn requested_rules(
    permissions: Option<&[IpPermission]>,
    protocol: Option<&str>,
    from: Option<i32>,
    to: Option<i32>,
    cidr: Option<&str>,
    egress: bool,
) -> Result<Vec<Rule>, ApiError> {
    let mut rules = Vec::new();
    for p in permissions.unwrap_or_default() {
        rules.extend(rules_of(p, egress)?);
    }
    if let Some(cidr) = cidr {
        let p = IpPermission {
            ip_protocol: Some(protocol.unwrap_or("-1").to_string()),
            from_port: from,
            to_port: to,
            ip_ranges: Some(vec![IpRange { cidr_ip: Some(cidr.to_string()), description: None }]),
            ..Default::default()
        };
        rules.extend(rules_of(&p, egress)?);
    }
    Ok(rules)
}

/// Rules grouped back into `IpPermission`s by protocol and port range, as EC2 shows them.
fn permissions(rules: &[Rule], egress: bool, account: &str) -> Vec<IpPermission> {
    let mut out: Vec<IpPermission> = Vec::new();
    for r in rules.iter().filter(|r| r.egress == egress) {
        let index = out.iter().position(|p| {
            p.ip_protocol.as_deref() == Some(r.protocol.as_str())
                && p.from_port == r.from_port
                && p.to_port == r.to_port
        });
        let p = match index {
            Some(i) => &mut out[i],
            None => {
                out.push(IpPermission {
                    ip_protocol: Some(r.protocol.clone()),
                    from_port: r.from_port,
                    to_port: r.to_port,
                    ip_ranges: Some(Vec::new()),
                    ipv6_ranges: Some(Vec::new()),
                    prefix_list_ids: Some(Vec::new()),
                    user_id_group_pairs: Some(Vec::new()),
                });
                out.last_mut().expect("just pushed")
            }
        };
        if let Some(cidr) = &r.cidr_ipv4 {
            p.ip_ranges
                .get_or_insert_with(Vec::new)
                .push(IpRange { cidr_ip: Some(cidr.clone()), description: r.description.clone() });
        }
        if let Some(cidr) = &r.cidr_ipv6 {
            p.ipv6_ranges
                .get_or_insert_with(Vec::new)
                .push(Ipv6Range { cidr_ipv6: Some(cidr.clone()), description: r.description.clone() });
        }
        if let Some(list) = &r.prefix_list {
            p.prefix_list_ids
                .get_or_insert_with(Vec::new)
                .push(PrefixListId { prefix_list_id: Some(list.clone()), description: r.description.clone() });
        }
        if let Some(group) = &r.group {
            p.user_id_group_pairs.get_or_insert_with(Vec::new).push(UserIdGroupPair {
                group_id: Some(group.clone()),
                user_id: Some(account.to_string()),
                description: r.description.clone(),
                ..Default::default()
            });
        }
    }
    out
}

fn wire_group(g: &Group, ctx: &RequestContext) -> SecurityGroup {
    SecurityGroup {
        group_id: Some(g.id.clone()),
        group_name: Some(g.name.clone()),
        description: Some(g.description.clone()),
        vpc_id: Some(g.vpc_id.clone()),
        owner_id: Some(ctx.account_id.clone()),
        security_group_arn: Some(format!("arn:aws:ec2:{}:{}:security-group/{}", ctx.region, ctx.account_id, g.id)),
        ip_permissions: Some(permissions(&g.rules, false, &ctx.account_id)),
        ip_permissions_egress: Some(permissions(&g.rules, true, &ctx.account_id)),
        tags: (!g.tags.is_empty()).then(|| wire_tags(&g.tags)),
    }
}

fn wire_rule(group: &str, r: &Rule, ctx: &RequestContext) -> SecurityGroupRule {
    SecurityGroupRule {
        security_group_rule_id: Some(r.id.clone()),
        group_id: Some(group.to_string()),
        group_owner_id: Some(ctx.account_id.clone()),
        is_egress: Some(r.egress),
        ip_protocol: Some(r.protocol.clone()),
        from_port: Some(r.from_port.unwrap_or(-1)),
        to_port: Some(r.to_port.unwrap_or(-1)),
        cidr_ipv4: r.cidr_ipv4.clone(),
        cidr_ipv6: r.cidr_ipv6.clone(),
        prefix_list_id: r.prefix_list.clone(),
        referenced_group_info: r.group.as_ref().map(|g| ReferencedSecurityGroup {
            group_id: Some(g.clone()),
            user_id: Some(ctx.account_id.clone()),
            ..Default::default()
        }),
        description: r.description.clone(),
        security_group_rule_arn: Some(format!(
            "arn:aws:ec2:{}:{}:security-group-rule/{}",
            ctx.region, ctx.account_id, r.id
        )),
        tags: Some(Vec::new()),
    }
}

pub(crate) fn create_security_group(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateSecurityGroupRequest,
) -> Result<CreateSecurityGroupResult, ApiError> {
    let region = region(control, ctx)?;
    if r.group_name.starts_with("sg-") {
        return Err(ApiError::invalid_parameter_value("Group names may not be in the format sg-*"));
    }
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::SecurityGroup)?;
    let now = control.now_ms();
    let g = region
        .create_security_group(r.vpc_id.as_deref(), &r.group_name, &r.description, tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(CreateSecurityGroupResult {
        group_id: Some(g.id.clone()),
        tags: (!g.tags.is_empty()).then(|| wire_tags(&g.tags)),
        security_group_arn: Some(format!("arn:aws:ec2:{}:{}:security-group/{}", ctx.region, ctx.account_id, g.id)),
    })
}

pub(crate) fn delete_security_group(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteSecurityGroupRequest,
) -> Result<DeleteSecurityGroupResult, ApiError> {
    let group = GroupRef { id: r.group_id.clone(), name: r.group_name.clone() };
    let id = region(control, ctx)?
        .delete_security_group(&group, control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(DeleteSecurityGroupResult { r#return: Some(true), group_id: Some(id) })
}

pub(crate) fn describe_security_groups(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSecurityGroupsRequest,
) -> Result<DescribeSecurityGroupsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, &["description", "group-id", "group-name", "owner-id", "tag-key", "tag:*", "vpc-id"])?;
    let region = region(control, ctx)?;
    let vpc = region.default_network().vpc_id;
    let groups = region.read(control.now_ms(), |state| Ok(state.all_security_groups())).map_err(control_error)?;
    let ids = r.group_ids.unwrap_or_default();
    let names = r.group_names.unwrap_or_default();
    if let Some(missing) = ids.iter().find(|id| !groups.iter().any(|g| g.id == **id)) {
        return Err(ApiError::client(
            "InvalidGroup.NotFound",
            format!("The security group '{missing}' does not exist"),
        ));
    }
    if let Some(missing) = names.iter().find(|n| !groups.iter().any(|g| g.name == **n && g.vpc_id == vpc)) {
        return Err(ApiError::client(
            "InvalidGroup.NotFound",
            format!("The security group '{missing}' does not exist in default VPC"),
        ));
    }
    let selected = groups
        .iter()
        .filter(|g| {
            (ids.is_empty() || ids.contains(&g.id))
                && (names.is_empty() || (names.contains(&g.name) && g.vpc_id == vpc))
        })
        .filter(|g| {
            filter::matches(&filters, |name| match name {
                "description" => vec![g.description.clone()],
                "group-id" => vec![g.id.clone()],
                "group-name" => vec![g.name.clone()],
                "owner-id" => vec![ctx.account_id.clone()],
                "vpc-id" => vec![g.vpc_id.clone()],
                other => filter::tag_values(&g.tags, other),
            })
        })
        .map(|g| wire_group(g, ctx))
        .collect();
    Ok(DescribeSecurityGroupsResult { security_groups: Some(selected), next_token: None })
}

fn authorize(
    control: &ControlPlane,
    ctx: &RequestContext,
    group: Option<&str>,
    name: Option<&str>,
    rules: Vec<Rule>,
    dry_run: Option<bool>,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    if rules.is_empty() {
        return Err(ApiError::missing_parameter("IpPermissions"));
    }
    for list in rules.iter().filter_map(|r| r.prefix_list.as_deref()) {
        crate::prefix_lists::check_exists(&ctx.region, list)?;
    }
    let group = GroupRef { id: group.map(str::to_string), name: name.map(str::to_string) };
    let (id, added) = region(control, ctx)?
        .authorize_security_group(&group, rules, control.now_ms(), dry_run == Some(true))
        .map_err(control_error)?;
    Ok(added.iter().map(|r| wire_rule(&id, r, ctx)).collect())
}

pub(crate) fn authorize_security_group_ingress(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AuthorizeSecurityGroupIngressRequest,
) -> Result<AuthorizeSecurityGroupIngressResult, ApiError> {
    let rules = requested_rules(
        r.ip_permissions.as_deref(),
        r.ip_protocol.as_deref(),
        r.from_port,
        r.to_port,
        r.cidr_ip.as_deref(),
        false,
    )?;
    let added = authorize(control, ctx, r.group_id.as_deref(), r.group_name.as_deref(), rules, r.dry_run)?;
    Ok(AuthorizeSecurityGroupIngressResult { r#return: Some(true), security_group_rules: Some(added) })
}

pub(crate) fn authorize_security_group_egress(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: AuthorizeSecurityGroupEgressRequest,
) -> Result<AuthorizeSecurityGroupEgressResult, ApiError> {
    let rules = requested_rules(
        r.ip_permissions.as_deref(),
        r.ip_protocol.as_deref(),
        r.from_port,
        r.to_port,
        r.cidr_ip.as_deref(),
        true,
    )?;
    let added = authorize(control, ctx, Some(&r.group_id), None, rules, r.dry_run)?;
    Ok(AuthorizeSecurityGroupEgressResult { r#return: Some(true), security_group_rules: Some(added) })
}

#[allow(clippy::too_many_arguments)]
fn revoke(
    control: &ControlPlane,
    ctx: &RequestContext,
    group: Option<&str>,
    name: Option<&str>,
    rules: Vec<Rule>,
    ids: Vec<String>,
    egress: bool,
    dry_run: Option<bool>,
) -> Result<(), ApiError> {
    let group = GroupRef { id: group.map(str::to_string), name: name.map(str::to_string) };
    region(control, ctx)?
        .revoke_security_group(&group, &rules, &ids, egress, control.now_ms(), dry_run == Some(true))
        .map_err(control_error)
}

pub(crate) fn revoke_security_group_ingress(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RevokeSecurityGroupIngressRequest,
) -> Result<RevokeSecurityGroupIngressResult, ApiError> {
    let rules = requested_rules(
        r.ip_permissions.as_deref(),
        r.ip_protocol.as_deref(),
        r.from_port,
        r.to_port,
        r.cidr_ip.as_deref(),
        false,
    )?;
    revoke(
        control,
        ctx,
        r.group_id.as_deref(),
        r.group_name.as_deref(),
        rules,
        r.security_group_rule_ids.unwrap_or_default(),
        false,
        r.dry_run,
    )?;
    Ok(RevokeSecurityGroupIngressResult { r#return: Some(true), ..Default::default() })
}

pub(crate) fn revoke_security_group_egress(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: RevokeSecurityGroupEgressRequest,
) -> Result<RevokeSecurityGroupEgressResult, ApiError> {
    let rules = requested_rules(
        r.ip_permissions.as_deref(),
        r.ip_protocol.as_deref(),
        r.from_port,
        r.to_port,
        r.cidr_ip.as_deref(),
        true,
    )?;
    revoke(
        control,
        ctx,
        Some(&r.group_id),
        None,
        rules,
        r.security_group_rule_ids.unwrap_or_default(),
        true,
        r.dry_run,
    )?;
    Ok(RevokeSecurityGroupEgressResult { r#return: Some(true), ..Default::default() })
}

pub(crate) fn describe_security_group_rules(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeSecurityGroupRulesRequest,
) -> Result<DescribeSecurityGroupRulesResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, &["group-id", "security-group-rule-id", "tag-key", "tag:*"])?;
    let region = region(control, ctx)?;
    let groups = region.read(control.now_ms(), |state| Ok(state.all_security_groups())).map_err(control_error)?;
    let ids = r.security_group_rule_ids.unwrap_or_default();
    let rules: Vec<SecurityGroupRule> = groups
        .iter()
        .flat_map(|g| g.rules.iter().map(move |rule| (g, rule)))
        .filter(|(_, rule)| ids.is_empty() || ids.contains(&rule.id))
        .filter(|(g, rule)| {
            filter::matches(&filters, |name| match name {
                "group-id" => vec![g.id.clone()],
                "security-group-rule-id" => vec![rule.id.clone()],
                _ => vec![],
            })
        })
        .map(|(g, rule)| wire_rule(&g.id, rule, ctx))
        .collect();
    if let Some(missing) =
        ids.iter().find(|id| !rules.iter().any(|r| r.security_group_rule_id.as_deref() == Some(id.as_str())))
    {
        return Err(ApiError::client(
            "InvalidSecurityGroupRuleId.NotFound",
            format!("The security group rule ID '{missing}' does not exist"),
        ));
    }
    Ok(DescribeSecurityGroupRulesResult { security_group_rules: Some(rules), next_token: None })
}
