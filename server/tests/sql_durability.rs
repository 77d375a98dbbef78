//! kill -9 durability of the RDS SQL endpoint: the squall binary on a data directory, three
//! psycopg clients committing rows at once (single statements and multi-row transactions; their
//! commits share flushes), squall killed at
//! random moments and restarted three times: every acknowledged row is there. Then reboot,
//! stop/start and a DB snapshot's restore keep them (`sdk-tests/python/rds_sql_durability.py`,
//! which prints its seed; `SQUALL_SQL_DURABILITY_SEED` repeats it). Skipped loudly without
//! python3, boto3 and psycopg, except under `CI=true`.

use std::process::Command;

#[test]
fn committed_rows_survive_kill_9_reboot_stop_start_and_a_snapshot_restore() {
    let have = Command::new("python3").args(["-c", "import boto3, psycopg"]).status().is_ok_and(|s| s.success());
    if !have {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but python3 with boto3 and psycopg is missing");
        eprintln!("\n*** SKIPPED: python3 with boto3 and psycopg is not available ***\n");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!("{}/../sdk-tests/python/rds_sql_durability.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg("-u")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_squall"))
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("rds sql durability: ok"), "{stdout}");
    assert_eq!(stdout.matches(", 0 lost after kill -9").count(), 3, "{stdout}");
}
