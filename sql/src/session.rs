//! One client connection to an endpoint: authentication, the simple and extended query
//! protocols, transactions (a session holds the database's turn from BEGIN to COMMIT), session
//! settings, statement_timeout, and COPY.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::{stream, Sink};
use pgwire::api::auth::md5pass::{hash_md5_password, Md5PasswordAuthStartupHandler};
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse, Response,
    Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone};
use pgwire::messages::PgWireBackendMessage;
use rusqlite::types::Value;
use tokio::sync::OwnedMutexGuard;

use crate::database::{Columns, Database, Interrupter, Outcome, SERVER_VERSION};
use crate::translate::{self, CopySpec, Kind, PgType, SqlError, Statement};
use crate::wire;

/// Who may connect, and to which database name.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub db_name: String,
}

fn user_error(e: SqlError) -> PgWireError {
    // A NUL would end the message's field on the wire (a client's bytes may be quoted in it).
    let message = e.message.replace('\0', "\\0");
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), e.code.into(), message)))
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}

#[derive(Debug)]
struct Auth(Credentials);

#[async_trait]
impl AuthSource for Auth {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        if let Some(db) = login.database() {
            if db != self.0.db_name && db != "postgres" && db != user {
                return Err(fatal("3D000", format!("database \"{db}\" does not exist")));
            }
        }
        let salt: [u8; 4] =
            std::array::from_fn(|i| (std::process::id() as u8).wrapping_add(i as u8 * 37) ^ rand_byte());
        // Another user gets a hash no password matches: the answer is 28P01 either way.
        let password = if user == self.0.user { self.0.password.clone() } else { format!("\u{0}{}", rand_byte()) };
        let hashed = hash_md5_password(user, &password, &salt);
        Ok(Password::new(Some(salt.to_vec()), hashed.as_bytes().to_vec()))
    }
}

/// The md5 password message a client sends for `salt` (`md5` and the hex digest).
pub fn md5_password(user: &str, password: &str, salt: &[u8]) -> String {
    hash_md5_password(user, password, salt)
}

fn rand_byte() -> u8 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u8)
}

/// The endpoint's part every session shares.
/// The values of the instance's DB parameter group (`max_connections`, `statement_timeout`, …),
/// updated while the endpoint serves.
pub type Parameters = Arc<Mutex<std::collections::BTreeMap<String, String>>>;

pub struct Shared {
    pub db: Arc<Database>,
    pub parameters: Parameters,
    /// Sessions connected now (`max_connections` caps them).
    pub sessions: std::sync::atomic::AtomicUsize,
    pub credentials: Credentials,
    /// Sessions by (pid, secret key), for CancelRequest.
    pub connections: Arc<pgwire::api::ConnectionManager>,
    pub cancel: Arc<Cancel>,
    /// The statement each session runs now on a worker thread, by the session's pid.
    running: Arc<Mutex<HashMap<i32, Arc<Interrupter>>>>,
    /// The instance's log: connections and failed statements are written to it.
    pub log: Option<squall_control::db_logs::DbLog>,
    /// The master password as it is now (it may change while the endpoint serves).
    pub password: Arc<Mutex<String>>,
    /// Sessions may only read (an Aurora cluster's reader endpoint, on the writer's database).
    pub read_only: bool,
}

impl Shared {
    pub fn new(db: Arc<Database>, parameters: Parameters, credentials: Credentials) -> Self {
        let connections = Arc::new(pgwire::api::ConnectionManager::new());
        let running: Arc<Mutex<HashMap<i32, Arc<Interrupter>>>> = Arc::default();
        let cancel = Arc::new(Cancel { connections: connections.clone(), running: running.clone() });
        let password = Arc::new(Mutex::new(credentials.password.clone()));
        Self {
            db,
            parameters,
            sessions: Default::default(),
            credentials,
            connections,
            cancel,
            running,
            log: None,
            password,
            read_only: false,
        }
    }

    /// A value of the instance's DB parameter group.
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.parameters.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned()
    }
}

/// CancelRequest: pgwire's handler wakes a statement that awaits; one that runs on its worker
/// thread is interrupted here (SQLite, and a wait on stuck storage).
pub struct Cancel {
    connections: Arc<pgwire::api::ConnectionManager>,
    running: Arc<Mutex<HashMap<i32, Arc<Interrupter>>>>,
}

#[async_trait]
impl pgwire::api::cancel::CancelHandler for Cancel {
    async fn on_cancel_request(&self, request: pgwire::messages::cancel::CancelRequest) {
        // Only a request whose secret key matches a session cancels anything.
        let known = self.connections.cancel(request.pid, &request.secret_key).await;
        if known {
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner).get(&request.pid).cloned();
            if let Some(i) = running {
                i.interrupt();
            }
        }
    }
}

#[derive(Default)]
struct Tx {
    /// Held from BEGIN to COMMIT/ROLLBACK: no other session runs statements meanwhile.
    turn: Option<OwnedMutexGuard<()>>,
    /// A statement failed inside the transaction: PostgreSQL ignores everything until its end.
    failed: bool,
}

pub struct Session {
    shared: Arc<Shared>,
    tx: tokio::sync::Mutex<Tx>,
    settings: Mutex<HashMap<String, String>>,
    /// Result types decided when a statement or portal was described, so that execution sends
    /// what the client was told.
    described: Mutex<HashMap<String, Vec<PgType>>>,
    /// A read-only portal run to learn its result types; its execution answers these rows.
    ran: Mutex<Option<(String, Arc<Outcome>)>>,
    copy_in: Mutex<Option<(CopySpec, Vec<u8>)>>,
    parser: Arc<Parser>,
    /// This session's key for CancelRequest (its pid), once it is known.
    key: Mutex<Option<i32>>,
    /// The client's `host(port)`, for the log.
    remote: String,
}

impl Session {
    pub fn new(shared: Arc<Shared>, remote: String) -> Arc<Self> {
        Arc::new(Self {
            shared,
            tx: tokio::sync::Mutex::new(Tx::default()),
            settings: Mutex::new(HashMap::new()),
            described: Mutex::new(HashMap::new()),
            ran: Mutex::new(None),
            copy_in: Mutex::new(None),
            parser: Arc::new(Parser),
            key: Mutex::new(None),
            remote,
        })
    }

    /// The session's pid, once the client has run something.
    pub fn pid(&self) -> Option<i32> {
        *self.key.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a failed statement to the instance's log, as PostgreSQL does (`ERROR`, then
    /// `STATEMENT`).
    fn log_error(&self, message: &str, statement: &str) {
        let Some(log) = &self.shared.log else { return };
        let session = squall_control::db_logs::LogSession {
            remote: self.remote.clone(),
            user: self.shared.credentials.user.clone(),
            database: self.shared.credentials.db_name.clone(),
            pid: self.pid().unwrap_or_default().unsigned_abs(),
        };
        log.write(Some(&session), "ERROR", message);
        log.write(Some(&session), "STATEMENT", statement);
    }

    fn db(&self) -> &Arc<Database> {
        &self.shared.db
    }

    fn statement_timeout(&self) -> Option<Duration> {
        let settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        // SET in the session wins; else the DB parameter group's value.
        let v = match settings.get("statement_timeout") {
            Some(v) => v.clone(),
            None => self.shared.parameter("statement_timeout")?,
        };
        let v = v.trim().to_ascii_lowercase();
        let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len()));
        let n: f64 = num.parse().ok()?;
        let ms = match unit.trim() {
            "" | "ms" => n,
            "s" => n * 1000.0,
            "min" => n * 60_000.0,
            "h" => n * 3_600_000.0,
            _ => return None,
        };
        (ms > 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
    }

    /// Runs SQLite statements off the reactor, within statement_timeout; a cancel (the future
    /// dropped) or the timeout interrupts a statement waiting on stuck storage too.
    async fn run_sqlite(&self, sql: Vec<String>, params: Vec<Value>) -> Result<Outcome, SqlError> {
        let db = self.db().clone();
        db.disk().set_interrupt(false);
        let interrupter = Arc::new(Interrupter::of(&db));
        if can_block_in_place() {
            return self.run_inline(&db, interrupter, &sql, &params).await;
        }
        struct OnDrop(Option<Arc<Interrupter>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                if let Some(i) = self.0.take() {
                    i.interrupt();
                }
            }
        }
        let mut armed = OnDrop(Some(interrupter));
        let refuse_writes = self.shared.read_only;
        let mut task = tokio::task::spawn_blocking(move || db.run_as(&sql, &params, refuse_writes));
        let joined = match self.statement_timeout() {
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(j) => j,
                Err(_) => {
                    if let Some(i) = armed.0.take() {
                        i.interrupt();
                    }
                    let _ = task.await;
                    return Err(SqlError::new("57014", "canceling statement due to statement timeout"));
                }
            },
            None => task.await,
        };
        armed.0 = None;
        joined.map_err(|e| SqlError::new("XX000", format!("the statement's thread failed: {e}")))?
    }

    /// Runs SQLite on this worker thread (tokio moves the worker's other tasks away): no hop to
    /// a blocking thread and back for each statement (measured: +14% TPC-B, +46% select-only
    /// in pgbench). A statement_timeout timer and CancelRequest interrupt it from other tasks.
    async fn run_inline(
        &self,
        db: &Arc<Database>,
        interrupter: Arc<Interrupter>,
        sql: &[String],
        params: &[Value],
    ) -> Result<Outcome, SqlError> {
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = self.statement_timeout().map(|limit| {
            let (interrupter, timed_out) = (interrupter.clone(), timed_out.clone());
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                interrupter.interrupt();
            })
        });
        let key = *self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = key {
            self.shared.running.lock().unwrap_or_else(PoisonError::into_inner).insert(key, interrupter);
        }
        let result = tokio::task::block_in_place(|| db.run_as(sql, params, self.shared.read_only));
        if let Some(key) = key {
            self.shared.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        }
        if let Some(timer) = timer {
            timer.abort();
        }
        match result {
            Err(_) if timed_out.load(std::sync::atomic::Ordering::SeqCst) => {
                Err(SqlError::new("57014", "canceling statement due to statement timeout"))
            }
            other => other,
        }
    }

    /// Waits until the commits written so far are durable (group commit: called after the
    /// database is let go, so the next transaction runs during the flush).
    async fn durable(&self) -> Result<(), SqlError> {
        let disk = self.db().disk().clone();
        if !disk.commits_in_flight() {
            return Ok(());
        }
        let waited = if can_block_in_place() {
            tokio::task::block_in_place(|| disk.wait_durable())
        } else {
            tokio::task::spawn_blocking(move || disk.wait_durable())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        waited.map_err(|e| {
            if self.db().disk().is_closed() {
                SqlError::new("57P01", "terminating connection due to administrator command (failover, reboot or stop)")
            } else {
                SqlError::new("58030", format!("could not make the commit durable: {e}"))
            }
        })
    }

    async fn batch(&self, sql: &'static str) -> Result<(), SqlError> {
        let db = self.db().clone();
        tokio::task::spawn_blocking(move || db.batch(sql))
            .await
            .map_err(|e| SqlError::new("XX000", format!("the statement's thread failed: {e}")))?
    }

    /// Runs one statement for the client. `types` are the result types a Describe announced.
    async fn execute(
        &self,
        st: &Statement,
        params: Vec<Value>,
        format: &Format,
        announced: Option<Vec<PgType>>,
        cached: Option<Arc<Outcome>>,
    ) -> Result<Response, SqlError> {
        let mut tx = self.tx.lock().await;
        let ends_tx = matches!(st.kind, Kind::Commit | Kind::Rollback)
            || (st.kind == Kind::Savepoint && st.sqlite.first().is_some_and(|s| s.starts_with("ROLLBACK TO")));
        if tx.failed && !ends_tx {
            return Err(SqlError::new(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match &st.kind {
            Kind::Begin => {
                if tx.turn.is_none() {
                    let turn = self.db().turn.clone().lock_owned().await;
                    self.batch("BEGIN").await?;
                    tx.turn = Some(turn);
                    tx.failed = false;
                }
                Ok(Response::TransactionStart(Tag::new("BEGIN")))
            }
            Kind::Commit => {
                let Some(turn) = tx.turn.take() else { return Ok(Response::TransactionEnd(Tag::new("COMMIT"))) };
                if tx.failed {
                    tx.failed = false;
                    let _ = self.batch("ROLLBACK").await;
                    drop(turn);
                    return Ok(Response::TransactionEnd(Tag::new("ROLLBACK")));
                }
                let committed = self.run_sqlite(vec!["COMMIT".into()], Vec::new()).await;
                if committed.is_err() && self.db().in_transaction() {
                    let _ = self.batch("ROLLBACK").await;
                }
                drop(turn);
                committed?;
                self.durable().await?;
                self.db().commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(Response::TransactionEnd(Tag::new("COMMIT")))
            }
            Kind::Rollback => {
                if let Some(turn) = tx.turn.take() {
                    if self.db().in_transaction() {
                        let _ = self.batch("ROLLBACK").await;
                    }
                    drop(turn);
                }
                tx.failed = false;
                Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))
            }
            Kind::Savepoint => {
                if tx.turn.is_none() {
                    return Err(SqlError::new("25P01", "SAVEPOINT can only be used in transaction blocks"));
                }
                self.run_sqlite(st.sqlite.clone(), Vec::new()).await.inspect_err(|_| tx.failed = true)?;
                if ends_tx {
                    tx.failed = false;
                }
                let tag = st.sqlite.first().map_or("SAVEPOINT", |s| {
                    if s.starts_with("ROLLBACK") {
                        "ROLLBACK"
                    } else if s.to_ascii_lowercase().starts_with("release") {
                        "RELEASE"
                    } else {
                        "SAVEPOINT"
                    }
                });
                Ok(Response::Execution(Tag::new(tag)))
            }
            Kind::Set { name, value } => {
                self.settings.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone(), value.clone());
                Ok(Response::Execution(Tag::new("SET")))
            }
            Kind::Show(name) => {
                let value = self.show(name)?;
                let column = name.rsplit(' ').next().unwrap_or(name).to_string();
                let field = FieldInfo::new(column, None, None, Type::TEXT, format.format_for(0));
                let row = wire::row(&[Value::Text(value)], &[PgType::Text], &[format.format_for(0)])?;
                let fields = Arc::new(vec![field]);
                Ok(Response::Query(QueryResponse::new(fields, stream::iter(vec![Ok(row)]))))
            }
            Kind::Noop(tag) => Ok(Response::Execution(Tag::new(tag))),
            Kind::Copy(spec) => {
                if !spec.from_stdin {
                    return self.copy_out(spec).await;
                }
                if self.shared.read_only {
                    return Err(SqlError::new("25006", "cannot execute COPY FROM in a read-only transaction"));
                }
                if spec.columns.is_empty() && self.db().table_columns(&spec.table).is_empty() {
                    return Err(SqlError::new("42P01", format!("relation \"{}\" does not exist", spec.table)));
                }
                *self.copy_in.lock().unwrap_or_else(PoisonError::into_inner) = Some((spec.clone(), Vec::new()));
                let columns = if spec.columns.is_empty() {
                    self.db().table_columns(&spec.table).len()
                } else {
                    spec.columns.len()
                };
                Ok(Response::CopyIn(CopyResponse::new(0, columns, stream::empty())))
            }
            Kind::Run(tag) => {
                // Outside a transaction each statement takes the turn for itself.
                let own_turn = match tx.turn {
                    Some(_) => None,
                    None => Some(self.db().turn.clone().lock_owned().await),
                };
                let outcome = match cached {
                    Some(o) => Ok(o),
                    None => self.run_sqlite(st.sqlite.clone(), params).await.map(Arc::new),
                };
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        if tx.turn.is_some() {
                            tx.failed = true;
                        }
                        return Err(e);
                    }
                };
                if own_turn.is_some() {
                    // Autocommit: the statement committed; answer once it is durable, after
                    // letting the database go.
                    drop(own_turn);
                    self.durable().await?;
                    if tag != "SELECT" {
                        self.db().commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                if outcome.columns.is_empty() {
                    return Ok(Response::Execution(command_tag(tag, outcome.changes)));
                }
                let types = announced.unwrap_or_else(|| {
                    (0..outcome.columns.len())
                        .map(|i| {
                            let (name, decl) = &outcome.columns[i];
                            wire::column_type(name, decl.as_deref(), Some(&outcome.rows), i)
                        })
                        .collect()
                });
                let fields = wire::fields(&outcome.columns, &types, format);
                let formats: Vec<FieldFormat> = (0..types.len()).map(|i| format.format_for(i)).collect();
                let rows: Vec<PgWireResult<_>> =
                    outcome.rows.iter().map(|r| wire::row(r, &types, &formats).map_err(user_error)).collect();
                let mut response = QueryResponse::new(Arc::new(fields), stream::iter(rows));
                match tag.as_str() {
                    "INSERT" => response.set_command_tag("INSERT 0"),
                    "SELECT" => {}
                    other => response.set_command_tag(other),
                }
                Ok(Response::Query(response))
            }
        }
    }

    fn show(&self, name: &str) -> Result<String, SqlError> {
        let settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = settings.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.shared.parameter(name) {
            return Ok(v);
        }
        Ok(match name {
            "server_version" => SERVER_VERSION.into(),
            "server_version_num" => "150004".into(),
            "transaction isolation level" | "transaction_isolation" | "default_transaction_isolation" => {
                "serializable".into()
            }
            "standard_conforming_strings" => "on".into(),
            "timezone" | "time zone" => "UTC".into(),
            "datestyle" => "ISO, MDY".into(),
            "client_encoding" | "server_encoding" => "UTF8".into(),
            "search_path" => "\"$user\", public".into(),
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => "0".into(),
            "max_identifier_length" => "63".into(),
            "integer_datetimes" => "on".into(),
            "default_transaction_read_only" | "transaction_read_only" => {
                if self.db().read_only || self.shared.read_only { "on" } else { "off" }.into()
            }
            "is_superuser" => "on".into(),
            other => {
                return Err(SqlError::new("42704", format!("unrecognized configuration parameter \"{other}\"")));
            }
        })
    }

    async fn copy_out(&self, spec: &CopySpec) -> Result<Response, SqlError> {
        let sql = match &spec.query {
            Some(q) => {
                let mut st = translate::translate(q)?;
                st.pop().and_then(|s| s.sqlite.into_iter().next()).unwrap_or_default()
            }
            None if spec.columns.is_empty() => format!("SELECT * FROM {}", spec.table),
            None => format!("SELECT {} FROM {}", spec.columns.join(", "), spec.table),
        };
        let _turn = match self.tx.try_lock().map(|t| t.turn.is_some()) {
            Ok(true) | Err(_) => None,
            Ok(false) => Some(self.db().turn.clone().lock_owned().await),
        };
        let outcome = self.run_sqlite(vec![sql], Vec::new()).await?;
        let types: Vec<PgType> = (0..outcome.columns.len())
            .map(|i| wire::column_type(&outcome.columns[i].0, outcome.columns[i].1.as_deref(), Some(&outcome.rows), i))
            .collect();
        let mut chunks = Vec::new();
        if spec.header && spec.csv {
            let names: Vec<String> = outcome.columns.iter().map(|(n, _)| wire::column_name(n)).collect();
            chunks.push(Ok(CopyData::new(format!("{}\n", names.join(&spec.delimiter.to_string())).into())));
        }
        for row in &outcome.rows {
            let line: Vec<String> = row
                .iter()
                .zip(&types)
                .map(|(v, t)| match wire::text_value(v, *t) {
                    None if spec.csv => String::new(),
                    None => "\\N".into(),
                    Some(s) if spec.csv => {
                        if s.contains([spec.delimiter, '"', '\n', '\r']) {
                            format!("\"{}\"", s.replace('"', "\"\""))
                        } else {
                            s
                        }
                    }
                    Some(s) => s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r"),
                })
                .collect();
            chunks.push(Ok(CopyData::new(format!("{}\n", line.join(&spec.delimiter.to_string())).into())));
        }
        Ok(Response::CopyOut(CopyResponse::new(0, types.len(), stream::iter(chunks))))
    }

    /// Inserts the rows a COPY FROM STDIN sent.
    async fn finish_copy_in(&self) -> Result<usize, SqlError> {
        let Some((spec, data)) = self.copy_in.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Err(SqlError::new("08P01", "CopyDone without COPY FROM STDIN"));
        };
        let columns: Vec<String> = if spec.columns.is_empty() {
            self.db().table_columns(&spec.table).into_iter().map(|(n, _)| n).collect()
        } else {
            spec.columns.clone()
        };
        let text = String::from_utf8(data)
            .map_err(|_| SqlError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line == "\\." || (n == 0 && spec.header) || line.is_empty() {
                continue;
            }
            let fields = if spec.csv { csv_fields(line, spec.delimiter) } else { text_fields(line, spec.delimiter) };
            if fields.len() != columns.len() {
                return Err(SqlError::new(
                    "22P04",
                    format!(
                        "COPY {}, line {}: expected {} columns, got {}",
                        spec.table,
                        n + 1,
                        columns.len(),
                        fields.len()
                    ),
                ));
            }
            rows.push(fields.into_iter().map(|f| f.map_or(Value::Null, Value::Text)).collect());
        }
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", spec.table, columns.join(", "), placeholders.join(", "));
        let tx = self.tx.lock().await;
        let _turn = match tx.turn {
            Some(_) => None,
            None => Some(self.db().turn.clone().lock_owned().await),
        };
        let in_tx = tx.turn.is_some();
        let db = self.db().clone();
        let count = rows.len();
        let done = tokio::task::spawn_blocking(move || -> Result<(), SqlError> {
            if !in_tx {
                db.batch("BEGIN")?;
            }
            for r in &rows {
                if let Err(e) = db.run(std::slice::from_ref(&sql), r) {
                    if !in_tx {
                        let _ = db.batch("ROLLBACK");
                    }
                    return Err(e);
                }
            }
            if !in_tx {
                db.batch("COMMIT")?;
            }
            Ok(())
        })
        .await
        .map_err(|e| SqlError::new("XX000", format!("the COPY's thread failed: {e}")))?;
        done?;
        drop(_turn);
        if !in_tx {
            self.durable().await?;
        }
        Ok(count)
    }

    /// Parameter values of a portal, by the statement's parameter types.
    fn params(&self, portal: &Portal<Arc<Prepared>>) -> Result<Vec<Value>, SqlError> {
        let prepared = &portal.statement.statement;
        let mut from_columns: Option<HashMap<u32, PgType>> = None;
        (0..portal.parameter_len())
            .map(|i| {
                let declared = portal.statement.parameter_types.get(i).cloned().flatten();
                let t = declared.and_then(|t| wire::pg_type_of_oid(t.oid())).or_else(|| prepared.param_type(i));
                // What a Describe told the client, when neither it nor a cast named a type.
                let t = t.or_else(|| {
                    let st = prepared.statement.as_ref()?;
                    from_columns
                        .get_or_insert_with(|| self.parameter_types_from_columns(st))
                        .get(&(i as u32 + 1))
                        .copied()
                });
                wire::param_value(portal.parameters[i].as_deref(), portal.parameter_format.is_binary(i), t)
            })
            .collect()
    }
}

/// Whether blocking work may run on this worker (`block_in_place` needs the multi-threaded
/// runtime; elsewhere it goes to a blocking thread).
fn can_block_in_place() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

fn command_tag(tag: &str, changes: usize) -> Tag {
    match tag {
        "INSERT" => Tag::new("INSERT").with_oid(0).with_rows(changes),
        "UPDATE" | "DELETE" | "SELECT" | "MERGE" => Tag::new(tag).with_rows(changes),
        "COPY" => Tag::new("COPY").with_rows(changes),
        other => Tag::new(other),
    }
}

fn text_fields(line: &str, delimiter: char) -> Vec<Option<String>> {
    line.split(delimiter)
        .map(|f| {
            if f == "\\N" {
                return None;
            }
            let mut out = String::with_capacity(f.len());
            let mut chars = f.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('t') => out.push('\t'),
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some(other) => out.push(other),
                        None => {}
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect()
}

fn csv_fields(line: &str, delimiter: char) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            c if c == delimiter && !quoted => {
                out.push(if cur.is_empty() && !was_quoted { None } else { Some(std::mem::take(&mut cur)) });
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    out.push(if cur.is_empty() && !was_quoted { None } else { Some(cur) });
    out
}

/// A statement of the extended protocol, translated once at Parse.
#[derive(Debug)]
pub struct Prepared {
    statement: Option<Statement>,
    /// The client's text, for the log.
    query: String,
}

impl Prepared {
    fn param_type(&self, i: usize) -> Option<PgType> {
        let n = i as u32 + 1;
        self.statement.as_ref()?.param_types.iter().find(|(p, _)| *p == n).map(|(_, t)| *t)
    }
}

#[derive(Debug)]
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Arc<Prepared>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut all = translate::translate(sql).map_err(user_error)?;
        if all.len() > 1 {
            return Err(user_error(SqlError::syntax("cannot insert multiple commands into a prepared statement")));
        }
        Ok(Some(Arc::new(Prepared { statement: all.pop(), query: sql.to_string() })))
    }

    fn get_parameter_types(&self, _stmt: &Arc<Prepared>) -> PgWireResult<Vec<Type>> {
        Ok(Vec::new())
    }

    fn get_result_schema(&self, _stmt: &Arc<Prepared>, _format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = Some(client.pid_and_secret_key().0);
        let statements = match translate::translate(query) {
            Ok(statements) => statements,
            Err(e) => {
                self.log_error(&e.message, query);
                return Err(user_error(e));
            }
        };
        let mut out = Vec::new();
        for st in &statements {
            match self.execute(st, Vec::new(), &Format::UnifiedText, None, None).await {
                Ok(r) => {
                    let copy = matches!(r, Response::CopyIn(_));
                    out.push(r);
                    if copy {
                        break;
                    }
                }
                Err(e) => {
                    self.log_error(&e.message, query);
                    out.push(Response::Error(Box::new(ErrorInfo::new("ERROR".into(), e.code.into(), e.message))));
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl Session {
    /// Types of parameters compared with or assigned to a table's column: the column's type.
    fn parameter_types_from_columns(&self, st: &Statement) -> HashMap<u32, PgType> {
        let Some(sql) = st.sqlite.last() else { return HashMap::new() };
        let (tables, params) = translate::parameter_columns(sql);
        if params.is_empty() {
            return HashMap::new();
        }
        let columns: Vec<(String, String)> = tables.iter().flat_map(|t| self.db().table_columns(t)).collect();
        params
            .into_iter()
            .filter_map(|(n, col)| {
                let decl = columns.iter().find(|(c, _)| c.eq_ignore_ascii_case(&col)).map(|(_, d)| d.clone())?;
                Some((n, PgType::from_name(&decl).unwrap_or(PgType::Text)))
            })
            .collect()
    }

    /// Result types of a statement from its columns (declared types, functions), without
    /// running it.
    fn static_types(&self, sql: &str) -> Result<(Columns, Vec<PgType>, usize, bool), SqlError> {
        let (columns, params, readonly) = self.db().describe(sql)?;
        let types = columns.iter().enumerate().map(|(i, (n, d))| wire::column_type(n, d.as_deref(), None, i)).collect();
        Ok((columns, types, params, readonly))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Arc<Prepared>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Arc<Prepared>>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = Some(client.pid_and_secret_key().0);
        let Some(st) = &portal.statement.statement.statement else { return Ok(Response::EmptyQuery) };
        let params = self.params(portal).map_err(user_error)?;
        let cached = {
            let mut ran = self.ran.lock().unwrap_or_else(PoisonError::into_inner);
            match ran.take() {
                Some((name, outcome)) if name == portal.name => Some(outcome),
                _ => None,
            }
        };
        let announced = {
            let d = self.described.lock().unwrap_or_else(PoisonError::into_inner);
            d.get(&format!("portal:{}", portal.name))
                .or_else(|| d.get(&format!("statement:{}", portal.statement.id)))
                .cloned()
        };
        self.execute(st, params, &portal.result_column_format, announced, cached).await.map_err(|e| {
            self.log_error(&e.message, &portal.statement.statement.query);
            user_error(e)
        })
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        stmt: &StoredStatement<Arc<Prepared>>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(st) = &stmt.statement.statement else {
            return Ok(DescribeStatementResponse::new(Vec::new(), Vec::new()));
        };
        let count = st.params as usize;
        let from_columns = self.parameter_types_from_columns(st);
        let param_types: Vec<Type> = (0..count)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| t.oid() != 0)
                    .or_else(|| stmt.statement.param_type(i).map(wire::pg_wire_type))
                    .or_else(|| from_columns.get(&(i as u32 + 1)).map(|t| wire::pg_wire_type(*t)))
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let Some(sql) = st.sqlite.last().filter(|_| matches!(st.kind, Kind::Run(_))) else {
            return Ok(DescribeStatementResponse::new(param_types, Vec::new()));
        };
        let (columns, types, _, _) = self.static_types(sql).map_err(user_error)?;
        self.described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format!("statement:{}", stmt.id), types.clone());
        Ok(DescribeStatementResponse::new(param_types, wire::fields(&columns, &types, &Format::UnifiedText)))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Arc<Prepared>>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(st) = &portal.statement.statement.statement else {
            return Ok(DescribePortalResponse::new(Vec::new()));
        };
        let format = &portal.result_column_format;
        let sql = match &st.kind {
            Kind::Run(_) => st.sqlite.last().cloned(),
            Kind::Show(name) => {
                let column = name.rsplit(' ').next().unwrap_or(name).to_string();
                return Ok(DescribePortalResponse::new(vec![FieldInfo::new(
                    column,
                    None,
                    None,
                    Type::TEXT,
                    format.format_for(0),
                )]));
            }
            _ => None,
        };
        let Some(sql) = sql else { return Ok(DescribePortalResponse::new(Vec::new())) };
        let (columns, mut types, _, readonly) = self.static_types(&sql).map_err(user_error)?;
        let unsure =
            columns.iter().zip(&types).any(|((n, d), t)| d.is_none() && *t == PgType::Text && !n.contains('('));
        if readonly && unsure && st.sqlite.len() == 1 && !self.tx.lock().await.failed {
            // Expressions without a declared type: run the query now to see its values, and
            // answer the execution with these rows.
            let params = self.params(portal).map_err(user_error)?;
            let in_tx = self.tx.lock().await.turn.is_some();
            let _turn = if in_tx { None } else { Some(self.db().turn.clone().lock_owned().await) };
            let outcome = self.run_sqlite(st.sqlite.clone(), params).await.map_err(user_error)?;
            types = (0..outcome.columns.len())
                .map(|i| {
                    wire::column_type(&outcome.columns[i].0, outcome.columns[i].1.as_deref(), Some(&outcome.rows), i)
                })
                .collect();
            *self.ran.lock().unwrap_or_else(PoisonError::into_inner) = Some((portal.name.clone(), Arc::new(outcome)));
        }
        self.described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format!("portal:{}", portal.name), types.clone());
        if columns.is_empty() {
            return Ok(DescribePortalResponse::new(Vec::new()));
        }
        Ok(DescribePortalResponse::new(wire::fields(&columns, &types, format)))
    }
}

#[async_trait]
impl CopyHandler for Session {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some((_, buf)) = self.copy_in.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            buf.extend_from_slice(&copy_data.data);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        let count = self.finish_copy_in().await.map_err(user_error)?;
        let tag = Tag::new("COPY").with_rows(count);
        client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
        Ok(())
    }
}

/// The handlers of one connection.
pub struct Handlers {
    pub session: Arc<Session>,
    pub credentials: Credentials,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = SERVER_VERSION.to_string();
        Arc::new(
            Md5PasswordAuthStartupHandler::new(Arc::new(Auth(self.credentials.clone())), Arc::new(parameters))
                .with_connection_manager(self.session.shared.connections.clone()),
        )
    }

    // CancelRequest: the running statement's future is dropped, which interrupts SQLite and a
    // wait on stuck storage (57014).
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.session.shared.cancel.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.session.clone()
    }
}
