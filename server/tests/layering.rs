//! The crate graph as DESIGN.md §2 draws it, checked from `cargo metadata` (Firecracker keeps
//! the same kind of policy test): storage and control know no HTTP, XML or AWS, not even
//! through another crate; the NBD server uses no HTTP crate; wire crates do not reach into
//! storage; only the `squall` binary composes services; only `sdk-tests` sees AWS SDKs. A crate
//! that is not in the table fails the test until someone decides where it belongs.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// For each workspace crate: the squall crates it may depend on directly.
const ALLOWED_INTERNAL: &[(&str, &[&str])] = &[
    ("squall-storage", &[]),
    ("squall-control", &["squall-storage"]),
    ("squall-protocol", &[]),
    ("squall-ec2", &["squall-protocol", "squall-control"]),
    ("squall-sts", &["squall-protocol"]),
    ("squall-rds", &["squall-protocol", "squall-control"]),
    ("squall-ebs", &["squall-protocol", "squall-control"]),
    ("squall-fis", &["squall-protocol", "squall-control"]),
    ("squall-secretsmanager", &["squall-protocol", "squall-control"]),
    ("squall-fault-api", &["squall-protocol", "squall-control"]),
    ("squall-nbd", &["squall-control"]),
    ("squall-sql", &["squall-control"]),
    (
        "squall",
        &[
            "squall-protocol",
            "squall-control",
            "squall-ec2",
            "squall-sts",
            "squall-rds",
            "squall-ebs",
            "squall-fis",
            "squall-secretsmanager",
            "squall-fault-api",
            "squall-nbd",
            "squall-sql",
        ],
    ),
    ("squall-sdk-tests", &["squall"]),
];

/// External crates that speak HTTP, XML or AWS: none may appear below the wire layer.
const HTTP_XML_AWS: &[&str] = &[
    "hyper",
    "hyper-util",
    "http",
    "http-body-util",
    "axum",
    "reqwest",
    "quick-xml",
    "xml-rs",
    "form_urlencoded",
    "aws-",
];

/// Crates that serve or speak HTTP: the NBD data path has no use for any of them.
const HTTP: &[&str] = &["hyper", "hyper-util", "http", "http-body", "http-body-util", "h2", "axum", "reqwest"];

/// For each crate: external crates (or name prefixes ending in `-`) it must not depend on, directly
/// or through any other crate.
fn forbidden_external(krate: &str) -> Vec<&'static str> {
    match krate {
        "squall-storage" | "squall-control" => HTTP_XML_AWS.to_vec(),
        // The data paths (NBD, the SQL endpoints) have no use for HTTP.
        "squall-nbd" | "squall-sql" => HTTP.iter().copied().chain(["aws-"]).collect(),
        // Everything but the test crate must build without the (slow) AWS SDK crates.
        "squall-sdk-tests" => vec![],
        _ => vec!["aws-"],
    }
}

/// Each crate's direct normal and build dependencies (dev-dependencies may cross layers: a test
/// may use what it tests against), workspace crates and external ones alike.
type Graph = BTreeMap<String, Vec<String>>;

/// Every crate `krate` depends on, directly or not.
fn closure(graph: &Graph, krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = graph.get(krate).into_iter().flatten().map(String::as_str).collect();
    while let Some(dep) = todo.pop() {
        if seen.insert(dep.to_string()) {
            todo.extend(graph.get(dep).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

fn violations(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    let workspace: Vec<&String> = graph.keys().filter(|k| k.starts_with("squall")).collect();
    for krate in workspace {
        let Some((_, allowed)) = ALLOWED_INTERNAL.iter().find(|(name, _)| name == krate) else {
            out.push(format!("{krate} is not in the layering table of server/tests/layering.rs: decide its layer"));
            continue;
        };
        for dep in &graph[krate] {
            if dep.starts_with("squall") && !allowed.contains(&dep.as_str()) {
                out.push(format!("{krate} must not depend on {dep}"));
            }
        }
        let forbidden = forbidden_external(krate);
        for dep in closure(graph, krate) {
            let rule = forbidden.iter().find(|f| if f.ends_with('-') { dep.starts_with(*f) } else { dep == **f });
            if let Some(rule) = rule {
                let how = if graph[krate].contains(&dep) { "" } else { ", through another crate" };
                out.push(format!("{krate} must not depend on {dep} (forbidden: {rule}{how})"));
            }
        }
    }
    out
}

/// The resolved dependency graph of the whole build, by crate name.
fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let mut graph = Graph::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let name = names[node["id"].as_str().expect("id")].to_string();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| d["dep_kinds"].as_array().expect("dep_kinds").iter().any(|k| k["kind"].as_str() != Some("dev")))
            .map(|d| names[d["pkg"].as_str().expect("pkg")].to_string())
            .collect::<Vec<_>>();
        graph.entry(name).or_default().extend(deps);
    }
    graph
}

#[test]
fn the_workspace_follows_the_layering() {
    let graph = workspace_graph();
    assert!(graph.contains_key("squall-storage") && graph.contains_key("squall"), "unexpected workspace: {graph:?}");
    let v = violations(&graph);
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
}

#[test]
fn the_checker_catches_forbidden_edges() {
    let mut graph = workspace_graph();
    graph.get_mut("squall-storage").unwrap().push("quick-xml".into());
    graph.insert("quick-xml".into(), vec![]);
    graph.get_mut("squall-ec2").unwrap().push("squall-storage".into());
    graph.get_mut("squall-protocol").unwrap().push("squall-control".into());
    graph.get_mut("squall-nbd").unwrap().push("fancy-http-client".into());
    graph.insert("fancy-http-client".into(), vec!["reqwest".into()]);
    graph.insert("reqwest".into(), vec![]);
    graph.insert("squall-newthing".into(), vec![]);
    let v = violations(&graph);
    assert_eq!(
        v,
        [
            "squall-control must not depend on quick-xml (forbidden: quick-xml, through another crate)",
            "squall-ec2 must not depend on squall-storage",
            "squall-nbd must not depend on reqwest (forbidden: reqwest, through another crate)",
            "squall-newthing is not in the layering table of server/tests/layering.rs: decide its layer",
            "squall-protocol must not depend on squall-control",
            "squall-storage must not depend on quick-xml (forbidden: quick-xml)",
        ]
    );
}

/// `cargo run --release` (the README's first command) builds the default members: they must not
/// pull in the AWS SDK crates, which only the tests use (minutes of compiling on a small machine).
#[test]
fn cargo_run_builds_no_aws_sdk() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let defaults: Vec<&str> = meta["workspace_default_members"]
        .as_array()
        .expect("workspace_default_members (cargo 1.71+)")
        .iter()
        .map(|id| names[id.as_str().expect("id")])
        .collect();
    assert!(defaults.contains(&"squall"), "the server is a default member: {defaults:?}");
    let graph = workspace_graph();
    for krate in &defaults {
        let sdks: Vec<String> = closure(&graph, krate).into_iter().filter(|d| d.starts_with("aws-sdk-")).collect();
        assert!(sdks.is_empty(), "{krate} (a default member) builds {sdks:?}");
    }
}
