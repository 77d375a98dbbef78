//! The SDK suite against a squall started in this process on port 0: one test per check, each
//! with its own server.

use squall::config::ServeOptions;

macro_rules! in_process {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
            squall_sdk_tests::checks::$name(server.endpoint_url()).await;
            server.shutdown().await;
        }
    )*};
}

squall_sdk_tests::for_each_check!(in_process);

/// With `--accept-any-ami false`, an AMI id squall does not know is `InvalidAMIID.NotFound`, as
/// on AWS; catalogue images still launch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_images_refuse_unknown_ami_ids() {
    let options = ServeOptions { accept_any_ami: false, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = squall_sdk_tests::ec2(&server.endpoint_url(), "us-east-1");
    let run = |image: &str| ec2.run_instances().image_id(image).min_count(1).max_count(1).send();
    let err = run("ami-0123456789abcdef0").await.expect_err("unknown image");
    let seen = squall_sdk_tests::error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidAMIID.NotFound"));
    assert_eq!(seen.message, "The image id '[ami-0123456789abcdef0]' does not exist");
    let catalogue = ec2.describe_images().owners("amazon").send().await.expect("DescribeImages");
    let known = catalogue.images()[0].image_id().expect("id").to_string();
    run(&known).await.expect("a catalogue image launches");
    server.shutdown().await;
}

/// With room for two instances per zone, a third in that zone is `InsufficientInstanceCapacity`
/// (500), other zones still launch, and a stopped instance gives its capacity back, so starting
/// it again can fail the same way, as on AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_zone_answers_insufficient_instance_capacity() {
    use aws_sdk_ec2::types::{InstanceStateName, Placement};
    let options = ServeOptions { instance_capacity_per_az: 2, lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let ec2 = squall_sdk_tests::ec2(&server.endpoint_url(), "us-east-1");
    let run = |zone: &str, n: i32| {
        ec2.run_instances()
            .image_id("ami-0123456789abcdef0")
            .min_count(n)
            .max_count(n)
            .placement(Placement::builder().availability_zone(zone).build())
            .send()
    };
    let first = run("us-east-1a", 2).await.expect("two fit");
    let err = run("us-east-1a", 1).await.expect_err("the zone is full");
    let seen = squall_sdk_tests::error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (500, "InsufficientInstanceCapacity"));
    assert!(seen.message.contains("(us-east-1a)"), "{}", seen.message);
    run("us-east-1b", 1).await.expect("another zone has room");

    let stopped = first.instances()[0].instance_id().expect("id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    ec2.stop_instances().instance_ids(&stopped).send().await.expect("stop");
    for _ in 0..100 {
        let d = ec2.describe_instances().instance_ids(&stopped).send().await.expect("describe");
        if d.reservations()[0].instances()[0].state().and_then(|s| s.name()) == Some(&InstanceStateName::Stopped) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    run("us-east-1a", 1).await.expect("the stopped instance gave its capacity back");
    let err = ec2.start_instances().instance_ids(&stopped).send().await.expect_err("no room to start again");
    assert_eq!(squall_sdk_tests::error_seen(err).code, "InsufficientInstanceCapacity");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbd_round_trip() {
    let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
    squall_sdk_tests::checks::nbd_round_trip(server.endpoint_url(), server.nbd_addr.expect("NBD listens")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_api_round_trip() {
    let server = squall::start(&ServeOptions::ephemeral()).await.expect("squall starts");
    squall_sdk_tests::checks::fault_api_round_trip(server.endpoint_url(), server.nbd_addr.expect("NBD listens")).await;
    server.shutdown().await;
}

/// `--extra-regions`: a region AWS does not have is served once named there; any other such
/// region is refused as AWS refuses a signature scoped to a region it does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_regions_are_served_and_unknown_ones_refused() {
    let options = ServeOptions { extra_regions: vec!["zz-lab-1".to_string()], ..ServeOptions::ephemeral() };
    let server = squall::start(&options).await.expect("squall starts");
    let lab = squall_sdk_tests::ec2(&server.endpoint_url(), "zz-lab-1");
    let zones = lab.describe_availability_zones().send().await.expect("a named extra region is served");
    assert_eq!(zones.availability_zones().len(), 3);
    let other = squall_sdk_tests::ec2(&server.endpoint_url(), "zz-other-1");
    let err = other.describe_availability_zones().send().await.expect_err("an unnamed region is refused");
    let seen = squall_sdk_tests::error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (401, "AuthFailure"));
    assert!(seen.message.contains("zz-other-1"), "{}", seen.message);
    server.shutdown().await;
}
