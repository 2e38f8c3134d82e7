//! Time-bound grants on the real control plane with the real kubectl and the controller as a real
//! process: a grant gives exec until its deadline and is then deleted; the policy refuses what it
//! must, writing nothing; revoke and extend are audited; malformed and unannotated bindings survive;
//! the admission policy stops anyone else from editing a grant's annotations.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use std::time::Duration;

use grant_support::{
    admin_binding, annotate_as, annotation, assert_warned_about, audit_records, binding_exists,
    expiring_bindings, grant, kubejit_as, kubejit_ok, namespace_with_role, policy_for,
    policy_for_role, records_for,
};
use kubejit_testenv::{ControlPlane, shared};
use serde_json::json;
use support::{ControllerProcess, assert_forbidden, shared_controller, wait_until};

const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";
const BOUND: Duration = Duration::from_secs(60);

fn controller() -> (&'static ControlPlane, &'static ControllerProcess) {
    let cp = shared();
    let ctl = shared_controller(
        cp,
        &["--controllers", "reaper", "--lease-name", "grants-test"],
    );
    (cp, ctl)
}

/// The shared control plane and reaper, and a fresh namespace with the on-call Role and a grant
/// policy capped at `max_ttl`.
fn granting(
    prefix: &str,
    max_ttl: &str,
) -> (&'static ControlPlane, &'static ControllerProcess, String) {
    let (cp, ctl) = controller();
    let ns = namespace_with_role(cp, prefix);
    policy_for(cp, &ns, max_ttl);
    (cp, ctl, ns)
}

fn exec_as(cp: &ControlPlane, user: &str, ns: &str) -> kubejit_testenv::KubectlOutput {
    cp.kubectl_as(user, &["exec", "-n", ns, "api", "--", "echo", "hi"])
        .unwrap()
}

#[test]
fn a_grant_gives_exec_until_its_deadline_then_the_binding_is_deleted_and_exec_is_forbidden() {
    let (cp, ctl, ns) = granting("grant-exec", "10m");
    assert_forbidden(&exec_as(cp, "alice", &ns), "alice", &["exec"]);

    let name = grant(
        cp,
        &ns,
        "oncall-payments",
        "8s",
        &["--reason", "checkout 500s"],
    );
    let deadline = annotation(cp, &ns, &name, EXPIRES_AT);
    let exec = exec_as(cp, "alice", &ns);
    assert!(
        exec.success,
        "alice can exec while the grant lasts: {}",
        exec.stderr
    );
    assert_eq!(exec.stdout, "hi\n");
    assert!(annotation(cp, &ns, &name, "kubejit.dev/granted-by") == "irene");

    assert!(
        wait_until(BOUND, || !binding_exists(cp, &ns, &name)),
        "the reaper deletes the grant after its deadline {deadline}: {}",
        ctl.log_text()
    );
    let gone_at = time::OffsetDateTime::now_utc();
    let planned =
        time::OffsetDateTime::parse(&deadline, &time::format_description::well_known::Rfc3339)
            .unwrap();
    // Measured, not asserted: how long after the deadline the binding was observed gone.
    eprintln!(
        "grant {name}: observed gone {:.3}s after its deadline",
        (gone_at - planned).as_seconds_f64()
    );
    assert_forbidden(&exec_as(cp, "alice", &ns), "alice", &["exec"]);

    // The record is written just after the delete (time wins over audit): wait for it.
    let audit = support::eventually(BOUND, "the grantExpired record", || {
        let audit = ctl.stdout_audit();
        let found = !records_for(&audit, "grantExpired", &name).is_empty();
        found.then_some(audit)
    });
    let expired = records_for(&audit, "grantExpired", &name);
    assert_eq!(expired.len(), 1, "one grantExpired record: {audit:?}");
    assert_eq!(expired[0]["groups"], json!(["oncall-payments"]));
    assert_eq!(expired[0]["incident"], "INC-4242");
    assert_eq!(expired[0]["expiresAt"], deadline.as_str());
    let created = records_for(&audit, "grantCreated", &name);
    assert_eq!(
        created.len(),
        1,
        "the controller records the grant it saw: {audit:?}"
    );
    assert_eq!(
        created[0]["actor"],
        json!({"kind": "user", "name": "irene"})
    );
    assert!(wait_until(BOUND, || {
        cp.admin(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"])
            .is_ok_and(|o| o.stdout.contains("GrantExpired") && o.stdout.contains(&name))
    }));
    let metrics = ctl.metrics();
    assert!(
        metrics.contains("kubejit_reaper_deletion_lag_seconds_count"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("kubejit_reaper_deletions_total 0\n"),
        "{metrics}"
    );
}

/// `--role-kind cluster-role` (the spelling docs/grants.md shows) binds a ClusterRole inside one
/// namespace: the grantee gets its permissions there and nowhere else.
#[test]
fn a_grant_can_bind_a_cluster_role_in_one_namespace() {
    // The controller's start installs deploy/ (the AccessPolicy CRD, the granters' RBAC).
    let (cp, _) = controller();
    let ns = namespace_with_role(cp, "grant-clusterrole");
    let elsewhere = namespace_with_role(cp, "grant-clusterrole-other");
    // The granters' `bind` rule names oncall-debug, for Roles and ClusterRoles alike.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": { "name": "oncall-debug" },
        "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"] }],
    });
    cp.apply(&role.to_string()).unwrap();
    policy_for_role(cp, &ns, "10m", "ClusterRole");
    let list_configmaps = |ns: &str| {
        cp.kubectl_as("alice", &["get", "configmaps", "-n", ns])
            .unwrap()
    };
    assert_forbidden(&list_configmaps(&ns), "alice", &["get", "configmaps"]);

    let extra = ["--role", "oncall-debug", "--role-kind", "cluster-role"];
    let name = grant(cp, &ns, "oncall-payments", "5m", &extra);
    let kind = cp
        .admin(&[
            "get",
            "rolebinding",
            &name,
            "-n",
            &ns,
            "-o",
            "jsonpath={.roleRef.kind}",
        ])
        .unwrap();
    assert_eq!(kind.stdout, "ClusterRole");
    let listed = list_configmaps(&ns);
    assert!(
        listed.success,
        "alice lists configmaps in {ns}: {}",
        listed.stderr
    );
    assert_forbidden(
        &list_configmaps(&elsewhere),
        "alice",
        &["get", "configmaps"],
    );
}

#[test]
fn malformed_and_unannotated_bindings_are_never_deleted() {
    let (cp, ctl) = controller();
    let ns = namespace_with_role(cp, "grant-malformed");
    let malformed = [
        ("jit-no-zone", "2020-01-01T00:00:00"),
        ("jit-garbage", "yesterday"),
        ("jit-absurd-year", "0001-01-01T00:00:00Z"),
        ("jit-empty", ""),
    ];
    expiring_bindings(cp, &ns, malformed);
    // Looks like a grant by name and incident, but has no expires-at: not kubejit's to delete.
    admin_binding(
        cp,
        &ns,
        "jit-inc-1-oncall-debug-abcde",
        "oncall-payments",
        json!({ "debugging.kubernetes.io/incident": "INC-1" }),
    );

    let names = malformed.iter().map(|(name, _)| *name);
    assert_warned_about(cp, &ns, names, BOUND, || ctl.log_text());
    for (name, _) in malformed {
        assert!(binding_exists(cp, &ns, name), "{name} survives");
        let records = ctl.stdout_audit();
        assert_eq!(
            records_for(&records, "grantMalformed", name).len(),
            1,
            "{name}: audited once"
        );
    }
    assert!(binding_exists(cp, &ns, "jit-inc-1-oncall-debug-abcde"));
    let events = cp
        .admin(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"])
        .unwrap()
        .stdout;
    assert!(
        events.contains("MalformedExpiresAt") && events.contains("Warning"),
        "{events}"
    );
    assert!(
        ctl.metrics().contains("kubejit_reaper_bindings_malformed"),
        "gauge exported"
    );

    // Fixing the annotation makes it a normal grant again, which then expires.
    cp.admin(&[
        "annotate",
        "rolebinding",
        "jit-garbage",
        "-n",
        &ns,
        "--overwrite",
        &format!("{EXPIRES_AT}=2020-01-01T00:00:00Z"),
    ])
    .unwrap();
    assert!(
        wait_until(BOUND, || !binding_exists(cp, &ns, "jit-garbage")),
        "fixed and overdue: deleted"
    );
}

#[test]
fn refused_grants_say_why_and_write_nothing() {
    let (cp, _ctl, ns) = granting("grant-refused", "30m");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--ttl", "2h", "--incident", "INC-1"],
            "exceeds the maximum",
        ),
        (
            &["--ttl", "5m", "--incident", "INC-1", "--role", "admin-ish"],
            "may not be granted",
        ),
        (&["--ttl", "5m"], "incident"),
        (
            &["--ttl", "5m", "--incident", "not-an-incident"],
            "INC-[0-9]+",
        ),
        (
            &[
                "--ttl",
                "5m",
                "--incident",
                "INC-1",
                "--group",
                "oncall-everything",
            ],
            "may grant only to",
        ),
    ];
    for (extra, reason) in cases {
        let mut args = vec!["grant", "-n", &ns, "--group", "oncall-payments"];
        args.extend_from_slice(extra);
        let out = kubejit_as(cp, "irene", &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} must be refused");
        assert!(
            stderr.contains("grant refused") || stderr.contains(reason),
            "{extra:?}: {stderr}"
        );
        assert!(
            stderr.contains(reason) || stderr.to_lowercase().contains(&reason.to_lowercase()),
            "{extra:?}: expected {reason:?} in {stderr}"
        );
    }
    // An engineer cannot grant themselves anything (no policy lists them, and RBAC says no first).
    let out = kubejit_as(
        cp,
        "alice",
        &[
            "grant",
            "-n",
            &ns,
            "-g",
            "oncall-payments",
            "--ttl",
            "5m",
            "--incident",
            "INC-1",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("accesspolicies") || stderr.contains("no AccessPolicy"),
        "{stderr}"
    );
    let bindings = cp
        .admin(&["get", "rolebindings", "-n", &ns, "-o", "name"])
        .unwrap()
        .stdout;
    assert_eq!(
        bindings.trim(),
        "rolebinding.rbac.authorization.k8s.io/oncall-debug",
        "nothing written"
    );
}

#[test]
fn revoke_and_extend_work_and_are_audited() {
    let (cp, ctl, ns) = granting("grant-revoke", "30m");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.pem");
    let log = dir.path().join("audit.jsonl");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            key.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(made.success(), "openssl makes the audit signing key");
    let audit_flags = [
        "--audit-log",
        log.to_str().unwrap(),
        "--audit-signing-key",
        key.to_str().unwrap(),
    ];

    let name = grant(cp, &ns, "oncall-payments", "10m", &audit_flags);
    let before = annotation(cp, &ns, &name, EXPIRES_AT);
    let list = kubejit_as(cp, "irene", &["grants", "-n", &ns, "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["name"], name.as_str());
    assert_eq!(rows[0]["status"], "active");
    assert_eq!(rows[0]["groups"], json!(["oncall-payments"]));
    let table = kubejit_as(cp, "irene", &["grants", "-n", &ns]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("group:oncall-payments"));

    let mut args = vec!["extend", name.as_str(), "-n", &ns, "--ttl", "25m"];
    args.extend_from_slice(&audit_flags);
    kubejit_ok(cp, "irene", &args);
    let after = annotation(cp, &ns, &name, EXPIRES_AT);
    assert!(after > before, "extended from {before} to {after}");
    let mut beyond = vec!["extend", name.as_str(), "-n", &ns, "--ttl", "2h"];
    beyond.extend_from_slice(&audit_flags);
    let out = kubejit_as(cp, "irene", &beyond);
    assert!(
        !out.status.success(),
        "extending beyond the policy cap is refused"
    );
    assert_eq!(annotation(cp, &ns, &name, EXPIRES_AT), after);

    let mut args = vec!["revoke", name.as_str(), "-n", &ns, "--reason", "fixed"];
    args.extend_from_slice(&audit_flags);
    kubejit_ok(cp, "irene", &args);
    assert!(!binding_exists(cp, &ns, &name));

    let records = audit_records(&log);
    for kind in ["grantCreated", "grantExtended", "grantRevoked"] {
        let found = records_for(&records, kind, &name);
        assert_eq!(found.len(), 1, "{kind} in the CLI's audit log: {records:?}");
        assert_eq!(found[0]["actor"]["name"], "irene");
    }
    assert_eq!(
        records_for(&records, "grantExtended", &name)[0]["expiresAt"],
        after.as_str()
    );
    assert!(
        wait_until(BOUND, || records_for(
            &ctl.stdout_audit(),
            "grantExtended",
            &name
        )
        .len()
            == 1),
        "the controller saw the extension too"
    );
}

#[test]
fn admission_policy_stops_engineers_editing_grant_annotations() {
    let (cp, _ctl, ns) = granting("grant-vap", "30m");
    // carol may patch rolebindings in this namespace (a plausible over-broad permission).
    cp.apply(
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": { "name": "binding-editor", "namespace": ns },
            "rules": [{ "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                        "verbs": ["get", "list", "patch", "update"] }],
        })
        .to_string(),
    )
    .unwrap();
    cp.apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "carol-edits-bindings", "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "binding-editor" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol" }],
    }).to_string()).unwrap();
    let name = grant(cp, &ns, "oncall-checkout", "10m", &[]);
    let original = annotation(cp, &ns, &name, EXPIRES_AT);

    let attempts: [(&str, String); 4] = [
        (name.as_str(), format!("{EXPIRES_AT}=2030-01-01T00:00:00Z")),
        (name.as_str(), format!("{EXPIRES_AT}-")),
        ("oncall-debug", format!("{EXPIRES_AT}=2000-01-01T00:00:00Z")),
        (
            name.as_str(),
            "debugging.kubernetes.io/incident=INC-9".to_owned(),
        ),
    ];
    for (binding, change) in &attempts {
        let out = annotate_as(cp, "carol", &ns, binding, &[change]);
        assert!(!out.success, "carol must not {change} on {binding}");
        assert!(
            out.stderr.contains("kubejit-grant-annotations"),
            "denied by the VAP: {}",
            out.stderr
        );
    }
    assert_eq!(annotation(cp, &ns, &name, EXPIRES_AT), original);
    assert_eq!(annotation(cp, &ns, "oncall-debug", EXPIRES_AT), "");
    // Unrelated edits stay possible.
    let out = annotate_as(cp, "carol", &ns, &name, &["note=looking"]);
    assert!(out.success, "{}", out.stderr);

    // Even the grant admin must name themselves, write a valid zone-qualified time, and stay under the cap.
    let irene_attempts = [
        vec![
            format!("{EXPIRES_AT}=2099-01-01T00:00:00Z"),
            "kubejit.dev/granted-by=irene".to_owned(),
        ],
        vec![
            format!("{EXPIRES_AT}=2026-01-01T00:00:00"),
            "kubejit.dev/granted-by=irene".to_owned(),
        ],
        vec![
            format!("{EXPIRES_AT}=2020-01-01T00:00:00Z"),
            "kubejit.dev/granted-by=alice".to_owned(),
        ],
    ];
    for changes in &irene_attempts {
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        let out = annotate_as(cp, "irene", &ns, &name, &changes);
        assert!(!out.success, "irene must not {changes:?}");
        // Past 720h both the built-in cap and the configured one refuse; either may answer.
        assert!(
            out.stderr.contains("kubejit-grant-annotations")
                || out.stderr.contains("kubejit-grant-ttl-cap"),
            "{}",
            out.stderr
        );
    }
    let restore = format!("{EXPIRES_AT}={original}");
    let changes = [restore.as_str(), "debugging.kubernetes.io/incident=INC-7"];
    let out = annotate_as(cp, "irene", &ns, &name, &changes);
    assert!(
        out.success,
        "the admin group may edit grants: {}",
        out.stderr
    );
}
