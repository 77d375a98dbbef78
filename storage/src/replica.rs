//! One replica of a volume on one node: a sparse data file, a sparse file of per-block
//! checksums (crc32c), and a small metadata file with the replica's epoch.
//!
//! Unwritten blocks cost nothing and read as zeros. Every written block carries its checksum,
//! checked on every read, so a flipped byte is detected instead of served.
//!
//! Block I/O runs concurrently, without the cluster's lock: requests on different ranges of one
//! replica proceed in parallel, requests on the same range take turns (a stripe lock per range,
//! so a block's data and its checksum always change together). What must see the replica whole
//! (a re-mirroring copy's fence, a change of size) waits for the I/O in flight and holds new
//! I/O back meanwhile.
//!
//! Runs of whole blocks of at least [`DIRECT_MIN_BYTES`] from an aligned buffer are written with
//! `O_DIRECT`: straight to the disk, without a second copy into the page cache (the copy cost
//! more than the disk did; docs/measurements.md). Smaller writes go through the page cache.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::segments::SegmentedFile;
use crate::{StorageError, VolumeId};

/// Granularity of checksums and of allocation tracking.
pub const BLOCK_SIZE: u64 = 4096;
/// A checksum entry: crc32c (LE) and a marker that says the block was written.
const SUM_ENTRY: u64 = 8;
const WRITTEN_MARKER: u32 = 0x5351_4c31; // "SQL1"
/// Version of the on-disk replica format; bumped on any incompatible change.
pub const REPLICA_FORMAT: u32 = 1;
/// Alignment of buffers and offsets for `O_DIRECT` (4 KiB covers every disk's logical block).
pub const DIRECT_ALIGN: usize = 4096;
/// Whole-block runs at least this long go straight to the disk. Long runs gained most from it
/// (bench/nbd.sh, 1 MiB sequential writes: 0.11x -> 0.6-0.7x of qemu-nbd); short writes stay in the
/// page cache, where a copy is cheaper than a synchronous disk write (fio on this disk: a 4 KiB
/// direct write takes 0.1-0.2 ms; 4 KiB random writes reached 1.0-1.4x qemu-nbd this way). The
/// threshold itself is a judgement, not a measured optimum.
pub const DIRECT_MIN_BYTES: usize = 64 * 1024;

/// Blocks that share one stripe lock: 16 blocks (64 KiB), so a 1 MiB write takes 17 locks at most.
const STRIPE_BLOCKS: u64 = 16;
/// Stripe locks shared by every replica of the process (a fixed table costs no memory per replica;
/// two ranges that happen to share a stripe only take turns).
const STRIPES: usize = 1024;
static STRIPE_LOCKS: [RwLock<()>; STRIPES] = [const { RwLock::new(()) }; STRIPES];
/// Gives each replica object its own place in the stripe table.
static NEXT_REPLICA_SERIAL: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Serialize, Deserialize)]
struct ReplicaMeta {
    format_version: u32,
    size: u64,
    epoch: u64,
}

#[derive(Debug)]
pub(crate) struct Files {
    data: SegmentedFile,
    /// The same files opened with `O_DIRECT`, where the file system allows it.
    direct: Option<SegmentedFile>,
    sums: File,
}

impl Files {
    fn open(data_path: &Path, sums_path: &Path, size: u64) -> std::io::Result<Self> {
        let data = SegmentedFile::open(data_path, size)?;
        // tmpfs and some other file systems refuse O_DIRECT: the page cache serves there.
        let direct = SegmentedFile::open_with(data_path, size, rustix::fs::OFlags::DIRECT.bits() as i32).ok();
        let sums = OpenOptions::new().read(true).write(true).open(sums_path)?;
        Ok(Self { data, direct, sums })
    }
}

#[derive(Debug)]
pub struct Replica {
    volume: VolumeId,
    dir: PathBuf,
    serial: u64,
    /// Open lazily and closed by the cluster when many replicas are idle, so a node with
    /// thousands of volumes does not hold thousands of file descriptors. I/O in flight keeps
    /// its own reference, so closing never pulls a file from under it.
    files: Mutex<Option<Arc<Files>>>,
    size: AtomicU64,
    epoch: AtomicU64,
    /// Indices of blocks that hold written data (the rest are holes).
    written: Mutex<BTreeSet<u64>>,
    /// Block I/O holds it shared; a fence or a change of size holds it exclusively.
    gate: RwLock<()>,
}

fn io(volume: &VolumeId, e: std::io::Error) -> StorageError {
    StorageError::Io { volume: volume.clone(), message: e.to_string() }
}

/// Stripe locks held by one request, released when it is dropped.
struct Stripes {
    _shared: Vec<RwLockReadGuard<'static, ()>>,
    _exclusive: Vec<RwLockWriteGuard<'static, ()>>,
}

/// The stripe locks covering blocks `first..=last`, taken in the table's order (so two requests
/// never wait on each other crosswise).
fn lock_stripes(serial: u64, first: u64, last: u64, exclusive: bool) -> Stripes {
    let (first, last) = (first / STRIPE_BLOCKS, last / STRIPE_BLOCKS);
    let base = serial.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut indices: Vec<usize> = if last - first >= STRIPES as u64 {
        (0..STRIPES).collect()
    } else {
        (first..=last).map(|group| (base.wrapping_add(group) % STRIPES as u64) as usize).collect()
    };
    indices.sort_unstable();
    indices.dedup();
    let locks = indices.into_iter().map(|i| &STRIPE_LOCKS[i]);
    if exclusive {
        Stripes {
            _shared: Vec::new(),
            _exclusive: locks.map(|l| l.write().unwrap_or_else(PoisonError::into_inner)).collect(),
        }
    } else {
        Stripes {
            _shared: locks.map(|l| l.read().unwrap_or_else(PoisonError::into_inner)).collect(),
            _exclusive: Vec::new(),
        }
    }
}

fn is_aligned(data: &[u8]) -> bool {
    (data.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN) && data.len().is_multiple_of(DIRECT_ALIGN)
}

impl Replica {
    fn paths(dir: &Path, volume: &VolumeId) -> (PathBuf, PathBuf, PathBuf) {
        (dir.join(format!("{volume}.data")), dir.join(format!("{volume}.sums")), dir.join(format!("{volume}.meta")))
    }

    fn new(dir: &Path, volume: &VolumeId, size: u64, epoch: u64, written: BTreeSet<u64>) -> Self {
        Self {
            volume: volume.clone(),
            dir: dir.to_path_buf(),
            serial: NEXT_REPLICA_SERIAL.fetch_add(1, Ordering::Relaxed),
            files: Mutex::new(None),
            size: AtomicU64::new(size),
            epoch: AtomicU64::new(epoch),
            written: Mutex::new(written),
            gate: RwLock::new(()),
        }
    }

    pub fn create(dir: &Path, volume: &VolumeId, size: u64, epoch: u64) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(|e| io(volume, e))?;
        let (data_path, sums_path, _) = Self::paths(dir, volume);
        SegmentedFile::create(&data_path, size).map_err(|e| io(volume, e))?;
        let sums = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&sums_path)
            .map_err(|e| io(volume, e))?;
        sums.set_len(size.div_ceil(BLOCK_SIZE) * SUM_ENTRY).map_err(|e| io(volume, e))?;
        let replica = Self::new(dir, volume, size, epoch, BTreeSet::new());
        replica.save_meta()?;
        Ok(replica)
    }

    /// Reopens a replica written before, rebuilding the set of written blocks from its checksums.
    pub fn open(dir: &Path, volume: &VolumeId) -> Result<Self, StorageError> {
        let (data_path, sums_path, meta_path) = Self::paths(dir, volume);
        let meta: ReplicaMeta = serde_json::from_slice(&fs::read(&meta_path).map_err(|e| io(volume, e))?)
            .map_err(|e| StorageError::Io { volume: volume.clone(), message: format!("bad replica metadata: {e}") })?;
        if meta.format_version != REPLICA_FORMAT {
            return Err(StorageError::Io {
                volume: volume.clone(),
                message: format!("replica format {} is not supported (expected {REPLICA_FORMAT})", meta.format_version),
            });
        }
        // The data files must exist; they are opened on first use, not now, so a node with many
        // replicas starts without opening them all.
        for segment in SegmentedFile::paths(&data_path, meta.size) {
            fs::metadata(&segment).map_err(|e| io(volume, e))?;
        }
        let sums = OpenOptions::new().read(true).write(true).open(&sums_path).map_err(|e| io(volume, e))?;
        let written =
            Self::scan_written(&sums, meta.size.div_ceil(BLOCK_SIZE) * SUM_ENTRY).map_err(|e| io(volume, e))?;
        Ok(Self::new(dir, volume, meta.size, meta.epoch, written))
    }

    /// Rebuilds the set of written blocks from the checksum file, reading only its data extents
    /// (a 1 TiB volume's checksum file is 2 GiB of holes until written).
    fn scan_written(sums: &File, len: u64) -> std::io::Result<BTreeSet<u64>> {
        let mut written = BTreeSet::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0u64;
        while pos < len {
            let start = match rustix::fs::seek(sums, rustix::fs::SeekFrom::Data(pos)) {
                Ok(start) => start,
                Err(rustix::io::Errno::NXIO) => break, // no data after pos
                Err(e) => return Err(e.into()),
            };
            let end = rustix::fs::seek(sums, rustix::fs::SeekFrom::Hole(start)).map_err(std::io::Error::from)?.min(len);
            // Extents are page-aligned; entries are 8 bytes, so an extent never splits one.
            let mut at = start - start % SUM_ENTRY;
            while at < end {
                let n = ((end - at) as usize).min(buf.len());
                sums.read_exact_at(&mut buf[..n], at)?;
                for (i, entry) in buf[..n].chunks_exact(SUM_ENTRY as usize).enumerate() {
                    if entry[4..8] == WRITTEN_MARKER.to_le_bytes() {
                        written.insert(at / SUM_ENTRY + i as u64);
                    }
                }
                at += n as u64;
            }
            pos = end;
        }
        Ok(written)
    }

    /// The replica's open files, opening them first if they were closed.
    fn files(&self) -> Result<Arc<Files>, StorageError> {
        let mut guard = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(files) = guard.as_ref() {
            return Ok(files.clone());
        }
        let (data_path, sums_path, _) = Self::paths(&self.dir, &self.volume);
        let files = Arc::new(Files::open(&data_path, &sums_path, self.size()).map_err(|e| io(&self.volume, e))?);
        *guard = Some(files.clone());
        Ok(files)
    }

    fn with_files<T>(&self, f: impl FnOnce(&Files) -> std::io::Result<T>) -> Result<T, StorageError> {
        let files = self.files()?;
        f(&files).map_err(|e| io(&self.volume, e))
    }

    /// Closes the replica's files (they reopen on the next access).
    pub fn close(&self) {
        *self.files.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub fn is_open(&self) -> bool {
        self.files.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Volumes that have a replica in `dir`.
    pub fn list(dir: &Path) -> Vec<VolumeId> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<VolumeId> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name().to_str().and_then(|n| n.strip_suffix(".meta")).and_then(|v| VolumeId::new(v).ok())
            })
            .collect();
        out.sort();
        out
    }

    fn save_meta(&self) -> Result<(), StorageError> {
        let (_, _, meta_path) = Self::paths(&self.dir, &self.volume);
        let meta = ReplicaMeta { format_version: REPLICA_FORMAT, size: self.size(), epoch: self.epoch() };
        let bytes = serde_json::to_vec(&meta)
            .map_err(|e| StorageError::Io { volume: self.volume.clone(), message: e.to_string() })?;
        crate::durable::write_durably(&meta_path, &bytes).map_err(|e| io(&self.volume, e))
    }

    /// Removes the replica's files (I/O still in flight writes to the unlinked files).
    pub fn destroy(&self) -> Result<(), StorageError> {
        self.close();
        Self::remove_files(&self.dir, &self.volume)
    }

    /// Removes a replica's files, its metadata first: the metadata is what makes a replica exist
    /// on a node, so a crash half-way leaves only files no replica claims (cleared at the next
    /// open), never a replica without its data.
    pub fn remove_files(dir: &Path, volume: &VolumeId) -> Result<(), StorageError> {
        let (data, sums, meta) = Self::paths(dir, volume);
        let remove = |p: &Path| match fs::remove_file(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(volume, e)),
        };
        remove(&meta)?;
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all(); // the metadata is gone for good before the data goes
        }
        SegmentedFile::remove(&data).map_err(|e| io(volume, e))?;
        remove(&sums)
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Joins a new replica set: from now on only requests of `epoch` are served. Waits for the
    /// I/O in flight, so none of the old epoch lands after this returns.
    pub fn set_epoch(&self, epoch: u64) -> Result<(), StorageError> {
        self.fence(epoch);
        self.save_meta()
    }

    /// Refuses requests of any epoch but `epoch` from now on, after the I/O in flight is done,
    /// without recording it: what a re-mirroring copy does before it reads, so no write of the
    /// old set lands behind it.
    pub fn fence(&self, epoch: u64) {
        let _whole = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.store(epoch, Ordering::Release);
    }

    /// Grows the replica to `size` bytes (new space reads as zeros and costs nothing).
    pub fn grow(&self, size: u64) -> Result<(), StorageError> {
        let _whole = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let old = self.size();
        if size < old {
            return Err(StorageError::OutOfRange { volume: self.volume.clone(), offset: size, len: 0, size: old });
        }
        // The old last block may have been short: its checksum covers only its old length, so
        // it is rewritten at full length (zero-padded) before the file grows.
        let last = old.div_ceil(BLOCK_SIZE).saturating_sub(1);
        let last_was_short = !old.is_multiple_of(BLOCK_SIZE) && self.is_written(last);
        let old_last = if last_was_short { Some(self.read_block_unguarded(last)?) } else { None };
        self.close();
        let (data_path, sums_path, _) = Self::paths(&self.dir, &self.volume);
        let mut data = SegmentedFile::open(&data_path, old).map_err(|e| io(&self.volume, e))?;
        data.grow(size).map_err(|e| io(&self.volume, e))?;
        let sums = OpenOptions::new().read(true).write(true).open(&sums_path).map_err(|e| io(&self.volume, e))?;
        sums.set_len(size.div_ceil(BLOCK_SIZE) * SUM_ENTRY).map_err(|e| io(&self.volume, e))?;
        self.size.store(size, Ordering::Release);
        if let Some(mut data) = old_last {
            data.resize(self.block_len(last), 0);
            self.write_block_unguarded(last, &data)?;
        }
        self.save_meta()
    }

    fn is_written(&self, block: u64) -> bool {
        self.written.lock().unwrap_or_else(PoisonError::into_inner).contains(&block)
    }

    /// Bytes of written blocks: what a copy of this replica costs.
    pub fn allocated_bytes(&self) -> u64 {
        self.written.lock().unwrap_or_else(PoisonError::into_inner).len() as u64 * BLOCK_SIZE
    }

    /// The written blocks, in order.
    pub fn written_blocks(&self) -> Vec<u64> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect()
    }

    /// Fencing: a request of another epoch than the replica's is refused.
    pub fn check_epoch(&self, epoch: u64) -> Result<(), StorageError> {
        let current = self.epoch();
        if epoch != current {
            return Err(StorageError::StaleEpoch { volume: self.volume.clone(), request: epoch, replica: current });
        }
        Ok(())
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        let size = self.size();
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(()),
            _ => Err(StorageError::OutOfRange { volume: self.volume.clone(), offset, len, size }),
        }
    }

    fn block_len(&self, block: u64) -> usize {
        (self.size() - block * BLOCK_SIZE).min(BLOCK_SIZE) as usize
    }

    /// Holds the replica against fences and growth, and the stripes of `offset..offset+len`.
    fn guard(&self, offset: u64, len: u64, exclusive: bool) -> (std::sync::RwLockReadGuard<'_, ()>, Stripes) {
        let gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let first = offset / BLOCK_SIZE;
        let last = (offset + len.max(1) - 1) / BLOCK_SIZE;
        (gate, lock_stripes(self.serial, first, last, exclusive))
    }

    /// Reads one whole block, verifying its checksum; holes read as zeros.
    pub fn read_block(&self, block: u64) -> Result<Vec<u8>, StorageError> {
        let _held = self.guard(block * BLOCK_SIZE, BLOCK_SIZE, false);
        self.read_block_unguarded(block)
    }

    fn read_block_unguarded(&self, block: u64) -> Result<Vec<u8>, StorageError> {
        let len = self.block_len(block);
        let mut buf = vec![0u8; len];
        if !self.is_written(block) {
            return Ok(buf);
        }
        let mut entry = [0u8; SUM_ENTRY as usize];
        self.with_files(|f| {
            f.data.read_exact_at(&mut buf, block * BLOCK_SIZE)?;
            f.sums.read_exact_at(&mut entry, block * SUM_ENTRY)
        })?;
        let expected = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if crc32c::crc32c(&buf) != expected {
            return Err(StorageError::Corrupt { volume: self.volume.clone(), block });
        }
        Ok(buf)
    }

    /// Writes one whole block and its checksum (a repair, or a copy into a new replica).
    pub fn write_block(&self, block: u64, data: &[u8]) -> Result<(), StorageError> {
        let _held = self.guard(block * BLOCK_SIZE, BLOCK_SIZE, true);
        self.write_block_unguarded(block, data)
    }

    fn write_block_unguarded(&self, block: u64, data: &[u8]) -> Result<(), StorageError> {
        debug_assert_eq!(data.len(), self.block_len(block));
        let mut entry = [0u8; SUM_ENTRY as usize];
        entry[..4].copy_from_slice(&crc32c::crc32c(data).to_le_bytes());
        entry[4..].copy_from_slice(&WRITTEN_MARKER.to_le_bytes());
        self.with_files(|f| {
            f.data.write_all_at(data, block * BLOCK_SIZE)?;
            f.sums.write_all_at(&entry, block * SUM_ENTRY)
        })?;
        self.written.lock().unwrap_or_else(PoisonError::into_inner).insert(block);
        Ok(())
    }

    fn forget_block(&self, block: u64) -> Result<(), StorageError> {
        let start = block * BLOCK_SIZE;
        let len = self.block_len(block) as u64;
        // Give the bytes back to the file system; the checksum entry goes back to "hole".
        self.with_files(|f| {
            f.data.punch_hole(start, len)?;
            f.sums.write_all_at(&[0u8; SUM_ENTRY as usize], block * SUM_ENTRY)
        })?;
        self.written.lock().unwrap_or_else(PoisonError::into_inner).remove(&block);
        Ok(())
    }

    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.check_range(offset, len)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let _held = self.guard(offset, len, false);
        // The whole blocks the range touches, in one read for the data and one for their
        // checksums (a block at a time cost two system calls per 4 KiB).
        let first = offset / BLOCK_SIZE;
        let start = first * BLOCK_SIZE;
        let span_end = (offset + len).div_ceil(BLOCK_SIZE).saturating_mul(BLOCK_SIZE).min(self.size());
        let span = (span_end - start) as usize;
        let blocks = (span_end - start).div_ceil(BLOCK_SIZE);
        // A long span is read straight from the disk into an aligned place of the buffer (what
        // large writes left there is not in the page cache; the page cache's read-ahead and copy
        // reached half of the disk's rate); the bytes then move to the front of the buffer.
        let direct = span >= DIRECT_MIN_BYTES && span.is_multiple_of(DIRECT_ALIGN);
        let mut buf = vec![0u8; if direct { span + DIRECT_ALIGN - 1 } else { span }];
        let at = if direct { buf.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN - 1) } else { 0 };
        let mut sums = vec![0u8; (blocks * SUM_ENTRY) as usize];
        let written: Vec<bool> = {
            let set = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            (first..first + blocks).map(|b| set.contains(&b)).collect()
        };
        if written.iter().any(|&w| w) {
            self.with_files(|f| {
                let data = &mut buf[at..at + span];
                match &f.direct {
                    Some(direct_file) if direct && is_aligned(data) => match direct_file.read_exact_at(data, start) {
                        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                            f.data.read_exact_at(data, start)?
                        }
                        other => other?,
                    },
                    _ => f.data.read_exact_at(data, start)?,
                }
                f.sums.read_exact_at(&mut sums, first * SUM_ENTRY)
            })?;
        }
        for (i, (chunk, entry)) in
            buf[at..at + span].chunks_mut(BLOCK_SIZE as usize).zip(sums.chunks_exact(SUM_ENTRY as usize)).enumerate()
        {
            if !written[i] {
                // A hole, or a block whose checksum never landed (a crash between the two
                // writes): it reads as zeros, as it did before the write.
                chunk.fill(0);
                continue;
            }
            let expected = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            if crc32c::crc32c(chunk) != expected {
                return Err(StorageError::Corrupt { volume: self.volume.clone(), block: first + i as u64 });
            }
        }
        let from = at + (offset - start) as usize;
        buf.truncate(from + len as usize);
        buf.drain(..from);
        Ok(buf)
    }

    pub fn write(&self, epoch: u64, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.check_range(offset, data.len() as u64)?;
        let _held = self.guard(offset, data.len() as u64, true);
        // Checked under the gate: a fence waits for this write, or this write sees the fence.
        self.check_epoch(epoch)?;
        let end = offset + data.len() as u64;
        let mut pos = offset;
        while pos < end {
            let block = pos / BLOCK_SIZE;
            let within = (pos % BLOCK_SIZE) as usize;
            let src_at = (pos - offset) as usize;
            let full_blocks = if within == 0 { (end - pos) / BLOCK_SIZE } else { 0 };
            if full_blocks > 0 {
                // A run of whole blocks: one write for the data, one for their checksums.
                let len = (full_blocks * BLOCK_SIZE) as usize;
                self.write_run(block, &data[src_at..src_at + len])?;
                pos += len as u64;
                continue;
            }
            let take = ((BLOCK_SIZE - within as u64).min(end - pos)) as usize;
            let src = &data[src_at..src_at + take];
            if within == 0 && take == self.block_len(block) {
                self.write_block_unguarded(block, src)?; // the volume's short last block
            } else {
                // A partial block: merge with what is there so its checksum covers the whole block.
                let mut merged = self.read_block_unguarded(block)?;
                merged[within..within + take].copy_from_slice(src);
                self.write_block_unguarded(block, &merged)?;
            }
            pos += take as u64;
        }
        Ok(())
    }

    /// Writes whole blocks starting at `first`, with their checksums, in two system calls; a long
    /// run from an aligned buffer goes straight to the disk.
    fn write_run(&self, first: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut sums = Vec::with_capacity(data.len() / BLOCK_SIZE as usize * SUM_ENTRY as usize);
        for chunk in data.chunks(BLOCK_SIZE as usize) {
            sums.extend_from_slice(&crc32c::crc32c(chunk).to_le_bytes());
            sums.extend_from_slice(&WRITTEN_MARKER.to_le_bytes());
        }
        self.with_files(|f| {
            let at = first * BLOCK_SIZE;
            match &f.direct {
                Some(direct) if data.len() >= DIRECT_MIN_BYTES && is_aligned(data) => {
                    // EINVAL: this file system wants another alignment; the page cache serves.
                    match direct.write_all_at(data, at) {
                        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                            f.data.write_all_at(data, at)?
                        }
                        other => other?,
                    }
                }
                _ => f.data.write_all_at(data, at)?,
            }
            f.sums.write_all_at(&sums, first * SUM_ENTRY)
        })?;
        let blocks = data.len() as u64 / BLOCK_SIZE;
        self.written.lock().unwrap_or_else(PoisonError::into_inner).extend(first..first + blocks);
        Ok(())
    }

    /// Zeroes a range: whole blocks become holes again, partial ones are written with zeros.
    pub fn zero(&self, epoch: u64, offset: u64, len: u64) -> Result<(), StorageError> {
        self.check_range(offset, len)?;
        let _held = self.guard(offset, len, true);
        self.check_epoch(epoch)?;
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let block = pos / BLOCK_SIZE;
            let within = (pos % BLOCK_SIZE) as usize;
            let take = ((BLOCK_SIZE - within as u64).min(end - pos)) as usize;
            if within == 0 && take == self.block_len(block) {
                if self.is_written(block) {
                    self.forget_block(block)?;
                }
            } else if self.is_written(block) {
                let mut merged = self.read_block_unguarded(block)?;
                merged[within..within + take].fill(0);
                self.write_block_unguarded(block, &merged)?;
            }
            pos += take as u64;
        }
        Ok(())
    }

    /// Makes everything written so far durable (`fdatasync` of data and checksums).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.with_files(|f| {
            f.data.sync_data()?;
            f.sums.sync_data()
        })
    }

    /// The syncs that make this replica durable (its data, its checksums), to run without
    /// holding the cluster.
    pub(crate) fn sync_jobs(&self) -> Result<Vec<crate::durable::SyncJob>, StorageError> {
        let files = self.files()?;
        let sums = files.clone();
        Ok(vec![Box::new(move || files.data.sync_data()), Box::new(move || sums.sums.sync_data())])
    }

    /// The path of the data file (tests corrupt it on purpose).
    pub fn data_path(&self) -> PathBuf {
        Self::paths(&self.dir, &self.volume).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(s: &str) -> VolumeId {
        VolumeId::new(s).unwrap()
    }

    #[test]
    fn unaligned_writes_read_back_and_unwritten_space_is_zero_and_free() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v1"), 1 << 40, 1).unwrap();
        assert_eq!(r.allocated_bytes(), 0);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        r.write(1, 4000, &data).unwrap();
        assert_eq!(r.read(4000, data.len() as u64).unwrap(), data);
        assert_eq!(r.read(0, 4000).unwrap(), vec![0; 4000]);
        assert_eq!(r.allocated_bytes(), 4 * BLOCK_SIZE);
        // A 1 TiB replica costs only what was written.
        let on_disk = std::fs::metadata(r.data_path()).unwrap();
        assert_eq!(on_disk.len(), 1 << 40);
        drop(r);
        let r = Replica::open(dir.path(), &vol("v1")).unwrap();
        assert_eq!(r.read(4000, data.len() as u64).unwrap(), data);
        assert_eq!(r.allocated_bytes(), 4 * BLOCK_SIZE);
    }

    #[test]
    fn epochs_fence_and_ranges_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v"), 8192, 3).unwrap();
        assert!(matches!(r.write(2, 0, b"x"), Err(StorageError::StaleEpoch { request: 2, replica: 3, .. })));
        assert!(matches!(r.write(3, 8190, b"xyz"), Err(StorageError::OutOfRange { .. })));
        assert!(matches!(r.read(u64::MAX, 2), Err(StorageError::OutOfRange { .. })));
        r.write(3, 8189, b"xyz").unwrap();
    }

    #[test]
    fn zeroing_punches_whole_blocks_and_zeroes_partial_ones() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v"), 3 * BLOCK_SIZE, 1).unwrap();
        r.write(1, 0, &vec![7u8; 3 * BLOCK_SIZE as usize]).unwrap();
        r.zero(1, 100, 2 * BLOCK_SIZE).unwrap();
        let back = r.read(0, 3 * BLOCK_SIZE).unwrap();
        assert!(back[..100].iter().all(|&b| b == 7));
        assert!(back[100..100 + 2 * BLOCK_SIZE as usize].iter().all(|&b| b == 0));
        assert!(back[100 + 2 * BLOCK_SIZE as usize..].iter().all(|&b| b == 7));
        assert_eq!(r.allocated_bytes(), 2 * BLOCK_SIZE, "the middle block became a hole");
    }

    #[test]
    fn a_flipped_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v"), 2 * BLOCK_SIZE, 1).unwrap();
        r.write(1, 0, &vec![1u8; 2 * BLOCK_SIZE as usize]).unwrap();
        let f = OpenOptions::new().write(true).open(r.data_path()).unwrap();
        f.write_all_at(&[9], BLOCK_SIZE + 5).unwrap();
        assert!(matches!(r.read(BLOCK_SIZE, 10), Err(StorageError::Corrupt { block: 1, .. })));
        assert_eq!(r.read(0, 10).unwrap(), vec![1u8; 10]);
    }

    /// A buffer of `len` bytes starting at a [`DIRECT_ALIGN`] boundary, and where it starts.
    fn aligned(len: usize, fill: impl Fn(usize) -> u8) -> (Vec<u8>, usize) {
        let mut raw = vec![0u8; len + DIRECT_ALIGN];
        let at = raw.as_ptr().align_offset(DIRECT_ALIGN);
        for (i, b) in raw[at..at + len].iter_mut().enumerate() {
            *b = fill(i);
        }
        (raw, at)
    }

    #[test]
    fn long_aligned_runs_go_to_the_disk_directly_and_read_back_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v"), 4 << 20, 1).unwrap();
        let len = 256 * 1024;
        let (raw, at) = aligned(len, |i| (i % 253) as u8);
        let data = &raw[at..at + len];
        r.write(1, 8 * BLOCK_SIZE, data).unwrap();
        // A small buffered write inside the run, then the run read back whole (directly).
        r.write(1, 8 * BLOCK_SIZE + 10, b"cached").unwrap();
        let mut expected = data.to_vec();
        expected[10..16].copy_from_slice(b"cached");
        assert_eq!(r.read(8 * BLOCK_SIZE, len as u64).unwrap(), expected);
        assert_eq!(r.read(8 * BLOCK_SIZE + 7, 100).unwrap(), expected[7..107]);
        r.flush().unwrap();
        drop(r);
        let r = Replica::open(dir.path(), &vol("v")).unwrap();
        assert_eq!(r.read(8 * BLOCK_SIZE, len as u64).unwrap(), expected);
        assert_eq!(r.allocated_bytes(), len as u64);
        // Unaligned spans of the same size take the page cache and agree.
        assert_eq!(r.read(8 * BLOCK_SIZE - 1, len as u64).unwrap()[1..], expected[..len - 1]);
    }

    #[test]
    fn concurrent_sector_writes_into_shared_blocks_lose_nothing() {
        // Eight writers each own one 512-byte sector of every block: a read-modify-write that
        // raced another would put back an old sector, and a data write that raced another's
        // checksum would read as corrupt.
        let dir = tempfile::tempdir().unwrap();
        let blocks = 64u64;
        let r = Replica::create(dir.path(), &vol("v"), blocks * BLOCK_SIZE, 1).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..8u64 {
                let r = &r;
                scope.spawn(move || {
                    for round in 0..20u64 {
                        // Below the whole-block writer's range (its last 16 blocks).
                        for block in 0..blocks - (DIRECT_MIN_BYTES as u64 / BLOCK_SIZE) {
                            let value = (writer * 31 + round) as u8;
                            r.write(1, block * BLOCK_SIZE + writer * 512, &[value; 512]).unwrap();
                        }
                    }
                });
            }
            // Whole-block writers of another range, beside them.
            let r = &r;
            scope.spawn(move || {
                for round in 0..50u8 {
                    let (raw, at) = aligned(DIRECT_MIN_BYTES, |_| round);
                    r.write(1, blocks * BLOCK_SIZE - DIRECT_MIN_BYTES as u64, &raw[at..at + DIRECT_MIN_BYTES])
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            });
        });
        let all = r.read(0, blocks * BLOCK_SIZE).unwrap();
        let whole_from = (blocks * BLOCK_SIZE) as usize - DIRECT_MIN_BYTES;
        for (block, bytes) in all[..whole_from].chunks(BLOCK_SIZE as usize).enumerate() {
            for (writer, sector) in bytes.chunks(512).enumerate() {
                let last = (writer as u64 * 31 + 19) as u8;
                assert!(sector.iter().all(|&b| b == last), "block {block}, sector {writer} lost its last write");
            }
        }
        assert!(all[whole_from..].iter().all(|&b| b == 49));
    }

    #[test]
    fn a_fence_refuses_the_old_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replica::create(dir.path(), &vol("v"), 8192, 1).unwrap();
        r.write(1, 0, b"old set").unwrap();
        r.fence(2);
        assert!(matches!(r.write(1, 0, b"late"), Err(StorageError::StaleEpoch { request: 1, replica: 2, .. })));
        assert_eq!(r.read(0, 7).unwrap(), b"old set");
        r.write(2, 0, b"new set").unwrap();
    }
}
