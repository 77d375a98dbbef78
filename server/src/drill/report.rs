//! `report.html`: one self-contained page (inline SVG, no script, no external asset) with the
//! timeline, the per-second series of each policy on the same axes, squall's figures beside the
//! seed's, and a plain-language reading.

use std::fmt::Write;

use super::{Report, Run, Second, Summary, Timeline};

/// Colours of the two policies (Okabe–Ito: vermillion, blue), with a dash pattern each so they
/// differ without colour too.
const STYLE: [(&str, &str, &str); 2] = [("legacy", "#d55e00", ""), ("hardened", "#0072b2", "6 3")];

fn style(policy: &str) -> (&'static str, &'static str) {
    STYLE.iter().find(|(p, _, _)| *p == policy).map_or(("#000", ""), |(_, c, d)| (*c, *d))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One chart: a line per run of `value` over the drill's seconds, 0–`y_max` on the y axis, the
/// timeline's events as vertical marks.
fn chart(
    out: &mut String,
    id: &str,
    title: &str,
    unit: &str,
    y_max: f64,
    report: &Report,
    value: fn(&Second) -> Option<f64>,
) {
    let (w, h, left, right, top, bottom) = (640.0, 220.0, 48.0, 12.0, 14.0, 30.0);
    let end = f64::from(report.timeline.end.max(1));
    let x = |t: f64| left + (w - left - right) * t / end;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let _ = write!(
        out,
        r#"<figure class="chart" id="{id}"><figcaption>{title}</figcaption><svg viewBox="0 0 {w} {h}" role="img" aria-label="{title}">"#
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6ea"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}{unit}</text>"##,
            w - right,
            left - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (t, label) in events(&report.timeline) {
        let _ = write!(
            out,
            r##"<line class="event" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#8a94a3" stroke-dasharray="2 3"><title>{}</title></line>"##,
            h - bottom,
            esc(label),
            x = x(f64::from(t))
        );
    }
    let mut t = 0;
    while t <= report.timeline.end {
        let _ = write!(out, r#"<text x="{:.1}" y="{}" text-anchor="middle">{t}s</text>"#, x(f64::from(t)), h - 10.0);
        t += (report.timeline.end / 6).max(1);
    }
    for run in &report.runs {
        let (colour, dash) = style(run.policy);
        let points: Vec<String> = run
            .seconds
            .iter()
            .filter_map(|s| value(s).map(|v| format!("{:.1},{:.1}", x(f64::from(s.t)), y(v))))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" data-policy="{}" data-points="{}" points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            run.policy,
            points.len(),
            points.join(" ")
        );
    }
    out.push_str("</svg></figure>");
}

fn events(t: &Timeline) -> [(u32, &'static str); 5] {
    [
        (t.network_change, "network change: part of the zone's storage loses its primary network"),
        (t.storm, "CreateVolume storm into the zone"),
        (t.disable_create_volume, "operators disable CreateVolume in the zone"),
        (t.add_capacity, "new storage capacity"),
        (t.heal_network, "network healed"),
    ]
}

/// How a row of the figures table shows a run's summary.
type Figure = fn(&Summary) -> String;

fn run<'a>(report: &'a Report, policy: &str) -> Option<&'a Run> {
    report.runs.iter().find(|r| r.policy == policy)
}

fn figure(report: &Report, policy: &str, f: Figure) -> String {
    run(report, policy).map_or_else(|| "not run".to_string(), |r| f(&r.summary))
}

/// The page.
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>squall drill: April 2011</title><style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1360px;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.legend span{display:inline-flex;align-items:center;gap:.35rem;margin-right:1.2rem}
.legend svg{width:36px;height:10px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:.8rem}
figure.chart{background:#fff;border:1px solid #d5d9e0;border-radius:6px;margin:0;padding:.4rem .6rem}
figcaption{font-weight:600;margin-bottom:.2rem}
svg text{font-size:11px;fill:#5b6470}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border-bottom:1px solid #eceff3;padding:.3rem .5rem;text-align:left;vertical-align:top}
ol.timeline li{margin:.15rem 0}.muted{color:#5b6470}
.reading p{max-width:75ch;line-height:1.45}
</style></head><body><main>"#,
    );
    let _ = write!(
        out,
        r#"<h1>The April 2011 EBS event, replayed by squall</h1><p class="muted">Scenario {}, seed {}, scale {}: {} storage nodes per zone, {} instances with {} data volumes each, {} single-AZ and {} Multi-AZ DB instances (4 striped volumes each), {} clients sending CreateVolume into the zone, an API pool of {} workers. Time is compressed: one drill second stands for minutes of the event.</p>"#,
        report.scenario,
        report.seed,
        match report.scale {
            super::Scale::Small => "small",
            super::Scale::Medium => "medium",
        },
        report.layout.storage_nodes_per_zone,
        report.layout.instances,
        super::DATA_VOLUMES,
        report.layout.single_az_db,
        report.layout.multi_az_db,
        report.layout.storm_clients,
        report.layout.api_workers
    );
    out.push_str(r#"<p class="legend">"#);
    for r in &report.runs {
        let (colour, dash) = style(r.policy);
        let _ = write!(
            out,
            r#"<span><svg viewBox="0 0 36 10"><line x1="0" x2="36" y1="5" y2="5" stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/></svg>{}</span>"#,
            r.policy
        );
    }
    out.push_str("</p>");
    out.push_str(r#"<h2>Timeline</h2><ol class="timeline">"#);
    for (t, label) in events(&report.timeline) {
        let _ = write!(out, "<li><strong>{t} s</strong> — {}</li>", esc(label));
    }
    let _ = write!(
        out,
        "<li><strong>{} s</strong> — the drill ends; everything is healed and the data read back</li></ol>",
        report.timeline.end
    );
    out.push_str(r#"<h2>Second by second</h2><div class="charts">"#);
    chart(&mut out, "stuck", "Volumes stuck in us-east-1a", "%", 100.0, report, |s| Some(s.volumes_stuck_pct));
    chart(&mut out, "api-other", "API calls served in the other zones", "%", 100.0, report, |s| {
        s.other_zones_api_ok_pct
    });
    chart(
        &mut out,
        "api-free",
        "Zone-free API calls served (DescribeRegions, DescribeVolumes)",
        "%",
        100.0,
        report,
        |s| s.zone_free_api_ok_pct,
    );
    chart(&mut out, "api-zone", "CreateVolume calls into us-east-1a served", "%", 100.0, report, |s| {
        s.affected_zone_api_ok_pct
    });
    let workers = f64::from(report.layout.api_workers + report.layout.api_queue);
    chart(&mut out, "pool", "API pool: requests running or queued", "", workers, report, |s| {
        Some((s.pool_busy + s.pool_queued) as f64)
    });
    chart(&mut out, "rds-single", "Single-AZ DB instances stuck", "%", 100.0, report, |s| {
        Some(s.single_az_db_stuck_pct)
    });
    chart(&mut out, "rds-multi", "Multi-AZ DB instances unavailable", "%", 100.0, report, |s| {
        Some(s.multi_az_db_unavailable_pct)
    });
    let slowest = report
        .runs
        .iter()
        .flat_map(|r| r.seconds.iter().filter_map(|s| s.other_zones_api_max_ms))
        .fold(100.0, f64::max);
    chart(&mut out, "latency", "Slowest call in the other zones and zone-free, ms", "", slowest, report, |s| {
        s.other_zones_api_max_ms
    });
    out.push_str("</div>");

    out.push_str(
        "<h2>squall's figures beside the event's</h2><table><thead><tr><th>figure</th><th>April 2011</th><th>legacy</th><th>hardened</th></tr></thead><tbody>",
    );
    let rows: [(&str, &str, Figure); 10] = [
        ("volumes stuck in the affected zone: peak, mean while the fault lasted", "~13%", |s| {
            format!("{:.1}%, {:.1}% of {}", s.volumes_stuck_peak_pct, s.volumes_stuck_mean_pct, s.volumes)
        }),
        ("stuck volumes in other zones, peak", "&lt; 0.07%", |s| format!("{:.2}%", s.other_zones_stuck_peak_pct)),
        (
            "API calls in other zones and zone-free, while the fault lasted",
            "failing region-wide (thread starvation)",
            |s| {
                format!(
                    "{:.1}% served (worst second {:.0}%)",
                    s.other_zones_api_ok_pct,
                    s.other_zones_api_ok_min_pct.min(s.zone_free_api_ok_min_pct)
                )
            },
        ),
        ("CreateVolume into the zone", "slow, then disabled by operators", |s| {
            format!("{:.1}% served", s.affected_zone_api_ok_pct)
        }),
        ("single-AZ DB instances stuck, peak", "45%", |s| {
            format!("{:.0}% of {}", s.single_az_db_stuck_peak_pct, s.single_az_db)
        }),
        ("Multi-AZ DB instances that did not fail over", "2.5%", |s| {
            format!(
                "{:.0}% ({} refused, {} failovers) of {}",
                s.multi_az_not_failed_over_pct, s.failovers_refused, s.failovers, s.multi_az_db
            )
        }),
        ("volumes still stuck when the drill gave up", "0.07% never restored consistently", |s| {
            s.volumes_unrecovered.to_string()
        }),
        ("acknowledged block writes lost", "data of 0.07% of volumes", |s| {
            format!("{} of {}", s.writes_lost, s.writes_acked)
        }),
        ("acknowledged SQL commits lost", "0.4% of single-AZ instances had an unrecoverable volume", |s| {
            format!("{} of {}", s.commits_lost, s.commits_acked)
        }),
        ("re-mirror attempts; nodes crashed by the race", "storm; +5% stuck", |s| {
            format!("{}; {}", s.remirror_attempts, s.crashes_on_close)
        }),
    ];
    for (name, seed, f) in rows {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td>{seed}</td><td>{}</td><td>{}</td></tr>",
            esc(&figure(report, "legacy", f)),
            esc(&figure(report, "hardened", f))
        );
    }
    out.push_str("</tbody></table>");
    out.push_str(r#"<h2>What happened</h2><div class="reading">"#);
    for p in reading(report) {
        let _ = write!(out, "<p>{}</p>", esc(&p));
    }
    out.push_str("</div>");
    for r in &report.runs {
        let codes: Vec<String> = r
            .errors
            .iter()
            .flat_map(|(who, codes)| codes.iter().map(move |(code, n)| format!("{who}: {code} ×{n}")))
            .collect();
        let _ = write!(
            out,
            r#"<p class="muted">{} errors by code: {}</p>"#,
            r.policy,
            esc(&if codes.is_empty() { "none".to_string() } else { codes.join(", ") })
        );
    }
    out.push_str("</main></body></html>\n");
    out
}

/// A few sentences a person reads at a glance, from the numbers.
fn reading(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(l) = run(report, "legacy") {
        let s = &l.summary;
        out.push(format!(
            "Under the legacy policy, the network change left up to {:.0}% of us-east-1a's volumes stuck (the event: about 13%). Their replicas searched for new peers at once, with no grace and no reservation ({} re-mirror attempts), copying from where they stood — many over the starved network, so they stayed stuck until it healed; {} nodes crashed closing replication connections.",
            s.volumes_stuck_peak_pct, s.remirror_attempts, s.crashes_on_close
        ));
        out.push(format!(
            "CreateVolume calls into the zone waited on its storage with long time-outs and held the region's API workers: calls in the other zones and zone-free calls were served {:.0}% of the time while the fault lasted, {:.0}% in the worst second — a zone's trouble became the region's, as in 2011.",
            s.other_zones_api_ok_pct,
            s.other_zones_api_ok_min_pct.min(s.zone_free_api_ok_min_pct)
        ));
        out.push(format!(
            "Single-AZ DB instances were stuck up to {:.0}%, more than the volumes' {:.0}%: each stripes its storage over four volumes and is stuck if any one is. Of the Multi-AZ instances, {} failed over and {} refused to (standby not in sync).",
            s.single_az_db_stuck_peak_pct, s.volumes_stuck_peak_pct, s.failovers, s.failovers_refused
        ));
    }
    if let Some(h) = run(report, "hardened") {
        let s = &h.summary;
        out.push(format!(
            "Under the hardened policy, the same change left {:.0}% of the zone's volumes stuck at first, {:.0}% on average while it lasted (legacy: {:.0}%): replicas waited a moment for their peers, then copied from the replica clients still reach, with space reserved and searches backing off. The zone's calls failed fast with a clear error instead of holding workers, so the other zones' and zone-free calls were served {:.1}% of the time.",
            s.volumes_stuck_peak_pct,
            s.volumes_stuck_mean_pct,
            run(report, "legacy").map_or(f64::NAN, |l| l.summary.volumes_stuck_mean_pct),
            s.other_zones_api_ok_pct
        ));
    }
    let lost: u64 = report.runs.iter().map(|r| r.summary.writes_lost + r.summary.commits_lost).sum();
    let writes: u64 = report.runs.iter().map(|r| r.summary.writes_acked).sum();
    let commits: u64 = report.runs.iter().map(|r| r.summary.commits_acked).sum();
    out.push(if lost == 0 {
        format!(
            "Every one of the {writes} block writes and {commits} SQL commits squall acknowledged was there after the drill."
        )
    } else {
        format!("{lost} acknowledged writes or commits (of {writes} and {commits}) were missing after the drill: see report.json.")
    });
    out
}
