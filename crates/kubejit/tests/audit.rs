//! The tamper-evident trail on the real control plane: the controller writes a hash-chained file whose
//! signed checkpoints are anchored in the cluster, `kubejit audit verify` passes on it and detects
//! edits, truncation, and an admin rolling back, splicing or deleting the anchor; a truncated trail is
//! refused on restart; two replicas keep separate anchor entries.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::BoundedOutput;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kubejit_testenv::shared;
use support::{eventually, run_ok, start_controller};

const CONFIGMAP: &str = "kubejit-audit-checkpoints";
const NAMESPACE: &str = "kubejit-system";

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

/// The anchored history of `trail` as kubectl shows it (empty when absent).
fn anchored_history(cp: &kubejit_testenv::ControlPlane, trail: &str) -> Vec<serde_json::Value> {
    let Ok(out) = cp.admin(&["get", "configmap", CONFIGMAP, "-n", NAMESPACE, "-o", "json"]) else {
        return Vec::new();
    };
    let cm: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let value = &cm["metadata"]["annotations"][format!("kubejit.dev/audit-checkpoint.{trail}")];
    value
        .as_str()
        .map(|v| serde_json::from_str(v).unwrap())
        .unwrap_or_default()
}

fn anchored_sequence(cp: &kubejit_testenv::ControlPlane, trail: &str) -> u64 {
    anchored_history(cp, trail)
        .last()
        .and_then(|c| c["sequence"].as_u64())
        .unwrap_or(0)
}

/// What a cluster admin can do with kubectl: overwrite (or, with `None`, delete) a trail's entry.
fn set_anchor(
    cp: &kubejit_testenv::ControlPlane,
    trail: &str,
    history: Option<&[serde_json::Value]>,
) {
    let key = format!("kubejit.dev/audit-checkpoint.{trail}");
    let arg = match history {
        Some(h) => format!("{key}={}", serde_json::to_string(h).unwrap()),
        None => format!("{key}-"),
    };
    cp.admin(&[
        "annotate",
        "configmap",
        CONFIGMAP,
        "-n",
        NAMESPACE,
        &arg,
        "--overwrite",
    ])
    .unwrap();
}

/// A signing key pair in `dir`: (private key, public key).
fn keypair(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, public_key) = (dir.join("key.pem"), dir.join("pub.pem"));
    let keygen = run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["audit", "keygen", "--out"])
            .arg(&key),
    );
    std::fs::write(&public_key, &keygen.stdout).unwrap();
    (key, public_key)
}

/// Controller flags for a trail at `file` named `trail`, checkpointing after every record.
fn trail_flags<'a>(lease: &'a str, trail: &'a str, file: &'a Path, key: &'a Path) -> Vec<&'a str> {
    vec![
        "--lease-name",
        lease,
        "--controllers",
        "reaper",
        "--audit-log",
        file.to_str().unwrap(),
        "--audit-trail",
        trail,
        "--audit-signing-key",
        key.to_str().unwrap(),
        "--audit-checkpoint-every",
        "1",
    ]
}

/// Runs `kubejit controller` expecting it to exit by itself; killed (and the test failed) after a
/// minute. Returns the exit status and stderr.
fn controller_exit(
    cp: &kubejit_testenv::ControlPlane,
    extra: &[&str],
) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .arg("controller")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig(kubejit_testenv::CONTROLLER_SA).unwrap())
        .args(["--http-addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let Some(status) = support::poll(Duration::from_secs(60), || child.try_wait().unwrap()) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the controller did not exit within 60 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    (status, std::fs::read_to_string(&log).unwrap())
}

#[test]
fn controller_trail_verifies_and_tampering_is_detected() {
    let cp = shared();
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = keypair(dir.path());
    let trail_file = dir.path().join("trail-a.jsonl");
    let ctl = start_controller(cp, &trail_flags("audit-test", "trail-a", &trail_file, &key));
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

/// An admin with kubectl rolls the anchor back to an earlier (validly signed) history, splices it, or
/// deletes it: each is a distinct verify failure.
#[test]
fn admin_rollback_splice_or_deletion_of_the_anchor_is_detected() {
    let cp = shared();
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = keypair(dir.path());
    let file = dir.path().join("rollback.jsonl");
    let ctl = start_controller(
        cp,
        &trail_flags("audit-rollback", "rollback-a", &file, &key),
    );
    let early = eventually(
        Duration::from_secs(30),
        "a first anchored checkpoint",
        || {
            let history = anchored_history(cp, "rollback-a");
            (!history.is_empty()).then_some(history)
        },
    );
    let (status, log) = ctl.stop();
    assert!(status.success(), "{log}");
    let full = anchored_history(cp, "rollback-a");
    assert!(
        full.len() >= 3,
        "leadershipLost and the final seal were anchored: {full:?}"
    );
    let (code, out) = verify(cp, &file, &public_key, "rollback-a");
    assert_eq!(code, Some(0), "{out}");

    set_anchor(cp, "rollback-a", Some(&early));
    let (code, out) = verify(cp, &file, &public_key, "rollback-a");
    assert_eq!(code, Some(16), "rolled back: {out}");
    assert!(out.contains("anchorRolledBack"), "{out}");

    let mut spliced = full.clone();
    spliced.remove(full.len() - 2);
    set_anchor(cp, "rollback-a", Some(&spliced));
    let (code, out) = verify(cp, &file, &public_key, "rollback-a");
    assert_eq!(code, Some(17), "not a chain: {out}");

    set_anchor(cp, "rollback-a", None);
    let (code, out) = verify(cp, &file, &public_key, "rollback-a");
    assert_eq!(code, Some(18), "deleted: {out}");

    set_anchor(cp, "rollback-a", Some(&full));
    let (code, out) = verify(cp, &file, &public_key, "rollback-a");
    assert_eq!(code, Some(0), "restored: {out}");
}

/// Cutting the trail's tail and restarting the controller: it refuses to start, says why and how to go
/// on, records `trailTruncated` in the spool, and appends nothing; a new, explicitly named trail starts.
#[test]
fn truncated_trail_is_refused_on_restart_and_a_new_named_trail_starts() {
    let cp = shared();
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = keypair(dir.path());
    let file = dir.path().join("trunc.jsonl");
    let flags = trail_flags("audit-trunc", "trunc-a", &file, &key);
    let ctl = start_controller(cp, &flags);
    eventually(Duration::from_secs(30), "two anchored checkpoints", || {
        (anchored_sequence(cp, "trunc-a") >= 2).then_some(())
    });
    let (status, log) = ctl.stop();
    assert!(status.success(), "{log}");

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n") + "\n";
    std::fs::write(&file, &cut).unwrap();
    let (status, stderr) = controller_exit(cp, &flags);
    assert!(
        !status.success(),
        "a truncated trail must not be resumed: {stderr}"
    );
    assert!(
        stderr.contains("refusing to continue audit trail \"trunc-a\"")
            && stderr.contains("records were cut off the end")
            && stderr.contains("--audit-trail"),
        "the error says what happened and how to go on: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        cut,
        "nothing appended"
    );
    let spool = std::fs::read_to_string(dir.path().join("trunc.jsonl.spool")).unwrap();
    let records: Vec<serde_json::Value> = spool
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{spool}");
    assert_eq!(records[0]["kind"], "trailTruncated");
    assert_eq!(records[0]["decisionReason"], "fileBehindAnchor");
    assert_eq!(records[0]["object"]["name"], "trunc-a");

    // The operator keeps the evidence and starts a new, explicitly named trail.
    let fresh = dir.path().join("trunc-2.jsonl");
    let ctl = start_controller(cp, &trail_flags("audit-trunc", "trunc-a2", &fresh, &key));
    eventually(Duration::from_secs(30), "the new trail anchored", || {
        (anchored_sequence(cp, "trunc-a2") >= 2).then_some(())
    });
    let (status, log) = ctl.stop();
    assert!(status.success(), "{log}");
    let (code, out) = verify(cp, &fresh, &public_key, "trunc-a2");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = verify(cp, &file, &public_key, "trunc-a");
    assert_eq!(
        code,
        Some(13),
        "the old trail still shows its truncation: {out}"
    );
}

/// Two replicas behind one Lease, each with its own trail (named by its holder identity): a failover
/// leaves both entries in place and both trails verify; a third replica misconfigured with the first's
/// trail name refuses to start instead of overwriting the entry.
#[test]
fn two_replicas_keep_separate_anchor_entries() {
    let cp = shared();
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = keypair(dir.path());
    let file_a = dir.path().join("a.jsonl");
    let file_b = dir.path().join("b.jsonl");
    let flags = |who: &'static str, file: &Path| -> Vec<String> {
        [
            "--lease-name",
            "audit-replicas",
            "--controllers",
            "reaper",
            "--holder-identity",
            who,
            "--audit-log",
            file.to_str().unwrap(),
            "--audit-signing-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "1",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let a_flags = flags("audit-replica-a", &file_a);
    let b_flags = flags("audit-replica-b", &file_b);
    let a = start_controller(cp, &strs(&a_flags));
    let b = start_controller(cp, &strs(&b_flags));
    eventually(Duration::from_secs(30), "both replicas anchored", || {
        (anchored_sequence(cp, "audit-replica-a") >= 1
            && anchored_sequence(cp, "audit-replica-b") >= 1)
            .then_some(())
    });
    let (status, log) = a.stop();
    assert!(status.success(), "{log}");
    let a_final = anchored_history(cp, "audit-replica-a");
    eventually(
        Duration::from_secs(30),
        "replica b to take over and record it",
        || {
            std::fs::read_to_string(&file_b)
                .unwrap()
                .contains("\"kind\":\"leadershipAcquired\"")
                .then_some(())
        },
    );
    let (status, log) = b.stop();
    assert!(status.success(), "{log}");
    assert_eq!(
        anchored_history(cp, "audit-replica-a"),
        a_final,
        "b never touched a's entry"
    );
    for history in [&a_final, &anchored_history(cp, "audit-replica-b")] {
        let trail = history[0]["trail"].as_str().unwrap();
        assert!(history.iter().all(|c| c["trail"] == trail), "{history:?}");
    }
    for (file, trail) in [(&file_a, "audit-replica-a"), (&file_b, "audit-replica-b")] {
        let (code, out) = verify(cp, file, &public_key, trail);
        assert_eq!(code, Some(0), "{trail}: {out}");
    }

    let file_c = dir.path().join("c.jsonl");
    let mut c_flags = flags("audit-replica-c", &file_c);
    c_flags.extend(["--audit-trail".to_owned(), "audit-replica-a".to_owned()]);
    let (status, stderr) = controller_exit(cp, &strs(&c_flags));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing to continue audit trail \"audit-replica-a\""),
        "{stderr}"
    );
    assert_eq!(
        anchored_history(cp, "audit-replica-a"),
        a_final,
        "c never touched a's entry"
    );
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
