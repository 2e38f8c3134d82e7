//! Helpers for the grant and reaper acceptance tests: a namespace with a pod and the on-call Role
//! (bound to nobody), an AccessPolicy for it, and `kubejit` run as a test user.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kubejit_testenv::BoundedOutput;
use std::path::Path;
use std::process::{Command, Output};

use kubejit_testenv::{ControlPlane, PodSpec, unique_namespace};
use serde_json::json;

/// A namespace with a Running pod `api` and the `oncall-debug` Role, which nobody holds yet.
pub fn namespace_with_role(cp: &ControlPlane, prefix: &str) -> String {
    let ns = unique_namespace(prefix);
    cp.create_namespace(&ns).unwrap();
    cp.create_running_pod(&PodSpec {
        namespace: &ns,
        name: "api",
        log: "ok\n",
        ports: &[8080],
    })
    .unwrap();
    let out = crate::support::run_ok(Command::new(env!("CARGO_BIN_EXE_kubejit")).args([
        "manifests",
        "oncall-role",
        "-n",
        &ns,
        "-g",
        "nobody-holds-this-group",
    ]));
    cp.apply(&String::from_utf8_lossy(&out.stdout)).unwrap();
    ns
}

/// An AccessPolicy letting kubejit-granters grant oncall-debug in `ns` to the on-call groups,
/// at most `max_ttl`, for incidents matching INC-<digits>.
pub fn policy_for(cp: &ControlPlane, ns: &str, max_ttl: &str) {
    policy_for_role(cp, ns, max_ttl, "Role");
}

/// [`policy_for`], granting `oncall-debug` of the given kind (`Role` or `ClusterRole`).
pub fn policy_for_role(cp: &ControlPlane, ns: &str, max_ttl: &str, role_kind: &str) {
    let groups = ["oncall-payments", "oncall-checkout"];
    cp.apply(&grant_policy(ns, max_ttl, role_kind, &groups).to_string())
        .unwrap();
}

/// The AccessPolicy `grants-<ns>`: kubejit-granters may grant `oncall-debug` (a `role_kind`) in `ns`
/// to `groups`, at most `max_ttl`, for incidents matching INC-<digits>.
pub fn grant_policy(
    ns: &str,
    max_ttl: &str,
    role_kind: &str,
    groups: &[&str],
) -> serde_json::Value {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": { "name": format!("grants-{ns}") },
        "spec": {
            "requesters": { "groups": ["kubejit-granters"] },
            "maxTTL": "1h",
            "incident": { "pattern": "INC-[0-9]+" },
            "approval": { "mode": "Auto" },
            "grants": [{
                "name": "debug",
                "roles": [{ "kind": role_kind, "name": "oncall-debug" }],
                "namespaces": [ns],
                "subjects": { "groups": groups },
                "maxTTL": max_ttl,
            }],
        },
    })
}

/// Runs `kubejit` as `user` (with that user's kubeconfig).
pub fn kubejit_as(cp: &ControlPlane, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBECONFIG")
        .args(args)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig(user).unwrap())
        .output_bounded()
        .unwrap()
}

/// An AccessPolicy `name` letting carol ask for the on-call Role in `ns` for `subjects`, under an
/// `INC-<digits>` incident, for up to an hour, with the grant rule's `approval`.
pub fn request_policy(
    name: &str,
    ns: &str,
    subjects: serde_json::Value,
    approval: &serde_json::Value,
) -> serde_json::Value {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessPolicy",
        "metadata": {"name": name},
        "spec": {
            "requesters": {"users": ["carol"]},
            "maxTTL": "1h",
            "incident": {"pattern": "INC-[0-9]+"},
            // Certificates: not what these policies are for.
            "approval": {"mode": "Auto"},
            "grants": [{
                "name": "debug",
                "roles": [{"kind": "Role", "name": "oncall-debug"}],
                "namespaces": [ns],
                "subjects": subjects,
                "maxTTL": "1h",
                "approval": approval,
            }],
        },
    })
}

/// `kubejit request` for the on-call Role in `ns` as `user` (under INC-12345), with `extra` arguments
/// (e.g. `--user`, `--group`); returns the new AccessRequest's name.
pub fn request_as(cp: &ControlPlane, user: &str, ns: &str, ttl: &str, extra: &[&str]) -> String {
    let mut args = vec!["request", "-n", ns, "--role", "oncall-debug"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--ttl",
        ttl,
        "--incident",
        "INC-12345",
        "--reason",
        "checkout latency",
    ]);
    let out = kubejit_ok(cp, user, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .split_once(&format!("requested {ns}/"))
        .and_then(|(_, rest)| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no request name in {stdout:?}"))
        .to_owned()
}

/// Runs `kubejit` as `user`; the command must succeed (the test fails with its stderr otherwise).
pub fn kubejit_ok(cp: &ControlPlane, user: &str, args: &[&str]) -> Output {
    let out = kubejit_as(cp, user, args);
    assert!(
        out.status.success(),
        "kubejit {args:?} as {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates, as the admin, a binding for `oncall-payments` per `(name, expires-at value)`.
pub fn expiring_bindings<'a>(
    cp: &ControlPlane,
    ns: &str,
    bindings: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (name, value) in bindings {
        let annotations = json!({ "debugging.kubernetes.io/expires-at": value });
        admin_binding(cp, ns, name, "oncall-payments", annotations);
    }
}

/// Waits (up to `bound`) for a Warning Event naming each of `names` in `ns`; `log` is shown if not.
pub fn assert_warned_about<'a>(
    cp: &ControlPlane,
    ns: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
    bound: std::time::Duration,
    log: impl FnOnce() -> String,
) {
    let warned = || {
        let events = events(cp, ns);
        names
            .clone()
            .into_iter()
            .all(|name| events.contains(&format!("\"name\": \"{name}\"")))
    };
    assert!(
        crate::support::wait_until(bound, warned),
        "a Warning Event per binding: {}",
        log()
    );
}

/// The arguments of `kubejit grant -n <ns> --group <group> --ttl <ttl>` (callers add the rest).
pub fn grant_args<'a>(ns: &'a str, group: &'a str, ttl: &'a str) -> Vec<&'a str> {
    vec!["grant", "-n", ns, "--group", group, "--ttl", ttl]
}

/// `kubejit grant` as irene; returns the created binding's name.
pub fn grant(cp: &ControlPlane, ns: &str, group: &str, ttl: &str, extra: &[&str]) -> String {
    let mut args = grant_args(ns, group, ttl);
    args.extend_from_slice(&["--incident", "INC-4242"]);
    args.extend_from_slice(extra);
    let out = kubejit_as(cp, "irene", &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "grant failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split("RoleBinding ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no binding name in {stdout:?}"))
        .to_owned()
}

/// `kubectl annotate --overwrite rolebinding <name> <changes…>` as `user`.
pub fn annotate_as(
    cp: &ControlPlane,
    user: &str,
    ns: &str,
    name: &str,
    changes: &[&str],
) -> kubejit_testenv::KubectlOutput {
    let mut args = vec!["annotate", "rolebinding", name, "-n", ns, "--overwrite"];
    args.extend_from_slice(changes);
    cp.kubectl_as(user, &args).unwrap()
}

/// Every Event in `ns` as JSON (as admin).
pub fn events(cp: &ControlPlane, ns: &str) -> String {
    cp.admin(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"])
        .unwrap()
        .stdout
}

/// Whether the RoleBinding exists (as admin).
pub fn binding_exists(cp: &ControlPlane, ns: &str, name: &str) -> bool {
    cp.admin(&["get", "rolebinding", name, "-n", ns, "-o", "name"])
        .is_ok()
}

/// One annotation of a RoleBinding (as admin).
pub fn annotation(cp: &ControlPlane, ns: &str, name: &str, key: &str) -> String {
    let path = format!(
        "jsonpath={{.metadata.annotations.{}}}",
        key.replace('.', "\\.")
    );
    cp.admin(&["get", "rolebinding", name, "-n", ns, "-o", &path])
        .unwrap()
        .stdout
}

/// A RoleBinding of oncall-debug to `group`, created by the admin (bypassing kubejit and its
/// admission policy), with the given annotations.
pub fn admin_binding(
    cp: &ControlPlane,
    ns: &str,
    name: &str,
    group: &str,
    annotations: serde_json::Value,
) {
    let rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": name, "namespace": ns, "annotations": annotations },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group }],
    });
    cp.apply(&rb.to_string()).unwrap();
}

/// A Role `role` in `ns` with `rules`, and the RoleBinding `binding` that gives it to `user` (the
/// admin makes both: ordinary RBAC, nothing of kubejit's).
pub fn user_role(
    cp: &ControlPlane,
    ns: &str,
    user: &str,
    (role, binding): (&str, &str),
    rules: serde_json::Value,
) {
    for doc in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": role, "namespace": ns}, "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": binding, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
    ] {
        cp.apply(&doc.to_string()).unwrap();
    }
}

/// The JSON audit records in a file (chained file lines included).
pub fn audit_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Records of `kind` about the binding `name`.
pub fn records_for<'a>(
    records: &'a [serde_json::Value],
    kind: &str,
    name: &str,
) -> Vec<&'a serde_json::Value> {
    records
        .iter()
        .filter(|r| r["kind"] == kind && r["object"]["name"] == name)
        .collect()
}

/// A server-side dry run, as kubejit's controller (the only identity admission lets write a grant,
/// and one RBAC lets create bindings of oncall-debug), of a grant of oncall-debug in `ns` to
/// oncall-payments with `annotations` (plus granted-by the controller): what admission says about
/// the values themselves, with nothing written.
pub fn controller_dry_run(
    cp: &ControlPlane,
    ns: &str,
    mut annotations: serde_json::Value,
) -> kubejit_testenv::KubectlOutput {
    annotations["kubejit.dev/granted-by"] = json!(kubejit_testenv::CONTROLLER_SA);
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "dry-run-grant", "namespace": ns, "annotations": annotations},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-payments"}]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rb.json");
    std::fs::write(&file, rb.to_string()).unwrap();
    cp.kubectl_as(
        kubejit_testenv::CONTROLLER_SA,
        &["create", "--dry-run=server", "-f", file.to_str().unwrap()],
    )
    .unwrap()
}
