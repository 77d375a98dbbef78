//! Init hooks end to end, through the squall binary: scripts in `SQUALL_INIT_DIR`'s `boot.d`,
//! `start.d`, `ready.d` and `shutdown.d` run once each, in order, with squall's endpoint in
//! `AWS_ENDPOINT_URL`; a ready script creates a volume the API then lists; a failing one is
//! `ERROR`; `/_localstack/init` shows it all in LocalStack's shape; shutdown.d runs on SIGTERM
//! while the API still answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
}

fn http(addr: SocketAddr, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(raw.as_bytes()).expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status"), body.to_string())
}

fn script(dir: &std::path::Path, stage: &str, name: &str, text: &str) {
    let d = dir.join(stage);
    std::fs::create_dir_all(&d).expect("stage dir");
    std::fs::write(d.join(name), text).expect("script");
}

#[test]
fn init_hooks_run_at_each_stage_and_report_in_localstack_shape() {
    let work = tempfile::tempdir().expect("tempdir");
    let init = work.path().join("init");
    let log = work.path().join("stages.log");
    let log_s = log.display().to_string();
    script(&init, "boot.d", "01-boot.sh", &format!("echo boot >> {log_s}\n"));
    script(&init, "start.d", "01-start.sh", &format!("echo \"start $AWS_ENDPOINT_URL\" >> {log_s}\n"));
    script(
        &init,
        "ready.d",
        "01-volume.py",
        &format!(
            r#"import os, urllib.request
body = b"Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=2&TagSpecification.1.ResourceType=volume&TagSpecification.1.Tag.1.Key=made-by&TagSpecification.1.Tag.1.Value=ready.d"
with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/", body) as r:
    assert r.status == 200
with open("{log_s}", "a") as f:
    f.write("ready " + os.environ["AWS_ACCESS_KEY_ID"] + " " + os.environ["AWS_DEFAULT_REGION"] + "\n")
"#
        ),
    );
    script(&init, "ready.d", "02-fails.sh", "echo 'about to fail' >&2\nexit 7\n");
    script(
        &init,
        "shutdown.d",
        "01-shutdown.py",
        &format!(
            r#"import os, urllib.request
with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/_squall/health") as r:
    ok = r.status == 200
with open("{log_s}", "a") as f:
    f.write("shutdown api-answers=" + str(ok) + "\n")
"#
        ),
    );
    let api = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address");
    let mut child = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["--listen", &api.to_string(), "--nbd-listen", "off", "--region", "us-east-1"])
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .env("SQUALL_INIT_DIR", &init)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_DEFAULT_REGION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("squall runs");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == "Ready.");
    assert!(ready, "squall did not start");
    // start.d has run before `Ready.`; ready.d runs after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready_status = loop {
        let (status, body) = get(api, "/_localstack/init/ready");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if v["completed"] == true {
            break v;
        }
        assert!(Instant::now() < deadline, "ready.d did not complete: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let states: Vec<(&str, &str)> = ready_status["scripts"]
        .as_array()
        .expect("scripts")
        .iter()
        .map(|s| (s["name"].as_str().unwrap_or(""), s["state"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(states, [("01-volume.py", "SUCCESSFUL"), ("02-fails.sh", "ERROR")]);
    let (_, all) = get(api, "/_localstack/init");
    let all: serde_json::Value = serde_json::from_str(&all).expect("JSON");
    assert_eq!(all["completed"], serde_json::json!({"BOOT": true, "START": true, "READY": true, "SHUTDOWN": false}));
    assert_eq!(all["scripts"].as_array().map(Vec::len), Some(5));
    assert_eq!(get(api, "/_squall/init/boot").0, 200);
    assert_eq!(get(api, "/_localstack/init/later").0, 404);
    // The ready script's volume is there.
    let body = "Action=DescribeVolumes&Version=2016-11-15&Filter.1.Name=tag:made-by&Filter.1.Value.1=ready.d";
    let (status, volumes) = http(
        api,
        &format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 200);
    assert_eq!(volumes.matches("<volumeId>").count(), 1, "{volumes}");
    assert!(volumes.contains("<size>2</size>"), "{volumes}");
    // SIGTERM: shutdown.d runs while the API still answers, then squall exits.
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    assert!(stderr.contains("about to fail"), "a script's stderr reaches squall's log: {stderr}");
    let stages = std::fs::read_to_string(&log).expect("the scripts wrote");
    assert_eq!(
        stages,
        format!("boot\nstart http://{api}\nready test us-east-1\nshutdown api-answers=True\n"),
        "each stage once, in order"
    );
}
