//! boto3 (PyPI), the other SDK most tests are written with, drives the EBS volume and the EC2
//! instance lifecycles against an in-process squall (`sdk-tests/python/*.py`). Skipped loudly when
//! python3 or boto3 is missing, except under `CI=true` (.ci/run installs boto3).

use std::process::Command;

use squall::config::ServeOptions;

fn run_script(name: &'static str, lifecycle_delay_ms: u64) -> Option<impl std::future::Future<Output = String>> {
    run_script_with(name, ServeOptions { lifecycle_delay_ms, ..ServeOptions::ephemeral() }, &[])
}

/// Runs `python/<name> <endpoint> <args…>` against a squall started with `options`.
fn run_script_with(
    name: &'static str,
    options: ServeOptions,
    args: &'static [&'static str],
) -> Option<impl std::future::Future<Output = String>> {
    let have_boto3 = Command::new("python3").args(["-c", "import boto3"]).status().is_ok_and(|s| s.success());
    if !have_boto3 {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but python3 with boto3 is not available");
        eprintln!("\n*** SKIPPED: python3 with boto3 is not available ***\n");
        return None;
    }
    Some(async move {
        let server = squall::start(&options).await.expect("squall starts");
        let endpoint = server.endpoint_url();
        let script = format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"));
        let out =
            tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(endpoint).args(args).output())
                .await
                .expect("task")
                .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        server.shutdown().await;
        stdout
    })
}

/// Whether python3 imports `modules` (a test needing them is skipped loudly without them,
/// except under `CI=true`, where .ci/run installs them).
fn have_python(modules: &str) -> bool {
    let have = Command::new("python3").args(["-c", &format!("import {modules}")]).status().is_ok_and(|s| s.success());
    if !have {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but python3 cannot import {modules}");
        eprintln!("\n*** SKIPPED: python3 cannot import {modules} ***\n");
    }
    have
}

/// `n` distinct ports no other test's server hands out (held together, so they differ): the
/// scripts' instances ask for them explicitly.
fn free_ports(n: usize) -> &'static [&'static str] {
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    let ports: Vec<&'static str> = listeners
        .iter()
        .map(|l| &*Box::leak(l.local_addr().expect("addr").port().to_string().into_boxed_str()))
        .collect();
    Box::leak(ports.into_boxed_slice())
}

/// `n` consecutive ports free now (for a server's `--rds-ports`, so that endpoints squall places
/// itself do not meet another test's), from a base that depends on the process and a counter.
fn free_range(n: u16) -> std::ops::RangeInclusive<u16> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    loop {
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + std::process::id();
        let base = 20_000 + (k.wrapping_mul(7_919) % 20_000) as u16;
        let bound: Vec<_> =
            (base..base + n).map_while(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok()).collect();
        if bound.len() == n as usize {
            return base..=base + n - 1;
        }
    }
}

/// Instances with boto3's own waiters (polling every second here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_instance_lifecycle() {
    let Some(run) = run_script("instance_lifecycle.py", 100) else { return };
    assert!(run.await.contains("boto3 instance lifecycle: ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_volume_lifecycle() {
    let Some(run) = run_script("volume_lifecycle.py", 300) else { return };
    assert!(run.await.contains("boto3 volume lifecycle: ok"));
}

/// The SQL endpoint of a Multi-AZ PostgreSQL instance through psycopg 3: CRUD, transactions,
/// error codes, statement_timeout, and a drill of 10 forced failovers and a zone outage under a
/// writer committing without pause: no acknowledged commit is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_rds_sql_endpoint_loses_no_commit_through_failovers() {
    if !have_python("psycopg") {
        return;
    }
    let ports = free_ports(2);
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_sql.py", options, ports) else { return };
    let out = run.await;
    assert!(out.contains("rds sql endpoint: ok"), "{out}");
    assert!(out.contains(", 0 lost"), "{out}");
}

/// Read replicas through boto3 and psycopg: a replica serves its source's rows, refuses writes
/// (25006), catches up asynchronously with its lag shown, serves reads while its source's zone
/// is out, and takes writes once promoted or once its source is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_replicas_follow_their_source_and_take_writes_once_promoted() {
    if !have_python("psycopg") {
        return;
    }
    let ports = free_ports(3);
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_replica.py", options, ports) else { return };
    let out = run.await;
    assert!(out.contains("rds read replicas: ok"), "{out}");
}

/// SQLAlchemy 2, core and ORM, over psycopg against a PostgreSQL instance's SQL endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_orm_and_core_work_against_the_sql_endpoint() {
    if !have_python("sqlalchemy, psycopg") {
        return;
    }
    let ports = free_ports(1);
    let options = ServeOptions { lifecycle_delay_ms: 50, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_sqlalchemy.py", options, ports) else { return };
    assert!(run.await.contains("sqlalchemy: ok"));
}

/// FIS through boto3: templates checked as FIS checks them, experiments chained by startAfter
/// that pause volumes, stop instances, fail an RDS instance over and inject API errors, stopped
/// mid-way with their effects undone, targets chosen by tags, filters, COUNT and PERCENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_fis_experiments_act_through_the_fault_engine() {
    let Some(run) = run_script("fis_experiments.py", 100) else { return };
    assert!(run.await.contains("fis experiments: ok"));
}

/// RDS DB instances: subnet groups, Multi-AZ, a forced failover, waiters, error codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_lifecycle() {
    let Some(run) = run_script("rds_lifecycle.py", 100) else { return };
    assert!(run.await.contains("boto3 rds lifecycle: ok"));
}

/// `--rds-address` and `--rds-failover-detect-ms` reach the control plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_settings_reach_the_control_plane() {
    let options = ServeOptions {
        lifecycle_delay_ms: 100,
        rds_address: "db.squall.internal".to_string(),
        rds_failover_detect_ms: 600_000,
        ..ServeOptions::ephemeral()
    };
    let Some(run) = run_script_with("rds_settings.py", options, &["db.squall.internal"]) else { return };
    assert!(run.await.contains("boto3 rds settings: ok"));
}

/// AWS's tag rules in every service that takes tags, each refusal in the service's own shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_tags_are_checked_as_aws_checks_them() {
    let Some(run) = run_script("tags.py", 100) else { return };
    assert!(run.await.contains("boto3 tags: ok"));
}

/// Services squall does not serve answer in their own protocol's error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_the_error_of_every_unserved_service() {
    let Some(run) = run_script("unserved_services.py", 300) else { return };
    assert!(run.await.contains("boto3 unserved services: ok"));
}

/// The live dashboard in headless Chromium (Debian's chromium and chromium-driver, driven by
/// Selenium from PyPI; .ci/run installs them): zones, node tiles and sparklines render; an AZ
/// outage injected with the page's button shows within 2 s and heals from the page; a node
/// crash and a volume's I/O pause go in from the page; no layout jump, no console error. Run
/// once with the fault token set, so the page's token field is what lets the faults in.
/// `SQUALL_SCREENSHOTS=DIR` saves the screenshots docs/ shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let have_browser = std::path::Path::new("/usr/bin/chromedriver").exists()
        && Command::new("python3").args(["-c", "import selenium"]).status().is_ok_and(|s| s.success());
    if !have_browser {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but chromium-driver or selenium is missing");
        eprintln!("\n*** SKIPPED: chromium-driver (Debian) or selenium (PyPI) is not installed ***\n");
        return;
    }
    let shots: &'static str = Box::leak(std::env::var("SQUALL_SCREENSHOTS").unwrap_or_default().into_boxed_str());
    let options = ServeOptions { fault_token: Some("drill-token".into()), ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("dashboard.py", options, Box::leak(Box::new([shots, "drill-token"]))) else {
        return;
    };
    let out = run.await;
    assert!(out.contains("dashboard in chromium: ok"), "{out}");
    eprintln!("{out}");
}

/// DB parameter groups through boto3, and their values in the database through psycopg:
/// `immediate` dynamic values at once, static ones at the reboot, `max_connections` enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_groups_reach_the_sql_endpoint() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let ports = free_ports(1);
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_parameter_groups.py", options, ports) else { return };
    assert!(run.await.contains("boto3 rds parameter groups: ok"));
}

/// CopyDBSnapshot (tags, a copy restores on its own after the source is deleted, a copy into
/// another region restores there: psycopg reads the rows), the `restore` attribute, orderable options and event categories, through boto3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_copies_hold_their_bytes_and_share_by_attribute() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let ports = free_ports(3);
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_snapshot_copies.py", options, ports) else {
        return;
    };
    assert!(run.await.contains("boto3 rds snapshot copies: ok"));
}

/// The instance settings Terraform sets on every DB instance (security groups, autoscaling,
/// monitoring, IAM auth, Performance Insights, CA, KMS, throughput, log exports): RDS's rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_instance_settings_follow_rds_rules() {
    let Some(run) = run_script("rds_instance_settings.py", 100) else { return };
    assert!(run.await.contains("boto3 rds instance settings: ok"));
}

/// Automated backups (a real snapshot when an instance is created or backups are turned on,
/// retained or not on deletion) and point-in-time restore, with psycopg reading the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automated_backups_and_point_in_time_restore_keep_the_rows() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_backups.py", options, free_ports(6)) else { return };
    assert!(run.await.contains("boto3 rds backups: ok"));
}

/// volume-io-pause on a DB instance's storage: one stripe of four makes the instance stuck and
/// its commits wait until the pause ends; a Multi-AZ primary paused fails over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_db_volumes_make_the_instance_stuck_until_healed() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_io_pause.py", options, free_ports(2)) else { return };
    assert!(run.await.contains("rds volume-io-pause: ok"));
}

/// DB option groups: each engine's options and settings, RDS's rules, default groups that cannot
/// change, instances that belong to a group of their engine and major version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_option_groups_follow_rds_rules() {
    let Some(run) = run_script("rds_option_groups.py", 100) else { return };
    assert!(run.await.contains("boto3 rds option groups: ok"));
}

/// Event subscriptions (what they publish, read back from the fault API), DB security groups,
/// and StopDBInstance with a snapshot: RDS's rules and codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_event_subscriptions_publish_what_they_select() {
    let Some(run) = run_script("rds_subscriptions.py", 100) else { return };
    assert!(run.await.contains("boto3 rds subscriptions: ok"));
}

/// DB log files: what the SQL endpoint writes (connections, failed statements, shutdowns) is
/// listed and read back page by page, as RDS serves its log files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_log_files_hold_what_the_engine_wrote() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_log_files.py", options, free_ports(1)) else { return };
    assert!(run.await.contains("boto3 rds log files: ok"));
}

/// ManageMasterUserPassword: the master password lives in a Secrets Manager secret that
/// GetSecretValue reads and psycopg connects with; rotations change what the database takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_master_passwords_live_in_secrets_manager() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_managed_password.py", options, free_ports(1)) else { return };
    assert!(run.await.contains("boto3 rds managed password: ok"));
}

/// What Terraform's AWS provider calls around a VPC (attributes, account attributes, main route
/// tables, default network ACLs, internet gateways, routes, associations), with EC2's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_vpc_routing_as_terraform_uses_it() {
    let Some(run) = run_script("vpc_routing.py", 100) else { return };
    assert!(run.await.contains("boto3 vpc routing: ok"));
}

/// Public IPv4 addresses: given at launch in subnets that map them, given back at stop, Elastic
/// IPs allocated, associated, moved and released with EC2's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_public_addresses_and_elastic_ips() {
    let Some(run) = run_script("public_addresses.py", 50) else { return };
    assert!(run.await.contains("boto3 public addresses: ok"));
}

/// Read replicas in another region: they copy and follow the source, are listed by ARN, and
/// stand alone when promoted or when the source is deleted; psycopg reads the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_region_read_replicas_follow_their_source() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_cross_region_replica.py", options, free_ports(3)) else { return };
    assert!(run.await.contains("rds cross-region replicas: ok"));
}

/// CopySnapshot from another region: the bytes written with the EBS direct APIs in one region
/// are read back from the copy in the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_snapshot_copies_cross_regions_with_their_bytes() {
    let Some(run) = run_script("snapshot_region_copy.py", 50) else { return };
    assert!(run.await.contains("boto3 snapshot region copy: ok"));
}

/// DescribeInstanceTypeOfferings, detailed monitoring, metadata options and CPU credits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_instance_options_follow_ec2_rules() {
    let Some(run) = run_script("instance_options.py", 50) else { return };
    assert!(run.await.contains("boto3 instance options: ok"));
}

/// `--rds-log-backup-ms` reaches the control plane: with a 60 s interval, writes within it get no
/// log backup of their own, and a restore among them goes back to the one before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_backup_interval_sets_point_in_time_granularity() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, rds_log_backup_ms: 60_000, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_log_backup_interval.py", options, free_ports(2)) else { return };
    assert!(run.await.contains("rds log backup interval: ok"));
}

/// Network interfaces and IPv6 as a moto-style suite uses them (instant mode: create and use at
/// once): interfaces made, attached, detached, filtered and deleted; RunInstances with
/// NetworkInterfaces; IPv6 blocks; DryRun before state checks; an empty TerminateInstances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_network_interfaces_and_ipv6() {
    let Some(run) = run_script("network_interfaces.py", 0) else { return };
    assert!(run.await.contains("boto3 network interfaces: ok"));
}

/// Launch templates: versions, the default version, RunInstances from a template with the
/// request's parameters winning, GetLaunchTemplateData, deletion, with EC2's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_launch_templates() {
    let Some(run) = run_script("launch_templates.py", 0) else { return };
    assert!(run.await.contains("boto3 launch templates: ok"));
}

/// Snapshots between two accounts: invisible and unusable until createVolumePermission shares
/// them, only the owner changes or deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_snapshot_sharing_between_accounts() {
    let Some(run) = run_script("snapshot_sharing.py", 50) else { return };
    assert!(run.await.contains("boto3 snapshot sharing: ok"));
}

/// AWS-managed prefix lists (and security-group rules naming them) and GetInstanceUefiData in
/// AWS's variable-store format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_prefix_lists_and_uefi_data() {
    let Some(run) = run_script("ec2_catalogue.py", 0) else { return };
    assert!(run.await.contains("boto3 ec2 catalogue: ok"));
}

/// Aurora DB clusters: create with RDS's validation, waiters, filters, modify, stop/start,
/// deletion protection and the final-snapshot rule, tags and events; not-implemented answers
/// for what is not built yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_aurora_clusters() {
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_clusters.py", options, free_ports(1)) else { return };
    assert!(run.await.contains("boto3 rds clusters: ok"));
}

/// An Aurora cluster's SQL endpoints on its cluster volume (psycopg): the writer's with the DB
/// cluster parameter group's values, the reader endpoint's read-only sessions; the writer's zone
/// going out fails over by itself with no acknowledged commit lost; without a write quorum a
/// write waits and completes when the copies come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aurora_cluster_sql_survives_a_zone_and_waits_without_a_quorum() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let ports = free_ports(5);
    let reader: u16 = ports[4].parse().expect("port");
    let options = ServeOptions { lifecycle_delay_ms: 100, rds_ports: reader..=reader, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_cluster_sql.py", options, &ports[..4]) else { return };
    assert!(run.await.contains("rds cluster sql: ok"));
}

/// Aurora global databases across two regions (psycopg): a global cluster from a regional one,
/// a secondary in another region that replicates the primary and refuses writes, then writes on
/// its own once removed; rename, protection and RDS's refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aurora_global_cluster_replicates_to_another_region() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_global_clusters.py", options, free_ports(2)) else { return };
    assert!(run.await.contains("boto3 rds global clusters: ok"));
}

/// Blue/green deployments of a PostgreSQL instance and of an Aurora cluster (psycopg): the green
/// copy on a newer version replicates the blue one; the switchover renames as RDS does and moves
/// the endpoint, so the same port reaches the green database, which takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_blue_green_switchover_moves_the_endpoint_to_the_green_copy() {
    if !have_python("boto3, psycopg") {
        return;
    }
    let options = ServeOptions { lifecycle_delay_ms: 100, rds_ports: free_range(6), ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_blue_green.py", options, free_ports(2)) else { return };
    assert!(run.await.contains("boto3 rds blue/green: ok"));
}

/// RDS Proxy as metadata: proxies with Secrets Manager authentication, the default target group,
/// an instance and an Aurora cluster as targets with their health and roles, rename and delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_rds_proxies() {
    let options = ServeOptions { lifecycle_delay_ms: 100, ..ServeOptions::ephemeral() };
    let Some(run) = run_script_with("rds_proxies.py", options, free_ports(2)) else { return };
    assert!(run.await.contains("boto3 rds proxies: ok"));
}
