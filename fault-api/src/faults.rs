//! `POST /_squall/faults` bodies: JSON with a `kind` and the fields that kind takes, turned into
//! the control plane's [`FaultKind`] with every field checked. Unknown fields, missing ones and
//! bad values are refused with a message that names them.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;
use squall_control::faults::FaultKind;
use squall_control::{AzName, ControlPlane, RegionName, VolumeId};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultBody {
    pub kind: String,
    pub region: Option<String>,
    /// Seconds after which the fault heals by itself.
    pub duration: Option<f64>,
    pub zone: Option<String>,
    pub nodes: Option<Vec<u32>>,
    /// A share of the zone's nodes, chosen with `seed`, instead of `nodes`.
    pub fraction: Option<f64>,
    pub seed: Option<u64>,
    pub networks: Option<Vec<String>>,
    /// network-degradation: what the replication network still carries, bytes per second.
    pub replication_bandwidth: Option<u64>,
    pub volumes: Option<Vec<String>>,
    /// volume-io-pause: every volume with all these tags.
    pub tags: Option<BTreeMap<String, String>>,
    pub service: Option<String>,
    pub actions: Option<Vec<String>>,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub probability: Option<f64>,
    pub latency_ms: Option<u64>,
    pub add_nodes: Option<u32>,
    pub node_capacity_gib: Option<u64>,
}

/// The HTTP status AWS sends with a well-known error code.
fn default_status(code: &str) -> u16 {
    match code {
        "InternalError" | "InternalFailure" | "InsufficientInstanceCapacity" | "InsufficientVolumeCapacity" => 500,
        "RequestLimitExceeded" | "Unavailable" | "ServiceUnavailable" | "Throttling" | "ThrottlingException" => 503,
        _ => 400,
    }
}

/// Checks a body and builds the rule; answers (region, kind, duration in ms).
pub fn parse(
    control: &ControlPlane,
    default_region: &str,
    body: &[u8],
) -> Result<(RegionName, FaultKind, Option<u64>), String> {
    let b: FaultBody = serde_json::from_slice(body).map_err(|e| format!("malformed fault body: {e}"))?;
    let region_name = b.region.clone().unwrap_or_else(|| default_region.to_string());
    let region = RegionName::parse(&region_name).map_err(|e| format!("region: {e}"))?;
    let duration = match b.duration {
        Some(d) if !(d.is_finite() && d > 0.0) => return Err("duration must be a positive number of seconds".into()),
        Some(d) => Some((d * 1000.0).round() as u64),
        None => None,
    };
    let allowed: &[&str] = match b.kind.as_str() {
        "network-partition" => &["zone", "nodes", "fraction", "seed", "networks"],
        "network-degradation" => &["zone", "nodes", "fraction", "seed", "replicationBandwidth"],
        "node-crash" => &["zone", "nodes", "fraction", "seed"],
        "node-crash-on-close" => &["zone", "probability"],
        "volume-io-pause" => &["volumes", "tags"],
        "az-outage" => &["zone"],
        "api-error" => &["service", "actions", "zone", "code", "status", "probability"],
        "api-latency" => &["service", "actions", "zone", "latencyMs", "probability"],
        "capacity" => &["zone", "addNodes", "nodeCapacityGib"],
        other => {
            return Err(format!(
                "unknown fault kind {other:?}; kinds: network-partition, network-degradation, node-crash, \
                 node-crash-on-close, volume-io-pause, az-outage, api-error, api-latency, capacity"
            ))
        }
    };
    let given: Vec<&str> = [
        ("zone", b.zone.is_some()),
        ("nodes", b.nodes.is_some()),
        ("fraction", b.fraction.is_some()),
        ("seed", b.seed.is_some()),
        ("networks", b.networks.is_some()),
        ("replicationBandwidth", b.replication_bandwidth.is_some()),
        ("volumes", b.volumes.is_some()),
        ("tags", b.tags.is_some()),
        ("service", b.service.is_some()),
        ("actions", b.actions.is_some()),
        ("code", b.code.is_some()),
        ("status", b.status.is_some()),
        ("probability", b.probability.is_some()),
        ("latencyMs", b.latency_ms.is_some()),
        ("addNodes", b.add_nodes.is_some()),
        ("nodeCapacityGib", b.node_capacity_gib.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| name)
    .collect();
    if let Some(extra) = given.iter().find(|f| !allowed.contains(f)) {
        return Err(format!("{} does not take {extra:?} (it takes: {})", b.kind, allowed.join(", ")));
    }
    let zone = || -> Result<AzName, String> {
        let z = b.zone.as_deref().ok_or_else(|| format!("{} needs a zone", b.kind))?;
        control.region(&region).zone_by_name(z).map(|z| z.name).map_err(|_| format!("no zone {z} in {region}"))
    };
    let nodes = |zone: &AzName| -> Result<Vec<u32>, String> {
        match (&b.nodes, b.fraction) {
            (Some(_), Some(_)) => Err("give nodes or fraction, not both".into()),
            (Some(n), None) => Ok(n.clone()),
            (None, Some(f)) if f > 0.0 && f <= 1.0 => {
                let mut all = control.storage_nodes(&region, zone.as_str()).map_err(|e| e.to_string())?;
                let take = ((all.len() as f64) * f).round().max(1.0) as usize;
                all.shuffle(&mut rand::rngs::StdRng::seed_from_u64(b.seed.unwrap_or(0)));
                all.truncate(take);
                all.sort_unstable();
                Ok(all)
            }
            (None, Some(_)) => Err("fraction must be in (0, 1]".into()),
            (None, None) => Err(format!("{} needs nodes (ids) or a fraction", b.kind)),
        }
    };
    let probability = b.probability.unwrap_or(1.0);
    let api_zone = || -> Result<Option<AzName>, String> { b.zone.as_ref().map(|_| zone()).transpose() };
    let service = || -> Result<String, String> {
        let s = b.service.clone().ok_or_else(|| format!("{} needs a service (ec2, ebs, sts, rds)", b.kind))?;
        match s.as_str() {
            "ec2" | "ebs" | "sts" | "rds" | "fis" => Ok(s),
            other => Err(format!("unknown service {other:?} (ec2, ebs, sts, rds, fis)")),
        }
    };
    let kind = match b.kind.as_str() {
        "network-partition" => {
            let zone = zone()?;
            let nodes = nodes(&zone)?;
            FaultKind::NetworkPartition { zone, nodes, networks: b.networks.clone().unwrap_or_default() }
        }
        "network-degradation" => {
            let zone = zone()?;
            let nodes = nodes(&zone)?;
            FaultKind::NetworkDegradation {
                zone,
                nodes,
                replication_bytes_per_second: b.replication_bandwidth.unwrap_or(1 << 20),
            }
        }
        "node-crash" => {
            let zone = zone()?;
            let nodes = nodes(&zone)?;
            FaultKind::NodeCrash { zone, nodes }
        }
        "volume-io-pause" => {
            let mut volumes = Vec::new();
            for v in b.volumes.iter().flatten() {
                volumes.push(VolumeId::parse(v).map_err(|e| format!("volumes: {e}"))?);
            }
            if let Some(tags) = &b.tags {
                volumes.extend(control.volumes_tagged(&region, tags));
            }
            if b.volumes.is_none() && b.tags.is_none() {
                return Err("volume-io-pause needs volumes (ids) or tags".into());
            }
            volumes.sort();
            volumes.dedup();
            FaultKind::VolumeIoPause { volumes }
        }
        "az-outage" => FaultKind::AzOutage { zone: zone()? },
        "node-crash-on-close" => FaultKind::NodeCrashOnClose {
            zone: zone()?,
            probability: b.probability.ok_or("node-crash-on-close needs a probability")?,
        },
        "api-error" => {
            let code = b.code.clone().ok_or("api-error needs an AWS error code (e.g. RequestLimitExceeded)")?;
            FaultKind::ApiError {
                service: service()?,
                actions: b.actions.clone().unwrap_or_default(),
                zone: api_zone()?,
                status: b.status.unwrap_or_else(|| default_status(&code)),
                code,
                probability,
            }
        }
        "api-latency" => FaultKind::ApiLatency {
            service: service()?,
            actions: b.actions.clone().unwrap_or_default(),
            zone: api_zone()?,
            latency_ms: b.latency_ms.ok_or("api-latency needs latencyMs")?,
            probability,
        },
        "capacity" => FaultKind::Capacity {
            zone: zone()?,
            add_nodes: b.add_nodes.ok_or("capacity needs addNodes")?,
            node_capacity: b.node_capacity_gib.unwrap_or(1024) << 30,
        },
        _ => unreachable_kind(&b.kind)?,
    };
    Ok((region, kind, duration))
}

fn unreachable_kind(kind: &str) -> Result<FaultKind, String> {
    Err(format!("unknown fault kind {kind:?}"))
}
