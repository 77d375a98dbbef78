//! The block data path: attached EBS volumes exported over the Network Block Device protocol
//! (fixed newstyle handshake, structured replies), the protocol qemu, nbdkit, libnbd, fio and
//! the Linux kernel speak. The export name is the volume id; only `in-use` volumes are exported,
//! as on AWS only an instance does I/O.
//!
//! Requests of one connection run concurrently and may be answered out of order. A request to a
//! volume that is stuck, or whose I/O is disabled, is *held* — the client sees I/O hang, as EC2
//! instances did in April 2011 — and completes when the volume recovers, unless an `io_timeout`
//! is set, in which case it fails with `EIO` after that long (a stock Linux NVMe driver).

pub mod client;
pub mod proto;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use squall_control::block_io::{Export, IoError};
use squall_control::ControlPlane;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use proto::*;

/// Where the bytes are: the control plane in squall, an in-memory disk in unit tests.
pub trait Backend: Send + Sync + 'static {
    /// Every export, in name order (`NBD_OPT_LIST`).
    fn exports(&self) -> Vec<Export>;
    /// The export called `name`, or why there is none.
    fn export(&self, name: &str) -> Result<Export, IoError>;
    fn read(&self, export: &Export, offset: u64, len: u32) -> Result<Vec<u8>, IoError>;
    fn write(&self, export: &Export, offset: u64, data: &[u8]) -> Result<(), IoError>;
    fn zero(&self, export: &Export, offset: u64, len: u32) -> Result<(), IoError>;
    fn flush(&self, export: &Export) -> Result<(), IoError>;
}

impl Backend for ControlPlane {
    fn exports(&self) -> Vec<Export> {
        ControlPlane::exports(self)
    }

    fn export(&self, name: &str) -> Result<Export, IoError> {
        ControlPlane::export(self, name)
    }

    // Block I/O reads the region's data-path view and locks only the volume's zone cluster: it
    // never waits for an API call or a metadata write.
    fn read(&self, export: &Export, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        self.region(&export.region).io_read(&export.volume, offset, u64::from(len), self.now_ms())
    }

    fn write(&self, export: &Export, offset: u64, data: &[u8]) -> Result<(), IoError> {
        self.region(&export.region).io_write(&export.volume, offset, data, self.now_ms())
    }

    fn zero(&self, export: &Export, offset: u64, len: u32) -> Result<(), IoError> {
        self.region(&export.region).io_zero(&export.volume, offset, u64::from(len), self.now_ms())
    }

    fn flush(&self, export: &Export) -> Result<(), IoError> {
        // The fdatasyncs run after the cluster is let go: other I/O goes on.
        self.region(&export.region).io_flush(&export.volume, self.now_ms())
    }
}

/// What a running NBD server reports about one export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Open connections to the export.
    pub sessions: usize,
    /// Requests held right now because the volume is stuck or its I/O disabled.
    pub held: usize,
    /// Requests that failed with `EIO` because `io_timeout` ran out while held.
    pub timed_out: u64,
}

/// The NBD server's shared state: backend, settings, per-export statistics.
pub struct Nbd {
    backend: Arc<dyn Backend>,
    /// Held requests fail after this many ms; 0 holds them until the volume recovers.
    io_timeout_ms: AtomicU64,
    stats: Mutex<BTreeMap<String, ExportStats>>,
    limits: Limits,
    /// One permit per connection the listener may hold open.
    connections: Arc<Semaphore>,
}

/// What one client may hold of the NBD server: fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; beyond it, new ones wait in the listen backlog until one ends.
    pub max_connections: usize,
    /// The handshake (from connect to the chosen export) must end within this.
    pub handshake_timeout: Duration,
    /// A connection that sends no request for this long is closed (`None`: never; a guest's
    /// disk may rightly sit idle for hours, as a kernel NBD client's does).
    pub idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_connections: 1024, handshake_timeout: Duration::from_secs(30), idle_timeout: None }
    }
}

/// Requests of one connection in flight at once.
const MAX_IN_FLIGHT: u32 = 64;
/// Reads and writes of at least this many bytes run on a blocking thread: a large write goes to
/// the disk directly (`O_DIRECT`) and a large read may too, each taking up to milliseconds that
/// would stall every connection sharing the async worker. Smaller ones are page-cache copies,
/// cheaper than the hand-over to another thread.
const BLOCKING_IO_BYTES: u32 = 64 << 10;
/// Where a write's payload starts in memory: the block store writes runs of whole blocks from a
/// buffer aligned like this straight to the disk (`O_DIRECT`), without copying them.
const PAYLOAD_ALIGN: usize = 4096;
/// Bytes of READ and WRITE data one connection may hold in memory at once (payloads read, replies
/// not yet sent), in units of 64 KiB: 256 MiB, so 64 requests of 32 MiB cannot take 2 GiB.
const BUDGET_UNIT: u32 = 64 << 10;
const MAX_BUDGET_UNITS: u32 = (256 << 20) / BUDGET_UNIT;
/// How often a session checks that its volume is still attached.
const ATTACHMENT_CHECK: Duration = Duration::from_millis(200);

impl Nbd {
    pub fn new(backend: Arc<dyn Backend>) -> Arc<Self> {
        Self::with_limits(backend, Limits::default())
    }

    pub fn with_limits(backend: Arc<dyn Backend>, limits: Limits) -> Arc<Self> {
        let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        Arc::new(Self {
            backend,
            io_timeout_ms: AtomicU64::new(0),
            stats: Mutex::new(BTreeMap::new()),
            limits,
            connections,
        })
    }

    /// Sets the I/O timeout for held requests (`None`: hold until the volume recovers).
    pub fn set_io_timeout(&self, timeout: Option<Duration>) {
        self.io_timeout_ms.store(timeout.map_or(0, |t| t.as_millis().max(1) as u64), Ordering::Relaxed);
    }

    pub fn io_timeout(&self) -> Option<Duration> {
        match self.io_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Statistics of every export that has had a session, by volume id.
    pub fn stats(&self) -> BTreeMap<String, ExportStats> {
        self.lock_stats().clone()
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ExportStats>> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, volume: &str, f: impl FnOnce(&mut ExportStats)) {
        f(self.lock_stats().entry(volume.to_string()).or_default());
    }

    /// Accepts connections until `shutdown` completes; each connection is one session.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            // A connection past the cap waits in the listen backlog: the ones open go on.
            let permit = tokio::select! {
                permit = self.connections.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let nbd = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = nbd.session(stream).await {
                                tracing::debug!(%peer, error = %e, "NBD session ended with an error");
                            }
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "NBD accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
    }

    /// One connection: the handshake, then transmission until the client disconnects, the
    /// volume is detached, or the stream breaks.
    pub async fn session<S: AsyncRead + AsyncWrite + Send + 'static>(self: Arc<Self>, stream: S) -> io::Result<()> {
        let (mut r, w) = tokio::io::split(stream);
        let mut w = BufWriter::new(w);
        let handshake = tokio::time::timeout(self.limits.handshake_timeout, self.handshake(&mut r, &mut w));
        let Ok(handshake) = handshake.await else {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the NBD handshake did not end in time"));
        };
        let Some((export, structured)) = handshake? else {
            w.flush().await?;
            return Ok(());
        };
        let volume = export.volume.to_string();
        self.update(&volume, |s| s.sessions += 1);
        let result = self.clone().transmission(export, structured, r, w).await;
        self.update(&volume, |s| s.sessions -= 1);
        result
    }

    /// Option haggling; answers the export to serve and whether replies are structured, or
    /// `None` when the client leaves (or must be left) without one.
    async fn handshake<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        r: &mut R,
        w: &mut W,
    ) -> io::Result<Option<(Export, bool)>> {
        w.write_all(&NBDMAGIC.to_be_bytes()).await?;
        w.write_all(&IHAVEOPT.to_be_bytes()).await?;
        w.write_all(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes()).await?;
        w.flush().await?;
        let client_flags = r.read_u32().await?;
        if client_flags & !(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES) != 0 {
            // The protocol: a server that does not recognise the client's flags closes.
            return Ok(None);
        }
        let no_zeroes = client_flags & CLIENT_NO_ZEROES != 0;
        let mut structured = false;
        loop {
            if r.read_u64().await? != IHAVEOPT {
                return Ok(None);
            }
            let option = r.read_u32().await?;
            let len = r.read_u32().await?;
            if len > MAX_OPTION_DATA {
                return Ok(None);
            }
            let mut data = vec![0u8; len as usize];
            r.read_exact(&mut data).await?;
            let reply = |kind: u32, data: &[u8]| option_reply(option, kind, data);
            match option {
                OPT_EXPORT_NAME => {
                    let Ok(name) = String::from_utf8(data) else { return Ok(None) };
                    // This option has no error reply: an unknown export ends the connection.
                    let Ok(export) = self.lookup(&name).await else { return Ok(None) };
                    w.write_all(&export.size_bytes.to_be_bytes()).await?;
                    w.write_all(&TRANSMISSION_FLAGS.to_be_bytes()).await?;
                    if !no_zeroes {
                        w.write_all(&[0u8; 124]).await?;
                    }
                    w.flush().await?;
                    return Ok(Some((export, false)));
                }
                OPT_ABORT => {
                    w.write_all(&reply(REP_ACK, &[])).await?;
                    w.flush().await?;
                    return Ok(None);
                }
                OPT_LIST => {
                    if !data.is_empty() {
                        w.write_all(&reply(REP_ERR_INVALID, b"NBD_OPT_LIST takes no data")).await?;
                    } else {
                        let backend = self.backend.clone();
                        let exports = tokio::task::spawn_blocking(move || backend.exports()).await.unwrap_or_default();
                        for e in exports {
                            let name = e.volume.to_string();
                            let mut d = (name.len() as u32).to_be_bytes().to_vec();
                            d.extend_from_slice(name.as_bytes());
                            d.extend_from_slice(e.description.as_bytes());
                            w.write_all(&reply(REP_SERVER, &d)).await?;
                        }
                        w.write_all(&reply(REP_ACK, &[])).await?;
                    }
                }
                OPT_INFO | OPT_GO => {
                    let Some(request) = parse_info_request(&data) else {
                        w.write_all(&reply(REP_ERR_INVALID, b"malformed NBD_OPT_INFO/NBD_OPT_GO data")).await?;
                        w.flush().await?;
                        continue;
                    };
                    match self.lookup(&request.name).await {
                        Err(e) => {
                            let message = match &e {
                                IoError::NotFound(v) => format!("{v}: no such volume"),
                                IoError::NotAttached { volume, state } => {
                                    format!("{volume} is {state}: only attached (in-use) volumes are exported")
                                }
                                other => other.to_string(),
                            };
                            w.write_all(&reply(REP_ERR_UNKNOWN, message.as_bytes())).await?;
                        }
                        Ok(export) => {
                            w.write_all(&reply(REP_INFO, &info_export(export.size_bytes, TRANSMISSION_FLAGS))).await?;
                            w.write_all(&reply(REP_INFO, &info_block_size())).await?;
                            if request.infos.contains(&INFO_NAME) {
                                w.write_all(&reply(REP_INFO, &info_text(INFO_NAME, &request.name))).await?;
                            }
                            if request.infos.contains(&INFO_DESCRIPTION) {
                                w.write_all(&reply(REP_INFO, &info_text(INFO_DESCRIPTION, &export.description)))
                                    .await?;
                            }
                            w.write_all(&reply(REP_ACK, &[])).await?;
                            if option == OPT_GO {
                                w.flush().await?;
                                return Ok(Some((export, structured)));
                            }
                        }
                    }
                }
                OPT_STRUCTURED_REPLY => {
                    if data.is_empty() {
                        structured = true;
                        w.write_all(&reply(REP_ACK, &[])).await?;
                    } else {
                        w.write_all(&reply(REP_ERR_INVALID, b"NBD_OPT_STRUCTURED_REPLY takes no data")).await?;
                    }
                }
                OPT_STARTTLS => w.write_all(&reply(REP_ERR_UNSUP, b"squall does not offer TLS")).await?,
                _ => w.write_all(&reply(REP_ERR_UNSUP, b"option not supported by squall")).await?,
            }
            w.flush().await?;
        }
    }

    async fn lookup(&self, name: &str) -> Result<Export, IoError> {
        let backend = self.backend.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || backend.export(&name))
            .await
            .unwrap_or_else(|e| Err(IoError::Storage(e.to_string())))
    }

    async fn transmission<R, W>(
        self: Arc<Self>,
        export: Export,
        structured: bool,
        mut r: R,
        w: BufWriter<W>,
    ) -> io::Result<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let export = Arc::new(export);
        let (tx, rx) = mpsc::channel::<(Vec<u8>, OwnedSemaphorePermit)>(2 * MAX_IN_FLIGHT as usize);
        let writer = tokio::spawn(write_replies(rx, w));
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize));
        let budget = Arc::new(Semaphore::new(MAX_BUDGET_UNITS as usize));
        // Set when the volume is detached or deleted: the session ends cleanly.
        let gone = Arc::new(AtomicBool::new(false));
        let gone_notify = Arc::new(Notify::new());
        let watcher = tokio::spawn(watch_attachment(self.clone(), export.clone(), gone.clone(), gone_notify.clone()));
        let mut header = [0u8; REQUEST_LEN];
        let outcome = loop {
            // Idle: no request arrives for the idle time counted from when none is in flight
            // (a request held on a stuck volume may rightly wait for hours).
            let idle = async {
                let Some(t) = self.limits.idle_timeout else { return std::future::pending().await };
                if let Ok(all) = slots.acquire_many(MAX_IN_FLIGHT).await {
                    drop(all);
                }
                tokio::time::sleep(t).await;
            };
            let read = tokio::select! {
                read = r.read_exact(&mut header) => read,
                () = gone_notify.notified() => break Ok(()),
                // No request for the idle time: the connection ends, like a detach.
                () = idle => break Ok(()),
            };
            match read {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
                Err(e) => break Err(e),
            }
            // A wrong magic means the stream is out of step: end the connection.
            let Some(request) = parse_request(&header) else { break Ok(()) };
            if request.kind == CMD_WRITE && request.length > MAX_PAYLOAD {
                // The payload cannot be trusted (or skipped safely): disconnect, write nothing.
                break Ok(());
            }
            // Data this request will hold in memory (its payload or its reply), taken from the
            // connection's budget before the payload is read; an oversized READ costs nothing
            // (it is refused without reading).
            let units = match request.kind {
                CMD_READ | CMD_WRITE if request.length <= MAX_PAYLOAD => request.length.div_ceil(BUDGET_UNIT).max(1),
                _ => 1,
            };
            let Ok(held_bytes) = budget.clone().acquire_many_owned(units).await else { break Ok(()) };
            let mut payload = Payload::new(0);
            if request.kind == CMD_WRITE {
                payload = Payload::new(request.length as usize);
                if let Err(e) = r.read_exact(payload.as_mut_slice()).await {
                    // A partial write payload is never applied.
                    break if e.kind() == io::ErrorKind::UnexpectedEof { Ok(()) } else { Err(e) };
                }
            }
            if request.kind == CMD_DISC {
                break Ok(());
            }
            let Ok(permit) = slots.clone().acquire_owned().await else { break Ok(()) };
            let nbd = self.clone();
            let export = export.clone();
            let tx = tx.clone();
            let gone = gone.clone();
            tokio::spawn(async move {
                let reply = nbd.serve_request(&export, request, payload, structured, &gone).await;
                // The budget goes back once the reply is on the wire.
                let _ = tx.send((reply, held_bytes)).await;
                drop(permit);
            });
        };
        watcher.abort();
        // Let every request in flight answer before the connection closes.
        let _ = slots.acquire_many(MAX_IN_FLIGHT).await;
        drop(tx);
        let written = writer.await.unwrap_or_else(|e| Err(io::Error::other(e)));
        outcome.and(written)
    }

    /// Runs one request and encodes its reply.
    async fn serve_request(
        self: Arc<Self>,
        export: &Arc<Export>,
        request: Request,
        payload: Payload,
        structured: bool,
        gone: &AtomicBool,
    ) -> Vec<u8> {
        let cookie = request.cookie;
        let end = request.offset.checked_add(u64::from(request.length));
        let beyond = end.is_none_or(|e| e > export.size_bytes);
        let fua = request.flags & CMD_FLAG_FUA != 0;
        let result: Result<Option<Vec<u8>>, (u32, String)> = if gone.load(Ordering::Relaxed) {
            Err((ESHUTDOWN, format!("{} is no longer attached", export.volume)))
        } else {
            match request.kind {
                CMD_READ if request.length > MAX_PAYLOAD => Err((EINVAL, "read larger than 32 MiB".into())),
                CMD_READ if beyond => Err((EINVAL, "read beyond the end of the volume".into())),
                CMD_READ => {
                    let (offset, len) = (request.offset, request.length);
                    let blocking = len >= BLOCKING_IO_BYTES;
                    self.io(export, blocking, move |b, e| b.read(e, offset, len)).await.map(Some)
                }
                CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES if beyond => {
                    Err((ENOSPC, "write beyond the end of the volume".into()))
                }
                CMD_WRITE => {
                    let offset = request.offset;
                    let blocking = request.length >= BLOCKING_IO_BYTES;
                    let data = Arc::new(payload);
                    self.io(export, blocking, move |b, e| b.write(e, offset, data.as_slice())).await.map(|()| None)
                }
                CMD_TRIM | CMD_WRITE_ZEROES => {
                    let (offset, len) = (request.offset, request.length);
                    self.io(export, false, move |b, e| b.zero(e, offset, len)).await.map(|()| None)
                }
                CMD_FLUSH => self.io(export, true, |b, e| b.flush(e)).await.map(|()| None),
                other => Err((EINVAL, format!("unknown command {other}"))),
            }
        };
        // FUA: durable on both replicas before the reply.
        let result = match result {
            Ok(None) if fua && matches!(request.kind, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES) => {
                self.io(export, true, |b, e| b.flush(e)).await.map(|()| None)
            }
            other => other,
        };
        match (result, structured) {
            (Ok(Some(data)), true) => {
                let mut out =
                    chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, cookie, 8 + data.len() as u32).to_vec();
                out.extend_from_slice(&request.offset.to_be_bytes());
                out.extend_from_slice(&data);
                out
            }
            (Ok(Some(data)), false) => {
                let mut out = simple_reply(0, cookie).to_vec();
                out.extend_from_slice(&data);
                out
            }
            (Ok(None), _) => simple_reply(0, cookie).to_vec(),
            (Err((errno, message)), true) if request.kind == CMD_READ => error_chunk(cookie, errno, &message),
            (Err((errno, _)), _) => simple_reply(errno, cookie).to_vec(),
        }
    }

    /// Runs `op` on the backend, holding (retrying) while the volume is stuck or its I/O is
    /// disabled, until it recovers or `io_timeout` runs out. With `blocking` (a FLUSH's
    /// `fdatasync`s, large reads and writes) it runs on a blocking thread; small reads and writes
    /// (page-cache copies) run on the async worker, where the hand-over would cost more than
    /// the I/O.
    async fn io<T: Send + 'static>(
        &self,
        export: &Arc<Export>,
        blocking: bool,
        op: impl Fn(&dyn Backend, &Export) -> Result<T, IoError> + Send + Sync + 'static,
    ) -> Result<T, (u32, String)> {
        let op = Arc::new(op);
        let started = Instant::now();
        let mut held = false;
        let mut delay = Duration::from_millis(5);
        let volume = export.volume.to_string();
        let result = loop {
            let outcome = if blocking {
                let (backend, export2, op2) = (self.backend.clone(), export.clone(), op.clone());
                tokio::task::spawn_blocking(move || op2(backend.as_ref(), &export2))
                    .await
                    .unwrap_or_else(|e| Err(IoError::Storage(e.to_string())))
            } else {
                op(self.backend.as_ref(), export)
            };
            match outcome {
                Err(IoError::Held(_)) => {
                    if !held {
                        held = true;
                        self.update(&volume, |s| s.held += 1);
                    }
                    if self.io_timeout().is_some_and(|t| started.elapsed() >= t) {
                        self.update(&volume, |s| s.timed_out += 1);
                        break Err((EIO, format!("{volume}: I/O timed out while the volume was stuck")));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Ok(v) => break Ok(v),
                Err(IoError::NotFound(_) | IoError::NotAttached { .. }) => {
                    break Err((ESHUTDOWN, format!("{volume} is no longer attached")))
                }
                Err(IoError::OutOfRange { .. }) => break Err((ENOSPC, "beyond the end of the volume".into())),
                Err(e @ IoError::Storage(_)) => break Err((EIO, e.to_string())),
            }
        };
        if held {
            self.update(&volume, |s| s.held -= 1);
        }
        result
    }
}

/// A WRITE's payload, placed at a [`PAYLOAD_ALIGN`] boundary inside its allocation.
struct Payload {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Payload {
    fn new(len: usize) -> Self {
        if len == 0 {
            return Self { raw: Vec::new(), start: 0, len: 0 };
        }
        let raw = vec![0u8; len + PAYLOAD_ALIGN - 1];
        // Less than PAYLOAD_ALIGN by construction; were it not, the block store would simply take
        // the page-cache path for this write.
        let start = raw.as_ptr().align_offset(PAYLOAD_ALIGN).min(PAYLOAD_ALIGN - 1);
        Self { raw, start, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// Sends replies in the order they are ready, flushing whenever no other reply is waiting.
async fn write_replies<W: AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<(Vec<u8>, OwnedSemaphorePermit)>,
    mut w: BufWriter<W>,
) -> io::Result<()> {
    while let Some((reply, _budget)) = rx.recv().await {
        w.write_all(&reply).await?;
        if rx.is_empty() {
            w.flush().await?;
        }
    }
    w.flush().await?;
    w.shutdown().await
}

/// Ends the session (cleanly) once the volume is no longer attached.
async fn watch_attachment(nbd: Arc<Nbd>, export: Arc<Export>, gone: Arc<AtomicBool>, notify: Arc<Notify>) {
    let name = export.volume.to_string();
    loop {
        tokio::time::sleep(ATTACHMENT_CHECK).await;
        if let Err(IoError::NotFound(_) | IoError::NotAttached { .. }) = nbd.lookup(&name).await {
            gone.store(true, Ordering::Relaxed);
            notify.notify_one();
            return;
        }
    }
}
