//! What a newcomer sees when a port is taken: one clear line naming the flag to change.

use std::net::TcpListener;
use std::process::Command;

#[test]
fn a_taken_port_is_named_once_with_the_flag_to_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port();
    let free = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address").port();
    for (listen, nbd, flag) in
        [(port, free, "choose a port with --listen"), (free, port, "a second squall needs its own --nbd-listen")]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_squall"))
            .args(["--listen", &format!("127.0.0.1:{listen}"), "--nbd-listen", &format!("127.0.0.1:{nbd}")])
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("squall runs");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.matches(flag).count(), 1, "{stderr}");
        assert_eq!(stderr.matches("Address already in use").count(), 1, "said once: {stderr}");
    }
    drop(taken);
}

#[test]
fn a_bad_log_filter_is_refused_like_any_bad_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_squall")).args(["--log", "squall=loud"]).output().expect("squall runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value 'squall=loud' for '--log <LOG>'"), "{stderr}");
}

/// `--nbd-listen off`: a second squall beside one that holds the NBD port starts, serves the
/// APIs, says its NBD is off, and exports nothing; a value that is neither an address nor `off`
/// is refused like any bad flag.
#[test]
fn nbd_can_be_turned_off_so_a_second_squall_starts_beside_the_first() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    // The default NBD port, held as a first squall would (if nothing here holds it already).
    let held = TcpListener::bind("0.0.0.0:10809").ok();
    let api = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address");
    let mut child = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["--listen", &api.to_string(), "--nbd-listen", "off", "--log", "info"])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("squall runs");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == "Ready.");
    assert!(ready, "squall did not start with --nbd-listen off");
    let mut http = std::net::TcpStream::connect(api).expect("the API answers");
    http.write_all(b"GET /_squall/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    http.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    child.kill().expect("kill");
    child.wait().expect("squall ends");
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
    assert!(stderr.contains("nbd=off"), "the start-up line says NBD is off: {stderr}");
    drop(held);

    let out = Command::new(env!("CARGO_BIN_EXE_squall")).args(["--nbd-listen", "sometimes"]).output().expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sometimes is neither an address (host:port) nor off"), "{stderr}");
}

/// LocalStack's `PERSISTENCE=1`: without `--data-dir`, state goes to `~/.local/share/squall`
/// (or `$XDG_DATA_HOME/squall`) and survives a restart — even a `kill -9`.
#[test]
fn persistence_1_keeps_state_in_the_home_data_dir_across_restarts() {
    use std::io::{BufRead, BufReader, Read, Write};
    let home = tempfile::tempdir().expect("tempdir");
    let api = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address");
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_squall"))
            .args(["--listen", &api.to_string(), "--nbd-listen", "off", "--lifecycle-delay-ms", "0"])
            .env("PERSISTENCE", "1")
            .env("HOME", home.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("SQUALL_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("squall runs");
        let stdout = child.stdout.take().expect("stdout");
        assert!(BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l == "Ready."), "squall did not start");
        child
    };
    let ec2 = |params: &str| {
        let body = format!("Version=2016-11-15&{params}");
        let mut http = std::net::TcpStream::connect(api).expect("the API answers");
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
        http.write_all(head.as_bytes()).and_then(|()| http.write_all(body.as_bytes())).expect("send");
        let mut answer = String::new();
        http.read_to_string(&mut answer).expect("read");
        answer
    };
    let mut first = start();
    let created = ec2("Action=CreateVolume&AvailabilityZone=us-east-1a&Size=1");
    let id = created.split("<volumeId>").nth(1).and_then(|r| r.split("</volumeId>").next()).expect("a volume id");
    let id = id.to_string();
    first.kill().expect("kill -9");
    first.wait().expect("ends");
    assert!(home.path().join(".local/share/squall/regions").is_dir(), "state is under ~/.local/share/squall");
    let mut second = start();
    let listed = ec2(&format!("Action=DescribeVolumes&VolumeId.1={id}"));
    second.kill().expect("kill");
    second.wait().expect("ends");
    assert!(listed.starts_with("HTTP/1.1 200") && listed.contains(&id), "{listed}");
}

#[test]
fn the_persistent_data_dir_follows_xdg_then_home_then_var_lib() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    assert_eq!(
        squall::persistent_data_dir(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
        std::path::PathBuf::from("/x/squall")
    );
    assert_eq!(
        squall::persistent_data_dir(env(&[("XDG_DATA_HOME", ""), ("HOME", "/h")])),
        std::path::PathBuf::from("/h/.local/share/squall")
    );
    assert_eq!(squall::persistent_data_dir(env(&[])), std::path::PathBuf::from("/var/lib/squall"));
}
