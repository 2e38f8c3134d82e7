//! The AccessRequest controller on the real control plane, driven by the test identities with the
//! real `kubejit` and `kubectl`: carol asks, people approve, the controller grants, the reaper
//! expires, and every step is on the audit trail exactly once — also across a controller restart.
//!
//! One controller (request controller + reaper) serves the whole binary; the restart test stops it
//! and starts it again on the same trail, which the other tests ride out (they wait for outcomes).

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/grants.rs"]
mod grant_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use grant_support::{audit_records, events, kubejit_as, namespace_with_role};
use kubejit_testenv::{ControlPlane, shared};
use serde_json::{Value, json};
use support::{ControllerProcess, assert_forbidden, eventually, run_ok, start_controller};

const BOUND: Duration = Duration::from_secs(90);

/// The trail the shared controller writes, kept across restarts.
struct Trail {
    _dir: tempfile::TempDir,
    file: PathBuf,
    key: PathBuf,
}

fn trail() -> &'static Trail {
    static TRAIL: OnceLock<Trail> = OnceLock::new();
    TRAIL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_kubejit"))
                .args(["audit", "keygen", "--out"])
                .arg(&key),
        );
        Trail {
            file: dir.path().join("audit.jsonl"),
            key,
            _dir: dir,
        }
    })
}

static CONTROLLER: Mutex<Option<ControllerProcess>> = Mutex::new(None);

fn start(cp: &ControlPlane) -> ControllerProcess {
    let t = trail();
    let ctl = start_controller(
        cp,
        &[
            "--lease-name",
            "requests-test",
            "--controllers",
            "requests,reaper",
            "--audit-log",
            t.file.to_str().unwrap(),
            "--audit-trail",
            "requests-test",
            "--audit-signing-key",
            t.key.to_str().unwrap(),
        ],
    );
    ctl.babysit();
    ctl
}

/// The shared control plane with the shared controller running.
fn cluster() -> &'static ControlPlane {
    let cp = shared();
    let mut ctl = CONTROLLER.lock().unwrap_or_else(|e| e.into_inner());
    if ctl.is_none() {
        *ctl = Some(start(cp));
    }
    cp
}

/// Stops the shared controller (SIGTERM) and starts a new process on the same trail and lease.
fn restart(cp: &ControlPlane) {
    let mut ctl = CONTROLLER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = ctl.take() {
        let (status, log) = old.stop();
        assert!(status.success(), "controller exit {status}: {log}");
    }
    *ctl = Some(start(cp));
}

/// A namespace with the on-call Role and a running pod, where carol may ask and alice, carol and
/// irene may record decisions (RBAC; oscar may anywhere); `approval` is the grant rule's approval. Requests are for
/// carol and the group oncall-payments (alice's), so alice is a subject.
fn setup(cp: &ControlPlane, prefix: &str, approval: &Value) -> String {
    let ns = namespace_with_role(cp, prefix);
    let bind = |name: &str, role: &str, users: &[&str]| {
        let subjects: Vec<Value> = users
            .iter()
            .map(|u| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}))
            .collect();
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": name, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": subjects})
    };
    cp.apply(&bind("requesters", "kubejit-requester", &["carol"]).to_string())
        .unwrap();
    cp.apply(
        &bind(
            "approvers",
            "kubejit-approver",
            &["alice", "carol", "irene"],
        )
        .to_string(),
    )
    .unwrap();
    let policy = grant_support::request_policy(
        &format!("requests-{ns}"),
        &ns,
        json!({"users": ["carol"], "groups": ["oncall-payments"]}),
        approval,
    );
    cp.apply(&policy.to_string()).unwrap();
    ns
}

/// `approvers` (users) must approve; `approvals` distinct ones; requests time out after `timeout`.
fn manual(approvers: &[&str], approvals: u32, timeout: &str) -> Value {
    json!({"mode": "Manual", "approvers": {"users": approvers}, "approvals": approvals,
           "approvalTimeout": timeout})
}

/// `kubejit request` as carol, for herself and oncall-payments; returns the request's name.
fn ask(ns: &str, ttl: &str) -> String {
    grant_support::request_as(
        shared(),
        "carol",
        ns,
        ttl,
        &["--user", "carol", "--group", "oncall-payments"],
    )
}

fn decide(user: &str, verb: &str, ns: &str, name: &str) {
    let out = kubejit_as(shared(), user, &[verb, name, "-n", ns]);
    assert!(
        out.status.success(),
        "{user} {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(cp: &ControlPlane, ns: &str, name: &str) -> Option<Value> {
    let out = cp
        .admin(&["get", "accessrequest", name, "-n", ns, "-o", "json"])
        .ok()?;
    serde_json::from_str(&out.stdout).ok()
}

fn phase(cp: &ControlPlane, ns: &str, name: &str) -> Option<String> {
    get(cp, ns, name)?["status"]["phase"]
        .as_str()
        .map(str::to_owned)
}

fn wait_phase(cp: &ControlPlane, ns: &str, name: &str, want: &str) -> Value {
    support::poll(BOUND, || {
        let request = get(cp, ns, name)?;
        (request["status"]["phase"] == want).then_some(request)
    })
    .unwrap_or_else(|| {
        panic!(
            "timed out after {BOUND:?} waiting for {ns}/{name} to be {want}; it is:\n{}\n\
             approvals:\n{}\nthe controller's log about it:\n{}",
            get(cp, ns, name).map(|r| r.to_string()).unwrap_or_default(),
            cp.admin(&["get", "accessapprovals", "-n", ns, "-o", "yaml"])
                .map(|o| o.stdout)
                .unwrap_or_default(),
            controller_log_about(name),
        )
    })
}

/// The shared controller's log lines that name `needle`, and its warnings (the last 80).
fn controller_log_about(needle: &str) -> String {
    let ctl = CONTROLLER.lock().unwrap_or_else(|e| e.into_inner());
    let log = ctl
        .as_ref()
        .map(ControllerProcess::log_text)
        .unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(needle) || l.contains("WARN") || l.contains("ERROR"))
        .collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

/// The request's approvals as the controller recorded them: (approver, counted, why not).
fn recorded_approvals(request: &Value) -> Vec<(String, bool, String)> {
    request["status"]["approvals"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["approver"].as_str().unwrap_or_default().to_owned(),
                        r["counted"].as_bool().unwrap_or_default(),
                        r["ignored"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The RoleBindings in `ns` that AccessRequests own (the namespace's on-call Role comes with a
/// kubejit-labelled binding of its own).
fn bindings(cp: &ControlPlane, ns: &str) -> Vec<Value> {
    let out = cp
        .admin(&["get", "rolebindings", "-n", ns, "-o", "json"])
        .unwrap();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b["metadata"]["ownerReferences"][0]["kind"] == "AccessRequest")
        .collect()
}

fn get_pods(cp: &ControlPlane, user: &str, ns: &str) -> kubejit_testenv::KubectlOutput {
    cp.kubectl_as(user, &["get", "pods", "-n", ns]).unwrap()
}

/// Records of `kind` about the request with `uid` (by object or, for grants, by the request named in
/// the reason).
fn facts(kind: &str, object_name: &str) -> usize {
    audit_records(&trail().file)
        .iter()
        .filter(|r| r["kind"] == kind && r["object"]["name"] == object_name)
        .count()
}

fn wait_fact(kind: &str, object_name: &str) {
    eventually(BOUND, &format!("{kind} about {object_name}"), || {
        (facts(kind, object_name) > 0).then_some(())
    });
}

/// Waits until two approvals of the request are on the record; returns the request.
fn wait_two_approvals(cp: &ControlPlane, ns: &str, name: &str) -> Value {
    eventually(
        BOUND,
        &format!("two approvals of {ns}/{name} on the record"),
        || {
            let r = get(cp, ns, name)?;
            (recorded_approvals(&r).len() == 2).then_some(r)
        },
    )
}

/// A namespace (`prefix`) whose rule grants at once, and carol's request there, Active and working.
fn active_auto_request(cp: &ControlPlane, prefix: &str) -> (String, String, String) {
    let ns = setup(cp, prefix, &json!({"mode": "Auto"}));
    let name = ask(&ns, "1h");
    let active = wait_phase(cp, &ns, &name, "Active");
    let binding = active["status"]["binding"].as_str().unwrap().to_owned();
    assert!(get_pods(cp, "carol", &ns).success);
    (ns, name, binding)
}

/// A withdrawn request: it and its binding go, carol loses access, one accessWithdrawn record, and
/// one grantRevoked about the binding (so `audit report` closes the grant where it ended).
fn assert_withdrawn(cp: &ControlPlane, ns: &str, name: &str, binding: &str) {
    eventually(BOUND, "the request and its binding to be gone", || {
        (get(cp, ns, name).is_none() && bindings(cp, ns).is_empty()).then_some(())
    });
    assert_forbidden(&get_pods(cp, "carol", ns), "carol", &["get"]);
    wait_fact("accessWithdrawn", name);
    assert_eq!(facts("accessWithdrawn", name), 1);
    wait_fact("grantRevoked", binding);
    assert_eq!(facts("grantRevoked", binding), 1);
}

/// grantCreated records about `binding` that a request's approval caused.
fn grants_created_by_request(binding: &str) -> Vec<Value> {
    audit_records(&trail().file)
        .into_iter()
        .filter(|r| {
            r["kind"] == "grantCreated"
                && r["object"]["name"] == binding
                && r["decisionReason"] == "requestApproved"
        })
        .collect()
}

/// The real `kubejit` run as `user` (their kubeconfig, never the environment's) with `args`.
fn kubejit_command(cp: &ControlPlane, user: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubejit"));
    command
        .env_remove("KUBECONFIG")
        .args(args)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig(user).unwrap());
    command
}

#[test]
fn the_requester_and_the_subjects_cannot_approve_then_an_approver_grants_until_it_expires() {
    let cp = cluster();
    // carol and alice are listed as approvers: being listed must not let them approve access they
    // would receive (carol asks; alice is in oncall-payments, a subject).
    let ns = setup(
        cp,
        "req-flow",
        &manual(&["carol", "alice", "oscar"], 1, "10m"),
    );
    assert_forbidden(&get_pods(cp, "carol", &ns), "carol", &["get"]);
    let name = ask(&ns, "12s");
    wait_phase(cp, &ns, &name, "Pending");

    decide("carol", "approve", &ns, &name);
    decide("alice", "approve", &ns, &name);
    let pending = wait_two_approvals(cp, &ns, &name);
    assert_eq!(pending["status"]["phase"], "Pending", "{pending}");
    let mut seen = recorded_approvals(&pending);
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("alice".to_owned(), false, "Subject".to_owned()),
            ("carol".to_owned(), false, "Requester".to_owned()),
        ]
    );
    assert!(bindings(cp, &ns).is_empty(), "nothing granted yet");
    assert_forbidden(&get_pods(cp, "carol", &ns), "carol", &["get"]);

    decide("oscar", "approve", &ns, &name);
    let active = wait_phase(cp, &ns, &name, "Active");
    let binding = active["status"]["binding"].as_str().unwrap().to_owned();
    let found = bindings(cp, &ns);
    assert_eq!(found.len(), 1, "{found:?}");
    let owner = &found[0]["metadata"]["ownerReferences"][0];
    assert_eq!(owner["uid"], active["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    assert_eq!(
        found[0]["metadata"]["annotations"]["kubejit.dev/granted-by"],
        kubejit_testenv::CONTROLLER_SA
    );
    let pods = get_pods(cp, "carol", &ns);
    assert!(pods.success, "carol's kubectl works: {}", pods.stderr);

    wait_phase(cp, &ns, &name, "Expired");
    eventually(BOUND, "the binding to be gone", || {
        bindings(cp, &ns).is_empty().then_some(())
    });
    assert_forbidden(&get_pods(cp, "carol", &ns), "carol", &["get"]);

    wait_fact("grantExpired", &binding);
    assert_eq!(facts("accessRequested", &name), 1);
    assert_eq!(facts("accessApproved", &name), 1);
    let records = audit_records(&trail().file);
    let approved = records
        .iter()
        .find(|r| r["kind"] == "accessApproved" && r["object"]["name"] == name)
        .unwrap();
    assert!(
        approved["reason"]
            .as_str()
            .unwrap()
            .contains("approved by oscar"),
        "{approved}"
    );
    let created = grants_created_by_request(&binding);
    assert_eq!(created.len(), 1, "{created:?}");
    let reason = created[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("request {ns}/{name}")), "{reason}");
    assert!(reason.contains("approved by oscar"), "{reason}");
    // Who approved is a field of its own, not only words in the reason.
    assert_eq!(approved["approvers"], json!(["oscar"]), "{approved}");
    assert_eq!(created[0]["approvers"], json!(["oscar"]), "{created:?}");
    assert_report_tells_the_story(cp, &name, &binding);

    // People watching the request see each step (kubectl describe), and so does /metrics.
    let seen = events(cp, &ns);
    for step in ["\"Pending\"", "\"Approved\"", "\"Active\"", "\"Expired\""] {
        assert!(seen.contains(step), "no {step} Event: {seen}");
    }
    let metrics = CONTROLLER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(ControllerProcess::metrics)
        .unwrap_or_default();
    assert!(
        metrics.contains("kubejit_requests_grants_created_total"),
        "{metrics}"
    );
}

/// `kubejit audit report --incident` names carol as the requester and oscar as the approver of
/// request `name`, and the grant it made, created and expired.
fn assert_report_tells_the_story(cp: &ControlPlane, name: &str, binding: &str) {
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["audit", "report", "--incident", "INC-12345", "--trail"])
            .arg(&trail().file)
            .arg("--apiserver-log")
            .arg(cp.audit_log())
            .args(["-o", "json"]),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let story = report["story"].as_array().unwrap();
    let step = |kind: &str, about: &str| {
        story
            .iter()
            .find(|e| e["kind"] == kind && e["text"].as_str().unwrap().contains(about))
            .unwrap_or_else(|| panic!("no {kind} about {about} in {story:#?}"))
    };
    assert_eq!(step("accessRequested", name)["actor"], "carol");
    assert_eq!(step("accessApproved", name)["approvers"], json!(["oscar"]));
    assert_eq!(step("grantCreated", binding)["approvers"], json!(["oscar"]));
    step("grantExpired", binding);
}

#[test]
fn two_approvals_need_two_distinct_approvers() {
    let cp = cluster();
    let ns = setup(cp, "req-two", &manual(&["irene", "oscar"], 2, "10m"));
    let name = ask(&ns, "10m");
    wait_phase(cp, &ns, &name, "Pending");
    decide("oscar", "approve", &ns, &name);
    decide("oscar", "approve", &ns, &name);
    let twice = wait_two_approvals(cp, &ns, &name);
    assert_eq!(twice["status"]["phase"], "Pending", "{twice}");
    assert!(bindings(cp, &ns).is_empty());
    decide("irene", "approve", &ns, &name);
    wait_phase(cp, &ns, &name, "Active");
    assert_eq!(bindings(cp, &ns).len(), 1);
    let pods = get_pods(cp, "carol", &ns);
    assert!(pods.success, "{}", pods.stderr);
}

#[test]
fn a_withdrawn_request_revokes_at_once_and_is_recorded() {
    let cp = cluster();
    let (ns, name, binding) = active_auto_request(cp, "req-withdraw");
    let out = cp
        .kubectl_as(
            "carol",
            &["delete", "accessrequest", &name, "-n", &ns, "--wait=false"],
        )
        .unwrap();
    assert!(out.success, "{}", out.stderr);
    assert_withdrawn(cp, &ns, &name, &binding);
}

#[test]
fn an_auto_rule_activates_at_once() {
    let cp = cluster();
    let ns = setup(cp, "req-auto", &json!({"mode": "Auto"}));
    let name = ask(&ns, "10m");
    let active = wait_phase(cp, &ns, &name, "Active");
    assert_eq!(active["status"]["reason"], "Granted");
    assert!(get_pods(cp, "carol", &ns).success);
    wait_fact("accessApproved", &name);
}

#[test]
fn a_request_nobody_approves_times_out_and_never_activates() {
    let cp = cluster();
    let ns = setup(cp, "req-timeout", &manual(&["oscar"], 1, "4s"));
    let name = ask(&ns, "10m");
    let ended = wait_phase(cp, &ns, &name, "TimedOut");
    assert_eq!(ended["status"]["reason"], "ApprovalTimeout");
    // A late approval changes nothing: terminal phases never change.
    decide("oscar", "approve", &ns, &name);
    eventually(
        BOUND,
        "the late approval on the request's namespace",
        || {
            let out = cp
                .admin(&["get", "accessapprovals", "-n", &ns, "-o", "name"])
                .ok()?;
            (!out.stdout.trim().is_empty()).then_some(())
        },
    );
    assert_eq!(phase(cp, &ns, &name).as_deref(), Some("TimedOut"));
    assert!(bindings(cp, &ns).is_empty());
    wait_fact("accessTimedOut", &name);
    assert_eq!(facts("accessApproved", &name), 0);
    let seen = events(cp, &ns);
    assert!(
        seen.contains("\"TimedOut\"") && seen.contains("\"Warning\""),
        "{seen}"
    );
}

/// The deterministic binding name the controller uses (see kubejit_controller::requests).
fn binding_name(request: &Value) -> String {
    let uid: String = request["metadata"]["uid"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| *c != '-')
        .take(8)
        .collect();
    format!("{}-{uid}", request["metadata"]["name"].as_str().unwrap())
}

#[test]
fn a_restarted_controller_resumes_without_a_duplicate_binding_or_record() {
    let cp = cluster();
    let ns = setup(cp, "req-restart", &manual(&["oscar"], 1, "10m"));
    let name = ask(&ns, "10m");
    let pending = wait_phase(cp, &ns, &name, "Pending");
    // Someone squats the binding's name: the controller approves (status) but must not adopt a
    // binding it does not own, so the request stays Approved, between status and binding.
    let squatter = binding_name(&pending);
    let squat = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": squatter, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}]});
    cp.apply(&squat.to_string()).unwrap();
    decide("oscar", "approve", &ns, &name);
    wait_phase(cp, &ns, &name, "Approved");
    wait_fact("accessApproved", &name);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(phase(cp, &ns, &name).as_deref(), Some("Approved"));
    assert_eq!(
        facts("grantCreated", &squatter),
        0,
        "a squatted name is never adopted"
    );
    eventually(BOUND, "a BindingNameTaken Warning", || {
        events(cp, &ns).contains("BindingNameTaken").then_some(())
    });

    restart(cp);
    cp.admin(&["delete", "rolebinding", &squatter, "-n", &ns])
        .unwrap();
    let active = wait_phase(cp, &ns, &name, "Active");
    assert_eq!(active["status"]["binding"], squatter.as_str());
    assert_eq!(bindings(cp, &ns).len(), 1);
    wait_fact("grantCreated", &squatter);

    // After the binding: a restart changes nothing.
    restart(cp);
    let again = eventually(
        BOUND,
        "the restarted controller to look at the request",
        || {
            let r = get(cp, &ns, &name)?;
            (r["status"]["phase"] == "Active").then_some(r)
        },
    );
    assert_eq!(again["status"]["binding"], squatter.as_str());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bindings(cp, &ns).len(), 1);
    assert_eq!(facts("accessRequested", &name), 1);
    assert_eq!(facts("accessApproved", &name), 1);
    assert_eq!(grants_created_by_request(&squatter).len(), 1);
}

#[test]
fn an_approvers_deny_refuses_and_a_policy_that_stops_allowing_revokes() {
    let cp = cluster();
    let ns = setup(cp, "req-deny", &manual(&["oscar"], 1, "10m"));
    let denied = ask(&ns, "10m");
    wait_phase(cp, &ns, &denied, "Pending");
    decide("oscar", "deny", &ns, &denied);
    let ended = wait_phase(cp, &ns, &denied, "Denied");
    assert_eq!(ended["status"]["reason"], "DeniedByApprover");
    wait_fact("accessDenied", &denied);
    assert!(bindings(cp, &ns).is_empty());

    // The policy is the controller's only authority: once it is gone, so is the access.
    let (auto, name, _) = active_auto_request(cp, "req-policy");
    cp.admin(&["delete", "accesspolicy", &format!("requests-{auto}")])
        .unwrap();
    let revoked = wait_phase(cp, &auto, &name, "Revoked");
    assert_eq!(revoked["status"]["reason"], "PolicyNoLongerAllows");
    eventually(BOUND, "the binding to be gone", || {
        bindings(cp, &auto).is_empty().then_some(())
    });
    assert_forbidden(&get_pods(cp, "carol", &auto), "carol", &["get"]);
    wait_fact("accessRevoked", &name);
    assert_eq!(facts("accessRevoked", &name), 1);
}

/// `kubejit request --name <name> --wait` as carol, started in the background; `--wait-timeout`
/// bounds it.
fn ask_and_wait(ns: &str, name: &str) -> std::process::Child {
    kubejit_command(
        shared(),
        "carol",
        &[
            "request",
            "-n",
            ns,
            "--name",
            name,
            "--role",
            "oncall-debug",
            "--ttl",
            "10m",
            "--incident",
            "INC-12345",
            "--reason",
            "checkout latency",
            "--wait",
            "--wait-timeout",
            "90s",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap()
}

#[test]
fn request_wait_returns_when_active_and_when_denied() {
    let cp = cluster();
    let auto = setup(cp, "req-wait-auto", &json!({"mode": "Auto"}));
    let out = ask_and_wait(&auto, "carol-auto")
        .wait_with_output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let active = get(cp, &auto, "carol-auto").unwrap();
    assert_eq!(active["status"]["phase"], "Active", "{active}");
    let binding = active["status"]["binding"].as_str().unwrap();
    assert!(
        stdout.contains(&format!(
            "granted Role/oncall-debug in {auto} (RoleBinding {binding}) until "
        )),
        "{stdout}"
    );
    assert!(stderr.contains("Active"), "progress on stderr: {stderr}");
    assert!(get_pods(cp, "carol", &auto).success);

    // Refused: exit 4 (as `kubejit grant`), with the controller's reason.
    let ns = setup(cp, "req-wait-deny", &manual(&["oscar"], 1, "10m"));
    let child = ask_and_wait(&ns, "carol-denied");
    wait_phase(cp, &ns, "carol-denied", "Pending");
    decide("oscar", "deny", &ns, "carol-denied");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("Denied (DeniedByApprover)"), "{stderr}");
    assert!(bindings(cp, &ns).is_empty());
}

#[test]
fn kubejit_withdraw_revokes_at_once() {
    let cp = cluster();
    let (ns, name, binding) = active_auto_request(cp, "req-kwithdraw");
    // Only the requester withdraws: oscar (an approver) may not delete requests.
    let refused = kubejit_as(cp, "oscar", &["withdraw", &name, "-n", &ns]);
    assert!(!refused.status.success());
    assert!(get(cp, &ns, &name).is_some());

    let out = kubejit_as(cp, "carol", &["withdraw", &name, "-n", &ns]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "withdrew AccessRequest {ns}/{name} (it was Active"
        )),
        "{stdout}"
    );
    assert_withdrawn(cp, &ns, &name, &binding);
}

/// `kubejit requests --watch -o json` prints the listed request, then its change to Active, each as
/// one JSON line.
#[test]
fn requests_watch_prints_a_change() {
    use std::io::BufRead as _;
    let cp = cluster();
    let ns = setup(cp, "req-watch", &manual(&["oscar"], 1, "10m"));
    let name = ask(&ns, "10m");
    wait_phase(cp, &ns, &name, "Pending");
    let mut child = kubejit_command(
        cp,
        "carol",
        &["requests", "-n", &ns, "--watch", "-o", "json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::inherit())
    .spawn()
    .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // The bound only keeps a broken watch from hanging the test; it measures nothing.
    let next_phase = || {
        let line = received.recv_timeout(BOUND).expect("a line from --watch");
        let object: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(object["kind"], "AccessRequest", "{line}");
        assert_eq!(object["metadata"]["name"], name.as_str(), "{line}");
        object["status"]["phase"].as_str().unwrap_or("-").to_owned()
    };
    assert_eq!(next_phase(), "Pending", "the list comes first");
    decide("oscar", "approve", &ns, &name);
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("Active") {
        seen.push(next_phase());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains(&"Active".to_owned()), "{seen:?}");
}
