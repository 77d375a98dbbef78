//! A small NBD client (fixed newstyle, `NBD_OPT_GO`, structured replies) for squall's tests and
//! tools: requests can be pipelined, replies are matched by cookie.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::proto::*;

/// A request's outcome: the data of a read (empty otherwise), or the server's errno.
pub type Reply = Result<Vec<u8>, u32>;

pub struct Client<S = TcpStream> {
    stream: S,
    pub size: u64,
    pub flags: u16,
    next_cookie: u64,
}

fn protocol(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

async fn greet<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
    if s.read_u64().await? != NBDMAGIC || s.read_u64().await? != IHAVEOPT {
        return Err(protocol("not a newstyle NBD server"));
    }
    let _flags = s.read_u16().await?;
    s.write_u32(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES).await
}

async fn send_option<S: AsyncWrite + Unpin>(s: &mut S, option: u32, data: &[u8]) -> io::Result<()> {
    s.write_u64(IHAVEOPT).await?;
    s.write_u32(option).await?;
    s.write_u32(data.len() as u32).await?;
    s.write_all(data).await
}

/// One option reply: (type, data).
async fn option_reply<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<(u32, Vec<u8>)> {
    if s.read_u64().await? != OPTION_REPLY_MAGIC {
        return Err(protocol("bad option reply magic"));
    }
    let _option = s.read_u32().await?;
    let kind = s.read_u32().await?;
    let len = s.read_u32().await?;
    let mut data = vec![0u8; len as usize];
    s.read_exact(&mut data).await?;
    Ok((kind, data))
}

/// The export names a server lists (`NBD_OPT_LIST`).
pub async fn list(addr: impl ToSocketAddrs) -> io::Result<Vec<String>> {
    let mut s = TcpStream::connect(addr).await?;
    greet(&mut s).await?;
    send_option(&mut s, OPT_LIST, &[]).await?;
    let mut names = Vec::new();
    loop {
        let (kind, data) = option_reply(&mut s).await?;
        match kind {
            REP_SERVER => {
                let len = data.get(..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
                let name = data.get(4..4 + len).ok_or_else(|| protocol("short NBD_REP_SERVER"))?;
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            REP_ACK => break,
            other => return Err(protocol(format!("NBD_OPT_LIST answered {other:#x}"))),
        }
    }
    send_option(&mut s, OPT_ABORT, &[]).await?;
    Ok(names)
}

impl Client<TcpStream> {
    pub async fn connect(addr: impl ToSocketAddrs, export: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Self::handshake(stream, export).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Negotiates structured replies and enters transmission on `export`; an export the server
    /// refuses is an error carrying the server's message.
    pub async fn handshake(mut stream: S, export: &str) -> io::Result<Self> {
        greet(&mut stream).await?;
        send_option(&mut stream, OPT_STRUCTURED_REPLY, &[]).await?;
        let (kind, _) = option_reply(&mut stream).await?;
        if kind != REP_ACK {
            return Err(protocol("structured replies refused"));
        }
        let mut data = (export.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(export.as_bytes());
        data.extend_from_slice(&1u16.to_be_bytes());
        data.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        send_option(&mut stream, OPT_GO, &data).await?;
        let (mut size, mut flags) = (0, 0);
        loop {
            let (kind, data) = option_reply(&mut stream).await?;
            match kind {
                REP_INFO if data.len() == 12 && data[..2] == INFO_EXPORT.to_be_bytes() => {
                    size = u64::from_be_bytes(data[2..10].try_into().unwrap_or_default());
                    flags = u16::from_be_bytes([data[10], data[11]]);
                }
                REP_INFO => {}
                REP_ACK => break,
                _ => return Err(io::Error::new(io::ErrorKind::NotFound, String::from_utf8_lossy(&data).into_owned())),
            }
        }
        Ok(Self { stream, size, flags, next_cookie: 1 })
    }

    /// Sends one request without waiting; answers its cookie.
    pub async fn send(&mut self, kind: u16, flags: u16, offset: u64, len: u32, data: &[u8]) -> io::Result<u64> {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        let mut header = Vec::with_capacity(REQUEST_LEN + data.len());
        header.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
        header.extend_from_slice(&flags.to_be_bytes());
        header.extend_from_slice(&kind.to_be_bytes());
        header.extend_from_slice(&cookie.to_be_bytes());
        header.extend_from_slice(&offset.to_be_bytes());
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(data);
        self.stream.write_all(&header).await?;
        Ok(cookie)
    }

    /// The next reply, whichever request it answers: (cookie, outcome).
    pub async fn receive(&mut self) -> io::Result<(u64, Reply)> {
        let magic = self.stream.read_u32().await?;
        match magic {
            SIMPLE_REPLY_MAGIC => {
                let error = self.stream.read_u32().await?;
                let cookie = self.stream.read_u64().await?;
                // Simple replies to reads are not used by squall once structured replies are on.
                Ok((cookie, if error == 0 { Ok(Vec::new()) } else { Err(error) }))
            }
            STRUCTURED_REPLY_MAGIC => {
                let mut data = Vec::new();
                let mut outcome = None;
                let mut cookie;
                let mut flags;
                loop {
                    flags = self.stream.read_u16().await?;
                    let kind = self.stream.read_u16().await?;
                    cookie = self.stream.read_u64().await?;
                    let len = self.stream.read_u32().await?;
                    let mut payload = vec![0u8; len as usize];
                    self.stream.read_exact(&mut payload).await?;
                    match kind {
                        REPLY_TYPE_OFFSET_DATA => data.extend_from_slice(payload.get(8..).unwrap_or_default()),
                        REPLY_TYPE_ERROR => {
                            let errno = payload.get(..4).map_or(EIO, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                            outcome = Some(errno);
                        }
                        _ => {}
                    }
                    if flags & REPLY_FLAG_DONE != 0 {
                        break;
                    }
                    if self.stream.read_u32().await? != STRUCTURED_REPLY_MAGIC {
                        return Err(protocol("bad structured reply magic"));
                    }
                }
                Ok((cookie, outcome.map_or(Ok(data), Err)))
            }
            other => Err(protocol(format!("bad reply magic {other:#x}"))),
        }
    }

    async fn one(&mut self, kind: u16, flags: u16, offset: u64, len: u32, data: &[u8]) -> io::Result<Reply> {
        let cookie = self.send(kind, flags, offset, len, data).await?;
        let (got, reply) = self.receive().await?;
        if got != cookie {
            return Err(protocol("reply to another request"));
        }
        Ok(reply)
    }

    pub async fn read(&mut self, offset: u64, len: u32) -> io::Result<Reply> {
        self.one(CMD_READ, 0, offset, len, &[]).await
    }

    pub async fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<Reply> {
        self.one(CMD_WRITE, 0, offset, data.len() as u32, data).await
    }

    pub async fn flush(&mut self) -> io::Result<Reply> {
        self.one(CMD_FLUSH, 0, 0, 0, &[]).await
    }

    /// Ends the session politely (`NBD_CMD_DISC`).
    pub async fn disconnect(mut self) -> io::Result<()> {
        self.send(CMD_DISC, 0, 0, 0, &[]).await?;
        self.stream.shutdown().await
    }
}
