//! `GET /metrics`: one Prometheus registry per scrape, written by the `prometheus-client` crate
//! (it escapes label values and orders each family's header before its samples). This module
//! has the figures read from the control plane at scrape time — zones, nodes, volumes by state,
//! re-mirroring, the API worker pools, faults and FIS — and the [`Scrape`] builder the gateway
//! uses for its own (NBD sessions, SQL endpoints; request counts live in a registry of their own).
//! Label values come from closed sets: regions and zones squall has, ids of its resources.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use squall_control::model::fis::ActionStatus;
use squall_control::ControlPlane;

/// The labels of one sample, in the order they are written.
pub type LabelSet = Vec<(&'static str, String)>;
/// Families of figures read at scrape time.
pub type GaugeFamily = Family<LabelSet, Gauge>;
pub type FloatGaugeFamily = Family<LabelSet, Gauge<f64, AtomicU64>>;
pub type CounterFamily = Family<LabelSet, Counter>;
pub type FloatCounterFamily = Family<LabelSet, Counter<f64, AtomicU64>>;

/// The text format's content type (version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The figures of one scrape, family by family.
#[derive(Default)]
pub struct Scrape {
    registry: Registry,
}

impl Scrape {
    /// A family registered under `name` (as written; a counter's `_total` is appended by the
    /// writer), filled by the caller before [`Scrape::write_to`].
    pub fn family<M>(&mut self, name: &str, help: &str) -> M
    where
        M: prometheus_client::registry::Metric + Clone + Default,
    {
        let family = M::default();
        self.registry.register(name, help, family.clone());
        family
    }

    pub fn gauge(&mut self, name: &str, help: &str) -> GaugeFamily {
        self.family(name, help)
    }

    pub fn counter(&mut self, name: &str, help: &str) -> CounterFamily {
        self.family(name, help)
    }

    /// Appends the figures in the text format.
    pub fn write_to(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(out, &self.registry);
    }
}

/// Sets a gauge sample.
pub fn set(family: &GaugeFamily, labels: LabelSet, value: usize) {
    family.get_or_create(&labels).set(i64::try_from(value).unwrap_or(i64::MAX));
}

/// Sets a counter sample read from a running total.
pub fn total(family: &CounterFamily, labels: LabelSet, value: u64) {
    family.get_or_create(&labels).inc_by(value);
}

fn zone_labels(region: &str, zone: &str) -> LabelSet {
    vec![("region", region.to_string()), ("zone", zone.to_string())]
}

fn with(mut labels: LabelSet, name: &'static str, value: &str) -> LabelSet {
    labels.push((name, value.to_string()));
    labels
}

/// One per-zone figure of `/_squall/status`.
type ZoneFigure = fn(&squall_control::faults::ZoneStatus) -> usize;

/// The control plane's figures, read now.
pub fn storage_metrics(control: &ControlPlane, scrape: &mut Scrape) {
    let status = control.status();
    let zone_up = scrape.gauge("squall_zone_up", "1 when the zone is available, 0 when impaired or unavailable");
    let db = scrape.gauge("squall_db_instances", "DB instances by role (primary, standby) in the zone");
    for (region, zones) in &status {
        for z in zones {
            let l = zone_labels(region.as_str(), z.name.as_str());
            set(&zone_up, with(l.clone(), "state", z.state), usize::from(z.state == "available"));
            set(&db, with(l.clone(), "role", "primary"), z.db_instances.primaries);
            set(&db, with(l, "role", "standby"), z.db_instances.standbys);
        }
    }
    let gauges: [(&str, &str, ZoneFigure); 4] = [
        ("squall_db_instances_stuck", "DB instances whose primary storage in the zone is stuck", |z| {
            z.db_instances.stuck
        }),
        (
            "squall_db_failovers",
            "Multi-AZ failovers completed by the DB instances whose primary is in the zone now",
            |z| z.db_instances.failovers,
        ),
        (
            "squall_db_failovers_refused",
            "DB instances in the zone whose automatic failover was refused (standby out of sync)",
            |z| z.db_instances.failovers_refused,
        ),
        (
            "squall_volumes_io_disabled",
            "EBS volumes whose I/O is disabled until EnableVolumeIO (Awaiting Action: Enable IO)",
            |z| z.volumes_io_disabled,
        ),
    ];
    for (name, help, value) in gauges {
        let family = scrape.gauge(name, help);
        for (region, zones) in &status {
            for z in zones {
                set(&family, zone_labels(region.as_str(), z.name.as_str()), value(z));
            }
        }
    }
    let nodes = scrape.gauge("squall_storage_nodes", "Storage nodes by state (up, crashed, isolated)");
    let bytes = scrape.gauge("squall_storage_bytes", "Storage capacity and provisioned bytes");
    let volumes = scrape.gauge("squall_volumes", "Volumes by state (healthy, stuck, remirroring)");
    let queue = scrape.gauge("squall_remirror_queue", "Re-mirror jobs waiting or running");
    let attempts = scrape.counter("squall_remirror_attempts", "Searches for a new peer");
    let successes = scrape.counter("squall_remirror_successes", "New replica sets committed after a copy");
    let reconnects = scrape.counter("squall_remirror_reconnects", "Replica sets re-formed with the previous peer");
    let no_space = scrape.counter("squall_remirror_no_space", "Re-mirror searches that found no space");
    let copied = scrape.counter("squall_remirror_bytes_copied", "Bytes copied by re-mirroring");
    let stuck_events = scrape.counter("squall_volume_stuck_events", "Times a volume became stuck");
    let crashes = scrape.counter("squall_node_crashes_on_close", "Nodes crashed closing a replication connection");
    let orphans = scrape.counter(
        "squall_storage_orphans_reclaimed",
        "Storage volumes no EC2 volume or DB instance named, removed when the region opened",
    );
    for (region, zones) in &status {
        for z in zones {
            let Some(s) = &z.storage else { continue };
            let l = zone_labels(region.as_str(), z.name.as_str());
            let crashed = s.nodes.iter().filter(|n| !n.up).count();
            let isolated = s.nodes.iter().filter(|n| n.up && (n.isolated_primary || n.isolated_replication)).count();
            let up = s.nodes.len() - crashed - isolated;
            for (state, n) in [("up", up), ("crashed", crashed), ("isolated", isolated)] {
                set(&nodes, with(l.clone(), "state", state), n);
            }
            let capacity: u64 = s.nodes.iter().map(|n| n.capacity).sum();
            let used: u64 = s.nodes.iter().map(|n| n.used).sum();
            set(&bytes, with(l.clone(), "kind", "capacity"), usize::try_from(capacity).unwrap_or(usize::MAX));
            set(&bytes, with(l.clone(), "kind", "used"), usize::try_from(used).unwrap_or(usize::MAX));
            for (state, n) in [("healthy", s.healthy), ("stuck", s.stuck), ("remirroring", s.remirroring)] {
                set(&volumes, with(l.clone(), "state", state), n);
            }
            let c = &s.counters;
            set(&queue, l.clone(), s.queue);
            total(&attempts, l.clone(), c.remirror_attempts);
            total(&successes, l.clone(), c.remirror_successes);
            total(&reconnects, l.clone(), c.reconnects);
            total(&no_space, l.clone(), c.failures_no_space);
            total(&copied, l.clone(), c.bytes_copied);
            total(&stuck_events, l.clone(), c.stuck_events);
            total(&crashes, l.clone(), c.crashes_on_close);
            total(&orphans, l, c.orphans_reclaimed);
        }
    }
    pool_metrics(control, scrape);
    let faults = scrape.gauge("squall_faults_active", "Fault rules in force");
    set(&faults, Vec::new(), control.faults().len());
    let experiments = control.experiments(None);
    let mut by_state: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut running_actions: BTreeMap<String, usize> = BTreeMap::new();
    for e in &experiments {
        *by_state.entry((e.region.to_string(), e.status.as_str())).or_default() += 1;
        let running = e.actions.values().filter(|a| a.status == ActionStatus::Running).count();
        *running_actions.entry(e.region.to_string()).or_default() += running;
    }
    let states = scrape.gauge("squall_fis_experiments", "FIS experiments by state");
    for ((region, state), n) in by_state {
        set(&states, vec![("region", region), ("state", state.to_string())], n);
    }
    let running = scrape.gauge("squall_fis_actions_running", "FIS experiment actions running now");
    for (region, n) in running_actions {
        set(&running, vec![("region", region)], n);
    }
}

/// Each region's API worker pool.
fn pool_metrics(control: &ControlPlane, scrape: &mut Scrape) {
    let workers = scrape.gauge("squall_api_workers", "API worker threads of the region's pool");
    let busy = scrape.gauge("squall_api_busy", "API workers running a request");
    let queued = scrape.gauge("squall_api_queued", "API requests waiting for a worker");
    let in_flight = scrape.gauge("squall_api_in_flight", "API requests queued or running, by the zone they need");
    let waiting = scrape.gauge("squall_api_waiting_for_storage", "API workers waiting for a zone's storage");
    let completed = scrape.counter("squall_api_completed", "API requests a worker ran");
    let rejected = scrape.counter("squall_api_rejected", "API requests turned away, by reason");
    for (region, p) in control.pool_status() {
        let l: LabelSet = vec![("region", region.to_string())];
        set(&workers, l.clone(), p.workers);
        set(&busy, l.clone(), p.busy);
        set(&queued, l.clone(), p.queued);
        for (zone, n) in &p.in_flight_by_zone {
            set(&in_flight, with(l.clone(), "zone", zone), *n);
        }
        total(&completed, l.clone(), p.completed);
        for (zone, n) in &p.waiting_for_storage {
            set(&waiting, with(l.clone(), "zone", zone), *n);
        }
        for (reason, n) in [("overloaded", p.rejected_overloaded), ("expired", p.expired)] {
            total(&rejected, with(l.clone(), "reason", reason), n);
        }
    }
}
