//! AccessRequests and AccessApprovals on the real apiserver, driven with plain kubectl by the test
//! identities: every forgery is refused with a clear Forbidden/Invalid message (asking or deciding in
//! someone else's name, editing a request or an approval, writing a request's status, withdrawing
//! someone else's request), and the honest create succeeds. No controller runs here: this is the
//! fence that holds whether or not it is up (docs/requests.md).

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::{CONTROLLER_SA, ControlPlane, KubectlOutput, shared, unique_namespace};
use serde_json::{Value, json};
use support::{assert_forbidden, install_kubejit};

/// A namespace where carol may ask (kubejit-requester) and mallory may write any AccessRequest or
/// AccessApproval, status and deletes included (an over-broad namespace admin): what RBAC alone
/// would let her do is exactly what admission must still refuse.
fn namespace(cp: &ControlPlane, prefix: &str) -> String {
    install_kubejit(cp);
    let ns = unique_namespace(prefix);
    cp.admin(&["create", "namespace", &ns]).unwrap();
    let everything = json!([{
        "apiGroups": ["kubejit.dev"],
        "resources": ["accessrequests", "accessrequests/status", "accessapprovals"],
        "verbs": ["get", "list", "create", "update", "patch", "delete"]
    }]);
    for doc in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "carol-requests", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "kubejit-requester"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "kubejit-everything", "namespace": ns}, "rules": everything}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "mallory-everything", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "kubejit-everything"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}]}),
    ] {
        cp.apply(&doc.to_string()).unwrap();
    }
    ns
}

/// `request.userInfo` as the apiserver sees `user`: (username, groups in order).
fn whoami(cp: &ControlPlane, user: &str) -> (String, Vec<String>) {
    let out = cp
        .kubectl_as(user, &["auth", "whoami", "-o", "json"])
        .unwrap();
    assert!(out.success, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let info = &v["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (info["username"].as_str().unwrap().to_owned(), groups)
}

fn identity(cp: &ControlPlane, user: &str) -> Value {
    let (username, groups) = whoami(cp, user);
    json!({"username": username, "groups": groups})
}

fn request(ns: &str, name: &str, requester: Value) -> Value {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"requester": requester, "role": {"kind": "ClusterRole", "name": "oncall-debug"},
                 "ttl": "1h", "incident": "INC-12345", "reason": "checkout latency"}
    })
}

/// `kubectl create -f` of `doc` as `user`.
fn create_as(cp: &ControlPlane, user: &str, doc: &Value) -> KubectlOutput {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    cp.kubectl_as(user, &["create", "-f", file.to_str().unwrap()])
        .unwrap()
}

fn refused(out: &KubectlOutput, what: &str, wants: &[&str]) {
    assert!(!out.success, "{what} must be refused: {}", out.stdout);
    for want in wants {
        assert!(
            out.stderr.contains(want),
            "{what}: expected {want:?} in: {}",
            out.stderr
        );
    }
}

fn honest_request(cp: &ControlPlane, ns: &str, name: &str) -> String {
    let out = create_as(cp, "carol", &request(ns, name, identity(cp, "carol")));
    assert!(
        out.success,
        "the honest request is admitted: {}",
        out.stderr
    );
    let uid = cp
        .admin(&[
            "get",
            "accessrequest",
            name,
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .unwrap()
        .stdout;
    assert!(!uid.is_empty());
    uid
}

#[test]
fn nobody_asks_in_someone_elses_name() {
    let cp = shared();
    let ns = namespace(cp, "areq-stamp");
    let (_, carol_groups) = whoami(cp, "carol");

    let as_alice = request(
        ns.as_str(),
        "as-alice",
        json!({"username": "alice", "groups": ["oncall-payments", "system:authenticated"]}),
    );
    let out = create_as(cp, "carol", &as_alice);
    refused(
        &out,
        "carol asking as alice",
        &[
            "kubejit-request-requester",
            "spec.requester must be exactly who you are (username carol",
        ],
    );

    let mut more_groups = carol_groups.clone();
    more_groups.insert(0, "oncall-payments".to_owned());
    let extra = request(
        &ns,
        "extra-groups",
        json!({"username": "carol", "groups": more_groups}),
    );
    refused(
        &create_as(cp, "carol", &extra),
        "carol claiming a group",
        &["kubejit-request-requester"],
    );
    let fewer = request(&ns, "fewer-groups", json!({"username": "carol"}));
    refused(
        &create_as(cp, "carol", &fewer),
        "carol hiding her groups",
        &["kubejit-request-requester"],
    );

    // Not even a cluster admin (no break-glass exception for stamping) asks for someone else.
    let err = cp.apply(&as_alice.to_string()).unwrap_err().to_string();
    assert!(err.contains("kubejit-request-requester"), "{err}");

    let cert = json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": "cert", "namespace": ns},
        "spec": {"requester": identity(cp, "carol"), "certificateGroups": ["oncall-checkout"],
                 "ttl": "1h", "reason": "checkout latency"}
    });
    refused(
        &create_as(cp, "carol", &cert),
        "a certificate request outside kubejit-system",
        &["certificate-group AccessRequests live in namespace kubejit-system"],
    );

    let out = create_as(cp, "bob", &request(&ns, "bob", identity(cp, "bob")));
    assert_forbidden(&out, "bob", &["create", "accessrequest"]);

    honest_request(cp, &ns, "honest");
    let requester = cp
        .admin(&[
            "get",
            "accessrequest",
            "honest",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.requester.username}",
        ])
        .unwrap()
        .stdout;
    assert_eq!(requester, "carol");

    // `kubectl get accessrequests` shows who asked for what, for how long, and where it stands.
    let out = cp
        .kubectl_as("carol", &["get", "accessrequests", "-n", &ns])
        .unwrap();
    let mut lines = support::table_rows(
        &out,
        "NAME REQUESTER ROLE CERTIFICATE-GROUPS TTL INCIDENT PHASE EXPIRES-AT AGE",
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..5],
        ["honest", "carol", "oncall-debug", "1h", "INC-12345"]
    );
    let wide = cp
        .kubectl_as("carol", &["get", "areq", "-n", &ns, "-o", "wide"])
        .unwrap();
    assert!(
        wide.stdout.lines().next().unwrap().contains("REASON"),
        "{}",
        wide.stdout
    );
    assert!(wide.stdout.contains("checkout latency"), "{}", wide.stdout);
}

#[test]
fn a_request_cannot_be_edited_and_only_the_controller_writes_its_status() {
    let cp = shared();
    let ns = namespace(cp, "areq-immutable");
    honest_request(cp, &ns, "r");
    let longer = r#"{"spec":{"ttl":"8h"}}"#;
    let patch = [
        "patch",
        "accessrequest",
        "r",
        "-n",
        ns.as_str(),
        "--type",
        "merge",
        "-p",
        longer,
    ];

    let out = cp.kubectl_as("carol", &patch).unwrap();
    assert_forbidden(&out, "carol", &patch);
    for user in ["mallory", CONTROLLER_SA] {
        let out = cp.kubectl_as(user, &patch).unwrap();
        refused(
            &out,
            &format!("{user} lengthening the ttl"),
            &["spec is immutable"],
        );
    }
    let err = cp.admin(&patch).unwrap_err().to_string();
    assert!(err.contains("spec is immutable"), "{err}");

    let active = r#"{"status":{"phase":"Active","expiresAt":"2030-01-01T00:00:00Z"}}"#;
    let status = [
        "patch",
        "accessrequest",
        "r",
        "-n",
        ns.as_str(),
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        active,
    ];
    for user in ["carol", "oscar"] {
        let out = cp.kubectl_as(user, &status).unwrap();
        assert_forbidden(&out, user, &status);
    }
    let out = cp.kubectl_as("mallory", &status).unwrap();
    refused(
        &out,
        "mallory (RBAC allows) writing status",
        &[
            "kubejit-request-status",
            "only the kubejit controller writes the status",
            "mallory",
        ],
    );
    let phase = || {
        cp.admin(&[
            "get",
            "accessrequest",
            "r",
            "-n",
            &ns,
            "-o",
            "jsonpath={.status.phase}",
        ])
        .unwrap()
        .stdout
    };
    assert_eq!(phase(), "", "nobody's forged status stuck");

    let out = cp.kubectl_as(CONTROLLER_SA, &status).unwrap();
    assert!(out.success, "the controller writes status: {}", out.stderr);
    assert_eq!(phase(), "Active");
}

#[test]
fn only_the_requester_withdraws() {
    let cp = shared();
    let ns = namespace(cp, "areq-withdraw");
    honest_request(cp, &ns, "r");
    let delete = [
        "delete",
        "accessrequest",
        "r",
        "-n",
        ns.as_str(),
        "--wait=false",
    ];
    let out = cp.kubectl_as("oscar", &delete).unwrap();
    assert_forbidden(&out, "oscar", &delete);
    let out = cp.kubectl_as("mallory", &delete).unwrap();
    refused(
        &out,
        "mallory (RBAC allows) withdrawing carol's request",
        &[
            "kubejit-request-withdrawal",
            "only the requester (carol) may withdraw",
        ],
    );
    let out = cp.kubectl_as("carol", &delete).unwrap();
    assert!(
        out.success,
        "carol withdraws her own request: {}",
        out.stderr
    );

    // The fence must not wedge namespace deletion: Kubernetes' namespace controller (impersonated
    // here; the test control plane's controller manager does not empty namespaces) deletes a
    // requester's request like any other object.
    honest_request(cp, &ns, "left-behind");
    let namespace_controller = "--as=system:serviceaccount:kube-system:namespace-controller";
    let out = cp.admin(&[
        "delete",
        "accessrequest",
        "left-behind",
        "-n",
        &ns,
        namespace_controller,
    ]);
    assert!(out.is_ok(), "{out:?}");
}

fn approval(ns: &str, name: &str, uid: &str, approver: Value) -> Value {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessApproval",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"request": "r", "requestUID": uid, "decision": "Approve",
                 "comment": "looks right", "approver": approver}
    })
}

#[test]
fn nobody_decides_in_someone_elses_name_and_decisions_are_immutable() {
    let cp = shared();
    let ns = namespace(cp, "areq-approve");
    let uid = honest_request(cp, &ns, "r");

    let as_olga = approval(
        &ns,
        "as-olga",
        &uid,
        json!({"username": "olga", "groups": ["kubejit-approvers", "system:authenticated"]}),
    );
    refused(
        &create_as(cp, "oscar", &as_olga),
        "oscar approving as olga",
        &[
            "kubejit-approval-approver",
            "spec.approver must be exactly who you are (username oscar",
        ],
    );
    // carol cannot record a decision at all (and the controller would not count hers).
    let out = create_as(
        cp,
        "carol",
        &approval(&ns, "self", &uid, identity(cp, "carol")),
    );
    assert_forbidden(&out, "carol", &["create", "accessapproval"]);
    // mallory may create approvals in this namespace by RBAC, but only in her own name.
    let out = create_as(
        cp,
        "mallory",
        &approval(&ns, "mallory-as-oscar", &uid, identity(cp, "oscar")),
    );
    refused(
        &out,
        "mallory approving as oscar",
        &["kubejit-approval-approver"],
    );

    let out = create_as(
        cp,
        "oscar",
        &approval(&ns, "oscar", &uid, identity(cp, "oscar")),
    );
    assert!(
        out.success,
        "oscar's honest approval is admitted: {}",
        out.stderr
    );

    let deny = r#"{"spec":{"decision":"Deny"}}"#;
    let patch = [
        "patch",
        "accessapproval",
        "oscar",
        "-n",
        ns.as_str(),
        "--type",
        "merge",
        "-p",
        deny,
    ];
    let out = cp.kubectl_as("oscar", &patch).unwrap();
    assert_forbidden(&out, "oscar", &patch);
    let out = cp.kubectl_as("mallory", &patch).unwrap();
    refused(
        &out,
        "mallory editing oscar's approval",
        &["an AccessApproval is immutable"],
    );
    let err = cp.admin(&patch).unwrap_err().to_string();
    assert!(err.contains("an AccessApproval is immutable"), "{err}");
    let decision = cp
        .admin(&[
            "get",
            "accessapproval",
            "oscar",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.decision}",
        ])
        .unwrap()
        .stdout;
    assert_eq!(decision, "Approve");
    let out = cp
        .kubectl_as("oscar", &["get", "accessapprovals", "-n", &ns])
        .unwrap();
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "REQUEST", "DECISION", "APPROVER", "AGE"]);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["oscar", "r", "Approve", "oscar"]);
}

/// `kubejit request` fills in the requester from a SelfSubjectReview (so admission admits it), and
/// `kubejit requests` lists what was asked.
#[test]
fn kubejit_request_asks_as_you_and_kubejit_requests_lists_it() {
    let cp = shared();
    let ns = namespace(cp, "areq-cli");
    let carol = cp.kubeconfig("carol").unwrap();
    let carol = carol.to_str().unwrap();
    let stdout = support::kubejit_stdout(&[
        "request",
        "--kubeconfig",
        carol,
        "-n",
        &ns,
        "--role",
        "oncall-debug",
        "--role-kind",
        "cluster-role",
        "--group",
        "oncall-checkout",
        "--ttl",
        "1h",
        "--incident",
        "INC-12345",
        "--reason",
        "checkout latency",
        "--name",
        "asked",
    ]);
    assert!(
        stdout.contains(&format!("requested {ns}/asked as carol")),
        "{stdout}"
    );
    let stored: Value = serde_json::from_str(
        &cp.admin(&["get", "accessrequest", "asked", "-n", &ns, "-o", "json"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(stored["spec"]["requester"], identity(cp, "carol"));
    assert_eq!(
        stored["spec"]["subjects"],
        json!({"groups": ["oncall-checkout"]})
    );
    assert_eq!(
        stored["spec"]["role"],
        json!({"kind": "ClusterRole", "name": "oncall-debug"})
    );
    assert_eq!(stored["spec"]["ttl"], "1h");

    // A reason is mandatory; clap refuses before anything is sent.
    let out = support::kubejit(&["request", "--kubeconfig", carol, "-n", &ns, "--role", "x"]);
    assert_eq!(out.status.code(), Some(2));

    let table = support::kubejit_stdout(&["requests", "--kubeconfig", carol, "-n", &ns]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        [
            "asked",
            "carol",
            "ClusterRole/oncall-debug",
            "1h",
            "INC-12345",
            "-",
            "-"
        ]
    );
    let out = support::kubejit(&["requests", "--kubeconfig", carol, "-n", &ns, "-o", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["metadata"]["name"], "asked");
    assert_eq!(listed["kind"], "AccessRequest");

    // carol may list only where she may ask; an approver sees every namespace.
    let out = support::kubejit(&["requests", "--kubeconfig", carol, "-A"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to list AccessRequests"));
    let oscar = cp.kubeconfig("oscar").unwrap();
    let table = support::kubejit_stdout(&[
        "requests",
        "--kubeconfig",
        oscar.to_str().unwrap(),
        "-A",
        "-o",
        "wide",
    ]);
    let line = table.lines().find(|l| l.starts_with(&ns)).unwrap();
    assert!(
        line.contains("group:oncall-checkout") && line.contains("checkout latency"),
        "{line}"
    );
}

/// `kubejit approve|deny` records a decision in the caller's name, tied to the request's uid; a
/// requester, who holds no create on approvals, cannot.
#[test]
fn kubejit_approve_and_deny_record_decisions_in_your_name() {
    let cp = shared();
    let ns = namespace(cp, "areq-decide");
    let uid = honest_request(cp, &ns, "r");
    let oscar = cp.kubeconfig("oscar").unwrap();
    let oscar = oscar.to_str().unwrap();
    let stdout = support::kubejit_stdout(&[
        "approve",
        "r",
        "-n",
        &ns,
        "--kubeconfig",
        oscar,
        "--comment",
        "matches INC-12345",
    ]);
    assert!(
        stdout.starts_with(&format!("approved {ns}/r as oscar")),
        "{stdout}"
    );
    support::kubejit_stdout(&["deny", "r", "-n", &ns, "--kubeconfig", oscar]);

    let list: Value = serde_json::from_str(
        &cp.admin(&["get", "accessapprovals", "-n", &ns, "-o", "json"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut decisions: Vec<(String, String, String, Value)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = &a["spec"];
            (
                s["decision"].as_str().unwrap().to_owned(),
                s["requestUID"].as_str().unwrap().to_owned(),
                s["request"].as_str().unwrap().to_owned(),
                s["approver"].clone(),
            )
        })
        .collect();
    decisions.sort_by(|a, b| a.0.cmp(&b.0));
    let me = identity(cp, "oscar");
    assert_eq!(
        decisions,
        [
            ("Approve".into(), uid.clone(), "r".into(), me.clone()),
            ("Deny".into(), uid, "r".into(), me),
        ]
    );

    let carol = cp.kubeconfig("carol").unwrap();
    let out = support::kubejit(&[
        "approve",
        "r",
        "-n",
        &ns,
        "--kubeconfig",
        carol.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed to record the decision") && stderr.contains("forbidden"),
        "{stderr}"
    );
    let out = support::kubejit(&["approve", "missing", "-n", &ns, "--kubeconfig", oscar]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to read AccessRequest"));
}
