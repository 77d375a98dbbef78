//! `--lifecycle-delay-ms` reaches the control plane: 0 is instant (the creating call answers
//! `creating`, the next request sees `available`), 50 and 2000 take that long.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{ec2, tag};
use squall::config::ServeOptions;

/// An EC2 call that must succeed: its body.
fn call(addr: SocketAddr, params: &str) -> String {
    let (status, body) = ec2(addr, params);
    assert_eq!(status, 200, "{body}");
    body
}

fn value<'a>(xml: &'a str, name: &str) -> &'a str {
    tag(xml, name).unwrap_or_else(|| panic!("no <{name}> in {xml}"))
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
        let created = call(addr, "Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1");
        let id = value(&created, "volumeId").to_string();
        let mut describes = 0;
        loop {
            let described = call(addr, &format!("Action=DescribeVolumes&VolumeId.1={id}"));
            describes += 1;
            if value(&described, "status") == "available" {
                break (value(&created, "status").to_string(), started.elapsed(), describes);
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
