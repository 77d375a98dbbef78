//! Write throughput of a 2-replica volume through the store's API versus a plain file on the
//! same disk, in one run, printing the ratio. Run: `cargo bench -p squall-storage`.
//! `SQUALL_BENCH_MIB` sets the volume of data written (default 256 MiB).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall_storage::{Cluster, ClusterConfig, PolicyKind, SystemClock, VolumeId};

const MIB: u64 = 1 << 20;

fn chunk(len: usize, seed: u64) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_mul(2_654_435_761).wrapping_add(seed) as u8).collect()
}

/// Writes `total` bytes in `block`-sized writes at offsets from `offsets`, then one flush.
fn run(total: u64, block: usize, offsets: &[u64], mut write: impl FnMut(u64, &[u8]), flush: impl FnOnce()) -> Duration {
    let data = chunk(block, 7);
    let start = Instant::now();
    for &offset in offsets.iter().take((total / block as u64) as usize) {
        write(offset, &data);
    }
    flush();
    start.elapsed()
}

fn main() {
    let mib: u64 = std::env::var("SQUALL_BENCH_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    let total = mib * MIB;
    let size = total.max(64 * MIB);
    // Benchmarks go where the build goes (same disk as a developer's data dir), not /tmp.
    let base =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    std::fs::create_dir_all(&base).expect("target dir");
    println!("write throughput, {mib} MiB per case, one flush (fdatasync) at the end");
    println!("{:<32} {:>12} {:>12} {:>8}", "case", "plain MiB/s", "squall MiB/s", "ratio");
    for (name, block, random) in [
        ("sequential 1 MiB writes", MIB as usize, false),
        ("sequential 64 KiB writes", 64 * 1024, false),
        ("random 4 KiB writes", 4096, true),
    ] {
        let count = size / block as u64;
        let mut offsets: Vec<u64> = (0..count).map(|i| i * block as u64).collect();
        if random {
            // A fixed permutation (LCG shuffle), so both sides write the same pattern.
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for i in (1..offsets.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                offsets.swap(i, (state >> 33) as usize % (i + 1));
            }
        }
        let case_total = if random { total / 8 } else { total };

        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("plain"))
            .expect("file");
        file.set_len(size).expect("set_len");
        let plain = run(
            case_total,
            block,
            &offsets,
            |o, d| file.write_all_at(d, o).expect("write"),
            || file.sync_data().expect("sync"),
        );
        drop(dir);

        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        let config = ClusterConfig {
            nodes: 2,
            node_capacity: 4 * size,
            policy: PolicyKind::Hardened,
            ..ClusterConfig::default()
        };
        let cluster = Cluster::open(dir.path(), "bench", &config, Arc::new(SystemClock::new()), 1).expect("cluster");
        let v = VolumeId::new("vol-bench").expect("name");
        let mut cluster = cluster;
        cluster.create_volume(&v, size).expect("volume");
        let cluster = std::cell::RefCell::new(cluster);
        let squall = run(
            case_total,
            block,
            &offsets,
            |o, d| cluster.borrow_mut().write(&v, o, d).expect("write"),
            || cluster.borrow_mut().flush(&v).expect("flush"),
        );
        let mbps = |d: Duration| (case_total / MIB) as f64 / d.as_secs_f64();
        println!("{name:<32} {:>12.0} {:>12.0} {:>7.2}x", mbps(plain), mbps(squall), mbps(squall) / mbps(plain));
    }
    println!("(ratio = squall / plain file; squall writes every byte twice, with checksums)");
}
