//! docs/architecture.md's dependency table is the real crate graph: every crate in `crates/`, and
//! exactly the kubejit crates each one's `Cargo.toml` depends on; and the binary built without the
//! `sandbox` feature links no test harness.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

type Graph = BTreeMap<String, Vec<String>>;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

/// The kubejit crates named in a manifest's `[dependencies]` section (not dev- or build-), an optional
/// one as "name (optional)".
fn kubejit_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut deps: Vec<String> = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        let name = line.split(['.', '=', ' ']).next().unwrap_or_default();
        if in_dependencies && name.starts_with("kubejit") {
            if line.contains("optional = true") {
                deps.push(format!("{name} (optional)"));
            } else {
                deps.push(name.to_owned());
            }
        }
    }
    deps.sort();
    deps
}

fn from_manifests() -> Graph {
    std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            (name, kubejit_dependencies(&manifest))
        })
        .collect()
}

/// Rows like "| `kubejit-kube` | `kubejit-audit`, `kubejit-core` |"; an optional dependency reads
/// "`kubejit-testenv` (optional)".
fn from_docs() -> Graph {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    doc.lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split('|').map(str::trim);
            let name = cells.next()?.trim_end_matches('`').to_owned();
            let mut deps: Vec<String> = cells
                .next()?
                .split(',')
                .map(|d| d.replace('`', "").trim().to_owned())
                .filter(|d| d.starts_with("kubejit"))
                .collect();
            deps.sort();
            Some((name, deps))
        })
        .collect()
}

#[test]
fn the_documented_graph_is_the_real_one() {
    let real = from_manifests();
    assert!(real.len() >= 8, "found only {real:?}");
    assert_eq!(from_docs(), real);
}

#[test]
fn dependencies_point_down_the_layers() {
    let layer = |name: &str| match name {
        "kubejit" => 4,
        "kubejit-credential" | "kubejit-grants" | "kubejit-controller" | "kubejit-gateway"
        | "kubejit-lint" => 3,
        "kubejit-kube" => 2,
        "kubejit-audit" => 1,
        "kubejit-core" | "kubejit-testenv" => 0,
        other => panic!("{other} has no layer in docs/architecture.md; add it there and here"),
    };
    for (name, deps) in from_manifests() {
        for dep in deps {
            let dep = dep.trim_end_matches(" (optional)");
            assert!(layer(dep) < layer(&name), "{name} depends on {dep}");
        }
    }
}

/// `cargo build -p kubejit --no-default-features` is the production build (README, the image's
/// Dockerfile): it must not link kubejit-testenv, which only the sandbox needs.
#[test]
fn the_binary_without_the_sandbox_feature_links_no_test_harness() {
    let tree = |features: &[&str]| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut args = vec!["tree", "--locked", "-p", "kubejit", "-e", "normal"];
        args.extend(["--prefix", "none", "--format", "{p}"]);
        args.extend(features);
        let out = std::process::Command::new(cargo)
            .args(&args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let links_testenv = |tree: &str| tree.lines().any(|l| l.starts_with("kubejit-testenv "));
    assert!(
        links_testenv(&tree(&[])),
        "the default build has the sandbox (else this test proves nothing)"
    );
    assert!(!links_testenv(&tree(&["--no-default-features"])));
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let dockerfile = std::fs::read_to_string(repo().join("deploy/image/Dockerfile")).unwrap();
    for (name, text) in [
        ("README.md", readme),
        ("deploy/image/Dockerfile", dockerfile),
    ] {
        assert!(
            text.contains("--no-default-features"),
            "{name} must build the production binary without the sandbox"
        );
    }
}

/// docs/dependencies.md describes what .ci/run does about dependencies; keep the two in step.
#[test]
fn ci_runs_the_dependency_checks_the_docs_describe() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let docs = std::fs::read_to_string(repo().join("docs/dependencies.md")).unwrap();
    for step in [
        "check bans licenses sources",
        "check advisories",
        "KUBEJIT_CI_ADVISORIES",
        "--no-default-features",
    ] {
        assert!(ci.contains(step), ".ci/run lacks {step}");
        assert!(docs.contains(step), "docs/dependencies.md lacks {step}");
    }
    let deny = std::fs::read_to_string(repo().join("deny.toml")).unwrap();
    let skips = deny.lines().filter(|l| l.contains("{ crate = ")).count();
    let reasons = deny.lines().filter(|l| l.contains("reason = \"")).count();
    assert_eq!(skips, reasons, "every skipped duplicate says why");
}
