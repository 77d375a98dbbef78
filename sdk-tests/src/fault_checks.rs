//! The fault API against a running squall (in-process or its image): a paused volume stalls and
//! resumes, an injected API error reaches the SDK with its exact code, an AZ outage shows in
//! DescribeAvailabilityZones and heals.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{AvailabilityZoneState, ResourceType, VolumeStatusInfoStatus};

use crate::ebs_checks::{poll_until, tags, until_instance, volume_available};
use crate::{ec2, error_seen};

/// One HTTP/1.1 request to squall's own surface at `endpoint`: (status, JSON body).
pub fn squall_http(endpoint: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    squall_http_with_token(endpoint, method, path, body, None)
}

/// [`squall_http`] with an optional `Authorization: Bearer` token.
pub fn squall_http_with_token(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw.get(9..12).and_then(|c| c.parse().ok()).expect("status line");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

pub async fn fault_api_round_trip(endpoint: String, nbd: SocketAddr) {
    use aws_sdk_ec2::types::{InstanceStateName, Placement};
    use squall::nbd::client::Client;
    let ec2 = ec2(&endpoint, "eu-west-3");
    let run = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .placement(Placement::builder().availability_zone("eu-west-3a").build())
        .send()
        .await
        .expect("RunInstances");
    let instance = run.instances()[0].instance_id().expect("id").to_string();
    until_instance(&ec2, &instance, InstanceStateName::Running).await;
    let created = ec2
        .create_volume()
        .availability_zone("eu-west-3a")
        .size(1)
        .tag_specifications(tags(&[("tier", "db")], ResourceType::Volume))
        .send()
        .await
        .expect("CreateVolume");
    let volume = created.volume_id().expect("id").to_string();
    volume_available(&ec2, &volume).await;
    ec2.attach_volume().volume_id(&volume).instance_id(&instance).device("/dev/sdf").send().await.expect("attach");
    poll_until("in-use", || async {
        let d = ec2.describe_volumes().volume_ids(&volume).send().await.expect("describe");
        d.volumes()[0].state() == Some(&aws_sdk_ec2::types::VolumeState::InUse)
    })
    .await;

    let body = r#"{"kind":"volume-io-pause","region":"eu-west-3","tags":{"tier":"db"},"duration":1.5}"#;
    let (status, fault) = squall_http(&endpoint, "POST", "/_squall/faults", body);
    assert_eq!(status, 201, "{fault}");
    let started = Instant::now();
    let d = ec2.describe_volume_status().volume_ids(&volume).send().await.expect("status");
    let status_now = d.volume_statuses()[0].volume_status().and_then(|s| s.status()).cloned();
    assert_eq!(status_now, Some(VolumeStatusInfoStatus::Impaired));
    let mut c = Client::connect(nbd, &volume).await.expect("NBD connect");
    assert_eq!(c.write(0, &[3; 4096]).await.expect("write"), Ok(vec![]), "held, then done");
    assert!(started.elapsed() >= Duration::from_millis(1000), "the write waited for the pause to end");

    let body = r#"{"kind":"api-error","region":"eu-west-3","service":"ec2","actions":["DescribeVolumes"],"code":"RequestLimitExceeded"}"#;
    assert_eq!(squall_http(&endpoint, "POST", "/_squall/faults", body).0, 201);
    let throttled = ec2.describe_volumes().send().await.expect_err("throttled");
    let seen = error_seen(throttled);
    assert_eq!((seen.status, seen.code.as_str()), (503, "RequestLimitExceeded"));
    let body = r#"{"kind":"az-outage","region":"eu-west-3","zone":"eu-west-3c"}"#;
    assert_eq!(squall_http(&endpoint, "POST", "/_squall/faults", body).0, 201);
    let zones = ec2.describe_availability_zones().send().await.expect("zones");
    let states: Vec<_> = zones.availability_zones().iter().map(|z| z.state().cloned()).collect();
    assert_eq!(
        states,
        [
            Some(AvailabilityZoneState::Available),
            Some(AvailabilityZoneState::Available),
            Some(AvailabilityZoneState::Unavailable)
        ]
    );
    let (status, healed) = squall_http(&endpoint, "DELETE", "/_squall/faults", "");
    assert_eq!((status, healed["healed"].as_array().map(Vec::len)), (200, Some(2)), "{healed}");
    ec2.describe_volumes().send().await.expect("no longer throttled");
    let (_, st) = squall_http(&endpoint, "GET", "/_squall/status", "");
    assert_eq!(st["faults"].as_array().map(Vec::len), Some(0));
    let (status, metrics) = squall_http(&endpoint, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let text = metrics.as_str().expect("Prometheus text");
    // Other checks may share this server (the image runs them all): counts are lower bounds.
    let value = |series: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("/metrics lacks {series}:\n{text}"))
    };
    assert!(
        value(r#"squall_api_requests_total{service="ec2",action="CreateVolume",zone="eu-west-3a",status="200"}"#) >= 1
    );
    // The SDK tries a throttled call three times (its standard retry mode).
    assert!(value(r#"squall_api_errors_total{service="ec2",action="DescribeVolumes",zone="-"}"#) >= 3);
    assert!(value(r#"squall_volumes{region="eu-west-3",zone="eu-west-3a",state="healthy"}"#) >= 2);
    assert_eq!(value(r#"squall_zone_up{region="eu-west-3",zone="eu-west-3c",state="available"}"#), 1);
    assert!(text.contains(&format!("squall_nbd_sessions{{volume=\"{volume}\"}}")), "{text}");
}
