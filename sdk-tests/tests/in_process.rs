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
