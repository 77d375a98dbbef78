//! kill -9 durability: the squall binary on a data directory, a client creating volumes,
//! snapshots, tags and instances (each with several volumes) in a loop, SIGKILL at a random
//! moment, restart on the same directory. Every resource whose call was answered with success
//! must be back with its state; a RunInstances cut short leaves all of its instance or nothing;
//! the block store holds no volume the control plane does not know. Meanwhile six such clients
//! run at once, and three NBD clients write to one attached volume side by side — two 4 KiB
//! writers (page cache) and one of 64 KiB blocks (straight to the disk), each flushing after every
//! block: every block whose flush was acknowledged reads back after the restart. Seeded: the seed is printed and
//! `SQUALL_DURABILITY_SEED` replays it; `SQUALL_DURABILITY_TRIALS` sets the number of kills.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const SCOPE: &str =
    "AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00";

/// One request on a fresh connection; `None` when the server went away before answering.
fn call(addr: SocketAddr, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: {SCOPE}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(raw.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// Every text between `<tag>` and `</tag>`, in order.
fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open).skip(1).filter_map(|rest| rest.split(&close).next()).collect()
}

fn first<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    all(xml, tag).into_iter().next()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

struct Server {
    child: Child,
    addr: SocketAddr,
    nbd: SocketAddr,
}

/// Starts squall on `dir`, its warnings appended to `dir/../server.log` (kept for a failure's
/// diagnosis: every start and what it said).
fn start(dir: &Path) -> Server {
    let log_path = dir.parent().expect("the data directory has a parent").join("server.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("server log");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let nbd: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
    let mut child = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["serve", "--listen", &addr.to_string(), "--nbd-listen", &nbd.to_string(), "--log", "warn"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--lifecycle-delay-ms", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("squall starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get(addr, "/_squall/health").is_some_and(|b| b.contains("running")) {
            return Server { child, addr, nbd };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().ok();
    child.wait().ok();
    panic!("squall did not become healthy on {addr} within 60 s");
}

/// What the server acknowledged.
#[derive(Debug, Default)]
struct Acked {
    volumes: BTreeSet<String>,
    deleted_volumes: BTreeSet<String>,
    /// Volumes whose DeleteVolume got no answer: they may or may not be gone.
    maybe_deleted: BTreeSet<String>,
    snapshots: BTreeSet<String>,
    tags: BTreeMap<String, (String, String)>,
    /// Instance id → its volumes as RunInstances reported them (root and data).
    instances: BTreeMap<String, usize>,
}

/// An instance with two 1 GiB data volumes (three volumes in all, as the workload's launches):
/// the one on /dev/sdf is the volume the NBD writer uses.
fn attached_volume(addr: SocketAddr) -> String {
    let (status, body) = call(
        addr,
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1\
         &InstanceType=t3.micro&Placement.AvailabilityZone=us-east-1b\
         &BlockDeviceMapping.1.DeviceName=/dev/sdf&BlockDeviceMapping.1.Ebs.VolumeSize=1\
         &BlockDeviceMapping.2.DeviceName=/dev/sdg&BlockDeviceMapping.2.Ebs.VolumeSize=1",
    )
    .expect("RunInstances answers");
    assert_eq!(status, 200, "{body}");
    let instance = first(&body, "instanceId").expect("an instance").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = call(addr, &format!("Action=DescribeInstances&Version=2016-11-15&InstanceId.1={instance}"))
            .expect("DescribeInstances answers");
        let data = body.split("<item>").find(|i| i.contains("<deviceName>/dev/sdf</deviceName>"));
        if let Some(v) = data.filter(|i| i.contains("<status>attached</status>")).and_then(|i| first(i, "volumeId")) {
            return v.to_string();
        }
        assert!(Instant::now() < deadline, "the data volume never attached: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pattern of block `n` (4 KiB at offset n × 4 KiB).
fn block(n: u64) -> Vec<u8> {
    let mut data = vec![(n % 251) as u8 + 1; 4096];
    data[..8].copy_from_slice(&n.to_le_bytes());
    data
}

/// Where the 64 KiB writer's blocks start (the 4 KiB writers stay below it).
const BIG_BASE: u64 = 512 << 20;
const BIG: u64 = 64 << 10;

/// The pattern of big block `n` (64 KiB at BIG_BASE + n × 64 KiB).
fn big_block(n: u64) -> Vec<u8> {
    let mut data = vec![(n % 241) as u8 + 7; BIG as usize];
    data[..8].copy_from_slice(&n.to_le_bytes());
    data[BIG as usize - 8..].copy_from_slice(&n.to_be_bytes());
    data
}

/// Which blocks an NBD writer writes: 4 KiB blocks of one parity, or 64 KiB blocks.
#[derive(Clone, Copy)]
enum Lane {
    Small { parity: u64 },
    Big,
}

impl Lane {
    fn at(self, n: u64) -> (u64, Vec<u8>) {
        match self {
            Lane::Small { .. } => (n * 4096, block(n)),
            Lane::Big => (BIG_BASE + n * BIG, big_block(n)),
        }
    }
}

/// Writes block after block of its lane to `volume` over NBD, flushing after each; records each
/// block whose flush was acknowledged, until the server goes away.
fn nbd_writer(nbd: SocketAddr, volume: String, lane: Lane, next: u64, acked: &Mutex<BTreeSet<u64>>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let Ok(mut c) = squall::nbd::client::Client::connect(nbd, &volume).await else { return };
        let mut n = next;
        if let Lane::Small { parity } = lane {
            n += (n + parity) % 2; // this writer's parity
        }
        let step = if matches!(lane, Lane::Small { .. }) { 2 } else { 1 };
        // The big lane has 8,192 places above BIG_BASE in the 1 GiB volume.
        while matches!(lane, Lane::Small { .. }) || n < ((1 << 30) - BIG_BASE) / BIG {
            let (offset, data) = lane.at(n);
            let Ok(Ok(_)) = c.write(offset, &data).await else { return };
            let Ok(Ok(_)) = c.flush().await else { return };
            acked.lock().expect("lock").insert(n);
            n += step;
        }
    });
}

/// Every block of a lane whose flush was acknowledged reads back whole.
fn check_blocks(nbd: SocketAddr, volume: &str, lane: Lane, acked: &BTreeSet<u64>, trial: u32) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut c = squall::nbd::client::Client::connect(nbd, volume).await.expect("NBD connects after the restart");
        for n in acked {
            let (offset, data) = lane.at(*n);
            let got = c.read(offset, data.len() as u32).await.expect("read").expect("read ok");
            assert!(got == data, "trial {trial}: block at {offset}, flushed before kill -9, is not intact");
        }
    });
}

/// Creates resources until the server stops answering.
fn workload(addr: SocketAddr, seed: u64, acked: &Mutex<Acked>, stop: &AtomicBool) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let choice = rng.gen_range(0..10);
        let known: Vec<String> = acked.lock().expect("lock").volumes.iter().cloned().collect();
        let pick = (!known.is_empty()).then(|| known[rng.gen_range(0..known.len())].clone());
        let answer = match (choice, pick) {
            (0..=3, _) | (_, None) => {
                call(addr, "Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=1").map(|(s, b)| {
                    if s == 200 {
                        if let Some(id) = first(&b, "volumeId") {
                            acked.lock().expect("lock").volumes.insert(id.to_string());
                        }
                    }
                    s
                })
            }
            (4..=5, Some(v)) => {
                let value = format!("v{n}");
                call(
                    addr,
                    &format!(
                        "Action=CreateTags&Version=2016-11-15&ResourceId.1={v}&Tag.1.Key=round&Tag.1.Value={value}"
                    ),
                )
                .map(|(s, _)| {
                    if s == 200 {
                        acked.lock().expect("lock").tags.insert(v.clone(), ("round".into(), value));
                    }
                    s
                })
            }
            (6, Some(v)) => {
                call(addr, &format!("Action=CreateSnapshot&Version=2016-11-15&VolumeId={v}")).map(|(s, b)| {
                    if s == 200 {
                        if let Some(id) = first(&b, "snapshotId") {
                            acked.lock().expect("lock").snapshots.insert(id.to_string());
                        }
                    }
                    s
                })
            }
            (7, Some(v)) => {
                let answer = call(addr, &format!("Action=DeleteVolume&Version=2016-11-15&VolumeId={v}"));
                let mut a = acked.lock().expect("lock");
                match answer {
                    Some((200, _)) => {
                        a.volumes.remove(&v);
                        a.deleted_volumes.insert(v.clone());
                    }
                    // Killed before the answer: the deletion may have committed.
                    None => {
                        a.volumes.remove(&v);
                        a.maybe_deleted.insert(v.clone());
                    }
                    Some(_) => {}
                }
                answer.map(|(s, _)| s)
            }
            _ => call(
                addr,
                "Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1\
                 &InstanceType=t3.micro&Placement.AvailabilityZone=us-east-1a\
                 &BlockDeviceMapping.1.DeviceName=/dev/sdf&BlockDeviceMapping.1.Ebs.VolumeSize=1\
                 &BlockDeviceMapping.2.DeviceName=/dev/sdg&BlockDeviceMapping.2.Ebs.VolumeSize=1",
            )
            .map(|(s, b)| {
                if s == 200 {
                    if let Some(id) = first(&b, "instanceId") {
                        acked.lock().expect("lock").instances.insert(id.to_string(), 3);
                    }
                }
                s
            }),
        };
        if answer.is_none() {
            return; // killed
        }
    }
}

/// Checks what the restart kept; answers how many orphan storage volumes the region reclaimed
/// when it opened (a crash between a volume's replicas and its row leaves one).
fn check_after_restart(addr: SocketAddr, acked: &Acked, trial: u32) -> u64 {
    let volumes = call(addr, "Action=DescribeVolumes&Version=2016-11-15").expect("DescribeVolumes answers").1;
    let items: Vec<&str> = volumes.split("<item>").collect();
    let present: BTreeSet<&str> = all(&volumes, "volumeId").into_iter().collect();
    for v in &acked.volumes {
        assert!(
            present.contains(v.as_str()),
            "trial {trial}: acknowledged volume {v} is missing after kill -9 (maybe deleted: {}, deleted: {}; \
             the server's warnings are in the log beside the data directory)",
            acked.maybe_deleted.contains(v.as_str()),
            acked.deleted_volumes.contains(v.as_str())
        );
    }
    for v in &acked.deleted_volumes {
        let block = items.iter().find(|i| i.contains(&format!("<volumeId>{v}</volumeId>")));
        assert!(
            block.is_none_or(|b| b.contains("<status>deleting</status>")),
            "trial {trial}: volume {v} whose deletion was acknowledged came back"
        );
    }
    for (v, (key, _)) in &acked.tags {
        if acked.deleted_volumes.contains(v) || acked.maybe_deleted.contains(v) {
            continue;
        }
        let tags = call(
            addr,
            &format!("Action=DescribeTags&Version=2016-11-15&Filter.1.Name=resource-id&Filter.1.Value.1={v}"),
        )
        .expect("DescribeTags answers")
        .1;
        // A later CreateTags whose answer was lost may have changed the value; the key stays.
        assert!(all(&tags, "key").contains(&key.as_str()), "trial {trial}: tag {key} of {v} is missing: {tags}");
    }
    let snapshots =
        call(addr, "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self").expect("DescribeSnapshots answers").1;
    let present: BTreeSet<&str> = all(&snapshots, "snapshotId").into_iter().collect();
    for s in &acked.snapshots {
        assert!(present.contains(s.as_str()), "trial {trial}: acknowledged snapshot {s} is missing");
    }
    let instances = call(addr, "Action=DescribeInstances&Version=2016-11-15").expect("DescribeInstances answers").1;
    let present: BTreeSet<&str> = all(&instances, "instanceId").into_iter().collect();
    for i in acked.instances.keys() {
        assert!(present.contains(i.as_str()), "trial {trial}: acknowledged instance {i} is missing");
    }
    // All or nothing: every instance there (acknowledged or not) has its three volumes.
    for i in &present {
        let attached = items.iter().filter(|item| item.contains(&format!("<instanceId>{i}</instanceId>"))).count();
        assert_eq!(attached, 3, "trial {trial}: instance {i} has {attached} of its 3 volumes");
    }
    // The block store holds exactly the volumes the control plane knows (once deletions under
    // way have finished: they leave both at once).
    let mut volumes = volumes;
    let deadline = Instant::now() + Duration::from_secs(10);
    while volumes.contains("<status>deleting</status>") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        volumes = call(addr, "Action=DescribeVolumes&Version=2016-11-15").expect("DescribeVolumes answers").1;
    }
    let status = get(addr, "/_squall/status").expect("status answers");
    let status: serde_json::Value = serde_json::from_str(&status).expect("status is JSON");
    let stored: u64 = status["regions"]["us-east-1"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|z| z["storage"]["volumes"].as_u64().unwrap_or(0))
        .sum();
    let known = all(&volumes, "volumeId").into_iter().collect::<BTreeSet<_>>().len() as u64;
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for st in all(&volumes, "status") {
        *by_status.entry(st).or_default() += 1;
    }
    assert_eq!(
        stored, known,
        "trial {trial}: the block store holds {stored} volumes, the control plane {known} ({by_status:?})"
    );
    status["regions"]["us-east-1"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|z| z["storage"]["counters"]["orphansReclaimed"].as_u64().unwrap_or(0))
        .sum()
}

/// Removes the work directory when the test passes, keeps it when it fails.
struct KeepOnPanic(Option<tempfile::TempDir>);

impl Drop for KeepOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.0.take() {
                let kept = dir.keep();
                eprintln!("kept {} for a diagnosis", kept.display());
            }
        }
    }
}

#[test]
fn acknowledged_changes_survive_kill_9_and_launches_are_all_or_nothing() {
    let seed: u64 = std::env::var("SQUALL_DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let trials: u32 = std::env::var("SQUALL_DURABILITY_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    println!(
        "durability seed {seed} (SQUALL_DURABILITY_SEED={seed} repeats its choices and kill times), {trials} trials"
    );
    // Kept when the test fails: the data directory and the server's log, for a diagnosis.
    let work = tempfile::Builder::new().prefix("squall-durability-").tempdir().expect("tempdir");
    println!("data directory and server log under {}", work.path().display());
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).expect("data directory");
    let _keep = KeepOnPanic(Some(work));
    let dir = data.as_path();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut server = start(dir);
    let mut orphans = 0;
    let volume = attached_volume(server.addr);
    let blocks = Arc::new(Mutex::new(BTreeSet::new()));
    let big_blocks = Arc::new(Mutex::new(BTreeSet::new()));
    for trial in 0..trials {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = server.addr;
        let mut clients: Vec<_> = (0..6)
            .map(|c| {
                let (acked, stop) = (acked.clone(), stop.clone());
                let client_seed = seed ^ (u64::from(trial) << 8) ^ c;
                std::thread::spawn(move || workload(addr, client_seed, &acked, &stop))
            })
            .collect();
        let next = blocks.lock().expect("lock").last().map_or(0, |n| n + 1);
        for parity in 0..2 {
            let (nbd, v, b) = (server.nbd, volume.clone(), blocks.clone());
            clients.push(std::thread::spawn(move || nbd_writer(nbd, v, Lane::Small { parity }, next, &b)));
        }
        let next_big = big_blocks.lock().expect("lock").last().map_or(0, |n| n + 1);
        let (nbd, v, b) = (server.nbd, volume.clone(), big_blocks.clone());
        clients.push(std::thread::spawn(move || nbd_writer(nbd, v, Lane::Big, next_big, &b)));
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..600)));
        server.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
        server.child.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().expect("client thread");
        }
        server = start(dir);
        let acked = acked.lock().expect("lock");
        let reclaimed = check_after_restart(server.addr, &acked, trial);
        orphans += reclaimed;
        let blocks = blocks.lock().expect("lock");
        check_blocks(server.nbd, &volume, Lane::Small { parity: 0 }, &blocks, trial);
        let big = big_blocks.lock().expect("lock");
        check_blocks(server.nbd, &volume, Lane::Big, &big, trial);
        println!(
            "trial {trial}: ok — {} volumes, {} snapshots, {} instances, {} tagged, {} 4 KiB and {} 64 KiB NBD \
             blocks flushed so far; {reclaimed} orphan storage volumes reclaimed at the restart",
            acked.volumes.len(),
            acked.snapshots.len(),
            acked.instances.len(),
            acked.tags.len(),
            blocks.len(),
            big.len()
        );
    }
    server.child.kill().ok();
    server.child.wait().ok();
    println!("{orphans} orphan storage volumes reclaimed in {trials} restarts, no acknowledged volume among them");
    assert!(blocks.lock().expect("lock").len() > trials as usize, "the 4 KiB writers flushed too little to check");
    assert!(big_blocks.lock().expect("lock").len() > trials as usize, "the 64 KiB writer flushed too little to check");
    let acked = acked.lock().expect("lock");
    assert!(acked.volumes.len() + acked.instances.len() > trials as usize, "the workload made too little to check");
}
