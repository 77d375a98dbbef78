//! Request figures for `GET /metrics`: counts per service, action, zone and HTTP status, and a
//! latency histogram per service, action and zone, in Prometheus's text format. The zone is the
//! one a request names (`AvailabilityZone`), `-` for the others.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Default)]
struct ActionStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// What a request is counted under.
pub struct Labels<'a> {
    /// The region the call was for, if squall serves it (the per-second window's key; not a
    /// Prometheus label).
    pub region: Option<&'a str>,
    pub service: &'a str,
    pub action: Option<&'a str>,
    pub zone: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    actions: Mutex<BTreeMap<(String, String, String), ActionStats>>,
    /// The same calls second by second for the last minutes (the dashboard's sparklines).
    pub window: squall_fault_api::window::ApiWindow,
}

impl Metrics {
    pub fn record(&self, labels: &Labels<'_>, status: u16, elapsed: Duration) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let Some(region) = labels.region {
            self.window.record(region, labels.zone, status, elapsed, now);
        }
        let mut actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (
            labels.service.to_string(),
            labels.action.unwrap_or("-").to_string(),
            labels.zone.unwrap_or("-").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect(),
        );
        let s = actions.entry(key).or_default();
        *s.by_status.entry(status).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum_seconds += secs;
    }

    pub fn render(&self) -> String {
        let actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP squall_api_requests_total API requests by service, action and HTTP status.\n");
        out.push_str("# TYPE squall_api_requests_total counter\n");
        for ((service, action, zone), s) in actions.iter() {
            for (status, n) in &s.by_status {
                let _ = writeln!(
                    out,
                    "squall_api_requests_total{{service=\"{service}\",action=\"{action}\",zone=\"{zone}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP squall_api_errors_total API requests answered with an error (HTTP 4xx/5xx).\n");
        out.push_str("# TYPE squall_api_errors_total counter\n");
        for ((service, action, zone), s) in actions.iter() {
            let errors: u64 = s.by_status.iter().filter(|(st, _)| **st >= 400).map(|(_, n)| n).sum();
            let labels = format!("service=\"{service}\",action=\"{action}\",zone=\"{zone}\"");
            let _ = writeln!(out, "squall_api_errors_total{{{labels}}} {errors}");
        }
        out.push_str("# HELP squall_api_request_duration_seconds Time to answer an API request.\n");
        out.push_str("# TYPE squall_api_request_duration_seconds histogram\n");
        for ((service, action, zone), s) in actions.iter() {
            let l = format!("service=\"{service}\",action=\"{action}\",zone=\"{zone}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(out, "squall_api_request_duration_seconds_bucket{{{l},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "squall_api_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "squall_api_request_duration_seconds_sum{{{l}}} {}", s.sum_seconds);
            let _ = writeln!(out, "squall_api_request_duration_seconds_count{{{l}}} {}", s.count);
        }
        out
    }
}
