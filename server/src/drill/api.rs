//! The drill's clients speak to squall as any client would: AWS query requests over HTTP/1.1
//! (one connection per call, so a call stuck in a queue holds only itself) and the fault API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The answer to one call: HTTP status and body, or `None` when the call itself failed (refused,
/// reset, or no answer within the client's time-out — what an SDK reports as a time-out).
pub type Answer = Option<(u16, String)>;

/// How long a drill client waits for an answer, as an SDK's read time-out.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str, auth: Option<&str>) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if body.starts_with('{') {
        head.push_str("Content-Type: application/json\r\n");
    } else {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// An EC2 query call in the default region.
pub fn ec2(addr: SocketAddr, params: &str) -> Answer {
    http(addr, "POST", "/", &format!("Version=2016-11-15&{params}"), None)
}

/// An RDS query call.
pub fn rds(addr: SocketAddr, params: &str) -> Answer {
    let auth =
        "AWS4-HMAC-SHA256 Credential=drill/20110421/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=00";
    http(addr, "POST", "/", &format!("Version=2014-10-31&{params}"), Some(auth))
}

/// A fault API call; answers the JSON.
pub fn squall(addr: SocketAddr, method: &str, path: &str, body: &str) -> anyhow::Result<serde_json::Value> {
    let (status, text) =
        http(addr, method, path, body, None).ok_or_else(|| anyhow::anyhow!("{method} {path}: no answer"))?;
    anyhow::ensure!(status < 300, "{method} {path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// The text of every `<name>` element, in order.
pub fn tags<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split(open.as_str()).skip(1).filter_map(|rest| rest.split(close.as_str()).next()).collect()
}

/// The text of the first `<name>` element.
pub fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    tags(xml, name).into_iter().next()
}

/// Whether an answer is the service's success (2xx) or the caller's own mistake (4xx other than
/// throttling): a call that got through.
pub fn served(answer: &Answer) -> bool {
    matches!(answer, Some((status, _)) if *status < 500 && *status != 429)
}
