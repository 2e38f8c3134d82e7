//! The tamper-evident trail on the real control plane: the controller writes a hash-chained file whose
//! signed checkpoints are anchored in the cluster, `kubejit audit verify` passes on it and detects
//! edits and truncation.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::BoundedOutput;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kubejit_testenv::shared;
use support::{eventually, start_controller};

fn verify(
    cp: &kubejit_testenv::ControlPlane,
    file: &Path,
    public_key: &Path,
    trail: &str,
) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["audit", "verify"])
        .arg(file)
        .arg("--public-key")
        .arg(public_key)
        .args([
            "--checkpoints",
            "from-cluster",
            "--trail",
            trail,
            "--kubeconfig",
        ])
        .arg(cp.admin_kubeconfig())
        .output_bounded()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn anchored_sequence(cp: &kubejit_testenv::ControlPlane, trail: &str) -> u64 {
    let jsonpath =
        format!("jsonpath={{.metadata.annotations.kubejit\\.dev/audit-checkpoint\\.{trail}}}");
    let out = cp.admin(&[
        "get",
        "configmap",
        "kubejit-audit-checkpoints",
        "-n",
        "kubejit-system",
        "-o",
        &jsonpath,
    ]);
    out.ok()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["sequence"].as_u64())
        .unwrap_or(0)
}

#[test]
fn controller_trail_verifies_and_tampering_is_detected() {
    let cp = shared();
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key, trail_file) = (
        dir.path().join("key.pem"),
        dir.path().join("pub.pem"),
        dir.path().join("trail-a.jsonl"),
    );
    let keygen = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["audit", "keygen", "--out"])
        .arg(&key)
        .output_bounded()
        .unwrap();
    assert!(keygen.status.success());
    std::fs::write(&public_key, &keygen.stdout).unwrap();

    let ctl = start_controller(
        cp,
        &[
            "--lease-name",
            "audit-test",
            "--controllers",
            "reaper",
            "--audit-log",
            trail_file.to_str().unwrap(),
            "--audit-signing-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "1",
        ],
    );
    // Started + leadership acquired, each sealed and anchored in the cluster.
    eventually(Duration::from_secs(30), "two anchored checkpoints", || {
        (anchored_sequence(cp, "trail-a") >= 2).then_some(())
    });
    let (status, log) = ctl.stop();
    assert!(status.success(), "{log}");
    let text = std::fs::read_to_string(&trail_file).unwrap();
    assert!(
        text.contains("\"kind\":\"controllerStarted\"")
            && text.contains("\"kind\":\"leadershipAcquired\""),
        "{text}"
    );

    let (code, out) = verify(cp, &trail_file, &public_key, "trail-a");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("OK"), "{out}");

    // Truncation: drop the last event and its checkpoint. The rest is a self-consistent chain; only
    // the checkpoint anchored in the cluster (flushed on shutdown) knows the tail existed.
    let truncated = dir.path().join("truncated.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&truncated, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let (code, out) = verify(cp, &truncated, &public_key, "trail-a");
    assert_eq!(code, Some(13), "truncation: {out}");

    // One edited byte in the first record.
    let edited = dir.path().join("edited.jsonl");
    std::fs::write(
        &edited,
        text.replacen("controllerStarted", "controllerStartee", 1),
    )
    .unwrap();
    let (code, out) = verify(cp, &edited, &public_key, "trail-a");
    assert_ne!(code, Some(0), "edit: {out}");
    assert!(out.contains("BROKEN"), "{out}");
}
