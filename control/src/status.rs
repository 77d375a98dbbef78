//! The block store as the control plane shows it to status pages and metrics: the control
//! plane's own view (so the fault API and the server never see storage types, and a change of
//! storage internals changes nothing beyond this file).

use serde::Serialize;

/// One storage node of a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodeStatus {
    pub id: u32,
    pub up: bool,
    pub isolated_primary: bool,
    pub isolated_replication: bool,
    /// Bytes the node can hold.
    pub capacity: u64,
    /// Provisioned bytes of the replicas it holds plus space reserved for incoming copies.
    pub used: u64,
    pub replicas: usize,
}

/// What re-mirroring has done in a zone since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemirrorCounters {
    pub remirror_attempts: u64,
    pub remirror_successes: u64,
    pub reconnects: u64,
    pub stale_copies_refused: u64,
    pub failures_no_space: u64,
    pub copies_aborted: u64,
    pub bytes_copied: u64,
    pub stuck_events: u64,
    pub crashes_on_close: u64,
    pub stuck_millis: u64,
    pub corruptions_detected: u64,
    pub corruptions_repaired: u64,
}

/// A zone's DB instances: primaries and standbys placed there, and primaries whose storage is
/// stuck now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneDbStatus {
    pub primaries: usize,
    pub standbys: usize,
    pub stuck: usize,
}

/// A zone's storage cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneStorageStatus {
    /// The zone id the cluster serves.
    pub name: String,
    /// `legacy` or `hardened`.
    pub policy: &'static str,
    pub nodes: Vec<StorageNodeStatus>,
    pub volumes: usize,
    pub healthy: usize,
    pub stuck: usize,
    /// Stuck volumes whose copy to a new peer is under way.
    pub remirroring: usize,
    /// Re-mirror jobs waiting or running.
    pub queue: usize,
    /// Replaced replicas still holding their space while they search for a peer (legacy).
    pub stale_searching: usize,
    pub counters: RemirrorCounters,
}

impl From<squall_storage::ClusterStatus> for ZoneStorageStatus {
    fn from(s: squall_storage::ClusterStatus) -> Self {
        let c = s.counters;
        Self {
            name: s.name,
            policy: match s.policy {
                squall_storage::PolicyKind::Legacy => "legacy",
                squall_storage::PolicyKind::Hardened => "hardened",
            },
            nodes: s
                .nodes
                .into_iter()
                .map(|n| StorageNodeStatus {
                    id: n.id.0,
                    up: n.up,
                    isolated_primary: n.isolated_primary,
                    isolated_replication: n.isolated_replication,
                    capacity: n.capacity,
                    used: n.used,
                    replicas: n.replicas,
                })
                .collect(),
            volumes: s.volumes,
            healthy: s.healthy,
            stuck: s.stuck,
            remirroring: s.remirroring,
            queue: s.queue,
            stale_searching: s.stale_searching,
            counters: RemirrorCounters {
                remirror_attempts: c.remirror_attempts,
                remirror_successes: c.remirror_successes,
                reconnects: c.reconnects,
                stale_copies_refused: c.stale_copies_refused,
                failures_no_space: c.failures_no_space,
                copies_aborted: c.copies_aborted,
                bytes_copied: c.bytes_copied,
                stuck_events: c.stuck_events,
                crashes_on_close: c.crashes_on_close,
                stuck_millis: c.stuck_millis,
                corruptions_detected: c.corruptions_detected,
                corruptions_repaired: c.corruptions_repaired,
            },
        }
    }
}
