//! A SQLite VFS whose files live on a block device: the database and its write-ahead log are
//! two regions of the DB instance's storage, and a small superblock records their lengths.
//!
//! Layout: `[0, 4 KiB)` superblock (magic, WAL length, database length); the WAL region after
//! it (1/16 of the device, at most 1 GiB); the database file in the rest. SQLite's other files
//! (temporary tables, statement journals) are kept in memory: nothing durable lives there.
//!
//! Durability: SQLite syncs the WAL when a transaction commits (synchronous=FULL); a sync here
//! writes the superblock when a length changed and then flushes the device, which returns when
//! every replica of every volume (and the in-sync standby's) has the bytes.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use sqlite_vfs::wip::{WalIndex, WalIndexLock};
use sqlite_vfs::{DatabaseHandle, LockKind, OpenKind, OpenOptions, Vfs};

use crate::{Device, DeviceError};

pub const VFS_NAME: &str = "squall-blocks";
const SUPERBLOCK_BYTES: u64 = 4096;
const MAGIC: &[u8; 8] = b"SQUALLPG";
/// How long a read or write on a stuck device waits between tries.
const HELD_RETRY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Main,
    Wal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Lengths {
    db: u64,
    wal: u64,
}

/// A device laid out for one database.
pub struct Disk {
    device: Arc<dyn Device>,
    wal_start: u64,
    wal_cap: u64,
    db_start: u64,
    db_cap: u64,
    lengths: Mutex<(Lengths, Lengths)>, // (current, durable)
    /// A statement that waits on a stuck device gives up when this is set (cancel, timeout).
    interrupt: AtomicBool,
    /// Closed (failover, deletion, shutdown): every operation fails from now on.
    closed: AtomicBool,
    /// Milliseconds spent waiting on a stuck device, in all.
    pub held_ms: AtomicU64,
    /// Writes not yet sent to the device, by device offset (no two overlap or touch): SQLite
    /// writes a WAL frame as a 24-byte header and a page, each unaligned, and syncs once per
    /// commit, so the writes of a commit go out together, as one write per contiguous run,
    /// when it syncs. Reads see them.
    pending: Mutex<std::collections::BTreeMap<u64, Vec<u8>>>,
    /// Group commit: (commits written to the device, commits known durable). A commit's WAL
    /// sync writes its bytes and returns; the session acknowledges it only after
    /// [`Disk::wait_durable`], having let the next transaction start — so one flush makes
    /// several commits durable, as PostgreSQL's group commit does.
    commits: Mutex<(u64, u64)>,
    /// Held while a flush runs: commits that wait queue behind it, and the next flush covers
    /// them all.
    flushing: Mutex<()>,
    /// For each read replica that follows this database: the ranges of the device written
    /// since it last took them (start → end, none overlapping or touching).
    followers: Mutex<HashMap<String, std::collections::BTreeMap<u64, u64>>>,
    /// Writes sent to the device, in all: a replica that has seen this many has every byte.
    pub writes: AtomicU64,
}

/// Pending bytes beyond which writes go to the device before a sync.
const PENDING_LIMIT: usize = 16 << 20;

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("wal_cap", &self.wal_cap).field("db_cap", &self.db_cap).finish()
    }
}

fn device_error(e: DeviceError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Disk {
    /// Lays a database out on `device` (reading the superblock of one that has one).
    pub fn open(device: Arc<dyn Device>) -> io::Result<Arc<Self>> {
        let size = device.size();
        if size < 16 * SUPERBLOCK_BYTES {
            return Err(io::Error::other(format!("a device of {size} bytes is too small for a database")));
        }
        let wal_cap = ((size / 16).min(1 << 30) / SUPERBLOCK_BYTES) * SUPERBLOCK_BYTES;
        let disk = Self {
            device,
            wal_start: SUPERBLOCK_BYTES,
            wal_cap,
            db_start: SUPERBLOCK_BYTES + wal_cap,
            db_cap: size - SUPERBLOCK_BYTES - wal_cap,
            lengths: Mutex::new((Lengths::default(), Lengths::default())),
            interrupt: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            held_ms: AtomicU64::new(0),
            pending: Mutex::new(std::collections::BTreeMap::new()),
            commits: Mutex::new((0, 0)),
            flushing: Mutex::new(()),
            followers: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
        };
        disk.load_lengths()?;
        Ok(Arc::new(disk))
    }

    /// Reads the lengths of the files from the superblock (none: an empty device).
    fn load_lengths(&self) -> io::Result<()> {
        let block = self.retry(|| self.device.read(0, SUPERBLOCK_BYTES as usize))?;
        let mut found = Lengths::default();
        if &block[..8] == MAGIC {
            let num = |at: usize| u64::from_le_bytes(block[at..at + 8].try_into().unwrap_or([0; 8]));
            found = Lengths { wal: num(16), db: num(24) };
            if found.wal > self.wal_cap || found.db > self.db_cap {
                return Err(io::Error::other("the superblock names lengths beyond the device: not a squall database"));
            }
        }
        *self.lengths.lock().unwrap_or_else(PoisonError::into_inner) = (found, found);
        Ok(())
    }

    /// Writes `data` at `at` on the device (waiting while it is stuck), noting the range for
    /// the read replicas that follow this database.
    fn put(&self, at: u64, data: &[u8]) -> io::Result<()> {
        self.retry(|| self.device.write(at, data))?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut followers = self.followers.lock().unwrap_or_else(PoisonError::into_inner);
        for ranges in followers.values_mut() {
            add_range(ranges, at, at + data.len() as u64);
        }
        Ok(())
    }

    /// Starts noting, for the read replica `who`, every range written from now on (what it
    /// noted before is forgotten).
    pub fn follow(&self, who: &str) {
        self.followers.lock().unwrap_or_else(PoisonError::into_inner).insert(who.to_string(), Default::default());
    }

    pub fn unfollow(&self, who: &str) {
        self.followers.lock().unwrap_or_else(PoisonError::into_inner).remove(who);
    }

    /// The ranges (offset, length) written since `who` last took them; `None` when `who` does
    /// not follow this database (it must copy every used range).
    pub fn take_written(&self, who: &str) -> Option<Vec<(u64, u64)>> {
        let mut followers = self.followers.lock().unwrap_or_else(PoisonError::into_inner);
        let ranges = followers.get_mut(who)?;
        Some(std::mem::take(ranges).into_iter().map(|(s, e)| (s, e - s)).collect())
    }

    /// Reads bytes of the device as they are there now (what a replica copies).
    pub fn read_device(&self, at: u64, len: usize) -> io::Result<Vec<u8>> {
        self.retry(|| self.device.read(at, len))
    }

    /// Writes bytes a replica received onto the device, makes them durable, and takes the
    /// files' lengths from the superblock they carry. The database must not be open meanwhile.
    pub fn apply(&self, pieces: &[(u64, Vec<u8>)]) -> io::Result<()> {
        for (at, data) in pieces {
            self.put(*at, data)?;
        }
        self.retry(|| self.device.flush())?;
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.load_lengths()
    }

    /// Fails every later operation (and wakes a wait on a stuck device).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Makes a wait on a stuck device give up (`true`), or lets waits go on (`false`).
    pub fn set_interrupt(&self, on: bool) {
        self.interrupt.store(on, Ordering::SeqCst);
    }

    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// `(used, capacity, room)` in bytes: what the database and its log use of the device, the
    /// device's size, and what the database file may still grow by.
    pub fn usage(&self) -> (u64, u64, u64) {
        let (l, _) = *self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        let used = SUPERBLOCK_BYTES + l.wal + l.db;
        (used, self.db_start + self.db_cap, self.db_cap.saturating_sub(l.db))
    }

    /// The ranges of the device that hold data (superblock, WAL, database), as (offset,
    /// length): what rebuilding a standby copies.
    pub fn used_ranges(&self) -> Vec<(u64, u64)> {
        let (l, _) = *self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        vec![(0, SUPERBLOCK_BYTES), (self.wal_start, l.wal), (self.db_start, l.db)]
    }

    /// Runs `f` until the device answers: a stuck device makes the caller wait, as I/O on a
    /// stuck EBS volume does.
    fn retry<T>(&self, f: impl Fn() -> Result<T, DeviceError>) -> io::Result<T> {
        loop {
            if self.is_closed() {
                return Err(io::Error::new(ErrorKind::BrokenPipe, "the database is closed (failover or shutdown)"));
            }
            match f() {
                Ok(v) => return Ok(v),
                Err(DeviceError::Held) => {
                    if self.interrupted() {
                        return Err(io::Error::new(ErrorKind::Interrupted, "canceled while the storage was stuck"));
                    }
                    std::thread::sleep(HELD_RETRY);
                    self.held_ms.fetch_add(HELD_RETRY.as_millis() as u64, Ordering::Relaxed);
                }
                Err(e) => return Err(device_error(e)),
            }
        }
    }

    fn region(&self, file: FileKind) -> (u64, u64) {
        match file {
            FileKind::Main => (self.db_start, self.db_cap),
            FileKind::Wal => (self.wal_start, self.wal_cap),
        }
    }

    fn len(&self, file: FileKind) -> u64 {
        let (l, _) = *self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        match file {
            FileKind::Main => l.db,
            FileKind::Wal => l.wal,
        }
    }

    fn set_len(&self, file: FileKind, len: u64) {
        let mut g = self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        let old = match file {
            FileKind::Main => std::mem::replace(&mut g.0.db, len),
            FileKind::Wal => std::mem::replace(&mut g.0.wal, len),
        };
        drop(g);
        if len < old {
            // Pending bytes past the new end are gone with it (a file that grows again reads
            // zeros there until written).
            let (start, cap) = self.region(file);
            let (cut, region_end) = (start + len, start + cap);
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let inside: Vec<u64> = pending.range(..region_end).map(|(s, _)| *s).filter(|s| *s >= start).collect();
            for s in inside {
                if s >= cut {
                    pending.remove(&s);
                } else if let Some(d) = pending.get_mut(&s) {
                    d.truncate(d.len().min((cut - s) as usize));
                }
            }
        }
    }

    fn read(&self, file: FileKind, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let len = self.len(file);
        let (start, _) = self.region(file);
        let n = len.saturating_sub(offset).min(buf.len() as u64) as usize;
        if n > 0 {
            let at = start + offset;
            let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            // One pending run covering the whole read answers it; otherwise the device's bytes
            // with the pending ones laid over them.
            let covering = pending.range(..=at).next_back().filter(|(s, d)| **s + d.len() as u64 >= at + n as u64);
            if let Some((s, d)) = covering {
                let from = (at - s) as usize;
                buf[..n].copy_from_slice(&d[from..from + n]);
            } else {
                drop(pending);
                let bytes = self.retry(|| self.device.read(at, n))?;
                buf[..n].copy_from_slice(&bytes);
                let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                let end = at + n as u64;
                let first = pending.range(..at).next_back().map_or(at, |(s, _)| *s);
                for (s, d) in pending.range(first..end) {
                    let d_end = s + d.len() as u64;
                    if d_end <= at {
                        continue;
                    }
                    let lo = (*s).max(at);
                    let hi = d_end.min(end);
                    buf[(lo - at) as usize..(hi - at) as usize]
                        .copy_from_slice(&d[(lo - s) as usize..(hi - s) as usize]);
                }
            }
        }
        if n < buf.len() {
            // SQLite wants the rest zeroed with a short read.
            buf[n..].fill(0);
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "short read"));
        }
        Ok(())
    }

    fn write(&self, file: FileKind, data: &[u8], offset: u64) -> io::Result<()> {
        let (start, cap) = self.region(file);
        let end = offset + data.len() as u64;
        if end > cap {
            // SQLITE_FULL: the instance's storage is full.
            return Err(io::Error::new(ErrorKind::WriteZero, "the DB instance's storage is full"));
        }
        let over_limit = self.buffer(start + offset, data);
        if end > self.len(file) {
            self.set_len(file, end);
        }
        if over_limit {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Adds a write to the pending ones, merged with those it overlaps or touches; answers
    /// whether the pending bytes are over the limit.
    fn buffer(&self, at: u64, data: &[u8]) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let end = at + data.len() as u64;
        let mut start = at;
        let mut merged_end = end;
        let touching: Vec<u64> =
            pending.range(..=end).rev().take_while(|(s, d)| **s + d.len() as u64 >= at).map(|(s, _)| *s).collect();
        let mut parts = Vec::with_capacity(touching.len());
        for s in touching {
            if let Some(d) = pending.remove(&s) {
                start = start.min(s);
                merged_end = merged_end.max(s + d.len() as u64);
                parts.push((s, d));
            }
        }
        let mut run = vec![0u8; (merged_end - start) as usize];
        for (s, d) in parts {
            run[(s - start) as usize..(s - start) as usize + d.len()].copy_from_slice(&d);
        }
        run[(at - start) as usize..(end - start) as usize].copy_from_slice(data);
        pending.insert(start, run);
        pending.values().map(Vec::len).sum::<usize>() > PENDING_LIMIT
    }

    /// Sends the pending writes to the device (not yet durable: [`Disk::sync`] flushes).
    pub fn write_pending(&self) -> io::Result<()> {
        let runs = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let mut runs = runs.into_iter();
        while let Some((at, data)) = runs.next() {
            if let Err(e) = self.put(at, &data) {
                // Not written: kept, with those after it, for the next try.
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                pending.insert(at, data);
                pending.extend(runs);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Sends the pending writes and the lengths that go with them to the device.
    pub fn write_out(&self) -> io::Result<()> {
        self.write_pending()?;
        let (current, written) = *self.lengths.lock().unwrap_or_else(PoisonError::into_inner);
        if current != written {
            let mut block = vec![0u8; SUPERBLOCK_BYTES as usize];
            block[..8].copy_from_slice(MAGIC);
            block[8..12].copy_from_slice(&1u32.to_le_bytes());
            block[16..24].copy_from_slice(&current.wal.to_le_bytes());
            block[24..32].copy_from_slice(&current.db.to_le_bytes());
            self.put(0, &block)?;
            self.lengths.lock().unwrap_or_else(PoisonError::into_inner).1 = current;
        }
        Ok(())
    }

    /// Makes what was written durable, with the lengths that go with it (and every commit
    /// written before).
    fn sync(&self) -> io::Result<()> {
        self.write_out()?;
        let _flushing = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        let written = self.commits.lock().unwrap_or_else(PoisonError::into_inner).0;
        self.retry(|| self.device.flush())?;
        let mut c = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        c.1 = c.1.max(written);
        Ok(())
    }

    /// A commit's WAL sync: its bytes go to the device now; durability is waited for by the
    /// session after it lets the database go ([`Disk::wait_durable`]).
    fn sync_commit(&self) -> io::Result<()> {
        self.write_out()?;
        self.commits.lock().unwrap_or_else(PoisonError::into_inner).0 += 1;
        Ok(())
    }

    /// Waits until every commit written so far is durable: the first waiter flushes, those
    /// that queue meanwhile are covered by the next flush. Blocking.
    pub fn wait_durable(&self) -> io::Result<()> {
        let target = self.commits.lock().unwrap_or_else(PoisonError::into_inner).0;
        if self.commits.lock().unwrap_or_else(PoisonError::into_inner).1 >= target {
            return Ok(());
        }
        let _flushing = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        let written = {
            let c = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
            if c.1 >= target {
                return Ok(()); // the flush that ran while this one queued covered it
            }
            c.0
        };
        self.retry(|| self.device.flush())?;
        let mut c = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        c.1 = c.1.max(written);
        Ok(())
    }

    /// Whether a commit written to the device is not durable yet.
    pub fn commits_in_flight(&self) -> bool {
        let c = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        c.1 < c.0
    }
}

/// Adds [start, end) to a set of ranges, merged with those it overlaps or touches.
fn add_range(ranges: &mut std::collections::BTreeMap<u64, u64>, start: u64, end: u64) {
    let (mut lo, mut hi) = (start, end);
    let touching: Vec<u64> = ranges.range(..=end).rev().take_while(|(_, e)| **e >= start).map(|(s, _)| *s).collect();
    for s in touching {
        if let Some(e) = ranges.remove(&s) {
            lo = lo.min(s);
            hi = hi.max(e);
        }
    }
    ranges.insert(lo, hi);
}

/// The disks SQLite may open, by database name.
fn disks() -> &'static Mutex<HashMap<String, Arc<Disk>>> {
    static DISKS: OnceLock<Mutex<HashMap<String, Arc<Disk>>>> = OnceLock::new();
    DISKS.get_or_init(Default::default)
}

/// Makes `disk` openable by SQLite as the database `name` (with the VFS registered).
pub fn attach(name: &str, disk: Arc<Disk>) -> io::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| sqlite_vfs::register(VFS_NAME, BlockVfs, false).map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)?;
    disks().lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), disk);
    Ok(())
}

pub fn detach(name: &str) {
    disks().lock().unwrap_or_else(PoisonError::into_inner).remove(name);
}

fn disk_of(name: &str) -> Option<(Arc<Disk>, FileKind)> {
    let (base, kind) = match name.strip_suffix("-wal") {
        Some(base) => (base, FileKind::Wal),
        None => (name, FileKind::Main),
    };
    disks().lock().unwrap_or_else(PoisonError::into_inner).get(base).cloned().map(|d| (d, kind))
}

struct BlockVfs;

pub enum Handle {
    Disk { disk: Arc<Disk>, file: FileKind, lock: LockKind },
    Memory { data: Vec<u8>, lock: LockKind },
}

impl Vfs for BlockVfs {
    type Handle = Handle;

    fn open(&self, db: &str, opts: OpenOptions) -> io::Result<Handle> {
        match opts.kind {
            OpenKind::MainDb | OpenKind::Wal => {
                let (disk, file) =
                    disk_of(db).ok_or_else(|| io::Error::new(ErrorKind::NotFound, format!("no device for {db}")))?;
                let expected = if opts.kind == OpenKind::Wal { FileKind::Wal } else { FileKind::Main };
                if file != expected {
                    return Err(io::Error::other(format!("{db} is not a {expected:?} file")));
                }
                Ok(Handle::Disk { disk, file, lock: LockKind::None })
            }
            _ => Ok(Handle::Memory { data: Vec::new(), lock: LockKind::None }),
        }
    }

    fn delete(&self, db: &str) -> io::Result<()> {
        if let Some((disk, FileKind::Wal)) = disk_of(db) {
            disk.set_len(FileKind::Wal, 0);
            disk.sync()?;
        }
        Ok(())
    }

    fn exists(&self, db: &str) -> io::Result<bool> {
        Ok(match disk_of(db) {
            Some((disk, file)) => disk.len(file) > 0,
            None => false,
        })
    }

    fn temporary_name(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!("squall-temp-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    fn random(&self, buffer: &mut [i8]) {
        // SQLite's randomness only names temporary files and seeds its PRNG here.
        let mut x =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64) | 1;
        for b in buffer {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as i8;
        }
    }

    fn sleep(&self, duration: Duration) -> Duration {
        std::thread::sleep(duration);
        duration
    }
}

impl DatabaseHandle for Handle {
    type WalIndex = NoSharedMemory;

    fn size(&self) -> io::Result<u64> {
        Ok(match self {
            Handle::Disk { disk, file, .. } => disk.len(*file),
            Handle::Memory { data, .. } => data.len() as u64,
        })
    }

    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            Handle::Disk { disk, file, .. } => disk.read(*file, buf, offset),
            Handle::Memory { data, .. } => {
                let start = (offset as usize).min(data.len());
                let n = (data.len() - start).min(buf.len());
                buf[..n].copy_from_slice(&data[start..start + n]);
                if n < buf.len() {
                    buf[n..].fill(0);
                    return Err(io::Error::new(ErrorKind::UnexpectedEof, "short read"));
                }
                Ok(())
            }
        }
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self {
            Handle::Disk { disk, file, .. } => disk.write(*file, buf, offset),
            Handle::Memory { data, .. } => {
                let end = offset as usize + buf.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[offset as usize..end].copy_from_slice(buf);
                Ok(())
            }
        }
    }

    fn sync(&mut self, _data_only: bool) -> io::Result<()> {
        match self {
            // The WAL syncs at each commit: group commit (the session waits for durability
            // before it acknowledges). The database file syncs in checkpoints, before the WAL
            // may be overwritten: that one is durable before it returns.
            Handle::Disk { disk, file: FileKind::Wal, .. } => disk.sync_commit(),
            Handle::Disk { disk, .. } => disk.sync(),
            Handle::Memory { .. } => Ok(()),
        }
    }

    fn set_len(&mut self, size: u64) -> io::Result<()> {
        match self {
            Handle::Disk { disk, file, .. } => {
                let (_, cap) = disk.region(*file);
                if size > cap {
                    return Err(io::Error::new(ErrorKind::WriteZero, "the DB instance's storage is full"));
                }
                disk.set_len(*file, size);
                Ok(())
            }
            Handle::Memory { data, .. } => {
                data.resize(size as usize, 0);
                Ok(())
            }
        }
    }

    // One connection per database, in exclusive locking mode: the locks only record the state.
    fn lock(&mut self, lock: LockKind) -> io::Result<bool> {
        match self {
            Handle::Disk { lock: l, .. } | Handle::Memory { lock: l, .. } => *l = lock,
        }
        Ok(true)
    }

    fn reserved(&mut self) -> io::Result<bool> {
        Ok(false)
    }

    fn current_lock(&self) -> io::Result<LockKind> {
        Ok(match self {
            Handle::Disk { lock, .. } | Handle::Memory { lock, .. } => *lock,
        })
    }

    fn wal_index(&self, _readonly: bool) -> io::Result<NoSharedMemory> {
        Ok(NoSharedMemory)
    }
}

/// WAL without shared memory: SQLite keeps the WAL index on the heap in exclusive locking mode.
pub struct NoSharedMemory;

impl WalIndex for NoSharedMemory {
    fn enabled() -> bool {
        false
    }

    fn map(&mut self, _region: u32) -> io::Result<[u8; 32768]> {
        Err(io::Error::other("no shared memory: the database runs in exclusive locking mode"))
    }

    fn lock(&mut self, _locks: std::ops::Range<u8>, _lock: WalIndexLock) -> io::Result<bool> {
        Ok(true)
    }

    fn delete(self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{Disk, FileKind};
    use crate::{Device, DeviceError};

    /// A device in memory that counts its writes and flushes.
    struct Memory {
        bytes: Mutex<Vec<u8>>,
        writes: Mutex<usize>,
    }

    impl Device for Memory {
        fn size(&self) -> u64 {
            self.bytes.lock().unwrap().len() as u64
        }
        fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
            Ok(self.bytes.lock().unwrap()[offset as usize..offset as usize + len].to_vec())
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
            *self.writes.lock().unwrap() += 1;
            self.bytes.lock().unwrap()[offset as usize..offset as usize + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn flush(&self) -> Result<(), DeviceError> {
            Ok(())
        }
    }

    #[test]
    fn writes_wait_for_the_sync_and_reads_see_them_meanwhile() {
        let device = Arc::new(Memory { bytes: Mutex::new(vec![0; 1 << 20]), writes: Mutex::new(0) });
        let disk = Disk::open(device.clone()).unwrap();
        // A WAL frame: a 24-byte header and a page, then another frame right after.
        disk.write(FileKind::Wal, &[1; 24], 32).unwrap();
        disk.write(FileKind::Wal, &[2; 4096], 56).unwrap();
        disk.write(FileKind::Wal, &[3; 24], 4152).unwrap();
        disk.write(FileKind::Wal, &[7; 8], 40).unwrap(); // overwrites part of the first header
        assert_eq!(*device.writes.lock().unwrap(), 0, "nothing reaches the device before a sync");
        let mut buf = vec![0u8; 64];
        disk.read(FileKind::Wal, &mut buf, 30).unwrap();
        assert_eq!(&buf[..2], &[0, 0]);
        assert_eq!(&buf[2..10], &[1; 8]);
        assert_eq!(&buf[10..18], &[7; 8]);
        assert_eq!(&buf[26..64], &[2; 38]);
        disk.sync().unwrap();
        // One write for the contiguous run, one for the superblock.
        assert_eq!(*device.writes.lock().unwrap(), 2);
        let again = Disk::open(device.clone()).unwrap();
        let mut buf = vec![0u8; 4096];
        again.read(FileKind::Wal, &mut buf, 56).unwrap();
        assert_eq!(buf, vec![2; 4096]);
        // Truncation forgets pending bytes past the end.
        again.write(FileKind::Wal, &[9; 100], 0).unwrap();
        again.set_len(FileKind::Wal, 10);
        let mut buf = vec![0u8; 10];
        again.read(FileKind::Wal, &mut buf, 0).unwrap();
        assert_eq!(buf, vec![9; 10]);
        assert!(again.read(FileKind::Wal, &mut [0u8; 20], 0).is_err(), "a read past the end is short");
    }
}
