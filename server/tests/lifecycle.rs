//! `--lifecycle-delay-ms` reaches the control plane: 0 is instant (the creating call answers
//! `creating`, the next request sees `available`), 50 and 2000 take that long.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use squall::config::ServeOptions;

fn call(addr: SocketAddr, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

fn tag<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    xml.split(&open).nth(1).and_then(|s| s.split('<').next()).unwrap_or_else(|| panic!("no <{name}> in {xml}"))
}

/// Creates a volume; answers the state CreateVolume reported, how long from the call until
/// DescribeVolumes first shows it `available`, and how many DescribeVolumes that took.
async fn time_to_available(delay_ms: u64) -> (String, Duration, u32) {
    let mut options = ServeOptions::ephemeral();
    options.lifecycle_delay_ms = delay_ms;
    let server = squall::start(&options).await.expect("squall starts");
    let addr = server.addr;
    let found = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let created = call(addr, "Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=1");
        let id = tag(&created, "volumeId").to_string();
        let mut describes = 0;
        loop {
            let described = call(addr, &format!("Action=DescribeVolumes&Version=2016-11-15&VolumeId.1={id}"));
            describes += 1;
            if tag(&described, "status") == "available" {
                break (tag(&created, "status").to_string(), started.elapsed(), describes);
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never available");
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .expect("client");
    server.shutdown().await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_delay_flag_sets_how_long_transitions_take() {
    let (state, _, describes) = time_to_available(0).await;
    assert_eq!(state, "creating", "the creating call answers AWS's first state");
    assert_eq!(describes, 1, "0 is instant: the first DescribeVolumes sees it available");
    let (_, fifty, _) = time_to_available(50).await;
    assert!(fifty >= Duration::from_millis(50) && fifty < Duration::from_millis(1000), "{fifty:?}");
    let (_, slow, _) = time_to_available(2000).await;
    assert!(slow >= Duration::from_millis(2000), "{slow:?} (the built-in default is 300 ms)");
}
