//! The SDK suite against the Docker image, started by testcontainers as users' CI would.
//!
//! The image is built first with `docker/build.sh` (there is no registry to pull it from).
//! Without a reachable Docker daemon the test says so loudly and skips — except under
//! `CI=true`, where the container run is required.

use std::process::Command;
use std::time::Instant;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::GenericImage;

const IMAGE: &str = "squall";
const TAG: &str = "sdk-tests";

fn docker_available() -> bool {
    Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output().is_ok_and(|o| o.status.success())
}

fn build_image() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let status = Command::new("bash")
        .arg(format!("{root}/docker/build.sh"))
        .arg(format!("{IMAGE}:{TAG}"))
        .status()
        .expect("docker/build.sh runs");
    assert!(status.success(), "docker/build.sh failed");
}

macro_rules! run_in_container {
    ($($name:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sdk_suite_against_the_docker_image() {
            if !docker_available() {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but no Docker daemon is reachable");
                eprintln!("\n*** SKIPPED: no Docker daemon reachable; the container variant of the SDK suite did not run ***\n");
                return;
            }
            build_image();
            let started = Instant::now();
            let container = GenericImage::new(IMAGE, TAG)
                .with_exposed_port(4566.tcp())
                .with_exposed_port(10809.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready."))
                .start()
                .await
                .expect("the squall container starts");
            let port = container.get_host_port_ipv4(4566.tcp()).await.expect("port 4566 is mapped");
            eprintln!("container ready in {:?}", started.elapsed());
            let endpoint = format!("http://127.0.0.1:{port}");
            let nbd_port = container.get_host_port_ipv4(10809.tcp()).await.expect("port 10809 is mapped");
            let nbd = std::net::SocketAddr::from(([127, 0, 0, 1], nbd_port));
            $(
                eprintln!("check {} against the container", stringify!($name));
                squall_sdk_tests::checks::$name(endpoint.clone()).await;
                // A wrong answer panics above; a crash would show here.
                let health = squall::probe::probe(&format!("{endpoint}/_squall/health"), std::time::Duration::from_secs(5));
                assert!(health.is_ok(), "container unhealthy after {}: {health:?}", stringify!($name));
            )*
            eprintln!("check nbd_round_trip against the container");
            squall_sdk_tests::checks::nbd_round_trip(endpoint.clone(), nbd).await;
            eprintln!("check fault_api_round_trip against the container");
            squall_sdk_tests::checks::fault_api_round_trip(endpoint.clone(), nbd).await;
        }
    };
}

squall_sdk_tests::for_each_check!(run_in_container);
