//! The last minutes of AWS API traffic, second by second, per region and zone: how many calls
//! succeeded and failed and how long they took. The dashboard draws its sparklines from it; the
//! Prometheus counters in `/metrics` hold the totals since start.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// Seconds kept per series.
pub const KEPT_SECONDS: u64 = 300;

/// Upper bounds of the latency buckets, in milliseconds (doubling from a quarter of one); a
/// last bucket holds everything slower.
const BOUNDS_MS: [f64; 19] = [
    0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
    32768.0, 65536.0,
];

#[derive(Debug, Clone, Default)]
struct Second {
    at: u64,
    ok: u32,
    failed: u32,
    buckets: [u32; BOUNDS_MS.len() + 1],
}

/// One second of a series as the dashboard reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondFigures {
    /// Unix time, seconds.
    pub at: u64,
    /// Calls answered without a service failure (2xx, and the caller's own 4xx mistakes).
    pub ok: u32,
    /// Calls the service failed: 5xx (throttling included, as EC2 answers it) and 429.
    pub failed: u32,
    /// The 99th percentile latency, milliseconds (a bucket's upper bound); `None` without calls.
    pub p99_ms: Option<f64>,
}

/// The zone key of zone-free calls such as DescribeRegions.
const ZONE_FREE: &str = "-";

/// Per-second figures of the calls of each region and zone, for the last [`KEPT_SECONDS`].
#[derive(Debug, Default)]
pub struct ApiWindow {
    /// Region → zone (the one whose storage the call needed, or [`ZONE_FREE`]) → seconds. Looked
    /// up by `&str`, so counting a call allocates nothing once its series exists.
    series: Mutex<BTreeMap<String, BTreeMap<String, VecDeque<Second>>>>,
}

/// Whether an HTTP status is the service's failure rather than the caller's mistake.
pub fn is_failure(status: u16) -> bool {
    status >= 500 || status == 429
}

impl ApiWindow {
    pub const fn new() -> Self {
        Self { series: Mutex::new(BTreeMap::new()) }
    }

    /// Counts one call answered with `status` after `elapsed`, at unix second `now`.
    pub fn record(&self, region: &str, zone: Option<&str>, status: u16, elapsed: Duration, now: u64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if !series.contains_key(region) {
            series.insert(region.to_string(), BTreeMap::new());
        }
        let Some(zones) = series.get_mut(region) else { return };
        let zone = zone.unwrap_or(ZONE_FREE);
        if !zones.contains_key(zone) {
            zones.insert(zone.to_string(), VecDeque::new());
        }
        let Some(seconds) = zones.get_mut(zone) else { return };
        // Calls finish out of order across threads: one may land in a second before the latest.
        let at = match seconds.iter().rposition(|s| s.at <= now) {
            Some(i) if seconds[i].at == now => i,
            Some(i) => {
                seconds.insert(i + 1, Second { at: now, ..Second::default() });
                i + 1
            }
            None => {
                seconds.push_front(Second { at: now, ..Second::default() });
                0
            }
        };
        let Some(second) = seconds.get_mut(at) else { return };
        if is_failure(status) {
            second.failed += 1;
        } else {
            second.ok += 1;
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(BOUNDS_MS.len());
        second.buckets[bucket] += 1;
        let latest = seconds.back().map_or(now, |s| s.at);
        while seconds.front().is_some_and(|s| s.at + KEPT_SECONDS <= latest) {
            seconds.pop_front();
        }
    }

    /// The last `seconds` seconds up to `now` of `region`'s series, one entry per second (empty
    /// seconds included), keyed by zone name (`-` for zone-free calls).
    pub fn figures(&self, region: &str, seconds: u64, now: u64) -> BTreeMap<String, Vec<SecondFigures>> {
        let seconds = seconds.clamp(1, KEPT_SECONDS);
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = BTreeMap::new();
        for (zone, kept) in series.get(region).into_iter().flatten() {
            let first = now + 1 - seconds;
            let figures = (first..=now)
                .map(|at| match kept.iter().find(|s| s.at == at) {
                    Some(s) => SecondFigures { at, ok: s.ok, failed: s.failed, p99_ms: p99(&s.buckets) },
                    None => SecondFigures { at, ok: 0, failed: 0, p99_ms: None },
                })
                .collect();
            out.insert(zone.clone(), figures);
        }
        out
    }
}

/// The upper bound of the bucket holding the 99th percentile call (the slowest bucket's lower
/// bound doubled when it is the open one).
fn p99(buckets: &[u32; BOUNDS_MS.len() + 1]) -> Option<f64> {
    let total: u64 = buckets.iter().map(|n| u64::from(*n)).sum();
    if total == 0 {
        return None;
    }
    let rank = (total * 99).div_ceil(100);
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += u64::from(*n);
        if seen >= rank {
            return Some(BOUNDS_MS.get(i).copied().unwrap_or(BOUNDS_MS[BOUNDS_MS.len() - 1] * 2.0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_second_and_zone_with_failures_and_a_p99() {
        let w = ApiWindow::default();
        for _ in 0..98 {
            w.record("us-east-1", Some("us-east-1a"), 200, Duration::from_micros(700), 100);
        }
        w.record("us-east-1", Some("us-east-1a"), 400, Duration::from_millis(3), 100);
        w.record("us-east-1", Some("us-east-1a"), 503, Duration::from_secs(10), 100);
        w.record("us-east-1", None, 500, Duration::from_millis(1), 102);
        w.record("eu-west-1", None, 200, Duration::from_millis(1), 102);
        let f = w.figures("us-east-1", 3, 102);
        assert_eq!(f.len(), 2, "{f:?}");
        let a = &f["us-east-1a"];
        assert_eq!(a.iter().map(|s| s.at).collect::<Vec<_>>(), [100, 101, 102]);
        assert_eq!((a[0].ok, a[0].failed), (99, 1), "a 400 is the caller's, a 503 the service's");
        // 99 of 100 calls took at most 4 ms; the 100th is the 1 %.
        assert_eq!(a[0].p99_ms, Some(4.0));
        assert_eq!((a[1].ok, a[1].failed, a[1].p99_ms), (0, 0, None));
        assert_eq!((f["-"][2].ok, f["-"][2].failed), (0, 1));
    }

    #[test]
    fn a_call_that_ends_in_an_earlier_second_is_counted_there() {
        let w = ApiWindow::default();
        w.record("r", None, 200, Duration::ZERO, 10);
        w.record("r", None, 500, Duration::ZERO, 12);
        w.record("r", None, 200, Duration::ZERO, 11);
        w.record("r", None, 200, Duration::ZERO, 10);
        let f = w.figures("r", 3, 12);
        let got: Vec<(u64, u32, u32)> = f["-"].iter().map(|s| (s.at, s.ok, s.failed)).collect();
        assert_eq!(got, [(10, 2, 0), (11, 1, 0), (12, 0, 1)]);
    }

    #[test]
    fn forgets_seconds_older_than_the_window() {
        let w = ApiWindow::default();
        w.record("r", None, 200, Duration::ZERO, 1);
        w.record("r", None, 200, Duration::ZERO, 1 + KEPT_SECONDS);
        let f = w.figures("r", KEPT_SECONDS, 1 + KEPT_SECONDS);
        assert_eq!(f["-"].iter().map(|s| s.ok).sum::<u32>(), 1);
        assert_eq!(w.series.lock().unwrap()["r"][ZONE_FREE].len(), 1);
    }
}
