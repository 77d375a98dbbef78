//! squall's own HTTP surface under `/_squall/` (JSON): health, reset, fault injection
//! (`/_squall/faults`), run-time configuration (`/_squall/config`), status (`/_squall/status`)
//! and Prometheus metrics of the storage (`/metrics`, with the gateway's request figures). It
//! only reads and changes control-plane state; the behaviour of a fault lives where the fault
//! bites. `fault-api/openapi.yaml` describes it.
//!
//! The same health answer is served at `/_localstack/health`, so tools written to wait for
//! LocalStack wait for squall, and `/moto-api/reset` resets like moto's server mode.

mod dashboard;
mod faults;
pub mod metrics;
pub mod window;

use std::time::Duration;

/// Checks a fault body as `POST /_squall/faults` does, without starting the fault: the region,
/// the kind and its fields with every bound, the duration. For the fuzz target and tools.
pub use faults::parse as check_fault_body;

use serde::{Deserialize, Serialize};
use squall_control::faults::FaultError;
use squall_control::ControlPlane;
use squall_protocol::WireResponse;

/// The data path's settings the fault API can change (the NBD server implements it).
pub trait DataPath: Send + Sync {
    fn io_timeout(&self) -> Option<Duration>;
    fn set_io_timeout(&self, timeout: Option<Duration>);
    /// Per exported volume: sessions, requests held now, requests timed out (for status).
    fn exports(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Per DB instance's SQL endpoint: its port, commits, time waited on stuck storage.
    fn sql_endpoints(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Everything the surface works on.
pub struct Surface<'a> {
    pub control: &'a ControlPlane,
    pub data_path: &'a dyn DataPath,
    pub version: &'a str,
    pub services: &'a [ServiceHealth],
    /// When set, the fault and config endpoints need `Authorization: Bearer <token>`.
    pub token: Option<&'a str>,
    /// The last minutes of API calls, per zone (the dashboard's sparklines).
    pub api_window: &'a window::ApiWindow,
}

/// One HTTP request, as much of it as the surface reads.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The query string, without its `?`.
    pub query: &'a str,
    pub body: &'a [u8],
    pub authorization: Option<&'a str>,
}

/// Whether a service answers requests, in LocalStack's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Serving requests.
    Running,
    /// Known to squall but not built yet: its requests get an error naming the gap.
    Disabled,
}

/// One service as the health endpoint lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceHealth {
    pub name: &'static str,
    pub state: ServiceState,
}

#[derive(Serialize)]
struct Health<'a> {
    edition: &'static str,
    version: &'a str,
    services: serde_json::Map<String, serde_json::Value>,
    regions: Vec<String>,
}

/// Routes a request under `/_squall/`, `/_localstack/` or `/moto-api/`; `None` for any other path.
pub fn handle(surface: &Surface<'_>, request: &Request<'_>) -> Option<WireResponse> {
    let (method, path) = (request.method, request.path);
    let control = surface.control;
    // Every endpoint that changes squall: faults, config, and the resets (which heal every fault
    // and delete every resource).
    let guarded = path == "/_squall/config"
        || path == "/_squall/faults"
        || path.starts_with("/_squall/faults/")
        || (method == "POST" && matches!(path, "/_squall/reset" | "/_localstack/state/reset" | "/moto-api/reset"));
    if guarded {
        if let Some(token) = surface.token {
            let presented = request.authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
            if presented != Some(token) {
                return Some(error(401, "this endpoint needs Authorization: Bearer <SQUALL_FAULT_TOKEN>".into()));
            }
        }
    }
    if let Some(response) = dashboard::handle(surface, method, path, request.query) {
        return Some(response);
    }
    let response = match (method, path) {
        ("GET" | "HEAD", "/_squall/health" | "/_localstack/health") => {
            health(control, surface.version, surface.services)
        }
        ("GET", "/_localstack/info" | "/_squall/info") => info(control, surface.version),
        ("POST", "/_squall/reset" | "/_localstack/state/reset") => match control.reset() {
            Ok(()) => json(200, &serde_json::json!({ "reset": true })),
            Err(e) => error(500, e.to_string()),
        },
        ("GET", "/moto-api/data.json") => json(200, &data_json(control)),
        ("POST", "/moto-api/reset") => match control.reset() {
            Ok(()) => json(200, &serde_json::json!({ "status": "ok" })),
            Err(e) => error(500, e.to_string()),
        },
        ("POST", "/_squall/faults") => {
            let default_region = control.config().default_region.to_string();
            match faults::parse(control, &default_region, request.body) {
                Err(message) => error(400, message),
                Ok((region, kind, duration)) => match control.install_fault(&region, kind, duration) {
                    Ok(fault) => json(201, &fault),
                    Err(e) => fault_error(e),
                },
            }
        }
        ("GET", "/_squall/faults") => json(200, &serde_json::json!({ "faults": active_faults(control) })),
        ("DELETE", "/_squall/faults") => {
            let healed = control.remove_all_faults();
            json(200, &serde_json::json!({ "healed": healed }))
        }
        ("GET", p) if p.starts_with("/_squall/faults/") => match control.fault(&p["/_squall/faults/".len()..]) {
            Ok(f) => json(200, &with_remaining(control, &f)),
            Err(e) => fault_error(e),
        },
        ("DELETE", p) if p.starts_with("/_squall/faults/") => {
            match control.remove_fault(&p["/_squall/faults/".len()..]) {
                Ok(f) => json(200, &serde_json::json!({ "healed": f })),
                Err(e) => fault_error(e),
            }
        }
        ("GET", "/_squall/config") => config(surface),
        ("PUT", "/_squall/config") => match put_config(surface, request.body) {
            Ok(()) => config(surface),
            Err(message) => error(400, message),
        },
        ("GET", "/_squall/status") => status(surface),
        ("GET", "/_squall/rds/notifications") => json(200, &rds_notifications(control)),
        (_, "/_squall/health" | "/_localstack/health" | "/_squall/reset" | "/moto-api/reset" | "/_squall/config")
        | (_, "/_squall/faults" | "/_squall/status") => error(405, format!("{method} is not allowed on {path}")),
        (_, p) if p.starts_with("/_squall/faults/") => error(405, format!("{method} is not allowed on {path}")),
        (_, p) if p.starts_with("/_squall/") || p.starts_with("/_localstack/") || p.starts_with("/moto-api/") => {
            error(404, format!("no squall endpoint at {path}"))
        }
        _ => return None,
    };
    Some(response)
}

/// moto's `/moto-api/data.json`: every resource squall holds, by service and resource model,
/// each with its region (passwords left out).
/// What RDS event subscriptions would have published to their SNS topics, in every region, in
/// the message form RDS publishes (`Event Source`, `Event Time`, `Source ID`, `Event Message`, …).
fn rds_notifications(control: &ControlPlane) -> serde_json::Value {
    use serde_json::json;
    let now = control.now_ms();
    let mut out = Vec::new();
    for name in control.known_regions() {
        let region = name.to_string();
        let Ok(notes) = control.region(&name).read(now, |state| Ok(state.event_notifications())) else { continue };
        for n in notes {
            let e = &n.event;
            let account = n.topic_arn.split(':').nth(4).unwrap_or_default();
            let kind = match e.source.as_str() {
                "db-snapshot" => "snapshot",
                _ => "db",
            };
            let time = squall_protocol::Timestamp { epoch_millis: e.time_ms as i64 }.to_string();
            out.push(json!({
                "region": region,
                "subscription": n.subscription,
                "topicArn": n.topic_arn,
                "message": {
                    "Event Source": e.source.as_str(),
                    "Event Time": time.replace('T', " ").trim_end_matches('Z'),
                    "Identifier Link": format!(
                        "https://console.aws.amazon.com/rds/home?region={region}#{}:id={}",
                        if kind == "db" { "dbinstance" } else { "snapshot" },
                        e.source_id
                    ),
                    "Source ID": e.source_id,
                    "Source ARN": format!("arn:aws:rds:{region}:{account}:{kind}:{}", e.source_id),
                    "Event ID": format!(
                        "http://docs.amazonwebservices.com/AmazonRDS/latest/UserGuide/USER_Events.html#{}",
                        e.event_id
                    ),
                    "Event Message": e.message,
                },
                "categories": e.categories,
            }));
        }
    }
    json!({ "notifications": out })
}

fn data_json(control: &ControlPlane) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut models: std::collections::BTreeMap<(&str, &str), Vec<Value>> = std::collections::BTreeMap::new();
    let now = control.now_ms();
    for name in control.known_regions() {
        let region = name.to_string();
        let listed = control.region(&name).read(now, |state| {
            let (instances, _) = state.instances_after(None, usize::MAX, |_| true);
            let (volumes, _) = state.volumes_after(None, usize::MAX, |_| true);
            let (snapshots, _) = state.snapshots_after(None, usize::MAX, |_| true);
            Ok(vec![
                ("ec2", "Instance", instances.iter().map(|i| json!(i)).collect::<Vec<_>>()),
                ("ec2", "Volume", volumes.iter().map(|v| json!(v)).collect()),
                ("ec2", "Snapshot", snapshots.iter().map(|s| json!(s)).collect()),
                ("ec2", "KeyPair", state.key_pairs().iter().map(|k| json!(k)).collect()),
                ("ec2", "Vpc", state.vpcs().iter().map(|v| json!(v)).collect()),
                ("ec2", "Subnet", state.subnets().iter().map(|s| json!(s)).collect()),
                ("rds", "DBInstance", state.db_instances().map(|i| json!(i)).collect()),
                ("rds", "DBSnapshot", state.db_snapshots().map(|s| json!(s)).collect()),
                ("rds", "DBSubnetGroup", state.db_subnet_groups().iter().map(|g| json!(g)).collect()),
            ])
        });
        let templates = control.experiment_templates(&name).into_iter().map(|t| {
            json!({ "id": t.id, "description": t.spec.description, "actions": t.spec.actions.keys().collect::<Vec<_>>() })
        });
        let experiments = control
            .experiments(Some(&name))
            .into_iter()
            .map(|e| json!({ "id": e.id, "templateId": e.template_id, "state": e.status.as_str() }));
        let fis =
            vec![("fis", "ExperimentTemplate", templates.collect()), ("fis", "Experiment", experiments.collect())];
        for (service, model, items) in listed.unwrap_or_default().into_iter().chain(fis) {
            let list = models.entry((service, model)).or_default();
            for mut item in items {
                if let Some(map) = item.as_object_mut() {
                    map.remove("master_password");
                    map.insert("region".into(), Value::from(region.clone()));
                }
                list.push(item);
            }
        }
    }
    let mut out = serde_json::Map::new();
    for ((service, model), items) in models {
        let entry = out.entry(service.to_string()).or_insert_with(|| json!({}));
        entry[model] = Value::from(items);
    }
    Value::Object(out)
}

fn fault_error(e: FaultError) -> WireResponse {
    match e {
        FaultError::Invalid(m) => error(400, m),
        FaultError::NotFound(id) => error(404, format!("no active fault with id {id}")),
    }
}

/// A fault with the seconds it has left (`null` without a duration).
fn with_remaining(control: &ControlPlane, f: &squall_control::faults::Fault) -> serde_json::Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    let remaining = f.ends_ms.map(|e| e.saturating_sub(control.now_ms()) as f64 / 1000.0);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("remainingSeconds".into(), serde_json::json!(remaining));
    }
    v
}

fn active_faults(control: &ControlPlane) -> Vec<serde_json::Value> {
    control.faults().iter().map(|f| with_remaining(control, f)).collect()
}

/// The longest NBD I/O time-out the config takes: a day, in milliseconds (0 or null: none).
const MAX_NBD_IO_TIMEOUT_MS: u64 = 24 * 3_600_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigBody {
    policy: Option<String>,
    /// Milliseconds; 0 or null holds NBD I/O on stuck volumes until they recover.
    nbd_io_timeout_ms: Option<Option<u64>>,
}

fn put_config(surface: &Surface<'_>, body: &[u8]) -> Result<(), String> {
    let b: ConfigBody = serde_json::from_slice(body).map_err(|e| format!("malformed config body: {e}"))?;
    let policy = match b.policy.as_deref() {
        None => None,
        Some("legacy") => Some(squall_control::PolicyKind::Legacy),
        Some("hardened") => Some(squall_control::PolicyKind::Hardened),
        Some(other) => return Err(format!("unknown policy {other:?} (legacy or hardened)")),
    };
    if let Some(kind) = policy {
        surface.control.set_policy(kind).map_err(|e| e.to_string())?;
    }
    if let Some(Some(ms)) = b.nbd_io_timeout_ms {
        if ms > MAX_NBD_IO_TIMEOUT_MS {
            return Err(format!("nbdIoTimeoutMs must be at most {MAX_NBD_IO_TIMEOUT_MS} (a day); 0 or null holds I/O"));
        }
    }
    if let Some(timeout) = b.nbd_io_timeout_ms {
        surface.data_path.set_io_timeout(timeout.filter(|ms| *ms > 0).map(Duration::from_millis));
    }
    Ok(())
}

fn config(surface: &Surface<'_>) -> WireResponse {
    json(
        200,
        &serde_json::json!({
            "policy": surface.control.policy(),
            "nbdIoTimeoutMs": surface.data_path.io_timeout().map_or(0, |t| t.as_millis() as u64),
        }),
    )
}

fn status(surface: &Surface<'_>) -> WireResponse {
    let control = surface.control;
    json(
        200,
        &serde_json::json!({
            "policy": control.policy(),
            "nbdIoTimeoutMs": surface.data_path.io_timeout().map_or(0, |t| t.as_millis() as u64),
            "regions": control.status(),
            "apiPools": control.pool_status(),
            "nbd": surface.data_path.exports(),
            "sqlEndpoints": surface.data_path.sql_endpoints(),
            "faults": active_faults(control),
            "experiments": control
                .experiments(None)
                .iter()
                .map(|e| serde_json::json!({
                    "id": e.id,
                    "region": e.region.to_string(),
                    "templateId": e.template_id,
                    "state": e.status.as_str(),
                    "actions": e.actions.iter().map(|(n, a)| (n.clone(), serde_json::Value::from(a.status.as_str()))).collect::<serde_json::Map<_, _>>(),
                }))
                .collect::<Vec<_>>(),
        }),
    )
}

fn health(control: &ControlPlane, version: &str, services: &[ServiceHealth]) -> WireResponse {
    let services =
        services.iter().map(|s| (s.name.to_string(), serde_json::to_value(s.state).unwrap_or_default())).collect();
    let regions = control.active_regions().into_iter().map(|r| r.to_string()).collect();
    json(200, &Health { edition: "squall", version, services, regions })
}

/// LocalStack's `/_localstack/info`, which tooling reads for the version and the session: the
/// same keys, squall's values.
fn info(control: &ControlPlane, version: &str) -> WireResponse {
    let now = control.now_ms();
    let server_time = squall_protocol::Timestamp { epoch_millis: now as i64 }.to_string();
    json(
        200,
        &serde_json::json!({
            "version": format!("squall-{version}"),
            "edition": "squall",
            "is_license_activated": false,
            "session_id": format!("{:012x}-{:08x}", control.started_ms(), std::process::id()),
            "machine_id": "squall",
            "system": std::env::consts::OS,
            "is_docker": std::path::Path::new("/.dockerenv").exists(),
            "server_time_utc": server_time,
            "uptime": control.uptime().as_secs(),
        }),
    )
}

fn error(status: u16, message: String) -> WireResponse {
    json(status, &serde_json::json!({ "error": message }))
}

fn json(status: u16, value: &impl Serialize) -> WireResponse {
    // Serialising these plain structs cannot fail; an empty object is a safe fallback anyway.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    WireResponse::json(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    static WINDOW: window::ApiWindow = window::ApiWindow::new();
    use squall_control::{ControlConfig, RegionName};

    fn control() -> ControlPlane {
        ControlPlane::new(ControlConfig::new(
            RegionName::parse("us-east-1").unwrap(),
            tempfile::tempdir().unwrap().keep(),
        ))
    }

    const SERVICES: &[ServiceHealth] = &[
        ServiceHealth { name: "ec2", state: ServiceState::Running },
        ServiceHealth { name: "rds", state: ServiceState::Disabled },
    ];

    struct NoDataPath;
    impl DataPath for NoDataPath {
        fn io_timeout(&self) -> Option<Duration> {
            None
        }
        fn set_io_timeout(&self, _: Option<Duration>) {}
    }

    fn call(c: &ControlPlane, version: &str, method: &str, path: &str) -> Option<WireResponse> {
        let surface = Surface {
            control: c,
            data_path: &NoDataPath,
            version,
            services: SERVICES,
            token: None,
            api_window: &WINDOW,
        };
        handle(&surface, &Request { method, path, query: "", body: b"", authorization: None })
    }

    #[test]
    fn health_lists_services_and_the_same_json_answers_the_localstack_path() {
        let c = control();
        let a = call(&c, "1.2.3", "GET", "/_squall/health").unwrap();
        let b = call(&c, "1.2.3", "GET", "/_localstack/health").unwrap();
        assert_eq!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["services"]["ec2"], "running");
        assert_eq!(v["services"]["rds"], "disabled");
    }

    #[test]
    fn with_a_token_every_reset_needs_it() {
        let c = control();
        let surface = Surface {
            control: &c,
            data_path: &NoDataPath,
            version: "v",
            services: SERVICES,
            token: Some("t0k"),
            api_window: &WINDOW,
        };
        let eu = RegionName::parse("eu-west-1").unwrap();
        c.region(&eu);
        for path in ["/_squall/reset", "/_localstack/state/reset", "/moto-api/reset"] {
            let r =
                handle(&surface, &Request { method: "POST", path, query: "", body: b"", authorization: None }).unwrap();
            assert_eq!(r.status, 401, "{path}");
            let wrong = Request { method: "POST", path, query: "", body: b"", authorization: Some("Bearer nope") };
            assert_eq!(handle(&surface, &wrong).unwrap().status, 401, "{path}");
        }
        assert_eq!(c.active_regions(), vec![eu], "nothing was reset");
        let right =
            Request { method: "POST", path: "/_squall/reset", query: "", body: b"", authorization: Some("Bearer t0k") };
        assert_eq!(handle(&surface, &right).unwrap().status, 200);
        assert!(c.active_regions().is_empty());
        let health = Request { method: "GET", path: "/_squall/health", query: "", body: b"", authorization: None };
        assert_eq!(handle(&surface, &health).unwrap().status, 200, "health needs no token");
    }

    #[test]
    fn capacity_is_bounded_per_zone_and_config_numbers_too() {
        let c = control();
        let surface = Surface {
            control: &c,
            data_path: &NoDataPath,
            version: "v",
            services: SERVICES,
            token: None,
            api_window: &WINDOW,
        };
        let post = |body: &str| {
            let r = Request {
                method: "POST",
                path: "/_squall/faults",
                query: "",
                body: body.as_bytes(),
                authorization: None,
            };
            handle(&surface, &r).unwrap().status
        };
        let add = r#"{"kind":"capacity","zone":"us-east-1a","addNodes":64,"nodeCapacityGib":1}"#;
        // Four nodes to start with, 64 at a time: three fit under 256, the fourth does not.
        assert_eq!([post(add), post(add), post(add), post(add)], [201, 201, 201, 400]);
        // A region squall does not serve is refused, and creates nothing.
        assert_eq!(post(r#"{"kind":"az-outage","zone":"zz-fake-9a","region":"zz-fake-9"}"#), 400);
        assert!(c.known_regions().iter().all(|r| r.as_str() != "zz-fake-9"));
        let put = |body: &str| {
            let r = Request {
                method: "PUT",
                path: "/_squall/config",
                query: "",
                body: body.as_bytes(),
                authorization: None,
            };
            handle(&surface, &r).unwrap().status
        };
        assert_eq!(put(r#"{"nbdIoTimeoutMs":18446744073709551615}"#), 400);
        let get = || {
            let r = Request { method: "GET", path: "/_squall/config", query: "", body: b"", authorization: None };
            serde_json::from_slice::<serde_json::Value>(&handle(&surface, &r).unwrap().body).unwrap()
        };
        assert_eq!(get()["nbdIoTimeoutMs"], 0, "no time-out shows as 0, as documented");
        assert_eq!(put(r#"{"nbdIoTimeoutMs":5000}"#), 200);
        // A partition without networks is of both, and says so.
        let created = {
            let body = br#"{"kind":"network-partition","zone":"us-east-1a","nodes":[0]}"#;
            let r = Request { method: "POST", path: "/_squall/faults", query: "", body, authorization: None };
            serde_json::from_slice::<serde_json::Value>(&handle(&surface, &r).unwrap().body).unwrap()
        };
        assert_eq!(created["networks"], serde_json::json!(["both"]), "{created}");
    }

    #[test]
    fn localstack_info_answers_with_its_keys() {
        let c = control();
        let r = call(&c, "1.2.3", "GET", "/_localstack/info").unwrap();
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!((v["version"].as_str(), v["edition"].as_str()), (Some("squall-1.2.3"), Some("squall")));
        for key in ["session_id", "system", "server_time_utc", "uptime", "is_docker", "is_license_activated"] {
            assert!(!v[key].is_null(), "{key} missing: {v}");
        }
        assert_eq!(call(&c, "1.2.3", "GET", "/_squall/info").unwrap().status, 200);
    }

    #[test]
    fn moto_data_json_lists_what_squall_holds_without_passwords() {
        let c = control();
        let region = c.region(&RegionName::parse("us-east-1").unwrap());
        let spec = squall_control::model::rds::DbInstanceSpec {
            id: "ledger".into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            allocated_gib: Some(20),
            master_username: Some("app".into()),
            master_password: Some("s3cret-pass".into()),
            ..Default::default()
        };
        region.create_db_instance(spec, "localhost", c.now_ms()).unwrap();
        let r = call(&c, "v", "GET", "/moto-api/data.json").unwrap();
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let db = &v["rds"]["DBInstance"][0];
        assert_eq!((db["id"].as_str(), db["region"].as_str()), (Some("ledger"), Some("us-east-1")), "{v}");
        assert!(db.get("master_password").is_none(), "no password in {db}");
        assert!(!String::from_utf8_lossy(&r.body).contains("s3cret-pass"));
        assert!(v["ec2"]["Vpc"].as_array().is_some_and(|vpcs| !vpcs.is_empty()), "the default VPC: {v}");
        assert_eq!(v["fis"]["Experiment"], serde_json::json!([]));
    }

    #[test]
    fn reset_forgets_regions() {
        let c = control();
        c.region(&RegionName::parse("eu-west-1").unwrap());
        let r = call(&c, "v", "POST", "/moto-api/reset").unwrap();
        assert_eq!(r.status, 200);
        assert!(c.active_regions().is_empty());
        c.region(&RegionName::parse("eu-west-1").unwrap());
        assert_eq!(call(&c, "v", "POST", "/_squall/reset").unwrap().status, 200);
        assert!(c.active_regions().is_empty());
    }

    fn get(c: &ControlPlane, window: &window::ApiWindow, path: &str, query: &str) -> (u16, serde_json::Value) {
        let surface = Surface {
            control: c,
            data_path: &NoDataPath,
            version: "v",
            services: SERVICES,
            token: None,
            api_window: window,
        };
        let r = handle(&surface, &Request { method: "GET", path, query, body: b"", authorization: None }).unwrap();
        (r.status, serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
    }

    #[test]
    fn the_dashboard_page_and_its_state_per_zone_with_the_api_window() {
        let c = control();
        let page = call(&c, "v", "GET", "/_squall/dashboard").unwrap();
        assert_eq!((page.status, page.content_type), (200, "text/html; charset=utf-8"));
        assert!(String::from_utf8_lossy(&page.body).contains("<title>squall dashboard</title>"));

        let window = window::ApiWindow::new();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        window.record("us-east-1", Some("us-east-1b"), 200, Duration::from_millis(2), now);
        window.record("us-east-1", Some("us-east-1b"), 503, Duration::from_millis(2), now);
        window.record("us-east-1", None, 200, Duration::from_millis(2), now);
        let (status, s) = get(&c, &window, "/_squall/dashboard/state", "seconds=5");
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["region"], "us-east-1");
        let zones = s["zones"].as_array().unwrap();
        assert_eq!(zones.len(), 6, "us-east-1 has six zones");
        let b = zones.iter().find(|z| z["name"] == "us-east-1b").unwrap();
        assert_eq!(b["state"], "available");
        assert_eq!(b["api"].as_array().unwrap().len(), 5);
        let last = &b["api"][4];
        assert!((last["ok"].as_u64(), last["failed"].as_u64()) == (Some(1), Some(1)) || b["api"][3]["ok"] == 1, "{b}");
        assert_eq!(s["zoneFreeApi"].as_array().unwrap().len(), 5);
        assert_eq!(s["tokenRequired"], false);
        assert_eq!(s["faults"], serde_json::json!([]));
    }

    #[test]
    fn the_dashboard_refuses_bad_parameters_with_json_errors() {
        let c = control();
        let w = window::ApiWindow::new();
        for (path, query, needle) in [
            ("/_squall/dashboard/state", "region=mars-north-9", "does not serve a region"),
            ("/_squall/dashboard/state", "region=%ZZ", "does not serve a region"),
            ("/_squall/dashboard/state", "seconds=0", "seconds must be"),
            ("/_squall/dashboard/state", "seconds=301", "seconds must be"),
            ("/_squall/dashboard/volumes", "limit=100000", "limit must be"),
            ("/_squall/dashboard/volumes", "limit=-1", "limit must be"),
        ] {
            let (status, v) = get(&c, &w, path, query);
            assert_eq!(status, 400, "{path}?{query}: {v}");
            assert!(v["error"].as_str().unwrap().contains(needle), "{path}?{query}: {v}");
        }
        let (status, v) = get(&c, &w, "/_squall/dashboard/volumes", "q=vol-");
        assert_eq!((status, v["matched"].as_u64()), (200, Some(0)), "{v}");
        assert_eq!(call(&c, "v", "POST", "/_squall/dashboard/state").unwrap().status, 405);
        assert_eq!(call(&c, "v", "GET", "/_squall/dashboard/nope").unwrap().status, 404);
    }

    #[test]
    fn wrong_methods_and_unknown_paths_get_json_errors() {
        let c = control();
        assert_eq!(call(&c, "v", "DELETE", "/_squall/health").unwrap().status, 405);
        assert_eq!(call(&c, "v", "GET", "/_squall/nope").unwrap().status, 404);
        assert!(call(&c, "v", "POST", "/").is_none());
    }

    #[test]
    fn the_openapi_description_names_every_fault_kind_and_endpoint() {
        let spec = include_str!("../openapi.yaml");
        for kind in [
            "network-partition",
            "network-degradation",
            "node-crash",
            "node-crash-on-close",
            "volume-io-pause",
            "az-outage",
            "api-error",
            "api-latency",
            "capacity",
        ] {
            assert!(spec.contains(kind), "openapi.yaml lacks {kind}");
            let c = control();
            let body = format!(r#"{{"kind":"{kind}","colour":"red"}}"#);
            let err = faults::parse(&c, "us-east-1", body.as_bytes()).expect_err("unknown field");
            assert!(err.contains("colour"), "{kind}: {err}");
        }
        for path in [
            "/_squall/faults:",
            "/_squall/faults/{id}:",
            "/_squall/config:",
            "/_squall/status:",
            "/metrics:",
            "/_squall/dashboard:",
            "/_squall/dashboard/state:",
            "/_squall/dashboard/volumes:",
            "/_squall/rds/notifications:",
        ] {
            assert!(spec.contains(path), "openapi.yaml lacks {path}");
        }
    }
}
