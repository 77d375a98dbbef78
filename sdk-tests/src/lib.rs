//! End-to-end checks with the real AWS SDK for Rust. Each check takes an endpoint URL, so the
//! same bodies run against a server started in-process (`tests/in_process.rs`) and against the
//! Docker image started by testcontainers (`tests/container.rs`).

use std::future::Future;
use std::pin::Pin;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

pub mod checks;
pub mod ebs_checks;
pub mod fault_checks;
pub mod fis_checks;
pub mod instance_checks;
pub mod rds_checks;
pub use ebs_checks::*;

/// One check of the suite: runs against the endpoint and panics on a wrong answer.
pub type Check = fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Calls `$m!(name, name, …)` with every check of the suite, so each runner lists them all.
#[macro_export]
macro_rules! for_each_check {
    ($m:ident) => {
        $m!(
            availability_zones_of_us_east_1_and_eu_west_1,
            zone_filters_narrow_the_answer,
            zone_names_and_ids_select_zones,
            unknown_zone_is_invalid_parameter_value,
            unknown_filter_is_invalid_parameter_value,
            unimplemented_operation_is_invalid_action,
            dry_run_answers_dry_run_operation,
            regions_default_all_and_filtered,
            caller_identity_names_the_account,
            health_json_on_both_paths,
            other_regions_and_unknown_zone_ids,
            volume_lifecycle_with_waiters,
            volume_validation_errors,
            volume_capacity_is_finite,
            describe_volumes_pages_through_1000_volumes,
            snapshots_copies_and_permissions,
            tags_on_volumes_and_snapshots,
            ebs_direct_blocks_round_trip_through_volumes,
            instances_own_volumes_and_attach_them,
            default_network_places_instances,
            images_catalogue_and_launch,
            security_groups_and_rules,
            instance_types_reboot_and_console,
            multi_az_app_in_its_own_vpc,
            instance_and_network_errors,
            key_pairs_hold_real_keys,
            images_boot_their_snapshots,
            instance_attributes_and_idempotency,
            rds_multi_az_instance_fails_over,
            rds_aurora_cluster_fails_over,
            rds_global_cluster_and_blue_green,
            fis_experiment_pauses_a_volume_until_stopped
        );
    };
}

/// The dummy credentials every check signs with (squall does not verify signatures).
pub const ACCESS_KEY_ID: &str = "test";

/// `$name(endpoint, region, access_key_id)`: a client of the SDK crate `$krate` for squall at
/// `endpoint`, signing with dummy credentials under `access_key_id`.
macro_rules! client_with_key {
    ($name:ident, $krate:ident) => {
        pub fn $name(endpoint: &str, region: &str, access_key_id: &str) -> $krate::Client {
            let conf = $krate::Config::builder()
                .behavior_version($krate::config::BehaviorVersion::latest())
                .region($krate::config::Region::new(region.to_string()))
                .endpoint_url(endpoint)
                .credentials_provider($krate::config::Credentials::new(
                    access_key_id,
                    "test",
                    None,
                    None,
                    "squall-sdk-tests",
                ))
                .build();
            $krate::Client::from_conf(conf)
        }
    };
}

client_with_key!(ec2_with_key, aws_sdk_ec2);
client_with_key!(ebs_with_key, aws_sdk_ebs);
client_with_key!(sts, aws_sdk_sts);
client_with_key!(rds_with_key, aws_sdk_rds);
client_with_key!(fis_with_key, aws_sdk_fis);

pub fn ec2(endpoint: &str, region: &str) -> aws_sdk_ec2::Client {
    ec2_with_key(endpoint, region, ACCESS_KEY_ID)
}

pub fn ebs(endpoint: &str, region: &str) -> aws_sdk_ebs::Client {
    ebs_with_key(endpoint, region, ACCESS_KEY_ID)
}

pub fn rds(endpoint: &str, region: &str) -> aws_sdk_rds::Client {
    rds_with_key(endpoint, region, ACCESS_KEY_ID)
}

pub fn fis(endpoint: &str, region: &str) -> aws_sdk_fis::Client {
    fis_with_key(endpoint, region, ACCESS_KEY_ID)
}

/// The HTTP status of a raw response, whichever SDK crate's response type it is.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// What a user checks of a failed call: HTTP status, AWS error code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSeen {
    pub status: u16,
    pub code: String,
    pub message: String,
}

pub fn error_seen<E: ProvideErrorMetadata + std::fmt::Debug, R: HasStatus + std::fmt::Debug>(
    e: SdkError<E, R>,
) -> ErrorSeen {
    let status = e.raw_response().map(HasStatus::status_code).unwrap_or_default();
    match e.as_service_error() {
        Some(service) => ErrorSeen {
            status,
            code: service.code().unwrap_or_default().to_string(),
            message: service.message().unwrap_or_default().to_string(),
        },
        None => panic!("expected a service error, got {e:?}"),
    }
}

/// Calls `check` every 25 ms until it holds; fails naming `what` after `limit`.
pub async fn wait_for(what: &str, limit: std::time::Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
