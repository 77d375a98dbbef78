//! A replica's data as a row of sparse files of at most 8 TiB each: ext4 caps a file at 16 TiB,
//! and an io2 volume may have 64 TiB. A volume under 8 TiB is one file.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes per segment file; a multiple of every block size, so no block spans two files.
pub(crate) const SEGMENT_BYTES: u64 = 8 << 40;

#[derive(Debug)]
pub(crate) struct SegmentedFile {
    base: PathBuf,
    files: Vec<File>,
}

fn segment_path(base: &Path, index: usize) -> PathBuf {
    if index == 0 {
        base.to_path_buf()
    } else {
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{index}"));
        PathBuf::from(name)
    }
}

fn segment_count(size: u64) -> usize {
    size.div_ceil(SEGMENT_BYTES).max(1) as usize
}

fn segment_len(size: u64, index: usize) -> u64 {
    size.saturating_sub(index as u64 * SEGMENT_BYTES).min(SEGMENT_BYTES)
}

impl SegmentedFile {
    pub(crate) fn create(base: &Path, size: u64) -> io::Result<Self> {
        let mut files = Vec::new();
        for i in 0..segment_count(size) {
            let f =
                OpenOptions::new().read(true).write(true).create(true).truncate(true).open(segment_path(base, i))?;
            f.set_len(segment_len(size, i))?;
            files.push(f);
        }
        Ok(Self { base: base.to_path_buf(), files })
    }

    /// The segment files a replica of `size` bytes has.
    pub(crate) fn paths(base: &Path, size: u64) -> Vec<PathBuf> {
        (0..segment_count(size)).map(|i| segment_path(base, i)).collect()
    }

    pub(crate) fn open(base: &Path, size: u64) -> io::Result<Self> {
        Self::open_with(base, size, 0)
    }

    /// Opens the segments with extra `open(2)` flags (`O_DIRECT`).
    pub(crate) fn open_with(base: &Path, size: u64, flags: i32) -> io::Result<Self> {
        let files = (0..segment_count(size))
            .map(|i| OpenOptions::new().read(true).write(true).custom_flags(flags).open(segment_path(base, i)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { base: base.to_path_buf(), files })
    }

    /// Grows to `size` bytes, adding segment files as needed.
    pub(crate) fn grow(&mut self, size: u64) -> io::Result<()> {
        for i in 0..segment_count(size) {
            if i >= self.files.len() {
                self.files.push(
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(segment_path(&self.base, i))?,
                );
            }
            self.files[i].set_len(segment_len(size, i))?;
        }
        Ok(())
    }

    /// Calls `f(file, offset in file, range in buffer)` for each segment `[offset, offset+len)` touches.
    fn each(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(&File, u64, std::ops::Range<usize>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let index = (at / SEGMENT_BYTES) as usize;
            let within = at % SEGMENT_BYTES;
            let take = ((SEGMENT_BYTES - within) as usize).min(len - done);
            let file = self
                .files
                .get(index)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset beyond the replica"))?;
            f(file, within, done..done + take)?;
            done += take;
        }
        Ok(())
    }

    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = (at / SEGMENT_BYTES) as usize;
            let within = at % SEGMENT_BYTES;
            let take = ((SEGMENT_BYTES - within) as usize).min(buf.len() - done);
            let file = self
                .files
                .get(index)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset beyond the replica"))?;
            file.read_exact_at(&mut buf[done..done + take], within)?;
            done += take;
        }
        Ok(())
    }

    pub(crate) fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.each(offset, buf.len(), |file, at, range| file.write_all_at(&buf[range], at))
    }

    /// Gives a range's space back to the file system (it reads as zeros).
    pub(crate) fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        self.each(offset, len as usize, |file, at, range| {
            rustix::fs::fallocate(
                file,
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
                at,
                range.len() as u64,
            )
            .map_err(io::Error::from)
        })
    }

    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.files.iter().try_for_each(File::sync_data)
    }

    /// Removes every segment file of `base`.
    pub(crate) fn remove(base: &Path) -> io::Result<()> {
        for i in 0.. {
            match fs::remove_file(segment_path(base, i)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_tib_replica_spans_eight_files_and_io_crosses_their_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("v.data");
        let f = SegmentedFile::create(&base, 64 << 40).unwrap();
        assert_eq!(f.files.len(), 8);
        let data: Vec<u8> = (0..8192u32).map(|i| i as u8).collect();
        f.write_all_at(&data, SEGMENT_BYTES - 4096).unwrap();
        let mut back = vec![0u8; 8192];
        f.read_exact_at(&mut back, SEGMENT_BYTES - 4096).unwrap();
        assert_eq!(back, data);
        f.punch_hole(SEGMENT_BYTES - 4096, 8192).unwrap();
        f.read_exact_at(&mut back, SEGMENT_BYTES - 4096).unwrap();
        assert!(back.iter().all(|&b| b == 0));
        let mut small = SegmentedFile::create(&dir.path().join("w.data"), 1 << 20).unwrap();
        assert_eq!(small.files.len(), 1);
        small.grow(9 << 40).unwrap();
        assert_eq!(small.files.len(), 2);
        SegmentedFile::remove(&base).unwrap();
        assert!(!base.exists() && !segment_path(&base, 7).exists());
    }
}
