//! The checks, each as a user of the SDK would write it.

use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{AvailabilityZoneState, Filter};

pub use crate::ebs_checks::*;
pub use crate::fault_checks::*;
pub use crate::fis_checks::*;
pub use crate::instance_checks::*;
pub use crate::rds_checks::*;
use crate::{ec2, ec2_with_key, error_seen, sts};

pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

pub async fn availability_zones_of_us_east_1_and_eu_west_1(endpoint: String) {
    let out =
        ec2(&endpoint, "us-east-1").describe_availability_zones().send().await.expect("DescribeAvailabilityZones");
    assert!(out.request_id().is_some_and(|id| id.len() == 36), "request id: {:?}", out.request_id());
    let zones = out.availability_zones();
    let names: Vec<_> = zones.iter().map(|z| z.zone_name().unwrap_or_default()).collect();
    assert_eq!(names, ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]);
    let ids: Vec<_> = zones.iter().map(|z| z.zone_id().unwrap_or_default()).collect();
    assert_eq!(ids, ["use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"]);
    for z in zones {
        assert_eq!(z.state(), Some(&AvailabilityZoneState::Available));
        assert_eq!(z.region_name(), Some("us-east-1"));
        assert_eq!(z.zone_type(), Some("availability-zone"));
        assert_eq!(z.opt_in_status().map(|s| s.as_str()), Some("opt-in-not-required"));
        assert_eq!(z.network_border_group(), Some("us-east-1"));
        assert!(z.messages().is_empty());
    }

    let out = ec2(&endpoint, "eu-west-1").describe_availability_zones().send().await.expect("eu-west-1");
    let pairs: Vec<_> = out
        .availability_zones()
        .iter()
        .map(|z| {
            (z.zone_name().unwrap_or_default(), z.zone_id().unwrap_or_default(), z.region_name().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("eu-west-1a", "euw1-az1", "eu-west-1"),
            ("eu-west-1b", "euw1-az2", "eu-west-1"),
            ("eu-west-1c", "euw1-az3", "eu-west-1")
        ]
    );
}

pub async fn zone_filters_narrow_the_answer(endpoint: String) {
    let client = ec2(&endpoint, "us-east-1");
    let out = client
        .describe_availability_zones()
        .filters(filter("zone-name", &["us-east-1a", "us-east-1c"]))
        .send()
        .await
        .expect("filter by name");
    let names: Vec<_> = out.availability_zones().iter().filter_map(|z| z.zone_name()).collect();
    assert_eq!(names, ["us-east-1a", "us-east-1c"]);

    let out = client
        .describe_availability_zones()
        .filters(filter("zone-id", &["use1-az?"]))
        .filters(filter("state", &["available"]))
        .filters(filter("region-name", &["us-east-*"]))
        .send()
        .await
        .expect("wildcards");
    assert_eq!(out.availability_zones().len(), 6);

    let out = client
        .describe_availability_zones()
        .filters(filter("state", &["impaired"]))
        .send()
        .await
        .expect("no impaired zone");
    assert!(out.availability_zones().is_empty());
}

pub async fn zone_names_and_ids_select_zones(endpoint: String) {
    let out = ec2(&endpoint, "us-west-2")
        .describe_availability_zones()
        .zone_names("us-west-2b")
        .zone_ids("usw2-az4")
        .send()
        .await
        .expect("by name and id");
    let names: Vec<_> = out.availability_zones().iter().filter_map(|z| z.zone_name()).collect();
    assert_eq!(names, ["us-west-2b", "us-west-2d"]);
}

pub async fn unknown_zone_is_invalid_parameter_value(endpoint: String) {
    let e = ec2(&endpoint, "us-east-1")
        .describe_availability_zones()
        .zone_names("us-east-1z")
        .send()
        .await
        .expect_err("us-east-1z does not exist");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidParameterValue"));
    assert_eq!(seen.message, "Invalid availability zone: [us-east-1z]");
}

pub async fn unknown_filter_is_invalid_parameter_value(endpoint: String) {
    let e = ec2(&endpoint, "us-east-1")
        .describe_availability_zones()
        .filters(filter("colour", &["blue"]))
        .send()
        .await
        .expect_err("unknown filter");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidParameterValue"));
    assert_eq!(seen.message, "The filter 'colour' is invalid");
}

pub async fn unimplemented_operation_is_invalid_action(endpoint: String) {
    let e = ec2(&endpoint, "us-east-1").describe_vpn_gateways().send().await.expect_err("not implemented");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidAction"));
    assert!(seen.message.contains("DescribeVpnGateways"), "{}", seen.message);
}

pub async fn dry_run_answers_dry_run_operation(endpoint: String) {
    let e = ec2(&endpoint, "us-east-1").describe_availability_zones().dry_run(true).send().await.expect_err("dry run");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (412, "DryRunOperation"));
    assert_eq!(seen.message, "Request would have succeeded, but DryRun flag is set.");
}

pub async fn regions_default_all_and_filtered(endpoint: String) {
    let client = ec2(&endpoint, "eu-central-1");
    let default = client.describe_regions().send().await.expect("DescribeRegions");
    let names: Vec<_> = default.regions().iter().filter_map(|r| r.region_name()).collect();
    assert_eq!(names.len(), 17, "{names:?}");
    assert!(names.contains(&"us-east-1") && !names.contains(&"af-south-1"), "{names:?}");
    let us_east_1 = default.regions().iter().find(|r| r.region_name() == Some("us-east-1")).expect("us-east-1");
    assert_eq!(us_east_1.endpoint(), Some("ec2.us-east-1.amazonaws.com"));
    assert_eq!(us_east_1.opt_in_status(), Some("opt-in-not-required"));

    let all = client.describe_regions().all_regions(true).send().await.expect("AllRegions");
    assert!(all.regions().len() > 30, "{}", all.regions().len());
    let cape_town = all.regions().iter().find(|r| r.region_name() == Some("af-south-1")).expect("af-south-1");
    assert_eq!(cape_town.opt_in_status(), Some("not-opted-in"));

    let filtered = client
        .describe_regions()
        .all_regions(true)
        .filters(filter("opt-in-status", &["not-opted-in"]))
        .filters(filter("region-name", &["eu-*"]))
        .send()
        .await
        .expect("filtered");
    let names: Vec<_> = filtered.regions().iter().filter_map(|r| r.region_name()).collect();
    assert_eq!(names, ["eu-central-2", "eu-south-1", "eu-south-2"]);
}

pub async fn caller_identity_names_the_account(endpoint: String) {
    let out = sts(&endpoint, "us-east-1", "test").get_caller_identity().send().await.expect("GetCallerIdentity");
    assert_eq!(out.account(), Some("000000000000"));
    assert_eq!(out.arn(), Some("arn:aws:iam::000000000000:root"));
    let out = sts(&endpoint, "eu-west-1", "123456789012").get_caller_identity().send().await.expect("12-digit key");
    assert_eq!(out.account(), Some("123456789012"));
}

pub async fn health_json_on_both_paths(endpoint: String) {
    let host = endpoint.trim_start_matches("http://").to_string();
    let body = tokio::task::spawn_blocking(move || {
        let timeout = std::time::Duration::from_secs(5);
        let squall = squall::probe::probe(&format!("http://{host}/_squall/health"), timeout).expect("squall health");
        let localstack =
            squall::probe::probe(&format!("http://{host}/_localstack/health"), timeout).expect("localstack health");
        (squall, localstack)
    })
    .await
    .expect("probe task");
    let squall: serde_json::Value = serde_json::from_str(&body.0).expect("health is JSON");
    let localstack: serde_json::Value = serde_json::from_str(&body.1).expect("health is JSON");
    assert_eq!(squall["services"], localstack["services"]);
    assert_eq!(squall["services"]["ec2"], "running");
    assert_eq!(squall["services"]["sts"], "running");
    assert_eq!(squall["services"]["rds"], "running");
    assert_eq!(squall["services"]["fis"], "running");
    assert_eq!(squall["version"], env!("CARGO_PKG_VERSION"));
}

/// Zone counts follow the region (Seoul has four); an unknown zone id is named in the error.
pub async fn other_regions_and_unknown_zone_ids(endpoint: String) {
    // A 12-digit access key is its own account; the zone list does not depend on it.
    let out = ec2_with_key(&endpoint, "ap-northeast-2", "123456789012")
        .describe_availability_zones()
        .send()
        .await
        .expect("ok");
    assert_eq!(out.availability_zones().len(), 4);
    let e = ec2(&endpoint, "us-east-1")
        .describe_availability_zones()
        .zone_ids("use1-az9")
        .send()
        .await
        .expect_err("az9 does not exist");
    let seen = error_seen(e);
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidParameterValue"));
    assert!(seen.message.contains("use1-az9"), "{}", seen.message);
}
