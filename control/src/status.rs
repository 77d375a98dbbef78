//! The block store as the control plane shows it to status pages and metrics: the control
//! plane's own view (so the fault API and the server never see storage types, and a change of
//! storage internals changes nothing beyond this file).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{ControlPlane, RegionName};

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
    /// Storage volumes no EC2 volume or DB instance named, removed when the region opened.
    pub orphans_reclaimed: u64,
}

/// A zone's DB instances: primaries and standbys placed there, and primaries whose storage is
/// stuck now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneDbStatus {
    pub primaries: usize,
    pub standbys: usize,
    pub stuck: usize,
    /// Multi-AZ failovers completed by the instances whose primary is here now (their
    /// `Multi-AZ instance failover completed` events still kept).
    pub failovers: usize,
    /// Primaries here whose automatic failover was refused: their standby was not in sync.
    pub failovers_refused: usize,
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
                orphans_reclaimed: c.orphans_reclaimed,
            },
        }
    }
}

/// What a zone holds, counted by state (`available`, `in-use`, …; `running`, `stopped`, …): the
/// dashboard's figures beside the storage status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInventory {
    pub volumes: BTreeMap<String, usize>,
    pub instances: BTreeMap<String, usize>,
}

/// One EBS volume as the dashboard's search lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeRow {
    pub id: String,
    pub zone: String,
    pub size_gib: u32,
    pub volume_type: String,
    pub state: String,
    /// The instance it is attached to, if any.
    pub instance: Option<String>,
    /// Its `Name` tag.
    pub name: Option<String>,
    /// `ok`, `stuck` (its I/O waits on the block store), or `io-disabled` (EBS disabled its I/O
    /// after a failover; `EnableVolumeIO` resumes it).
    pub health: &'static str,
}

/// A serde enum's wire word (`in-use`, `shutting-down`).
fn word(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl ControlPlane {
    /// Volumes and instances of each zone of `region`, counted by state.
    pub fn zone_inventory(&self, region: &RegionName) -> BTreeMap<String, ZoneInventory> {
        self.region(region)
            .read(self.now_ms(), |state| {
                let mut zones: BTreeMap<String, ZoneInventory> = BTreeMap::new();
                let (volumes, _) = state.volumes_after(None, usize::MAX, |_| true);
                for v in volumes {
                    *zones.entry(v.zone.to_string()).or_default().volumes.entry(word(&v.state)).or_default() += 1;
                }
                let (instances, _) = state.instances_after(None, usize::MAX, |_| true);
                for i in instances {
                    *zones.entry(i.zone.to_string()).or_default().instances.entry(word(&i.state)).or_default() += 1;
                }
                Ok(zones)
            })
            .unwrap_or_default()
    }

    /// The volumes of `region` whose id, zone, state, health, `Name` tag or instance contains
    /// every word of `query` (case-insensitive), at most `limit` of them in id order, and how
    /// many matched in all.
    pub fn find_volumes(&self, region: &RegionName, query: &str, limit: usize) -> (Vec<VolumeRow>, usize) {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        self.region(region)
            .read(self.now_ms(), |state| {
                let (volumes, _) = state.volumes_after(None, usize::MAX, |_| true);
                let mut rows = Vec::new();
                let mut matched = 0;
                for v in volumes {
                    let health = if v.io_disabled() {
                        "io-disabled"
                    } else {
                        match state.volume_health(&v.id) {
                            Ok(crate::model::volume::VolumeHealth::Stuck) => "stuck",
                            _ => "ok",
                        }
                    };
                    let row = VolumeRow {
                        id: v.id.to_string(),
                        zone: v.zone.to_string(),
                        size_gib: v.size_gib,
                        volume_type: word(&v.volume_type),
                        state: word(&v.state),
                        instance: v.attachments.first().map(|a| a.instance.to_string()),
                        name: v.tags.get("Name").cloned(),
                        health,
                    };
                    let haystack = format!(
                        "{} {} {} {} {} {}",
                        row.id,
                        row.zone,
                        row.state,
                        row.health,
                        row.name.as_deref().unwrap_or_default(),
                        row.instance.as_deref().unwrap_or_default()
                    )
                    .to_lowercase();
                    if words.iter().all(|w| haystack.contains(w.as_str())) {
                        matched += 1;
                        if rows.len() < limit {
                            rows.push(row);
                        }
                    }
                }
                Ok((rows, matched))
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::faults::FaultKind;
    use crate::test_support::TestRegion;

    #[test]
    fn inventory_counts_by_zone_and_state_and_the_search_sees_names_and_stuck_volumes() {
        let t = TestRegion::new();
        let us_east_1 = crate::RegionName::parse("us-east-1").unwrap();
        let mut named = t.volume_spec("us-east-1a", 1);
        named.tags.insert("Name".into(), "Orders-DB".into());
        let a1 = t.region.create_volume(named, t.now(), false).unwrap();
        let a2 = t.region.create_volume(t.volume_spec("us-east-1a", 2), t.now(), false).unwrap();
        t.region.create_volume(t.volume_spec("us-east-1b", 1), t.now(), false).unwrap();
        t.launch("us-east-1b", &[]).unwrap();
        t.advance(60_000);

        let inv = t.control.zone_inventory(&us_east_1);
        assert_eq!(inv["us-east-1a"].volumes, [("available".to_string(), 2)].into());
        assert!(inv["us-east-1a"].instances.is_empty());
        // The instance's root volume is in use in its zone.
        assert_eq!(inv["us-east-1b"].volumes, [("available".to_string(), 1), ("in-use".to_string(), 1)].into());
        assert_eq!(inv["us-east-1b"].instances, [("running".to_string(), 1)].into());

        let (rows, matched) = t.control.find_volumes(&us_east_1, "orders", 10);
        assert_eq!((matched, rows.len()), (1, 1));
        assert_eq!(
            (rows[0].id.as_str(), rows[0].name.as_deref(), rows[0].health),
            (a1.id.as_str(), Some("Orders-DB"), "ok")
        );
        // Every word must match; the limit caps rows, not the count.
        assert_eq!(t.control.find_volumes(&us_east_1, "US-EAST-1A available", 1).1, 2);
        assert_eq!(t.control.find_volumes(&us_east_1, "US-EAST-1A available", 1).0.len(), 1);
        assert_eq!(t.control.find_volumes(&us_east_1, "us-east-1a in-use", 10).1, 0);

        let pause = FaultKind::VolumeIoPause { volumes: vec![a2.id.clone()], db_volumes: Vec::new() };
        t.control.install_fault(&us_east_1, pause, None).unwrap();
        let (rows, matched) = t.control.find_volumes(&us_east_1, "stuck", 10);
        assert_eq!(matched, 1);
        assert_eq!((rows[0].id.as_str(), rows[0].health), (a2.id.as_str(), "stuck"));
    }
}
