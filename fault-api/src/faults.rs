//! `POST /_squall/faults` bodies: JSON with a `kind` and the fields that kind takes, turned into
//! the control plane's [`FaultKind`] with every field checked. Unknown fields, missing ones and
//! bad values are refused with a message that names them.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;
use squall_control::faults::FaultKind;
use squall_control::{AzName, ControlPlane, RegionName, VolumeId};

/// A fault body without its `region` and `duration` (every kind takes those): the kind names
/// the variant, and each variant takes exactly its own fields.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Body {
    #[serde(rename_all = "camelCase")]
    NetworkPartition {
        zone: String,
        nodes: Option<Vec<u32>>,
        fraction: Option<f64>,
        seed: Option<u64>,
        networks: Option<Vec<String>>,
    },
    #[serde(rename_all = "camelCase")]
    NetworkDegradation {
        zone: String,
        nodes: Option<Vec<u32>>,
        fraction: Option<f64>,
        seed: Option<u64>,
        /// What the replication network still carries, bytes per second.
        replication_bandwidth: Option<u64>,
    },
    NodeCrash {
        zone: String,
        nodes: Option<Vec<u32>>,
        fraction: Option<f64>,
        seed: Option<u64>,
    },
    NodeCrashOnClose {
        zone: String,
        probability: f64,
    },
    #[serde(rename_all = "camelCase")]
    VolumeIoPause {
        volumes: Option<Vec<String>>,
        /// Every volume with all these tags.
        tags: Option<BTreeMap<String, String>>,
        /// The storage of these DB instances (its primary's volumes)…
        db_instances: Option<Vec<String>>,
        /// …or only its `dbVolume`th stripe (0-based).
        db_volume: Option<usize>,
    },
    AzOutage {
        zone: String,
    },
    ApiError {
        service: String,
        actions: Option<Vec<String>>,
        zone: Option<String>,
        code: String,
        probability: Option<f64>,
    },
    #[serde(rename_all = "camelCase")]
    ApiLatency {
        service: String,
        actions: Option<Vec<String>>,
        zone: Option<String>,
        latency_ms: u64,
        probability: Option<f64>,
    },
    #[serde(rename_all = "camelCase")]
    Capacity {
        zone: String,
        add_nodes: u32,
        node_capacity_gib: Option<u64>,
    },
}

const KINDS: &str = "network-partition, network-degradation, node-crash, node-crash-on-close, volume-io-pause, \
                     az-outage, api-error, api-latency, capacity";

/// serde's message in the fault API's words (it still names the field or kind at fault).
fn body_error(kind: &str, e: &serde_json::Error) -> String {
    let text = e.to_string();
    let quoted = |s: &str| s.split('`').nth(1).unwrap_or_default().to_string();
    if text.starts_with("unknown variant") {
        format!("unknown fault kind {:?}; kinds: {KINDS}", quoted(&text))
    } else if text.starts_with("missing field `kind`") {
        format!("a fault needs a kind; kinds: {KINDS}")
    } else if text.starts_with("missing field") {
        format!("{kind} needs a {}", quoted(&text))
    } else if text.starts_with("unknown field") {
        format!("{kind} does not take {:?}: {text}", quoted(&text))
    } else {
        format!("malformed fault body: {text}")
    }
}

/// The longest `duration` a fault may have: a week, in seconds (a drill is hours long).
pub const MAX_DURATION_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// The most latency an `api-latency` fault may add: ten minutes, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 600_000;
/// The largest storage node a `capacity` fault may add: 1 PiB, in GiB.
pub const MAX_NODE_CAPACITY_GIB: u64 = 1 << 20;

/// Checks a body and builds the rule; answers (region, kind, duration in ms).
pub fn parse(
    control: &ControlPlane,
    default_region: &str,
    body: &[u8],
) -> Result<(RegionName, FaultKind, Option<u64>), String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed fault body: {e}"))?;
    let fields = value.as_object_mut().ok_or("malformed fault body: a JSON object is expected")?;
    let kind_name = fields.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
    let region_name = match fields.remove("region") {
        None | Some(serde_json::Value::Null) => default_region.to_string(),
        Some(serde_json::Value::String(r)) => r,
        Some(other) => return Err(format!("region must be a string, not {other}")),
    };
    if !control.serves_region(&region_name) {
        return Err(format!("squall does not serve region {region_name} (name it with --extra-regions to add it)"));
    }
    let duration = match fields.remove("duration") {
        None | Some(serde_json::Value::Null) => None,
        Some(d) => match d.as_f64() {
            Some(d) if d.is_finite() && d > 0.0 && d <= MAX_DURATION_SECONDS => Some((d * 1000.0).round() as u64),
            _ => {
                return Err(format!(
                    "duration must be a positive number of seconds, at most {MAX_DURATION_SECONDS} (a week)"
                ))
            }
        },
    };
    let b: Body = serde_json::from_value(value).map_err(|e| body_error(&kind_name, &e))?;
    let region = RegionName::parse(&region_name).map_err(|e| format!("region: {e}"))?;
    let zone = |z: &str| -> Result<AzName, String> {
        control.region(&region).zone_by_name(z).map(|z| z.name).map_err(|_| format!("no zone {z} in {region}"))
    };
    let nodes = |zone: &AzName, choice: (Option<Vec<u32>>, Option<f64>, Option<u64>)| -> Result<Vec<u32>, String> {
        match choice {
            (Some(_), Some(_), _) => Err("give nodes or fraction, not both".into()),
            (Some(n), None, _) => Ok(n),
            (None, Some(f), seed) if f > 0.0 && f <= 1.0 => {
                let mut all = control.storage_nodes(&region, zone.as_str()).map_err(|e| e.to_string())?;
                let take = ((all.len() as f64) * f).round().max(1.0) as usize;
                all.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed.unwrap_or(0)));
                all.truncate(take);
                all.sort_unstable();
                Ok(all)
            }
            (None, Some(_), _) => Err("fraction must be in (0, 1]".into()),
            (None, None, _) => Err(format!("{kind_name} needs nodes (ids) or a fraction")),
        }
    };
    let api_zone = |z: Option<String>| -> Result<Option<AzName>, String> { z.as_deref().map(zone).transpose() };
    let service = |s: String| -> Result<String, String> {
        match s.as_str() {
            "ec2" | "ebs" | "sts" | "rds" | "fis" => Ok(s),
            other => Err(format!("unknown service {other:?} (ec2, ebs, sts, rds, fis)")),
        }
    };
    let kind = match b {
        Body::NetworkPartition { zone: z, nodes: n, fraction, seed, networks } => {
            let zone = zone(&z)?;
            let nodes = nodes(&zone, (n, fraction, seed))?;
            // Stored as applied: no list means both networks, and the fault says so.
            FaultKind::NetworkPartition { zone, nodes, networks: networks.unwrap_or_else(|| vec!["both".to_string()]) }
        }
        Body::NetworkDegradation { zone: z, nodes: n, fraction, seed, replication_bandwidth } => {
            let zone = zone(&z)?;
            let nodes = nodes(&zone, (n, fraction, seed))?;
            FaultKind::NetworkDegradation {
                zone,
                nodes,
                replication_bytes_per_second: replication_bandwidth.unwrap_or(1 << 20),
            }
        }
        Body::NodeCrash { zone: z, nodes: n, fraction, seed } => {
            let zone = zone(&z)?;
            let nodes = nodes(&zone, (n, fraction, seed))?;
            FaultKind::NodeCrash { zone, nodes }
        }
        Body::VolumeIoPause { volumes: ids, tags, db_instances, db_volume } => {
            if ids.is_none() && tags.is_none() && db_instances.is_none() {
                return Err("volume-io-pause needs volumes (ids), tags or dbInstances".into());
            }
            if db_volume.is_some() && db_instances.is_none() {
                return Err("volume-io-pause: dbVolume needs dbInstances".into());
            }
            let db_volumes = match &db_instances {
                Some(ids) => control.db_instance_volumes(&region, ids, db_volume).map_err(|e| e.to_string())?,
                None => Vec::new(),
            };
            let mut volumes = Vec::new();
            for v in ids.iter().flatten() {
                volumes.push(VolumeId::parse(v).map_err(|e| format!("volumes: {e}"))?);
            }
            if let Some(tags) = &tags {
                volumes.extend(control.volumes_tagged(&region, tags));
            }
            volumes.sort();
            volumes.dedup();
            FaultKind::VolumeIoPause { volumes, db_volumes }
        }
        Body::AzOutage { zone: z } => FaultKind::AzOutage { zone: zone(&z)? },
        Body::NodeCrashOnClose { zone: z, probability } => FaultKind::NodeCrashOnClose { zone: zone(&z)?, probability },
        Body::ApiError { service: s, actions, zone: z, code, probability } => FaultKind::ApiError {
            service: service(s)?,
            actions: actions.unwrap_or_default(),
            zone: api_zone(z)?,
            code,
            probability: probability.unwrap_or(1.0),
        },
        Body::ApiLatency { latency_ms, .. } if latency_ms > MAX_LATENCY_MS => {
            return Err(format!("latencyMs must be at most {MAX_LATENCY_MS} (ten minutes)"))
        }
        Body::ApiLatency { service: s, actions, zone: z, latency_ms, probability } => FaultKind::ApiLatency {
            service: service(s)?,
            actions: actions.unwrap_or_default(),
            zone: api_zone(z)?,
            latency_ms,
            probability: probability.unwrap_or(1.0),
        },
        Body::Capacity { zone: z, add_nodes, node_capacity_gib } => {
            let gib = node_capacity_gib.unwrap_or(1024);
            if gib == 0 || gib > MAX_NODE_CAPACITY_GIB {
                return Err(format!("nodeCapacityGib must be 1 to {MAX_NODE_CAPACITY_GIB} (1 PiB)"));
            }
            FaultKind::Capacity { zone: zone(&z)?, add_nodes, node_capacity: gib << 30 }
        }
    };
    Ok((region, kind, duration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use squall_control::ControlConfig;

    fn check(body: &str) -> Result<FaultKind, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let control =
            ControlPlane::new(ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.path().into()));
        parse(&control, "us-east-1", body.as_bytes()).map(|(_, kind, _)| kind)
    }

    #[test]
    fn each_kind_takes_exactly_its_fields() {
        let cases = [
            (r#"{"kind":"meteor"}"#, "unknown fault kind \"meteor\""),
            (r#"{"zone":"us-east-1a"}"#, "a fault needs a kind"),
            (r#"{"kind":"az-outage"}"#, "az-outage needs a zone"),
            (r#"{"kind":"az-outage","zone":"us-east-1a","nodes":[1]}"#, "az-outage does not take \"nodes\""),
            (r#"{"kind":"node-crash","zone":"us-east-1a","colour":"red"}"#, "unknown field `colour`"),
            (r#"{"kind":"node-crash","zone":"us-east-1a"}"#, "node-crash needs nodes (ids) or a fraction"),
            (r#"{"kind":"capacity","zone":"us-east-1a"}"#, "capacity needs a addNodes"),
            (r#"{"kind":"az-outage","zone":"us-east-1a","duration":"soon"}"#, "duration must be a positive"),
            (r#"[1,2]"#, "a JSON object is expected"),
            // Numbers are bounded before any arithmetic: no wrap, no rule that never ends.
            (r#"{"kind":"az-outage","zone":"us-east-1a","duration":1e19}"#, "at most 604800"),
            (r#"{"kind":"az-outage","zone":"us-east-1a","duration":1e300}"#, "at most 604800"),
            (r#"{"kind":"az-outage","zone":"us-east-1a","duration":18446744073709551616}"#, "at most 604800"),
            (r#"{"kind":"api-latency","service":"ec2","latencyMs":18446744073709551615}"#, "latencyMs must be at most"),
            (r#"{"kind":"capacity","zone":"us-east-1a","addNodes":1,"nodeCapacityGib":17179869184}"#, "1 PiB"),
            (r#"{"kind":"capacity","zone":"us-east-1a","addNodes":1,"nodeCapacityGib":18446744073709551615}"#, "1 PiB"),
            (r#"{"kind":"capacity","zone":"us-east-1a","addNodes":1,"nodeCapacityGib":0}"#, "1 PiB"),
        ];
        for (body, expected) in cases {
            let err = check(body).expect_err(body);
            assert!(err.contains(expected), "{body}: {err:?} should mention {expected:?}");
        }
        assert!(matches!(
            check(r#"{"kind":"node-crash","zone":"us-east-1b","nodes":[0,2],"duration":5}"#),
            Ok(FaultKind::NodeCrash { nodes, .. }) if nodes == [0, 2]
        ));
        assert!(matches!(
            check(r#"{"kind":"api-error","service":"ec2","code":"RequestLimitExceeded"}"#),
            Ok(FaultKind::ApiError { code, .. }) if code == "RequestLimitExceeded"
        ));
    }
}
