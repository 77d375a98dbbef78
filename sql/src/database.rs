//! One DB instance's database: a SQLite connection over its storage (through the block VFS),
//! the functions PostgreSQL clients call, and the mapping of SQLite's errors to SQLSTATEs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::translate::SqlError;
use crate::vfs::{self, Disk};
use crate::Device;

/// Result columns: name and declared type.
pub type Columns = Vec<(String, Option<String>)>;

/// What a statement answered: columns, rows, rows changed.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub columns: Columns,
    pub rows: Vec<Vec<Value>>,
    pub changes: usize,
}

/// The database of one endpoint.
pub struct Database {
    name: String,
    disk: Arc<Disk>,
    conn: Mutex<Option<Connection>>,
    /// Whose turn it is to run statements: a session holds it for a whole transaction (SQLite
    /// has one writer, and one connection serves every session of the endpoint).
    pub turn: Arc<tokio::sync::Mutex<()>>,
    pub commits: AtomicU64,
    /// PostgreSQL's widths of INTEGER columns declared bigint or smallint (marked in the stored
    /// schema), by (table, column); read again after DDL.
    widths: Mutex<Option<Widths>>,
    /// A read replica's database: statements that write answer 25006.
    pub read_only: bool,
    /// What the connection is opened with, to open it again ([`Database::refresh`]).
    db_name: String,
    user: String,
}

type Widths = std::collections::HashMap<(String, String), &'static str>;

/// The marked columns of the stored schema.
fn load_widths(conn: &Connection) -> Widths {
    let mut out = Widths::new();
    let Ok(mut stmt) = conn.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%/*pg:%'")
    else {
        return out;
    };
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)));
    for (table, sql) in rows.into_iter().flatten().flatten() {
        for (mark, width) in [(crate::translate::INT8_MARK, "int8"), (crate::translate::INT2_MARK, "int2")] {
            for (at, _) in sql.match_indices(mark) {
                let before = sql[..at].trim_end();
                let before = before.strip_suffix("INTEGER").unwrap_or(before).trim_end();
                let tail: Vec<char> =
                    before.chars().rev().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '"').collect();
                let name: String = tail.into_iter().rev().collect();
                let name = name.trim_matches('"').to_ascii_lowercase();
                if !name.is_empty() {
                    out.insert((table.to_ascii_lowercase(), name), width);
                }
            }
        }
    }
    out
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("name", &self.name).finish()
    }
}

pub const SERVER_VERSION: &str = "15.4";

fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (squall: the PostgreSQL protocol over SQLite {} on the replicated block store)",
        rusqlite::version()
    )
}

impl Database {
    /// Opens (or creates) the database on `device`, under a name unique in the process; a read
    /// replica's (`read_only`) refuses writes and never checkpoints.
    pub fn open(
        name: &str,
        device: Arc<dyn Device>,
        db_name: &str,
        user: &str,
        read_only: bool,
    ) -> Result<Arc<Self>, String> {
        let disk = Disk::open(device).map_err(|e| format!("cannot open the storage: {e}"))?;
        vfs::attach(name, disk.clone()).map_err(|e| format!("cannot register the storage: {e}"))?;
        let conn = connect(name, &disk, db_name, user, read_only).inspect_err(|_| vfs::detach(name))?;
        Ok(Arc::new(Self {
            name: name.to_string(),
            disk,
            conn: Mutex::new(Some(conn)),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            commits: AtomicU64::new(0),
            widths: Mutex::new(None),
            read_only,
            db_name: db_name.to_string(),
            user: user.to_string(),
        }))
    }

    /// A read replica receives its source's bytes: the connection closes (nothing reads while
    /// `apply` writes the storage), then opens again on what the storage holds now. The caller
    /// holds the turn.
    pub fn refresh(&self, apply: impl FnOnce(&Disk) -> std::io::Result<()>) -> Result<(), String> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            return Err("the database is closed".into());
        }
        drop(guard.take());
        let applied = apply(&self.disk).map_err(|e| format!("cannot apply the source's writes: {e}"));
        *self.widths.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if self.disk.is_closed() {
            return Err("the database is closed".into());
        }
        *guard = Some(connect(&self.name, &self.disk, &self.db_name, &self.user, self.read_only)?);
        applied
    }

    pub fn disk(&self) -> &Arc<Disk> {
        &self.disk
    }

    /// Closes the database: statements waiting on its storage fail, then the connection goes
    /// (what was not committed is not in the WAL's committed frames, so nothing is lost).
    pub fn close(&self) {
        self.disk.close();
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(conn);
        vfs::detach(&self.name);
    }

    /// Runs SQLite statements in order with `params` (the last one's rows are the answer).
    /// Blocking: call it off the async reactor.
    pub fn run(&self, sql: &[String], params: &[Value]) -> Result<Outcome, SqlError> {
        self.run_as(sql, params, false)
    }

    /// [`Database::run`] for a session that may only read (an Aurora cluster's reader endpoint
    /// on the writer's database, `refuse_writes`): a statement that would write answers 25006
    /// before it runs.
    pub fn run_as(&self, sql: &[String], params: &[Value], refuse_writes: bool) -> Result<Outcome, SqlError> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = guard.as_ref().ok_or_else(closed)?;
        let mut out = Outcome::default();
        if sql.iter().any(|s| {
            let head = s.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
            head.starts_with("CREATE") || head.starts_with("ALTER") || head.starts_with("DROP")
        }) {
            *self.widths.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        for (n, one) in sql.iter().enumerate() {
            let error = |e: rusqlite::Error| {
                let mut error = sql_error(&e, &self.disk);
                if error.code == "25006" {
                    // As PostgreSQL words it on a hot standby: which statement was refused.
                    error.message = format!("cannot execute {} in a read-only transaction", statement_verb(one));
                }
                error
            };
            let mut stmt = conn.prepare_cached(one).map_err(error)?;
            if refuse_writes && !stmt.readonly() {
                return Err(SqlError::new(
                    "25006",
                    format!("cannot execute {} in a read-only transaction", statement_verb(one)),
                ));
            }
            let count = stmt.parameter_count();
            for i in 1..=count {
                let v = params.get(i - 1).cloned().unwrap_or(Value::Null);
                stmt.raw_bind_parameter(i, v).map_err(error)?;
            }
            if n + 1 < sql.len() || stmt.column_count() == 0 {
                let changes = stmt.raw_execute().map_err(error)?;
                out.changes += changes;
                continue;
            }
            out.columns = self.columns_of(conn, &stmt);
            let width = out.columns.len();
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next().map_err(error)? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    values.push(row.get::<_, Value>(i).map_err(error)?);
                }
                out.rows.push(values);
            }
            drop(rows);
            out.changes += conn.changes() as usize;
        }
        Ok(out)
    }

    /// Whether SQLite has a transaction open.
    pub fn in_transaction(&self) -> bool {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().is_some_and(|c| !c.is_autocommit())
    }

    /// Runs a statement without parameters (BEGIN, COMMIT, ROLLBACK).
    pub fn batch(&self, sql: &str) -> Result<(), SqlError> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = guard.as_ref().ok_or_else(closed)?;
        conn.execute_batch(sql).map_err(|e| sql_error(&e, &self.disk))?;
        if sql.eq_ignore_ascii_case("COMMIT") {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The columns of a statement without running it, and how many parameters it takes.
    pub fn describe(&self, sql: &str) -> Result<(Columns, usize, bool), SqlError> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = guard.as_ref().ok_or_else(closed)?;
        let stmt = conn.prepare_cached(sql).map_err(|e| sql_error(&e, &self.disk))?;
        let cols = self.columns_of(conn, &stmt);
        Ok((cols, stmt.parameter_count(), stmt.readonly()))
    }

    /// A statement's result columns with their declared types (PostgreSQL's width for a marked
    /// INTEGER column).
    fn columns_of(&self, conn: &Connection, stmt: &rusqlite::Statement<'_>) -> Columns {
        let mut widths = self.widths.lock().unwrap_or_else(PoisonError::into_inner);
        let widths = widths.get_or_insert_with(|| load_widths(conn));
        stmt.columns()
            .zip(stmt.columns_with_metadata())
            .map(|(c, m)| {
                let marked = match (m.table_name(), m.origin_name()) {
                    (Some(t), Some(o)) => widths.get(&(t.to_ascii_lowercase(), o.to_ascii_lowercase())).copied(),
                    _ => None,
                };
                (c.name().to_string(), marked.map(str::to_string).or_else(|| c.decl_type().map(str::to_string)))
            })
            .collect()
    }

    /// Declared types of a table's columns, by name.
    pub fn table_columns(&self, table: &str) -> Vec<(String, String)> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(conn) = guard.as_ref() else { return Vec::new() };
        let Ok(mut stmt) = conn.prepare("SELECT name, type FROM pragma_table_info(?1)") else { return Vec::new() };
        stmt.query_map([table], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    }

    /// Stops the statement running now (statement_timeout, CancelRequest).
    pub fn interrupt(&self) {
        self.disk.set_interrupt(true);
        if let Ok(guard) = self.conn.try_lock() {
            if let Some(c) = guard.as_ref() {
                c.get_interrupt_handle().interrupt();
            }
        }
    }
}

/// An interrupt handle that does not need the connection's lock (taken while it runs).
pub struct Interrupter {
    disk: Arc<Disk>,
    handle: Option<rusqlite::InterruptHandle>,
}

impl Interrupter {
    pub fn of(db: &Database) -> Self {
        let guard = db.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Self { disk: db.disk.clone(), handle: guard.as_ref().map(Connection::get_interrupt_handle) }
    }

    pub fn interrupt(&self) {
        self.disk.set_interrupt(true);
        if let Some(h) = &self.handle {
            h.interrupt();
        }
    }
}

/// A SQLite connection to the database `name` on `disk`, set up for the PostgreSQL protocol.
fn connect(name: &str, disk: &Arc<Disk>, db_name: &str, user: &str, read_only: bool) -> Result<Connection, String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags_and_vfs(name, flags, vfs::VFS_NAME)
        .map_err(|e| format!("cannot open the database: {e}"))?;
    if read_only {
        // A replica's storage changes only by what its source wrote: closing must not fold the
        // WAL into the database file.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| format!("cannot set the database up: {e}"))?;
    }
    let setup = conn.execute_batch(if read_only {
        "PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;"
    } else {
        "PRAGMA page_size = 4096; PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -16384;"
    });
    let mut databases = vec![db_name.to_string()];
    if db_name != "postgres" {
        databases.push("postgres".to_string());
    }
    setup
        .and_then(|()| rusqlite::vtab::series::load_module(&conn))
        .and_then(|()| functions(&conn, db_name, user, disk.clone(), read_only))
        .and_then(|()| crate::catalog::install(&conn, &databases, user))
        // Set last: the catalogue's views above are written to the temporary schema.
        .and_then(|()| if read_only { conn.execute_batch("PRAGMA query_only = ON;") } else { Ok(()) })
        .map_err(|e| format!("cannot set the database up: {e}"))?;
    Ok(conn)
}

fn closed() -> SqlError {
    SqlError::new(
        "57P01",
        "terminating connection due to administrator command (the DB instance is failing over, rebooting or stopping)",
    )
}

fn functions(conn: &Connection, db_name: &str, user: &str, disk: Arc<Disk>, read_only: bool) -> rusqlite::Result<()> {
    let det = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let nondet = FunctionFlags::SQLITE_UTF8;
    fn now(_: &mut rusqlite::functions::Context<'_>) -> rusqlite::Result<String> {
        Ok(timestamp_now())
    }
    for name in ["now", "transaction_timestamp", "statement_timestamp", "clock_timestamp"] {
        conn.create_scalar_function(name, 0, nondet, now)?;
    }
    let version = version_string();
    conn.create_scalar_function("version", 0, det, move |_| Ok(version.clone()))?;
    let db = db_name.to_string();
    conn.create_scalar_function("current_database", 0, det, move |_| Ok(db.clone()))?;
    conn.create_scalar_function("current_schema", 0, det, |_| Ok("public".to_string()))?;
    let u = user.to_string();
    conn.create_scalar_function("current_user", 0, det, move |_| Ok(u.clone()))?;
    conn.create_scalar_function("pg_backend_pid", 0, det, |_| Ok(i64::from(std::process::id())))?;
    conn.create_scalar_function("pg_table_is_visible", 1, det, |_| Ok(true))?;
    // A read replica is a standby in recovery, as PostgreSQL says of a hot standby.
    conn.create_scalar_function("pg_is_in_recovery", 0, det, move |_| Ok(read_only))?;
    conn.create_scalar_function("gen_random_uuid", 0, nondet, |_| Ok(random_uuid()))?;
    conn.create_scalar_function("uuid_generate_v4", 0, nondet, |_| Ok(random_uuid()))?;
    conn.create_scalar_function("random", 0, nondet, |_| Ok(random_unit()))?;
    // pg_sleep waits in small steps, so that a statement timeout or a cancel stops it.
    conn.create_scalar_function("pg_sleep", 1, nondet, move |ctx| {
        let secs: f64 = ctx.get(0)?;
        let until = std::time::Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
        while std::time::Instant::now() < until {
            if disk.interrupted() || disk.is_closed() {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                    Some(CANCELED.into()),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Value::Null)
    })?;
    Ok(())
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

fn random_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn random_uuid() -> String {
    let a = random_u64();
    let b = random_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Now, as PostgreSQL prints a timestamptz in UTC: `2026-11-30 20:15:00.123456+00`.
pub fn timestamp_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}+00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// SQLite's error as PostgreSQL's: SQLSTATE and a message in PostgreSQL's words where they
/// differ.
pub fn sql_error(e: &rusqlite::Error, disk: &Disk) -> SqlError {
    use rusqlite::ffi::ErrorCode;
    let text = e.to_string();
    if let rusqlite::Error::SqlInputError { msg, .. } = e {
        return message_error(msg);
    }
    if let rusqlite::Error::SqliteFailure(f, msg) = e {
        let msg = msg.clone().unwrap_or_else(|| text.clone());
        match f.code {
            ErrorCode::ConstraintViolation => {
                return match f.extended_code {
                    2067 | 1555 => {
                        SqlError::new("23505", format!("duplicate key value violates unique constraint ({msg})"))
                    }
                    1299 => SqlError::new("23502", format!("null value violates not-null constraint ({msg})")),
                    787 => SqlError::new("23503", format!("insert or update violates foreign key constraint ({msg})")),
                    275 => SqlError::new("23514", format!("new row violates check constraint ({msg})")),
                    _ => SqlError::new("23000", msg),
                };
            }
            ErrorCode::OperationInterrupted => return SqlError::new("57014", CANCELED),
            ErrorCode::SystemIoFailure if disk.is_closed() => return closed(),
            ErrorCode::SystemIoFailure if disk.interrupted() => {
                return SqlError::new("57014", "canceling statement while the storage was stuck");
            }
            ErrorCode::SystemIoFailure => {
                return SqlError::new("58030", format!("I/O error on the DB instance's storage: {msg}"))
            }
            ErrorCode::DiskFull => {
                return SqlError::new("53100", "could not extend file: the DB instance's storage is full")
            }
            ErrorCode::ReadOnly => {
                return SqlError::new("25006", "cannot execute this statement in a read-only transaction")
            }
            _ => {}
        }
        return message_error(&msg);
    }
    message_error(&text)
}

/// `INSERT`, `CREATE TABLE`: the command a statement runs, as PostgreSQL names it.
fn statement_verb(sql: &str) -> String {
    let words: Vec<String> = sql.split_whitespace().take(3).map(str::to_ascii_uppercase).collect();
    match words.first().map(String::as_str) {
        Some("CREATE" | "DROP" | "ALTER") => {
            let object = words.iter().skip(1).find(|w| !matches!(w.as_str(), "TEMP" | "TEMPORARY" | "UNIQUE"));
            format!("{} {}", words[0], object.map_or("", String::as_str))
        }
        Some(first) => first.to_string(),
        None => "this statement".to_string(),
    }
}

/// What an interrupted statement answers (a CancelRequest, or a timeout the session reports).
const CANCELED: &str = "canceling statement due to user request";

fn message_error(msg: &str) -> SqlError {
    if msg == CANCELED || msg == "interrupted" {
        return SqlError::new("57014", CANCELED);
    }
    let after = |prefix: &str| msg.strip_prefix(prefix).map(str::trim).map(str::to_string);
    if let Some(t) = after("no such table:") {
        return SqlError::new("42P01", format!("relation \"{t}\" does not exist"));
    }
    if let Some(c) = after("no such column:") {
        return SqlError::new("42703", format!("column \"{c}\" does not exist"));
    }
    if let Some(f) = after("no such function:") {
        return SqlError::new("42883", format!("function {f} does not exist (squall's SQL endpoint runs on SQLite)"));
    }
    if msg.starts_with("table ") && msg.ends_with("already exists") {
        let name = msg.trim_start_matches("table ").trim_end_matches(" already exists");
        return SqlError::new("42P07", format!("relation \"{name}\" already exists"));
    }
    if msg.starts_with("index ") && msg.ends_with("already exists") {
        let name = msg.trim_start_matches("index ").trim_end_matches(" already exists");
        return SqlError::new("42P07", format!("relation \"{name}\" already exists"));
    }
    if msg.contains("syntax error") || msg.starts_with("near ") || msg.contains("incomplete input") {
        return SqlError::syntax(format!("syntax error: {msg}"));
    }
    if msg.contains("datatype mismatch") {
        return SqlError::new("42804", msg.to_string());
    }
    if msg.contains("cannot start a transaction within a transaction") {
        return SqlError::new("25001", "there is already a transaction in progress");
    }
    if msg.contains("no such savepoint") {
        return SqlError::new("3B001", format!("savepoint does not exist ({msg})"));
    }
    SqlError::new("XX000", msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
