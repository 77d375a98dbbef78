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

/// CreateDBInstance through the AWS CLI: a PostgreSQL instance of user `shopkeeper` on `port`.
async fn create_instance(endpoint: &str, id: &str, port: u16, extra: &[&str]) {
    let mut args: Vec<String> = [
        "rds",
        "create-db-instance",
        "--db-instance-identifier",
        id,
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
        "--port",
        &port.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    let endpoint = endpoint.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        aws(&endpoint, &args)
    })
    .await
    .expect("task");
    assert!(out.status.success(), "{}", text(&out));
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
    create_instance(&endpoint, "shop", port, &["--db-name", "shop"]).await;

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

/// tokio-postgres: prepared statements whose parameter types the endpoint infers from the
/// columns, binary results decoded into Rust types, transactions, and error codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_prepares_binds_and_decodes_binary_results() {
    use tokio_postgres::error::SqlState;
    if !have("aws") {
        return;
    }
    let server =
        squall::start(&ServeOptions { lifecycle_delay_ms: 0, ..ServeOptions::ephemeral() }).await.expect("starts");
    let endpoint = server.endpoint_url();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    create_instance(&endpoint, "rusty", port, &[]).await;
    let config = format!("host=127.0.0.1 port={port} user=shopkeeper password=counter-top dbname=postgres");
    let started = Instant::now();
    let (mut client, connection) = loop {
        match tokio_postgres::connect(&config, tokio_postgres::NoTls).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(started.elapsed() < Duration::from_secs(20), "the endpoint never answered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let driver = tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE parts (id BIGSERIAL PRIMARY KEY, code INTEGER NOT NULL UNIQUE, name TEXT, \
             weight DOUBLE PRECISION, fragile BOOLEAN, blob BYTEA)",
        )
        .await
        .expect("create");
    let insert = client
        .prepare("INSERT INTO parts (code, name, weight, fragile, blob) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .await
        .expect("prepare");
    let first: i64 =
        client.query_one(&insert, &[&7i32, &"cog", &1.25f64, &true, &vec![0u8, 1, 255]]).await.expect("insert").get(0);
    let second: i64 =
        client.query_one(&insert, &[&8i32, &"gear", &2.5f64, &false, &Vec::<u8>::new()]).await.expect("insert").get(0);
    assert_eq!((first, second), (1, 2));
    let row = client
        .query_one("SELECT code, name, weight, fragile, blob FROM parts WHERE code = $1", &[&7i32])
        .await
        .expect("select");
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(row.get::<_, String>(1), "cog");
    assert_eq!(row.get::<_, f64>(2), 1.25);
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, Vec<u8>>(4), vec![0u8, 1, 255]);
    let count: i64 = client.query_one("SELECT count(*) FROM parts", &[]).await.expect("count").get(0);
    assert_eq!(count, 2);

    // A transaction rolled back leaves nothing; one committed stays.
    let tx = client.transaction().await.expect("begin");
    tx.execute("UPDATE parts SET weight = $1 WHERE code = $2", &[&9.0f64, &7i32]).await.expect("update");
    tx.rollback().await.expect("rollback");
    let tx = client.transaction().await.expect("begin");
    tx.execute("DELETE FROM parts WHERE code = $1", &[&8i32]).await.expect("delete");
    tx.commit().await.expect("commit");
    let rows = client.query("SELECT code, weight FROM parts ORDER BY code", &[]).await.expect("select");
    let seen: Vec<(i32, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(seen, vec![(7, 1.25)]);

    let duplicate = client.execute(&insert, &[&7i32, &"again", &0.0f64, &false, &Vec::<u8>::new()]).await.unwrap_err();
    assert_eq!(duplicate.code(), Some(&SqlState::UNIQUE_VIOLATION), "{duplicate}");
    let missing = client.query("SELECT * FROM nowhere", &[]).await.unwrap_err();
    assert_eq!(missing.code(), Some(&SqlState::UNDEFINED_TABLE), "{missing}");
    drop(client);
    let _ = driver.await;
    server.shutdown().await;
}
