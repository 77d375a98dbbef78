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
