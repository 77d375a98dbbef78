use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use squall::config::{Cli, Command, ServeOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Health(h)) => match squall::probe::probe(&h.url, Duration::from_millis(h.timeout_ms)) {
            Ok(body) => {
                println!("{body}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("squall health: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Serve(options)) => serve(*options),
        Some(Command::Drill(options)) => drill(&options),
        None => serve(cli.serve),
    }
}

fn drill(options: &squall::drill::DrillOptions) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("squall drill: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(squall::drill::run(options)) {
        Ok(_) => {
            println!("report: {}", options.out.join("report.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("squall drill: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: ServeOptions) -> ExitCode {
    let started = Instant::now();
    init_logging(&options);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("squall: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, on stderr (the log goes there too).
            eprintln!("squall: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut options: ServeOptions, started: Instant) -> anyhow::Result<()> {
    if options.init_dir.is_none() {
        options.init_dir = squall::init::default_dir();
    }
    let server = squall::start(&options).await?;
    tracing::info!(
        listen = %server.addr,
        nbd = %server.nbd_addr.map_or_else(|| "off".to_string(), |a| a.to_string()),
        data_dir = %server.data_dir.display(),
        region = %options.region,
        version = squall::VERSION,
        startup_micros = started.elapsed().as_micros() as u64,
        "squall is serving"
    );
    // LocalStack prints this line when it is ready; testcontainers' LocalStack module waits for it.
    println!("Ready.");
    shutdown_signal().await;
    tracing::info!("signal received");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn init_logging(options: &ServeOptions) {
    let filter = tracing_subscriber::EnvFilter::try_new(&options.log).unwrap_or_else(|e| {
        eprintln!("squall: invalid log filter {:?} ({e}); using info", options.log);
        tracing_subscriber::EnvFilter::new("info")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if options.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
