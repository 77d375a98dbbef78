//! The block store through its API, as the data path and the control plane use it.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use squall_storage::{
    Cluster, ClusterConfig, ManualClock, Network, NodeId, PolicyKind, SnapshotStore, StorageError, VolumeId,
};

const MIB: u64 = 1 << 20;

fn vol(s: &str) -> VolumeId {
    VolumeId::new(s).expect("valid name")
}

fn cluster(dir: &std::path::Path, clock: &ManualClock, nodes: u32, capacity: u64, policy: PolicyKind) -> Cluster {
    let config = ClusterConfig { nodes, node_capacity: capacity, policy, ..ClusterConfig::default() };
    Cluster::open(dir, "az1", &config, Arc::new(clock.clone()), 7).expect("cluster opens")
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn bytes_written_are_read_back_from_two_replicas_and_capacity_is_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 4, 10 * MIB, PolicyKind::Hardened);
    let v = vol("vol-1");
    c.create_volume(&v, 8 * MIB).unwrap();
    let record = c.record(&v).unwrap().clone();
    assert_ne!(record.primary, record.secondary);
    assert_eq!(record.epoch, 1);
    let data = pattern(1, 300_000);
    c.write(&v, 12_345, &data).unwrap();
    c.flush(&v).unwrap();
    assert_eq!(c.read(&v, 12_345, data.len() as u64).unwrap(), data);
    let replicas = c.replica_contents(&v).unwrap();
    assert_eq!(replicas[0], replicas[1], "both replicas hold the same bytes");
    // Provisioned size is reserved on both nodes: only two nodes have room for another 8 MiB.
    c.create_volume(&vol("vol-2"), 8 * MIB).unwrap();
    let err = c.create_volume(&vol("vol-3"), 8 * MIB).unwrap_err();
    assert!(matches!(err, StorageError::InsufficientCapacity { requested, .. } if requested == 8 * MIB), "{err}");
    c.delete_volume(&v).unwrap();
    c.create_volume(&vol("vol-3"), 8 * MIB).unwrap();
    assert!(matches!(c.read(&v, 0, 1), Err(StorageError::VolumeNotFound(_))));
    assert!(matches!(c.write(&vol("vol-3"), 8 * MIB - 1, b"ab"), Err(StorageError::OutOfRange { .. })));
}

#[test]
fn a_restart_keeps_replica_sets_epochs_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let v = vol("vol-keep");
    let data = pattern(9, 1 << 20);
    let record = {
        let mut c = cluster(dir.path(), &clock, 4, 64 * MIB, PolicyKind::Legacy);
        c.create_volume(&v, 4 * MIB).unwrap();
        c.write(&v, MIB, &data).unwrap();
        c.flush(&v).unwrap();
        c.record(&v).unwrap().clone()
    };
    let mut c = cluster(dir.path(), &clock, 4, 64 * MIB, PolicyKind::Hardened);
    assert_eq!(c.record(&v), Some(&record));
    assert_eq!(c.policy(), PolicyKind::Legacy, "the policy in force is persisted too");
    assert_eq!(c.read(&v, MIB, data.len() as u64).unwrap(), data);
    assert_eq!(c.read(&v, 0, 16).unwrap(), vec![0; 16]);
}

/// kill -9 during a deletion used to leave a replica's metadata without its data (the cluster
/// then refused to open, and every volume of the zone with it). Now a deletion removes the
/// metadata first, and a replica whose data is gone is removed at open and reported.
#[test]
fn a_replica_whose_data_is_gone_does_not_keep_the_cluster_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let (keep, broken) = (vol("vol-keep"), vol("vol-broken"));
    let data = pattern(5, 4096);
    let path = {
        let mut c = cluster(dir.path(), &clock, 3, 64 * MIB, PolicyKind::Hardened);
        c.create_volume(&keep, MIB).unwrap();
        c.write(&keep, 0, &data).unwrap();
        c.flush(&keep).unwrap();
        c.create_volume(&broken, MIB).unwrap();
        let primary = c.record(&broken).unwrap().primary;
        c.replica_data_path(primary, &broken).unwrap()
    };
    std::fs::remove_file(&path).unwrap(); // what the old order left behind
    let mut c = cluster(dir.path(), &clock, 3, 64 * MIB, PolicyKind::Hardened);
    let damaged = c.take_damaged_replicas();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].0, broken);
    assert!(!path.with_extension("meta").exists(), "its leftovers are removed");
    assert_eq!(c.read(&keep, 0, data.len() as u64).unwrap(), data, "the other volumes serve");
    c.delete_volume(&keep).unwrap();
    let leftovers: Vec<_> = walk(dir.path()).into_iter().filter(|p| p.to_string_lossy().contains("vol-keep")).collect();
    assert_eq!(leftovers, Vec::<std::path::PathBuf>::new(), "a deletion leaves no file behind");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("a directory").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_corrupted_block_is_served_from_the_good_replica_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 3, 64 * MIB, PolicyKind::Hardened);
    let v = vol("vol-c");
    c.create_volume(&v, MIB).unwrap();
    let data = pattern(3, 64 * 1024);
    c.write(&v, 0, &data).unwrap();
    c.flush(&v).unwrap();
    let primary = c.record(&v).unwrap().primary;
    let path = c.replica_data_path(primary, &v).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, 5000).unwrap();
    f.write_all_at(&[byte[0] ^ 0xff], 5000).unwrap();
    assert_eq!(c.read(&v, 0, data.len() as u64).unwrap(), data, "the good bytes are served");
    assert_eq!((c.counters().corruptions_detected, c.counters().corruptions_repaired), (1, 1));
    assert_eq!(c.read(&v, 0, data.len() as u64).unwrap(), data);
    assert_eq!(c.counters().corruptions_detected, 1, "the bad replica was repaired");
    let replicas = c.replica_contents(&v).unwrap();
    assert_eq!(replicas[0], replicas[1]);
}

#[test]
fn losing_the_secondary_blocks_io_until_a_new_peer_is_committed_and_the_old_primary_view_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 4, 64 * MIB, PolicyKind::Hardened);
    let v = vol("vol-f");
    c.create_volume(&v, 4 * MIB).unwrap();
    c.write(&v, 0, &pattern(1, 8192)).unwrap();
    let before = c.record(&v).unwrap().clone();
    c.partition(&[before.secondary], &Network::BOTH);
    // The write cannot reach the secondary: it is not acknowledged and the volume is stuck.
    assert!(matches!(c.write(&v, 0, b"lost"), Err(StorageError::Stuck(_))));
    assert!(matches!(c.read(&v, 0, 4), Err(StorageError::Stuck(_))));
    assert!(c.writable_primaries(&v).is_empty());
    // Within the grace period the hardened policy waits for the old peer.
    clock.advance(Duration::from_secs(1));
    c.tick().unwrap();
    assert_eq!(c.status().stuck, 1);
    clock.advance(Duration::from_secs(10));
    c.tick().unwrap();
    for _ in 0..100 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    let after = c.record(&v).unwrap().clone();
    assert_eq!(after.stuck_since_ms, None, "re-mirrored");
    assert_eq!(after.epoch, before.epoch + 1);
    assert_eq!(after.primary, before.primary);
    assert_ne!(after.secondary, before.secondary);
    assert_eq!(c.read(&v, 0, 8192).unwrap(), pattern(1, 8192), "the unacknowledged write is not there");
    assert_eq!(c.counters().remirror_successes, 1);
    assert_eq!(c.counters().bytes_copied, 8192, "copy cost is the written data, not the 4 MiB");
    // A request of the old epoch is refused by the new secondary.
    let err = c.write_to_replica(after.secondary, &v, before.epoch, 0, b"stale").unwrap_err();
    assert!(
        matches!(err, StorageError::StaleEpoch { request, replica, .. } if request == before.epoch && replica == after.epoch)
    );
    assert_eq!(c.writable_primaries(&v), vec![after.primary]);
    // Healing returns the old secondary; its stale replica is dropped and its space freed.
    c.heal();
    c.tick().unwrap();
    assert_eq!(c.leaked_bytes(), 0);
    let old = c.status().nodes.into_iter().find(|n| n.id == before.secondary).unwrap();
    assert_eq!(old.replicas, 0);
}

#[test]
fn a_crashed_node_restarts_with_its_bytes_and_hardened_reconnects_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 2, 64 * MIB, PolicyKind::Hardened);
    let v = vol("vol-r");
    c.create_volume(&v, MIB).unwrap();
    c.write(&v, 0, &pattern(5, 4096)).unwrap();
    let secondary = c.record(&v).unwrap().secondary;
    c.crash_node(secondary).unwrap();
    c.tick().unwrap();
    assert_eq!(c.status().stuck, 1);
    for _ in 0..20 {
        clock.advance(Duration::from_secs(1));
        c.tick().unwrap();
    }
    assert_eq!(c.status().stuck, 1, "no third node to re-mirror to: stays stuck");
    assert!(c.counters().failures_no_space > 0);
    c.restart_node(secondary).unwrap();
    clock.advance(Duration::from_secs(60));
    c.tick().unwrap();
    assert_eq!(c.status().stuck, 0);
    assert_eq!(c.counters().reconnects, 1);
    assert_eq!(c.read(&v, 0, 4096).unwrap(), pattern(5, 4096));
    let replicas = c.replica_contents(&v).unwrap();
    assert_eq!(replicas[0], replicas[1]);
}

#[test]
fn snapshots_are_incremental_restore_anywhere_and_work_on_a_stuck_volume() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut az1 = cluster(&dir.path().join("az1"), &clock, 3, 256 * MIB, PolicyKind::Hardened);
    let mut az2 = cluster(&dir.path().join("az2"), &clock, 3, 256 * MIB, PolicyKind::Hardened);
    let store = SnapshotStore::open(&dir.path().join("snapshots")).unwrap();
    let v = vol("vol-s");
    az1.create_volume(&v, 4 * MIB).unwrap();
    az1.write(&v, 0, &pattern(1, 600_000)).unwrap();
    az1.write(&v, 3 * MIB, &pattern(2, 1000)).unwrap();
    let s1 = store.snapshot_volume(&mut az1, &v, &vol("snap-1"), None).unwrap();
    assert_eq!(s1.blocks.keys().copied().collect::<Vec<_>>(), [0, 1, 6]);
    assert_eq!(s1.changed_blocks, 3);
    az1.write(&v, 3 * MIB + 10, b"changed").unwrap();
    let s2 = store.snapshot_volume(&mut az1, &v, &vol("snap-2"), Some(&vol("snap-1"))).unwrap();
    assert_eq!(s2.changed_blocks, 1, "only the changed block is new");
    assert_eq!(store.diff(&vol("snap-1"), &vol("snap-2")).unwrap(), [6]);
    // The volume gets stuck; a snapshot still works from the surviving replica.
    let secondary = az1.record(&v).unwrap().secondary;
    az1.crash_node(secondary).unwrap();
    az1.tick().unwrap();
    assert!(matches!(az1.read(&v, 0, 1), Err(StorageError::Stuck(_))));
    let s3 = store.snapshot_volume(&mut az1, &v, &vol("snap-3"), Some(&vol("snap-2"))).unwrap();
    assert_eq!(s3.changed_blocks, 0);
    // Restore in the other AZ: identical bytes.
    store.restore(&vol("snap-3"), &mut az2, &vol("vol-copy"), 4 * MIB).unwrap();
    let original = az1.read_any_replica(&v, 0, 4 * MIB).unwrap();
    assert_eq!(az2.read(&vol("vol-copy"), 0, 4 * MIB).unwrap(), original);
    assert_eq!(store.read_block(&vol("snap-3"), 6).unwrap(), original[3 * MIB as usize..3 * MIB as usize + 512 * 1024]);
    let other = store.snapshot_volume(&mut az2, &vol("vol-copy"), &vol("snap-x"), None).unwrap();
    assert!(matches!(store.diff(&vol("snap-1"), &other.id), Err(StorageError::DifferentLineage(..))));
    store.delete(&vol("snap-1")).unwrap();
    assert_eq!(store.read_block(&vol("snap-2"), 0).unwrap(), original[..512 * 1024], "shared blocks survive a delete");
}

#[test]
fn nodes_can_be_added_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 2, 4 * MIB, PolicyKind::Hardened);
    c.create_volume(&vol("a"), 4 * MIB).unwrap();
    assert!(c.create_volume(&vol("b"), 4 * MIB).is_err());
    let n = c.add_node(4 * MIB).unwrap();
    assert_eq!(n, NodeId(2));
    assert!(c.create_volume(&vol("b"), 4 * MIB).is_err(), "one new node is not two");
    c.add_node(4 * MIB).unwrap();
    c.create_volume(&vol("b"), 4 * MIB).unwrap();
}

#[test]
fn a_volume_grows_with_its_bytes_kept_and_new_space_zero() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 3, 64 * MIB, PolicyKind::Hardened);
    let v = vol("vol-g");
    c.create_volume(&v, 10_000).unwrap();
    c.write(&v, 9_000, &[5u8; 1000]).unwrap();
    c.grow_volume(&v, 3 * MIB).unwrap();
    assert_eq!(c.read(&v, 9_000, 1000).unwrap(), vec![5u8; 1000]);
    assert_eq!(c.read(&v, 10_000, 5000).unwrap(), vec![0u8; 5000]);
    c.write(&v, 3 * MIB - 4, b"tail").unwrap();
    let replicas = c.replica_contents(&v).unwrap();
    assert_eq!(replicas[0], replicas[1]);
    assert!(matches!(c.grow_volume(&v, 100 * MIB), Err(StorageError::InsufficientCapacity { .. })));
}

#[test]
fn thousands_of_replicas_keep_few_files_open_and_reopen_on_use() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 4, 1 << 40, PolicyKind::Hardened);
    let volumes: Vec<VolumeId> = (0..1500).map(|i| vol(&format!("v{i}"))).collect();
    for (i, v) in volumes.iter().enumerate() {
        c.create_volume(v, MIB).unwrap();
        c.write(v, 0, &[i as u8; 16]).unwrap();
    }
    // 3,000 replicas, but only a bounded number hold descriptors.
    assert!(c.open_replicas() <= 256 + 64, "{} replicas open", c.open_replicas());
    for (i, v) in volumes.iter().enumerate().step_by(97) {
        assert_eq!(c.read(v, 0, 16).unwrap(), vec![i as u8; 16], "a closed replica reopens");
    }
    drop(c);
    let mut c = cluster(dir.path(), &clock, 4, 1 << 40, PolicyKind::Hardened);
    assert_eq!(c.open_replicas(), 0, "reopening a cluster opens no data files");
    assert_eq!(c.read(&volumes[1234], 0, 16).unwrap(), vec![1234usize as u8; 16]);
}

#[test]
fn with_crash_on_close_a_remirroring_storm_crashes_nodes_and_lifting_it_stops_that() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    // Tight: six nodes of 3 MiB, five 1 MiB volumes, copies have nowhere much to go.
    let mut c = cluster(dir.path(), &clock, 6, 3 * MIB, PolicyKind::Legacy);
    let volumes: Vec<VolumeId> = (0..5).map(|i| vol(&format!("vol-{i}"))).collect();
    for v in &volumes {
        c.create_volume(v, MIB).unwrap();
        c.write(v, 0, &[1; 4096]).unwrap();
    }
    c.set_crash_on_close(Some(1.0));
    c.partition(&[NodeId(0), NodeId(1)], &Network::BOTH);
    for _ in 0..50 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    let crashed = c.crashed_on_close();
    assert!(!crashed.is_empty(), "closing replication connections crashed nodes");
    assert_eq!(c.counters().crashes_on_close, crashed.len() as u64);
    assert!(c.status().nodes.iter().filter(|n| !n.up).count() >= crashed.len());
    c.set_crash_on_close(None);
    c.heal();
    for n in c.crashed_on_close() {
        c.restart_node(n).unwrap();
    }
    c.clear_crashed_on_close();
    let before = c.counters().crashes_on_close;
    for _ in 0..50 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    assert_eq!(c.counters().crashes_on_close, before, "no crash once the rule is lifted");
}

/// The 2011 trigger on one node: its primary network gone, its traffic overflowing onto a
/// replication network capped at 1 KiB/s. `hardened` does not reconnect over that starved link
/// (it would be stuck again at the next write): after the grace it copies from the replica
/// clients still reach, which serves as primary once the copy is done — while the fault lasts.
#[test]
fn hardened_copies_from_the_reachable_replica_instead_of_reconnecting_over_a_starved_link() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 4, 64 * MIB, PolicyKind::Hardened);
    let v = vol("vol-d");
    c.create_volume(&v, 4 * MIB).unwrap();
    c.write(&v, 0, &pattern(3, 8192)).unwrap();
    let before = c.record(&v).unwrap().clone();
    c.partition(&[before.primary], &[Network::Primary]);
    c.fabric_mut().cap_bandwidth(Network::Replication, Some(1024));
    assert!(matches!(c.write(&v, 0, b"x"), Err(StorageError::Stuck(_))), "clients cannot reach the primary");
    for _ in 0..150 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    let after = c.record(&v).unwrap().clone();
    assert_eq!(after.stuck_since_ms, None, "recovered while the fault lasts");
    assert_eq!(after.primary, before.secondary, "the replica clients reach serves");
    assert_ne!(after.secondary, before.primary);
    assert_eq!(c.counters().reconnects, 0, "no reconnection over the starved link");
    assert_eq!(c.read(&v, 0, 8192).unwrap(), pattern(3, 8192));
    c.write(&v, 0, b"new").unwrap();
}

/// A copy that started over the capped replication network finishes at the network's speed once
/// it is healed, not at the starved rate it started with.
#[test]
fn a_copy_started_over_a_starved_link_finishes_once_the_network_heals() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let mut c = cluster(dir.path(), &clock, 4, 64 * MIB, PolicyKind::Legacy);
    let v = vol("vol-s");
    c.create_volume(&v, 4 * MIB).unwrap();
    c.write(&v, 0, &pattern(4, 256 * 1024)).unwrap();
    let before = c.record(&v).unwrap().clone();
    // The secondary is lost; the primary, cut from the primary network, copies over the capped
    // replication network: 256 KiB at 1 KiB/s would take minutes.
    c.partition(&[before.secondary], &Network::BOTH);
    c.partition(&[before.primary], &[Network::Primary]);
    c.fabric_mut().cap_bandwidth(Network::Replication, Some(1024));
    for _ in 0..20 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    assert!(c.record(&v).unwrap().stuck_since_ms.is_some(), "still copying at the starved rate");
    c.heal();
    c.fabric_mut().cap_bandwidth(Network::Replication, None);
    for _ in 0..20 {
        clock.advance(Duration::from_millis(100));
        c.tick().unwrap();
    }
    assert_eq!(c.record(&v).unwrap().stuck_since_ms, None, "the copy finished at the healed network's speed");
    assert_eq!(c.read(&v, 0, 256 * 1024).unwrap(), pattern(4, 256 * 1024));
}
