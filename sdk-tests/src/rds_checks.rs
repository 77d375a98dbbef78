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
