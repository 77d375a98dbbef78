//! One replica of a volume on one node: a sparse data file, a sparse file of per-block
//! checksums (crc32c), and a small metadata file with the replica's epoch.
//!
//! Unwritten blocks cost nothing and read as zeros. Every written block carries its checksum,
//! checked on every read, so a flipped byte is detected instead of served.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

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

#[derive(Debug, Serialize, Deserialize)]
struct ReplicaMeta {
    format_version: u32,
    size: u64,
    epoch: u64,
}

#[derive(Debug)]
struct Files {
    data: SegmentedFile,
    sums: File,
}

#[derive(Debug)]
pub struct Replica {
    volume: VolumeId,
    dir: PathBuf,
    /// Open lazily and closed by the cluster when many replicas are idle, so a node with
    /// thousands of volumes does not hold thousands of file descriptors.
    files: Mutex<Option<Files>>,
    size: u64,
    epoch: u64,
    /// Indices of blocks that hold written data (the rest are holes).
    written: BTreeSet<u64>,
}

fn io(volume: &VolumeId, e: std::io::Error) -> StorageError {
    StorageError::Io { volume: volume.clone(), message: e.to_string() }
}

impl Replica {
    fn paths(dir: &Path, volume: &VolumeId) -> (PathBuf, PathBuf, PathBuf) {
        (dir.join(format!("{volume}.data")), dir.join(format!("{volume}.sums")), dir.join(format!("{volume}.meta")))
    }

    pub fn create(dir: &Path, volume: &VolumeId, size: u64, epoch: u64) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(|e| io(volume, e))?;
        let (data_path, sums_path, _) = Self::paths(dir, volume);
        let open = |p: &Path| OpenOptions::new().read(true).write(true).create(true).truncate(true).open(p);
        let data = SegmentedFile::create(&data_path, size).map_err(|e| io(volume, e))?;
        let sums = open(&sums_path).map_err(|e| io(volume, e))?;
        sums.set_len(size.div_ceil(BLOCK_SIZE) * SUM_ENTRY).map_err(|e| io(volume, e))?;
        let replica = Self {
            volume: volume.clone(),
            dir: dir.to_path_buf(),
            files: Mutex::new(Some(Files { data, sums })),
            size,
            epoch,
            written: BTreeSet::new(),
        };
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
        let open = |p: &Path| OpenOptions::new().read(true).write(true).open(p);
        // The data files must exist; they are opened on first use, not now, so a node with many
        // replicas starts without opening them all.
        for segment in SegmentedFile::paths(&data_path, meta.size) {
            fs::metadata(&segment).map_err(|e| io(volume, e))?;
        }
        let sums = open(&sums_path).map_err(|e| io(volume, e))?;
        let written =
            Self::scan_written(&sums, meta.size.div_ceil(BLOCK_SIZE) * SUM_ENTRY).map_err(|e| io(volume, e))?;
        Ok(Self {
            volume: volume.clone(),
            dir: dir.to_path_buf(),
            files: Mutex::new(None),
            size: meta.size,
            epoch: meta.epoch,
            written,
        })
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

    /// Runs `f` with the replica's open files, opening them first if they were closed.
    fn with_files<T>(&self, f: impl FnOnce(&mut Files) -> std::io::Result<T>) -> Result<T, StorageError> {
        let mut guard = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let (data_path, sums_path, _) = Self::paths(&self.dir, &self.volume);
            let data = SegmentedFile::open(&data_path, self.size).map_err(|e| io(&self.volume, e))?;
            let sums = OpenOptions::new().read(true).write(true).open(&sums_path).map_err(|e| io(&self.volume, e))?;
            *guard = Some(Files { data, sums });
        }
        match guard.as_mut() {
            Some(files) => f(files).map_err(|e| io(&self.volume, e)),
            None => Err(StorageError::Io { volume: self.volume.clone(), message: "replica files are not open".into() }),
        }
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
        let meta = ReplicaMeta { format_version: REPLICA_FORMAT, size: self.size, epoch: self.epoch };
        let bytes = serde_json::to_vec(&meta)
            .map_err(|e| StorageError::Io { volume: self.volume.clone(), message: e.to_string() })?;
        crate::durable::write_durably(&meta_path, &bytes).map_err(|e| io(&self.volume, e))
    }

    /// Removes the replica's files.
    pub fn destroy(self) -> Result<(), StorageError> {
        let (a, b, c) = Self::paths(&self.dir, &self.volume);
        SegmentedFile::remove(&a).map_err(|e| io(&self.volume, e))?;
        for p in [b, c] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&self.volume, e)),
            }
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Joins a new replica set: from now on only requests of `epoch` are served.
    pub fn set_epoch(&mut self, epoch: u64) -> Result<(), StorageError> {
        self.epoch = epoch;
        self.save_meta()
    }

    /// Grows the replica to `size` bytes (new space reads as zeros and costs nothing).
    pub fn grow(&mut self, size: u64) -> Result<(), StorageError> {
        if size < self.size {
            return Err(StorageError::OutOfRange {
                volume: self.volume.clone(),
                offset: size,
                len: 0,
                size: self.size,
            });
        }
        // The old last block may have been short: its checksum covers only its old length, so
        // it is rewritten at full length (zero-padded) before the file grows.
        let last = self.size.div_ceil(BLOCK_SIZE).saturating_sub(1);
        let last_was_short = !self.size.is_multiple_of(BLOCK_SIZE) && self.written.contains(&last);
        let old_last = if last_was_short { Some(self.read_block(last)?) } else { None };
        self.with_files(|f| {
            f.data.grow(size)?;
            f.sums.set_len(size.div_ceil(BLOCK_SIZE) * SUM_ENTRY)
        })?;
        self.size = size;
        if let Some(mut data) = old_last {
            data.resize(self.block_len(last), 0);
            self.write_block(last, &data)?;
        }
        self.save_meta()
    }

    /// Bytes of written blocks: what a copy of this replica costs.
    pub fn allocated_bytes(&self) -> u64 {
        self.written.len() as u64 * BLOCK_SIZE
    }

    pub fn written_blocks(&self) -> impl Iterator<Item = u64> + '_ {
        self.written.iter().copied()
    }

    /// Fencing: a request of another epoch than the replica's is refused.
    pub fn check_epoch(&self, epoch: u64) -> Result<(), StorageError> {
        if epoch != self.epoch {
            return Err(StorageError::StaleEpoch { volume: self.volume.clone(), request: epoch, replica: self.epoch });
        }
        Ok(())
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(StorageError::OutOfRange { volume: self.volume.clone(), offset, len, size: self.size }),
        }
    }

    fn block_len(&self, block: u64) -> usize {
        (self.size - block * BLOCK_SIZE).min(BLOCK_SIZE) as usize
    }

    /// Reads one whole block, verifying its checksum; holes read as zeros.
    pub fn read_block(&self, block: u64) -> Result<Vec<u8>, StorageError> {
        let len = self.block_len(block);
        let mut buf = vec![0u8; len];
        if !self.written.contains(&block) {
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

    /// Writes one whole block and its checksum.
    pub fn write_block(&mut self, block: u64, data: &[u8]) -> Result<(), StorageError> {
        debug_assert_eq!(data.len(), self.block_len(block));
        self.with_files(|f| f.data.write_all_at(data, block * BLOCK_SIZE))?;
        let mut entry = [0u8; SUM_ENTRY as usize];
        entry[..4].copy_from_slice(&crc32c::crc32c(data).to_le_bytes());
        entry[4..].copy_from_slice(&WRITTEN_MARKER.to_le_bytes());
        self.with_files(|f| f.sums.write_all_at(&entry, block * SUM_ENTRY))?;
        self.written.insert(block);
        Ok(())
    }

    fn forget_block(&mut self, block: u64) -> Result<(), StorageError> {
        let start = block * BLOCK_SIZE;
        let len = self.block_len(block) as u64;
        // Give the bytes back to the file system; the checksum entry goes back to "hole".
        self.with_files(|f| {
            f.data.punch_hole(start, len)?;
            f.sums.write_all_at(&[0u8; SUM_ENTRY as usize], block * SUM_ENTRY)
        })?;
        self.written.remove(&block);
        Ok(())
    }

    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.check_range(offset, len)?;
        let mut out = Vec::with_capacity(len as usize);
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let block = pos / BLOCK_SIZE;
            let within = (pos % BLOCK_SIZE) as usize;
            let take = ((BLOCK_SIZE - within as u64).min(end - pos)) as usize;
            let data = self.read_block(block)?;
            out.extend_from_slice(&data[within..within + take]);
            pos += take as u64;
        }
        Ok(out)
    }

    pub fn write(&mut self, epoch: u64, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.check_epoch(epoch)?;
        self.check_range(offset, data.len() as u64)?;
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
                self.write_block(block, src)?; // the volume's short last block
            } else {
                // A partial block: merge with what is there so its checksum covers the whole block.
                let mut merged = self.read_block(block)?;
                merged[within..within + take].copy_from_slice(src);
                self.write_block(block, &merged)?;
            }
            pos += take as u64;
        }
        Ok(())
    }

    /// Writes whole blocks starting at `first`, with their checksums, in two system calls.
    fn write_run(&mut self, first: u64, data: &[u8]) -> Result<(), StorageError> {
        let mut sums = Vec::with_capacity(data.len() / BLOCK_SIZE as usize * SUM_ENTRY as usize);
        for chunk in data.chunks(BLOCK_SIZE as usize) {
            sums.extend_from_slice(&crc32c::crc32c(chunk).to_le_bytes());
            sums.extend_from_slice(&WRITTEN_MARKER.to_le_bytes());
        }
        self.with_files(|f| {
            f.data.write_all_at(data, first * BLOCK_SIZE)?;
            f.sums.write_all_at(&sums, first * SUM_ENTRY)
        })?;
        let blocks = data.len() as u64 / BLOCK_SIZE;
        self.written.extend(first..first + blocks);
        Ok(())
    }

    /// Zeroes a range: whole blocks become holes again, partial ones are written with zeros.
    pub fn zero(&mut self, epoch: u64, offset: u64, len: u64) -> Result<(), StorageError> {
        self.check_epoch(epoch)?;
        self.check_range(offset, len)?;
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let block = pos / BLOCK_SIZE;
            let within = (pos % BLOCK_SIZE) as usize;
            let take = ((BLOCK_SIZE - within as u64).min(end - pos)) as usize;
            if within == 0 && take == self.block_len(block) {
                if self.written.contains(&block) {
                    self.forget_block(block)?;
                }
            } else if self.written.contains(&block) {
                let mut merged = self.read_block(block)?;
                merged[within..within + take].fill(0);
                self.write_block(block, &merged)?;
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

    /// Duplicates of the replica's files (data segments and checksums), for a flush that runs
    /// without holding the cluster.
    pub fn sync_handles(&self) -> Result<Vec<std::fs::File>, StorageError> {
        self.with_files(|f| {
            let mut files = f.data.try_clone_files()?;
            files.push(f.sums.try_clone()?);
            Ok(files)
        })
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
        let mut r = Replica::create(dir.path(), &vol("v1"), 1 << 40, 1).unwrap();
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
        let mut r = Replica::create(dir.path(), &vol("v"), 8192, 3).unwrap();
        assert!(matches!(r.write(2, 0, b"x"), Err(StorageError::StaleEpoch { request: 2, replica: 3, .. })));
        assert!(matches!(r.write(3, 8190, b"xyz"), Err(StorageError::OutOfRange { .. })));
        assert!(matches!(r.read(u64::MAX, 2), Err(StorageError::OutOfRange { .. })));
        r.write(3, 8189, b"xyz").unwrap();
    }

    #[test]
    fn zeroing_punches_whole_blocks_and_zeroes_partial_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Replica::create(dir.path(), &vol("v"), 3 * BLOCK_SIZE, 1).unwrap();
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
        let mut r = Replica::create(dir.path(), &vol("v"), 2 * BLOCK_SIZE, 1).unwrap();
        r.write(1, 0, &vec![1u8; 2 * BLOCK_SIZE as usize]).unwrap();
        let f = OpenOptions::new().write(true).open(r.data_path()).unwrap();
        f.write_all_at(&[9], BLOCK_SIZE + 5).unwrap();
        assert!(matches!(r.read(BLOCK_SIZE, 10), Err(StorageError::Corrupt { block: 1, .. })));
        assert_eq!(r.read(0, 10).unwrap(), vec![1u8; 10]);
    }
}
