//! The 2011 re-mirroring storm in small. One AZ's cluster, well filled; a large fraction of its
//! nodes is cut off on both networks (the mistaken traffic shift), then the network is restored.
//! With the `legacy` policy the cluster runs out of space, a share of the volumes stays stuck
//! and re-mirror attempts keep climbing; with `hardened` (same seed, same cluster) the volumes
//! reconnect to their previous peers and attempts stay bounded.

use std::sync::Arc;
use std::time::Duration;

use squall_storage::{Cluster, ClusterConfig, Counters, ManualClock, Network, NodeId, PolicyKind, VolumeId};

const GIB: u64 = 1 << 30;
const NODES: u32 = 10;
/// Each node holds 10 GiB; 43 volumes of 1 GiB fill the cluster to 86% (replicas are provisioned).
const NODE_CAPACITY: u64 = 10 * GIB;
const VOLUMES: usize = 43;
const SEED: u64 = 2011;
/// The share of nodes the traffic shift isolated.
const ISOLATED: u32 = 4;

struct Outcome {
    stuck_during: usize,
    stuck_after: usize,
    attempts_after_heal: u64,
    attempts_at_end: u64,
    /// Space still held by replicas the authority had already replaced.
    held_by_stale: u64,
    counters: Counters,
}

fn storm(policy: PolicyKind) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new();
    let config = ClusterConfig { nodes: NODES, node_capacity: NODE_CAPACITY, policy, ..ClusterConfig::default() };
    let mut c = Cluster::open(dir.path(), "use1-az1", &config, Arc::new(clock.clone()), SEED).expect("open");
    // Copies take time: 20 ms per transfer on either network.
    for n in Network::BOTH {
        c.fabric_mut().set_latency(n, Duration::from_millis(20));
    }
    let volumes: Vec<VolumeId> = (0..VOLUMES).map(|i| VolumeId::new(&format!("vol-{i:03}")).expect("name")).collect();
    for (i, v) in volumes.iter().enumerate() {
        c.create_volume(v, GIB).expect("create");
        c.write(v, (i as u64) * 4096, &[i as u8; 64 * 1024]).expect("write");
    }
    let isolated: Vec<NodeId> = (0..ISOLATED).map(NodeId).collect();
    c.partition(&isolated, &Network::BOTH);
    // Ten minutes of isolation, ticking every 100 ms.
    for _ in 0..6000 {
        clock.advance(Duration::from_millis(100));
        c.tick().expect("tick");
    }
    let stuck_during = c.status().stuck;
    c.heal();
    for _ in 0..100 {
        clock.advance(Duration::from_millis(100));
        c.tick().expect("tick");
    }
    let attempts_after_heal = c.counters().remirror_attempts;
    // Another ten minutes after the network is back.
    for _ in 0..6000 {
        clock.advance(Duration::from_millis(100));
        c.tick().expect("tick");
    }
    let status = c.status();
    let held_by_stale = c.leaked_bytes();
    if policy == PolicyKind::Hardened {
        assert_eq!(held_by_stale, 0, "hardened: replaced replicas must give their space back");
    }
    for v in &volumes {
        assert!(c.writable_primaries(v).len() <= 1);
    }
    Outcome {
        stuck_during,
        stuck_after: status.stuck,
        attempts_after_heal,
        attempts_at_end: status.counters.remirror_attempts,
        held_by_stale,
        counters: status.counters,
    }
}

fn print(name: &str, o: &Outcome) {
    let c = &o.counters;
    println!(
        "{name:8} stuck during isolation {:>2}/{VOLUMES} ({:>4.1}%), after healing {:>2}/{VOLUMES} ({:>4.1}%); \
         attempts {} (1 s after heal) -> {} (10 min later); successes {}, reconnects {}, no-space failures {}, \
         bytes copied {}, stale copies refused {}, held by replaced replicas {} GiB, stuck events {}, stuck time {} s",
        o.stuck_during,
        100.0 * o.stuck_during as f64 / VOLUMES as f64,
        o.stuck_after,
        100.0 * o.stuck_after as f64 / VOLUMES as f64,
        o.attempts_after_heal,
        o.attempts_at_end,
        c.remirror_successes,
        c.reconnects,
        c.failures_no_space,
        c.bytes_copied,
        c.stale_copies_refused,
        o.held_by_stale / GIB,
        c.stuck_events,
        c.stuck_millis / 1000,
    );
}

#[test]
fn legacy_storms_and_hardened_recovers() {
    println!("storm: seed {SEED}, {NODES} nodes of {} GiB, {VOLUMES} volumes of 1 GiB, {ISOLATED} nodes isolated on both networks for 10 min", NODE_CAPACITY / GIB);
    let legacy = storm(PolicyKind::Legacy);
    let hardened = storm(PolicyKind::Hardened);
    print("legacy", &legacy);
    print("hardened", &hardened);

    // Legacy: space runs out, a measurable share stays stuck, and nodes keep searching.
    assert!(legacy.stuck_after * 20 >= VOLUMES, "legacy should leave at least 5% stuck, got {}", legacy.stuck_after);
    assert!(legacy.counters.failures_no_space > 1000, "legacy retries without backoff: {:?}", legacy.counters);
    assert!(legacy.attempts_at_end > legacy.attempts_after_heal + 1000, "legacy attempts keep climbing after the heal");
    assert!(legacy.held_by_stale > 0, "replaced replicas hold space while they search");

    // Hardened: everything recovers by reconnecting, with few attempts in total.
    assert_eq!(hardened.stuck_after, 0);
    assert!(hardened.counters.reconnects > 0);
    assert_eq!(hardened.attempts_at_end, hardened.attempts_after_heal, "no searches once healed");
    assert!(hardened.attempts_at_end * 10 < legacy.attempts_at_end, "backoff bounds the attempts");
}
