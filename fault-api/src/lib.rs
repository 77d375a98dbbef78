//! squall's own HTTP surface under `/_squall/` (JSON): health, reset, and — as they are built —
//! fault injection and status. It only reads and changes control-plane state; the behaviour of
//! a fault lives where the fault bites.
//!
//! The same health answer is served at `/_localstack/health`, so tools written to wait for
//! LocalStack wait for squall, and `/moto-api/reset` resets like moto's server mode.

use serde::Serialize;
use squall_control::ControlPlane;
use squall_protocol::WireResponse;

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
pub fn handle(
    control: &ControlPlane,
    version: &str,
    services: &[ServiceHealth],
    method: &str,
    path: &str,
) -> Option<WireResponse> {
    let response = match (method, path) {
        ("GET" | "HEAD", "/_squall/health" | "/_localstack/health") => health(control, version, services),
        ("POST", "/_squall/reset" | "/_localstack/state/reset") => match control.reset() {
            Ok(()) => json(200, &serde_json::json!({ "reset": true })),
            Err(e) => error(500, e.to_string()),
        },
        ("POST", "/moto-api/reset") => match control.reset() {
            Ok(()) => json(200, &serde_json::json!({ "status": "ok" })),
            Err(e) => error(500, e.to_string()),
        },
        (_, "/_squall/health" | "/_localstack/health" | "/_squall/reset" | "/moto-api/reset") => {
            error(405, format!("{method} is not allowed on {path}"))
        }
        (_, p) if p.starts_with("/_squall/") || p.starts_with("/_localstack/") || p.starts_with("/moto-api/") => {
            error(404, format!("no squall endpoint at {path}"))
        }
        _ => return None,
    };
    Some(response)
}

fn health(control: &ControlPlane, version: &str, services: &[ServiceHealth]) -> WireResponse {
    let services =
        services.iter().map(|s| (s.name.to_string(), serde_json::to_value(s.state).unwrap_or_default())).collect();
    let regions = control.active_regions().into_iter().map(|r| r.to_string()).collect();
    json(200, &Health { edition: "squall", version, services, regions })
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

    #[test]
    fn health_lists_services_and_the_same_json_answers_the_localstack_path() {
        let c = control();
        let a = handle(&c, "1.2.3", SERVICES, "GET", "/_squall/health").unwrap();
        let b = handle(&c, "1.2.3", SERVICES, "GET", "/_localstack/health").unwrap();
        assert_eq!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["services"]["ec2"], "running");
        assert_eq!(v["services"]["rds"], "disabled");
    }

    #[test]
    fn reset_forgets_regions() {
        let c = control();
        c.region(&RegionName::parse("eu-west-1").unwrap());
        let r = handle(&c, "v", SERVICES, "POST", "/moto-api/reset").unwrap();
        assert_eq!(r.status, 200);
        assert!(c.active_regions().is_empty());
        c.region(&RegionName::parse("eu-west-1").unwrap());
        assert_eq!(handle(&c, "v", SERVICES, "POST", "/_squall/reset").unwrap().status, 200);
        assert!(c.active_regions().is_empty());
    }

    #[test]
    fn wrong_methods_and_unknown_paths_get_json_errors() {
        let c = control();
        assert_eq!(handle(&c, "v", SERVICES, "DELETE", "/_squall/health").unwrap().status, 405);
        assert_eq!(handle(&c, "v", SERVICES, "GET", "/_squall/nope").unwrap().status, 404);
        assert!(handle(&c, "v", SERVICES, "POST", "/").is_none());
    }
}
