//! The HTTP/1.1 server: accepts connections, hands each request to the [`Gateway`], and on
//! shutdown stops accepting and lets in-flight requests finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as HyperBody;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use squall_control::pool::Admission;
use squall_control::{ControlPlane, RegionName};
use tokio::net::TcpListener;

use crate::gateway::{ApiCall, Gateway, Incoming, Outcome};

/// The largest request body squall reads: EC2 query requests are small; EBS PutSnapshotBlock
/// carries 512 KiB blocks. 16 MiB leaves room without letting one client exhaust memory.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The largest request head (request line and headers) squall reads; beyond it, 431. AWS's SDKs
/// send a few KiB.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What one client may hold of the HTTP listener: fixed at start.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's head must arrive within this, counted from when the connection is ready for
    /// it (so an idle keep-alive connection closes after it too).
    pub header_timeout: Duration,
    /// A request's body must arrive within this once its head has (then 408).
    pub body_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
}

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct AppState {
    pub control: Arc<ControlPlane>,
    /// The NBD data path, whose statistics `/_squall/nbd` shows.
    pub nbd: Arc<squall_nbd::Nbd>,
    /// The SQL endpoints of DB instances, whose figures `/_squall/status` and `/metrics` show.
    pub sql: Arc<squall_sql::Endpoints>,
    /// `SQUALL_FAULT_TOKEN`: when set, the fault and config endpoints require it.
    pub fault_token: Option<String>,
    pub metrics: crate::metrics::Metrics,
    pub version: &'static str,
    /// `--account-id`: the account of requests whose access key names none.
    pub account_id: String,
    /// Init hooks, whose states `/_localstack/init` shows.
    pub init: Arc<crate::init::InitHooks>,
    pub limits: Limits,
}

/// Serves until `shutdown` resolves, then drains in-flight connections.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, shutdown: impl std::future::Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(state.limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // A connection past the cap waits in the listen backlog: the ones open go on.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state_limits = state.limits;
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(state_limits.header_timeout)
                    .max_header_size(MAX_HEADER_BYTES)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
    }
}

impl AppState {
    fn gateway(&self) -> Gateway<'_> {
        Gateway {
            control: &self.control,
            nbd: &self.nbd,
            sql: &self.sql,
            version: self.version,
            token: self.fault_token.as_deref(),
            metrics: &self.metrics,
            account_id: &self.account_id,
            init: &self.init,
        }
    }
}

/// Runs an AWS API call on a worker of its region's pool (or answers why the pool turned it
/// away); the connection's task waits without holding a thread.
async fn run_on_pool(state: &Arc<AppState>, call: ApiCall, request_id: String) -> Outcome {
    let name = RegionName::parse(call.region()).ok().filter(|_| state.control.serves_region(call.region()));
    let Some(name) = name else {
        // A region squall does not serve: refused at once, with no region, pool or thread made
        // for a name a client chose.
        return state.gateway().execute(&call, request_id);
    };
    let region = state.control.region(&name);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let zone = call.zone.clone();
    let job_state = state.clone();
    let id = request_id.clone();
    region.submit(zone.as_deref(), move |admission| {
        let outcome = match admission {
            Admission::Run => job_state.gateway().execute(&call, id),
            Admission::Rejected(r) => call.rejected(&r, &id),
        };
        let _ = tx.send(outcome);
    });
    match rx.await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(request_id, "an API worker dropped a request");
            let e = squall_protocol::ApiError::internal("squall hit an internal error; see its log");
            Outcome {
                response: e.to_ec2_response(&request_id),
                service: "unknown",
                action: None,
                delay_ms: 0,
                zone: None,
            }
        }
    }
}

async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<HyperBody>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let request_id = crate::new_request_id();
    let (parts, body) = req.into_parts();
    let collected = tokio::time::timeout(state.limits.body_timeout, Limited::new(body, MAX_BODY_BYTES).collect());
    let Ok(collected) = collected.await else {
        tracing::debug!(%peer, "request body timed out");
        let mut r = Response::new(Full::new(Bytes::from_static(b"request body did not arrive in time\n")));
        *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
        r.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(r);
    };
    let body = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "request body rejected");
            let mut r = Response::new(Full::new(Bytes::from_static(b"request body too large or unreadable\n")));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(r);
        }
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let incoming = Incoming {
        method,
        path,
        query: parts.uri.query().unwrap_or(""),
        authorization: parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str().to_string(), v.to_string())))
            .collect(),
        body: &body,
    };
    let gateway = state.gateway();
    let (outcome, region) = match gateway.own_paths(&incoming) {
        Some(outcome) => (outcome, None),
        None => {
            let call = gateway.classify(&incoming);
            let region = call.region().to_string();
            (run_on_pool(&state, call, request_id.clone()).await, Some(region))
        }
    };
    if outcome.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(outcome.delay_ms)).await;
    }
    let wire = outcome.response;
    if outcome.service != "squall" {
        // Labels from closed sets only: a served action or `unknown`, a zone squall has or none.
        let action = outcome.action.as_deref().map(|a| {
            if crate::gateway::served_action(outcome.service, a) {
                a
            } else {
                "unknown"
            }
        });
        let labels = crate::metrics::Labels {
            region: region.as_deref().filter(|r| state.control.serves_region(r)),
            service: outcome.service,
            action,
            zone: outcome.zone.as_deref().filter(|z| state.control.is_zone_name(z)),
        };
        state.metrics.record(&labels, wire.status, started.elapsed());
    }
    let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        tracing::warn!(
            request_id,
            service = outcome.service,
            action = outcome.action.as_deref(),
            status = wire.status,
            "request failed"
        );
    }
    tracing::debug!(
        request_id,
        %peer,
        method,
        path,
        service = outcome.service,
        action = outcome.action.as_deref(),
        status = wire.status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    let head_only = method == "HEAD";
    let mut response = Response::new(Full::new(if head_only { Bytes::new() } else { Bytes::from(wire.body) }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(wire.content_type));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v.clone());
        headers.insert("x-amz-request-id", v);
    }
    headers.insert("server", HeaderValue::from_static("squall"));
    for (name, value) in wire.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Ok(response)
}
