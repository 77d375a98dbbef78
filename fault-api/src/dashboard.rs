//! The live dashboard at `/_squall/dashboard`: one self-contained page (HTML, CSS and plain
//! JavaScript embedded at build time) that polls `/_squall/dashboard/state` every second and
//! draws the region as a map of its zones, and injects and heals faults through the fault API
//! itself. `/_squall/dashboard/volumes` answers its volume search.
//!
//! The state is aggregated per zone — counts, not lists — so a region of 10,000 volumes costs
//! the page the same as one of ten.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use squall_control::RegionName;
use squall_protocol::{QueryParams, WireResponse};

use crate::{error, json as json_response, with_remaining, Surface};

/// The page, embedded in the binary.
const PAGE: &str = include_str!("dashboard.html");

/// Seconds of API figures the page asks for by default (its sparklines), and the most it may.
const DEFAULT_SECONDS: u64 = 120;
/// Rows the volume search answers at most.
const MAX_ROWS: usize = 500;

/// Answers the dashboard's paths, `None` for any other.
pub fn handle(surface: &Surface<'_>, method: &str, path: &str, query: &str) -> Option<WireResponse> {
    let params = QueryParams::parse(query.as_bytes(), b"");
    let response = match (method, path) {
        ("GET" | "HEAD", "/_squall/dashboard" | "/_squall/dashboard/") => {
            let mut r = WireResponse::json(200, PAGE.as_bytes().to_vec());
            r.content_type = "text/html; charset=utf-8";
            r.headers.push(("cache-control", "no-store".to_string()));
            r
        }
        ("GET", "/_squall/dashboard/state") => match region(surface, &params) {
            Ok(region) => {
                let seconds = match params.get("seconds").map(str::parse::<u64>) {
                    None => DEFAULT_SECONDS,
                    Some(Ok(n)) if (1..=crate::window::KEPT_SECONDS).contains(&n) => n,
                    Some(_) => {
                        let most = crate::window::KEPT_SECONDS;
                        return Some(error(400, format!("seconds must be a whole number from 1 to {most}")));
                    }
                };
                json_response(200, &state(surface, &region, seconds))
            }
            Err(message) => error(400, message),
        },
        ("GET", "/_squall/dashboard/volumes") => match region(surface, &params) {
            Ok(region) => {
                let limit = match params.get("limit").map(str::parse::<usize>) {
                    None => 100,
                    Some(Ok(n)) if (1..=MAX_ROWS).contains(&n) => n,
                    Some(_) => return Some(error(400, format!("limit must be a whole number from 1 to {MAX_ROWS}"))),
                };
                let (rows, matched) = surface.control.find_volumes(&region, params.get("q").unwrap_or(""), limit);
                json_response(200, &json!({ "region": region.as_str(), "matched": matched, "volumes": rows }))
            }
            Err(message) => error(400, message),
        },
        (_, p) if p == "/_squall/dashboard" || p.starts_with("/_squall/dashboard/") => {
            if matches!(p, "/_squall/dashboard" | "/_squall/dashboard/state" | "/_squall/dashboard/volumes") {
                error(405, format!("{method} is not allowed on {p}"))
            } else {
                error(404, format!("no squall endpoint at {p}"))
            }
        }
        _ => return None,
    };
    Some(response)
}

/// The region the page asks about: `region=`, or the default one; only a region squall serves.
fn region(surface: &Surface<'_>, params: &QueryParams) -> Result<RegionName, String> {
    let control = surface.control;
    let name = params.get("region").unwrap_or(control.config().default_region.as_str());
    match RegionName::parse(name) {
        Ok(r) if control.serves_region(r.as_str()) => Ok(r),
        _ => Err(format!("squall does not serve a region named {name:?}")),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Everything the page draws for `region`, in one answer.
fn state(surface: &Surface<'_>, region: &RegionName, seconds: u64) -> Value {
    let control = surface.control;
    let now = unix_now();
    let mut api = surface.api_window.figures(region.as_str(), seconds, now);
    let mut inventory = control.zone_inventory(region);
    let zones: Vec<Value> = control
        .status()
        .remove(region.as_str())
        .unwrap_or_default()
        .into_iter()
        .map(|z| {
            let storage = z.storage.map(|s| {
                json!({
                    "nodes": s.nodes,
                    "volumes": s.volumes,
                    "healthy": s.healthy,
                    "stuck": s.stuck,
                    "remirroring": s.remirroring,
                    "queue": s.queue,
                    "staleSearching": s.stale_searching,
                    "remirrorSuccesses": s.counters.remirror_successes,
                    "failuresNoSpace": s.counters.failures_no_space,
                })
            });
            json!({
                "name": z.name,
                "id": z.id,
                "state": z.state,
                "messages": z.messages,
                "storage": storage,
                "volumesIoDisabled": z.volumes_io_disabled,
                "inventory": inventory.remove(&z.name).unwrap_or_default(),
                "db": z.db_instances,
                "api": api.remove(&z.name).unwrap_or_default(),
            })
        })
        .collect();
    let mut regions: Vec<String> = control.known_regions().iter().map(|r| r.to_string()).collect();
    regions.push(control.config().default_region.to_string());
    regions.sort();
    regions.dedup();
    let faults: Vec<Value> =
        control.faults().iter().filter(|f| f.region == *region).map(|f| with_remaining(control, f)).collect();
    let now_ms = control.now_ms();
    let experiments: Vec<Value> = control
        .experiments(Some(region))
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "templateId": e.template_id,
                "state": e.status.as_str(),
                "description": e.template.description,
                "runningSeconds": e.start_ms.map(|s| e.end_ms.unwrap_or(now_ms).saturating_sub(s) / 1000),
                // Until the last of its timed actions ends by itself (none: nothing timed runs).
                "remainingSeconds": e.actions.values().filter_map(|a| a.due_ms).filter(|_| e.end_ms.is_none())
                    .max().map(|due| due.saturating_sub(now_ms).div_ceil(1000)),
                "actions": e.actions.iter().map(|(n, a)| (n.clone(), Value::from(a.status.as_str()))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    json!({
        "region": region.as_str(),
        "regions": regions,
        "policy": control.policy(),
        "now": now,
        "tokenRequired": surface.token.is_some(),
        "zones": zones,
        "zoneFreeApi": api.remove("-").unwrap_or_default(),
        "pool": control.pool_status().remove(region.as_str()),
        "faults": faults,
        "experiments": experiments,
    })
}
