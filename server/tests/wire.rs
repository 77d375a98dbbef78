//! Raw HTTP against an in-process squall: what no SDK would send, and byte-exact responses.

use std::io::{Read, Write};
use std::net::TcpStream;

use squall::config::ServeOptions;

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

fn send(addr: std::net::SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(raw).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    Reply { status, headers: head.to_lowercase(), body: body.to_string() }
}

fn post(addr: std::net::SocketAddr, auth: Option<&str>, body: &[u8]) -> Reply {
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        raw.push_str(&format!("Authorization: {a}\r\n"));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send(addr, &bytes)
}

const EU_WEST_1: &str =
    "AWS4-HMAC-SHA256 Credential=test/20261126/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=00";

fn request_id_of(body: &str) -> &str {
    body.split("<requestId>").nth(1).and_then(|r| r.split("</requestId>").next()).expect("a requestId")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_availability_zones_matches_the_golden_response() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let reply = tokio::task::spawn_blocking(move || {
        post(addr, Some(EU_WEST_1), b"Action=DescribeAvailabilityZones&Version=2016-11-15")
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains("content-type: text/xml;charset=utf-8"), "{}", reply.headers);
    let id = request_id_of(&reply.body).to_string();
    assert!(reply.headers.contains(&format!("x-amzn-requestid: {id}")), "{}", reply.headers);
    let golden = include_str!("fixtures/describe_availability_zones_eu_west_1.xml").trim_end();
    assert_eq!(reply.body.replace(&id, "REQUEST-ID"), golden);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_requests_and_query_strings_work_like_post_forms() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let reply = tokio::task::spawn_blocking(move || {
        send(addr, b"GET /?Action=DescribeAvailabilityZones&Version=2016-11-15&ZoneName.1=us-east-1b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("<zoneName>us-east-1b</zoneName>"));
    assert!(!reply.body.contains("us-east-1a"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_ec2_errors_never_a_crash() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let cases: Vec<(&[u8], u16, &str, &str)> = vec![
        (b"Version=2016-11-15", 400, "MissingParameter", "The request must contain the parameter Action"),
        (
            b"Action=DescribeAvailabilityZones&Version=2016-11-15&DryRun=maybe",
            400,
            "InvalidParameterValue",
            "Invalid value &apos;maybe&apos; for DryRun.",
        ),
        (
            b"Action=DescribeAvailabilityZones&Version=2016-11-15&ZoneName.x=a",
            400,
            "InvalidParameterValue",
            "ZoneName.x",
        ),
        (
            b"Action=DescribeAvailabilityZones&Version=2016-11-15&Filter.1.Value.1=a",
            400,
            "InvalidParameterValue",
            "The filter &apos;&apos; is invalid",
        ),
        (
            b"Action=NoSuchThing&Version=2016-11-15",
            400,
            "InvalidAction",
            "The action NoSuchThing is not valid for this web service.",
        ),
        (
            b"Action=CreateVpnGateway&Version=2016-11-15&Type=ipsec.1",
            400,
            "InvalidAction",
            "The action CreateVpnGateway is not implemented by squall yet.",
        ),
        // Bytes that are not UTF-8 are refused, not decoded into something else.
        (b"Action=Describe%FF%FE&Version=2016-11-15&\xff\xfe=\x00", 404, "MalformedQueryString", "not valid UTF-8"),
    ];
    for (body, status, code, message) in cases {
        let reply = tokio::task::spawn_blocking(move || post(addr, Some(EU_WEST_1), body)).await.unwrap();
        let shown = String::from_utf8_lossy(body);
        assert_eq!(reply.status, status, "{shown}: {}", reply.body);
        assert!(reply.body.contains(&format!("<Code>{code}</Code>")), "{shown}: {}", reply.body);
        assert!(reply.body.contains(message), "{shown}: {}", reply.body);
        assert!(reply.body.contains("<RequestID>"), "{shown}: {}", reply.body);
    }
    // Still serving after all of that.
    let reply = tokio::task::spawn_blocking(move || post(addr, None, b"Action=DescribeRegions&Version=2016-11-15"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let reply = tokio::task::spawn_blocking(move || {
        let body = vec![b'a'; 17 * 1024 * 1024];
        post(addr, Some(EU_WEST_1), &body)
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 413);
    server.shutdown().await;
}

/// Made-up regions in the credential scope are refused at once over HTTP, and leave nothing
/// behind: no region, no worker pool (16 threads each), nothing on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_regions_get_no_pool_and_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions { data_dir: Some(dir.path().to_path_buf()), ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.unwrap();
    let addr = server.addr;
    let statuses = tokio::task::spawn_blocking(move || {
        (0..200)
            .map(|i| {
                let auth = EU_WEST_1.replace("eu-west-1", &format!("zz-fake-{i}"));
                let reply = post(addr, Some(&auth), b"Action=DescribeVolumes&Version=2016-11-15");
                assert!(reply.body.contains("<Code>AuthFailure</Code>"), "{}", reply.body);
                reply.status
            })
            .collect::<Vec<u16>>()
    })
    .await
    .unwrap();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let status = send(addr, b"GET /_squall/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let pools = status["apiPools"].as_object().map_or(0, |p| p.len());
    assert_eq!(pools, 0, "no pool (16 threads each) for a made-up region");
    let regions = status["regions"].as_object().map_or(0, |r| r.len());
    assert_eq!(regions, 0, "no region opened");
    let on_disk: Vec<_> =
        std::fs::read_dir(dir.path().join("regions")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(on_disk.is_empty(), "{on_disk:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_too_many_parameters_are_refused_before_decoding() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    // 300,000 tiny parameters (a 1.5 MiB body, well under the body limit).
    let reply = tokio::task::spawn_blocking(move || {
        let mut body = b"Action=DescribeVolumes&Version=2016-11-15".to_vec();
        for i in 0..300_000 {
            body.extend_from_slice(format!("&p{i}=").as_bytes());
        }
        post(addr, Some(EU_WEST_1), &body)
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("<Code>InvalidParameterValue</Code>"), "{}", reply.body);
    assert!(
        reply.body.contains("The request has 300002 parameters; at most 10000 are accepted in one request."),
        "{}",
        reply.body
    );
    // A request of real size (1,000 ids, as a long DescribeVolumes list) is still served.
    let reply = tokio::task::spawn_blocking(move || {
        let mut body = b"Action=DescribeVolumes&Version=2016-11-15".to_vec();
        for i in 1..=1000 {
            body.extend_from_slice(format!("&Filter.1.Value.{i}=x{i}").as_bytes());
        }
        body.extend_from_slice(b"&Filter.1.Name=tag:k");
        post(addr, Some(EU_WEST_1), &body)
    })
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("<volumeSet/>"), "{}", reply.body);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_open_keep_alive_connection_finish_its_request() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    // A client that has sent half a request when shutdown begins still gets its answer.
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = b"Action=DescribeRegions&Version=2016-11-15";
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stream.write_all(body).unwrap();
    let reply = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("</DescribeRegionsResponse>") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).to_string()
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("</DescribeRegionsResponse>"));
    shutdown.await.unwrap();
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed after shutdown");
}

/// `/metrics` labels come from closed sets: any `Action` a client makes up is counted as
/// `unknown` (it cannot inject lines or grow the page), a zone squall does not have is no label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_stay_closed_whatever_clients_send() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let injected = "Evil%22%7D+1%0Asquall_injected_metric%7Ba%3D%22b%22%7D+42%0A";
    let mut bodies = vec![format!("Action={injected}&Version=2016-11-15")];
    bodies.extend((0..300).map(|n| format!("Action=MadeUp{n}&Version=2016-11-15")));
    bodies.push("Action=DescribeVolumes&Version=2016-11-15&AvailabilityZone=zz-fake-9q".to_string());
    bodies.push("Action=CreateVolume&Version=2016-11-15&AvailabilityZone=nowhere-1z&Size=1".to_string());
    bodies.push("Action=DescribeVolumes&Version=2016-11-15".to_string());
    for body in &bodies {
        let reply = post(addr, None, body.as_bytes());
        assert!(reply.status == 200 || reply.status == 400, "{body}: {}", reply.status);
    }
    let metrics = send(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body;
    assert!(!metrics.contains("squall_injected_metric"), "a crafted Action wrote into /metrics");
    assert!(!metrics.contains("MadeUp"), "made-up actions are not labels");
    let fake: Vec<&str> = metrics.lines().filter(|l| l.contains("zz-fake-9q") || l.contains("nowhere-1z")).collect();
    assert!(fake.is_empty(), "made-up zones are not labels: {fake:?}");
    assert!(
        metrics.contains(r#"squall_api_requests_total{service="ec2",action="unknown",zone="-",status="400"} 301"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"action="DescribeVolumes""#));
    // The exposition is well formed: every family is declared once, by HELP then TYPE, and its
    // samples follow its header (no sample of a family declared elsewhere).
    let mut declared = std::collections::BTreeSet::new();
    let mut current: Option<(String, String)> = None;
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            current = Some((name.to_string(), kind.to_string()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let sample = line.split(['{', ' ']).next().unwrap();
            let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("{line}: a sample before any family"));
            let own = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| sample == format!("{family}{s}")),
                _ => sample == family,
            };
            assert!(own, "{line}: a sample of another family under {family}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}: not a number");
        }
    }
    for family in
        ["squall_zone_up", "squall_api_requests_total", "squall_api_request_duration_seconds", "squall_faults_active"]
    {
        assert!(declared.contains(family), "{family} missing:\n{metrics}");
    }
    server.shutdown().await;
}

/// `--account-id` is the account of requests whose access key names none: STS, owner ids, ARNs;
/// a 12-digit access key id is still its own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_id_setting_reaches_owners_and_arns() {
    let options =
        ServeOptions { account_id: "111122223333".into(), lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.unwrap();
    let addr = server.addr;
    let scope = |key: &str, service: &str| {
        format!("AWS4-HMAC-SHA256 Credential={key}/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00")
    };
    let who = post(addr, Some(&scope("test", "sts")), b"Action=GetCallerIdentity&Version=2011-06-15").body;
    assert!(who.contains("<Account>111122223333</Account>"), "{who}");
    let own = post(addr, Some(&scope("123456789012", "sts")), b"Action=GetCallerIdentity&Version=2011-06-15").body;
    assert!(own.contains("<Account>123456789012</Account>"), "{own}");
    let ec2 = scope("test", "ec2");
    let volume =
        post(addr, Some(&ec2), b"Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=1").body;
    let id = volume.split("<volumeId>").nth(1).and_then(|v| v.split('<').next()).expect("a volume");
    let snap =
        post(addr, Some(&ec2), format!("Action=CreateSnapshot&Version=2016-11-15&VolumeId={id}").as_bytes()).body;
    assert!(snap.contains("<ownerId>111122223333</ownerId>"), "{snap}");
    let db = post(
        addr,
        Some(&scope("test", "rds")),
        b"Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=acct&DBInstanceClass=db.t3.micro\
          &Engine=postgres&AllocatedStorage=20&MasterUsername=app&MasterUserPassword=s3cret-pass",
    )
    .body;
    assert!(db.contains("<DBInstanceArn>arn:aws:rds:us-east-1:111122223333:db:acct</DBInstanceArn>"), "{db}");
    server.shutdown().await;
}

/// A head larger than squall reads gets 431, not a broken pipe; the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let server = squall::start(&ServeOptions::ephemeral()).await.unwrap();
    let addr = server.addr;
    let reply = tokio::task::spawn_blocking(move || {
        let big = "a".repeat(200 * 1024);
        let raw =
            format!("GET /?Action=DescribeRegions HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
        let mut s = TcpStream::connect(addr).expect("connect");
        // The server may answer and close before it has read everything: ignore a write error.
        let _ = s.write_all(raw.as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).to_string()
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:?}");
    let ok = tokio::task::spawn_blocking(move || post(addr, None, b"Action=DescribeRegions&Version=2016-11-15"));
    assert_eq!(ok.await.unwrap().status, 200);
    server.shutdown().await;
}

/// Slow and idle clients are timed out: a connection that sends half a head, or sits idle after
/// a request, is closed after the header time-out; a body that stops arriving gets 408. None of
/// it disturbs other clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_timed_out() {
    let options = ServeOptions { http_header_timeout_ms: 300, http_body_timeout_ms: 300, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.unwrap();
    let addr = server.addr;
    let closed_within = |mut s: TcpStream, secs: u64| {
        s.set_read_timeout(Some(std::time::Duration::from_secs(secs))).unwrap();
        let mut buf = Vec::new();
        let started = std::time::Instant::now();
        let read = s.read_to_end(&mut buf);
        (read.is_ok(), started.elapsed(), String::from_utf8_lossy(&buf).to_string())
    };
    tokio::task::spawn_blocking(move || {
        // Half a head (slowloris).
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
        let (closed, after, _) = closed_within(s, 5);
        assert!(closed && after < std::time::Duration::from_secs(3), "half a head: closed {closed} after {after:?}");
        // Idle after a keep-alive request.
        let mut s = TcpStream::connect(addr).unwrap();
        let body = b"Action=DescribeRegions&Version=2016-11-15";
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let (closed, after, text) = closed_within(s, 5);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(closed && after < std::time::Duration::from_secs(3), "idle: closed {closed} after {after:?}");
        // A body that stops halfway.
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nAction=Describe").unwrap();
        let (_, after, text) = closed_within(s, 5);
        assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
        assert!(after < std::time::Duration::from_secs(3), "{after:?}");
        // Meanwhile others are served.
        assert_eq!(post(addr, None, b"Action=DescribeRegions&Version=2016-11-15").status, 200);
    })
    .await
    .unwrap();
    server.shutdown().await;
}

/// Past `--max-connections`, a new connection waits until one closes; the open ones are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_without_harming_open_ones() {
    let options = ServeOptions { max_connections: 2, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.unwrap();
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let request = |s: &mut TcpStream| {
            let body = b"Action=DescribeRegions&Version=2016-11-15";
            let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            while !String::from_utf8_lossy(&got).contains("</DescribeRegionsResponse>") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
        };
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        request(&mut a);
        request(&mut b);
        // The third connects (the kernel's backlog) but gets no answer while two are open.
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
        let body = b"Action=DescribeRegions&Version=2016-11-15";
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        c.write_all(head.as_bytes()).unwrap();
        c.write_all(body).unwrap();
        let mut buf = [0u8; 64];
        assert!(c.read(&mut buf).is_err(), "the third connection was served past the cap");
        request(&mut a);
        drop(b);
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let n = c.read(&mut buf).expect("served once a connection closed");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    })
    .await
    .unwrap();
    server.shutdown().await;
}

/// The NBD listener's limits come from the options: a client that never finishes the handshake
/// is dropped after `nbd_handshake_timeout_ms`; past `max_connections`, a new NBD connection gets
/// no greeting until one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbd_limits_come_from_the_options() {
    let options = ServeOptions { nbd_handshake_timeout_ms: 200, max_connections: 1, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.unwrap();
    let nbd = server.nbd_addr.expect("NBD listens");
    tokio::task::spawn_blocking(move || {
        let mut first = TcpStream::connect(nbd).unwrap();
        first.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut greeting = [0u8; 18];
        first.read_exact(&mut greeting).expect("the greeting");
        // A second connection waits: the cap is one.
        let mut second = TcpStream::connect(nbd).unwrap();
        second.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
        let mut magic = [0u8; 8];
        assert!(second.read_exact(&mut magic).is_err(), "served past the cap");
        // The first never answers the greeting: closed after the handshake time-out.
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let closed = first.read_to_end(&mut rest);
        assert!(closed.is_ok() && started.elapsed() < std::time::Duration::from_secs(4), "{closed:?}");
        // Then the second is greeted.
        second.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        second.read_exact(&mut magic).expect("greeted once the first closed");
        assert_eq!(&magic, b"NBDMAGIC");
    })
    .await
    .unwrap();
    server.shutdown().await;
}
