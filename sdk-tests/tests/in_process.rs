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
