//! `kubejit lint` on the real control plane: the cluster after kubejit's install is clean, and the
//! fixture directory (one violation per rule and a compliant control for each,
//! crates/kubejit-lint/fixtures/rules) yields the same findings live as offline, exactly the
//! expected ones.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::shared;
use serde_json::Value;
use support::kubejit;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kubejit-lint/fixtures");

/// `kubejit lint -o json` with `args`; returns the exit code and the findings.
fn lint(args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["lint", "-o", "json", "--break-glass", "User:kjl-breakglass"];
    all.extend_from_slice(args);
    let out = kubejit(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    let findings = parsed["findings"].as_array().unwrap().clone();
    (out.status.code().unwrap(), findings)
}

/// The identity `Finding::key` gives a finding (crates/kubejit-lint/src/finding.rs): what live and
/// offline must agree on (not the location, which only manifests have).
fn key(f: &Value) -> String {
    let object = |o: &Value| match o {
        Value::Null => String::new(),
        o => match o["namespace"].as_str() {
            Some(ns) => format!(
                "{} {ns}/{}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ),
            None => format!(
                "{} {}",
                o["kind"].as_str().unwrap(),
                o["name"].as_str().unwrap()
            ),
        },
    };
    let rule = match &f["rule"] {
        Value::Null => String::new(),
        r => format!("rules[{}] {}", r["index"], r["text"].as_str().unwrap()),
    };
    format!(
        "{} {} | {} | {} | {} | {}",
        f["ruleId"].as_str().unwrap(),
        f["severity"].as_str().unwrap(),
        f["subject"].as_str().unwrap_or(""),
        object(&f["binding"]),
        object(&f["role"]),
        rule
    )
}

fn is_fixture(f: &Value) -> bool {
    ["binding", "role"]
        .iter()
        .any(|k| f[k]["name"].as_str().is_some_and(|n| n.starts_with("kjl0")))
}

#[test]
fn install_is_clean_and_live_findings_equal_offline_and_expected() {
    let cp = shared();
    support::install_kubejit(cp);
    let kubeconfig = cp.admin_kubeconfig().to_str().unwrap().to_owned();

    let (code, findings) = lint(&["--kubeconfig", &kubeconfig]);
    assert_eq!(
        findings,
        Vec::<Value>::new(),
        "a fresh install with kubejit has findings"
    );
    assert_eq!(code, 0);

    let rules = format!("{FIXTURES}/rules");
    let applied = cp.admin(&["apply", "-f", &rules]).unwrap();
    assert!(applied.success, "{}", applied.stderr);

    let (code, live) = lint(&["--kubeconfig", &kubeconfig]);
    assert_eq!(code, 5);
    let others: Vec<&Value> = live.iter().filter(|f| !is_fixture(f)).collect();
    assert!(
        others.is_empty(),
        "findings outside the fixtures: {others:#?}"
    );
    let live: Vec<String> = live.iter().map(key).collect();

    let (code, offline) = lint(&["-f", &rules]);
    assert_eq!(code, 5);
    let offline: Vec<String> = offline.iter().map(key).collect();

    let expected = std::fs::read_to_string(format!("{FIXTURES}/expected.txt")).unwrap();
    let expected: Vec<&str> = expected.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        live,
        offline,
        "live:\n{}\noffline:\n{}",
        live.join("\n"),
        offline.join("\n")
    );
    assert_eq!(live, expected, "live:\n{}", live.join("\n"));
}
