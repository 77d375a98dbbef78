//! The restJson decoder (FIS and the EBS direct APIs): any bytes as an HTTP request — a request
//! line `METHOD /path?query`, header lines, a blank line, a body — routed by each service's
//! generated router and decoded into its typed request. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall_protocol::rest::RestRequest;
use squall_protocol::QueryParams;

fuzz_target!(|data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[..0]),
    };
    // The HTTP layer hands on only headers that are text.
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = request_line.split_once(' ').unwrap_or(("POST", request_line));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let base = RestRequest {
        path_params: Default::default(),
        query: QueryParams::parse(query.as_bytes(), b""),
        headers,
        body: body.to_vec(),
    };
    if let Some((operation, params)) = squall_fis::generated::route(method, path) {
        let req = RestRequest { path_params: params, ..base.clone() };
        if let Some(Ok(request)) = squall_fis::generated::Request::decode(operation, &req) {
            let _ = format!("{request:?}");
        }
    }
    if let Some((operation, params)) = squall_ebs::generated::route(method, path) {
        let req = RestRequest { path_params: params, ..base };
        if let Some(Ok(request)) = squall_ebs::generated::Request::decode(operation, &req) {
            let _ = format!("{request:?}");
        }
    }
});
