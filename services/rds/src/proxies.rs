//! RDS Proxy on the wire (metadata: squall runs no proxy in front of the SQL endpoints):
//! Create/Describe/Modify/DeleteDBProxy, the default target group and its connection pool,
//! Register/Deregister/DescribeDBProxyTargets. The rules are `squall_control::db_proxies`.

use squall_control::db_proxies::{
    ConnectionPool, DbProxy, ProxyAuth, ProxyChanges, ProxyEndpoint, ProxySpec, ProxyTarget,
};
use squall_control::model::rds::DbInstanceStatus;
use squall_control::Region;
use squall_protocol::ApiError;

use super::generated::*;
use super::{control_error, max_records, paginate, tag_map, timestamp, Arns};

fn auth_of(list: Option<&[UserAuthConfig]>) -> Vec<ProxyAuth> {
    list.unwrap_or_default()
        .iter()
        .map(|a| ProxyAuth {
            description: a.description.clone(),
            user_name: a.user_name.clone(),
            auth_scheme: a.auth_scheme.map(|s| s.as_str().to_string()).unwrap_or_else(|| "SECRETS".into()),
            secret_arn: a.secret_arn.clone(),
            iam_auth: a.iam_auth.map(|m| m.as_str().to_string()).unwrap_or_else(|| "DISABLED".into()),
            client_password_auth_type: a.client_password_auth_type.map(|t| t.as_str().to_string()),
        })
        .collect()
}

fn host(p: &DbProxy, address: &str) -> String {
    if address == "localhost" || address.parse::<std::net::IpAddr>().is_ok() {
        address.to_string()
    } else {
        format!("{}.proxy-{}.{address}", p.name, &p.resource_id[4..16])
    }
}

/// An endpoint of a proxy: one made by CreateDBProxyEndpoint, or (`None`) its default one.
fn render_endpoint(p: &DbProxy, e: Option<&ProxyEndpoint>, arns: &Arns<'_>, address: &str) -> DBProxyEndpoint {
    match e {
        None => DBProxyEndpoint {
            db_proxy_endpoint_name: Some("default".into()),
            db_proxy_name: Some(p.name.clone()),
            status: DBProxyEndpointStatus::from_wire(&p.status),
            vpc_id: Some(p.vpc_id.clone()),
            vpc_security_group_ids: Some(p.security_groups.clone()),
            vpc_subnet_ids: Some(p.subnet_ids.clone()),
            endpoint: Some(host(p, address)),
            created_date: Some(timestamp(p.created_ms)),
            target_role: Some(DBProxyEndpointTargetRole::ReadWrite),
            is_default: Some(true),
            endpoint_network_type: Some(EndpointNetworkType::Ipv4),
            ..Default::default()
        },
        Some(e) => DBProxyEndpoint {
            db_proxy_endpoint_name: Some(e.name.clone()),
            db_proxy_endpoint_arn: Some(arns.of("db-proxy-endpoint", &e.resource_id)),
            db_proxy_name: Some(p.name.clone()),
            status: DBProxyEndpointStatus::from_wire(&e.status),
            vpc_id: Some(e.vpc_id.clone()),
            vpc_security_group_ids: Some(e.security_groups.clone()),
            vpc_subnet_ids: Some(e.subnet_ids.clone()),
            endpoint: Some(if address == "localhost" || address.parse::<std::net::IpAddr>().is_ok() {
                address.to_string()
            } else {
                format!("{}.endpoint.proxy-{}.{address}", e.name, &p.resource_id[4..16])
            }),
            created_date: Some(timestamp(e.created_ms)),
            target_role: DBProxyEndpointTargetRole::from_wire(&e.target_role),
            is_default: Some(false),
            endpoint_network_type: Some(EndpointNetworkType::Ipv4),
        },
    }
}

fn render(p: &DbProxy, arns: &Arns<'_>, address: &str) -> DBProxy {
    DBProxy {
        db_proxy_name: Some(p.name.clone()),
        db_proxy_arn: Some(arns.of("db-proxy", &p.resource_id)),
        status: DBProxyStatus::from_wire(&p.status),
        engine_family: Some(p.engine_family.clone()),
        vpc_id: Some(p.vpc_id.clone()),
        vpc_security_group_ids: Some(p.security_groups.clone()),
        vpc_subnet_ids: Some(p.subnet_ids.clone()),
        default_auth_scheme: Some("NONE".into()),
        auth: Some(
            p.auth
                .iter()
                .map(|a| UserAuthConfigInfo {
                    description: a.description.clone(),
                    user_name: a.user_name.clone(),
                    auth_scheme: AuthScheme::from_wire(&a.auth_scheme),
                    secret_arn: a.secret_arn.clone(),
                    iam_auth: IAMAuthMode::from_wire(&a.iam_auth),
                    client_password_auth_type: a
                        .client_password_auth_type
                        .as_deref()
                        .and_then(ClientPasswordAuthType::from_wire),
                })
                .collect(),
        ),
        role_arn: Some(p.role_arn.clone()),
        endpoint: Some(host(p, address)),
        require_tls: Some(p.require_tls),
        idle_client_timeout: Some(p.idle_client_timeout_s as i32),
        debug_logging: Some(p.debug_logging),
        created_date: Some(timestamp(p.created_ms)),
        updated_date: Some(timestamp(p.updated_ms)),
        ..Default::default()
    }
}

fn render_group(p: &DbProxy, arns: &Arns<'_>) -> DBProxyTargetGroup {
    DBProxyTargetGroup {
        db_proxy_name: Some(p.name.clone()),
        target_group_name: Some("default".into()),
        target_group_arn: Some(arns.of("target-group", &format!("prx-tg-{}", &p.resource_id[4..]))),
        is_default: Some(true),
        status: Some(if p.status == "available" { "available" } else { "creating" }.into()),
        connection_pool_config: Some(ConnectionPoolConfigurationInfo {
            max_connections_percent: Some(p.pool.max_connections_percent as i32),
            max_idle_connections_percent: Some(p.pool.max_idle_connections_percent as i32),
            connection_borrow_timeout: Some(p.pool.borrow_timeout_s as i32),
            session_pinning_filters: Some(p.pool.session_pinning_filters.clone()),
            init_query: p.pool.init_query.clone(),
        }),
        created_date: Some(timestamp(p.created_ms)),
        updated_date: Some(timestamp(p.updated_ms)),
    }
}

/// The targets as DescribeDBProxyTargets shows them: an instance with its endpoint and health, a
/// cluster as a tracked cluster and one target per instance of it.
fn render_targets(region: &Region, p: &DbProxy, arns: &Arns<'_>, now: u64) -> Vec<DBProxyTarget> {
    let view = region.read(now, |state| {
        let mut out = Vec::new();
        for t in &p.targets {
            match t {
                ProxyTarget::Instance(id) => {
                    if let Ok(i) = state.db_instance(id) {
                        out.push((i.clone(), None));
                    }
                }
                ProxyTarget::Cluster(id) => {
                    let writer = state.cluster_writer(id).map(|w| w.resource_id);
                    for i in state.cluster_members(id) {
                        let role = if writer.as_deref() == Some(i.resource_id.as_str()) { "w" } else { "r" };
                        out.push((i, Some((id.clone(), role))));
                    }
                }
            }
        }
        Ok(out)
    });
    let health = |available: bool| TargetHealth {
        state: Some(if available { TargetState::Available } else { TargetState::Unavailable }),
        reason: (!available).then_some(TargetHealthReason::Unreachable),
        description: (!available).then(|| "The target is not available.".to_string()),
    };
    let mut out = Vec::new();
    for t in &p.targets {
        if let ProxyTarget::Cluster(id) = t {
            out.push(DBProxyTarget {
                target_arn: Some(arns.of("cluster", id)),
                tracked_cluster_id: Some(id.clone()),
                r#type: Some(TargetType::TrackedCluster),
                ..Default::default()
            });
        }
    }
    for (i, cluster) in view.unwrap_or_default() {
        let available = i.status == DbInstanceStatus::Available && p.status == "available";
        out.push(DBProxyTarget {
            target_arn: Some(arns.of("db", &i.id)),
            endpoint: Some(i.address.clone()),
            tracked_cluster_id: cluster.as_ref().map(|(c, _)| c.clone()),
            rds_resource_id: Some(i.id.clone()),
            port: Some(i32::from(i.port)),
            r#type: Some(TargetType::RdsInstance),
            role: Some(match cluster.as_ref().map(|(_, r)| *r) {
                Some("r") => TargetRole::ReadOnly,
                _ => TargetRole::ReadWrite,
            }),
            target_health: Some(health(available)),
        });
    }
    out
}

fn group_of(name: Option<&str>) -> &str {
    name.unwrap_or("default")
}

/// Answers one of the DB proxy actions.
pub(crate) fn handle(
    region: &Region,
    arns: &Arns<'_>,
    address: &str,
    request: Request,
    now: u64,
) -> Result<Response, ApiError> {
    Ok(match request {
        Request::CreateDBProxy(r) => {
            let spec = ProxySpec {
                name: r.db_proxy_name.clone(),
                engine_family: r.engine_family.as_str().to_string(),
                role_arn: r.role_arn.clone(),
                subnet_ids: r.vpc_subnet_ids.clone(),
                security_groups: r.vpc_security_group_ids.clone().unwrap_or_default(),
                auth: auth_of(r.auth.as_deref()),
                require_tls: r.require_tls == Some(true),
                idle_client_timeout_s: r.idle_client_timeout.map(|t| t.max(0) as u32),
                debug_logging: r.debug_logging == Some(true),
                tags: tag_map(r.tags.clone().unwrap_or_default())?,
            };
            let p = region.create_db_proxy(spec, now).map_err(control_error)?;
            Response::CreateDBProxy(CreateDBProxyResponse { db_proxy: Some(render(&p, arns, address)) })
        }
        Request::DescribeDBProxies(r) => {
            let limit = max_records(r.max_records)?;
            if let Some(f) = r.filters.as_deref().and_then(|f| f.first()) {
                return Err(ApiError::client("InvalidParameterValue", format!("Unrecognized filter name: {}", f.name)));
            }
            let proxies = region
                .read(now, |s| match &r.db_proxy_name {
                    Some(n) => Ok(vec![s.db_proxy(n)?.clone()]),
                    None => Ok(s.db_proxies()),
                })
                .map_err(control_error)?;
            let (page, marker) = paginate(proxies, |p| p.name.clone(), r.marker.as_deref(), limit);
            Response::DescribeDBProxies(DescribeDBProxiesResponse {
                db_proxies: Some(page.iter().map(|p| render(p, arns, address)).collect()),
                marker,
            })
        }
        Request::ModifyDBProxy(r) => {
            let changes = ProxyChanges {
                new_name: r.new_db_proxy_name.clone(),
                auth: r.auth.as_deref().map(|a| auth_of(Some(a))),
                require_tls: r.require_tls,
                idle_client_timeout_s: r.idle_client_timeout.map(|t| t.max(0) as u32),
                debug_logging: r.debug_logging,
                role_arn: r.role_arn.clone(),
                security_groups: r.security_groups.clone(),
            };
            let p = region.modify_db_proxy(&r.db_proxy_name, changes, now).map_err(control_error)?;
            Response::ModifyDBProxy(ModifyDBProxyResponse { db_proxy: Some(render(&p, arns, address)) })
        }
        Request::CreateDBProxyEndpoint(r) => {
            let tags = tag_map(r.tags.clone().unwrap_or_default())?;
            if r.endpoint_network_type.is_some_and(|t| t.as_str() != "IPV4") {
                return Err(super::not_built(
                    "DB proxy endpoints of network type IPV6 or DUAL are not supported yet by squall.",
                ));
            }
            let (p, e) = region
                .create_proxy_endpoint(
                    &r.db_proxy_name,
                    &r.db_proxy_endpoint_name,
                    &r.vpc_subnet_ids,
                    r.vpc_security_group_ids.as_deref().unwrap_or_default(),
                    r.target_role.map(|t| t.as_str()),
                    tags,
                    now,
                )
                .map_err(control_error)?;
            Response::CreateDBProxyEndpoint(CreateDBProxyEndpointResponse {
                db_proxy_endpoint: Some(render_endpoint(&p, Some(&e), arns, address)),
            })
        }
        Request::DescribeDBProxyEndpoints(r) => {
            let limit = max_records(r.max_records)?;
            if let Some(f) = r.filters.as_deref().unwrap_or_default().first() {
                return Err(ApiError::client("InvalidParameterValue", format!("Unrecognized filter name: {}", f.name)));
            }
            let all = region
                .read(now, |s| {
                    if let Some(name) = &r.db_proxy_endpoint_name {
                        let (p, e) = s.proxy_endpoint(name)?;
                        if r.db_proxy_name.as_ref().is_some_and(|n| !n.eq_ignore_ascii_case(&p.name)) {
                            return Err(squall_control::RdsError::ProxyEndpointNotFound(name.clone()).into());
                        }
                        return Ok(vec![(p, Some(e))]);
                    }
                    let proxies = match &r.db_proxy_name {
                        Some(name) => vec![s.db_proxy(name)?.clone()],
                        None => s.db_proxies(),
                    };
                    Ok(proxies
                        .into_iter()
                        .flat_map(|p| {
                            let mut out = vec![(p.clone(), None)];
                            out.extend(p.endpoints.iter().map(|e| (p.clone(), Some(e.clone()))));
                            out
                        })
                        .collect())
                })
                .map_err(control_error)?;
            let key = |(p, e): &(DbProxy, Option<ProxyEndpoint>)| {
                format!("{}/{}", p.name, e.as_ref().map_or("", |e| e.name.as_str()))
            };
            let (page, marker) = paginate(all, key, r.marker.as_deref(), limit);
            Response::DescribeDBProxyEndpoints(DescribeDBProxyEndpointsResponse {
                db_proxy_endpoints: Some(
                    page.iter().map(|(p, e)| render_endpoint(p, e.as_ref(), arns, address)).collect(),
                ),
                marker,
            })
        }
        Request::ModifyDBProxyEndpoint(r) => {
            let (p, e) = region
                .change_proxy_endpoint(
                    &r.db_proxy_endpoint_name,
                    r.new_db_proxy_endpoint_name.as_deref(),
                    r.vpc_security_group_ids.as_deref(),
                    false,
                    now,
                )
                .map_err(control_error)?;
            Response::ModifyDBProxyEndpoint(ModifyDBProxyEndpointResponse {
                db_proxy_endpoint: Some(render_endpoint(&p, Some(&e), arns, address)),
            })
        }
        Request::DeleteDBProxyEndpoint(r) => {
            let (p, e) = region
                .change_proxy_endpoint(&r.db_proxy_endpoint_name, None, None, true, now)
                .map_err(control_error)?;
            Response::DeleteDBProxyEndpoint(DeleteDBProxyEndpointResponse {
                db_proxy_endpoint: Some(render_endpoint(&p, Some(&e), arns, address)),
            })
        }
        Request::DeleteDBProxy(r) => {
            let p = region.delete_db_proxy(&r.db_proxy_name, now).map_err(control_error)?;
            Response::DeleteDBProxy(DeleteDBProxyResponse { db_proxy: Some(render(&p, arns, address)) })
        }
        Request::DescribeDBProxyTargetGroups(r) => {
            let p = region.read(now, |s| Ok(s.db_proxy(&r.db_proxy_name)?.clone())).map_err(control_error)?;
            if group_of(r.target_group_name.as_deref()) != "default" {
                return Err(control_error(squall_control::ControlError::Rds(
                    squall_control::RdsError::ProxyTargetGroupNotFound(group_of(r.target_group_name.as_deref()).into()),
                )));
            }
            Response::DescribeDBProxyTargetGroups(DescribeDBProxyTargetGroupsResponse {
                target_groups: Some(vec![render_group(&p, arns)]),
                marker: None,
            })
        }
        Request::ModifyDBProxyTargetGroup(r) => {
            if r.new_name.is_some() {
                return Err(super::not_built("Renaming a DB proxy target group is not supported yet by squall."));
            }
            let current =
                region.read(now, |s| Ok(s.db_proxy(&r.db_proxy_name)?.pool.clone())).map_err(control_error)?;
            let c = r.connection_pool_config.clone().unwrap_or_default();
            let pool = ConnectionPool {
                max_connections_percent: c
                    .max_connections_percent
                    .map_or(current.max_connections_percent, |v| v.max(0) as u32),
                max_idle_connections_percent: c
                    .max_idle_connections_percent
                    .map_or(current.max_idle_connections_percent, |v| v.max(0) as u32),
                borrow_timeout_s: c.connection_borrow_timeout.map_or(current.borrow_timeout_s, |v| v.max(0) as u32),
                session_pinning_filters: c.session_pinning_filters.unwrap_or(current.session_pinning_filters),
                init_query: c.init_query.or(current.init_query),
            };
            let p =
                region.modify_proxy_pool(&r.db_proxy_name, &r.target_group_name, pool, now).map_err(control_error)?;
            Response::ModifyDBProxyTargetGroup(ModifyDBProxyTargetGroupResponse {
                db_proxy_target_group: Some(render_group(&p, arns)),
            })
        }
        Request::RegisterDBProxyTargets(r) => {
            let (p, _) = region
                .register_proxy_targets(
                    &r.db_proxy_name,
                    group_of(r.target_group_name.as_deref()),
                    r.db_instance_identifiers.as_deref().unwrap_or_default(),
                    r.db_cluster_identifiers.as_deref().unwrap_or_default(),
                    now,
                )
                .map_err(control_error)?;
            Response::RegisterDBProxyTargets(RegisterDBProxyTargetsResponse {
                db_proxy_targets: Some(render_targets(region, &p, arns, now)),
            })
        }
        Request::DeregisterDBProxyTargets(r) => {
            region
                .deregister_proxy_targets(
                    &r.db_proxy_name,
                    group_of(r.target_group_name.as_deref()),
                    r.db_instance_identifiers.as_deref().unwrap_or_default(),
                    r.db_cluster_identifiers.as_deref().unwrap_or_default(),
                    now,
                )
                .map_err(control_error)?;
            Response::DeregisterDBProxyTargets(DeregisterDBProxyTargetsResponse {})
        }
        Request::DescribeDBProxyTargets(r) => {
            let p = region.read(now, |s| Ok(s.db_proxy(&r.db_proxy_name)?.clone())).map_err(control_error)?;
            if group_of(r.target_group_name.as_deref()) != "default" {
                return Err(control_error(squall_control::ControlError::Rds(
                    squall_control::RdsError::ProxyTargetGroupNotFound(group_of(r.target_group_name.as_deref()).into()),
                )));
            }
            let limit = max_records(r.max_records)?;
            let targets = render_targets(region, &p, arns, now);
            let (page, marker) =
                paginate(targets, |t| t.target_arn.clone().unwrap_or_default(), r.marker.as_deref(), limit);
            Response::DescribeDBProxyTargets(DescribeDBProxyTargetsResponse { targets: Some(page), marker })
        }
        other => {
            return Err(ApiError::new(500, "InternalFailure", format!("{} is not a DB proxy action", other.action())))
        }
    })
}
