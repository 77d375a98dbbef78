//! `squall health`: a tiny HTTP/1.1 client for the container HEALTHCHECK (no shell, no curl in
//! a `FROM scratch` image).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
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
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("unhealthy: {status_line}");
    }
    Ok(text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
}
