//! DB instances' log files, as RDS keeps them: the engine writes lines (PostgreSQL's
//! `error/postgresql.log.YYYY-MM-DD-HH`, one file per hour, each line with RDS's prefix
//! `%t:%r:%u@%d:[%p]:`), and DescribeDBLogFiles / DownloadDBLogFilePortion read them. The files
//! live under the region's directory (`rds-logs/<DbiResourceId>/`), so they survive restarts and
//! renames; a thread of their own appends, so no caller waits on a file.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ControlError;
use crate::model::rds::{DbInstanceStatus, RdsError};
use crate::region::Region;

/// The most DownloadDBLogFilePortion returns in one answer (RDS's 1 MB).
pub const MAX_PORTION_BYTES: usize = 1_000_000;
/// The most lines DownloadDBLogFilePortion returns when NumberOfLines is not given.
pub const DEFAULT_PORTION_LINES: usize = 10_000;

enum Message {
    Append { file: PathBuf, text: String },
    Sync(mpsc::Sender<()>),
}

/// The appending thread, started on first use.
fn writer() -> &'static Mutex<mpsc::Sender<Message>> {
    static WRITER: OnceLock<Mutex<mpsc::Sender<Message>>> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Message>();
        let spawned = std::thread::Builder::new().name("db-logs".into()).spawn(move || {
            for message in rx {
                match message {
                    Message::Append { file, text } => {
                        if let Err(e) = append(&file, &text) {
                            tracing::warn!(file = %file.display(), "cannot write a DB log line: {e}");
                        }
                    }
                    Message::Sync(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the DB log writer: {e}");
        }
        Mutex::new(tx)
    })
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).open(file)?.write_all(text.as_bytes())
}

/// Waits until every line sent before has reached its file.
fn sync() {
    let (tx, rx) = mpsc::channel();
    let sent = writer().lock().unwrap_or_else(PoisonError::into_inner).send(Message::Sync(tx));
    if sent.is_ok() {
        let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
    }
}

/// `(year, month, day, hour, minute, second)` of a Unix time in seconds, UTC.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (rem / 3600) as u32, ((rem / 60) % 60) as u32, (rem % 60) as u32)
}

/// Where one client session's lines come from, for RDS's line prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSession {
    /// `host(port)`.
    pub remote: String,
    pub user: String,
    pub database: String,
    pub pid: u32,
}

/// The log of one DB instance: what its engine writes to.
#[derive(Debug, Clone)]
pub struct DbLog {
    dir: PathBuf,
    engine: String,
}

impl DbLog {
    /// The file a line written at `secs` goes to, relative to the instance's log directory.
    fn file_name(&self, secs: u64) -> String {
        let (y, mo, d, h, _, _) = civil(secs);
        if self.engine.contains("postgres") {
            format!("error/postgresql.log.{y:04}-{mo:02}-{d:02}-{h:02}")
        } else {
            "error/mysql-error-running.log".to_string()
        }
    }

    /// Writes one line: `level` is PostgreSQL's (`LOG`, `ERROR`, `FATAL`, `STATEMENT`, …),
    /// `session` the client's when the line is about one.
    pub fn write(&self, session: Option<&LogSession>, level: &str, message: &str) {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (y, mo, d, h, mi, s) = civil(secs);
        let prefix = match session {
            Some(c) => {
                let or_unknown = |v: &str| if v.is_empty() { "[unknown]".to_string() } else { v.to_string() };
                format!("{}:{}@{}:[{}]", c.remote, or_unknown(&c.user), or_unknown(&c.database), c.pid)
            }
            None => format!("::@:[{}]", std::process::id()),
        };
        let mut text = String::new();
        for (i, line) in message.lines().enumerate() {
            if i == 0 {
                text.push_str(&format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC:{prefix}:{level}:  {line}\n"));
            } else {
                text.push_str(&format!("\t{line}\n"));
            }
        }
        let file = self.dir.join(self.file_name(secs));
        let _ = writer().lock().unwrap_or_else(PoisonError::into_inner).send(Message::Append { file, text });
    }
}

/// One log file of an instance, as DescribeDBLogFiles lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub last_written_ms: u64,
    pub size: u64,
}

/// What DownloadDBLogFilePortion answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPortion {
    pub data: String,
    /// Where the next portion starts (a byte offset).
    pub marker: String,
    pub pending: bool,
}

fn list(dir: &Path, under: &str, out: &mut Vec<LogFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = format!("{under}{}", entry.file_name().to_string_lossy());
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            list(&entry.path(), &format!("{name}/"), out);
        } else {
            let last_written_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            out.push(LogFile { name, last_written_ms, size: meta.len() });
        }
    }
}

/// The portion of `bytes` (a whole file) DownloadDBLogFilePortion answers for `marker` (a byte
/// offset; `None`: from the end) and `lines`.
pub fn portion(bytes: &[u8], marker: Option<u64>, lines: Option<usize>) -> LogPortion {
    let size = bytes.len();
    let (start, end) = match (marker, lines) {
        // From the marker on: `lines` lines, else everything (both at most 1 MB).
        (Some(at), n) => {
            let start = (at as usize).min(size);
            let mut end = size;
            if let Some(n) = n {
                let mut seen = 0;
                for (i, b) in bytes[start..].iter().enumerate() {
                    if *b == b'\n' {
                        seen += 1;
                        if seen == n {
                            end = start + i + 1;
                            break;
                        }
                    }
                }
            }
            (start, end.min(start + MAX_PORTION_BYTES))
        }
        // The most recent lines: `lines` of them, else up to 10,000.
        (None, n) => {
            let want = n.unwrap_or(DEFAULT_PORTION_LINES);
            let body = if bytes.last() == Some(&b'\n') { &bytes[..size - 1] } else { bytes };
            let mut seen = 0;
            let start = if want == 0 {
                size
            } else {
                body.iter()
                    .rposition(|b| {
                        seen += usize::from(*b == b'\n');
                        seen == want
                    })
                    .map_or(0, |i| i + 1)
            };
            (start.max(size.saturating_sub(MAX_PORTION_BYTES)), size)
        }
    };
    LogPortion {
        data: String::from_utf8_lossy(&bytes[start..end]).into_owned(),
        marker: end.to_string(),
        pending: end < size,
    }
}

impl Region {
    /// The log an instance's engine writes to (by its DbiResourceId, which survives renames).
    pub fn db_log(&self, resource_id: &str, engine: &str) -> DbLog {
        DbLog { dir: self.dir().join("rds-logs").join(resource_id), engine: engine.to_string() }
    }

    /// The log of the instance `id` as it is now: its directory, checked to be readable.
    fn instance_log(&self, id: &str, now_ms: u64) -> Result<DbLog, ControlError> {
        let (resource_id, engine, status) = self.read(now_ms, |state| {
            let i = state.db_instance(id)?;
            Ok((i.resource_id.clone(), i.engine.clone(), i.status))
        })?;
        if status == DbInstanceStatus::Creating {
            return Err(RdsError::InstanceNotReady(id.to_string()).into());
        }
        sync();
        Ok(self.db_log(&resource_id, &engine))
    }

    /// DescribeDBLogFiles: the instance's log files, in name order.
    pub fn db_log_files(&self, id: &str, now_ms: u64) -> Result<Vec<LogFile>, ControlError> {
        let log = self.instance_log(id, now_ms)?;
        let mut out = Vec::new();
        list(&log.dir, "", &mut out);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// DownloadDBLogFilePortion.
    pub fn db_log_portion(
        &self,
        id: &str,
        file: &str,
        marker: Option<u64>,
        lines: Option<usize>,
        now_ms: u64,
    ) -> Result<LogPortion, ControlError> {
        let log = self.instance_log(id, now_ms)?;
        let safe = !file.is_empty() && file.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        let not_found = || ControlError::from(RdsError::LogFileNotFound(file.to_string()));
        if !safe {
            return Err(not_found());
        }
        let mut f = std::fs::File::open(log.dir.join(file)).map_err(|_| not_found())?;
        if !f.metadata().map_err(|_| not_found())?.is_file() {
            return Err(not_found());
        }
        // The part the answer can need: from the marker on, or the file's last stretch.
        let len = f.metadata().map_or(0, |m| m.len());
        let mut bytes = Vec::new();
        let base = match marker {
            Some(_) => 0,
            None => len.saturating_sub((MAX_PORTION_BYTES * 2) as u64),
        };
        f.seek(SeekFrom::Start(base))
            .and_then(|_| f.read_to_end(&mut bytes))
            .map_err(|e| ControlError::file(&log.dir, e))?;
        let mut p = portion(&bytes, marker, lines);
        p.marker = (base + p.marker.parse::<u64>().unwrap_or(0)).to_string();
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"one\ntwo\nthree\nfour\n";

    #[test]
    fn portions_follow_the_marker_and_the_line_count() {
        let p = portion(FILE, Some(0), Some(2));
        assert_eq!((p.data.as_str(), p.marker.as_str(), p.pending), ("one\ntwo\n", "8", true));
        let p = portion(FILE, Some(8), Some(5));
        assert_eq!((p.data.as_str(), p.marker.as_str(), p.pending), ("three\nfour\n", "19", false));
        let p = portion(FILE, None, Some(1));
        assert_eq!((p.data.as_str(), p.pending), ("four\n", false));
        let p = portion(FILE, None, None);
        assert_eq!(p.data, "one\ntwo\nthree\nfour\n");
        let p = portion(FILE, Some(99), None);
        assert_eq!((p.data.as_str(), p.pending), ("", false));
    }

    #[test]
    fn civil_dates_and_hourly_files() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(1_796_083_200 + 13 * 3600 + 61), (2026, 12, 1, 13, 1, 1));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        let log = DbLog { dir: PathBuf::from("/x"), engine: "postgres".into() };
        assert_eq!(log.file_name(1_796_083_200 + 13 * 3600), "error/postgresql.log.2026-12-01-13");
    }
}
