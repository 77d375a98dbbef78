//! What the raw-HTTP tests share: one request on a connection of its own, and a look into XML.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One request on a connection of its own: (status, body); status 0 when the connection failed.
pub fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(raw.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// An EC2 call (`Version=2016-11-15&…`).
pub fn ec2(addr: SocketAddr, params: &str) -> (u16, String) {
    call(addr, "POST", "/", &format!("Version=2016-11-15&{params}"))
}

/// The text of the first `<name>` element.
pub fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    xml.split(&format!("<{name}>")).nth(1).and_then(|s| s.split('<').next())
}
