//! The on-call debug Role, proven on the real control plane with the real kubectl:
//! what an on-call engineer can do, what nobody else can, and why both `get` and `create` are needed.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kubejit_testenv::{PodSpec, shared, unique_namespace};
use support::{assert_forbidden, kubejit, namespace_with_pod, port_forward};

const LOG: &str = "2026-11-26T09:15:41Z ERROR payment provider timeout order=8812\n";

/// A namespace with one Running pod and the on-call Role (from `kubejit manifests`) bound to `group`.
fn namespace_with_role(prefix: &str, group: &str, extra: &[&str]) -> String {
    let cp = shared();
    let ns = namespace_with_pod(cp, prefix, LOG);
    let mut args = vec![
        "manifests",
        "oncall-role",
        "--namespace",
        &ns,
        "--group",
        group,
    ];
    args.extend_from_slice(extra);
    let manifests = kubejit(&args);
    assert!(
        manifests.status.success(),
        "{}",
        String::from_utf8_lossy(&manifests.stderr)
    );
    cp.apply(&String::from_utf8_lossy(&manifests.stdout))
        .unwrap();
    ns
}

#[test]
fn oncall_member_can_list_read_logs_and_exec() {
    let cp = shared();
    let ns = namespace_with_role("payments", "oncall-payments", &[]);

    let pods = cp
        .kubectl_as("alice", &["get", "pods", "-n", &ns, "-o", "name"])
        .unwrap();
    assert!(pods.success, "{}", pods.stderr);
    assert_eq!(pods.stdout.trim(), "pod/api");

    let logs = cp.kubectl_as("alice", &["logs", "-n", &ns, "api"]).unwrap();
    assert!(logs.success, "{}", logs.stderr);
    assert_eq!(logs.stdout, LOG);

    let exec = cp
        .kubectl_as("alice", &["exec", "-n", &ns, "api", "--", "echo", "hi"])
        .unwrap();
    assert!(exec.success, "{}", exec.stderr);
    assert_eq!(exec.stdout, "hi\n");

    let events = cp.kubectl_as("bob", &["get", "events", "-n", &ns]).unwrap();
    assert!(events.success, "{}", events.stderr);
}

#[test]
fn oncall_member_can_port_forward_to_the_pod() {
    let cp = shared();
    let ns = namespace_with_role("payments", "oncall-payments", &[]);
    let pf = port_forward(cp, "alice", &ns, "api", 8080);
    let Some(port) = pf.port else {
        panic!("kubectl port-forward did not start: {}", pf.stop());
    };
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"ping through the pod\n").unwrap();
    let mut echoed = [0u8; 21];
    conn.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping through the pod\n");
    pf.stop();
}

#[test]
fn oncall_member_cannot_write_or_read_secrets() {
    let cp = shared();
    let ns = namespace_with_role("payments", "oncall-payments", &[]);
    let cases: [&[&str]; 4] = [
        &["delete", "pod", "api", "-n", &ns],
        &["get", "secrets", "-n", &ns],
        &["create", "deployment", "evil", "--image=busybox", "-n", &ns],
        &["label", "pod", "api", "pwned=true", "-n", &ns],
    ];
    for args in cases {
        assert_forbidden(&cp.kubectl_as("alice", args).unwrap(), "alice", args);
    }
    // The pod really is still there.
    cp.admin(&["get", "pod", "api", "-n", &ns]).unwrap();
}

#[test]
fn oncall_role_does_not_reach_other_namespaces() {
    let cp = shared();
    let _ns = namespace_with_role("payments", "oncall-payments", &[]);
    let other = unique_namespace("checkout");
    cp.create_namespace(&other).unwrap();
    cp.create_running_pod(&PodSpec {
        namespace: &other,
        name: "web",
        log: LOG,
        ports: &[8080],
    })
    .unwrap();
    let cases: [&[&str]; 3] = [
        &["get", "pods", "-n", &other],
        &["logs", "web", "-n", &other],
        &["exec", "web", "-n", &other, "--", "echo", "hi"],
    ];
    for args in cases {
        assert_forbidden(&cp.kubectl_as("alice", args).unwrap(), "alice", args);
    }
}

#[test]
fn users_outside_the_group_get_nothing() {
    let cp = shared();
    let ns = namespace_with_role("payments", "oncall-payments", &[]);
    let cases: [&[&str]; 3] = [
        &["get", "pods", "-n", &ns],
        &["logs", "api", "-n", &ns],
        &["exec", "api", "-n", &ns, "--", "echo", "hi"],
    ];
    for user in ["mallory", "carol"] {
        for args in cases {
            assert_forbidden(&cp.kubectl_as(user, args).unwrap(), user, args);
        }
    }
}

/// kubectl >= 1.30 opens exec and port-forward as WebSocket GETs, and the 1.35+ apiserver also
/// authorizes `create` for them. `get` alone fails outright. `create` alone only "works" because
/// kubectl falls back to the legacy SPDY POST after its WebSocket GET is refused — the apiserver's
/// audit log shows the refusal — so clients without that fallback fail. Both verbs: WebSocket directly.
#[test]
fn streaming_needs_both_get_and_create() {
    let cp = shared();
    for verbs in [&["get"][..], &["create"], &["get", "create"]] {
        let ns = namespace_with_pod(cp, "streaming", LOG);
        cp.apply(&partial_role(&ns, verbs)).unwrap();
        // Discovery works, so any failure below is about the streaming verbs alone.
        assert!(
            cp.kubectl_as("carol", &["get", "pod", "api", "-n", &ns])
                .unwrap()
                .success
        );
        let exec = ["exec", "api", "-n", &ns, "--", "echo", "hi"];
        let out = cp.kubectl_as("carol", &exec).unwrap();
        let audit = streaming_audit(cp, "carol", &ns, "exec");
        match verbs {
            ["get"] => {
                assert_forbidden(&out, "carol", &exec);
                let pf = port_forward_error(cp, "carol", &ns);
                assert!(pf.contains("forbidden"), "port-forward with only get: {pf}");
            }
            ["create"] => {
                assert_eq!(out.stdout, "hi\n", "{out:?}");
                assert!(
                    audit.contains(&("get".into(), 403)),
                    "WebSocket GET must be refused: {audit:?}"
                );
                assert!(
                    audit.contains(&("create".into(), 101)),
                    "only the SPDY fallback succeeds: {audit:?}"
                );
            }
            _ => {
                assert_eq!(out.stdout, "hi\n", "{out:?}");
                assert!(
                    audit.contains(&("get".into(), 101)),
                    "WebSocket GET succeeds: {audit:?}"
                );
                assert!(
                    !audit.iter().any(|(verb, _)| verb == "create"),
                    "no fallback needed: {audit:?}"
                );
            }
        }
    }
}

/// (verb, response code) of `user`'s requests on a pod streaming subresource, from the apiserver's
/// real audit log.
fn streaming_audit(
    cp: &kubejit_testenv::ControlPlane,
    user: &str,
    ns: &str,
    subresource: &str,
) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(cp.audit_log()).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == user)
        .filter(|e| {
            e["objectRef"]["namespace"] == ns && e["objectRef"]["subresource"] == subresource
        })
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or_default().to_owned(),
                e["responseStatus"]["code"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn ephemeral_containers_only_with_the_flag() {
    let cp = shared();
    let debug = |ns: &str| {
        cp.kubectl_as(
            "alice",
            &[
                "debug",
                "-n",
                ns,
                "api",
                "--image=busybox:1.36",
                "--container=dbg",
                "--attach=false",
                "--",
                "sleep",
                "1",
            ],
        )
        .unwrap()
    };
    let without = namespace_with_role("payments", "oncall-payments", &[]);
    let out = debug(&without);
    assert!(
        out.is_forbidden(),
        "without --ephemeral-containers: {out:?}"
    );

    let with = namespace_with_role("payments", "oncall-payments", &["--ephemeral-containers"]);
    let out = debug(&with);
    assert!(out.success, "with --ephemeral-containers: {out:?}");
    let containers = cp
        .admin(&[
            "get",
            "pod",
            "api",
            "-n",
            &with,
            "-o",
            "jsonpath={.spec.ephemeralContainers[*].name}",
        ])
        .unwrap();
    assert_eq!(containers.stdout.trim(), "dbg");
}

fn partial_role(ns: &str, verbs: &[&str]) -> String {
    serde_json::json!({
        "apiVersion": "v1", "kind": "List", "items": [
            { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
              "metadata": { "name": "partial", "namespace": ns },
              "rules": [
                { "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] },
                { "apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": verbs } ] },
            { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
              "metadata": { "name": "partial", "namespace": ns },
              "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "partial" },
              "subjects": [ { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-checkout" } ] }
        ]
    })
    .to_string()
}

/// Starts a port-forward, connects once (kubectl opens the stream on the first connection) and
/// returns what kubectl printed on stderr.
fn port_forward_error(cp: &kubejit_testenv::ControlPlane, user: &str, ns: &str) -> String {
    let pf = port_forward(cp, user, ns, "api", 8080);
    if let Some(port) = pf.port
        && let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port))
    {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = conn.write_all(b"x");
        let _ = conn.read(&mut [0u8; 1]);
    }
    // kubectl reports the refused stream on stderr; give it a moment to do so.
    std::thread::sleep(Duration::from_millis(500));
    pf.stop()
}
