//! The drill's clients speak to squall as any client would: AWS query requests over HTTP/1.1
//! (one connection per call, so a call stuck in a queue holds only itself) and the fault API.

use std::net::SocketAddr;
use std::time::Duration;

/// The answer to one call: HTTP status and body, or `None` when the call itself failed (refused,
/// reset, or no answer within the client's time-out — what an SDK reports as a time-out).
pub type Answer = Option<(u16, String)>;

/// How long a drill client waits for an answer, as an SDK's read time-out.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str, auth: Option<&str>) -> Answer {
    let content_type = if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
    let mut headers = vec![("Host", "localhost"), ("Content-Type", content_type)];
    headers.extend(auth.map(|a| ("Authorization", a)));
    crate::probe::exchange(addr, method, path, &headers, body.as_bytes(), CLIENT_TIMEOUT).ok()
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
