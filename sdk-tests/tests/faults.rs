//! The fault API as a user drives it in a resilience drill: faults installed over HTTP/JSON, their
//! effects seen through AWS's own APIs (the real SDK), NBD and `/_squall/status`, and healing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{
    InstanceStateName, Placement, ResourceType, Tag, TagSpecification, VolumeState, VolumeStatusInfoStatus,
};
use squall::config::ServeOptions;
use squall::nbd::client::Client;
use squall_sdk_tests::{ec2, error_seen, wait_for};

/// One HTTP/1.1 request to squall's own surface: (status, JSON body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    squall_sdk_tests::checks::squall_http_with_token(&format!("http://{addr}"), method, path, body, token)
}

async fn instance_in(ec2: &aws_sdk_ec2::Client, zone: &str) -> String {
    // A 1 GiB root volume: small clusters stay small.
    let root = aws_sdk_ec2::types::BlockDeviceMapping::builder()
        .device_name("/dev/xvda")
        .ebs(aws_sdk_ec2::types::EbsBlockDevice::builder().volume_size(1).build())
        .build();
    let run = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .block_device_mappings(root)
        .placement(Placement::builder().availability_zone(zone).build())
        .send()
        .await
        .expect("RunInstances");
    let id = run.instances()[0].instance_id().expect("id").to_string();
    wait_for("running", Duration::from_secs(30), async || {
        let d = ec2.describe_instances().instance_ids(&id).send().await.expect("describe");
        d.reservations()[0].instances()[0].state().and_then(|s| s.name()) == Some(&InstanceStateName::Running)
    })
    .await;
    // As the instance_status_ok waiter would: past `initializing`, so that what a fault does to
    // the checks is what the test sees.
    wait_for("status checks ok", Duration::from_secs(30), async || {
        let s = ec2.describe_instance_status().instance_ids(&id).send().await.expect("instance status");
        s.instance_statuses()
            .first()
            .and_then(|i| i.system_status())
            .and_then(|st| st.status())
            .is_some_and(|st| *st == aws_sdk_ec2::types::SummaryStatus::Ok)
    })
    .await;
    id
}

/// `n` 1 GiB volumes in `zone`, tagged, attached to `instance` at /dev/sdf, /dev/sdg, …
async fn volumes_on(ec2: &aws_sdk_ec2::Client, zone: &str, instance: &str, n: usize, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::Volume)
            .tags(Tag::builder().key("drill").value(tag).build())
            .build();
        let v = ec2.create_volume().availability_zone(zone).size(1).tag_specifications(tags).send().await;
        let v = v.expect("CreateVolume").volume_id().expect("id").to_string();
        wait_for("available", Duration::from_secs(30), async || {
            let d = ec2.describe_volumes().volume_ids(&v).send().await.expect("describe");
            d.volumes()[0].state() == Some(&VolumeState::Available)
        })
        .await;
        let device = format!("/dev/sd{}", (b'f' + i as u8) as char);
        ec2.attach_volume().volume_id(&v).instance_id(instance).device(device).send().await.expect("attach");
        out.push(v);
    }
    for v in &out {
        wait_for("in-use", Duration::from_secs(30), async || {
            let d = ec2.describe_volumes().volume_ids(v).send().await.expect("describe");
            d.volumes()[0].state() == Some(&VolumeState::InUse)
        })
        .await;
    }
    out
}

async fn volume_status(ec2: &aws_sdk_ec2::Client, volumes: &[String]) -> BTreeMap<String, VolumeStatusInfoStatus> {
    let d = ec2.describe_volume_status().set_volume_ids(Some(volumes.to_vec())).send().await.expect("status");
    d.volume_statuses()
        .iter()
        .map(|s| {
            let status = s.volume_status().and_then(|v| v.status()).cloned().expect("status");
            (s.volume_id().expect("id").to_string(), status)
        })
        .collect()
}

/// Writes a 4 KiB block to a volume over NBD, giving up after `limit` (the write is held while
/// the volume is stuck); answers whether it was acknowledged.
async fn touch(nbd: SocketAddr, volume: &str, offset: u64, byte: u8, limit: Duration) -> bool {
    let attempt = async {
        let mut c = Client::connect(nbd, volume).await.ok()?;
        c.write(offset, &[byte; 4096]).await.ok()?.ok()
    };
    matches!(tokio::time::timeout(limit, attempt).await, Ok(Some(_)))
}

/// The drill of the issue: volumes in three zones written over NBD; half of one zone's storage
/// nodes cut off on both networks; some volumes there turn `impaired`, none elsewhere, and the
/// other zones' APIs keep working; healed, every volume recovers and every acknowledged byte
/// reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_half_of_a_zone_impairs_only_that_zone_and_heals() {
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let (a, b, c) = ("us-east-1a", "us-east-1b", "us-east-1c");
    let mut by_zone = BTreeMap::new();
    for (zone, n) in [(a, 6), (b, 2), (c, 2)] {
        let instance = instance_in(&ec2, zone).await;
        by_zone.insert(zone, volumes_on(&ec2, zone, &instance, n, zone).await);
    }
    let all: Vec<String> = by_zone.values().flatten().cloned().collect();
    // Every volume gets a first acknowledged write.
    for (i, v) in all.iter().enumerate() {
        assert!(
            touch(server.nbd_addr.expect("NBD listens"), v, 0, i as u8 + 1, Duration::from_secs(5)).await,
            "first write to {v}"
        );
    }

    let body = r#"{"kind":"network-partition","zone":"us-east-1a","fraction":0.5,"seed":7,"networks":["primary","replication"]}"#;
    let (status, fault) = http(server.addr, "POST", "/_squall/faults", body, None);
    assert_eq!(status, 201, "{fault}");
    let id = fault["id"].as_str().expect("fault id").to_string();
    assert_eq!(fault["nodes"].as_array().map(Vec::len), Some(2), "half of four nodes");
    let (_, listed) = http(server.addr, "GET", "/_squall/faults", "", None);
    assert_eq!(listed["faults"][0]["id"], id.as_str());

    // Instances doing I/O notice: writes to volumes with a replica on a cut-off node hang.
    for (i, v) in by_zone[a].iter().enumerate() {
        let _ = touch(server.nbd_addr.expect("NBD listens"), v, 8192, i as u8 + 100, Duration::from_millis(300)).await;
    }
    let status_a = volume_status(&ec2, &by_zone[a]).await;
    let impaired = status_a.values().filter(|s| **s == VolumeStatusInfoStatus::Impaired).count();
    eprintln!("during the partition: {impaired} of {} volumes in {a} impaired", status_a.len());
    assert!(impaired > 0, "some volumes in {a} are impaired: {status_a:?}");
    let others: Vec<String> = by_zone[b].iter().chain(&by_zone[c]).cloned().collect();
    for (v, s) in volume_status(&ec2, &others).await {
        assert_eq!(s, VolumeStatusInfoStatus::Ok, "{v} is in another zone");
        assert!(
            touch(server.nbd_addr.expect("NBD listens"), &v, 4096, 9, Duration::from_secs(5)).await,
            "{v} keeps serving I/O"
        );
    }
    let created = ec2.create_volume().availability_zone(b).size(1).send().await.expect("CreateVolume in another zone");
    assert!(created.volume_id().is_some());
    let (_, st) = http(server.addr, "GET", "/_squall/status", "", None);
    let zone_a = st["regions"]["us-east-1"].as_array().expect("zones").iter().find(|z| z["name"] == a).cloned();
    let storage = zone_a.expect("zone a")["storage"].clone();
    assert!(storage["stuck"].as_u64().unwrap_or(0) + storage["remirroring"].as_u64().unwrap_or(0) > 0, "{storage}");

    let (status, healed) = http(server.addr, "DELETE", &format!("/_squall/faults/{id}"), "", None);
    assert_eq!(status, 200, "{healed}");
    wait_for("every volume ok again", Duration::from_secs(60), async || {
        volume_status(&ec2, &all).await.values().all(|s| *s == VolumeStatusInfoStatus::Ok)
    })
    .await;
    // Every acknowledged first write is there.
    for (i, v) in all.iter().enumerate() {
        let mut client = Client::connect(server.nbd_addr.expect("NBD listens"), v).await.expect("connect");
        let got = tokio::time::timeout(Duration::from_secs(30), client.read(0, 4096)).await;
        assert_eq!(got.expect("read in time").expect("read"), Ok(vec![i as u8 + 1; 4096]), "{v}");
    }
    let (_, st) = http(server.addr, "GET", "/_squall/status", "", None);
    assert_eq!(st["faults"].as_array().map(Vec::len), Some(0));
    server.shutdown().await;
}

/// `volume-io-pause` on a tag: only those volumes stall, for the duration, then resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_volume_io_by_tag_stalls_only_those_volumes_for_the_duration() {
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let instance = instance_in(&ec2, "us-east-1a").await;
    let db = volumes_on(&ec2, "us-east-1a", &instance, 2, "db").await;
    let web = ec2.create_volume().availability_zone("us-east-1a").size(1).send().await.expect("create");
    let web = web.volume_id().expect("id").to_string();
    let (status, fault) = http(
        server.addr,
        "POST",
        "/_squall/faults",
        r#"{"kind":"volume-io-pause","tags":{"drill":"db"},"duration":2}"#,
        None,
    );
    assert_eq!(status, 201, "{fault}");
    let started = Instant::now();
    let mut paused: Vec<String> = fault["volumes"].as_array().expect("volumes").iter().map(|v| v.to_string()).collect();
    paused.sort();
    assert_eq!(paused.len(), 2);
    let statuses = volume_status(&ec2, &db).await;
    assert!(statuses.values().all(|s| *s == VolumeStatusInfoStatus::Impaired), "{statuses:?}");
    assert_eq!(volume_status(&ec2, std::slice::from_ref(&web)).await[&web], VolumeStatusInfoStatus::Ok);
    let is = ec2.describe_instance_status().instance_ids(&instance).send().await.expect("instance status");
    let ebs = is.instance_statuses()[0].attached_ebs_status().and_then(|s| s.status()).cloned();
    assert_eq!(ebs, Some(aws_sdk_ec2::types::SummaryStatus::Impaired));
    // A write is held for the rest of the duration, then completes by itself.
    assert!(touch(server.nbd_addr.expect("NBD listens"), &db[0], 0, 7, Duration::from_secs(10)).await);
    let held_for = started.elapsed();
    eprintln!("a write to a paused volume completed after {held_for:?}");
    assert!(held_for >= Duration::from_millis(1500), "the write was held: {held_for:?}");
    wait_for("statuses back to ok", Duration::from_secs(10), async || {
        volume_status(&ec2, &db).await.values().all(|s| *s == VolumeStatusInfoStatus::Ok)
    })
    .await;
    let (_, listed) = http(server.addr, "GET", "/_squall/faults", "", None);
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(0), "the fault healed itself");
    server.shutdown().await;
}

/// `api-error` with probability 1 on `ec2:CreateVolume` in one zone: the SDK sees that exact
/// code; other actions and zones are unaffected. `api-latency` slows requests down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_api_errors_hit_only_their_action_and_zone() {
    let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let body = r#"{"kind":"api-error","service":"ec2","actions":["CreateVolume"],"zone":"us-east-1b","code":"InsufficientVolumeCapacity","probability":1}"#;
    let (status, fault) = http(server.addr, "POST", "/_squall/faults", body, None);
    assert_eq!(status, 201, "{fault}");
    assert_eq!(fault["code"], "InsufficientVolumeCapacity");
    let err = ec2.create_volume().availability_zone("us-east-1b").size(1).send().await.expect_err("injected");
    let seen = error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (500, "InsufficientVolumeCapacity"));
    ec2.create_volume().availability_zone("us-east-1c").size(1).send().await.expect("another zone");
    ec2.describe_volumes().send().await.expect("another action");

    let body = r#"{"kind":"api-latency","service":"ec2","actions":["DescribeVolumes"],"latencyMs":400}"#;
    let (status, _) = http(server.addr, "POST", "/_squall/faults", body, None);
    assert_eq!(status, 201);
    let started = Instant::now();
    ec2.describe_volumes().send().await.expect("slow but fine");
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    let (status, healed) = http(server.addr, "DELETE", "/_squall/faults", "", None);
    assert_eq!((status, healed["healed"].as_array().map(Vec::len)), (200, Some(2)));
    ec2.create_volume().availability_zone("us-east-1b").size(1).send().await.expect("healed");
    server.shutdown().await;
}

/// An AZ outage: the zone reports `unavailable` with a message, its control path refuses new
/// volumes with `Unavailable` (503), its instances fail their system check; other zones work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_az_outage_shows_in_describe_availability_zones_and_refuses_new_volumes() {
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let instance = instance_in(&ec2, "us-east-1d").await;
    let (status, _) = http(server.addr, "POST", "/_squall/faults", r#"{"kind":"az-outage","zone":"us-east-1d"}"#, None);
    assert_eq!(status, 201);
    let zones = ec2.describe_availability_zones().zone_names("us-east-1d").send().await.expect("zones");
    let zone = &zones.availability_zones()[0];
    assert_eq!(zone.state(), Some(&aws_sdk_ec2::types::AvailabilityZoneState::Unavailable));
    assert!(zone.messages()[0].message().unwrap_or_default().contains("outage"));
    let err = ec2.create_volume().availability_zone("us-east-1d").size(1).send().await.expect_err("zone out");
    let seen = error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (503, "Unavailable"));
    ec2.create_volume().availability_zone("us-east-1e").size(1).send().await.expect("another zone");
    let is = ec2.describe_instance_status().instance_ids(&instance).send().await.expect("instance status");
    let system = is.instance_statuses()[0].system_status().and_then(|s| s.status()).cloned();
    assert_eq!(system, Some(aws_sdk_ec2::types::SummaryStatus::Impaired));
    http(server.addr, "DELETE", "/_squall/faults", "", None);
    let zones = ec2.describe_availability_zones().zone_names("us-east-1d").send().await.expect("zones");
    assert_eq!(zones.availability_zones()[0].state(), Some(&aws_sdk_ec2::types::AvailabilityZoneState::Available));
    server.shutdown().await;
}

/// Bad bodies, unknown kinds, targets and ids answer 400/404 with messages that say what is
/// wrong, and nothing is installed; with a token set, requests without it get 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fault_requests_are_refused_clearly_and_the_token_guards_the_api() {
    let options = ServeOptions { fault_token: Some("s3cret".into()), ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let t = Some("s3cret");
    let cases: &[(&str, &str)] = &[
        ("{not json", "malformed fault body"),
        (r#"{"kind":"meteor"}"#, "unknown fault kind \"meteor\""),
        (r#"{"kind":"az-outage"}"#, "az-outage needs a zone"),
        (r#"{"kind":"az-outage","zone":"us-east-1z"}"#, "no zone us-east-1z"),
        (r#"{"kind":"node-crash","zone":"us-east-1a","nodes":[99]}"#, "has no storage node 99"),
        (r#"{"kind":"az-outage","zone":"us-east-1a","nodes":[1]}"#, "az-outage does not take \"nodes\""),
        (r#"{"kind":"az-outage","zone":"us-east-1a","colour":"red"}"#, "unknown field `colour`"),
        (
            r#"{"kind":"network-partition","zone":"us-east-1a","nodes":[0],"networks":["carrier-pigeon"]}"#,
            "unknown network",
        ),
        (r#"{"kind":"volume-io-pause","volumes":["vol-0123456789abcdef0"]}"#, "does not exist"),
        (r#"{"kind":"api-error","service":"ec2","code":"InternalError","probability":2}"#, "probability"),
        (r#"{"kind":"az-outage","zone":"us-east-1a","duration":-1}"#, "duration must be a positive"),
    ];
    for (body, expected) in cases {
        let (status, answer) = http(server.addr, "POST", "/_squall/faults", body, t);
        assert_eq!(status, 400, "{body} → {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message:?} should mention {expected:?}");
    }
    let (_, listed) = http(server.addr, "GET", "/_squall/faults", "", t);
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(0), "nothing was half-applied");
    let (status, answer) = http(server.addr, "GET", "/_squall/faults/fault-999999", "", t);
    assert_eq!(status, 404, "{answer}");
    let (status, _) = http(server.addr, "DELETE", "/_squall/faults/fault-999999", "", t);
    assert_eq!(status, 404);
    let (status, answer) =
        http(server.addr, "POST", "/_squall/faults", r#"{"kind":"az-outage","zone":"us-east-1a"}"#, None);
    assert_eq!(status, 401, "{answer}");
    let (status, _) = http(server.addr, "GET", "/_squall/faults", "", Some("wrong"));
    assert_eq!(status, 401);
    let (status, _) = http(server.addr, "PUT", "/_squall/config", r#"{"policy":"legacy"}"#, None);
    assert_eq!(status, 401);
    let (status, config) =
        http(server.addr, "PUT", "/_squall/config", r#"{"policy":"legacy","nbdIoTimeoutMs":250}"#, t);
    assert_eq!(
        (status, config["policy"].as_str(), config["nbdIoTimeoutMs"].as_u64()),
        (200, Some("legacy"), Some(250))
    );
    let (status, answer) = http(server.addr, "PUT", "/_squall/config", r#"{"policy":"yolo"}"#, t);
    assert_eq!(status, 400, "{answer}");
    let (status, _) = http(server.addr, "GET", "/_squall/health", "", None);
    assert_eq!(status, 200, "health needs no token");
    // The resets heal every fault and delete every resource: they need the token too.
    for path in ["/_squall/reset", "/_localstack/state/reset", "/moto-api/reset"] {
        let (status, answer) = http(server.addr, "POST", path, "", None);
        assert_eq!(status, 401, "{path}: {answer}");
    }
    let (status, _) = http(server.addr, "POST", "/moto-api/reset", "", t);
    assert_eq!(status, 200);
    server.shutdown().await;
}

/// Stuck volumes of zone `zone` (from `/_squall/status`), and how many it has.
fn stuck_in(addr: SocketAddr, zone: &str) -> (u64, u64) {
    let (_, st) = http(addr, "GET", "/_squall/status", "", None);
    let zones = st["regions"]["us-east-1"].as_array().cloned().unwrap_or_default();
    let z = zones.into_iter().find(|z| z["name"] == zone).unwrap_or_default();
    (z["storage"]["stuck"].as_u64().unwrap_or(0), z["storage"]["volumes"].as_u64().unwrap_or(0))
}

/// One run of the storm in small: a tight cluster (10 nodes of 4 GiB, nineteen 1 GiB volumes — a
/// root and eighteen data volumes — with two replicas each: 95% provisioned, copies taking at
/// least 300 ms), 40% of its nodes degraded (primary network lost, replication capped at 1 KiB/s)
/// while the instance keeps writing to every volume. With `add_capacity`, four new nodes arrive while
/// the fault is still on. Answers the stuck fraction sampled over time (seconds since the fault,
/// fraction, phase), and the server.
async fn storm(policy: &str, add_capacity: bool) -> (Vec<(f64, f64, &'static str)>, squall::RunningServer) {
    let options = ServeOptions {
        lifecycle_delay_ms: 20,
        storage_nodes_per_az: 10,
        storage_node_capacity_gib: 4,
        storage_latency_ms: 300,
        remirror_policy: policy.to_string(),
        seed: Some(2011),
        ..ServeOptions::ephemeral()
    };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let zone = "us-east-1a";
    let instance = instance_in(&ec2, zone).await;
    let volumes = volumes_on(&ec2, zone, &instance, 18, "storm").await;
    for v in &volumes {
        assert!(touch(server.nbd_addr.expect("NBD listens"), v, 0, 1, Duration::from_secs(5)).await);
    }
    // Probing writes fail fast instead of hanging once a volume is stuck.
    http(server.addr, "PUT", "/_squall/config", r#"{"nbdIoTimeoutMs":200}"#, None);
    let started = Instant::now();
    let body =
        r#"{"kind":"network-degradation","zone":"us-east-1a","fraction":0.4,"seed":2011,"replicationBandwidth":1024}"#;
    let (status, fault) = http(server.addr, "POST", "/_squall/faults", body, None);
    assert_eq!(status, 201, "{fault}");
    let id = fault["id"].as_str().expect("id").to_string();
    let mut samples = Vec::new();
    let mut phase = "degraded";
    let mut capacity_added = false;
    while started.elapsed() < Duration::from_secs(if add_capacity { 14 } else { 8 }) {
        if add_capacity && !capacity_added && started.elapsed() >= Duration::from_secs(7) {
            let body = r#"{"kind":"capacity","zone":"us-east-1a","addNodes":4,"nodeCapacityGib":3}"#;
            assert_eq!(http(server.addr, "POST", "/_squall/faults", body, None).0, 201);
            capacity_added = true;
            phase = "degraded+capacity";
        }
        // The instance keeps doing I/O: every volume is probed now and then.
        for v in &volumes {
            let _ = touch(server.nbd_addr.expect("NBD listens"), v, 4096, 2, Duration::from_millis(300)).await;
        }
        let (stuck, total) = stuck_in(server.addr, zone);
        samples.push((started.elapsed().as_secs_f64(), stuck as f64 / total.max(1) as f64, phase));
    }
    http(server.addr, "DELETE", &format!("/_squall/faults/{id}"), "", None);
    let healed = Instant::now();
    while healed.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (stuck, total) = stuck_in(server.addr, zone);
        samples.push((started.elapsed().as_secs_f64(), stuck as f64 / total.max(1) as f64, "healed"));
    }
    (samples, server)
}

fn print_series(policy: &str, samples: &[(f64, f64, &str)]) {
    let line: Vec<String> = samples.iter().map(|(t, f, p)| format!("{t:.1}s {p} {:.0}%", f * 100.0)).collect();
    eprintln!("stuck fraction, {policy}: {}", line.join(" | "));
}

fn peak(samples: &[(f64, f64, &str)], phase: &str) -> f64 {
    samples.iter().filter(|s| s.2 == phase).map(|s| s.1).fold(0.0, f64::max)
}

fn last(samples: &[(f64, f64, &str)], phase: &str) -> f64 {
    samples.iter().filter(|s| s.2 == phase).map(|s| s.1).next_back().unwrap_or(0.0)
}

/// The storm in small through the API: the same network degradation (same seed, same tight
/// cluster, the same four nodes added halfway) under each policy. Under `legacy` the replicas
/// that lost a peer copy from where they stand: those behind the capped network wait for it, and
/// a large share stays stuck even with the new capacity. Under `hardened` a replica does not
/// reconnect over the starved link (it could not carry the writes); after its grace it copies
/// from the replica clients still reach into space it reserves, so once capacity arrives the
/// volumes recover while the fault lasts, at the pace of its rebuild caps. Both are whole once
/// the network heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storm_in_small_legacy_stays_stuck_hardened_recovers_with_capacity() {
    let (legacy, server) = storm("legacy", true).await;
    server.shutdown().await;
    let (hardened, server) = storm("hardened", true).await;
    server.shutdown().await;
    print_series("legacy", &legacy);
    print_series("hardened", &hardened);
    let (legacy_peak, hardened_peak) = (peak(&legacy, "degraded"), peak(&hardened, "degraded"));
    let (legacy_left, hardened_left) = (last(&legacy, "degraded+capacity"), last(&hardened, "degraded+capacity"));
    eprintln!(
        "stuck while degraded: legacy {:.0}% then {:.0}% with 4 more nodes; hardened {:.0}% then {:.0}%",
        legacy_peak * 100.0,
        legacy_left * 100.0,
        hardened_peak * 100.0,
        hardened_left * 100.0
    );
    assert!(legacy_peak > 0.3 && hardened_peak > 0.3, "the degradation strands volumes under both");
    assert!(legacy_left < legacy_peak, "legacy: new capacity unsticks some volumes");
    // Hardened's copies run under its rebuild caps: half or more are back before the heal, and
    // fewer stay stuck than under legacy with the same capacity.
    assert!(hardened_left <= hardened_peak / 2.0, "hardened: volumes recover during the fault: {hardened_left}");
    assert!(legacy_left > hardened_left, "legacy strands more: {legacy_left} vs {hardened_left}");
    assert_eq!(last(&legacy, "healed"), 0.0, "legacy recovers after healing");
    assert_eq!(last(&hardened, "healed"), 0.0, "hardened recovers after healing");
}

/// `node-crash-on-close`, the seed's race condition: during a re-mirroring storm, nodes that
/// close replication connections crash; healing the rule restarts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_on_close_crashes_nodes_in_a_storm_and_healing_restarts_them() {
    let options = ServeOptions {
        lifecycle_delay_ms: 20,
        storage_nodes_per_az: 6,
        storage_node_capacity_gib: 3,
        remirror_policy: "legacy".into(),
        seed: Some(2011),
        ..ServeOptions::ephemeral()
    };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let instance = instance_in(&ec2, "us-east-1a").await;
    volumes_on(&ec2, "us-east-1a", &instance, 6, "storm").await;
    let race = r#"{"kind":"node-crash-on-close","zone":"us-east-1a","probability":1}"#;
    assert_eq!(http(server.addr, "POST", "/_squall/faults", race, None).0, 201);
    let cut = r#"{"kind":"network-partition","zone":"us-east-1a","nodes":[0,1]}"#;
    assert_eq!(http(server.addr, "POST", "/_squall/faults", cut, None).0, 201);
    let zone_a = || {
        let (_, st) = http(server.addr, "GET", "/_squall/status", "", None);
        st["regions"]["us-east-1"].as_array().and_then(|z| z.iter().find(|z| z["name"] == "us-east-1a").cloned())
    };
    wait_for("a node crashed closing a connection", Duration::from_secs(20), async || {
        zone_a().is_some_and(|z| z["storage"]["counters"]["crashesOnClose"].as_u64().unwrap_or(0) > 0)
    })
    .await;
    let down = zone_a().expect("zone")["storage"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["up"] == false)
        .count();
    eprintln!("{down} nodes down after crashing on close");
    assert!(down > 0);
    http(server.addr, "DELETE", "/_squall/faults", "", None);
    wait_for("every node up again", Duration::from_secs(20), async || {
        zone_a().is_some_and(|z| z["storage"]["nodes"].as_array().is_some_and(|n| n.iter().all(|n| n["up"] == true)))
    })
    .await;
    server.shutdown().await;
}
