//! Time-bound grants on the real control plane with the real kubectl and the controller as a real
//! process: `kubejit grant` asks through an AccessRequest and the controller makes the binding, which
//! gives exec until its deadline and is then deleted; the policy refuses what it must, writing nothing
//! but the refusal's record; revoke withdraws the request; malformed and unannotated bindings survive;
//! a granter holds no raw power over bindings any more, and admission stops anyone else whose RBAC
//! would allow it.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use std::time::Duration;

use grant_support::{
    admin_binding, annotate_as, annotation, assert_warned_about, binding_exists, expiring_bindings,
    grant, grant_args, kubejit_as, namespace_with_role, policy_for, policy_for_role, records_for,
    user_role,
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
        &[
            "--controllers",
            "reaper,requests",
            "--lease-name",
            "grants-test",
        ],
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
    // Made by the controller, as itself, under irene's request.
    assert_eq!(
        annotation(cp, &ns, &name, "kubejit.dev/granted-by"),
        kubejit_testenv::CONTROLLER_SA
    );

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
        "the controller records the grant it made, once: {audit:?}"
    );
    assert_eq!(created[0]["actor"]["kind"], "controller");
    assert_eq!(created[0]["decisionReason"], "requestApproved");
    assert!(
        records_for(&audit, "foreignGrant", &name).is_empty(),
        "a grant made under a request is not foreign: {audit:?}"
    );
    // The request's `Expired` Event says the access ended; the reaper adds no Event of its own for
    // a grant made under a request (one write per deletion: the DELETE).
    assert!(
        wait_until(BOUND, || !events_in(cp, &ns, "Expired", "AccessRequest")
            .is_empty()),
        "the AccessRequest's Expired Event: {:?}",
        cp.admin(&["get", "events.events.k8s.io", "-n", &ns, "-o", "json"])
    );
    let about_binding: Vec<serde_json::Value> = events_in(cp, &ns, "GrantExpired", "RoleBinding")
        .into_iter()
        .chain(events_in(cp, &ns, "GrantsExpired", "RoleBinding"))
        .collect();
    assert!(
        about_binding.is_empty(),
        "no reaper Event for a requested grant: {about_binding:?}"
    );
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
    // The controller's start installs deploy/ (the AccessPolicy CRD, the controller's RBAC).
    let (cp, _) = controller();
    let ns = namespace_with_role(cp, "grant-clusterrole");
    let elsewhere = namespace_with_role(cp, "grant-clusterrole-other");
    // The controller's `bind` rule names oncall-debug, for Roles and ClusterRoles alike.
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
fn refused_grants_say_why_and_write_nothing_but_the_refusal() {
    let (cp, ctl) = controller();
    let ns = namespace_with_role(cp, "grant-refused");
    policy_for(cp, &ns, "30m");
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
        // docs/cli.md: a denial is 4, not a usage error.
        assert_eq!(
            out.status.code(),
            Some(4),
            "{extra:?} must be denied: {stderr}"
        );
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
        stderr.contains("accessrequests") || stderr.contains("grant refused"),
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
    // A refused grant leaves a record: the controller's accessDenied, one per refused request.
    assert!(
        wait_until(BOUND, || {
            ctl.stdout_audit()
                .iter()
                .filter(|r| r["kind"] == "accessDenied" && r["namespace"] == ns.as_str())
                .count()
                >= cases.len()
        }),
        "an accessDenied record per refusal: {:?}",
        ctl.stdout_audit()
    );
}

#[test]
fn revoke_withdraws_the_request_and_extend_names_the_new_way() {
    let (cp, ctl) = controller();
    let ns = namespace_with_role(cp, "grant-revoke");
    policy_for(cp, &ns, "30m");

    let name = grant(cp, &ns, "oncall-payments", "10m", &[]);
    let list = kubejit_as(cp, "irene", &["grants", "-n", &ns, "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["name"], name.as_str());
    assert_eq!(rows[0]["status"], "active");
    assert_eq!(rows[0]["groups"], json!(["oncall-payments"]));
    let table = kubejit_as(cp, "irene", &["grants", "-n", &ns]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("group:oncall-payments"));

    // Extending in place needs write access to bindings, which granters no longer hold.
    let before = annotation(cp, &ns, &name, EXPIRES_AT);
    let out = kubejit_as(cp, "irene", &["extend", &name, "-n", &ns, "--ttl", "25m"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no longer extended") && stderr.contains("kubejit grant"),
        "{stderr}"
    );
    assert_eq!(annotation(cp, &ns, &name, EXPIRES_AT), before);

    // irene asked, so revoking withdraws her request; the controller removes the binding.
    let out = kubejit_as(
        cp,
        "irene",
        &["revoke", &name, "-n", &ns, "--reason", "fixed"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("withdrew AccessRequest"), "{stdout}");
    assert!(
        wait_until(BOUND, || !binding_exists(cp, &ns, &name)),
        "the controller removes a withdrawn request's binding"
    );
    assert!(
        wait_until(BOUND, || ctl.stdout_audit().iter().any(|r| r["kind"]
            == "accessWithdrawn"
            && r["namespace"] == ns.as_str())),
        "withdrawal recorded: {:?}",
        ctl.stdout_audit()
    );

    // A grant no request owns (an admin's) is not kubejit's to end early: it says so.
    admin_binding(
        cp,
        &ns,
        "jit-by-admin",
        "oncall-payments",
        json!({ EXPIRES_AT: "2099-01-01T00:00:00Z" }),
    );
    let out = kubejit_as(cp, "irene", &["revoke", "jit-by-admin", "-n", &ns]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not made through an AccessRequest"),
        "{stderr}"
    );
    assert!(binding_exists(cp, &ns, "jit-by-admin"));
    cp.admin(&["delete", "rolebinding", "jit-by-admin", "-n", &ns])
        .unwrap();
}

#[test]
fn admission_policy_stops_engineers_editing_grant_annotations() {
    let (cp, _ctl, ns) = granting("grant-vap", "30m");
    // carol may patch rolebindings in this namespace (a plausible over-broad permission).
    user_role(
        cp,
        &ns,
        "carol",
        ("binding-editor", "carol-edits-bindings"),
        json!([{ "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                 "verbs": ["get", "list", "patch", "update"] }]),
    );
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
    // A grant is the controller's alone: not even an unrelated annotation, nor a delete.
    let out = annotate_as(cp, "carol", &ns, &name, &["note=looking"]);
    assert!(!out.success, "carol must not annotate a grant");
    assert!(
        out.stderr.contains("only kubejit's controller"),
        "{}",
        out.stderr
    );

    // The granter (irene) holds no write access to bindings at all: RBAC refuses her first.
    let irene_attempts = [
        vec![format!("{EXPIRES_AT}-")],
        vec![
            format!("{EXPIRES_AT}=2099-01-01T00:00:00Z"),
            "kubejit.dev/granted-by=irene".to_owned(),
        ],
        vec!["note=looking".to_owned()],
    ];
    for changes in &irene_attempts {
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        let out = annotate_as(cp, "irene", &ns, &name, &changes);
        assert_forbidden(&out, "irene", &["annotate", "rolebinding"]);
    }
    assert_eq!(annotation(cp, &ns, &name, EXPIRES_AT), original);
}

/// Issue 9's granter bypasses, attempted first, with plain kubectl, by the identity that could do
/// them before (irene, `kubejit-granters`): each is now an RBAC Forbidden. Then carol, given exactly
/// the raw powers granters used to hold (write bindings, `bind` oncall-debug), is stopped by
/// admission. The same access through `kubejit grant` works only where the policy allows it.
#[test]
fn a_granter_holds_no_raw_power_over_bindings() {
    let (cp, _ctl) = controller();
    let ns = namespace_with_role(cp, "grant-raw");
    let elsewhere = namespace_with_role(cp, "grant-raw-other");
    policy_for(cp, &ns, "30m");
    let live = grant(cp, &ns, "oncall-payments", "10m", &[]);
    let original = annotation(cp, &ns, &live, EXPIRES_AT);
    let binding = |name: &str, ns: &str, user: &str, annotations: serde_json::Value| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": name, "namespace": ns, "annotations": annotations },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }],
        })
        .to_string()
    };
    let create_as = |who: &str, manifest: String| {
        let path = std::env::temp_dir().join(format!("kubejit-raw-{}.json", rand_suffix()));
        std::fs::write(&path, manifest).unwrap();
        let out = cp
            .kubectl_as(who, &["create", "-f", path.to_str().unwrap()])
            .unwrap();
        let _ = std::fs::remove_file(&path);
        out
    };
    let in_720h = (time::OffsetDateTime::now_utc() + time::Duration::hours(719))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();

    // irene: a binding to the on-call role in any namespace, to anyone, without a deadline.
    for target in [&ns, &elsewhere] {
        let out = create_as(
            "irene",
            binding("irene-forever", target, "mallory", json!({})),
        );
        assert_forbidden(&out, "irene", &["create", "rolebinding", target]);
    }
    // … or with a far deadline of her own choosing.
    let far = json!({ EXPIRES_AT: in_720h, "kubejit.dev/granted-by": "irene" });
    let out = create_as("irene", binding("irene-720h", &ns, "mallory", far));
    assert_forbidden(&out, "irene", &["create", "rolebinding"]);
    // Strip the deadline from a live grant, move it to 720h, annotate or delete someone's binding.
    let strip = format!("{EXPIRES_AT}-");
    let stretch = format!("{EXPIRES_AT}={in_720h}");
    for change in [strip.as_str(), stretch.as_str(), "note=mine"] {
        let out = annotate_as(cp, "irene", &ns, &live, &[change]);
        assert_forbidden(&out, "irene", &["annotate", change]);
    }
    for victim in [live.as_str(), "oncall-debug"] {
        let out = cp
            .kubectl_as("irene", &["delete", "rolebinding", victim, "-n", &ns])
            .unwrap();
        assert_forbidden(&out, "irene", &["delete", "rolebinding", victim]);
    }

    // carol holds what granters used to hold, in this namespace: admission stops every one.
    user_role(
        cp,
        &ns,
        "carol",
        ("old-granter", "carol-old-granter"),
        json!([
            { "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
              "verbs": ["get", "list", "create", "update", "patch", "delete"] },
            { "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
              "resourceNames": ["oncall-debug"], "verbs": ["bind"] },
        ]),
    );
    let refused_by_admission = |out: &kubejit_testenv::KubectlOutput, what: &str| {
        assert!(!out.success, "carol must not {what}: {}", out.stdout);
        assert!(
            out.stderr.contains("kubejit-grant-annotations")
                && out.stderr.contains("only kubejit's controller"),
            "{what}: denied by admission, saying who may: {}",
            out.stderr
        );
    };
    let out = create_as("carol", binding("carol-forever", &ns, "carol", json!({})));
    refused_by_admission(&out, "bind the on-call role without a deadline");
    let out = create_as(
        "carol",
        binding(
            "carol-720h",
            &ns,
            "carol",
            json!({ EXPIRES_AT: in_720h, "kubejit.dev/granted-by": "carol" }),
        ),
    );
    refused_by_admission(&out, "bind the on-call role until a deadline of her own");
    for change in [strip.as_str(), stretch.as_str(), "note=mine"] {
        let out = annotate_as(cp, "carol", &ns, &live, &[change]);
        refused_by_admission(&out, change);
    }
    let out = cp
        .kubectl_as("carol", &["delete", "rolebinding", &live, "-n", &ns])
        .unwrap();
    refused_by_admission(&out, "delete a live grant");
    assert!(binding_exists(cp, &ns, &live));
    assert_eq!(annotation(cp, &ns, &live, EXPIRES_AT), original);
    // Ordinary bindings are out of scope: carol's RBAC still works on them.
    let out = cp
        .kubectl_as(
            "carol",
            &["delete", "rolebinding", "carol-old-granter", "-n", &ns],
        )
        .unwrap();
    assert!(
        out.success,
        "an ordinary binding is carol's to delete: {}",
        out.stderr
    );

    // The same outcome through kubejit: allowed where the policy allows (ns), refused elsewhere.
    for (namespace, ttl) in [(&elsewhere, "5m"), (&ns, "720h")] {
        let mut args = grant_args(namespace, "oncall-payments", ttl);
        args.extend_from_slice(&["--incident", "INC-1"]);
        let out = kubejit_as(cp, "irene", &args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{namespace} {ttl}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    )
}

/// A grant made by the CLI before AccessRequests (no request owns it; granted-by a person) keeps
/// working and keeps expiring with no migration: made here exactly as that CLI made it, by the
/// break-glass admin, since nobody else may write one now. The reaper records it as foreignGrant.
#[test]
fn a_grant_made_by_the_previous_cli_still_works_expires_and_is_recorded_as_foreign() {
    let (cp, ctl) = controller();
    let ns = namespace_with_role(cp, "grant-legacy");
    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::seconds(8))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let name = "jit-inc-4242-oncall-debug-old12";
    cp.apply(
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {
                "name": name, "namespace": ns,
                "labels": { "app.kubernetes.io/managed-by": "kubejit" },
                "annotations": {
                    EXPIRES_AT: deadline,
                    "debugging.kubernetes.io/incident": "INC-4242",
                    "kubejit.dev/granted-by": "irene",
                    "kubejit.dev/reason": "checkout 500s",
                },
            },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-payments" }],
        })
        .to_string(),
    )
    .unwrap();
    let exec = exec_as(cp, "alice", &ns);
    assert!(exec.success, "the old grant still works: {}", exec.stderr);
    let listed = kubejit_as(cp, "irene", &["grants", "-n", &ns, "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows[0]["name"], name, "kubejit grants lists it: {rows}");

    assert!(
        wait_until(BOUND, || !binding_exists(cp, &ns, name)),
        "the reaper deletes it at {deadline}: {}",
        ctl.log_text()
    );
    assert_forbidden(&exec_as(cp, "alice", &ns), "alice", &["exec"]);
    let audit = support::eventually(BOUND, "the grantExpired record", || {
        let audit = ctl.stdout_audit();
        (!records_for(&audit, "grantExpired", name).is_empty()).then_some(audit)
    });
    let foreign = records_for(&audit, "foreignGrant", name);
    assert_eq!(foreign.len(), 1, "recorded as foreign, once: {audit:?}");
    assert_eq!(
        foreign[0]["actor"],
        json!({"kind": "user", "name": "irene"})
    );
    assert_eq!(foreign[0]["decisionReason"], "notMadeByKubejit");
    assert!(records_for(&audit, "grantCreated", name).is_empty());
    // No request speaks for it, so the namespace's coalesced Event names it (written within the
    // reaper's 10 s gathering window; it regards the first binding of its batch, here this one).
    let announced = support::eventually(BOUND, "the GrantsExpired Event", || {
        let events = events_in(cp, &ns, "GrantsExpired", "RoleBinding");
        (!events.is_empty()).then_some(events)
    });
    assert_eq!(
        announced.len(),
        1,
        "one Event for the namespace: {announced:?}"
    );
    let note = announced[0]["note"].as_str().unwrap();
    assert!(
        note.starts_with("kubejit deleted 1 expired RoleBinding in this namespace: ")
            && note.contains(name),
        "{note}"
    );
    assert_eq!(announced[0]["regarding"]["name"], name);
    assert!(events_in(cp, &ns, "GrantExpired", "RoleBinding").is_empty());
}

/// The events.k8s.io Events in `ns` with `reason` about an object of `kind`.
fn events_in(cp: &ControlPlane, ns: &str, reason: &str, kind: &str) -> Vec<serde_json::Value> {
    let out = cp
        .admin(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"])
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason && e["regarding"]["kind"] == kind)
        .cloned()
        .collect()
}
