//! Fault rules: what the fault API installs, applied where each fault bites — the storage
//! fabric and nodes of a zone's cluster, a volume's data path, a zone's state, the API edge.
//! A rule is validated whole before anything changes (nothing is half-applied), has an id, an
//! optional duration after which it heals by itself, and is visible until removed.
//!
//! Healing a storage fault restores the fabric of its cluster and then re-applies the rules that
//! remain, so overlapping faults compose.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use serde::Serialize;
use squall_storage::{Network, NodeId, PolicyKind};

use crate::ids::{AzName, RegionName, VolumeId};
use crate::model::zone::ZoneState;
use crate::{ControlPlane, Region};

/// The fault vocabulary (see docs/faults.md).
/// Storage nodes a zone may have in all, `capacity` faults included (as `--storage-nodes-per-az`
/// allows at most): each node is a directory and a share of every scan.
pub const MAX_NODES_PER_ZONE: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Storage nodes of one zone cut off on the primary network, the replication network, or both.
    NetworkPartition { zone: AzName, nodes: Vec<u32>, networks: Vec<String> },
    /// The 2011 trigger: primary traffic shifted onto the replication network — primary down for
    /// those nodes, and the replication network capped to a bandwidth it cannot carry.
    NetworkDegradation { zone: AzName, nodes: Vec<u32>, replication_bytes_per_second: u64 },
    /// Nodes crashed (restarted when the fault heals).
    NodeCrash { zone: AzName, nodes: Vec<u32> },
    /// The 2011 race condition: a node of the zone crashes with this probability each time it
    /// closes a replication connection (it only bites in a re-mirroring storm). Nodes it crashed
    /// restart when the fault heals.
    NodeCrashOnClose { zone: AzName, probability: f64 },
    /// The FIS action `aws:ebs:pause-volume-io`: I/O to these volumes is held — EC2 volumes, and
    /// volumes of DB instances' storage (by their names in the block store).
    VolumeIoPause {
        volumes: Vec<VolumeId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        db_volumes: Vec<String>,
    },
    /// Every node of a zone isolated from everything; the zone reports `unavailable` and its
    /// control path refuses new volumes and instances.
    AzOutage { zone: AzName },
    /// The FIS actions `aws:fis:inject-api-*-error`: matching requests fail with the error named
    /// by `code`. The control plane only matches requests and draws the probability; the code is
    /// the fault author's, opaque here, and the API edge renders it in the service's protocol
    /// (its HTTP status, message and shape).
    ApiError { service: String, actions: Vec<String>, zone: Option<AzName>, code: String, probability: f64 },
    /// The FIS action `aws:fis:inject-api-throttle-error`'s cousin: added latency.
    ApiLatency { service: String, actions: Vec<String>, zone: Option<AzName>, latency_ms: u64, probability: f64 },
    /// New storage nodes in a zone (recovery capacity, as AWS added in 2011). Permanent.
    Capacity { zone: AzName, add_nodes: u32, node_capacity: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub id: String,
    pub region: RegionName,
    #[serde(flatten)]
    pub kind: FaultKind,
    pub started_ms: u64,
    pub ends_ms: Option<u64>,
    /// Nodes a `capacity` fault added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_nodes: Vec<u32>,
}

/// Why a fault was refused (the fault API answers 400 with it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("{0}")]
    Invalid(String),
    #[error("no fault with id {0}")]
    NotFound(String),
}

fn invalid(message: impl Into<String>) -> FaultError {
    FaultError::Invalid(message.into())
}

/// The installed rules and the random stream that decides probabilistic ones.
#[derive(Debug)]
pub(crate) struct FaultBook {
    faults: BTreeMap<String, Fault>,
    next: u64,
    rng: rand::rngs::StdRng,
}

impl FaultBook {
    pub(crate) fn new(seed: u64) -> Mutex<Self> {
        Mutex::new(Self { faults: BTreeMap::new(), next: 1, rng: rand::rngs::StdRng::seed_from_u64(seed ^ 0xfa17) })
    }
}

/// What the API edge must do to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiEffect {
    pub latency_ms: u64,
    /// The error code the request must fail with (see `FaultKind::ApiError`).
    pub error: Option<String>,
    pub fault_id: Option<String>,
}

impl FaultKind {
    /// The zone whose storage cluster the fault changes, for the kinds that change one.
    fn storage_zone(&self) -> Option<&AzName> {
        match self {
            FaultKind::NetworkPartition { zone, .. }
            | FaultKind::NetworkDegradation { zone, .. }
            | FaultKind::NodeCrash { zone, .. }
            | FaultKind::NodeCrashOnClose { zone, .. }
            | FaultKind::AzOutage { zone } => Some(zone),
            FaultKind::VolumeIoPause { .. }
            | FaultKind::ApiError { .. }
            | FaultKind::ApiLatency { .. }
            | FaultKind::Capacity { .. } => None,
        }
    }
}

fn networks(names: &[String]) -> Result<Vec<Network>, FaultError> {
    if names.is_empty() {
        return Ok(Network::BOTH.to_vec());
    }
    let mut out = Vec::new();
    for name in names {
        let named: &[Network] = match name.as_str() {
            "primary" => &[Network::Primary],
            "replication" => &[Network::Replication],
            "both" => &Network::BOTH,
            other => return Err(invalid(format!("unknown network {other:?} (expected primary, replication or both)"))),
        };
        out.extend(named.iter().copied().filter(|n| !out.contains(n)).collect::<Vec<_>>());
    }
    Ok(out)
}

fn node_ids(nodes: &[u32]) -> Vec<NodeId> {
    nodes.iter().copied().map(NodeId).collect()
}

impl ControlPlane {
    fn faults_lock(&self) -> std::sync::MutexGuard<'_, FaultBook> {
        self.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a rule against the region as it is; nothing changes.
    fn validate(&self, region: &Region, kind: &FaultKind) -> Result<(), FaultError> {
        let zone_exists = |z: &AzName| {
            region
                .zone_by_name(z.as_str())
                .map(|_| ())
                .map_err(|_| invalid(format!("no zone {z} in {}", region.name())))
        };
        let nodes_exist = |z: &AzName, nodes: &[u32]| -> Result<(), FaultError> {
            zone_exists(z)?;
            if nodes.is_empty() {
                return Err(invalid("nodes: name at least one storage node (or give a fraction)"));
            }
            let zone = region.zone_by_name(z.as_str()).map_err(|e| invalid(e.to_string()))?;
            let known = region
                .with_state(self.now_ms(), |state| Ok(state.storage_cluster(&zone.id)?.lock().node_ids()))
                .map_err(|e| invalid(e.to_string()))?;
            match nodes.iter().find(|n| !known.contains(&NodeId(**n))) {
                Some(n) => Err(invalid(format!("zone {z} has no storage node {n} (it has {})", known.len()))),
                None => Ok(()),
            }
        };
        match kind {
            FaultKind::NetworkPartition { zone, nodes, networks: names } => {
                networks(names)?;
                nodes_exist(zone, nodes)
            }
            FaultKind::NetworkDegradation { zone, nodes, .. } | FaultKind::NodeCrash { zone, nodes } => {
                nodes_exist(zone, nodes)
            }
            FaultKind::VolumeIoPause { volumes, db_volumes } => {
                if volumes.is_empty() && db_volumes.is_empty() {
                    return Err(invalid("volume-io-pause: no volume matches the target"));
                }
                region
                    .with_state(self.now_ms(), |state| {
                        for v in volumes {
                            state.volume(v)?;
                        }
                        Ok(())
                    })
                    .map_err(|e| invalid(e.to_string()))
            }
            FaultKind::AzOutage { zone } => zone_exists(zone),
            FaultKind::NodeCrashOnClose { zone, probability } => {
                zone_exists(zone)?;
                if !(*probability > 0.0 && *probability <= 1.0) {
                    return Err(invalid("probability must be in (0, 1]"));
                }
                Ok(())
            }
            FaultKind::ApiError { zone, probability, code, .. } => {
                if let Some(z) = zone {
                    zone_exists(z)?;
                }
                if !(0.0..=1.0).contains(probability) {
                    return Err(invalid("probability must be between 0 and 1"));
                }
                if code.is_empty() {
                    return Err(invalid("api-error needs an error code"));
                }
                Ok(())
            }
            FaultKind::ApiLatency { zone, probability, .. } => {
                if let Some(z) = zone {
                    zone_exists(z)?;
                }
                if !(0.0..=1.0).contains(probability) {
                    return Err(invalid("probability must be between 0 and 1"));
                }
                Ok(())
            }
            FaultKind::Capacity { zone, add_nodes, node_capacity } => {
                zone_exists(zone)?;
                if *add_nodes == 0 || *add_nodes > 64 || *node_capacity == 0 {
                    return Err(invalid("capacity: add_nodes must be 1-64 and node_capacity positive"));
                }
                Ok(())
            }
        }
    }

    /// Validates and installs a rule; answers it with its id.
    pub fn install_fault(
        &self,
        region: &RegionName,
        kind: FaultKind,
        duration_ms: Option<u64>,
    ) -> Result<Fault, FaultError> {
        let r = self.region(region);
        self.validate(&r, &kind)?;
        let now = self.now_ms();
        let mut book = self.faults_lock();
        let id = format!("fault-{:06}", book.next);
        book.next += 1;
        let mut fault = Fault {
            id: id.clone(),
            region: region.clone(),
            kind,
            started_ms: now,
            ends_ms: duration_ms.map(|d| now.saturating_add(d)),
            added_nodes: Vec::new(),
        };
        if let FaultKind::Capacity { zone, add_nodes, node_capacity } = &fault.kind {
            let zone_id = r.zone_by_name(zone.as_str()).map_err(|e| invalid(e.to_string()))?.id;
            let nodes = r
                .with_state(now, |state| Ok(state.storage_cluster(&zone_id)?.lock().node_ids().len()))
                .map_err(|e| invalid(e.to_string()))?;
            if nodes + *add_nodes as usize > MAX_NODES_PER_ZONE {
                return Err(invalid(format!(
                    "capacity: {zone} has {nodes} storage nodes; at most {MAX_NODES_PER_ZONE} per zone"
                )));
            }
            fault.added_nodes = r
                .with_state(now, |state| {
                    let shared = state.storage_cluster(&zone_id)?;
                    let mut c = shared.lock();
                    (0..*add_nodes)
                        .map(|_| c.add_node(*node_capacity).map(|n| n.0))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(crate::ControlError::from)
                })
                .map_err(|e| invalid(e.to_string()))?;
        }
        book.faults.insert(id, fault.clone());
        let active: Vec<Fault> = book.faults.values().cloned().collect();
        drop(book);
        self.apply_all(&r, &active, None);
        Ok(fault)
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.faults_lock().faults.values().cloned().collect()
    }

    pub fn fault(&self, id: &str) -> Result<Fault, FaultError> {
        self.faults_lock().faults.get(id).cloned().ok_or_else(|| FaultError::NotFound(id.to_string()))
    }

    /// Heals one rule; the others stay in force.
    pub fn remove_fault(&self, id: &str) -> Result<Fault, FaultError> {
        let mut book = self.faults_lock();
        let removed = book.faults.remove(id).ok_or_else(|| FaultError::NotFound(id.to_string()))?;
        let active: Vec<Fault> = book.faults.values().cloned().collect();
        drop(book);
        self.apply_all(&self.region(&removed.region), &active, Some(&removed));
        Ok(removed)
    }

    /// Heals every rule.
    pub fn remove_all_faults(&self) -> Vec<Fault> {
        let removed: Vec<Fault> = std::mem::take(&mut self.faults_lock().faults).into_values().collect();
        for f in &removed {
            self.apply_all(&self.region(&f.region), &[], Some(f));
        }
        removed
    }

    /// Heals rules whose duration has run out (called by the background tick).
    pub(crate) fn expire_faults(&self, now_ms: u64) {
        let expired: Vec<String> = self
            .faults_lock()
            .faults
            .values()
            .filter(|f| f.ends_ms.is_some_and(|e| now_ms >= e))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            if let Ok(f) = self.remove_fault(&id) {
                tracing::info!(fault = %f.id, "fault healed at the end of its duration");
            }
        }
    }

    /// Brings the region's state in line with `active` (after `removed`, if any, went away):
    /// storage fabrics of affected zones are healed and re-partitioned, crashed nodes restarted
    /// unless a rule still crashes them, zone states and paused volumes recomputed.
    fn apply_all(&self, region: &Region, active: &[Fault], removed: Option<&Fault>) {
        let now = self.now_ms();
        let mine: Vec<&Fault> = active.iter().filter(|f| f.region == *region.name()).collect();
        // Zones whose storage some rule touches (or touched).
        let zones: BTreeSet<&AzName> =
            mine.iter().copied().chain(removed).filter_map(|f| f.kind.storage_zone()).collect();
        for zone in &zones {
            let Ok(z) = region.zone_by_name(zone.as_str()) else { continue };
            let in_zone: Vec<&&Fault> = mine.iter().filter(|f| f.kind.storage_zone() == Some(*zone)).collect();
            let result = region.with_state(now, |state| {
                let shared = state.storage_cluster(&z.id)?;
                let mut c = shared.lock();
                let all_nodes = c.node_ids();
                c.heal();
                c.fabric_mut().cap_bandwidth(Network::Replication, None);
                let mut crashed: BTreeSet<NodeId> = BTreeSet::new();
                let on_close = in_zone.iter().find_map(|f| match f.kind {
                    FaultKind::NodeCrashOnClose { probability, .. } => Some(probability),
                    _ => None,
                });
                c.set_crash_on_close(on_close);
                if on_close.is_some() {
                    // Nodes the race crashed stay down while the rule is in force.
                    crashed.extend(c.crashed_on_close());
                } else {
                    c.clear_crashed_on_close();
                }
                for f in &in_zone {
                    match &f.kind {
                        FaultKind::NetworkPartition { nodes, networks: names, .. } => {
                            c.partition(&node_ids(nodes), &networks(names).unwrap_or_default());
                        }
                        FaultKind::NetworkDegradation { nodes, replication_bytes_per_second, .. } => {
                            c.partition(&node_ids(nodes), &[Network::Primary]);
                            c.fabric_mut().cap_bandwidth(Network::Replication, Some(*replication_bytes_per_second));
                        }
                        FaultKind::NodeCrash { nodes, .. } => crashed.extend(node_ids(nodes)),
                        FaultKind::AzOutage { .. } => c.partition(&all_nodes, &Network::BOTH),
                        _ => {}
                    }
                }
                let up_nodes: BTreeSet<NodeId> = c.status().nodes.iter().filter(|s| s.up).map(|s| s.id).collect();
                for n in &all_nodes {
                    let up = up_nodes.contains(n);
                    if crashed.contains(n) && up {
                        c.crash_node(*n)?;
                    } else if !crashed.contains(n) && !up {
                        c.restart_node(*n)?;
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                tracing::warn!(error = %e, %zone, "applying fault rules failed");
            }
        }
        // Zone states: an outage makes the zone impaired, a degradation too, with a message.
        let mut states: BTreeMap<AzName, (ZoneState, Vec<String>)> = BTreeMap::new();
        for f in &mine {
            let (zone, state, message) = match &f.kind {
                FaultKind::AzOutage { zone } => (
                    zone,
                    ZoneState::Unavailable,
                    format!("{zone} is experiencing an outage: instances and volumes in it are unreachable ({})", f.id),
                ),
                FaultKind::NetworkDegradation { zone, .. } => (
                    zone,
                    ZoneState::Impaired,
                    format!("Elevated EBS latencies and errors in {zone}: network degradation ({})", f.id),
                ),
                _ => continue,
            };
            let entry = states.entry(zone.clone()).or_insert((ZoneState::Available, Vec::new()));
            // The worst state wins: unavailable over impaired.
            if entry.0 != ZoneState::Unavailable {
                entry.0 = state;
            }
            entry.1.push(message);
        }
        region.set_zone_states(&states);
        // Paused volumes.
        let paused: BTreeSet<VolumeId> = mine
            .iter()
            .filter_map(|f| match &f.kind {
                FaultKind::VolumeIoPause { volumes, .. } => Some(volumes.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let db_paused: BTreeSet<String> = mine
            .iter()
            .filter_map(|f| match &f.kind {
                FaultKind::VolumeIoPause { db_volumes, .. } => Some(db_volumes.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let _ = region.with_state(now, |state| {
            state.set_paused(paused, now);
            Ok(())
        });
        region.set_db_paused(db_paused, now);
    }

    /// What the API edge must do to a request of `service`/`action`, for a zone if the request
    /// names one.
    pub fn api_effect(&self, region: &str, service: &str, action: Option<&str>, zone: Option<&str>) -> ApiEffect {
        let mut book = self.faults_lock();
        if book.faults.is_empty() {
            return ApiEffect::default();
        }
        let matching: Vec<Fault> = book
            .faults
            .values()
            .filter(|f| f.region.as_str() == region)
            .filter(|f| match &f.kind {
                FaultKind::ApiError { service: s, actions, zone: z, .. }
                | FaultKind::ApiLatency { service: s, actions, zone: z, .. } => {
                    s.eq_ignore_ascii_case(service)
                        && (actions.is_empty() || action.is_some_and(|a| actions.iter().any(|x| x == a)))
                        && z.as_ref().is_none_or(|z| zone == Some(z.as_str()))
                }
                _ => false,
            })
            .cloned()
            .collect();
        let mut effect = ApiEffect::default();
        for f in matching {
            match f.kind {
                FaultKind::ApiLatency { latency_ms, probability, .. } if book.rng.gen_bool(probability) => {
                    effect.latency_ms += latency_ms;
                }
                FaultKind::ApiError { code, probability, .. }
                    if effect.error.is_none() && book.rng.gen_bool(probability) =>
                {
                    effect.error = Some(code);
                    effect.fault_id = Some(f.id.clone());
                }
                _ => {}
            }
        }
        effect
    }

    /// Switches the re-mirroring policy of every cluster, now and for clusters opened later.
    pub fn set_policy(&self, kind: PolicyKind) -> Result<(), crate::ControlError> {
        *self.policy.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = kind;
        for name in self.known_regions() {
            self.region(&name).set_policy(kind, self.now_ms())?;
        }
        Ok(())
    }

    pub fn policy(&self) -> PolicyKind {
        *self.policy.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One zone as `GET /_squall/status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneStatus {
    pub name: String,
    pub id: String,
    pub state: &'static str,
    pub messages: Vec<String>,
    /// The zone's storage cluster, if it has been opened.
    pub storage: Option<crate::status::ZoneStorageStatus>,
    /// DB instances whose primary or standby is in the zone.
    pub db_instances: crate::status::ZoneDbStatus,
    /// EBS volumes of the zone whose I/O EBS disabled after they were stuck (their status says
    /// "Awaiting Action: Enable IO"): their I/O waits until `EnableVolumeIO` or auto-enable.
    pub volumes_io_disabled: usize,
}

impl ControlPlane {
    /// The storage node ids of a zone (opening its cluster if needed).
    pub fn storage_nodes(&self, region: &RegionName, zone: &str) -> Result<Vec<u32>, FaultError> {
        let r = self.region(region);
        let z = r.zone_by_name(zone).map_err(|_| invalid(format!("no zone {zone} in {region}")))?;
        r.with_state(self.now_ms(), |state| {
            Ok(state.storage_cluster(&z.id)?.lock().node_ids().into_iter().map(|n| n.0).collect())
        })
        .map_err(|e| invalid(e.to_string()))
    }

    /// The block-store volumes of DB instances' primary storage (all, or the `index`th stripe of
    /// each), for `volume-io-pause`.
    pub fn db_instance_volumes(
        &self,
        region: &RegionName,
        instances: &[String],
        index: Option<usize>,
    ) -> Result<Vec<String>, crate::ControlError> {
        self.region(region).read(self.now_ms(), |state| {
            let mut out = Vec::new();
            for id in instances {
                let i = state.db_instance(id)?;
                match index {
                    None => out.extend(i.primary.volumes.iter().cloned()),
                    Some(n) => out.push(i.primary.volumes.get(n).cloned().ok_or_else(|| {
                        crate::model::rds::RdsError::InvalidParameterValue(format!(
                            "DB instance {} has {} volumes: dbVolume must be below {}",
                            i.id,
                            i.primary.volumes.len(),
                            i.primary.volumes.len()
                        ))
                    })?),
                }
            }
            Ok(out)
        })
    }

    /// Volumes of the region that carry every one of `tags` (FIS's tag targets).
    pub fn volumes_tagged(&self, region: &RegionName, tags: &BTreeMap<String, String>) -> Vec<VolumeId> {
        self.region(region)
            .with_state(self.now_ms(), |state| {
                let (volumes, _) =
                    state.volumes_after(None, usize::MAX, |v| tags.iter().all(|(k, val)| v.tags.get(k) == Some(val)));
                Ok(volumes.into_iter().map(|v| v.id).collect())
            })
            .unwrap_or_default()
    }

    /// Every zone of every region in use, with its storage cluster's status.
    pub fn status(&self) -> BTreeMap<String, Vec<ZoneStatus>> {
        let now = self.now_ms();
        let mut out = BTreeMap::new();
        for name in self.known_regions() {
            let region = self.region(&name);
            let (clusters, mut db, mut io_disabled) = region
                .with_state(now, |state| {
                    let mut io_disabled: BTreeMap<String, usize> = BTreeMap::new();
                    let (volumes, _) = state.volumes_after(None, usize::MAX, |v| v.io_disabled());
                    for v in volumes {
                        *io_disabled.entry(v.zone.to_string()).or_default() += 1;
                    }
                    Ok((state.storage_status(), state.db_status().unwrap_or_default(), io_disabled))
                })
                .unwrap_or_default();
            let clusters: BTreeMap<String, crate::status::ZoneStorageStatus> =
                clusters.into_iter().map(|c| (c.name.clone(), c)).collect();
            let zones = region
                .zones()
                .into_iter()
                .map(|z| ZoneStatus {
                    name: z.name.to_string(),
                    id: z.id.to_string(),
                    state: match z.state {
                        ZoneState::Available => "available",
                        ZoneState::Impaired => "impaired",
                        ZoneState::Unavailable => "unavailable",
                    },
                    messages: z.messages.clone(),
                    storage: clusters.get(z.id.as_str()).cloned(),
                    db_instances: db.remove(&z.name).unwrap_or_default(),
                    volumes_io_disabled: io_disabled.remove(z.name.as_str()).unwrap_or_default(),
                })
                .collect();
            out.insert(name.to_string(), zones);
        }
        out
    }
}
