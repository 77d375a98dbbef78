//! A small PostgreSQL client (simple-query protocol, trust, cleartext or md5 password): what a
//! drill's committing application needs, without a client library in the server's build.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// One connection, after authentication.
pub struct Client {
    stream: TcpStream,
}

/// A statement's failure: the server's SQLSTATE and message, or a broken connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{code}: {message}")]
    Server { code: String, message: String },
    #[error("connection: {0}")]
    Connection(String),
}

impl From<io::Error> for QueryError {
    fn from(e: io::Error) -> Self {
        QueryError::Connection(e.to_string())
    }
}

/// Rows of text values (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

impl Client {
    pub async fn connect(
        addr: impl ToSocketAddrs,
        user: &str,
        password: &str,
        database: &str,
    ) -> Result<Self, QueryError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut client = Self { stream };
        let mut body = Vec::new();
        body.extend_from_slice(&196_608u32.to_be_bytes());
        for (k, v) in [("user", user), ("database", database)] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        message.extend_from_slice(&body);
        client.stream.write_all(&message).await?;
        loop {
            let (kind, payload) = client.receive().await?;
            match kind {
                b'R' => {
                    let code = u32::from_be_bytes(payload.get(..4).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]));
                    let answer = match code {
                        0 => continue,
                        3 => password.to_string(),
                        5 => crate::session::md5_password(user, password, payload.get(4..8).unwrap_or_default()),
                        other => {
                            return Err(QueryError::Connection(format!("authentication method {other} not supported")))
                        }
                    };
                    let mut p = answer.into_bytes();
                    p.push(0);
                    client.send(b'p', &p).await?;
                }
                b'E' => return Err(server_error(&payload)),
                b'Z' => return Ok(client),
                _ => {} // ParameterStatus, BackendKeyData, notices
            }
        }
    }

    /// Runs `sql` (one or more statements) and answers the rows of the last result.
    pub async fn query(&mut self, sql: &str) -> Result<Rows, QueryError> {
        let mut q = sql.as_bytes().to_vec();
        q.push(0);
        self.send(b'Q', &q).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (kind, payload) = self.receive().await?;
            match kind {
                b'T' => rows.clear(),
                b'D' => rows.push(data_row(&payload)),
                b'E' => error = Some(server_error(&payload)),
                b'Z' => return error.map_or(Ok(rows), Err),
                _ => {}
            }
        }
    }

    async fn send(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        let mut m = vec![kind];
        m.extend_from_slice(&((payload.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(payload);
        self.stream.write_all(&m).await
    }

    async fn receive(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let kind = self.stream.read_u8().await?;
        let len = self.stream.read_u32().await? as usize;
        if !(4..=64 << 20).contains(&len) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad message length"));
        }
        let mut payload = vec![0; len - 4];
        self.stream.read_exact(&mut payload).await?;
        Ok((kind, payload))
    }
}

fn server_error(payload: &[u8]) -> QueryError {
    let (mut code, mut message) = (String::new(), String::new());
    for field in payload.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'C', v)) => code = String::from_utf8_lossy(v).into_owned(),
            Some((b'M', v)) => message = String::from_utf8_lossy(v).into_owned(),
            _ => {}
        }
    }
    QueryError::Server { code, message }
}

fn data_row(payload: &[u8]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let count = payload.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let mut at = 2;
    for _ in 0..count {
        let Some(len) = payload.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { break };
        at += 4;
        if len < 0 {
            out.push(None);
            continue;
        }
        let end = at + len as usize;
        out.push(payload.get(at..end).map(|v| String::from_utf8_lossy(v).into_owned()));
        at = end;
    }
    out
}
