//! A whole incident through the real apiserver, with its real audit log: an AccessPolicy, a short-lived
//! certificate from the exec plugin approved by the controller, a grant by the incident commander,
//! kubectl get/logs/exec as the on-call engineer, a forbidden attempt, expiry — then the trail verifies
//! against its cluster anchor and `kubejit audit report --incident` shows exactly those actions and
//! nothing from anyone else.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use kubejit_testenv::BoundedOutput;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kubejit_testenv::{ControlPlane, shared};
use serde_json::{Value, json};
use support::{eventually, kubejit, namespace_with_pod, run_ok, start_controller};

const LOG: &str = "2026-11-26T09:15:41Z ERROR ledger write timeout\n";
const CERT_GROUP: &str = "incident-debuggers";
const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");

/// The on-call Role alone (its group binding dropped): access comes only from the grant.
fn role_only(cp: &ControlPlane, ns: &str) {
    let out = kubejit(&[
        "manifests",
        "oncall-role",
        "-n",
        ns,
        "-g",
        "nobody",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    cp.apply(&list["items"][0].to_string()).unwrap();
}

/// Certificates with `incident-debuggers` for on-call-payments engineers, grants of the on-call Role to
/// that group by incident commanders; both need an `INC-<digits>` incident.
fn policies(cp: &ControlPlane, ns: &str) {
    let certs = json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessPolicy",
        "metadata": { "name": format!("certs-{ns}") },
        "spec": {
            "requesters": { "groups": ["oncall-payments"] },
            "certificateGroups": [CERT_GROUP],
            "maxTTL": "1h",
            "incident": { "pattern": "INC-[0-9]+" },
            "approval": { "mode": "Auto" },
        },
    });
    let grants = grant_support::grant_policy(ns, "10m", "Role", &[CERT_GROUP]);
    cp.apply(&format!("{certs}\n---\n{grants}")).unwrap();
    let requester = REQUESTER_RBAC.replace(
        "  kind: Group\n  name: kubejit-requesters",
        "  kind: Group\n  name: oncall-payments",
    );
    cp.apply(&requester).unwrap();
}

/// alice's kubeconfig with an `oncall` context whose user is the exec plugin (written by kubejit).
fn plugin_kubeconfig(cp: &ControlPlane, dir: &Path, incident: &str) -> std::path::PathBuf {
    let config = dir.join("config");
    std::fs::copy(cp.kubeconfig("alice").unwrap(), &config).unwrap();
    let (config_s, cache) = (config.to_str().unwrap(), dir.join("cache"));
    run_ok(Command::new(env!("CARGO_BIN_EXE_kubejit")).args([
        "kubeconfig",
        "add-user",
        "--kubeconfig",
        config_s,
        "--name",
        "oncall",
        "--context",
        "alice",
        "--group",
        CERT_GROUP,
        "--incident",
        incident,
        "--ttl",
        "15m",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]));
    config
}

fn oncall_kubectl(cp: &ControlPlane, config: &Path, args: &[&str]) -> Output {
    Command::new(cp.binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(config)
        .args(["--context", "oncall"])
        .args(args)
        .output_bounded()
        .unwrap()
}

#[test]
fn a_whole_incident_is_answered_by_the_report() {
    let cp = shared();
    let digits = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let incident = format!("INC-{digits}");
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key, trail) = (
        dir.path().join("key.pem"),
        dir.path().join("key.pub"),
        dir.path().join("incident.jsonl"),
    );
    let keygen = run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["audit", "keygen", "--out"])
            .arg(&key),
    );
    std::fs::write(&public_key, &keygen.stdout).unwrap();
    let ctl = start_controller(
        cp,
        &[
            "--lease-name",
            "incident-test",
            "--audit-log",
            trail.to_str().unwrap(),
            "--audit-trail",
            "incident-test",
            "--audit-signing-key",
            key.to_str().unwrap(),
            "--audit-checkpoint-every",
            "5",
        ],
    );

    let ns = namespace_with_pod(cp, "incident", LOG);
    role_only(cp, &ns);
    policies(cp, &ns);
    let config = plugin_kubeconfig(cp, dir.path(), &incident);

    // Before the grant alice's certificate (issued now, via the controller) authenticates her, but
    // authorizes nothing.
    let whoami = oncall_kubectl(cp, &config, &["auth", "whoami", "-o", "json"]);
    let me: Value = serde_json::from_slice(&whoami.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&whoami.stderr)));
    assert_eq!(me["status"]["userInfo"]["username"], "alice");
    assert!(
        me["status"]["userInfo"]["groups"]
            .as_array()
            .unwrap()
            .contains(&json!(CERT_GROUP))
    );

    // The incident commander grants the on-call Role to the certificate group for a short while.
    let granted = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBECONFIG")
        .args([
            "grant",
            "-n",
            &ns,
            "--role",
            "oncall-debug",
            "--group",
            CERT_GROUP,
            "--incident",
            &incident,
        ])
        .args([
            "--ttl",
            "12s",
            "--reason",
            "ledger write timeouts",
            "--kubeconfig",
        ])
        .arg(cp.kubeconfig("irene").unwrap())
        .output_bounded()
        .unwrap();
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    // The on-call work: list, logs, exec — and one forbidden attempt.
    let pods = oncall_kubectl(cp, &config, &["get", "pods", "-n", &ns, "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&pods.stdout),
        "pod/api\n",
        "{}",
        String::from_utf8_lossy(&pods.stderr)
    );
    let logs = oncall_kubectl(cp, &config, &["logs", "-n", &ns, "api"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), LOG);
    let exec = oncall_kubectl(cp, &config, &["exec", "-n", &ns, "api", "--", "echo", "hi"]);
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "hi\n");
    let secrets = oncall_kubectl(cp, &config, &["get", "secrets", "-n", &ns]);
    assert!(String::from_utf8_lossy(&secrets.stderr).contains("forbidden"));
    // Others act meanwhile; none of it belongs in this incident's report.
    let _ = cp.kubectl_as("bob", &["get", "pods", "-n", &ns]);
    let _ = cp.kubectl_as("mallory", &["get", "pods", "-n", &ns]);

    // Expiry: the reaper deletes the grant and the same exec is Forbidden.
    eventually(Duration::from_secs(60), "the grant to be deleted", || {
        let left = cp
            .admin(&["get", "rolebindings", "-n", &ns, "-o", "name"])
            .unwrap()
            .stdout;
        left.trim().is_empty().then_some(())
    });
    let after = oncall_kubectl(cp, &config, &["exec", "-n", &ns, "api", "--", "echo", "hi"]);
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("forbidden"),
        "exec after expiry must be Forbidden"
    );

    let (status, log) = ctl.stop();
    assert!(status.success(), "{log}");

    // The trail verifies against the checkpoint anchored in the cluster.
    let verify = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["audit", "verify"])
        .arg(&trail)
        .arg("--public-key")
        .arg(&public_key)
        .args([
            "--checkpoints",
            "from-cluster",
            "--trail",
            "incident-test",
            "--kubeconfig",
        ])
        .arg(cp.admin_kubeconfig())
        .output_bounded()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The report: alice's certificate and the group grant, and exactly alice's requests.
    let report = run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["audit", "report", "--incident", &incident, "--trail"])
            .arg(&trail)
            .arg("--apiserver-log")
            .arg(cp.audit_log())
            .args(["-o", "json"]),
    );
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let sources: Vec<&str> = report["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"certificate") && sources.contains(&"grant"),
        "{sources:?}"
    );
    let rows = report["rows"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["user"] == "alice"),
        "only alice: {rows:#?}"
    );
    let has = |verb: &str, resource: &str, sub: Option<&str>, code: u64| {
        rows.iter().any(|r| {
            r["verb"] == verb
                && r["resource"] == resource
                && r["subresource"].as_str() == sub
                && r["namespace"] == ns.as_str()
                && r["code"] == code
        })
    };
    assert!(has("list", "pods", None, 200), "get pods");
    assert!(has("get", "pods", Some("log"), 200), "logs");
    assert!(
        has("get", "pods", Some("exec"), 101) || has("create", "pods", Some("exec"), 101),
        "exec"
    );
    assert!(has("list", "secrets", None, 403), "the forbidden attempt");
    // After expiry kubectl exec is refused at its first step, reading the pod.
    assert!(
        has("get", "pods", None, 403),
        "exec after expiry: {rows:#?}"
    );

    let markdown = run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["audit", "report", "--incident", &incident, "--trail"])
            .arg(&trail)
            .arg("--apiserver-log")
            .arg(cp.audit_log())
            .args(["-o", "markdown"]),
    );
    let markdown = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        markdown.contains("| ") && markdown.contains("exec"),
        "{markdown}"
    );
}
