//! Files replaced so that a crash leaves the old content or the new one, never a mix; and
//! `fdatasync`s run side by side.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, OnceLock, PoisonError};

/// Replaces the file at `path` with `bytes` so that a crash, of the process or of the machine,
/// leaves either the old content or the new one: written beside it, synced, then renamed.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, path)
}

/// One `fdatasync` (or a few, of one file's segments).
pub(crate) type SyncJob = Box<dyn FnOnce() -> std::io::Result<()> + Send>;

/// Long-lived threads for syncs: a flush waits for four `fdatasync`s (data and checksums of two
/// replicas) side by side. Starting a thread for each showed in strace as a clone, mmap and
/// mprotect per sync; these threads remove that work (the write+flush rate did not change
/// measurably: the syncs themselves dominate, docs/measurements.md). Syncs wait on the disk, not
/// the CPU, so a few threads serve the whole process.
const SYNC_THREADS: usize = 4;

type Queued = (SyncJob, mpsc::Sender<std::io::Result<()>>);

fn sync_pool() -> Option<&'static Mutex<mpsc::Sender<Queued>>> {
    static POOL: OnceLock<Option<Mutex<mpsc::Sender<Queued>>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Queued>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..SYNC_THREADS {
            let rx = rx.clone();
            let started = std::thread::Builder::new().name(format!("squall-sync-{i}")).spawn(move || loop {
                let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok((job, reply)) = next else { return };
                let _ = reply.send(job());
            });
            if started.is_err() {
                return None; // no threads to be had: syncs run on the caller
            }
        }
        Some(Mutex::new(tx))
    })
    .as_ref()
}

/// Runs the syncs at once (the last on the calling thread) and returns the first failure.
pub(crate) fn sync_all(mut jobs: Vec<SyncJob>) -> std::io::Result<()> {
    let Some(own) = jobs.pop() else { return Ok(()) };
    let (reply_tx, reply_rx) = mpsc::channel();
    let mut inline = Vec::new();
    let mut queued = 0;
    match sync_pool() {
        Some(pool) => {
            let tx = pool.lock().unwrap_or_else(PoisonError::into_inner).clone();
            for job in jobs {
                match tx.send((job, reply_tx.clone())) {
                    Ok(()) => queued += 1,
                    Err(mpsc::SendError((job, _))) => inline.push(job),
                }
            }
        }
        None => inline = jobs,
    }
    let mut first_error = own().err();
    for job in inline {
        first_error = first_error.or(job().err());
    }
    for _ in 0..queued {
        let result = reply_rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("sync thread ended")));
        first_error = first_error.or(result.err());
    }
    first_error.map_or(Ok(()), Err)
}
