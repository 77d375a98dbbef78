//! The NBD session against an in-memory backend: round trips, held I/O and its timeout, the
//! end of a session when the volume goes, protocol violations, and a seeded fuzz of the
//! handshake and command parser (`SQUALL_NBD_FUZZ_SEED` replays one seed,
//! `SQUALL_NBD_FUZZ_CASES` sets how many run).

#![allow(clippy::unwrap_used)] // test helpers, like the tests themselves, may unwrap

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, RngCore, SeedableRng};
use squall_control::block_io::{Export, IoError};
use squall_control::{RegionName, VolumeId};
use squall_nbd::client::Client;
use squall_nbd::proto::*;
use squall_nbd::{Backend, Nbd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VOLUME: &str = "vol-0123456789abcdef0";
const SIZE: u64 = 4 << 20;

#[derive(Default)]
struct Memory {
    data: Mutex<Vec<u8>>,
    stuck: AtomicBool,
    detached: AtomicBool,
    /// Lengths of the writes applied, to check none was partial.
    writes: Mutex<Vec<(u64, usize)>>,
}

impl Memory {
    fn new() -> Arc<Self> {
        Arc::new(Self { data: Mutex::new(vec![0; SIZE as usize]), ..Self::default() })
    }

    fn check(&self, offset: u64, len: u64) -> Result<(), IoError> {
        if self.detached.load(Ordering::SeqCst) {
            return Err(IoError::NotAttached { volume: VOLUME.into(), state: "available" });
        }
        if self.stuck.load(Ordering::SeqCst) {
            return Err(IoError::Held(VOLUME.into()));
        }
        if offset + len > SIZE {
            return Err(IoError::OutOfRange { offset, len, size: SIZE });
        }
        Ok(())
    }
}

impl Backend for Memory {
    fn exports(&self) -> Vec<Export> {
        self.export(VOLUME).into_iter().collect()
    }

    fn export(&self, name: &str) -> Result<Export, IoError> {
        if name != VOLUME {
            return Err(IoError::NotFound(name.to_string()));
        }
        if self.detached.load(Ordering::SeqCst) {
            return Err(IoError::NotAttached { volume: VOLUME.into(), state: "available" });
        }
        Ok(Export {
            volume: VolumeId::parse(VOLUME).unwrap(),
            region: RegionName::parse("us-east-1").unwrap(),
            size_bytes: SIZE,
            description: "test volume".into(),
        })
    }

    fn read(&self, _: &Export, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        self.check(offset, u64::from(len))?;
        let data = self.data.lock().unwrap();
        Ok(data[offset as usize..offset as usize + len as usize].to_vec())
    }

    fn write(&self, _: &Export, offset: u64, bytes: &[u8]) -> Result<(), IoError> {
        self.check(offset, bytes.len() as u64)?;
        self.data.lock().unwrap()[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
        self.writes.lock().unwrap().push((offset, bytes.len()));
        Ok(())
    }

    fn zero(&self, _: &Export, offset: u64, len: u32) -> Result<(), IoError> {
        self.check(offset, u64::from(len))?;
        self.data.lock().unwrap()[offset as usize..offset as usize + len as usize].fill(0);
        Ok(())
    }

    fn flush(&self, _: &Export) -> Result<(), IoError> {
        self.check(0, 0)
    }
}

/// A session on one end of an in-memory pipe; the client gets the other end.
fn pipe(nbd: &Arc<Nbd>) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (client, server) = tokio::io::duplex(1 << 20);
    let session = tokio::spawn(nbd.clone().session(server));
    (client, session)
}

async fn client(nbd: &Arc<Nbd>) -> (Client<tokio::io::DuplexStream>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (stream, session) = pipe(nbd);
    (Client::handshake(stream, VOLUME).await.expect("handshake"), session)
}

#[tokio::test]
async fn writes_read_back_and_replies_may_come_out_of_order() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    let (mut c, session) = client(&nbd).await;
    assert_eq!(c.size, SIZE);
    assert_eq!(c.flags, TRANSMISSION_FLAGS);
    let pattern: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.write(4096, &pattern).await.unwrap(), Ok(vec![]));
    assert_eq!(c.read(4096, 65536).await.unwrap(), Ok(pattern.clone()));
    // Unaligned I/O works too (the default minimum block size is 1).
    assert_eq!(c.write(3, b"abc").await.unwrap(), Ok(vec![]));
    assert_eq!(c.read(0, 8).await.unwrap(), Ok(vec![0, 0, 0, b'a', b'b', b'c', 0, 0]));
    // Pipelined requests each get their own reply.
    let mut cookies = Vec::new();
    for i in 0..32u64 {
        cookies.push(c.send(CMD_WRITE, CMD_FLAG_FUA, i * 512, 512, &[i as u8; 512]).await.unwrap());
    }
    let mut answered = Vec::new();
    for _ in 0..32 {
        let (cookie, reply) = c.receive().await.unwrap();
        assert_eq!(reply, Ok(vec![]));
        answered.push(cookie);
    }
    answered.sort_unstable();
    assert_eq!(answered, cookies);
    assert_eq!(c.read(31 * 512, 512).await.unwrap(), Ok(vec![31; 512]));
    // TRIM and WRITE_ZEROES zero the range; FLUSH succeeds.
    let cookie = c.send(CMD_WRITE_ZEROES, 0, 0, 1024, &[]).await.unwrap();
    assert_eq!(c.receive().await.unwrap(), (cookie, Ok(vec![])));
    assert_eq!(c.read(0, 1024).await.unwrap(), Ok(vec![0; 1024]));
    assert_eq!(c.flush().await.unwrap(), Ok(vec![]));
    c.disconnect().await.unwrap();
    session.await.unwrap().unwrap();
    assert_eq!(nbd.stats()[VOLUME].sessions, 0);
}

#[tokio::test]
async fn out_of_range_and_unknown_commands_get_errors_not_disconnects() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    let (mut c, _session) = client(&nbd).await;
    assert_eq!(c.write(SIZE - 2, b"four").await.unwrap(), Err(ENOSPC));
    assert_eq!(c.read(SIZE, 1).await.unwrap(), Err(EINVAL));
    assert_eq!(c.read(u64::MAX - 1, 16).await.unwrap(), Err(EINVAL), "offset + length overflows");
    let cookie = c.send(99, 0, 0, 0, &[]).await.unwrap();
    assert_eq!(c.receive().await.unwrap(), (cookie, Err(EINVAL)));
    assert_eq!(c.read(0, 4).await.unwrap(), Ok(vec![0; 4]), "the session goes on");
    assert!(memory.writes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_and_unattached_exports_are_refused_with_a_message() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    let (stream, _) = pipe(&nbd);
    let err = Client::handshake(stream, "vol-ffffffffffffffff0").await.err().expect("refused");
    assert!(err.to_string().contains("no such volume"), "{err}");
    memory.detached.store(true, Ordering::SeqCst);
    let (stream, _) = pipe(&nbd);
    let err = Client::handshake(stream, VOLUME).await.err().expect("refused");
    assert!(err.to_string().contains("only attached (in-use) volumes are exported"), "{err}");
}

#[tokio::test]
async fn a_stuck_volume_holds_io_until_it_recovers() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    let (mut c, _session) = client(&nbd).await;
    memory.stuck.store(true, Ordering::SeqCst);
    let cookie = c.send(CMD_WRITE, 0, 0, 4, b"held").await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), c.receive()).await;
    assert!(waited.is_err(), "a write to a stuck volume must hang, not fail");
    assert_eq!(nbd.stats()[VOLUME].held, 1);
    memory.stuck.store(false, Ordering::SeqCst);
    assert_eq!(c.receive().await.unwrap(), (cookie, Ok(vec![])));
    assert_eq!(nbd.stats()[VOLUME].held, 0);
    assert_eq!(c.read(0, 4).await.unwrap(), Ok(b"held".to_vec()));
}

#[tokio::test]
async fn with_an_io_timeout_held_requests_fail_with_eio() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    nbd.set_io_timeout(Some(Duration::from_millis(100)));
    let (mut c, _session) = client(&nbd).await;
    memory.stuck.store(true, Ordering::SeqCst);
    assert_eq!(c.write(0, b"lost").await.unwrap(), Err(EIO));
    assert_eq!(c.read(0, 4).await.unwrap(), Err(EIO));
    assert_eq!(nbd.stats()[VOLUME].timed_out, 2);
    memory.stuck.store(false, Ordering::SeqCst);
    assert_eq!(c.read(0, 4).await.unwrap(), Ok(vec![0; 4]), "nothing was written");
}

#[tokio::test]
async fn detaching_the_volume_ends_the_session() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    let (mut c, session) = client(&nbd).await;
    assert_eq!(c.write(0, b"x").await.unwrap(), Ok(vec![]));
    memory.detached.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("the session ends").unwrap().unwrap();
    assert!(c.read(0, 1).await.is_err(), "the connection is closed");
}

#[tokio::test]
async fn protocol_violations_disconnect_without_writing() {
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    // A write larger than the maximum payload: the server cannot trust the stream and leaves.
    let (mut c, session) = client(&nbd).await;
    c.send(CMD_WRITE, 0, 0, MAX_PAYLOAD + 1, &[1; 1024]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("disconnects").unwrap().unwrap();
    // A bad request magic, and a write whose payload never fully arrives.
    let (mut raw, session) = pipe(&nbd);
    let mut c2 = Client::handshake(&mut raw, VOLUME).await.unwrap();
    c2.send(CMD_WRITE, 0, 0, 4096, &[7; 100]).await.unwrap();
    raw.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("disconnects").unwrap().unwrap();
    let (mut raw, session) = pipe(&nbd);
    let _c3 = Client::handshake(&mut raw, VOLUME).await.unwrap();
    raw.write_all(&[0xde; REQUEST_LEN]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("disconnects").unwrap().unwrap();
    assert!(memory.writes.lock().unwrap().is_empty(), "no partial or untrusted write was applied");
    // Unknown client flags end the handshake.
    let (mut raw, session) = pipe(&nbd);
    let mut greeting = [0u8; 18];
    raw.read_exact(&mut greeting).await.unwrap();
    raw.write_all(&0x8000_0000u32.to_be_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("disconnects").unwrap().unwrap();
}

/// A valid greeting and option prefix, then random bytes; or random bytes from the start.
fn fuzz_input(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.gen_bool(0.7) {
        out.extend_from_slice(&(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES).to_be_bytes());
        for _ in 0..rng.gen_range(0..4) {
            let option = [OPT_LIST, OPT_INFO, OPT_STRUCTURED_REPLY, OPT_STARTTLS, 77][rng.gen_range(0..5)];
            let data_len = rng.gen_range(0..40usize);
            out.extend_from_slice(&IHAVEOPT.to_be_bytes());
            out.extend_from_slice(&option.to_be_bytes());
            out.extend_from_slice(&(data_len as u32).to_be_bytes());
            out.extend((0..data_len).map(|_| rng.gen::<u8>()));
        }
        if rng.gen_bool(0.8) {
            let mut go = (VOLUME.len() as u32).to_be_bytes().to_vec();
            go.extend_from_slice(VOLUME.as_bytes());
            go.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&IHAVEOPT.to_be_bytes());
            out.extend_from_slice(&OPT_GO.to_be_bytes());
            out.extend_from_slice(&(go.len() as u32).to_be_bytes());
            out.extend_from_slice(&go);
            for _ in 0..rng.gen_range(0..6) {
                // Requests with random fields, sometimes a valid magic and small lengths.
                let mut h = [0u8; REQUEST_LEN];
                rng.fill_bytes(&mut h);
                if rng.gen_bool(0.8) {
                    h[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
                    h[6..8].copy_from_slice(&(rng.gen_range(0..9u16)).to_be_bytes());
                    let offset = if rng.gen_bool(0.5) { rng.gen_range(0..SIZE + 10) } else { rng.gen() };
                    h[16..24].copy_from_slice(&offset.to_be_bytes());
                    h[24..].copy_from_slice(&rng.gen_range(0..5000u32).to_be_bytes());
                }
                out.extend_from_slice(&h);
                let extra = rng.gen_range(0..6000usize);
                out.extend((0..extra).map(|_| rng.gen::<u8>()));
            }
        }
    }
    out.extend((0..rng.gen_range(0..200usize)).map(|_| rng.gen::<u8>()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_handshakes_and_commands_never_panic_or_hang() {
    let seeds: Vec<u64> = match std::env::var("SQUALL_NBD_FUZZ_SEED") {
        Ok(s) => vec![s.parse().expect("a u64 seed")],
        Err(_) => {
            let cases = std::env::var("SQUALL_NBD_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000u64);
            (0..cases).collect()
        }
    };
    eprintln!("NBD fuzz: {} cases (seeds {}..={})", seeds.len(), seeds[0], seeds[seeds.len() - 1]);
    let memory = Memory::new();
    let nbd = Nbd::new(memory.clone());
    for seed in seeds {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let input = fuzz_input(&mut rng);
        let (mut raw, session) = pipe(&nbd);
        let reader = tokio::spawn(async move {
            // Drain whatever the server answers while the input goes in.
            let (mut r, mut w) = tokio::io::split(&mut raw);
            let drain = async {
                let mut sink = Vec::new();
                let _ = r.read_to_end(&mut sink).await;
            };
            let feed = async {
                let _ = w.write_all(&input).await;
                let _ = w.shutdown().await;
            };
            tokio::join!(drain, feed);
        });
        let ended = tokio::time::timeout(Duration::from_secs(10), session).await;
        let outcome = ended.unwrap_or_else(|_| panic!("seed {seed}: the session hung"));
        assert!(outcome.is_ok(), "seed {seed}: the session panicked: {outcome:?}");
        reader.await.unwrap();
    }
    let writes = memory.writes.lock().unwrap();
    assert!(writes.iter().all(|(offset, len)| offset + *len as u64 <= SIZE));
    eprintln!("NBD fuzz: {} writes applied, all whole and in range", writes.len());
}

fn limits(handshake_ms: u64, idle_ms: Option<u64>, max_connections: usize) -> squall_nbd::Limits {
    squall_nbd::Limits {
        max_connections,
        handshake_timeout: Duration::from_millis(handshake_ms),
        idle_timeout: idle_ms.map(Duration::from_millis),
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_dropped() {
    let nbd = Nbd::with_limits(Memory::new(), limits(150, None, 8));
    let (_stream, session) = pipe(&nbd);
    let ended = tokio::time::timeout(Duration::from_secs(5), session).await.expect("the session ends by itself");
    let err = ended.unwrap().expect_err("a timed-out handshake is an error");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_time_out_and_a_busy_one_is_not() {
    let memory = Memory::new();
    let nbd = Nbd::with_limits(memory.clone(), limits(5_000, Some(300), 8));
    let (mut c, session) = client(&nbd).await;
    // Requests every 100 ms keep it open past the idle time-out.
    for i in 0..6u8 {
        assert_eq!(c.write(u64::from(i) * 512, &[i; 512]).await.unwrap(), Ok(vec![]));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A request held on a stuck volume is not idleness: it still completes after recovery.
    memory.stuck.store(true, Ordering::SeqCst);
    let cookie = c.send(CMD_READ, 0, 512, 512, &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    memory.stuck.store(false, Ordering::SeqCst);
    assert_eq!(c.receive().await.unwrap(), (cookie, Ok(vec![1; 512])));
    // Then silence: the server ends the session cleanly.
    tokio::time::timeout(Duration::from_secs(5), session).await.expect("closed when idle").unwrap().unwrap();
    assert!(c.read(0, 512).await.is_err(), "the connection is gone");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let nbd = Nbd::with_limits(Memory::new(), limits(5_000, None, 2));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(nbd.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        Client::handshake(stream, VOLUME).await
    };
    let first = connect().await.expect("first");
    let mut second = connect().await.expect("second");
    // The third is connected by the kernel but not served: no greeting comes.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut magic = [0u8; 8];
    let waited = tokio::time::timeout(Duration::from_millis(400), third.read_exact(&mut magic)).await;
    assert!(waited.is_err(), "the third connection was served past the cap");
    // The two open ones go on working.
    assert_eq!(second.write(0, b"ok").await.unwrap(), Ok(vec![]));
    first.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut magic))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(u64::from_be_bytes(magic), NBDMAGIC);
    let _ = stop.send(());
    server.await.unwrap();
}
