//! Notifications from the AccessRequest controller on the real control plane: a policy with a
//! `notify.webhook` (and its Secret in kubejit-system) gets a signed notification for every phase
//! of carol's request, at a local receiver, and a receiver that is down does not hold up access
//! (docs/requests.md, "Notifications").

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/grants.rs"]
mod grant_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grant_support::{kubejit_as, namespace_with_role};
use kubejit_controller::notify;
use kubejit_testenv::{ControlPlane, shared, unique_namespace};
use serde_json::{Value, json};
use support::{ControllerProcess, eventually, shared_controller};

const BOUND: Duration = Duration::from_secs(90);

fn cluster() -> (&'static ControlPlane, &'static ControllerProcess) {
    let cp = shared();
    let ctl = shared_controller(
        cp,
        &[
            "--lease-name",
            "notify-flow-test",
            "--controllers",
            "requests,reaper",
        ],
    );
    (cp, ctl)
}

/// One POST as the receiver saw it: lowercase header names, the raw body.
#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header: {self:?}"))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A local HTTP receiver answering 204 to every POST; returns its URL and what it received.
fn receiver() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(socket) = socket else { continue };
            if let Some(delivery) = read_request(socket) {
                keep.lock().unwrap().push(delivery);
            }
        }
    });
    (url, seen)
}

fn read_request(mut socket: TcpStream) -> Option<Delivery> {
    socket.set_read_timeout(Some(BOUND)).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers.get("content-length")?.parse().ok()?;
        if body.len() >= len {
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .ok()?;
            return Some(Delivery {
                headers,
                body: body[..len].to_owned(),
            });
        }
    }
}

/// A Secret with a unique name in kubejit-system holding the webhook's HMAC key.
fn hook_secret(cp: &ControlPlane, key: &str) -> String {
    let name = unique_namespace("notify-flow-hook");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "kubejit-system"},
        "stringData": {"hmac": key},
    });
    cp.apply(&secret.to_string()).unwrap();
    name
}

/// A namespace with the on-call Role where carol may ask, and a policy allowing it under
/// `approval`, announcing to `url` signed with the key in Secret `secret`.
fn setup(cp: &ControlPlane, prefix: &str, approval: &Value, url: &str, secret: &str) -> String {
    let ns = namespace_with_role(cp, prefix);
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "requesters", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubejit-requester"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}]});
    cp.apply(&binding.to_string()).unwrap();
    let mut policy = grant_support::request_policy(
        &format!("notify-{ns}"),
        &ns,
        json!({"users": ["carol"]}),
        approval,
    );
    policy["spec"]["notify"] =
        json!({"webhook": {"url": url, "secretRef": {"name": secret, "key": "hmac"}}});
    cp.apply(&policy.to_string()).unwrap();
    ns
}

/// `kubejit request` as carol, for herself; returns the request's name.
fn ask(cp: &ControlPlane, ns: &str, ttl: &str) -> String {
    grant_support::request_as(cp, "carol", ns, ttl, &[])
}

fn wait_phase(cp: &ControlPlane, ns: &str, name: &str, want: &str) -> Value {
    eventually(BOUND, &format!("{ns}/{name} to be {want}"), || {
        let out = cp
            .admin(&["get", "accessrequest", name, "-n", ns, "-o", "json"])
            .ok()?;
        let request: Value = serde_json::from_str(&out.stdout).ok()?;
        (request["status"]["phase"] == want).then_some(request)
    })
}

/// The deliveries about request `name`, by phase; each phase at most once (by delivery id).
fn by_phase(seen: &Mutex<Vec<Delivery>>, name: &str) -> HashMap<String, Delivery> {
    let mut phases: HashMap<String, Delivery> = HashMap::new();
    for d in seen.lock().unwrap().iter() {
        let body = d.json();
        if body["request"]["name"] != name {
            continue;
        }
        let phase = body["phase"].as_str().unwrap().to_owned();
        if let Some(before) = phases.get(&phase) {
            assert_eq!(
                before.header("x-kubejit-delivery"),
                d.header("x-kubejit-delivery"),
                "{phase} announced twice"
            );
        }
        phases.insert(phase, d.clone());
    }
    phases
}

#[test]
fn every_phase_of_a_request_reaches_the_policys_webhook_signed() {
    let (cp, _ctl) = cluster();
    let (url, seen) = receiver();
    let key = "flow-key-1";
    let secret = hook_secret(cp, key);
    let approval = json!({"mode": "Manual", "approvers": {"users": ["oscar"]}, "approvals": 1,
                          "approvalTimeout": "10m"});
    let ns = setup(cp, "notify-flow", &approval, &url, &secret);
    let name = ask(cp, &ns, "12s");
    wait_phase(cp, &ns, &name, "Pending");
    let out = kubejit_as(cp, "oscar", &["approve", &name, "-n", &ns]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let active = wait_phase(cp, &ns, &name, "Active");
    let expires_at = active["status"]["expiresAt"].as_str().unwrap().to_owned();
    let uid = active["metadata"]["uid"].as_str().unwrap().to_owned();
    wait_phase(cp, &ns, &name, "Expired");
    let phases = eventually(BOUND, "all four notifications", || {
        let p = by_phase(&seen, &name);
        (p.len() == 4).then_some(p)
    });
    let mut chain = Vec::new();
    for (phase, previous, reason) in [
        ("Pending", Value::Null, "AwaitingApproval"),
        ("Approved", json!("Pending"), "ApprovalsReceived"),
        ("Active", json!("Approved"), "Granted"),
        ("Expired", json!("Active"), "TtlElapsed"),
    ] {
        let d = phases
            .get(phase)
            .unwrap_or_else(|| panic!("no {phase}: {phases:?}"));
        let (ts, sig) = (
            d.header("x-kubejit-timestamp"),
            d.header("x-kubejit-signature"),
        );
        assert!(
            notify::verify(key.as_bytes(), ts, d.body.as_bytes(), sig),
            "{phase}: bad signature {d:?}"
        );
        assert!(
            !notify::verify(b"another-key", ts, d.body.as_bytes(), sig),
            "{phase}: the signature must depend on the key"
        );
        let body = d.json();
        assert_eq!(body["kind"], "accessRequest");
        assert_eq!(body["deliveryId"], d.header("x-kubejit-delivery"));
        assert_eq!(body["previousPhase"], previous, "{phase}: {body}");
        assert_eq!(body["phaseReason"], reason, "{phase}: {body}");
        assert_eq!(
            body["request"],
            json!({"namespace": ns, "name": name, "uid": uid})
        );
        assert_eq!(body["requester"]["username"], "carol");
        assert_eq!(
            body["role"],
            json!({"kind": "Role", "name": "oncall-debug"})
        );
        assert_eq!(body["incident"], "INC-12345");
        assert_eq!(body["reason"], "checkout latency");
        if phase == "Pending" {
            assert_eq!(body["approvers"], json!([]), "{body}");
            assert_eq!(body["expiresAt"], Value::Null, "{body}");
        } else {
            assert_eq!(body["approvers"], json!(["oscar"]), "{phase}: {body}");
            assert_eq!(body["expiresAt"], expires_at.as_str(), "{phase}: {body}");
        }
        chain.push(body["time"].as_str().unwrap().to_owned());
    }
    let times: Vec<time::OffsetDateTime> = chain
        .iter()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "phases announced in order: {chain:?}"
    );
}

/// A receiver that refuses connections: the request still becomes Active (the notification is
/// queued and retried on its own), and the notifier does try — and fails — to deliver.
#[test]
fn a_receiver_that_is_down_does_not_hold_up_access() {
    let (cp, ctl) = cluster();
    // A port nothing listens on: bound, then released.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let secret = hook_secret(cp, "down-key");
    let ns = setup(cp, "notify-down", &json!({"mode": "Auto"}), &url, &secret);
    let name = ask(cp, &ns, "10m");
    wait_phase(cp, &ns, &name, "Active");
    let pods = cp.kubectl_as("carol", &["get", "pods", "-n", &ns]).unwrap();
    assert!(pods.success, "carol's kubectl works: {}", pods.stderr);
    // The deliveries were attempted: after their retries they are counted as failed.
    eventually(BOUND, "failed deliveries to be counted", || {
        ctl.metrics()
            .lines()
            .any(|l| {
                l.starts_with("kubejit_notify_deliveries_total{outcome=\"failed\"}")
                    && !l.ends_with(" 0")
            })
            .then_some(())
    });
}
