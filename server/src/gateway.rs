//! Routes one HTTP request to the service that owns it, with no HTTP library types: the
//! hyper layer hands in the parts, this returns the finished answer.
//!
//! Route order: squall's own paths (`/_squall/…`, `/_localstack/…`, `/moto-api/…`), then the
//! SigV4 credential scope's service, then the query `Version` (EC2 and RDS are both `POST /`
//! forms), then the path of the REST-JSON services.

use std::panic::{catch_unwind, AssertUnwindSafe};

use squall_control::pool::Rejection;
use squall_control::ControlPlane;
use squall_fault_api::metrics::{self, LabelSet, Scrape};
use squall_fault_api::{ServiceHealth, ServiceState};
use squall_protocol::rest::RestRequest;
use squall_protocol::{ApiError, QueryParams, RequestContext, WireResponse};

use crate::sigv4::{self, CredentialScope};

/// The services squall routes to, and whether each is built yet.
pub const SERVICES: &[ServiceHealth] = &[
    ServiceHealth { name: "ec2", state: ServiceState::Running },
    ServiceHealth { name: "sts", state: ServiceState::Running },
    ServiceHealth { name: "ebs", state: ServiceState::Running },
    ServiceHealth { name: "rds", state: ServiceState::Running },
    ServiceHealth { name: "fis", state: ServiceState::Running },
    ServiceHealth { name: "secretsmanager", state: ServiceState::Running },
];

/// Path prefixes of FIS's restJson1 operations (a request without a credential scope is FIS's
/// by its path; EBS direct's is `/snapshots`).
const FIS_PATHS: &[&str] = &["/experiment", "/actions", "/targetResourceTypes", "/safetyLevers", "/tags"];

/// The query-protocol API versions that identify a service without a credential scope.
const STS_VERSION: &str = "2011-06-15";
const RDS_VERSION: &str = "2014-10-31";

/// One request, as the gateway sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    /// Every header, names in lower case (REST services bind members to headers).
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// The answer and what the access log and metrics want to know about it.
pub struct Outcome {
    pub response: WireResponse,
    pub service: &'static str,
    pub action: Option<String>,
    /// Latency an `api-latency` fault adds before the answer goes out.
    pub delay_ms: u64,
    /// The zone the request names, if any (a label of the request metrics).
    pub zone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Ec2,
    Sts,
    Rds,
    Ebs,
    Fis,
    SecretsManager,
    Unknown,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Sts => "sts",
            Service::Rds => "rds",
            Service::Ebs => "ebs",
            Service::Fis => "fis",
            Service::SecretsManager => "secretsmanager",
            Service::Unknown => "unknown",
        }
    }
}

/// An AWS API request, classified and owned: what the worker pool carries to a worker.
pub struct ApiCall {
    service: Service,
    region: String,
    access_key_id: Option<String>,
    params: QueryParams,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The service its credential scope names (`s3`, `sqs`, …), for answering the ones squall
    /// does not serve in their own protocol.
    scope_service: Option<String>,
    /// The zone whose storage the request needs (named, or the zone of the volume or subnet it
    /// names), if any: the worker pool's bulkheads count requests by it.
    pub zone: Option<String>,
    /// How many form parameters the request carried (0 for restJson requests).
    parameters: usize,
}

impl ApiCall {
    /// The region the request is for (from its credential scope, else the default region).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The answer to a request the worker pool turned away, in the service's own error shape:
    /// throttled when the pool is overloaded, the zone unavailable while its storage waiters hold
    /// their share of the workers, an internal error when it waited past its deadline.
    pub fn rejected(&self, rejection: &Rejection, request_id: &str) -> Outcome {
        let e = match (rejection, self.service) {
            (Rejection::Overloaded, Service::Ec2 | Service::Unknown) => {
                ApiError::new(503, "RequestLimitExceeded", "Request limit exceeded.")
            }
            (Rejection::Overloaded, Service::Ebs) => {
                ApiError::new(400, "RequestThrottledException", "The request was throttled.")
            }
            (Rejection::Overloaded, _) => ApiError::new(400, "Throttling", "Rate exceeded"),
            (Rejection::ZoneBusy(zone), _) => ApiError::new(
                503,
                "Unavailable",
                format!(
                    "The service is unavailable in {zone} at this time: too many requests are waiting for its storage. \
                     Please try again later or use another Availability Zone."
                ),
            ),
            (Rejection::Expired { waited }, _) => ApiError::internal(format!(
                "An internal error has occurred (the request waited {} ms for the control plane)",
                waited.as_millis()
            )),
        };
        Outcome {
            response: render_error(self.service, &e, request_id),
            service: self.service.name(),
            action: self.params.action().map(str::to_string),
            delay_ms: 0,
            zone: self.zone.clone(),
        }
    }
}

pub struct Gateway<'a> {
    pub control: &'a ControlPlane,
    pub nbd: &'a squall_nbd::Nbd,
    pub sql: &'a squall_sql::Endpoints,
    pub version: &'a str,
    /// `SQUALL_FAULT_TOKEN`, when set.
    pub token: Option<&'a str>,
    pub metrics: &'a crate::metrics::Metrics,
    /// The account of requests whose access key names none (`--account-id`).
    pub account_id: &'a str,
    /// Init hooks (`/_localstack/init`).
    pub init: &'a crate::init::InitHooks,
}

/// The data paths (NBD, the SQL endpoints) as the fault API sees them.
struct NbdSettings<'a>(&'a squall_nbd::Nbd, &'a squall_sql::Endpoints);

impl squall_fault_api::DataPath for NbdSettings<'_> {
    fn sql_endpoints(&self) -> serde_json::Value {
        self.1
            .status()
            .into_iter()
            .map(|e| {
                serde_json::json!({
                    "instance": e.instance, "port": e.port, "commits": e.commits, "heldMs": e.held_ms,
                    "replicaOf": e.replica_of, "replicaLagMs": e.replica_lag_ms,
                })
            })
            .collect::<Vec<_>>()
            .into()
    }
    fn io_timeout(&self) -> Option<std::time::Duration> {
        self.0.io_timeout()
    }
    fn set_io_timeout(&self, timeout: Option<std::time::Duration>) {
        self.0.set_io_timeout(timeout);
    }
    fn exports(&self) -> serde_json::Value {
        nbd_exports(self.0)
    }
}

fn nbd_exports(nbd: &squall_nbd::Nbd) -> serde_json::Value {
    nbd.stats()
        .into_iter()
        .map(|(volume, s)| {
            (volume, serde_json::json!({ "sessions": s.sessions, "held": s.held, "timedOut": s.timed_out }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The SQL endpoints' figures of `/metrics`: commits, time held on stuck storage, replica lag.
fn sql_metrics(sql: &squall_sql::Endpoints, scrape: &mut Scrape) {
    let commits = scrape.counter("squall_sql_commits", "Transactions committed through a DB instance's SQL endpoint");
    let held: metrics::FloatCounterFamily =
        scrape.family("squall_sql_held_seconds", "Time a DB instance's statements waited on stuck storage");
    let lag: metrics::FloatGaugeFamily = scrape
        .family("squall_rds_replica_lag_seconds", "How far a read replica is behind its source (RDS's ReplicaLag)");
    for e in sql.status() {
        let l: LabelSet = vec![("instance", e.instance.clone())];
        commits.get_or_create(&l).inc_by(e.commits);
        held.get_or_create(&l).inc_by(e.held_ms as f64 / 1000.0);
        if let (Some(source), Some(ms)) = (&e.replica_of, e.replica_lag_ms) {
            let l = vec![("instance", e.instance.clone()), ("source", source.clone())];
            lag.get_or_create(&l).set(ms as f64 / 1000.0);
        }
    }
}

/// The NBD figures of `/metrics`: sessions, held requests (the queue of a stuck volume) and time-outs.
fn nbd_metrics(nbd: &squall_nbd::Nbd, scrape: &mut Scrape) {
    let sessions = scrape.gauge("squall_nbd_sessions", "Open NBD connections per exported volume");
    let held = scrape.gauge("squall_nbd_held_requests", "NBD requests held because the volume is stuck or paused");
    let timed_out = scrape.counter("squall_nbd_timed_out", "NBD requests failed with EIO after the I/O timeout");
    for (volume, s) in nbd.stats() {
        let l: LabelSet = vec![("volume", volume)];
        metrics::set(&sessions, l.clone(), s.sessions);
        metrics::set(&held, l.clone(), s.held);
        metrics::total(&timed_out, l, s.timed_out);
    }
}

fn squall(response: WireResponse) -> Outcome {
    Outcome { response, service: "squall", action: None, delay_ms: 0, zone: None }
}

impl Gateway<'_> {
    /// `GET /_squall/nbd`: the data path's sessions and held requests per exported volume.
    fn nbd_status(&self) -> WireResponse {
        let exports = nbd_exports(self.nbd);
        let timeout = self.nbd.io_timeout().map(|t| t.as_millis() as u64);
        let body = serde_json::json!({ "ioTimeoutMs": timeout, "exports": exports });
        WireResponse::json(200, serde_json::to_vec(&body).unwrap_or_default())
    }

    /// `GET /_localstack/init` (every stage) and `/_localstack/init/<stage>`, LocalStack's shape.
    fn init_status(&self, method: &str, rest: &str) -> WireResponse {
        let json = |status: u16, v: serde_json::Value| WireResponse::json(status, v.to_string().into_bytes());
        if method != "GET" && method != "HEAD" {
            return json(405, serde_json::json!({ "error": format!("{method} is not allowed here; use GET") }));
        }
        match rest.trim_matches('/') {
            "" => json(200, self.init.status()),
            stage => match crate::init::Stage::parse(stage) {
                Some(stage) => json(200, self.init.stage_status(stage)),
                None => json(
                    404,
                    serde_json::json!({ "error": format!("no init stage {stage}: boot, start, ready or shutdown") }),
                ),
            },
        }
    }

    /// Answers one request in the calling thread: squall's own endpoints at once, AWS API calls
    /// through `execute` (the HTTP layer runs those on the region's worker pool instead).
    #[cfg(test)]
    pub fn route(&self, request: &Incoming<'_>, request_id: String) -> Outcome {
        if let Some(outcome) = self.own_paths(request) {
            return outcome;
        }
        let call = self.classify(request);
        self.execute(&call, request_id)
    }

    /// squall's own endpoints (`/_squall/…`, `/metrics`, `/_localstack/…`, `/moto-api/…`),
    /// answered at once; `None` for an AWS API request.
    pub fn own_paths(&self, request: &Incoming<'_>) -> Option<Outcome> {
        if request.method == "GET" && request.path == "/_squall/nbd" {
            return Some(squall(self.nbd_status()));
        }
        if let Some(rest) =
            request.path.strip_prefix("/_localstack/init").or_else(|| request.path.strip_prefix("/_squall/init"))
        {
            return Some(squall(self.init_status(request.method, rest)));
        }
        if request.method == "GET" && request.path == "/metrics" {
            let mut scrape = Scrape::default();
            metrics::storage_metrics(self.control, &mut scrape);
            nbd_metrics(self.nbd, &mut scrape);
            sql_metrics(self.sql, &mut scrape);
            let mut text = String::new();
            scrape.write_to(&mut text);
            self.metrics.write_to(&mut text);
            let mut response = WireResponse::json(200, text.into_bytes());
            response.content_type = metrics::CONTENT_TYPE;
            return Some(squall(response));
        }
        let surface = squall_fault_api::Surface {
            control: self.control,
            data_path: &NbdSettings(self.nbd, self.sql),
            version: self.version,
            services: SERVICES,
            token: self.token,
            api_window: &self.metrics.window,
        };
        let fault_request = squall_fault_api::Request {
            method: request.method,
            path: request.path,
            query: request.query,
            body: request.body,
            authorization: request.authorization,
        };
        squall_fault_api::handle(&surface, &fault_request).map(squall)
    }

    /// Which service and region an AWS API request is for, and the zone whose storage it needs,
    /// as an owned call a worker can run.
    pub fn classify(&self, request: &Incoming<'_>) -> ApiCall {
        let scope = request.authorization.and_then(sigv4::scope_from_authorization).or_else(|| {
            // Presigned requests carry the scope in the query string.
            QueryParams::parse(request.query.as_bytes(), b"").get("X-Amz-Credential").and_then(sigv4::parse_credential)
        });
        let rest_json = request.path.starts_with("/snapshots") || FIS_PATHS.iter().any(|p| request.path.starts_with(p));
        let target =
            request.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.as_str());
        let is_form = (request.method == "POST" || request.method == "GET") && !rest_json && target.is_none();
        let parameters = if is_form {
            squall_protocol::parameter_count(request.query.as_bytes()) + squall_protocol::parameter_count(request.body)
        } else {
            0
        };
        // Past the cap nothing is decoded; `execute` refuses the call.
        let params = if is_form && parameters <= squall_protocol::MAX_PARAMETERS {
            QueryParams::parse(request.query.as_bytes(), request.body)
        } else {
            QueryParams::default()
        };
        let service = match scope.as_ref().map(|s| s.service.as_str()) {
            Some("ec2") => Service::Ec2,
            Some("sts") => Service::Sts,
            Some("rds") => Service::Rds,
            Some("ebs") => Service::Ebs,
            Some("fis") => Service::Fis,
            Some("secretsmanager") => Service::SecretsManager,
            Some(_) => Service::Unknown,
            None if target.is_some_and(|t| t.starts_with(squall_secretsmanager::generated::TARGET_PREFIX)) => {
                Service::SecretsManager
            }
            None => by_version_or_path(&params, request.path),
        };
        let scope_service = scope.as_ref().map(|s| s.service.clone());
        let CredentialScope { access_key_id, region, .. } = scope.unwrap_or(CredentialScope {
            access_key_id: String::new(),
            region: self.control.config().default_region.to_string(),
            service: String::new(),
        });
        let zone = if service == Service::Ec2 { self.zone_of(&region, &params) } else { None };
        ApiCall {
            service,
            region,
            access_key_id: (!access_key_id.is_empty()).then_some(access_key_id),
            params,
            method: request.method.to_string(),
            path: request.path.to_string(),
            query: request.query.to_string(),
            headers: request.headers.clone(),
            body: request.body.to_vec(),
            scope_service,
            zone,
            parameters,
        }
    }

    /// The zone an EC2 request names, or the zone of the volume or subnet it names.
    fn zone_of(&self, region: &str, params: &QueryParams) -> Option<String> {
        let name = squall_control::RegionName::parse(region).ok()?;
        if let Some(z) = params.get("AvailabilityZone").or_else(|| params.get("Placement.AvailabilityZone")) {
            // Only a zone the region has: a made-up name gets no bulkhead and no metrics label.
            return self.control.region(&name).zone_by_name(z).ok().map(|zone| zone.name.to_string());
        }
        let (volume, subnet) = (params.get("VolumeId"), params.get("SubnetId"));
        if volume.is_none() && subnet.is_none() {
            return None;
        }
        let region = self.control.region(&name);
        let volume = volume.and_then(|v| squall_control::VolumeId::parse(v).ok());
        region
            .read(self.control.now_ms(), |state| {
                Ok(match (&volume, subnet) {
                    (Some(v), _) => state.volume(v).ok().map(|v| v.zone.to_string()),
                    (None, Some(s)) => state.subnet(s).ok().map(|s| s.zone.to_string()),
                    (None, None) => None,
                })
            })
            .ok()
            .flatten()
    }

    /// Runs an AWS API call: fault rules of the API edge first, then the service.
    pub fn execute(&self, call: &ApiCall, request_id: String) -> Outcome {
        let service = call.service;
        let ctx = RequestContext::with_default_account(
            request_id,
            call.region.clone(),
            call.access_key_id.clone(),
            self.account_id,
        );
        let params = &call.params;
        let action = match service {
            // awsJson names the operation in X-Amz-Target.
            Service::SecretsManager => call
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
                .and_then(|(_, t)| squall_secretsmanager::generated::operation_of_target(t))
                .map(str::to_string),
            _ => params.action().map(str::to_string),
        };
        if call.parameters > squall_protocol::MAX_PARAMETERS {
            let e = ApiError::new(
                400,
                "InvalidParameterValue",
                format!(
                    "The request has {} parameters; at most {} are accepted in one request.",
                    call.parameters,
                    squall_protocol::MAX_PARAMETERS
                ),
            );
            let response = render_error(service, &e, &ctx.request_id);
            return Outcome { response, service: service.name(), action: None, delay_ms: 0, zone: None };
        }
        if matches!(service, Service::Ec2 | Service::Sts | Service::Rds) {
            let malformed =
                squall_protocol::malformed(call.query.as_bytes()).or_else(|| squall_protocol::malformed(&call.body));
            if let Some(why) = malformed {
                // AWS's common error for a query string it cannot read (with its status, 404).
                let e = ApiError::new(
                    404,
                    "MalformedQueryString",
                    format!("The query string contains a syntax error: {why}."),
                );
                let response = render_error(service, &e, &ctx.request_id);
                return Outcome { response, service: service.name(), action, delay_ms: 0, zone: None };
            }
        }
        if !self.control.serves_region(&ctx.region) {
            // As AWS answers a signature scoped to a region it does not have; nothing is created.
            let message = format!("Credential should be scoped to a valid region, not '{}'.", ctx.region);
            let e = match service {
                Service::Ec2 | Service::Unknown => ApiError::new(401, "AuthFailure", message),
                Service::Sts | Service::Rds => ApiError::new(403, "SignatureDoesNotMatch", message),
                Service::Ebs | Service::Fis => ApiError::new(403, "InvalidSignatureException", message),
                Service::SecretsManager => ApiError::new(400, "UnrecognizedClientException", message),
            };
            let response = render_error(service, &e, &ctx.request_id);
            return Outcome { response, service: service.name(), action, delay_ms: 0, zone: None };
        }
        // Fault rules of the API edge (FIS's inject-api-* actions).
        let zone = call.zone.as_deref();
        let effect = self.control.api_effect(&ctx.region, service.name(), action.as_deref(), zone);
        if let Some(code) = &effect.error {
            let e = injected_error(service, code, effect.fault_id.as_deref().unwrap_or("-"));
            let response = render_error(service, &e, &ctx.request_id);
            let zone = zone.map(str::to_string);
            return Outcome { response, service: service.name(), action, delay_ms: effect.latency_ms, zone };
        }
        let response =
            catch_unwind(AssertUnwindSafe(|| self.dispatch(service, &ctx, params, call))).unwrap_or_else(|_| {
                // A panic is a squall bug; the client still gets the protocol's internal-error shape.
                tracing::error!(request_id = %ctx.request_id, service = service.name(), "handler panicked");
                render_error(service, &ApiError::internal("squall hit an internal error; see its log"), &ctx.request_id)
            });
        let zone = zone.map(str::to_string);
        Outcome { response, service: service.name(), action, delay_ms: effect.latency_ms, zone }
    }

    fn dispatch(&self, service: Service, ctx: &RequestContext, params: &QueryParams, call: &ApiCall) -> WireResponse {
        match service {
            Service::Ec2 => squall_ec2::handle(self.control, ctx, params),
            Service::Sts => squall_sts::handle(ctx, params),
            Service::Ebs | Service::Fis => {
                let rest = RestRequest {
                    path_params: Default::default(),
                    query: QueryParams::parse(call.query.as_bytes(), b""),
                    headers: call.headers.clone(),
                    body: call.body.clone(),
                };
                if service == Service::Ebs {
                    squall_ebs::handle(self.control, ctx, &call.method, &call.path, rest)
                } else {
                    squall_fis::handle(self.control, ctx, &call.method, &call.path, rest)
                }
            }
            Service::Rds => squall_rds::handle(self.control, ctx, params),
            Service::SecretsManager => {
                let req = RestRequest {
                    path_params: Default::default(),
                    query: QueryParams::default(),
                    headers: call.headers.clone(),
                    body: call.body.clone(),
                };
                squall_secretsmanager::handle(self.control, ctx, req)
            }
            Service::Unknown => unserved_service(call, &ctx.request_id),
        }
    }
}

/// Whether `action` is one the named service serves: metrics label those by name and every other
/// (a client may send any string as `Action`) as `unknown`, so the label set stays closed.
pub fn served_action(service: &str, action: &str) -> bool {
    let served: &[&str] = match service {
        "ec2" => squall_ec2::generated::IMPLEMENTED_OPERATIONS,
        "sts" => squall_sts::generated::IMPLEMENTED_OPERATIONS,
        "rds" => squall_rds::generated::IMPLEMENTED_OPERATIONS,
        "secretsmanager" => squall_secretsmanager::generated::IMPLEMENTED_OPERATIONS,
        _ => &[],
    };
    served.contains(&action)
}

fn by_version_or_path(params: &QueryParams, path: &str) -> Service {
    match params.version() {
        Some(squall_ec2::API_VERSION) => return Service::Ec2,
        Some(STS_VERSION) => return Service::Sts,
        Some(RDS_VERSION) => return Service::Rds,
        _ => {}
    }
    if path.starts_with("/snapshots") {
        Service::Ebs
    } else if FIS_PATHS.iter().any(|p| path.starts_with(p)) {
        Service::Fis
    } else {
        Service::Unknown
    }
}

/// A request for a service squall does not serve, answered in that service's own protocol (as
/// far as the request shows it) so its client can read the error: awsJson when it names an
/// `X-Amz-Target`, awsQuery when it is a form with an `Action`, restXml for S3, restJson
/// otherwise; EC2's shape when nothing says which service it is.
fn unserved_service(call: &ApiCall, request_id: &str) -> WireResponse {
    let Some(service) = call.scope_service.as_deref() else {
        let e = ApiError::new(501, "NotImplemented", "squall does not implement this service yet");
        return e.to_ec2_response(request_id);
    };
    let e = ApiError::new(
        501,
        "NotImplemented",
        format!("squall does not serve the {service} API (it emulates EC2, EBS, STS, RDS, FIS and Secrets Manager)"),
    );
    let has_target = call.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"));
    if has_target {
        e.to_aws_json_response(request_id)
    } else if call.params.action().is_some() {
        e.to_query_response(request_id)
    } else if service == "s3" {
        e.to_rest_xml_response(request_id)
    } else {
        e.to_json_response(request_id)
    }
}

/// The answer to a request an `api-error` fault fails: the error code its author named, with the
/// HTTP status the service sends with that code (AWS answers its capacity, internal and
/// throttling errors as server errors, every other code as a client error) and AWS's message for
/// the common ones.
fn injected_error(service: Service, code: &str, fault_id: &str) -> ApiError {
    let status = match (service, code) {
        (_, "InternalError" | "InternalFailure" | "InternalServerException") => 500,
        (_, "InsufficientInstanceCapacity" | "InsufficientVolumeCapacity" | "InsufficientDBInstanceCapacity") => 500,
        (_, "Unavailable" | "ServiceUnavailable" | "ServiceUnavailableException") => 503,
        // EC2 throttles with 503; the query and JSON services with a 400.
        (Service::Ec2 | Service::Unknown, "RequestLimitExceeded") => 503,
        // The EBS direct APIs' error shapes carry their own statuses (botocore's ebs model).
        (Service::Ebs, "AccessDeniedException") => 403,
        (Service::Ebs, "ResourceNotFoundException") => 404,
        (Service::Ebs, "ConflictException") => 409,
        (Service::Ebs, "ServiceQuotaExceededException") => 402,
        _ => 400,
    };
    let message = match code {
        "RequestLimitExceeded" => "Request limit exceeded.".to_string(),
        "InternalError" => "An internal error has occurred".to_string(),
        _ => format!("{code} (injected by squall fault {fault_id})"),
    };
    ApiError::new(status, code.to_string(), message)
}

/// An error in the shape of the protocol the client speaks.
fn render_error(service: Service, e: &ApiError, request_id: &str) -> WireResponse {
    match service {
        Service::Ec2 | Service::Unknown => e.to_ec2_response(request_id),
        Service::Sts | Service::Rds => e.to_query_response(request_id),
        Service::Ebs | Service::Fis => e.to_json_response(request_id),
        Service::SecretsManager => e.to_aws_json_response(request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squall_control::{ControlConfig, RegionName};

    fn control() -> ControlPlane {
        ControlPlane::new(ControlConfig::new(
            RegionName::parse("eu-west-1").unwrap(),
            tempfile::tempdir().unwrap().keep(),
        ))
    }

    fn call(control: &ControlPlane, auth: Option<&str>, path: &str, body: &str) -> Outcome {
        let nbd = squall_nbd::Nbd::new(std::sync::Arc::new(self::control()));
        let sql = squall_sql::Endpoints::new(std::sync::Arc::new(self::control()), "127.0.0.1");
        let metrics = crate::metrics::Metrics::default();
        let g = Gateway {
            control,
            nbd: &nbd,
            sql: &sql,
            version: "test",
            token: None,
            metrics: &metrics,
            account_id: "000000000000",
            init: &crate::init::InitHooks::default(),
        };
        g.route(
            &Incoming { method: "POST", path, query: "", authorization: auth, headers: vec![], body: body.as_bytes() },
            "rid".into(),
        )
    }

    fn text(o: &Outcome) -> String {
        String::from_utf8(o.response.body.clone()).unwrap()
    }

    #[test]
    fn injected_errors_carry_the_status_the_service_sends_with_their_code() {
        let cases = [
            (Service::Ec2, "RequestLimitExceeded", 503),
            (Service::Ec2, "InsufficientVolumeCapacity", 500),
            (Service::Ec2, "InvalidVolume.NotFound", 400),
            (Service::Rds, "Throttling", 400),
            (Service::Rds, "InternalFailure", 500),
            (Service::Ebs, "ResourceNotFoundException", 404),
            (Service::Ebs, "RequestThrottledException", 400),
            (Service::Ebs, "ServiceUnavailableException", 503),
        ];
        for (service, code, status) in cases {
            let e = injected_error(service, code, "f-1");
            assert_eq!((e.status, &*e.code), (status, code), "{code}");
        }
    }

    #[test]
    fn scope_picks_service_and_region() {
        let c = control();
        let auth =
            "AWS4-HMAC-SHA256 Credential=AK/20261126/ap-southeast-2/ec2/aws4_request, SignedHeaders=host, Signature=x";
        let o = call(&c, Some(auth), "/", "Action=DescribeAvailabilityZones&Version=2016-11-15");
        assert_eq!(o.service, "ec2");
        assert_eq!(o.response.status, 200);
        assert!(text(&o).contains("<zoneName>ap-southeast-2a</zoneName>"), "{}", text(&o));
    }

    #[test]
    fn malformed_query_strings_are_refused_not_decoded_into_something_else() {
        let c = control();
        for body in [
            "Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-1&Tag.1.Key=a%zz",
            "Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-1&Tag.1.Key=%ff%fe",
            "Action=DescribeVolumes&Version=2016-11-15&Filter.1.Name=a%2",
        ] {
            let o = call(&c, None, "/", body);
            assert_eq!(o.response.status, 404, "{body}: {}", text(&o));
            assert!(text(&o).contains("<Code>MalformedQueryString</Code>"), "{}", text(&o));
        }
        let o = call(
            &c,
            None,
            "/",
            "Action=DescribeVolumes&Version=2016-11-15&Filter.1.Name=tag%3Aname&Filter.1.Value.1=%C3%A9t%C3%A9+x",
        );
        assert_eq!(o.response.status, 200, "well-formed percent-encoding and UTF-8 pass: {}", text(&o));
    }

    #[test]
    fn a_region_squall_does_not_serve_is_refused_and_creates_nothing() {
        let c = control();
        let scoped = |service: &str| {
            format!("AWS4-HMAC-SHA256 Credential=AK/20261126/zz-fake-9/{service}/aws4_request, SignedHeaders=host, Signature=x")
        };
        let o = call(&c, Some(&scoped("ec2")), "/", "Action=DescribeVolumes&Version=2016-11-15");
        assert_eq!((o.service, o.response.status), ("ec2", 401));
        assert!(text(&o).contains("<Code>AuthFailure</Code>"), "{}", text(&o));
        assert!(
            text(&o).contains("Credential should be scoped to a valid region, not &apos;zz-fake-9&apos;."),
            "{}",
            text(&o)
        );
        let o = call(&c, Some(&scoped("rds")), "/", "Action=DescribeDBInstances&Version=2014-10-31");
        assert_eq!((o.service, o.response.status), ("rds", 403));
        assert!(text(&o).contains("<Code>SignatureDoesNotMatch</Code>"), "{}", text(&o));
        assert!(c.known_regions().iter().all(|r| r.as_str() != "zz-fake-9"), "a refused region leaves no state");
    }

    #[test]
    fn without_a_scope_the_version_decides_and_the_default_region_applies() {
        let c = control();
        let o = call(&c, None, "/", "Action=DescribeAvailabilityZones&Version=2016-11-15");
        assert_eq!(o.service, "ec2");
        assert!(text(&o).contains("<zoneId>euw1-az1</zoneId>"));
        let o = call(&c, None, "/", "Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(o.service, "sts");
        assert!(text(&o).contains("<Account>000000000000</Account>"));
    }

    #[test]
    fn services_not_built_yet_answer_501_in_their_own_shape() {
        let c = control();
        // RDS (by its API version, without a credential scope) answers; its actions squall does
        // not serve yet are named in an awsQuery error.
        let o = call(&c, None, "/", "Action=DescribeDBInstances&Version=2014-10-31");
        assert_eq!((o.service, o.response.status), ("rds", 200));
        assert!(text(&o).contains("<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">"));
        let o = call(&c, None, "/", "Action=CreateDBShardGroup&Version=2014-10-31");
        assert_eq!((o.service, o.response.status), ("rds", 400));
        assert!(text(&o).contains("<Code>InvalidAction</Code>"), "{}", text(&o));
        // FIS answers in restJson1: StartExperiment without its template is a ValidationException.
        let o = call(&c, None, "/experiments", "{}");
        assert_eq!((o.service, o.response.status), ("fis", 400), "{}", text(&o));
        assert_eq!(o.response.headers, vec![("x-amzn-ErrorType", "ValidationException".to_string())]);
    }

    #[test]
    fn squall_paths_come_first() {
        let c = control();
        let nbd = squall_nbd::Nbd::new(std::sync::Arc::new(control()));
        let sql = squall_sql::Endpoints::new(std::sync::Arc::new(control()), "127.0.0.1");
        let metrics = crate::metrics::Metrics::default();
        let g = Gateway {
            control: &c,
            nbd: &nbd,
            sql: &sql,
            version: "test",
            token: None,
            metrics: &metrics,
            account_id: "000000000000",
            init: &crate::init::InitHooks::default(),
        };
        let o = g.route(
            &Incoming {
                method: "GET",
                path: "/_localstack/health",
                query: "",
                authorization: None,
                headers: vec![],
                body: b"",
            },
            "r".into(),
        );
        assert_eq!((o.service, o.response.status), ("squall", 200));
    }
}
