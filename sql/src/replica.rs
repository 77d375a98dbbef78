//! Read replicas: a replica's database lives on its own volumes and receives its source's
//! writes asynchronously, as RDS's read replicas do. The source's disk notes the ranges of its
//! storage written since the replica last took them; every [`REPLICATION_INTERVAL`] the
//! replica takes them — under the source's turn, so at a commit boundary — and writes them onto
//! its storage while its own connection is closed, then opens it again: its readers see the
//! source as it was at that commit, never a half-written state.
//!
//! A replica that starts (or whose source was opened again, after a failover) first copies
//! every used range of the source without holding it up, then takes what was written meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::database::Database;
use crate::vfs::Disk;
use crate::{Device, DeviceError};

/// How often a replica takes what its source wrote.
pub const REPLICATION_INTERVAL: Duration = Duration::from_millis(200);

/// Bytes copied at a time.
const CHUNK: u64 = 1 << 20;

/// What one replica knows of its source: which it is, and how far it has got.
pub struct Link {
    /// The replica's name on the source's disk (its served id).
    pub who: String,
    /// The served id of the source; `None` once replication stopped (promotion).
    source: Mutex<Option<String>>,
    /// The source database the replica follows now.
    followed: Mutex<Weak<Database>>,
    /// The source's write count when the replica last took its writes, and when.
    applied_writes: AtomicU64,
    applied_at: Mutex<Instant>,
}

impl Link {
    pub fn new(who: &str, source: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            who: who.to_string(),
            source: Mutex::new(source),
            followed: Mutex::new(Weak::new()),
            applied_writes: AtomicU64::new(0),
            applied_at: Mutex::new(Instant::now()),
        })
    }

    pub fn set_source(&self, source: Option<String>) {
        *self.source.lock().unwrap_or_else(PoisonError::into_inner) = source;
    }

    pub fn source(&self) -> Option<String> {
        self.source.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How far behind its source the replica is: nothing when it has every write of the
    /// database it follows and heard from it lately, else the time since it last caught up (a
    /// source that does not answer — stuck, rebooting — makes the lag grow).
    pub fn lag(&self, source_now: Option<&Arc<Database>>) -> Duration {
        let since = self.applied_at.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
        let followed = self.followed.lock().unwrap_or_else(PoisonError::into_inner).upgrade();
        let caught_up = match (source_now, followed) {
            (Some(now), Some(followed)) => {
                Arc::ptr_eq(now, &followed)
                    && now.disk().writes.load(Ordering::Relaxed) == self.applied_writes.load(Ordering::Relaxed)
            }
            _ => false,
        };
        if caught_up && since < 5 * REPLICATION_INTERVAL {
            Duration::ZERO
        } else {
            since
        }
    }

    fn applied(&self, source: &Arc<Database>, writes: u64, at: Instant) {
        *self.followed.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(source);
        self.applied_writes.store(writes, Ordering::Relaxed);
        *self.applied_at.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    fn is_following(&self, source: &Arc<Database>) -> bool {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner).upgrade().is_some_and(|f| Arc::ptr_eq(&f, source))
    }
}

/// The bytes a replica receives: (device offset, bytes).
type Pieces = Vec<(u64, Vec<u8>)>;

/// Reads `ranges` of the source's storage as they are now.
fn read_pieces(source: &Disk, ranges: &[(u64, u64)]) -> std::io::Result<Pieces> {
    let mut out = Vec::new();
    for &(start, len) in ranges {
        let mut at = start;
        while at < start + len {
            let n = CHUNK.min(start + len - at) as usize;
            out.push((at, source.read_device(at, n)?));
            at += n as u64;
        }
    }
    Ok(out)
}

/// Seeds a replica's storage (not open yet) with every used range of its source, without
/// holding the source up: the source notes what it writes meanwhile, and the first
/// [`step`] takes that. Gives up when `stopped`.
pub fn seed(
    source: &Arc<Database>,
    link: &Link,
    target: &dyn Device,
    stopped: &watch::Receiver<bool>,
) -> Result<(), String> {
    let disk = source.disk();
    disk.follow(&link.who);
    *link.followed.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(source);
    for (start, len) in disk.used_ranges() {
        let mut at = start;
        while at < start + len {
            let n = CHUNK.min(start + len - at) as usize;
            let bytes = disk.read_device(at, n).map_err(|e| format!("reading the source: {e}"))?;
            loop {
                if *stopped.borrow() {
                    return Err("the replica's endpoint closed".into());
                }
                match target.write(at, &bytes) {
                    Ok(()) => break,
                    Err(DeviceError::Held) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => return Err(format!("writing the replica: {e}")),
                }
            }
            at += n as u64;
        }
    }
    Ok(())
}

/// Takes what the source wrote since the replica last did (everything, for a source it does
/// not follow yet) at a commit boundary: the caller holds the source's turn.
fn take(source: &Arc<Database>, link: &Link) -> std::io::Result<(Pieces, u64)> {
    let disk = source.disk();
    disk.write_out()?;
    let ranges = match disk.take_written(&link.who).filter(|_| link.is_following(source)) {
        Some(ranges) => ranges,
        None => {
            disk.follow(&link.who);
            disk.used_ranges()
        }
    };
    let pieces = read_pieces(disk, &ranges)?;
    Ok((pieces, disk.writes.load(Ordering::Relaxed)))
}

/// One round of replication: the source's new writes, onto the replica.
pub async fn step(source: &Arc<Database>, replica: &Arc<Database>, link: &Arc<Link>) -> Result<(), String> {
    let turn = source.turn.clone().lock_owned().await;
    let (s, l) = (source.clone(), link.clone());
    let taken = tokio::task::spawn_blocking(move || take(&s, &l)).await.map_err(|e| e.to_string())?;
    let at = Instant::now();
    drop(turn);
    let (pieces, writes) = taken.map_err(|e| format!("reading the source: {e}"))?;
    if !pieces.is_empty() {
        let turn = replica.turn.clone().lock_owned().await;
        let r = replica.clone();
        let applied = tokio::task::spawn_blocking(move || r.refresh(|disk| disk.apply(&pieces)))
            .await
            .map_err(|e| e.to_string())?;
        drop(turn);
        if let Err(e) = applied {
            // What was taken is not on the replica: the next round copies everything again.
            source.disk().unfollow(&link.who);
            *link.followed.lock().unwrap_or_else(PoisonError::into_inner) = Weak::new();
            return Err(e);
        }
    }
    link.applied(source, writes, at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    struct Memory(Mutex<Vec<u8>>);

    impl Device for Memory {
        fn size(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
            Ok(self.0.lock().unwrap()[offset as usize..offset as usize + len].to_vec())
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
            self.0.lock().unwrap()[offset as usize..offset as usize + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn flush(&self) -> Result<(), DeviceError> {
            Ok(())
        }
    }

    fn rows(db: &Database) -> Vec<i64> {
        let out = db.run(&["SELECT n FROM t ORDER BY n".to_string()], &[]).unwrap();
        out.rows.iter().map(|r| if let rusqlite::types::Value::Integer(n) = r[0] { n } else { -1 }).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replica_sees_each_commit_after_a_step_and_refuses_writes() {
        let size = 32 << 20;
        let source_dev = Arc::new(Memory(Mutex::new(vec![0; size])));
        let replica_dev = Arc::new(Memory(Mutex::new(vec![0; size])));
        let source = Database::open("replica-test-source", source_dev, "postgres", "u", false).unwrap();
        source.run(&["CREATE TABLE t (n INTEGER)".into()], &[]).unwrap();
        source.run(&["INSERT INTO t VALUES (1)".into()], &[]).unwrap();
        let link = Link::new("replica-test-replica", Some("source".into()));
        let (_stop, stopped) = watch::channel(false);
        seed(&source, &link, replica_dev.as_ref(), &stopped).unwrap();
        // Written after the seed copied: the first step brings it.
        source.run(&["INSERT INTO t VALUES (2)".into()], &[]).unwrap();
        let replica = Database::open("replica-test-replica", replica_dev.clone(), "postgres", "u", true).unwrap();
        step(&source, &replica, &link).await.unwrap();
        assert_eq!(rows(&replica), vec![1, 2]);
        assert_eq!(link.lag(Some(&source)), Duration::ZERO);
        source.run(&["INSERT INTO t VALUES (3)".into()], &[]).unwrap();
        assert!(link.lag(Some(&source)) > Duration::ZERO || rows(&replica) == vec![1, 2]);
        assert_eq!(rows(&replica), vec![1, 2], "a replica sees nothing before its next step");
        step(&source, &replica, &link).await.unwrap();
        assert_eq!(rows(&replica), vec![1, 2, 3]);
        let refused = replica.run(&["INSERT INTO t VALUES (4)".into()], &[]).unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            ("25006", "cannot execute INSERT in a read-only transaction")
        );
        // Many steps with checkpoints in between: the replica keeps up.
        for n in 10..400 {
            source.run(&[format!("INSERT INTO t VALUES ({n})")], &[]).unwrap();
            if n % 50 == 0 {
                step(&source, &replica, &link).await.unwrap();
            }
            if n == 200 {
                // The WAL folded into the database file and started over.
                source.run(&["PRAGMA wal_checkpoint(TRUNCATE)".into()], &[]).unwrap();
            }
        }
        step(&source, &replica, &link).await.unwrap();
        assert_eq!(rows(&replica).len(), 3 + 390);
        assert_eq!(rows(&replica), rows(&source));
        source.close();
        replica.close();
    }
}
