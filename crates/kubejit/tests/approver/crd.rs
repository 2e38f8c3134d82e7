//! The AccessPolicy CRD: `kubectl apply` rejects bad policy (OpenAPI + CEL) and `kubectl get` is useful.

use crate::fixture::setup;

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

/// A grant rule to append to [`GOOD`] (then its `approval`, indented by four).
const GRANT_RULE: &str = "  grants:\n  - name: debug\n    roles: [{kind: Role, name: oncall-debug}]\n    namespaces: [payments]\n    subjects: {groups: [oncall-payments]}\n    maxTTL: 1h\n";

const GOOD: &str = "  requesters: {groups: [oncall-payments]}\n  certificateGroups: [kubejit:payments]\n  maxTTL: 1h\n  approval: {mode: Auto}\n";

/// How a bad policy differs from [`GOOD`].
enum Edit {
    /// Every `.0` becomes `.1`.
    Replace(&'static str, &'static str),
    /// This is added at the end.
    Append(&'static str),
    /// [`GRANT_RULE`] and then this (its `approval`) are added at the end.
    AppendRule(&'static str),
}

impl Edit {
    fn apply(&self) -> String {
        match *self {
            Edit::Replace(from, to) => GOOD.replace(from, to),
            Edit::Append(more) => format!("{GOOD}{more}"),
            Edit::AppendRule(approval) => format!("{GOOD}{GRANT_RULE}{approval}"),
        }
    }
}

/// Policies the apiserver must reject: (what is wrong, the edit of [`GOOD`], what its message says).
/// A data table, one row a line.
#[rustfmt::skip]
const BAD: [(&str, Edit, &str); 18] = [
    ("maxTTL: 5m", Edit::Replace("maxTTL: 1h", "maxTTL: 5m"), "maxTTL must be at least 10m"),
    ("maxTTL: 1d", Edit::Replace("maxTTL: 1h", "maxTTL: 1d"), "spec.maxTTL"),
    ("requesters: {}", Edit::Replace("{groups: [oncall-payments]}", "{}"), "requesters must name at least one user or group"),
    ("requesters: empty lists", Edit::Replace("{groups: [oncall-payments]}", "{users: [], groups: []}"), "requesters must name at least one user or group"),
    ("system: group", Edit::Replace("kubejit:payments", "system:masters"), "certificateGroups must not contain system: groups"),
    ("Manual without approvers", Edit::Replace("{mode: Auto}", "{mode: Manual}"), "a Manual approval needs approvers"),
    ("Manual with empty approvers", Edit::Replace("{mode: Auto}", "{mode: Manual, approvers: {users: []}}"), "a Manual approval needs approvers"),
    ("Auto with approvers (kubejit would ignore them)", Edit::Replace("{mode: Auto}", "{mode: Auto, approvers: {users: [oscar]}}"), "approvers are only meaningful with mode Manual"),
    ("defaultTTL > maxTTL", Edit::Append("  defaultTTL: 2h\n"), "defaultTTL must not exceed maxTTL"),
    ("unknown field", Edit::Append("  maxTtl: 2h\n"), "unknown field \"spec.maxTtl\""),
    ("unknown mode", Edit::Replace("{mode: Auto}", "{mode: Sometimes}"), "spec.approval.mode"),
    ("approvals with Auto", Edit::Replace("{mode: Auto}", "{mode: Auto, approvals: 2}"), "approvals and approvalTimeout are only meaningful with mode Manual"),
    ("six approvals", Edit::Replace("{mode: Auto}", "{mode: Manual, approvers: {users: [oscar]}, approvals: 6}"), "spec.approval.approvals"),
    ("an approval timeout over a week", Edit::Replace("{mode: Auto}", "{mode: Manual, approvers: {users: [oscar]}, approvalTimeout: 200h}"), "approvalTimeout must be positive and at most 168h"),
    ("a Manual grant rule without approvers", Edit::AppendRule("    approval: {mode: Manual}\n"), "a Manual approval needs approvers"),
    ("missing maxTTL", Edit::Replace("  maxTTL: 1h\n", ""), "spec.maxTTL: Required value"),
    ("unknown keys rule", Edit::Append("  keys: yubikey\n"), "spec.keys"),
    ("keys spelt as the Rust variant", Edit::Append("  keys: Hardware\n"), "spec.keys"),
];

/// Server-side dry run: the apiserver validates exactly as for a real apply, and nothing is stored.
fn dry_run_apply(
    cp: &kubejit_testenv::ControlPlane,
    manifest: &str,
) -> kubejit_testenv::KubectlOutput {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest).unwrap();
    crate::fixture::admin_may_fail(
        cp,
        &[
            "apply",
            "--dry-run=server",
            "-f",
            file.path().to_str().unwrap(),
        ],
    )
}

#[test]
fn kubectl_apply_rejects_bad_policy() {
    let (cp, _) = setup();
    let ok = dry_run_apply(cp, &policy("approver-test-crd-ok", GOOD));
    assert!(ok.success, "a good policy applies: {}", ok.stderr);
    let with_approvals = format!(
        "{}{GRANT_RULE}    approval: {{mode: Manual, approvers: {{users: [oscar]}}, approvals: 1}}\n",
        GOOD.replace(
            "{mode: Auto}",
            "{mode: Manual, approvers: {groups: [kubejit-approvers]}, approvals: 2, approvalTimeout: 4h}"
        )
    );
    let ok = dry_run_apply(cp, &policy("approver-test-crd-ok", &with_approvals));
    assert!(
        ok.success,
        "approvals and a rule approval apply: {}",
        ok.stderr
    );
    for (what, edit, message) in BAD {
        let spec = edit.apply();
        let out = dry_run_apply(cp, &policy("approver-test-crd-bad", &spec));
        assert!(!out.success, "{what} must be rejected:\n{spec}");
        assert!(
            out.stderr.contains(message),
            "{what}: expected {message:?} in {}",
            out.stderr
        );
    }
}

#[test]
fn kubectl_get_accesspolicies_shows_who_what_how_long_and_how() {
    let (cp, _) = setup();
    let out = cp
        .admin(&[
            "get",
            "accesspolicies",
            "approver-test-auto",
            "approver-test-manual",
        ])
        .unwrap();
    let mut lines = crate::support::table_rows(
        &out,
        "NAME USERS GROUPS CERTIFICATE-GROUPS MAX-TTL INCIDENT APPROVAL AGE",
    );
    let auto = lines.next().unwrap();
    for cell in [
        "approver-test-auto",
        "[\"alice\"]",
        "[\"approver-test:payments-debug\"]",
        "30m",
        "^INC-[0-9]+$",
        "Auto",
    ] {
        assert!(auto.contains(cell), "{cell} in {auto:?}");
    }
    let manual = lines.next().unwrap();
    for cell in ["[\"carol\",\"oscar\"]", "1h", "Manual"] {
        assert!(manual.contains(cell), "{cell} in {manual:?}");
    }
    // The short name and the category work too.
    assert!(
        cp.admin(&["get", "ap", "approver-test-auto"])
            .unwrap()
            .success
    );
    assert!(
        cp.admin(&["get", "kubejit"])
            .unwrap()
            .stdout
            .contains("approver-test-auto")
    );
}
