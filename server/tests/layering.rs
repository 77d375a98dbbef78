//! The crate graph as DESIGN.md §2 draws it, checked from `cargo metadata` (Firecracker keeps
//! the same kind of policy test): storage knows no HTTP, XML or AWS; wire crates do not reach
//! into storage; only the `squall` binary composes services; only `sdk-tests` sees AWS SDKs.
//! A crate that is not in the table fails the test until someone decides where it belongs.

use std::collections::BTreeMap;
use std::process::Command;

/// For each workspace crate: the squall crates it may depend on directly.
const ALLOWED_INTERNAL: &[(&str, &[&str])] = &[
    ("squall-storage", &[]),
    ("squall-control", &["squall-storage"]),
    ("squall-protocol", &[]),
    ("squall-ec2", &["squall-protocol", "squall-control"]),
    ("squall-sts", &["squall-protocol"]),
    ("squall-ebs", &["squall-protocol", "squall-control"]),
    ("squall-fault-api", &["squall-protocol", "squall-control"]),
    ("squall-nbd", &["squall-control"]),
    (
        "squall",
        &[
            "squall-protocol",
            "squall-control",
            "squall-storage",
            "squall-ec2",
            "squall-sts",
            "squall-ebs",
            "squall-fault-api",
            "squall-nbd",
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

/// For each crate: external crates (or name prefixes ending in `-`) it must not depend on.
fn forbidden_external(krate: &str) -> Vec<&'static str> {
    match krate {
        "squall-storage" | "squall-control" => HTTP_XML_AWS.to_vec(),
        // Everything but the test crate must build without the (slow) AWS SDK crates.
        "squall-sdk-tests" => vec![],
        _ => vec!["aws-"],
    }
}

type Graph = BTreeMap<String, Vec<String>>;

fn violations(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, deps) in graph {
        let Some((_, allowed)) = ALLOWED_INTERNAL.iter().find(|(name, _)| name == krate) else {
            out.push(format!("{krate} is not in the layering table of server/tests/layering.rs: decide its layer"));
            continue;
        };
        for dep in deps {
            if dep.starts_with("squall") && graph.contains_key(dep) {
                if !allowed.contains(&dep.as_str()) {
                    out.push(format!("{krate} must not depend on {dep}"));
                }
            } else if let Some(rule) =
                forbidden_external(krate).into_iter().find(
                    |f| {
                        if f.ends_with('-') {
                            dep.starts_with(f)
                        } else {
                            dep == f
                        }
                    },
                )
            {
                out.push(format!("{krate} must not depend on {dep} (forbidden: {rule})"));
            }
        }
    }
    out
}

/// Workspace crates and their direct normal and build dependencies (dev-dependencies may
/// cross layers: a test may use what it tests against).
fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut graph = Graph::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_string();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().expect("dep name").to_string())
            .collect();
        graph.insert(name, deps);
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
    graph.get_mut("squall-storage").unwrap().push("hyper".into());
    graph.get_mut("squall-ec2").unwrap().push("squall-storage".into());
    graph.get_mut("squall-control").unwrap().push("aws-sdk-ec2".into());
    graph.get_mut("squall-protocol").unwrap().push("squall-control".into());
    graph.insert("squall-newthing".into(), vec![]);
    let v = violations(&graph);
    assert_eq!(
        v,
        [
            "squall-control must not depend on aws-sdk-ec2 (forbidden: aws-)",
            "squall-ec2 must not depend on squall-storage",
            "squall-newthing is not in the layering table of server/tests/layering.rs: decide its layer",
            "squall-protocol must not depend on squall-control",
            "squall-storage must not depend on hyper (forbidden: hyper)",
        ]
    );
}

/// Licences that allow shipping squall under Apache-2.0 (SPDX ids as crates declare them).
const ACCEPTED_LICENSES: &[&str] = &[
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "CC0-1.0",
    "MPL-2.0",
    "Unlicense",
    "0BSD",
    "BSL-1.0",
    "OpenSSL",
    "Apache-2.0 WITH LLVM-exception",
    "CDLA-Permissive-2.0",
];

/// Every crate in the lock file may be redistributed with squall: its licence expression offers
/// at least one accepted licence for each `AND` term (old-style `A/B` means `A OR B`).
#[test]
fn every_dependency_has_a_licence_compatible_with_apache_2() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let mut refused = Vec::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap_or_default();
        let license = package["license"].as_str().unwrap_or_default();
        let acceptable = !license.is_empty()
            && license.replace(['(', ')'], "").split(" AND ").all(|term| {
                term.split(" OR ")
                    .flat_map(|t| t.split('/'))
                    .map(str::trim)
                    .any(|l| ACCEPTED_LICENSES.contains(&l.trim_end_matches('+')))
            });
        if !acceptable && !name.starts_with("squall") {
            refused.push(format!("{name} {}: {license:?}", package["version"].as_str().unwrap_or_default()));
        }
    }
    assert!(refused.is_empty(), "crates whose licence squall cannot ship with:\n{}", refused.join("\n"));
}
