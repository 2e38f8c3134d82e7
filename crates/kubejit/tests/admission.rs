//! The grant admission policies on the real apiserver: their parameter ConfigMap is not a cluster-wide
//! single point of failure (deleting it blocks no ordinary RoleBinding write and opens nothing), and
//! only kubejit's controller may write a grant, whatever RBAC gives anyone else.
//!
//! Its own test binary (so its own control plane): deleting a cluster-wide ConfigMap would race the
//! other grant tests.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use grant_support::{annotate_as, annotation, grant, namespace_with_role, policy_for, user_role};
use kubejit_testenv::{ControlPlane, shared};
use serde_json::json;
use support::shared_controller;

const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";
const PARAMS: &str = "kubejit-grant-admission";

/// With the shared controller (requests and reaper) running: a namespace with the on-call Role and a
/// grant policy capped at `max_ttl`.
fn admission_namespace(cp: &'static ControlPlane, prefix: &str, max_ttl: &str) -> String {
    shared_controller(
        cp,
        &[
            "--controllers",
            "reaper,requests",
            "--lease-name",
            "admission-test",
        ],
    );
    let ns = namespace_with_role(cp, prefix);
    policy_for(cp, &ns, max_ttl);
    ns
}

/// carol may create, patch and update RoleBindings in `ns` and bind the Role `viewer` there: the
/// over-broad but ordinary permissions of a namespace admin.
fn carol_edits_bindings(cp: &ControlPlane, ns: &str) {
    let rules = json!([
        { "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
          "verbs": ["get", "list", "create", "patch", "update"] },
        { "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
          "resourceNames": ["viewer"], "verbs": ["bind"] },
    ]);
    let viewer = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "viewer", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    cp.apply(&viewer.to_string()).unwrap();
    user_role(
        cp,
        ns,
        "carol",
        ("binding-editor", "carol-edits-bindings"),
        rules,
    );
}

/// carol creates an ordinary (non-kubejit) RoleBinding from a file with kubectl.
fn carol_creates_plain_binding(cp: &ControlPlane, ns: &str, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rb.json");
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]});
    std::fs::write(&file, rb.to_string()).unwrap();
    let out = cp
        .kubectl_as("carol", &["create", "-f", file.to_str().unwrap()])
        .unwrap();
    assert!(
        out.success,
        "an ordinary RoleBinding create must not depend on kubejit's parameters: {}",
        out.stderr
    );
    out.stdout
}

/// What admission says to the controller about a grant ending at `expires_at`.
fn controller_dry_run(cp: &ControlPlane, ns: &str, expires_at: &str) -> (bool, String) {
    let out = grant_support::controller_dry_run(cp, ns, json!({ EXPIRES_AT: expires_at }));
    (out.success, out.stderr)
}

/// `now + hours`, RFC 3339 in whole seconds.
fn hours_from_now(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn annotate(
    cp: &ControlPlane,
    user: &str,
    ns: &str,
    name: &str,
    changes: &[&str],
) -> (bool, String) {
    let out = annotate_as(cp, user, ns, name, changes);
    (out.success, out.stderr)
}

#[test]
fn deleting_the_parameters_blocks_nothing_and_opens_nothing() {
    let cp = shared();
    let ns = admission_namespace(cp, "vap-params", "4h");
    carol_edits_bindings(cp, &ns);
    let live = grant(cp, &ns, "oncall-checkout", "10m", &[]);
    let original = annotation(cp, &ns, &live, EXPIRES_AT);

    cp.admin(&["delete", "configmap", PARAMS, "-n", "kubejit-system"])
        .unwrap();

    // Ordinary bindings are out of the policies' scope: creating and editing one still works.
    carol_creates_plain_binding(cp, &ns, "bob-views");
    let (ok, err) = annotate(cp, "carol", &ns, "bob-views", &["note=fine"]);
    assert!(ok, "{err}");

    // The fence around grants still stands: carol can neither extend a grant nor turn her plain
    // binding into one, nor strip a grant's deadline.
    let far = format!("{EXPIRES_AT}=2030-01-01T00:00:00Z");
    let strip = format!("{EXPIRES_AT}-");
    for (binding, change) in [
        (&live, &far),
        (&live, &strip),
        (&"bob-views".to_owned(), &far),
    ] {
        let (ok, err) = annotate(
            cp,
            "carol",
            &ns,
            binding,
            &[change, "kubejit.dev/granted-by=carol"],
        );
        assert!(!ok, "carol must not {change} on {binding}");
        assert!(
            err.contains("kubejit-grant-annotations"),
            "denied by the VAP: {err}"
        );
    }
    assert_eq!(annotation(cp, &ns, &live, EXPIRES_AT), original);

    // The controller still grants, within the safe default cap (720h after creation)...
    let (ok, err) = controller_dry_run(cp, &ns, "2099-01-01T00:00:00Z");
    assert!(!ok, "the 720h cap holds without parameters");
    assert!(err.contains("720h"), "{err}");
    let again = grant(cp, &ns, "oncall-payments", "5m", &[]);
    assert!(!annotation(cp, &ns, &again, EXPIRES_AT).is_empty());
    let (ok, err) = controller_dry_run(cp, &ns, &hours_from_now(2));
    assert!(ok, "2h is within the 720h default: {err}");

    // ...and a tighter configured cap applies again once the parameters are back.
    cp.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": PARAMS, "namespace": "kubejit-system"},
                "data": {"maxTTL": "1h"}})
        .to_string(),
    )
    .unwrap();
    let tight = support::eventually(std::time::Duration::from_secs(60), "the 1h cap", || {
        let (ok, err) = controller_dry_run(cp, &ns, &hours_from_now(2));
        (!ok && err.contains("kubejit-grant-ttl-cap")).then_some(err)
    });
    assert!(tight.contains("1h"), "{tight}");
}

#[test]
fn only_the_controller_may_edit_a_grant_whatever_rbac_says() {
    let cp = shared();
    let ns = admission_namespace(cp, "vap-rbac", "30m");
    let live = grant(cp, &ns, "oncall-checkout", "10m", &[]);
    let incident = "debugging.kubernetes.io/incident=INC-77";
    let role_for_bob = |name: &str, rules: serde_json::Value| {
        user_role(cp, &ns, "bob", (name, &format!("bob-{name}")), rules);
    };
    // Patch and delete rights on bindings (and `bind` on the role, which the apiserver's escalation
    // check demands for any update of a binding) do not let bob touch a grant...
    role_for_bob(
        "binding-patcher",
        json!([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                "verbs": ["get", "patch", "delete"]},
               {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                "resourceNames": ["oncall-debug"], "verbs": ["bind"]}]),
    );
    support::eventually(std::time::Duration::from_secs(30), "a VAP denial", || {
        let (ok, err) = annotate(cp, "bob", &ns, &live, &[incident]);
        (!ok && err.contains("only kubejit's controller")).then_some(())
    });
    // ...nor does the virtual permission that used to make someone a granter.
    role_for_bob(
        "local-granter",
        json!([{"apiGroups": ["kubejit.dev"], "resources": ["grants"], "verbs": ["create"]}]),
    );
    let (ok, err) = annotate(cp, "bob", &ns, &live, &[incident]);
    assert!(!ok && err.contains("only kubejit's controller"), "{err}");
    let out = cp
        .kubectl_as("bob", &["delete", "rolebinding", &live, "-n", &ns])
        .unwrap();
    assert!(
        !out.success && out.stderr.contains("only kubejit's controller"),
        "bob must not delete a grant: {}",
        out.stderr
    );
    assert_eq!(
        annotation(cp, &ns, &live, "debugging.kubernetes.io/incident"),
        "INC-4242"
    );
}
