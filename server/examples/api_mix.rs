//! A bench, not a test: 64 concurrent clients on one squall — DescribeVolumes, CreateVolume and
//! DeleteVolume, AttachVolume and DetachVolume, and NBD writes (with flushes) to 8 attached
//! volumes — for a while; prints DescribeVolumes' latency alone and under the mix, and every
//! answer by action and code.
//!
//!     cargo run --release -p squall --example api_mix -- [seconds=60] [rate=20]
//!
//! Each client starts a request `rate` times a second on a fixed schedule (open loop; an NBD
//! writer sends four 64 KiB writes per tick), and a latency counts from the scheduled start, so a
//! client held up by a slow answer does not hide the wait. `rate` 0 makes every client send as
//! fast as it can (closed loop): on two cores that measures CPU saturation, not interference.
//! squall runs in this process (release build, default settings but a 20 ms lifecycle); the
//! clients are plain threads with keep-alive connections. Nothing is asserted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall::config::ServeOptions;

/// One keep-alive HTTP/1.1 connection.
struct Http {
    reader: BufReader<TcpStream>,
}

impl Http {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { reader: BufReader::new(stream) }
    }

    /// An EC2 call: (status, error code or "-", body).
    fn ec2(&mut self, params: &str) -> (u16, String, String) {
        let body = format!("Version=2016-11-15&{params}");
        let head = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes())).expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).expect("body");
        let body = String::from_utf8_lossy(&buf).to_string();
        let code = tag(&body, "Code").unwrap_or("-").to_string();
        (status, code, body)
    }
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    xml.split(&format!("<{name}>")).nth(1).and_then(|s| s.split('<').next())
}

type Counts = Arc<Mutex<BTreeMap<(String, String), u64>>>;

fn count(counts: &Counts, action: &str, status: u16, code: &str) {
    *counts.lock().expect("counts").entry((action.to_string(), format!("{status} {code}"))).or_default() += 1;
}

/// Waits until DescribeVolumes shows the volume in `state`.
fn wait_state(http: &mut Http, volume: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (_, _, body) = http.ec2(&format!("Action=DescribeVolumes&VolumeId.1={volume}"));
        if tag(&body, "status") == Some(state) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{volume} never became {state}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// A client's schedule: `rate` starts a second, the first at a phase of its own so clients do not
/// start in step; without a rate, each start is now.
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(rate: f64, client: usize, clients: usize) -> Self {
        let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        let phase = interval.map_or(Duration::ZERO, |i| i.mul_f64(client as f64 / clients.max(1) as f64));
        Self { interval, next: Instant::now() + phase }
    }

    /// Waits for the next scheduled start and returns it (a late client starts at once, and its
    /// latency still counts from the schedule).
    fn wait(&mut self) -> Instant {
        let Some(interval) = self.interval else { return Instant::now() };
        let due = self.next;
        self.next += interval;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due
    }
}

fn describe_loop(addr: SocketAddr, stop: &AtomicBool, counts: &Counts, mut pacer: Pacer) -> Vec<Duration> {
    let mut http = Http::connect(addr);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = pacer.wait();
        let (status, code, _) = http.ec2("Action=DescribeVolumes&MaxResults=100");
        latencies.push(started.elapsed());
        count(counts, "DescribeVolumes", status, &code);
    }
    latencies
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let rate: f64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = rt.block_on(squall::start(&options)).expect("squall starts");
    let (addr, nbd) = (server.addr, server.nbd_addr.expect("NBD listens"));
    let counts: Counts = Arc::default();

    // Four instances; 8 volumes attached for NBD writers, 16 more for attach/detach cycles.
    let mut http = Http::connect(addr);
    let instances: Vec<String> = (0..4)
        .map(|_| {
            let (status, _, body) = http.ec2(
                "Action=RunInstances&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1&InstanceType=t3.micro\
                 &Placement.AvailabilityZone=us-east-1a",
            );
            assert_eq!(status, 200, "{body}");
            tag(&body, "instanceId").expect("instance").to_string()
        })
        .collect();
    let volume = |http: &mut Http| {
        let (status, _, body) = http.ec2("Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1");
        assert_eq!(status, 200, "{body}");
        let v = tag(&body, "volumeId").expect("volume").to_string();
        wait_state(http, &v, "available");
        v
    };
    let written: Vec<String> = (0..8).map(|_| volume(&mut http)).collect();
    let cycled: Vec<String> = (0..16).map(|_| volume(&mut http)).collect();
    for (i, v) in written.iter().enumerate() {
        let device = format!("/dev/sd{}", (b'f' + i as u8) as char);
        let (status, _, body) =
            http.ec2(&format!("Action=AttachVolume&VolumeId={v}&InstanceId={}&Device={device}", instances[i % 4]));
        assert_eq!(status, 200, "{body}");
        wait_state(&mut http, v, "in-use");
    }

    // DescribeVolumes alone.
    let stop = Arc::new(AtomicBool::new(false));
    let idle = {
        let (flag, counts) = (stop.clone(), counts.clone());
        let t = std::thread::spawn(move || describe_loop(addr, &flag, &counts, Pacer::new(0.0, 0, 1)));
        std::thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        let mut l = t.join().expect("idle client");
        l.sort();
        l
    };
    counts.lock().expect("counts").clear();

    // The mix: 8 NBD writers, 24 describers, 16 creators, 16 attachers.
    let stop = Arc::new(AtomicBool::new(false));
    let nbd_bytes = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for (i, v) in written.iter().enumerate() {
        let (stop, v, bytes) = (stop.clone(), v.clone(), nbd_bytes.clone());
        let mut pacer = Pacer::new(rate, i, written.len());
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let mut c = squall::nbd::client::Client::connect(nbd, &v).await.expect("NBD connects");
                let data = vec![0x5a; 64 << 10];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if n.is_multiple_of(4) {
                        pacer.wait();
                    }
                    c.write((n % 4096) * (64 << 10), &data).await.expect("write").expect("written");
                    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    n += 1;
                    if n.is_multiple_of(16) {
                        c.flush().await.expect("flush").expect("flushed");
                    }
                }
            });
            Vec::new()
        }));
    }
    for c in 0..24 {
        let (stop, counts) = (stop.clone(), counts.clone());
        threads.push(std::thread::spawn(move || describe_loop(addr, &stop, &counts, Pacer::new(rate, c, 24))));
    }
    for c in 0..16 {
        let (stop, counts) = (stop.clone(), counts.clone());
        threads.push(std::thread::spawn(move || {
            let mut http = Http::connect(addr);
            let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][c % 3];
            let mut pacer = Pacer::new(rate / 2.0, c, 16); // a create and a delete per tick
            while !stop.load(Ordering::Relaxed) {
                pacer.wait();
                let (status, code, body) = http.ec2(&format!("Action=CreateVolume&AvailabilityZone={zone}&Size=1"));
                count(&counts, "CreateVolume", status, &code);
                let Some(v) = tag(&body, "volumeId").map(str::to_string) else { continue };
                std::thread::sleep(Duration::from_millis(30));
                let (status, code, _) = http.ec2(&format!("Action=DeleteVolume&VolumeId={v}"));
                count(&counts, "DeleteVolume", status, &code);
            }
            Vec::new()
        }));
    }
    for (i, v) in cycled.iter().enumerate() {
        let (stop, counts, v) = (stop.clone(), counts.clone(), v.clone());
        let instance = instances[i % 4].clone();
        let device = format!("/dev/sd{}", (b'n' + (i / 4) as u8) as char);
        let mut pacer = Pacer::new(rate / 4.0, i, cycled.len()); // attach, wait, detach, wait
        threads.push(std::thread::spawn(move || {
            let mut http = Http::connect(addr);
            while !stop.load(Ordering::Relaxed) {
                pacer.wait();
                let (status, code, _) =
                    http.ec2(&format!("Action=AttachVolume&VolumeId={v}&InstanceId={instance}&Device={device}"));
                count(&counts, "AttachVolume", status, &code);
                if status != 200 {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                wait_state(&mut http, &v, "in-use");
                let (status, code, _) = http.ec2(&format!("Action=DetachVolume&VolumeId={v}"));
                count(&counts, "DetachVolume", status, &code);
                wait_state(&mut http, &v, "available");
            }
            Vec::new()
        }));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut mixed: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().expect("client")).collect();
    let elapsed = started.elapsed();
    mixed.sort();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "DescribeVolumes (MaxResults=100) alone: {} calls, p50 {:.2} ms, p99 {:.2} ms",
        idle.len(),
        ms(percentile(&idle, 0.5)),
        ms(percentile(&idle, 0.99))
    );
    println!(
        "DescribeVolumes under the mix ({} s, 64 clients, {}): {} calls, p50 {:.2} ms, p99 {:.2} ms — p99 {:.1}x alone",
        seconds,
        if rate > 0.0 { format!("{rate} starts/s each") } else { "closed loop".to_string() },
        mixed.len(),
        ms(percentile(&mixed, 0.5)),
        ms(percentile(&mixed, 0.99)),
        percentile(&mixed, 0.99).as_secs_f64() / percentile(&idle, 0.99).as_secs_f64().max(1e-9)
    );
    println!(
        "NBD writes beside it: {:.1} MiB/s over 8 volumes (64 KiB writes, a flush every 16)",
        nbd_bytes.load(Ordering::Relaxed) as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
    );
    println!("answers by action and code:");
    for ((action, code), n) in counts.lock().expect("counts").iter() {
        println!("  {action:<16} {code:<40} {n}");
    }
    rt.block_on(server.shutdown());
}
