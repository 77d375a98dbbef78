//! PostgreSQL's own clients against a DB instance's SQL endpoint: psql (a script, `\l`, `\dt`,
//! `\d <table>`) and pgbench (`-i -s 1` with its COPY, then a short run of its default TPC-B-like
//! script). Skipped loudly when psql, pgbench or the AWS CLI is missing, except under `CI=true`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use squall::config::ServeOptions;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {tool} is not installed");
        eprintln!("\n*** SKIPPED: {tool} is not installed ***\n");
    }
    found
}

fn aws(endpoint: &str, args: &[&str]) -> Output {
    Command::new("aws")
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("aws runs")
}

fn pg(tool: &str, port: u16, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "shopkeeper"])
        .args(args)
        .env("PGPASSWORD", "counter-top")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ends")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_pgbench_work_against_the_sql_endpoint() {
    if !have("aws") || !have("psql") || !have("pgbench") {
        return;
    }
    let server =
        squall::start(&ServeOptions { lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() }).await.expect("starts");
    let endpoint = server.endpoint_url();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let out = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || {
            aws(
                &endpoint,
                &[
                    "rds",
                    "create-db-instance",
                    "--db-instance-identifier",
                    "shop",
                    "--engine",
                    "postgres",
                    "--db-instance-class",
                    "db.t3.micro",
                    "--allocated-storage",
                    "20",
                    "--master-username",
                    "shopkeeper",
                    "--master-user-password",
                    "counter-top",
                    "--db-name",
                    "shop",
                    "--port",
                    &port.to_string(),
                ],
            )
        }
    })
    .await
    .expect("task");
    assert!(out.status.success(), "{}", text(&out));

    let checks = tokio::task::spawn_blocking(move || {
        // The endpoint opens within the control plane's watch interval.
        let started = Instant::now();
        loop {
            let o = pg("psql", port, &["-d", "shop", "-tAc", "select 1"], None);
            if o.status.success() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the endpoint never answered: {}", text(&o));
            std::thread::sleep(Duration::from_millis(100));
        }
        let script = "\\set ON_ERROR_STOP on
CREATE TABLE items (id SERIAL PRIMARY KEY, name VARCHAR(40) NOT NULL, price NUMERIC(10,2), added TIMESTAMPTZ DEFAULT now());
INSERT INTO items (name, price) VALUES ('kettle', 24.50), ('teapot', 31);
BEGIN;
UPDATE items SET price = price + 1 WHERE name = 'kettle';
SAVEPOINT s1;
DELETE FROM items;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT name || '=' || price FROM items ORDER BY id;
\\dt
\\d items
\\l
";
        let o = pg("psql", port, &["-d", "shop", "-X"], Some(script));
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(out.contains("kettle=25.5") && out.contains("teapot=31"), "{out}");
        assert!(out.contains("public | items | table | shopkeeper"), "\\dt: {out}");
        assert!(out.contains("Table \"public.items\""), "\\d: {out}");
        assert!(out.contains("character varying(40)") && out.contains("numeric(10,2)"), "\\d: {out}");
        assert!(out.contains("timestamp with time zone") && out.contains("now()"), "\\d: {out}");
        assert!(out.contains(" shop ") && out.contains("UTF8"), "\\l: {out}");
        // An error in psql's own shape, with PostgreSQL's code.
        let o = pg("psql", port, &["-d", "shop", "-X", "-v", "VERBOSITY=verbose", "-c", "SELECT * FROM nowhere"], None);
        assert!(text(&o).contains("42P01"), "{}", text(&o));

        // pgbench: initialise (tables, COPY of 100,000 accounts, keys), then its default script.
        let o = pg("pgbench", port, &["-i", "-s", "1", "shop"], None);
        assert!(o.status.success(), "pgbench -i: {}", text(&o));
        let o = pg("pgbench", port, &["-c", "2", "-T", "3", "shop"], None);
        let out = text(&o);
        assert!(o.status.success(), "pgbench: {out}");
        assert!(out.contains("number of failed transactions: 0"), "{out}");
        let processed: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(processed > 0, "{out}");
        let o = pg(
            "psql",
            port,
            &[
                "-d",
                "shop",
                "-tAc",
                "select count(*), sum(abalance) = (select sum(delta) from pgbench_history) from pgbench_accounts",
            ],
            None,
        );
        assert_eq!(text(&o).trim(), "100000|t", "{}", text(&o));
    });
    checks.await.expect("checks");
    server.shutdown().await;
}
