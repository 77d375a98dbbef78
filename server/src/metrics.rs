//! Request figures for `GET /metrics`: counts per service, action, zone and HTTP status, errors,
//! and a latency histogram per service, action and zone, kept in a `prometheus-client` registry
//! for the life of the server. The zone is the one a request names (`AvailabilityZone`), `-` for
//! the others; actions squall does not serve are counted as `unknown` (the gateway decides).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// What a request is counted under.
pub struct Labels<'a> {
    /// The region the call was for, if squall serves it (the per-second window's key; not a
    /// Prometheus label).
    pub region: Option<&'a str>,
    pub service: &'a str,
    pub action: Option<&'a str>,
    pub zone: Option<&'a str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    action: String,
    zone: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    service: String,
    action: String,
    zone: String,
    status: u16,
}

type Durations = Family<CallLabels, Histogram, fn() -> Histogram>;

fn durations() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    errors: Family<CallLabels, Counter>,
    durations: Durations,
    /// The same calls second by second for the last minutes (the dashboard's sparklines).
    pub window: squall_fault_api::window::ApiWindow,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<StatusLabels, Counter>::default();
        let errors = Family::<CallLabels, Counter>::default();
        let durations = Durations::new_with_constructor(durations);
        registry.register("squall_api_requests", "API requests by service, action and HTTP status", requests.clone());
        registry.register("squall_api_errors", "API requests answered with an error (HTTP 4xx/5xx)", errors.clone());
        registry.register("squall_api_request_duration_seconds", "Time to answer an API request", durations.clone());
        Self { registry, requests, errors, durations, window: Default::default() }
    }
}

impl Metrics {
    pub fn record(&self, labels: &Labels<'_>, status: u16, elapsed: Duration) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let Some(region) = labels.region {
            self.window.record(region, labels.zone, status, elapsed, now);
        }
        let call = CallLabels {
            service: labels.service.to_string(),
            action: labels.action.unwrap_or("-").to_string(),
            zone: labels.zone.unwrap_or("-").to_string(),
        };
        self.durations.get_or_create(&call).observe(elapsed.as_secs_f64());
        let errors = (status >= 400).then(|| self.errors.get_or_create(&call));
        if let Some(errors) = errors {
            errors.inc();
        }
        let CallLabels { service, action, zone } = call;
        self.requests.get_or_create(&StatusLabels { service, action, zone, status }).inc();
    }

    /// Appends the request figures in Prometheus's text format.
    pub fn write_to(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(out, &self.registry);
    }
}
