//! RDS as an SDK user drives it: a Multi-AZ instance on the default VPC, the SDK's own waiters, a
//! forced failover that swaps the zones, events, deletion and AWS's error codes.

use std::time::Duration;

use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::SourceType;

use crate::{error_seen, rds, wait_for};

const WAIT: Duration = Duration::from_secs(120);

/// The instance as DescribeDBInstances shows it: (status, zone, standby zone).
async fn placement(client: &aws_sdk_rds::Client, id: &str) -> (String, String, Option<String>) {
    let out = client.describe_db_instances().db_instance_identifier(id).send().await.expect("DescribeDBInstances");
    let db = &out.db_instances()[0];
    (
        db.db_instance_status().unwrap_or_default().to_string(),
        db.availability_zone().unwrap_or_default().to_string(),
        db.secondary_availability_zone().map(str::to_string),
    )
}

/// CreateDBInstance (Multi-AZ) → available → RebootDBInstance with ForceFailover → the zones
/// swap → DeleteDBInstance → the `db_instance_available` and `db_instance_deleted` waiters agree.
pub async fn rds_multi_az_instance_fails_over(endpoint: String) {
    let client = rds(&endpoint, "us-west-2");
    let made = client
        .create_db_instance()
        .db_instance_identifier("Ledger")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("app")
        .master_user_password("s3cret-pass")
        .multi_az(true)
        .send()
        .await
        .expect("CreateDBInstance");
    let db = made.db_instance().expect("the instance");
    assert_eq!((db.db_instance_identifier(), db.db_instance_status()), (Some("ledger"), Some("creating")));
    assert_eq!(db.db_instance_arn(), Some("arn:aws:rds:us-west-2:000000000000:db:ledger"));
    wait_for("the instance to be available", WAIT, async || placement(&client, "ledger").await.0 == "available").await;
    // The SDK's waiter reads the same answer (it polls every 30 s; the instance is ready now).
    client.wait_until_db_instance_available().db_instance_identifier("ledger").wait(WAIT).await.expect("waiter");
    let (_, primary, standby) = placement(&client, "ledger").await;
    let standby = standby.expect("a Multi-AZ instance has a standby zone");
    assert_ne!(primary, standby);

    let rebooting = client
        .reboot_db_instance()
        .db_instance_identifier("ledger")
        .force_failover(true)
        .send()
        .await
        .expect("RebootDBInstance");
    assert_eq!(rebooting.db_instance().and_then(|d| d.db_instance_status()), Some("rebooting"));
    wait_for("the failover", WAIT, async || placement(&client, "ledger").await.0 == "available").await;
    assert_eq!(placement(&client, "ledger").await, ("available".to_string(), standby, Some(primary)));
    let events = client
        .describe_events()
        .source_type(SourceType::DbInstance)
        .source_identifier("ledger")
        .send()
        .await
        .expect("DescribeEvents");
    let messages: Vec<&str> = events.events().iter().filter_map(|e| e.message()).collect();
    let started = messages.iter().position(|m| *m == "Multi-AZ instance failover started.").expect("started");
    assert!(messages[started..].contains(&"Multi-AZ instance failover completed"), "{messages:?}");

    let e = client.reboot_db_instance().db_instance_identifier("nobody").send().await.expect_err("no such instance");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (404, "DBInstanceNotFound"));
    let e = client
        .delete_db_instance()
        .db_instance_identifier("ledger")
        .send()
        .await
        .expect_err("a final snapshot or SkipFinalSnapshot is required");
    assert_eq!(error_seen(e).code, "InvalidParameterCombination");
    client
        .delete_db_instance()
        .db_instance_identifier("ledger")
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("DeleteDBInstance");
    wait_for("the deletion", WAIT, async || {
        client.describe_db_instances().db_instance_identifier("ledger").send().await.is_err()
    })
    .await;
    client.wait_until_db_instance_deleted().db_instance_identifier("ledger").wait(WAIT).await.expect("waiter");
}

/// The writer of a cluster, as DescribeDBClusters shows it: (status, writer instance).
async fn cluster_writer(client: &aws_sdk_rds::Client, id: &str) -> (String, Option<String>) {
    let out = client.describe_db_clusters().db_cluster_identifier(id).send().await.expect("DescribeDBClusters");
    let c = &out.db_clusters()[0];
    let writer = c
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
        .map(str::to_string);
    (c.status().unwrap_or_default().to_string(), writer)
}

/// An Aurora cluster through aws-sdk-rds: CreateDBCluster → the `db_cluster_available` waiter →
/// a writer and a reader → FailoverDBCluster to the reader → deletion with the
/// `db_cluster_deleted` waiter, and RDS's codes.
pub async fn rds_aurora_cluster_fails_over(endpoint: String) {
    let client = rds(&endpoint, "eu-west-1");
    let made = client
        .create_db_cluster()
        .db_cluster_identifier("Payments")
        .engine("aurora-postgresql")
        .master_username("app")
        .master_user_password("s3cret-pass")
        .send()
        .await
        .expect("CreateDBCluster");
    let c = made.db_cluster().expect("the cluster");
    assert_eq!((c.db_cluster_identifier(), c.status()), (Some("payments"), Some("creating")));
    assert_eq!(c.db_cluster_arn(), Some("arn:aws:rds:eu-west-1:000000000000:cluster:payments"));
    assert_eq!(c.availability_zones().len(), 3);
    // Polled here first: the SDK's waiters wait 30 s between attempts.
    wait_for("the cluster", WAIT, async || cluster_writer(&client, "payments").await.0 == "available").await;
    client.wait_until_db_cluster_available().db_cluster_identifier("payments").wait(WAIT).await.expect("waiter");
    for (name, tier) in [("payments-1", 1), ("payments-2", 0)] {
        client
            .create_db_instance()
            .db_instance_identifier(name)
            .db_cluster_identifier("payments")
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .promotion_tier(tier)
            .send()
            .await
            .expect("CreateDBInstance in the cluster");
        wait_for("the instance", WAIT, async || placement(&client, name).await.0 == "available").await;
        client.wait_until_db_instance_available().db_instance_identifier(name).wait(WAIT).await.expect("waiter");
    }
    assert_eq!(cluster_writer(&client, "payments").await, ("available".into(), Some("payments-1".into())));
    let failing = client.failover_db_cluster().db_cluster_identifier("payments").send().await.expect("Failover");
    assert_eq!(failing.db_cluster().and_then(|c| c.status()), Some("failing-over"));
    wait_for("the failover", WAIT, async || cluster_writer(&client, "payments").await.0 == "available").await;
    client.wait_until_db_cluster_available().db_cluster_identifier("payments").wait(WAIT).await.expect("waiter");
    assert_eq!(cluster_writer(&client, "payments").await, ("available".into(), Some("payments-2".into())));

    let e = client.describe_db_clusters().db_cluster_identifier("nobody").send().await.expect_err("no such cluster");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (404, "DBClusterNotFoundFault"));
    let e = client
        .delete_db_cluster()
        .db_cluster_identifier("payments")
        .skip_final_snapshot(true)
        .send()
        .await
        .expect_err("instances are still in it");
    assert_eq!(error_seen(e).code, "InvalidDBClusterStateFault");
    for name in ["payments-1", "payments-2"] {
        client.delete_db_instance().db_instance_identifier(name).send().await.expect("DeleteDBInstance");
        wait_for("the deletion", WAIT, async || {
            client.describe_db_instances().db_instance_identifier(name).send().await.is_err()
        })
        .await;
    }
    client
        .delete_db_cluster()
        .db_cluster_identifier("payments")
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("DeleteDBCluster");
    wait_for("the cluster's deletion", WAIT, async || {
        client.describe_db_clusters().db_cluster_identifier("payments").send().await.is_err()
    })
    .await;
    client.wait_until_db_cluster_deleted().db_cluster_identifier("payments").wait(WAIT).await.expect("waiter");
}

/// The status of a blue/green deployment.
async fn deployment_status(client: &aws_sdk_rds::Client, id: &str) -> String {
    let out = client
        .describe_blue_green_deployments()
        .blue_green_deployment_identifier(id)
        .send()
        .await
        .expect("DescribeBlueGreenDeployments");
    out.blue_green_deployments()[0].status().unwrap_or_default().to_string()
}

/// A global database and a blue/green deployment through aws-sdk-rds: a global cluster from a
/// regional Aurora cluster, a secondary in another region (read-only, replicating), removed
/// again; then a blue/green deployment of the primary onto a newer version and its switchover,
/// which hands the cluster's name to the green copy.
pub async fn rds_global_cluster_and_blue_green(endpoint: String) {
    let west = rds(&endpoint, "eu-west-2");
    let central = rds(&endpoint, "eu-central-1");
    let made = west
        .create_db_cluster()
        .db_cluster_identifier("books")
        .engine("aurora-postgresql")
        .engine_version("15.8")
        .master_username("app")
        .master_user_password("s3cret-pass")
        .send()
        .await
        .expect("CreateDBCluster");
    let primary_arn = made.db_cluster().and_then(|c| c.db_cluster_arn()).expect("the ARN").to_string();
    wait_for("the cluster", WAIT, async || cluster_writer(&west, "books").await.0 == "available").await;
    west.create_db_instance()
        .db_instance_identifier("books-1")
        .db_cluster_identifier("books")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .expect("CreateDBInstance in the cluster");
    wait_for("the instance", WAIT, async || placement(&west, "books-1").await.0 == "available").await;

    let global = west
        .create_global_cluster()
        .global_cluster_identifier("books-global")
        .source_db_cluster_identifier(&primary_arn)
        .send()
        .await
        .expect("CreateGlobalCluster");
    let g = global.global_cluster().expect("the global cluster");
    assert_eq!((g.engine(), g.engine_version()), (Some("aurora-postgresql"), Some("15.8")));
    let secondary = central
        .create_db_cluster()
        .db_cluster_identifier("books-eu")
        .engine("aurora-postgresql")
        .global_cluster_identifier("books-global")
        .send()
        .await
        .expect("CreateDBCluster as a secondary");
    let secondary = secondary.db_cluster().expect("the secondary");
    assert_eq!(secondary.replication_source_identifier(), Some(primary_arn.as_str()));
    let secondary_arn = secondary.db_cluster_arn().expect("its ARN").to_string();
    let listed = central
        .describe_global_clusters()
        .global_cluster_identifier("books-global")
        .send()
        .await
        .expect("DescribeGlobalClusters");
    let members: Vec<(String, bool)> = listed.global_clusters()[0]
        .global_cluster_members()
        .iter()
        .map(|m| (m.db_cluster_arn().unwrap_or_default().to_string(), m.is_writer().unwrap_or_default()))
        .collect();
    assert_eq!(members, vec![(primary_arn.clone(), true), (secondary_arn.clone(), false)]);
    let e = west
        .delete_global_cluster()
        .global_cluster_identifier("books-global")
        .send()
        .await
        .expect_err("it has members");
    assert_eq!(error_seen(e).code, "InvalidGlobalClusterStateFault");
    for (client, arn) in [(&central, &secondary_arn), (&west, &primary_arn)] {
        client
            .remove_from_global_cluster()
            .global_cluster_identifier("books-global")
            .db_cluster_identifier(arn)
            .send()
            .await
            .expect("RemoveFromGlobalCluster");
    }
    west.delete_global_cluster().global_cluster_identifier("books-global").send().await.expect("DeleteGlobalCluster");

    let bgd = west
        .create_blue_green_deployment()
        .blue_green_deployment_name("books-16")
        .source(&primary_arn)
        .target_engine_version("16.4")
        .send()
        .await
        .expect("CreateBlueGreenDeployment");
    let bgd = bgd.blue_green_deployment().and_then(|d| d.blue_green_deployment_identifier()).expect("id").to_string();
    wait_for("the green cluster", WAIT, async || deployment_status(&west, &bgd).await == "AVAILABLE").await;
    west.switchover_blue_green_deployment()
        .blue_green_deployment_identifier(&bgd)
        .send()
        .await
        .expect("SwitchoverBlueGreenDeployment");
    wait_for("the switchover", WAIT, async || deployment_status(&west, &bgd).await == "SWITCHOVER_COMPLETED").await;
    let now = west.describe_db_clusters().db_cluster_identifier("books").send().await.expect("DescribeDBClusters");
    assert_eq!(now.db_clusters()[0].engine_version(), Some("16.4"));
    let old = west.describe_db_clusters().db_cluster_identifier("books-old1").send().await.expect("the blue one");
    assert_eq!(old.db_clusters()[0].engine_version(), Some("15.8"));
    let e = west
        .switchover_blue_green_deployment()
        .blue_green_deployment_identifier(&bgd)
        .send()
        .await
        .expect_err("switched over already");
    assert_eq!(error_seen(e).code, "InvalidBlueGreenDeploymentStateFault");
    west.delete_blue_green_deployment()
        .blue_green_deployment_identifier(&bgd)
        .send()
        .await
        .expect("DeleteBlueGreenDeployment");
}
