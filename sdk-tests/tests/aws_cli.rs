//! The AWS CLI (PyPI `awscli`), the client most people try first, against an in-process squall.
//! Skipped loudly when `aws` is not installed, except under `CI=true` (.ci/run installs it).

use std::process::{Command, Output};

use squall::config::ServeOptions;

fn aws(endpoint: &str, args: &[&str]) -> Option<Output> {
    let output = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .output();
    match output {
        Ok(o) => Some(o),
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but the AWS CLI cannot run: {e}");
            eprintln!("\n*** SKIPPED: the AWS CLI (`aws`) is not installed: {e} ***\n");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_lists_six_zones_and_reports_invalid_action() {
    let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: &'static [&'static str]| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || aws(&endpoint, args))
    };

    let Some(out) = run(&["ec2", "describe-availability-zones"]).await.expect("task") else {
        return;
    };
    assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    let names: Vec<_> = json["AvailabilityZones"]
        .as_array()
        .expect("AvailabilityZones")
        .iter()
        .map(|z| z["ZoneName"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]);
    assert_eq!(json["AvailabilityZones"][0]["ZoneId"], "use1-az1");

    let out = run(&["ec2", "describe-vpn-gateways"]).await.expect("task").expect("aws ran before");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(InvalidAction)") && stderr.contains("DescribeVpnGateways"), "{stderr}");

    let out = run(&["sts", "get-caller-identity"]).await.expect("task").expect("aws ran before");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    assert_eq!(json["Account"], "000000000000");

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_volume_lifecycle() {
    // Transitions take 20 ms here, so the CLI's waiters (which poll every 15 s) succeed on their
    // first or second look.
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        async move {
            tokio::task::spawn_blocking(move || aws(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>()))
                .await
                .expect("task")
        }
    };
    let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let Some(out) = run(args("ec2 create-volume --availability-zone us-east-1d --size 2 --volume-type gp3")).await
    else {
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = created["VolumeId"].as_str().expect("VolumeId").to_string();
    assert_eq!(created["Size"], 2);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = run(args(&format!("ec2 wait volume-available --volume-ids {id}"))).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(args(&format!("ec2 describe-volumes --volume-ids {id}"))).await.expect("ran");
    let described: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(described["Volumes"][0]["State"], "available");
    assert_eq!(described["Volumes"][0]["AvailabilityZoneId"], "use1-az4");
    let out = run(args(&format!("ec2 create-tags --resources {id} --tags Key=team,Value=storage"))).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(args("ec2 describe-tags --filters Name=key,Values=team")).await.expect("ran");
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(tags["Tags"][0]["ResourceId"], id.as_str());
    let out = run(args(&format!("ec2 delete-volume --volume-id {id}"))).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = run(args(&format!("ec2 wait volume-deleted --volume-ids {id}"))).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(args(&format!("ec2 describe-volumes --volume-ids {id}"))).await.expect("ran");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("(InvalidVolume.NotFound)"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_instance_lifecycle() {
    // Transitions take 20 ms, so the CLI's waiters (every 15 s) succeed on their first look.
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: String| {
        let endpoint = endpoint.clone();
        async move {
            let args: Vec<String> = args.split(' ').map(str::to_string).collect();
            let out = tokio::task::spawn_blocking(move || {
                aws(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .expect("task")?;
            Some(out)
        }
    };
    let json = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let Some(out) = run("ec2 create-vpc --cidr-block 10.9.0.0/16".into()).await else { return };
    let vpc = json(&out)["Vpc"]["VpcId"].as_str().expect("VpcId").to_string();
    let out = run(format!("ec2 create-subnet --vpc-id {vpc} --cidr-block 10.9.4.0/24 --availability-zone us-east-1e"))
        .await
        .expect("ran");
    let subnet = json(&out)["Subnet"]["SubnetId"].as_str().expect("SubnetId").to_string();
    let out = run(format!(
        "ec2 run-instances --image-id ami-0123456789abcdef0 --count 2 --instance-type t3.micro --subnet-id {subnet}"
    ))
    .await
    .expect("ran");
    let launched = json(&out);
    let ids: Vec<String> = launched["Instances"]
        .as_array()
        .expect("Instances")
        .iter()
        .map(|i| i["InstanceId"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    for i in launched["Instances"].as_array().expect("Instances") {
        assert_eq!(i["Placement"]["AvailabilityZone"], "us-east-1e");
        assert_eq!(i["SubnetId"], subnet.as_str());
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = run(format!("ec2 wait instance-running --instance-ids {} {}", ids[0], ids[1])).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(format!("ec2 stop-instances --instance-ids {}", ids[0])).await.expect("ran");
    assert_eq!(json(&out)["StoppingInstances"][0]["CurrentState"]["Name"], "stopping");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = run(format!("ec2 wait instance-stopped --instance-ids {}", ids[0])).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(format!(
        "ec2 describe-instances --filters Name=subnet-id,Values={subnet} Name=instance-state-name,Values=running"
    ))
    .await
    .expect("ran");
    let running = json(&out);
    assert_eq!(running["Reservations"][0]["Instances"].as_array().map(Vec::len), Some(1));
    assert_eq!(running["Reservations"][0]["Instances"][0]["InstanceId"], ids[1].as_str());
    let out = run(format!("ec2 terminate-instances --instance-ids {} {}", ids[0], ids[1])).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = run(format!("ec2 wait instance-terminated --instance-ids {} {}", ids[0], ids[1])).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(format!("ec2 start-instances --instance-ids {}", ids[0])).await.expect("ran");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(IncorrectInstanceState)"), "{out:?}");
    let out = run(format!("ec2 delete-subnet --subnet-id {subnet}")).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(format!("ec2 delete-vpc --vpc-id {vpc}")).await.expect("ran");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.shutdown().await;
}

/// RDS through the CLI with `--endpoint-url` in us-east-1 (where the CLI v1 ignores
/// `AWS_ENDPOINT_URL` for rds): create, describe, a refused reboot, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_rds_instances() {
    let options = ServeOptions { lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: &'static [&'static str]| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || aws(&endpoint, args))
    };
    let Some(out) = run(&[
        "rds",
        "create-db-instance",
        "--db-instance-identifier",
        "orders",
        "--engine",
        "postgres",
        "--db-instance-class",
        "db.t3.micro",
        "--allocated-storage",
        "20",
        "--master-username",
        "app",
        "--master-user-password",
        "s3cret-pass",
        "--multi-az",
    ])
    .await
    .expect("task") else {
        return;
    };
    assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    assert_eq!(made["DBInstance"]["DBInstanceStatus"], "creating");
    // With --lifecycle-delay-ms 0 the next request sees the settled state.
    let out = run(&["rds", "describe-db-instances", "--db-instance-identifier", "orders"]).await.expect("task");
    let out = out.expect("aws ran before");
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    let db = &seen["DBInstances"][0];
    assert_eq!(db["DBInstanceStatus"], "available", "{db}");
    assert_ne!(db["AvailabilityZone"], db["SecondaryAvailabilityZone"]);
    // The lowest free port of --rds-ports, where its SQL endpoint listens.
    assert_eq!(db["Endpoint"]["Port"], 4510);
    let out = run(&["rds", "reboot-db-instance", "--db-instance-identifier", "nobody"]).await.expect("task");
    let out = out.expect("aws ran before");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(DBInstanceNotFound)") && stderr.contains("DBInstance nobody not found."), "{stderr}");
    let out = run(&["rds", "delete-db-instance", "--db-instance-identifier", "orders", "--skip-final-snapshot"])
        .await
        .expect("task")
        .expect("aws ran before");
    assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["rds", "describe-db-instances"]).await.expect("task").expect("aws ran before");
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).expect("aws prints JSON");
    assert_eq!(left["DBInstances"], serde_json::json!([]), "deleted at once with a zero lifecycle delay");
    server.shutdown().await;
}
