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

/// The AWS CLI's answer as JSON; panics with its stderr when it failed.
fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("aws prints JSON")
}

/// docs/fis/az-power-interruption.json, as a user runs it with the AWS CLI (only its zone set to
/// where the Multi-AZ DB instance's primary landed): while it runs, the zone's instances are
/// stopped, launches there fail, its tagged volume is paused (a write over NBD waits), its
/// subnet's storage network is cut and the DB instance fails over; StopExperiment recovers
/// everything, and every acknowledged write — the one that waited included — reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_runs_the_az_power_interruption_scenario_and_everything_recovers() {
    use aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag, TagSpecification};
    use squall::nbd::client::Client;
    use squall_sdk_tests::{ec2, rds, wait_for};
    use std::time::Duration;

    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let cli = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        async move {
            tokio::task::spawn_blocking(move || aws(&endpoint, &args.iter().map(String::as_str).collect::<Vec<_>>()))
                .await
                .expect("task")
        }
    };
    let Some(out) = cli(vec!["fis".into(), "list-actions".into()]).await else { return };
    assert!(json_of(&out)["actions"].as_array().is_some_and(|a| a.len() >= 10));
    let (ec2, rds) = (ec2(&endpoint, "us-east-1"), rds(&endpoint, "us-east-1"));
    let limit = Duration::from_secs(60);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();

    // A Multi-AZ DB instance: the zone of its primary is the one that loses power.
    let db_tag = aws_sdk_rds::types::Tag::builder().key("AzImpairmentPower").value("DisruptRds").build();
    rds.create_db_instance()
        .db_instance_identifier("ledger")
        .engine("mysql")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("correct-horse")
        .multi_az(true)
        .tags(db_tag)
        .send()
        .await
        .expect("CreateDBInstance");
    let db = async || rds.describe_db_instances().db_instance_identifier("ledger").send().await.expect("describe");
    wait_for("the DB instance", limit, async || db().await.db_instances()[0].db_instance_status() == Some("available"))
        .await;
    let first = db().await.db_instances()[0].clone();
    let zone = first.availability_zone().expect("zone").to_string();
    let standby_zone = first.secondary_availability_zone().expect("standby").to_string();

    // Two instances there, a data volume attached to one, and the zone's subnet, all tagged.
    let spec = |kind: ResourceType, value: &str| {
        TagSpecification::builder().resource_type(kind).tags(tag("AzImpairmentPower", value)).build()
    };
    let placement = aws_sdk_ec2::types::Placement::builder().availability_zone(&zone).build();
    let launched = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(2)
        .max_count(2)
        .placement(placement.clone())
        .tag_specifications(spec(ResourceType::Instance, "StopInstances"))
        .send()
        .await
        .expect("RunInstances");
    let ids: Vec<String> = launched.instances().iter().filter_map(|i| i.instance_id().map(str::to_string)).collect();
    let states = async || -> Vec<InstanceStateName> {
        let d = ec2.describe_instances().set_instance_ids(Some(ids.clone())).send().await.expect("describe");
        d.reservations().iter().flat_map(|r| r.instances()).filter_map(|i| i.state()?.name().cloned()).collect()
    };
    wait_for("instances running", limit, async || states().await.iter().all(|s| *s == InstanceStateName::Running))
        .await;
    let volume = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(1)
        .tag_specifications(spec(ResourceType::Volume, "ApiPauseVolume"))
        .send()
        .await
        .expect("CreateVolume")
        .volume_id()
        .expect("id")
        .to_string();
    let volume_state = async || {
        ec2.describe_volumes().volume_ids(&volume).send().await.expect("describe").volumes()[0]
            .state()
            .map(|s| s.as_str().to_string())
    };
    wait_for("volume available", limit, async || volume_state().await.as_deref() == Some("available")).await;
    ec2.attach_volume().volume_id(&volume).instance_id(&ids[0]).device("/dev/sdf").send().await.expect("attach");
    wait_for("volume in use", limit, async || volume_state().await.as_deref() == Some("in-use")).await;
    let subnets = ec2
        .describe_subnets()
        .filters(Filter::builder().name("availability-zone").values(&zone).build())
        .send()
        .await
        .expect("subnets");
    let subnet = subnets.subnets()[0].subnet_id().expect("subnet").to_string();
    ec2.create_tags().resources(&subnet).tags(tag("AzImpairmentPower", "DisruptSubnet")).send().await.expect("tag");
    let volume_status = async || {
        let d = ec2.describe_volume_status().volume_ids(&volume).send().await.expect("status");
        d.volume_statuses()[0].volume_status().and_then(|s| s.status()).map(|s| s.as_str().to_string())
    };

    // A second volume there, not paused: only the cut storage network reaches it.
    let other = ec2.create_volume().availability_zone(&zone).size(1).send().await.expect("CreateVolume");
    let other = other.volume_id().expect("id").to_string();
    let other_state = async || {
        ec2.describe_volumes().volume_ids(&other).send().await.expect("describe").volumes()[0]
            .state()
            .map(|s| s.as_str().to_string())
    };
    wait_for("volume available", limit, async || other_state().await.as_deref() == Some("available")).await;
    ec2.attach_volume().volume_id(&other).instance_id(&ids[1]).device("/dev/sdf").send().await.expect("attach");
    wait_for("volume in use", limit, async || other_state().await.as_deref() == Some("in-use")).await;

    // Acknowledged writes over NBD before the power goes.
    let mut nbd = Client::connect(server.nbd_addr.expect("NBD listens"), &volume).await.expect("NBD connect");
    let mut nbd_other = Client::connect(server.nbd_addr.expect("NBD listens"), &other).await.expect("NBD connect");
    let block = |n: u8| vec![n; 4096];
    for n in 0..16u8 {
        assert_eq!(nbd.write(u64::from(n) * 4096, &block(n)).await.expect("write"), Ok(vec![]));
    }
    assert_eq!(nbd.flush().await.expect("flush"), Ok(vec![]));
    assert_eq!(nbd_other.write(0, &block(7)).await.expect("write"), Ok(vec![]));
    assert_eq!(nbd_other.flush().await.expect("flush"), Ok(vec![]));

    // The template as a user runs it.
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/fis/az-power-interruption.json"))
            .expect("the scenario template")
            .replace("us-east-1a", &zone);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("az-power.json");
    std::fs::write(&path, template).expect("write template");
    let input = format!("file://{}", path.display());
    let made = cli(vec!["fis".into(), "create-experiment-template".into(), "--cli-input-json".into(), input]).await;
    let template_id = json_of(&made.expect("aws"))["experimentTemplate"]["id"].as_str().expect("id").to_string();
    let started =
        cli(vec!["fis".into(), "start-experiment".into(), "--experiment-template-id".into(), template_id]).await;
    let experiment = json_of(&started.expect("aws"))["experiment"]["id"].as_str().expect("id").to_string();

    // The power is out.
    wait_for("instances stopped", limit, async || states().await.iter().all(|s| *s == InstanceStateName::Stopped))
        .await;
    wait_for("the DB instance failed over", limit, async || {
        let i = db().await.db_instances()[0].clone();
        i.db_instance_status() == Some("available") && i.availability_zone() == Some(standby_zone.as_str())
    })
    .await;
    wait_for("the volume impaired", limit, async || volume_status().await.as_deref() == Some("impaired")).await;
    let refused = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .placement(placement.clone())
        .send()
        .await;
    let code = refused.err().and_then(|e| e.as_service_error().and_then(|s| s.meta().code().map(str::to_string)));
    assert_eq!(code.as_deref(), Some("InsufficientInstanceCapacity"), "launches in the zone must fail");
    let writer = tokio::spawn(async move {
        let written = nbd.write(16 * 4096, &block(99)).await.expect("write");
        let flushed = nbd.flush().await.expect("flush");
        (nbd, written, flushed)
    });
    let cut_writer = tokio::spawn(async move {
        let written = nbd_other.write(4096, &block(8)).await.expect("write");
        let flushed = nbd_other.flush().await.expect("flush");
        (nbd_other, written, flushed)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!writer.is_finished(), "a write to a paused volume must wait");
    assert!(!cut_writer.is_finished(), "a write to a volume whose storage network is cut must wait");
    let status = cli(vec!["fis".into(), "get-experiment".into(), "--id".into(), experiment.clone()]).await;
    let running = json_of(&status.expect("aws"));
    assert_eq!(running["experiment"]["state"]["status"], "running", "{running}");

    // Power back: everything recovers, and no acknowledged write is lost.
    let stopped = cli(vec!["fis".into(), "stop-experiment".into(), "--id".into(), experiment.clone()]).await;
    assert!(matches!(
        json_of(&stopped.expect("aws"))["experiment"]["state"]["status"].as_str(),
        Some("stopping" | "stopped")
    ));
    let (mut nbd, written, flushed) =
        tokio::time::timeout(limit, writer).await.expect("the waiting write completes").expect("task");
    assert_eq!((written, flushed), (Ok(vec![]), Ok(vec![])));
    let (mut nbd_other, written, flushed) =
        tokio::time::timeout(limit, cut_writer).await.expect("the write behind the cut completes").expect("task");
    assert_eq!((written, flushed), (Ok(vec![]), Ok(vec![])));
    assert_eq!(nbd_other.read(0, 8192).await.expect("read"), Ok([block(7), block(8)].concat()));
    wait_for("instances running again", limit, async || {
        states().await.iter().all(|s| *s == InstanceStateName::Running)
    })
    .await;
    wait_for("the volume ok", limit, async || volume_status().await.as_deref() == Some("ok")).await;
    let launched = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .placement(placement)
        .send()
        .await;
    assert!(launched.is_ok(), "launches in the zone work again: {launched:?}");
    for n in 0..16u8 {
        assert_eq!(nbd.read(u64::from(n) * 4096, 4096).await.expect("read"), Ok(block(n)), "block {n}");
    }
    assert_eq!(nbd.read(16 * 4096, 4096).await.expect("read"), Ok(block(99)), "the write that waited");
    let ended = cli(vec!["fis".into(), "get-experiment".into(), "--id".into(), experiment]).await;
    let ended = json_of(&ended.expect("aws"));
    assert_eq!(ended["experiment"]["state"]["status"], "stopped", "{ended}");
    assert_eq!(ended["experiment"]["actions"]["Failover-RDS"]["state"]["status"], "completed", "{ended}");
    assert_eq!(ended["experiment"]["actions"]["Stop-Instances"]["state"]["status"], "stopped", "{ended}");
    server.shutdown().await;
}

/// The AWS CLI on what suites coming from moto call: a launch template (its data given as
/// JSON), run-instances from it, a network interface attached at device 1, the managed prefix
/// lists; instant mode, so nothing waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_launch_templates_interfaces_and_prefix_lists() {
    let options = ServeOptions { lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            aws(&endpoint, &args)
        })
    };
    let json = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("aws prints JSON")
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let Some(out) = run(args(&["ec2", "describe-images", "--owners", "amazon"])).await.expect("task") else {
        return;
    };
    let image = json(out)["Images"][0]["ImageId"].as_str().expect("an image").to_string();
    let data = format!(
        r#"{{"ImageId":"{image}","InstanceType":"t3.micro","TagSpecifications":[{{"ResourceType":"instance","Tags":[{{"Key":"tier","Value":"web"}}]}}]}}"#
    );
    let made = json(
        run(args(&[
            "ec2",
            "create-launch-template",
            "--launch-template-name",
            "cli-web",
            "--launch-template-data",
            &data,
        ]))
        .await
        .expect("task")
        .expect("aws ran before"),
    );
    let lt = made["LaunchTemplate"]["LaunchTemplateId"].as_str().expect("an id").to_string();
    let launched = json(
        run(args(&["ec2", "run-instances", "--launch-template", "LaunchTemplateName=cli-web,Version=$Latest"]))
            .await
            .expect("task")
            .expect("aws ran before"),
    );
    let instance = &launched["Instances"][0];
    assert_eq!(instance["InstanceType"], "t3.micro", "{instance}");
    let tags: Vec<(String, String)> = instance["Tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| (t["Key"].as_str().unwrap_or_default().into(), t["Value"].as_str().unwrap_or_default().into()))
        .collect();
    assert!(tags.contains(&("tier".into(), "web".into())) && tags.contains(&("aws:ec2launchtemplate:id".into(), lt)));
    let instance_id = instance["InstanceId"].as_str().expect("an id").to_string();
    let subnet = instance["SubnetId"].as_str().expect("a subnet").to_string();
    let eni = json(
        run(args(&["ec2", "create-network-interface", "--subnet-id", &subnet, "--description", "cli"]))
            .await
            .expect("task")
            .expect("aws ran before"),
    );
    let eni_id = eni["NetworkInterface"]["NetworkInterfaceId"].as_str().expect("an id").to_string();
    json(
        run(args(&[
            "ec2",
            "attach-network-interface",
            "--network-interface-id",
            &eni_id,
            "--instance-id",
            &instance_id,
            "--device-index",
            "1",
        ]))
        .await
        .expect("task")
        .expect("aws ran before"),
    );
    let seen = json(
        run(args(&[
            "ec2",
            "describe-network-interfaces",
            "--filters",
            &format!("Name=attachment.instance-id,Values={instance_id}"),
        ]))
        .await
        .expect("task")
        .expect("aws ran before"),
    );
    assert_eq!(seen["NetworkInterfaces"].as_array().map(Vec::len), Some(2), "{seen}");
    let lists = json(
        run(args(&["ec2", "describe-managed-prefix-lists", "--query", "PrefixLists[].PrefixListName"]))
            .await
            .expect("task")
            .expect("aws ran before"),
    );
    assert!(lists.as_array().expect("names").iter().any(|n| n == "com.amazonaws.us-east-1.s3"), "{lists}");
    server.shutdown().await;
}

/// Aurora through the CLI (instant mode, so its waiters answer at the first poll): a cluster,
/// its waiter, two instances, a failover to a named reader, a DB cluster parameter group, a
/// global cluster made from the cluster, and deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_drives_aurora_clusters() {
    let options = ServeOptions { lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let endpoint = server.endpoint_url();
    let run = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            aws(&endpoint, &args)
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ok = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "aws failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let Some(out) = run(args(&[
        "rds",
        "create-db-cluster",
        "--db-cluster-identifier",
        "books",
        "--engine",
        "aurora-mysql",
        "--master-username",
        "admin",
        "--master-user-password",
        "s3cret-pass",
    ]))
    .await
    .expect("task") else {
        return;
    };
    let made = ok(out);
    assert_eq!(made["DBCluster"]["Engine"], "aurora-mysql");
    ok(run(args(&["rds", "wait", "db-cluster-available", "--db-cluster-identifier", "books"]))
        .await
        .expect("task")
        .expect("aws ran before"));
    for name in ["books-1", "books-2"] {
        ok(run(args(&[
            "rds",
            "create-db-instance",
            "--db-instance-identifier",
            name,
            "--db-cluster-identifier",
            "books",
            "--engine",
            "aurora-mysql",
            "--db-instance-class",
            "db.r6g.large",
        ]))
        .await
        .expect("task")
        .expect("aws ran before"));
    }
    let failed_over = ok(run(args(&[
        "rds",
        "failover-db-cluster",
        "--db-cluster-identifier",
        "books",
        "--target-db-instance-identifier",
        "books-2",
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    let members = failed_over["DBCluster"]["DBClusterMembers"].as_array().expect("members").clone();
    let writer: Vec<&serde_json::Value> = members.iter().filter(|m| m["IsClusterWriter"] == true).collect();
    assert_eq!(writer.len(), 1);
    assert_eq!(writer[0]["DBInstanceIdentifier"], "books-2", "{members:?}");

    // A DB cluster parameter group the cluster takes, and a global cluster made from it.
    ok(run(args(&[
        "rds",
        "create-db-cluster-parameter-group",
        "--db-cluster-parameter-group-name",
        "books-params",
        "--db-parameter-group-family",
        "aurora-mysql8.0",
        "--description",
        "books",
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    let set = "ParameterName=max_connections,ParameterValue=90,ApplyMethod=pending-reboot";
    ok(run(args(&[
        "rds",
        "modify-db-cluster-parameter-group",
        "--db-cluster-parameter-group-name",
        "books-params",
        "--parameters",
        set,
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    let shown = ok(run(args(&[
        "rds",
        "describe-db-cluster-parameters",
        "--db-cluster-parameter-group-name",
        "books-params",
        "--source",
        "user",
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    assert_eq!(shown["Parameters"][0]["ParameterValue"], "90", "{shown}");
    let arn = made["DBCluster"]["DBClusterArn"].as_str().expect("the ARN").to_string();
    let global = ok(run(args(&[
        "rds",
        "create-global-cluster",
        "--global-cluster-identifier",
        "books-global",
        "--source-db-cluster-identifier",
        &arn,
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    assert_eq!(global["GlobalCluster"]["GlobalClusterMembers"][0]["IsWriter"], true, "{global}");
    let listed = ok(run(args(&["rds", "describe-global-clusters"])).await.expect("task").expect("aws ran before"));
    assert_eq!(listed["GlobalClusters"][0]["GlobalClusterIdentifier"], "books-global", "{listed}");
    ok(run(args(&[
        "rds",
        "remove-from-global-cluster",
        "--global-cluster-identifier",
        "books-global",
        "--db-cluster-identifier",
        &arn,
    ]))
    .await
    .expect("task")
    .expect("aws ran before"));
    ok(run(args(&["rds", "delete-global-cluster", "--global-cluster-identifier", "books-global"]))
        .await
        .expect("task")
        .expect("aws ran before"));

    let out = run(args(&["rds", "delete-db-cluster", "--db-cluster-identifier", "books", "--skip-final-snapshot"]))
        .await
        .expect("task")
        .expect("aws ran before");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidDBClusterStateFault"));
    for name in ["books-1", "books-2"] {
        ok(run(args(&["rds", "delete-db-instance", "--db-instance-identifier", name]))
            .await
            .expect("task")
            .expect("aws ran before"));
    }
    ok(run(args(&["rds", "delete-db-cluster", "--db-cluster-identifier", "books", "--skip-final-snapshot"]))
        .await
        .expect("task")
        .expect("aws ran before"));
    let left = ok(run(args(&["rds", "describe-db-clusters"])).await.expect("task").expect("aws ran before"));
    assert_eq!(left["DBClusters"], serde_json::json!([]));
    server.shutdown().await;
}
