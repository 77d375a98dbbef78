//! The April 2011 control-plane brown-out, in small: one zone's storage is degraded (a
//! network-degradation fault) and many clients keep calling CreateVolume there, while a probe
//! calls DescribeVolumes and CreateVolume in the other zones.
//!
//! - `legacy`: the degraded zone's calls hold the region's API workers for the long storage
//!   time-out, the queue fills, and the probe — other zones, zone-free calls — mostly fails.
//! - `hardened`: the zone may hold a third of the workers and its calls time out fast with
//!   `Unavailable`; the probe keeps succeeding.
//!
//! Healing the fault brings both back. The test asserts the contrast, not absolute times.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{call, ec2, tag};
use squall::config::ServeOptions;

fn code(body: &str) -> &str {
    tag(body, "Code").unwrap_or("-")
}

#[derive(Debug, Default)]
struct Probe {
    /// (seconds since the fault, success) of every probe call.
    calls: Vec<(f64, bool)>,
    /// Error codes the probe saw, with counts.
    errors: std::collections::BTreeMap<String, u32>,
}

impl Probe {
    fn rate(&self, from: f64, to: f64) -> f64 {
        let window: Vec<bool> = self.calls.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, ok)| *ok).collect();
        window.iter().filter(|ok| **ok).count() as f64 / window.len().max(1) as f64
    }

    fn print(&self, policy: &str, seconds: u32) {
        let per_second: Vec<String> =
            (0..seconds).map(|s| format!("{:.0}%", 100.0 * self.rate(f64::from(s), f64::from(s + 1)))).collect();
        eprintln!("{policy}: probe success per second after the fault: {}", per_second.join(" "));
        eprintln!("{policy}: probe errors by code: {:?}", self.errors);
    }
}

struct Run {
    probe: Probe,
    /// (status, code, seconds) of the degraded zone's CreateVolume answers.
    degraded: Vec<(u16, String, f64)>,
    /// Seconds after healing until five probe calls in a row succeeded.
    recovered_after: f64,
    /// The region's pool in `/_squall/status`, and `/metrics`, just before healing.
    pool: serde_json::Value,
    metrics: String,
}

const LOAD_CLIENTS: usize = 24;
const LOAD_SECONDS: f64 = 6.0;

async fn brownout(policy: &'static str) -> Run {
    let mut options = ServeOptions::ephemeral();
    options.azs = Some(3);
    options.remirror_policy = policy.to_string();
    options.api_workers = 8;
    options.api_queue = 16;
    options.api_deadline_ms = 1_500;
    options.storage_wait_legacy_ms = 4_000;
    options.storage_wait_hardened_ms = 300;
    let server = squall::start(&options).await.expect("squall starts");
    let addr = server.addr;
    let run = tokio::task::spawn_blocking(move || {
        // A volume in the zone first, so its storage cluster is open and has nodes to degrade.
        let (status, body) = ec2(addr, "Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1");
        assert_eq!(status, 200, "{body}");
        let fault = r#"{"kind":"network-degradation","zone":"us-east-1a","fraction":0.5,"seed":7}"#;
        let (status, body) = call(addr, "POST", "/_squall/faults", fault);
        assert_eq!(status, 201, "{body}");
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let degraded = Arc::new(Mutex::new(Vec::new()));
        let load: Vec<_> = (0..LOAD_CLIENTS)
            .map(|_| {
                let (stop, degraded) = (stop.clone(), degraded.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (status, body) = ec2(addr, "Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1");
                        let t = started.elapsed().as_secs_f64();
                        degraded.lock().expect("lock").push((status, code(&body).to_string(), t));
                        if status != 200 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        let mut probe = Probe::default();
        let mut n = 0u32;
        let probe_call = |n: u32| {
            if n.is_multiple_of(2) {
                ec2(addr, "Action=DescribeVolumes")
            } else {
                let zone = if n % 4 == 1 { "us-east-1b" } else { "us-east-1c" };
                ec2(addr, &format!("Action=CreateVolume&AvailabilityZone={zone}&Size=1"))
            }
        };
        while started.elapsed().as_secs_f64() < LOAD_SECONDS {
            let (status, body) = probe_call(n);
            n += 1;
            let ok = status == 200;
            if !ok {
                *probe.errors.entry(format!("{status} {}", code(&body))).or_default() += 1;
            }
            probe.calls.push((started.elapsed().as_secs_f64(), ok));
            std::thread::sleep(Duration::from_millis(50));
        }
        let (_, status) = call(addr, "GET", "/_squall/status", "");
        let pool =
            serde_json::from_str::<serde_json::Value>(&status).expect("status JSON")["apiPools"]["us-east-1"].clone();
        let (_, metrics) = call(addr, "GET", "/metrics", "");
        let (status, body) = call(addr, "DELETE", "/_squall/faults", "");
        assert_eq!(status, 200, "{body}");
        stop.store(true, Ordering::Relaxed);
        for t in load {
            t.join().expect("load client");
        }
        // Healed: the probe comes back.
        let healed = Instant::now();
        let mut streak = 0;
        while streak < 5 {
            assert!(healed.elapsed() < Duration::from_secs(30), "{policy}: the probe never recovered");
            let (status, _) = probe_call(n);
            n += 1;
            streak = if status == 200 { streak + 1 } else { 0 };
        }
        let recovered_after = healed.elapsed().as_secs_f64();
        let degraded = std::mem::take(&mut *degraded.lock().expect("lock"));
        Run { probe, degraded, recovered_after, pool, metrics }
    })
    .await
    .expect("clients");
    server.shutdown().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_zone_browns_out_the_region_under_legacy_and_not_under_hardened() {
    let legacy = brownout("legacy").await;
    legacy.probe.print("legacy", LOAD_SECONDS as u32);
    let hardened = brownout("hardened").await;
    hardened.probe.print("hardened", LOAD_SECONDS as u32);
    // Past the first second (the pool fills), the legacy probe mostly fails; the hardened one
    // keeps working.
    let (legacy_rate, hardened_rate) = (legacy.probe.rate(1.0, LOAD_SECONDS), hardened.probe.rate(1.0, LOAD_SECONDS));
    eprintln!("probe success in the other zones: legacy {legacy_rate:.2}, hardened {hardened_rate:.2}");
    assert!(legacy_rate < 0.5, "legacy: the brown-out reaches the other zones ({legacy_rate:.2})");
    assert!(hardened_rate >= 0.99, "hardened: the other zones stay served ({hardened_rate:.2})");
    // Hardened answers the degraded zone fast, and clearly.
    let mut codes = std::collections::BTreeMap::<String, u32>::new();
    for (status, code, _) in &hardened.degraded {
        *codes.entry(format!("{status} {code}")).or_default() += 1;
    }
    eprintln!("hardened: the degraded zone's CreateVolume answers: {codes:?}");
    // Unavailable (its storage, or its share of the workers), or shed with the rest of the load
    // in the first burst, before any call has found the zone degraded.
    let clear = |status: u16, code: &str| {
        status == 200 || (status == 503 && ["Unavailable", "RequestLimitExceeded"].contains(&code))
    };
    assert!(hardened.degraded.iter().all(|(status, code, _)| clear(*status, code)), "{codes:?}");
    assert!(codes.keys().any(|k| k == "503 Unavailable"), "{codes:?}");
    // The pools show it: legacy full and turning requests away, hardened capping the zone.
    eprintln!("legacy pool: {}\nhardened pool: {}", legacy.pool, hardened.pool);
    assert_eq!(legacy.pool["workers"], 8);
    assert!(legacy.pool["waitingForStorage"]["us-east-1a"].as_u64() >= Some(6), "legacy workers wait on the zone");
    assert!(legacy.pool["inFlightByZone"]["us-east-1a"].as_u64() >= Some(16), "and its calls fill the queue");
    assert!(legacy.pool["rejectedOverloaded"].as_u64() > Some(0));
    assert!(hardened.pool["waitingForStorage"]["us-east-1a"].as_u64() <= Some(3), "a third of the workers at most");
    assert!(legacy.metrics.contains("squall_api_rejected_total{region=\"us-east-1\",reason=\"overloaded\"}"));
    assert!(hardened.metrics.contains("squall_api_waiting_for_storage{region=\"us-east-1\",zone=\"us-east-1a\"}"));
    eprintln!(
        "recovery after healing: legacy {:.1} s, hardened {:.1} s",
        legacy.recovered_after, hardened.recovered_after
    );
}
