//! Manual policies: a valid request stays pending (announced once), its requester cannot approve it
//! (ValidatingAdmissionPolicy), another approver can; policy changes re-evaluate pending requests.

use std::time::Duration;

use crate::fixture::{
    self, As, CHECKOUT_GROUP, Csr, audit_for, setup, wait_audit, wait_decided, wait_event,
};
use crate::support::assert_forbidden;

#[test]
fn manual_policy_waits_for_another_approver_and_self_approval_is_rejected() {
    let (cp, ctl) = setup();
    let carols = Csr::new("manual-carol", "carol", CHECKOUT_GROUP);
    let oscars = Csr::new("manual-oscar", "oscar", CHECKOUT_GROUP);
    fixture::create_ok(cp, As::User("carol"), &carols);
    fixture::create_ok(cp, As::User("oscar"), &oscars);

    let (_, note, _) = wait_event(cp, &carols.name, "PendingManualApproval");
    assert!(
        note.contains("requires manual approval") && note.contains("kubejit-approvers"),
        "{note}"
    );
    let record = wait_audit(ctl, &carols.name, "certificatePending");
    assert_eq!(record["decision"], "pending");
    assert_eq!(record["policy"], "approver-test-manual");
    wait_event(cp, &oscars.name, "PendingManualApproval");
    assert_eq!(
        fixture::decision_of(&fixture::get_csr(cp, &carols.name)),
        None
    );

    // A policy change re-evaluates every pending CSR, but the same situation is announced once.
    cp.apply("apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: approver-test-touch}\nspec:\n  requesters: {users: [approver-test-nobody]}\n  certificateGroups: [approver-test:none]\n  maxTTL: 10m\n  approval: {mode: Auto}\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let pending: Vec<_> = audit_for(ctl, &carols.name);
    assert_eq!(pending.len(), 1, "{pending:?}");

    // oscar holds approve rights but not for his own request: the VAP says so.
    let out = cp
        .kubectl_as("oscar", &["certificate", "approve", &oscars.name])
        .unwrap();
    assert!(!out.success, "self-approval must fail: {}", out.stdout);
    assert!(
        out.stderr.contains("kubejit-no-self-approval")
            && out
                .stderr
                .contains("oscar requested certificate signing request")
            && out.stderr.contains("another approver must"),
        "{}",
        out.stderr
    );
    // carol cannot approve at all (no approve permission).
    let args = ["certificate", "approve", carols.name.as_str()];
    assert_forbidden(&cp.kubectl_as("carol", &args).unwrap(), "carol", &args);

    // Another approver can.
    let out = cp.kubectl_as("oscar", &args).unwrap();
    assert!(out.success, "{}", out.stderr);
    let (type_, reason, _) = wait_decided(cp, &carols.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "KubectlApprove")
    );
    crate::support::eventually(fixture::WAIT, "carol's certificate", || {
        fixture::get_csr(cp, &carols.name)["status"]["certificate"]
            .as_str()
            .map(str::to_owned)
    });
    // The controller leaves a decided CSR alone: no further condition, no further record.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(audit_for(ctl, &carols.name).len(), 1);
    assert_eq!(
        fixture::get_csr(cp, &oscars.name)["status"]["conditions"],
        serde_json::Value::Null
    );
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
