//! The storage side of `GET /metrics`, in Prometheus's text format: zones, nodes, volumes by
//! state, re-mirroring counters and active faults. The gateway appends its request figures.

use std::fmt::Write;

use squall_control::model::fis::ActionStatus;
use squall_control::ControlPlane;

/// One per-zone figure of `/_squall/status`.
type ZoneFigure = fn(&squall_control::faults::ZoneStatus) -> usize;

/// Appends one metric family's header.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub fn storage_metrics(control: &ControlPlane) -> String {
    let status = control.status();
    let mut out = String::new();
    family(&mut out, "squall_zone_up", "gauge", "1 when the zone is available, 0 when impaired or unavailable.");
    for (region, zones) in &status {
        for z in zones {
            let up = u8::from(z.state == "available");
            let _ =
                writeln!(out, "squall_zone_up{{region=\"{region}\",zone=\"{}\",state=\"{}\"}} {up}", z.name, z.state);
        }
    }
    family(&mut out, "squall_db_instances", "gauge", "DB instances by role (primary, standby) in the zone.");
    for (region, zones) in &status {
        for z in zones {
            let l = format!("region=\"{region}\",zone=\"{}\"", z.name);
            let d = &z.db_instances;
            let _ = writeln!(out, "squall_db_instances{{{l},role=\"primary\"}} {}", d.primaries);
            let _ = writeln!(out, "squall_db_instances{{{l},role=\"standby\"}} {}", d.standbys);
        }
    }
    let gauges: [(&str, &str, ZoneFigure); 4] = [
        ("squall_db_instances_stuck", "DB instances whose primary storage in the zone is stuck.", |z| {
            z.db_instances.stuck
        }),
        (
            "squall_db_failovers",
            "Multi-AZ failovers completed by the DB instances whose primary is in the zone now.",
            |z| z.db_instances.failovers,
        ),
        (
            "squall_db_failovers_refused",
            "DB instances in the zone whose automatic failover was refused (standby out of sync).",
            |z| z.db_instances.failovers_refused,
        ),
        (
            "squall_volumes_io_disabled",
            "EBS volumes whose I/O is disabled until EnableVolumeIO (Awaiting Action: Enable IO).",
            |z| z.volumes_io_disabled,
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        for (region, zones) in &status {
            for z in zones {
                let _ = writeln!(out, "{name}{{region=\"{region}\",zone=\"{}\"}} {}", z.name, value(z));
            }
        }
    }
    family(&mut out, "squall_storage_nodes", "gauge", "Storage nodes by state (up, crashed, isolated).");
    family(&mut out, "squall_storage_bytes", "gauge", "Storage capacity and provisioned bytes.");
    family(&mut out, "squall_volumes", "gauge", "Volumes by state (healthy, stuck, remirroring).");
    family(&mut out, "squall_remirror_queue", "gauge", "Re-mirror jobs waiting or running.");
    family(&mut out, "squall_remirror_attempts_total", "counter", "Searches for a new peer.");
    family(&mut out, "squall_remirror_successes_total", "counter", "New replica sets committed after a copy.");
    family(&mut out, "squall_remirror_reconnects_total", "counter", "Replica sets re-formed with the previous peer.");
    family(&mut out, "squall_remirror_no_space_total", "counter", "Re-mirror searches that found no space.");
    family(&mut out, "squall_remirror_bytes_copied_total", "counter", "Bytes copied by re-mirroring.");
    family(&mut out, "squall_volume_stuck_events_total", "counter", "Times a volume became stuck.");
    family(
        &mut out,
        "squall_node_crashes_on_close_total",
        "counter",
        "Nodes crashed closing a replication connection.",
    );
    for (region, zones) in &status {
        for z in zones {
            let Some(s) = &z.storage else { continue };
            let l = format!("region=\"{region}\",zone=\"{}\"", z.name);
            let crashed = s.nodes.iter().filter(|n| !n.up).count();
            let isolated = s.nodes.iter().filter(|n| n.up && (n.isolated_primary || n.isolated_replication)).count();
            let up = s.nodes.len() - crashed - isolated;
            for (state, n) in [("up", up), ("crashed", crashed), ("isolated", isolated)] {
                let _ = writeln!(out, "squall_storage_nodes{{{l},state=\"{state}\"}} {n}");
            }
            let capacity: u64 = s.nodes.iter().map(|n| n.capacity).sum();
            let used: u64 = s.nodes.iter().map(|n| n.used).sum();
            let _ = writeln!(out, "squall_storage_bytes{{{l},kind=\"capacity\"}} {capacity}");
            let _ = writeln!(out, "squall_storage_bytes{{{l},kind=\"used\"}} {used}");
            for (state, n) in [("healthy", s.healthy), ("stuck", s.stuck), ("remirroring", s.remirroring)] {
                let _ = writeln!(out, "squall_volumes{{{l},state=\"{state}\"}} {n}");
            }
            let c = &s.counters;
            let _ = writeln!(out, "squall_remirror_queue{{{l}}} {}", s.queue);
            let _ = writeln!(out, "squall_remirror_attempts_total{{{l}}} {}", c.remirror_attempts);
            let _ = writeln!(out, "squall_remirror_successes_total{{{l}}} {}", c.remirror_successes);
            let _ = writeln!(out, "squall_remirror_reconnects_total{{{l}}} {}", c.reconnects);
            let _ = writeln!(out, "squall_remirror_no_space_total{{{l}}} {}", c.failures_no_space);
            let _ = writeln!(out, "squall_remirror_bytes_copied_total{{{l}}} {}", c.bytes_copied);
            let _ = writeln!(out, "squall_volume_stuck_events_total{{{l}}} {}", c.stuck_events);
            let _ = writeln!(out, "squall_node_crashes_on_close_total{{{l}}} {}", c.crashes_on_close);
        }
    }
    family(&mut out, "squall_api_workers", "gauge", "API worker threads of the region's pool.");
    family(&mut out, "squall_api_busy", "gauge", "API workers running a request.");
    family(&mut out, "squall_api_queued", "gauge", "API requests waiting for a worker.");
    family(&mut out, "squall_api_in_flight", "gauge", "API requests queued or running, by the zone they need.");
    family(&mut out, "squall_api_waiting_for_storage", "gauge", "API workers waiting for a zone's storage.");
    family(&mut out, "squall_api_completed_total", "counter", "API requests a worker ran.");
    family(&mut out, "squall_api_rejected_total", "counter", "API requests turned away, by reason.");
    for (region, p) in control.pool_status() {
        let l = format!("region=\"{region}\"");
        let _ = writeln!(out, "squall_api_workers{{{l}}} {}", p.workers);
        let _ = writeln!(out, "squall_api_busy{{{l}}} {}", p.busy);
        let _ = writeln!(out, "squall_api_queued{{{l}}} {}", p.queued);
        for (zone, n) in &p.in_flight_by_zone {
            let _ = writeln!(out, "squall_api_in_flight{{{l},zone=\"{zone}\"}} {n}");
        }
        let _ = writeln!(out, "squall_api_completed_total{{{l}}} {}", p.completed);
        for (zone, n) in &p.waiting_for_storage {
            let _ = writeln!(out, "squall_api_waiting_for_storage{{{l},zone=\"{zone}\"}} {n}");
        }
        for (reason, n) in [("overloaded", p.rejected_overloaded), ("expired", p.expired)] {
            let _ = writeln!(out, "squall_api_rejected_total{{{l},reason=\"{reason}\"}} {n}");
        }
    }
    family(&mut out, "squall_faults_active", "gauge", "Fault rules in force.");
    let _ = writeln!(out, "squall_faults_active {}", control.faults().len());
    let experiments = control.experiments(None);
    let mut by_state: std::collections::BTreeMap<(String, &str), usize> = std::collections::BTreeMap::new();
    let mut running_actions: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for e in &experiments {
        *by_state.entry((e.region.to_string(), e.status.as_str())).or_default() += 1;
        let running = e.actions.values().filter(|a| a.status == ActionStatus::Running).count();
        *running_actions.entry(e.region.to_string()).or_default() += running;
    }
    family(&mut out, "squall_fis_experiments", "gauge", "FIS experiments by state.");
    for ((region, state), n) in &by_state {
        let _ = writeln!(out, "squall_fis_experiments{{region=\"{region}\",state=\"{state}\"}} {n}");
    }
    family(&mut out, "squall_fis_actions_running", "gauge", "FIS experiment actions running now.");
    for (region, n) in &running_actions {
        let _ = writeln!(out, "squall_fis_actions_running{{region=\"{region}\"}} {n}");
    }
    out
}
