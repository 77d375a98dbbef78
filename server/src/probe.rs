//! `squall health`: a tiny HTTP/1.1 client for the container HEALTHCHECK (no shell, no curl in
//! a `FROM scratch` image).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

/// GETs `url` (plain `http://host:port/path`) and succeeds on a 200 answer.
pub fn probe(url: &str, timeout: Duration) -> anyhow::Result<String> {
    let rest = url.strip_prefix("http://").context("the health URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("no address for {authority}"))?;
    let (status, body) = exchange(addr, "GET", path, &[("Host", authority)], b"", timeout)?;
    if status != 200 {
        bail!("unhealthy: HTTP {status}");
    }
    Ok(body)
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`, `Content-Length` set
/// here): the answer's status and body. `timeout` bounds connecting and each read and write.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP answer")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    Ok((status, body.to_string()))
}
