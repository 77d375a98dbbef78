//! `squall drill april-2011`: the April 2011 EBS event replayed on a small region with a live
//! workload, once per policy, measured every second and written up as `report.json` and a
//! self-contained `report.html`.
//!
//! Nothing of the seed's figures is written into the simulation: the drill only plays the
//! operators' and the network's part of the timeline (`shared/seed/timeline.md`, compressed)
//! through the fault API, and measures what squall's mechanisms make of it — the storage
//! clusters' re-mirroring, the region's API worker pool, RDS instances striped over several
//! volumes, Multi-AZ failover.

mod api;
pub mod report;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use squall_control::RegionName;

use crate::config::ServeOptions;

/// The zone the event strikes, and the others a client also uses.
const AFFECTED: &str = "us-east-1a";
const OTHERS: [&str; 2] = ["us-east-1b", "us-east-1c"];
/// EBS data volumes each instance attaches, GiB each (provisioned; the bytes are sparse).
const DATA_VOLUMES: usize = 2;
const DATA_GIB: u32 = 100;
/// RDS storage of 400 GiB: striped over four volumes, as RDS does.
const DB_GIB: u32 = 400;
/// Bytes each workload write carries, and the distinct places it writes per volume.
const BLOCK: usize = 4096;
const SLOTS: u64 = 64;

/// How big a region the drill builds, and how long its timeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Small,
    Medium,
}

/// Which policies the drill plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policies {
    Legacy,
    Hardened,
    Both,
}

/// `squall drill`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillOptions {
    /// The scenario to replay (only `april-2011` today).
    #[arg(value_parser = ["april-2011"])]
    pub scenario: String,
    /// `legacy` (April 2011's control plane and re-mirroring), `hardened`, or `both` side by side.
    #[arg(long, value_enum, default_value = "both")]
    pub policy: Policies,
    /// Seed of the region (ids, placement, which nodes the network change isolates).
    #[arg(long, default_value_t = 2011)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "small")]
    pub scale: Scale,
    /// Where report.html and report.json go.
    #[arg(long, default_value = "drill-report")]
    pub out: PathBuf,
}

/// The region and workload of a scale.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    pub storage_nodes_per_zone: u32,
    pub node_capacity_gib: u64,
    pub instances: usize,
    pub single_az_db: usize,
    pub multi_az_db: usize,
    pub storm_clients: usize,
    pub api_workers: u32,
    pub api_queue: u32,
}

/// The compressed timeline, seconds after the workload starts.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// 00:47 — the traffic shift: part of the zone's storage loses its primary network and
    /// floods the replication network.
    pub network_change: u32,
    /// 00:50 on — CreateVolume calls keep coming into the zone, each waiting on its storage.
    pub storm: u32,
    /// 02:40 — operators disable CreateVolume in the zone.
    pub disable_create_volume: u32,
    /// 04-22 02:00 — new capacity arrives.
    pub add_capacity: u32,
    /// The network is whole again.
    pub heal_network: u32,
    pub end: u32,
}

impl Scale {
    fn layout(self) -> Layout {
        match self {
            Scale::Small => Layout {
                storage_nodes_per_zone: 10,
                node_capacity_gib: 1_400,
                instances: 4,
                single_az_db: 6,
                multi_az_db: 3,
                storm_clients: 32,
                api_workers: 8,
                api_queue: 16,
            },
            Scale::Medium => Layout {
                storage_nodes_per_zone: 16,
                node_capacity_gib: 1_300,
                instances: 8,
                single_az_db: 10,
                multi_az_db: 6,
                storm_clients: 48,
                api_workers: 16,
                api_queue: 32,
            },
        }
    }

    fn timeline(self) -> Timeline {
        let k = match self {
            Scale::Small => 1,
            Scale::Medium => 2,
        };
        Timeline {
            network_change: 3 * k,
            storm: 4 * k,
            disable_create_volume: 12 * k,
            add_capacity: 16 * k,
            heal_network: 20 * k,
            end: 30 * k,
        }
    }
}

/// What the drill measured in one second.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Second {
    pub t: u32,
    pub phase: &'static str,
    /// Share of the affected zone's volumes (EBS and RDS storage) whose I/O is stuck, %.
    pub volumes_stuck_pct: f64,
    /// The same for the other zones together.
    pub other_zones_stuck_pct: f64,
    /// Share of API calls served (not 5xx, 429 or timed out) this second, % (`None`: no call).
    pub affected_zone_api_ok_pct: Option<f64>,
    pub other_zones_api_ok_pct: Option<f64>,
    pub zone_free_api_ok_pct: Option<f64>,
    /// Slowest call of the other zones and zone-free calls this second, ms.
    pub other_zones_api_max_ms: Option<f64>,
    pub pool_busy: usize,
    pub pool_queued: usize,
    pub single_az_db_stuck_pct: f64,
    pub multi_az_db_unavailable_pct: f64,
    pub failovers: usize,
    pub failovers_refused: usize,
    /// Workload writes acknowledged so far (FUA: durable on both replicas).
    pub writes_acked: u64,
    /// SQL transactions committed so far (acknowledged to the client).
    pub commits_acked: u64,
}

/// One policy's run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub policy: &'static str,
    pub seconds: Vec<Second>,
    pub summary: Summary,
    /// Answers by code: `storm` (CreateVolume into the zone), `probe` (other zones, zone-free).
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A run's figures, for the table beside the seed's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub volumes: usize,
    pub volumes_stuck_peak_pct: f64,
    /// The mean over the seconds the fault lasted.
    pub volumes_stuck_mean_pct: f64,
    pub volumes_stuck_at_heal_pct: f64,
    pub volumes_stuck_at_end_pct: f64,
    pub other_zones_stuck_peak_pct: f64,
    /// The worst second of the other zones' and zone-free calls while the fault lasted, %.
    pub other_zones_api_ok_min_pct: f64,
    pub zone_free_api_ok_min_pct: f64,
    /// All other-zone and zone-free calls while the fault lasted, % served.
    pub other_zones_api_ok_pct: f64,
    pub affected_zone_api_ok_pct: f64,
    pub single_az_db: usize,
    pub single_az_db_stuck_peak_pct: f64,
    pub multi_az_db: usize,
    pub multi_az_db_unavailable_peak_pct: f64,
    pub failovers: usize,
    pub failovers_refused: usize,
    pub multi_az_not_failed_over_pct: f64,
    pub writes_acked: u64,
    pub writes_lost: u64,
    pub commits_acked: u64,
    pub commits_lost: u64,
    /// Volumes still stuck when the drill gave up waiting after it healed everything.
    pub volumes_unrecovered: usize,
    pub remirror_attempts: u64,
    pub crashes_on_close: u64,
}

/// What the drill writes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scenario: &'static str,
    pub seed: u64,
    pub scale: Scale,
    pub layout: Layout,
    pub timeline: Timeline,
    pub runs: Vec<Run>,
}

/// Runs the drill and writes `report.json` and `report.html` under `options.out`.
pub async fn run(options: &DrillOptions) -> anyhow::Result<Report> {
    let policies: &[&'static str] = match options.policy {
        Policies::Legacy => &["legacy"],
        Policies::Hardened => &["hardened"],
        Policies::Both => &["legacy", "hardened"],
    };
    let mut runs = Vec::new();
    for policy in policies {
        runs.push(run_policy(policy, options.seed, options.scale).await?);
    }
    let report = Report {
        scenario: "april-2011",
        seed: options.seed,
        scale: options.scale,
        layout: options.scale.layout(),
        timeline: options.scale.timeline(),
        runs,
    };
    std::fs::create_dir_all(&options.out).with_context(|| format!("cannot create {}", options.out.display()))?;
    std::fs::write(options.out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(options.out.join("report.html"), report::html(&report))?;
    Ok(report)
}

/// Which calls a probe result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Affected,
    Other,
    ZoneFree,
}

#[derive(Debug)]
struct Call {
    at: f64,
    class: Class,
    served: bool,
    ms: f64,
    code: String,
}

/// Everything the workload's threads share.
struct Shared {
    addr: SocketAddr,
    started: Instant,
    stop: AtomicBool,
    storm: AtomicBool,
    calls: Mutex<Vec<Call>>,
    acked: AtomicU64,
    commits: AtomicU64,
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

impl Shared {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn record(&self, class: Class, at: f64, answer: &api::Answer) {
        let code = match answer {
            None => "client time-out".to_string(),
            Some((status, body)) if *status >= 300 => {
                api::tag(body, "Code").map_or_else(|| format!("HTTP {status}"), str::to_string)
            }
            Some(_) => "ok".to_string(),
        };
        let call = Call { at, class, served: api::served(answer), ms: (self.now() - at) * 1000.0, code };
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
    }
}

fn options_for(policy: &str, seed: u64, layout: &Layout, rds_ports: std::ops::RangeInclusive<u16>) -> ServeOptions {
    ServeOptions {
        rds_ports,
        rds_address: "127.0.0.1".to_string(),
        azs: Some(3),
        seed: Some(seed),
        lifecycle_delay_ms: 20,
        storage_nodes_per_az: layout.storage_nodes_per_zone,
        storage_node_capacity_gib: layout.node_capacity_gib,
        // Copies take time, so re-mirroring is a storm and not an instant.
        storage_latency_ms: 300,
        remirror_policy: policy.to_string(),
        api_workers: layout.api_workers,
        api_queue: layout.api_queue,
        api_deadline_ms: 1_500,
        storage_wait_legacy_ms: 4_000,
        storage_wait_hardened_ms: 300,
        rds_failover_detect_ms: 1_500,
        log: "warn".to_string(),
        ..ServeOptions::ephemeral()
    }
}

async fn run_policy(policy: &'static str, seed: u64, scale: Scale) -> anyhow::Result<Run> {
    let layout = scale.layout();
    let timeline = scale.timeline();
    let ports = free_ports(layout.single_az_db + layout.multi_az_db * 6 + 2)?;
    let server = crate::start(&options_for(policy, seed, &layout, ports)).await?;
    let addr = server.addr;
    let nbd = server.nbd_addr.context("the drill needs the NBD server")?;
    eprintln!("squall drill april-2011 [{policy}]: building the region (seed {seed})");
    let (volumes, single, multi) = tokio::task::spawn_blocking(move || build(addr, &layout)).await??;
    let shared = Arc::new(Shared {
        addr,
        started: Instant::now(),
        stop: AtomicBool::new(false),
        storm: AtomicBool::new(false),
        calls: Mutex::new(Vec::new()),
        acked: AtomicU64::new(0),
        commits: AtomicU64::new(0),
    });
    // Whatever ends this run (an error included), the workload stops with it.
    let _stop = StopOnDrop(shared.clone());
    // The workload: every data volume written through NBD, probes in the other zones and
    // zone-free, and (from the storm on) CreateVolume calls into the zone.
    let writers: Vec<_> =
        volumes.iter().enumerate().map(|(i, v)| tokio::spawn(write_loop(nbd, v.clone(), i, shared.clone()))).collect();
    // Each DB instance has an application committing a row at a time.
    let committers: Vec<_> = single
        .iter()
        .chain(multi.iter())
        .map(|id| tokio::spawn(commit_loop(addr, id.clone(), shared.clone())))
        .collect();
    let mut threads = Vec::new();
    for class in [Class::Other, Class::ZoneFree] {
        let s = shared.clone();
        threads.push(std::thread::spawn(move || probe_loop(&s, class)));
    }
    for n in 0..layout.storm_clients {
        let s = shared.clone();
        threads.push(std::thread::spawn(move || storm_loop(&s, n)));
    }
    let control = server.control.clone();
    let region = RegionName::parse("us-east-1")?;
    let mut seconds: Vec<Second> = Vec::new();
    let mut faults: Vec<String> = Vec::new();
    let mut heal_at_pct = 0.0;
    for t in 0..=timeline.end {
        let due = shared.started + Duration::from_secs(u64::from(t));
        tokio::time::sleep_until(due.into()).await;
        // The operators' and the network's part, at their compressed times.
        if t == timeline.network_change {
            let body = format!(
                r#"{{"kind":"network-degradation","zone":"{AFFECTED}","fraction":0.3,"seed":{seed},"replicationBandwidth":1024}}"#
            );
            faults.push(fault(addr, &body)?);
            if policy == "legacy" {
                // The race condition that crashed nodes closing many replication requests at once
                // (fixed in what `hardened` stands for).
                let body = format!(r#"{{"kind":"node-crash-on-close","zone":"{AFFECTED}","probability":0.05}}"#);
                faults.push(fault(addr, &body)?);
            }
        }
        if t == timeline.storm {
            shared.storm.store(true, Ordering::SeqCst);
        }
        if t == timeline.disable_create_volume {
            let body = format!(
                r#"{{"kind":"api-error","service":"ec2","actions":["CreateVolume"],"zone":"{AFFECTED}","code":"Unavailable"}}"#
            );
            fault(addr, &body)?;
        }
        if t == timeline.add_capacity {
            let gib = layout.node_capacity_gib;
            let body = format!(r#"{{"kind":"capacity","zone":"{AFFECTED}","addNodes":4,"nodeCapacityGib":{gib}}}"#);
            fault(addr, &body)?;
        }
        if t == timeline.heal_network {
            for id in faults.drain(..) {
                api::squall(addr, "DELETE", &format!("/_squall/faults/{id}"), "")?;
            }
        }
        let phase = phase_at(&timeline, t);
        let sample = sample(&control, &region, &single, &multi, &shared, t, phase);
        if t == timeline.heal_network {
            heal_at_pct = sample.volumes_stuck_pct;
        }
        eprint!(
            "\r[{policy}] {t:>3}/{} s  {phase:<26} stuck {:>5.1}%  other zones' API {:>5}  pool {}/{} busy, {} queued   ",
            timeline.end,
            sample.volumes_stuck_pct,
            sample.other_zones_api_ok_pct.map_or("–".to_string(), |p| format!("{p:.0}%")),
            sample.pool_busy,
            layout.api_workers,
            sample.pool_queued,
        );
        seconds.push(sample);
    }
    eprintln!();
    shared.stop.store(true, Ordering::SeqCst);
    // Everything healed (the operators' API block included); the volumes get time to recover.
    api::squall(addr, "DELETE", "/_squall/faults", "")?;
    let recover_until = Instant::now() + Duration::from_secs(20);
    let mut unrecovered = stuck_counts(&control, &region).0;
    while unrecovered > 0 && Instant::now() < recover_until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        unrecovered = stuck_counts(&control, &region).0;
    }
    let mut lost = 0;
    for writer in writers {
        // A writer still held on an unrecovered volume is left: its last write was never
        // acknowledged.
        if let Ok(Ok(acked)) = tokio::time::timeout(Duration::from_secs(10), writer).await {
            lost += verify(nbd, &acked).await;
        }
    }
    let mut commits_lost = 0;
    for committer in committers {
        if let Ok(Ok(acked)) = tokio::time::timeout(Duration::from_secs(10), committer).await {
            commits_lost += verify_commits(addr, &acked).await;
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let status = control.status().remove("us-east-1").unwrap_or_default();
    let counters = status.iter().find(|z| z.name == AFFECTED).and_then(|z| z.storage.as_ref()).map(|s| s.counters);
    let calls = std::mem::take(&mut *shared.calls.lock().unwrap_or_else(PoisonError::into_inner));
    server.shutdown().await;
    let mut errors: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for c in &calls {
        if c.code != "ok" {
            let who = if c.class == Class::Affected { "storm" } else { "probe" };
            *errors.entry(who.to_string()).or_default().entry(c.code.clone()).or_default() += 1;
        }
    }
    rate_calls_by_start(&mut seconds, &calls);
    let summary = summarize(
        &seconds,
        &calls,
        &timeline,
        Totals {
            volumes: stuck_counts(&control, &region).1,
            single_az_db: single.len(),
            multi_az_db: multi.len(),
            writes_lost: lost,
            commits_lost,
            unrecovered,
            heal_at_pct,
            remirror_attempts: counters.map_or(0, |c| c.remirror_attempts),
            crashes_on_close: counters.map_or(0, |c| c.crashes_on_close),
        },
    );
    Ok(Run { policy, seconds, summary, errors })
}

fn fault(addr: SocketAddr, body: &str) -> anyhow::Result<String> {
    let f = api::squall(addr, "POST", "/_squall/faults", body)?;
    Ok(f["id"].as_str().unwrap_or_default().to_string())
}

fn phase_at(t: &Timeline, s: u32) -> &'static str {
    if s < t.network_change {
        "before"
    } else if s < t.disable_create_volume {
        "network change, storm"
    } else if s < t.add_capacity {
        "CreateVolume disabled"
    } else if s < t.heal_network {
        "capacity added"
    } else {
        "network healed, recovery"
    }
}

/// Builds the workload: instances in the zone with data volumes, single-AZ DB instances there,
/// Multi-AZ ones with their primary there. Answers the data volumes and the DB instance ids.
fn build(addr: SocketAddr, layout: &Layout) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let mut volumes = Vec::new();
    for _ in 0..layout.instances {
        let mut params = format!(
            "Action=RunInstances&ImageId=ami-0123456789abcdef0&InstanceType=t3.micro&MinCount=1&MaxCount=1&Placement.AvailabilityZone={AFFECTED}"
        );
        for d in 0..DATA_VOLUMES {
            let device = (b'f' + d as u8) as char;
            params.push_str(&format!(
                "&BlockDeviceMapping.{n}.DeviceName=/dev/sd{device}&BlockDeviceMapping.{n}.Ebs.VolumeSize={DATA_GIB}",
                n = d + 1
            ));
        }
        let (status, body) = api::ec2(addr, &params).context("RunInstances: no answer")?;
        anyhow::ensure!(status == 200, "RunInstances: {body}");
        let instance = api::tag(&body, "instanceId").context("RunInstances: no instance id")?.to_string();
        let filter = format!("Action=DescribeVolumes&Filter.1.Name=attachment.instance-id&Filter.1.Value.1={instance}");
        let (_, body) = api::ec2(addr, &filter).context("DescribeVolumes: no answer")?;
        let data: Vec<String> = body
            .split("<item>")
            .filter(|item| item.contains(&format!("<size>{DATA_GIB}</size>")))
            .filter_map(|item| api::tag(item, "volumeId").map(str::to_string))
            .collect();
        let mut data = data;
        data.sort();
        data.dedup();
        volumes.extend(data);
    }
    let create_db = |id: &str, multi_az: bool| -> anyhow::Result<()> {
        let placement = if multi_az { "MultiAZ=true".to_string() } else { format!("AvailabilityZone={AFFECTED}") };
        let params = format!(
            "Action=CreateDBInstance&DBInstanceIdentifier={id}&Engine=postgres&DBInstanceClass=db.m5.large&AllocatedStorage={DB_GIB}&MasterUsername={DB_USER}&MasterUserPassword={DB_PASSWORD}&{placement}"
        );
        let (status, body) = api::rds(addr, &params).context("CreateDBInstance: no answer")?;
        anyhow::ensure!(status == 200, "CreateDBInstance {id}: {body}");
        Ok(())
    };
    let mut single = Vec::new();
    for n in 0..layout.single_az_db {
        let id = format!("single-{n}");
        create_db(&id, false)?;
        single.push(id);
    }
    // Multi-AZ instances go where RDS places them: keep those whose primary is in the zone.
    let mut multi = Vec::new();
    for n in 0..layout.multi_az_db * 6 {
        if multi.len() == layout.multi_az_db {
            break;
        }
        let id = format!("multi-{n}");
        create_db(&id, true)?;
        let (_, body) =
            api::rds(addr, &format!("Action=DescribeDBInstances&DBInstanceIdentifier={id}")).context("Describe")?;
        if api::tag(&body, "AvailabilityZone") == Some(AFFECTED) {
            multi.push(id);
        } else {
            let params = format!("Action=DeleteDBInstance&DBInstanceIdentifier={id}&SkipFinalSnapshot=true");
            api::rds(addr, &params);
        }
    }
    // Everything available before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = api::rds(addr, "Action=DescribeDBInstances").context("DescribeDBInstances")?;
        let pending =
            api::tags(&body, "DBInstanceStatus").iter().filter(|s| **s != "available" && **s != "deleting").count();
        let (_, vols) = api::ec2(addr, "Action=DescribeVolumes&Filter.1.Name=status&Filter.1.Value.1=in-use")
            .context("DescribeVolumes")?;
        let attached = volumes.iter().filter(|v| vols.contains(v.as_str())).count();
        if pending == 0 && attached == volumes.len() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the workload did not become available in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((volumes, single, multi))
}

/// Writes FUA blocks to one volume until told to stop; answers the last acknowledged sequence
/// number of each slot (what must read back).
async fn write_loop(nbd: SocketAddr, volume: String, index: usize, shared: Arc<Shared>) -> Acked {
    let mut acked = Acked { volume: volume.clone(), index, slots: BTreeMap::new() };
    let mut seq: u64 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok(mut client) = squall_nbd::client::Client::connect(nbd, &volume).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !shared.stop.load(Ordering::SeqCst) {
            seq += 1;
            let slot = seq % SLOTS;
            let data = block(index, seq);
            let sent = client
                .send(
                    squall_nbd::proto::CMD_WRITE,
                    squall_nbd::proto::CMD_FLAG_FUA,
                    slot * BLOCK as u64,
                    BLOCK as u32,
                    &data,
                )
                .await;
            let answer = match sent {
                Ok(_) => client.receive().await,
                Err(e) => Err(e),
            };
            match answer {
                Ok((_, Ok(_))) => {
                    acked.slots.insert(slot, seq);
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok((_, Err(_))) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => break,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    acked
}

struct Acked {
    volume: String,
    index: usize,
    slots: BTreeMap<u64, u64>,
}

/// What a write of `seq` to volume `index` carries: both numbers, repeated.
fn block(index: usize, seq: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(BLOCK);
    while data.len() < BLOCK {
        data.extend_from_slice(&(index as u64).to_le_bytes());
        data.extend_from_slice(&seq.to_le_bytes());
    }
    data
}

/// Acknowledged writes that do not read back.
async fn verify(nbd: SocketAddr, acked: &Acked) -> u64 {
    let Ok(Ok(mut client)) =
        tokio::time::timeout(Duration::from_secs(5), squall_nbd::client::Client::connect(nbd, &acked.volume)).await
    else {
        return acked.slots.len() as u64;
    };
    let mut lost = 0;
    for (slot, seq) in &acked.slots {
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(slot * BLOCK as u64, BLOCK as u32)).await;
        if !matches!(read, Ok(Ok(Ok(ref bytes))) if *bytes == block(acked.index, *seq)) {
            lost += 1;
        }
    }
    lost
}

/// Probes: CreateVolume in the other zones, or DescribeRegions and DescribeVolumes (zone-free),
/// about ten calls a second.
fn probe_loop(shared: &Shared, class: Class) {
    let mut n = 0usize;
    while !shared.stop.load(Ordering::SeqCst) {
        n += 1;
        let at = shared.now();
        let answer = match class {
            Class::Other => {
                let zone = OTHERS[n % OTHERS.len()];
                api::ec2(shared.addr, &format!("Action=CreateVolume&AvailabilityZone={zone}&Size=1"))
            }
            _ if n.is_multiple_of(2) => api::ec2(shared.addr, "Action=DescribeRegions"),
            _ => api::ec2(shared.addr, "Action=DescribeVolumes&MaxResults=5"),
        };
        shared.record(class, at, &answer);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client of the storm: CreateVolume into the zone, again and again.
fn storm_loop(shared: &Shared, n: usize) {
    while !shared.stop.load(Ordering::SeqCst) {
        if !shared.storm.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let at = shared.now();
        let answer = api::ec2(shared.addr, &format!("Action=CreateVolume&AvailabilityZone={AFFECTED}&Size=1"));
        shared.record(Class::Affected, at, &answer);
        // A client backs off a little after an error, as SDKs do.
        if !api::served(&answer) {
            std::thread::sleep(Duration::from_millis(50 + (n as u64 % 5) * 10));
        }
    }
}

/// (stuck, all) volumes of the affected zone's storage.
fn stuck_counts(control: &squall_control::ControlPlane, region: &RegionName) -> (usize, usize) {
    let status = control.status().remove(region.as_str()).unwrap_or_default();
    status.iter().find(|z| z.name == AFFECTED).and_then(|z| z.storage.as_ref()).map_or((0, 0), |s| (s.stuck, s.volumes))
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

fn sample(
    control: &squall_control::ControlPlane,
    region: &RegionName,
    single: &[String],
    multi: &[String],
    shared: &Shared,
    t: u32,
    phase: &'static str,
) -> Second {
    let status = control.status().remove(region.as_str()).unwrap_or_default();
    let (mut stuck_a, mut all_a, mut stuck_o, mut all_o) = (0, 0, 0, 0);
    for z in &status {
        if let Some(s) = &z.storage {
            if z.name == AFFECTED {
                (stuck_a, all_a) = (s.stuck, s.volumes);
            } else {
                stuck_o += s.stuck;
                all_o += s.volumes;
            }
        }
    }
    let (failovers, refused) =
        status.iter().fold((0, 0), |(f, r), z| (f + z.db_instances.failovers, r + z.db_instances.failovers_refused));
    // (id, storage stuck, not available: stuck, or failing over) of every DB instance.
    let dbs: Vec<(String, bool, bool)> = control
        .region(region)
        .read(control.now_ms(), |state| {
            Ok(state
                .db_instances()
                .map(|i| {
                    let stuck = i.storage_stuck_since_ms.is_some();
                    let available = i.status == squall_control::model::rds::DbInstanceStatus::Available;
                    (i.id.clone(), stuck, stuck || !available)
                })
                .collect())
        })
        .unwrap_or_default();
    let stuck = |ids: &[String]| ids.iter().filter(|id| dbs.iter().any(|(d, s, _)| d == *id && *s)).count();
    let down = |ids: &[String]| ids.iter().filter(|id| dbs.iter().any(|(d, _, down)| d == *id && *down)).count();
    let pool = control.pool_status().remove(region.as_str()).unwrap_or_default();
    let mut second = Second {
        t,
        phase,
        volumes_stuck_pct: pct(stuck_a, all_a),
        other_zones_stuck_pct: pct(stuck_o, all_o),
        affected_zone_api_ok_pct: None,
        other_zones_api_ok_pct: None,
        zone_free_api_ok_pct: None,
        other_zones_api_max_ms: None,
        pool_busy: pool.busy,
        pool_queued: pool.queued,
        single_az_db_stuck_pct: pct(stuck(single), single.len()),
        multi_az_db_unavailable_pct: pct(down(multi), multi.len()),
        failovers,
        failovers_refused: refused,
        writes_acked: shared.acked.load(Ordering::Relaxed),
        commits_acked: shared.commits.load(Ordering::Relaxed),
    };
    // The calls answered so far (for the progress line; the report recounts once all answered).
    rate_second(&mut second, &shared.calls.lock().unwrap_or_else(PoisonError::into_inner));
    second
}

struct Totals {
    volumes: usize,
    single_az_db: usize,
    multi_az_db: usize,
    writes_lost: u64,
    commits_lost: u64,
    unrecovered: usize,
    heal_at_pct: f64,
    remirror_attempts: u64,
    crashes_on_close: u64,
}

fn summarize(seconds: &[Second], calls: &[Call], timeline: &Timeline, totals: Totals) -> Summary {
    let during = |s: &&Second| s.t > timeline.network_change && s.t <= timeline.heal_network;
    let peak = |f: fn(&Second) -> f64| seconds.iter().map(f).fold(0.0, f64::max);
    let min_during = |f: fn(&Second) -> Option<f64>| seconds.iter().filter(during).filter_map(f).fold(100.0, f64::min);
    let fault_window =
        |c: &&Call| c.at >= f64::from(timeline.network_change) && c.at < f64::from(timeline.heal_network);
    let share = |keep: &dyn Fn(&Call) -> bool| {
        let window: Vec<&Call> = calls.iter().filter(fault_window).filter(|c| keep(c)).collect();
        if window.is_empty() {
            100.0
        } else {
            100.0 * window.iter().filter(|c| c.served).count() as f64 / window.len() as f64
        }
    };
    let last = seconds.last();
    let failovers_refused = last.map_or(0, |s| s.failovers_refused);
    Summary {
        volumes: totals.volumes,
        volumes_stuck_peak_pct: peak(|s| s.volumes_stuck_pct),
        volumes_stuck_mean_pct: {
            let during: Vec<f64> = seconds.iter().filter(during).map(|s| s.volumes_stuck_pct).collect();
            during.iter().sum::<f64>() / during.len().max(1) as f64
        },
        volumes_stuck_at_heal_pct: totals.heal_at_pct,
        volumes_stuck_at_end_pct: last.map_or(0.0, |s| s.volumes_stuck_pct),
        other_zones_stuck_peak_pct: peak(|s| s.other_zones_stuck_pct),
        other_zones_api_ok_min_pct: min_during(|s| s.other_zones_api_ok_pct),
        zone_free_api_ok_min_pct: min_during(|s| s.zone_free_api_ok_pct),
        other_zones_api_ok_pct: share(&|c| c.class != Class::Affected),
        affected_zone_api_ok_pct: share(&|c| c.class == Class::Affected),
        single_az_db: totals.single_az_db,
        single_az_db_stuck_peak_pct: peak(|s| s.single_az_db_stuck_pct),
        multi_az_db: totals.multi_az_db,
        multi_az_db_unavailable_peak_pct: peak(|s| s.multi_az_db_unavailable_pct),
        failovers: last.map_or(0, |s| s.failovers),
        failovers_refused,
        multi_az_not_failed_over_pct: pct(failovers_refused, totals.multi_az_db),
        writes_acked: last.map_or(0, |s| s.writes_acked),
        writes_lost: totals.writes_lost,
        commits_acked: last.map_or(0, |s| s.commits_acked),
        commits_lost: totals.commits_lost,
        volumes_unrecovered: totals.unrecovered,
        remirror_attempts: totals.remirror_attempts,
        crashes_on_close: totals.crashes_on_close,
    }
}

/// The API figures of each second from every call that started in it, once all have answered
/// (a call held in the queue for ten seconds counts in the second it was made, not when it
/// finally failed).
fn rate_calls_by_start(seconds: &mut [Second], calls: &[Call]) {
    for s in seconds.iter_mut() {
        rate_second(s, calls);
    }
}

/// The API figures of second `s.t` from the calls that started in the second before it.
fn rate_second(s: &mut Second, calls: &[Call]) {
    let (from, to) = (f64::from(s.t.saturating_sub(1)), f64::from(s.t));
    let window = |class: Class| calls.iter().filter(move |c| c.class == class && c.at >= from && c.at < to);
    let rate = |class: Class| {
        let all = window(class).count();
        (all > 0).then(|| 100.0 * window(class).filter(|c| c.served).count() as f64 / all as f64)
    };
    s.affected_zone_api_ok_pct = rate(Class::Affected);
    s.other_zones_api_ok_pct = rate(Class::Other);
    s.zone_free_api_ok_pct = rate(Class::ZoneFree);
    s.other_zones_api_max_ms = window(Class::Other)
        .chain(window(Class::ZoneFree))
        .map(|c| c.ms)
        .fold(None, |m: Option<f64>, ms| Some(m.map_or(ms, |m| m.max(ms))));
}

/// `n` consecutive free TCP ports on the loopback, for the DB instances' SQL endpoints.
fn free_ports(n: usize) -> anyhow::Result<std::ops::RangeInclusive<u16>> {
    for _ in 0..50 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base = probe.local_addr()?.port();
        drop(probe);
        let Some(last) = base.checked_add(n as u16) else { continue };
        let held: Vec<_> = (base..=last).map_while(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok()).collect();
        if held.len() == n + 1 {
            return Ok(base..=last);
        }
    }
    anyhow::bail!("no {n} consecutive free ports on 127.0.0.1")
}

/// The rows a DB instance's application was told were committed.
struct Commits {
    id: String,
    acked: Vec<u64>,
}

const DB_USER: &str = "drill";
const DB_PASSWORD: &str = "drill-password-1";

async fn db_port(addr: SocketAddr, id: &str) -> Option<u16> {
    let params = format!("Action=DescribeDBInstances&DBInstanceIdentifier={id}");
    let answer = tokio::task::spawn_blocking(move || api::rds(addr, &params)).await.ok()??;
    api::tag(&answer.1, "Port")?.parse().ok()
}

/// Commits one row per transaction until told to stop, reconnecting after a failover closes the
/// connection; answers the rows it was told were committed.
async fn commit_loop(addr: SocketAddr, id: String, shared: Arc<Shared>) -> Commits {
    let mut commits = Commits { id: id.clone(), acked: Vec::new() };
    let mut next: u64 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(port) = db_port(addr, &id).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(mut client) =
            squall_sql::client::Client::connect(("127.0.0.1", port), DB_USER, DB_PASSWORD, "postgres").await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if client.query("CREATE TABLE IF NOT EXISTS commits (id BIGINT PRIMARY KEY)").await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        while !shared.stop.load(Ordering::SeqCst) {
            next += 1;
            match client.query(&format!("INSERT INTO commits (id) VALUES ({next})")).await {
                Ok(_) => {
                    commits.acked.push(next);
                    shared.commits.fetch_add(1, Ordering::Relaxed);
                }
                Err(squall_sql::client::QueryError::Server { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(squall_sql::client::QueryError::Connection(_)) => break,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    commits
}

/// Committed rows that are not there after the drill.
async fn verify_commits(addr: SocketAddr, commits: &Commits) -> u64 {
    let read = async {
        let port = db_port(addr, &commits.id).await?;
        let mut client =
            squall_sql::client::Client::connect(("127.0.0.1", port), DB_USER, DB_PASSWORD, "postgres").await.ok()?;
        client.query("SELECT id FROM commits").await.ok()
    };
    let Ok(Some(rows)) = tokio::time::timeout(Duration::from_secs(10), read).await else {
        return commits.acked.len() as u64;
    };
    let present: std::collections::BTreeSet<u64> =
        rows.iter().filter_map(|r| r.first().cloned().flatten().and_then(|v| v.parse().ok())).collect();
    commits.acked.iter().filter(|id| !present.contains(id)).count() as u64
}
