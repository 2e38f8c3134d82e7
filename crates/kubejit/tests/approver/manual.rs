//! Manual policies: people no longer hold the signer's approve verb; kubejit's controller approves a
//! Manual CSR only under an approved certificate-group AccessRequest of the same requester, covering
//! every group, ending no earlier than the certificate. Policy changes re-evaluate pending requests.

use std::io::Write as _;

use base64::Engine as _;
use std::process::{Command, Output};
use std::time::Duration;

use kubejit_testenv::{BoundedOutput, ControlPlane};
use serde_json::{Value, json};

use crate::fixture::{
    self, As, CHECKOUT_GROUP, CHECKOUT_READ_GROUP, Csr, audit_for, setup, wait_audit, wait_decided,
    wait_event,
};
use crate::support::{ControllerProcess, assert_forbidden};

/// Runs `kubejit` as `user` (with that user's kubeconfig).
fn kubejit_as(cp: &ControlPlane, user: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBECONFIG")
        .args(args)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig(user).unwrap())
        .output_bounded()
        .unwrap();
    assert!(
        out.status.success(),
        "kubejit {args:?} as {user}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `user` asks for a certificate carrying `groups` for `ttl`; returns the request's name.
fn request_certificate(cp: &ControlPlane, user: &str, groups: &str, ttl: &str) -> String {
    let name = fixture::unique("req");
    kubejit_as(
        cp,
        user,
        &[
            "request",
            "--certificate-group",
            groups,
            "--ttl",
            ttl,
            "--reason",
            "checkout latency",
            "--name",
            &name,
        ],
    );
    name
}

/// The group that makes an impersonated identity a requester (and an approver) of the Manual policy.
const MANUAL_GROUP: &str = "approver-test-manual";

/// A requester of its own, impersonated by the admin, so no other test's request covers its CSRs.
struct Requester {
    user: String,
}

impl Requester {
    fn new(name: &str) -> Self {
        Self {
            user: fixture::unique(name),
        }
    }

    fn who(&self) -> As<'_> {
        As::Impersonating(&self.user, MANUAL_GROUP)
    }

    fn csr(&self, cp: &ControlPlane, name: &str, group: &str) -> Csr {
        let csr = Csr::new(name, &self.user, group);
        fixture::create_ok(cp, self.who(), &csr);
        csr
    }

    /// `kubectl` as the admin impersonating this requester, as `fixture::create` does.
    fn kubectl(&self, cp: &ControlPlane, args: &[&str]) -> kubejit_testenv::KubectlOutput {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--as",
            &self.user,
            "--as-group",
            MANUAL_GROUP,
            "--as-group",
            fixture::REQUESTERS,
        ]);
        let out = fixture::admin_may_fail(cp, &all);
        assert!(out.success, "{args:?} as {}: {}", self.user, out.stderr);
        out
    }

    /// `request.userInfo` as the apiserver sees this requester; admission requires it verbatim.
    fn identity(&self, cp: &ControlPlane) -> Value {
        let v: Value =
            serde_json::from_str(&self.kubectl(cp, &["auth", "whoami", "-o", "json"]).stdout)
                .unwrap();
        let info = &v["status"]["userInfo"];
        json!({"username": info["username"], "groups": info["groups"]})
    }

    fn create(&self, cp: &ControlPlane, doc: &Value) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(doc.to_string().as_bytes()).unwrap();
        self.kubectl(cp, &["create", "-f", file.path().to_str().unwrap()]);
    }

    /// Asks for a certificate carrying `group` for 30 minutes; returns (name, uid).
    fn request(&self, cp: &ControlPlane, group: &str) -> (String, String) {
        let name = fixture::unique("req");
        self.create(
            cp,
            &json!({
                "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest",
                "metadata": {"name": name, "namespace": "kubejit-system"},
                "spec": {"requester": self.identity(cp), "certificateGroups": [group],
                         "ttl": "30m", "reason": "checkout latency"}
            }),
        );
        let uid = cp
            .admin(&[
                "get",
                "accessrequest",
                &name,
                "-n",
                "kubejit-system",
                "-o",
                "jsonpath={.metadata.uid}",
            ])
            .unwrap()
            .stdout;
        (name, uid)
    }

    /// Records an Approve of `request` in this requester's own name.
    fn approve(&self, cp: &ControlPlane, request: &str, uid: &str) {
        self.create(
            cp,
            &json!({
                "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessApproval",
                "metadata": {"name": fixture::unique("self"), "namespace": "kubejit-system"},
                "spec": {"request": request, "requestUID": uid, "decision": "Approve",
                         "approver": self.identity(cp)}
            }),
        );
    }
}

fn approve(cp: &ControlPlane, approver: &str, request: &str) {
    kubejit_as(cp, approver, &["approve", request, "-n", "kubejit-system"]);
}

/// Every AccessApproval in kubejit-system, as `kubectl get -o json` prints the list.
fn approvals_json(cp: &ControlPlane) -> String {
    cp.admin(&[
        "get",
        "accessapprovals",
        "-n",
        "kubejit-system",
        "-o",
        "json",
    ])
    .unwrap()
    .stdout
}

/// The approval's creation time: the request's TTL counts from it.
fn approval_time(cp: &ControlPlane, request: &str) -> i64 {
    let list: Value = serde_json::from_str(&approvals_json(cp)).unwrap();
    let created = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["spec"]["request"] == request)
        .map(|a| {
            a["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap();
    time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// The message of a `certificatePending` record about CSR `name` that contains `fragment`. Events
/// cannot show it: a later Event of the same reason only counts up the first one's series.
fn pending_message(ctl: &ControllerProcess, name: &str, fragment: &str) -> String {
    crate::support::eventually(fixture::WAIT, &format!("{fragment:?} on {name}"), || {
        audit_for(ctl, name)
            .into_iter()
            .filter(|r| r["kind"] == "certificatePending")
            .filter_map(|r| r["reason"].as_str().map(str::to_owned))
            .find(|m| m.contains(fragment))
    })
}

fn issued_certificate(cp: &ControlPlane, name: &str) -> String {
    crate::support::eventually(fixture::WAIT, &format!("{name}'s certificate"), || {
        fixture::get_csr(cp, name)["status"]["certificate"]
            .as_str()
            .map(str::to_owned)
    })
}

#[test]
fn an_approver_can_no_longer_approve_with_kubectl_and_no_request_means_pending() {
    let (cp, ctl) = setup();
    let erika = Requester::new("erika");
    let carols = erika.csr(cp, "manual", CHECKOUT_GROUP);

    let (_, note, _) = wait_event(cp, &carols.name, "PendingManualApproval");
    assert!(
        note.starts_with("awaiting an approved AccessRequest")
            && note.contains("kubejit request --certificate-group")
            && note.contains("requires manual approval"),
        "{note}"
    );
    let record = wait_audit(ctl, &carols.name, "certificatePending");
    assert_eq!(record["decision"], "pending");
    assert_eq!(record["policy"], "approver-test-manual");

    // The attack: an approver approving any pending client CSR with plain kubectl.
    let args = ["certificate", "approve", carols.name.as_str()];
    assert_forbidden(&cp.kubectl_as("oscar", &args).unwrap(), "oscar", &args);
    assert_forbidden(&cp.kubectl_as("carol", &args).unwrap(), "carol", &args);
    let mut approve_as_requester = args.to_vec();
    approve_as_requester.extend(["--as", &erika.user, "--as-group", MANUAL_GROUP]);
    let out = fixture::admin_may_fail(cp, &approve_as_requester);
    assert!(
        !out.success && out.stderr.contains("forbidden"),
        "{}",
        out.stderr
    );
    // Defence in depth: even with every right (system:masters), nobody approves their own CSR.
    let mut as_master = args.to_vec();
    as_master.extend(["--as", &erika.user, "--as-group", "system:masters"]);
    let out = fixture::admin_may_fail(cp, &as_master);
    assert!(
        !out.success
            && out.stderr.contains("kubejit-no-self-approval")
            && out.stderr.contains("another approver must"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fixture::decision_of(&fixture::get_csr(cp, &carols.name)),
        None
    );

    // A policy change re-evaluates every pending CSR, but the same situation is announced once.
    cp.apply("apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: approver-test-touch}\nspec:\n  requesters: {users: [approver-test-nobody]}\n  certificateGroups: [approver-test:none]\n  maxTTL: 10m\n  approval: {mode: Auto}\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let pending: Vec<_> = audit_for(ctl, &carols.name);
    assert_eq!(pending.len(), 1, "{pending:?}");
}

#[test]
fn a_request_approved_by_another_approver_approves_exactly_the_covered_csr() {
    let (cp, ctl) = setup();
    let covered = Csr::new("covered", "carol", CHECKOUT_GROUP);
    let uncovered = Csr::new("uncovered", "carol", CHECKOUT_READ_GROUP);
    let mut too_long = Csr::new("too-long", "carol", CHECKOUT_GROUP);
    too_long.expiration = Some(3600);
    for csr in [&covered, &uncovered] {
        fixture::create_ok(cp, As::User("carol"), csr);
        wait_event(cp, &csr.name, "PendingManualApproval");
    }

    // A request nobody approved yet changes nothing.
    let request = request_certificate(cp, "carol", CHECKOUT_GROUP, "30m");
    let awaiting = pending_message(
        ctl,
        &covered.name,
        &format!("AccessRequest {request} is Pending"),
    );
    assert!(
        awaiting.starts_with("awaiting an approved AccessRequest")
            && awaiting.contains("waiting for 1 approval(s)"),
        "{awaiting}"
    );
    assert_eq!(
        fixture::decision_of(&fixture::get_csr(cp, &covered.name)),
        None
    );

    approve(cp, "oscar", &request);
    let approved_at = approval_time(cp, &request);
    let (type_, reason, message) = wait_decided(cp, &covered.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy"),
        "{message}"
    );
    assert!(
        message.contains(&format!("under AccessRequest kubejit-system/{request}"))
            && message.contains("approved by oscar,"),
        "{message}"
    );
    let record = wait_audit(ctl, &covered.name, "certificateApproved");
    assert_eq!(record["policy"], "approver-test-manual");
    assert_eq!(record["groups"], serde_json::json!([CHECKOUT_GROUP]));
    assert_eq!(record["ttlSeconds"], 1200);

    // The certificate is what was approved, and ends before the request does.
    let pem = base64::engine::general_purpose::STANDARD
        .decode(issued_certificate(cp, &covered.name))
        .unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = parsed.parse_x509().unwrap();
    let orgs: Vec<&str> = cert
        .subject()
        .iter_organization()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(orgs, [CHECKOUT_GROUP]);
    let cn: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["carol"]);
    let not_after = cert.validity().not_after.timestamp();
    assert!(
        not_after <= approved_at + 1800,
        "the certificate (until {not_after}) outlives the request (approved at {approved_at}, 30m)"
    );

    // A group the request does not cover is never approved, even with the request approved.
    let note = pending_message(
        ctl,
        &uncovered.name,
        "does not cover group approver-test:checkout-read",
    );
    assert!(
        note.starts_with("awaiting an approved AccessRequest"),
        "{note}"
    );
    assert_eq!(
        fixture::decision_of(&fixture::get_csr(cp, &uncovered.name)),
        None
    );

    // A certificate that would outlive the request is denied, saying what to ask for.
    fixture::create_ok(cp, As::User("carol"), &too_long);
    let (type_, reason, message) = wait_decided(cp, &too_long.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Denied", "TtlExceedsRequest"),
        "{message}"
    );
    assert!(
        message.contains("outlives AccessRequest") && message.contains("or less"),
        "{message}"
    );

    // The credential plugin sizes its CSR to the request by itself: asked for 2h under the 30m
    // request, it files what is left of the request and is approved.
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBERNETES_EXEC_INFO")
        .env_remove("KUBECONFIG")
        .args(["credential", "--kubeconfig"])
        .arg(cp.kubeconfig("carol").unwrap())
        .args(["--group", CHECKOUT_GROUP, "--ttl", "2h", "--timeout", "60s"])
        .arg("--cache-dir")
        .arg(cache.path().join("cache"))
        .output_bounded()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("instead of 2h: that is what is left of your approved AccessRequest"),
        "{stderr}"
    );
    let credential: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pem = credential["status"]["clientCertificateData"]
        .as_str()
        .unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let not_after = parsed
        .parse_x509()
        .unwrap()
        .validity()
        .not_after
        .timestamp();
    assert!(
        not_after <= approved_at + 1800,
        "the plugin's certificate (until {not_after}) outlives the request (approved at {approved_at}, 30m)"
    );
}

#[test]
fn a_request_approved_only_by_its_requester_never_approves_the_csr() {
    let (cp, ctl) = setup();
    // fiona is both a requester and (by group) an approver of the Manual policy.
    let fiona = Requester::new("fiona");
    let hers = fiona.csr(cp, "self", CHECKOUT_GROUP);
    wait_event(cp, &hers.name, "PendingManualApproval");
    let (own, uid) = fiona.request(cp, CHECKOUT_GROUP);
    fiona.approve(cp, &own, &uid);

    // A later approval of someone else's request, seen after fiona's own: once that CSR is
    // approved, fiona's self-approval has been looked at too.
    let gus = Requester::new("gus");
    let witness = gus.csr(cp, "witness", CHECKOUT_GROUP);
    let (his, _) = gus.request(cp, CHECKOUT_GROUP);
    approve(cp, "oscar", &his);
    let (type_, _, message) = wait_decided(cp, &witness.name);
    assert_eq!(type_, "Approved", "{message}");

    let note = pending_message(ctl, &hers.name, &format!("AccessRequest {own} is Pending"));
    assert!(note.contains("have 0"), "{note}");
    assert_eq!(
        fixture::decision_of(&fixture::get_csr(cp, &hers.name)),
        None
    );
    // Her approval is on record, in her name; it just does not count.
    let approvals = approvals_json(cp);
    assert!(approvals.contains(&fiona.user), "{approvals}");
}

#[test]
fn changing_a_policy_from_manual_to_auto_approves_pending_requests() {
    let (cp, ctl) = setup();
    let policy = |approval: &str| {
        format!(
            "apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: approver-test-dave}}\nspec:\n  requesters: {{users: [approver-test-dave]}}\n  certificateGroups: [approver-test:dave]\n  maxTTL: 30m\n  incident: {{required: false}}\n  approval: {approval}\n"
        )
    };
    cp.apply(&policy("{mode: Manual, approvers: {users: [oscar]}}"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let csr = Csr::new("dave", "approver-test-dave", "approver-test:dave");
    fixture::create_ok(
        cp,
        As::Impersonating("approver-test-dave", "approver-test-daves"),
        &csr,
    );
    wait_event(cp, &csr.name, "PendingManualApproval");

    cp.apply(&policy("{mode: Auto}")).unwrap();
    let (type_, reason, message) = wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy"),
        "{message}"
    );
    wait_audit(ctl, &csr.name, "certificateApproved");
}

#[test]
fn an_invalid_policy_allows_nothing_and_is_reported() {
    let (cp, ctl) = setup();
    // The CRD cannot check regular expressions; kubejit does, and ignores the policy.
    cp.apply("apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: approver-test-invalid}\nspec:\n  requesters: {users: [approver-test-erin]}\n  certificateGroups: [approver-test:erin]\n  maxTTL: 30m\n  incident: {required: true, pattern: '(['}\n  approval: {mode: Auto}\n").unwrap();
    let (_, note, type_) = wait_event(cp, "approver-test-invalid", "InvalidPolicy");
    assert_eq!(type_, "Warning");
    assert!(note.contains("allows nothing"), "{note}");

    let csr = Csr::new("erin", "approver-test-erin", "approver-test:erin").incident("INC-1");
    fixture::create_ok(
        cp,
        As::Impersonating("approver-test-erin", "approver-test-erins"),
        &csr,
    );
    let (type_, reason, _) = wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Denied", "NoMatchingPolicy")
    );
    let metrics = ctl.metrics();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("kubejit_approver_invalid_policies "))
        .unwrap_or_default()
        .to_owned();
    assert!(!line.ends_with(" 0") && !line.is_empty(), "{line:?}");
}
