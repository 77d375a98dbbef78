//! The NBD server's handshake and transmission parser: any bytes as what a client sends on a
//! fresh connection, against an in-memory export of 1 MiB. The session must end (no hang once
//! the client's input ends), never panic, and only ever apply writes that lie inside the export.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use squall_control::block_io::{Export, IoError};
use squall_control::{RegionName, VolumeId};
use squall_nbd::{Backend, Nbd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VOLUME: &str = "vol-0123456789abcdef0";
const SIZE: u64 = 1 << 20;

struct Memory {
    data: Mutex<Vec<u8>>,
}

impl Memory {
    /// The session checks every request against the export's size before it reaches the
    /// backend: a range outside the export here is a bug, so the target fails on it.
    fn range(&self, offset: u64, len: u64) -> Result<std::ops::Range<usize>, IoError> {
        let end = offset.checked_add(len).filter(|end| *end <= SIZE);
        let end = end.unwrap_or_else(|| panic!("the session passed {len} bytes at {offset} to the backend"));
        Ok(offset as usize..end as usize)
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
        Ok(Export {
            volume: VolumeId::parse(VOLUME).expect("an id"),
            region: RegionName::parse("us-east-1").expect("a region"),
            size_bytes: SIZE,
            description: "fuzz volume".into(),
        })
    }

    fn read(&self, _: &Export, offset: u64, len: u32) -> Result<Vec<u8>, IoError> {
        let r = self.range(offset, u64::from(len))?;
        Ok(self.data.lock().expect("lock")[r].to_vec())
    }

    fn write(&self, _: &Export, offset: u64, bytes: &[u8]) -> Result<(), IoError> {
        let r = self.range(offset, bytes.len() as u64)?;
        self.data.lock().expect("lock")[r].copy_from_slice(bytes);
        Ok(())
    }

    fn zero(&self, _: &Export, offset: u64, len: u32) -> Result<(), IoError> {
        let r = self.range(offset, u64::from(len))?;
        self.data.lock().expect("lock")[r].fill(0);
        Ok(())
    }

    fn flush(&self, _: &Export) -> Result<(), IoError> {
        Ok(())
    }
}

fn setup() -> &'static (tokio::runtime::Runtime, Arc<Nbd>) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, Arc<Nbd>)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let nbd = Nbd::new(Arc::new(Memory { data: Mutex::new(vec![0; SIZE as usize]) }));
        (runtime, nbd)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, nbd) = setup();
    let input = data.to_vec();
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let session = tokio::spawn(nbd.clone().session(server));
        let (mut r, mut w) = tokio::io::split(&mut client);
        let feed = async {
            let _ = w.write_all(&input).await;
            let _ = w.shutdown().await;
        };
        let drain = async {
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink).await;
        };
        tokio::join!(feed, drain);
        let ended = tokio::time::timeout(Duration::from_secs(5), session).await;
        let joined = ended.expect("the session ended once the client's input ended");
        assert!(joined.is_ok(), "the session panicked");
    });
});
