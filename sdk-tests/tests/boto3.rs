//! boto3 (PyPI), the other SDK most tests are written with, drives the EBS volume lifecycle
//! against an in-process squall (`sdk-tests/python/volume_lifecycle.py`). Skipped loudly when
//! python3 or boto3 is missing, except under `CI=true` (.ci/run installs boto3).

use std::process::Command;

use squall::config::ServeOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_volume_lifecycle() {
    let have_boto3 = Command::new("python3").args(["-c", "import boto3"]).status().is_ok_and(|s| s.success());
    if !have_boto3 {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but python3 with boto3 is not available");
        eprintln!("\n*** SKIPPED: python3 with boto3 is not available ***\n");
        return;
    }
    let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/volume_lifecycle.py");
    let out = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(endpoint).output())
        .await
        .expect("task")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "boto3 script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("boto3 volume lifecycle: ok"), "{stdout}");
    server.shutdown().await;
}
