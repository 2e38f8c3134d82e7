//! The CSR approval controller on the real control plane: real CSRs created by real users with the
//! real kubectl, decided by the real `kubejit controller` process running with exactly deploy/'s RBAC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod bench;
mod crd;
mod deny;
#[path = "../support/approver_fixture.rs"]
mod fixture;
mod hardware;
mod manual;

use fixture::{As, Csr, PAYMENTS_GROUP, setup, wait_audit, wait_decided, wait_event};

#[test]
fn auto_policy_approves_a_valid_request_with_audit_event_and_metrics() {
    let (cp, ctl) = setup();
    let csr = Csr::new("ok", "alice", PAYMENTS_GROUP).incident("INC-42");
    fixture::create_ok(cp, As::User("alice"), &csr);

    let (type_, reason, message) = wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy"),
        "{message}"
    );
    assert!(message.contains("policy approver-test-auto"), "{message}");
    // The signer (kube-controller-manager) issues the certificate once approved.
    support::eventually(fixture::WAIT, "the issued certificate", || {
        fixture::get_csr(cp, &csr.name)["status"]["certificate"]
            .as_str()
            .map(str::to_owned)
    });

    let (_, note, type_) = wait_event(cp, &csr.name, "Approved");
    assert_eq!(type_, "Normal");
    assert!(note.contains("approver-test-auto"), "{note}");

    let record = wait_audit(ctl, &csr.name, "certificateApproved");
    assert_eq!(record["subject"], "alice");
    assert_eq!(record["decision"], "allowed");
    assert_eq!(record["decisionReason"], "ApprovedByPolicy");
    assert_eq!(record["policy"], "approver-test-auto");
    assert_eq!(record["groups"], serde_json::json!([PAYMENTS_GROUP]));
    assert_eq!(record["ttlSeconds"], 1200);
    assert_eq!(record["incident"], "INC-42");
    assert!(record["expiresAt"].is_string());
    let uid = fixture::get_csr(cp, &csr.name)["metadata"]["uid"].clone();
    assert_eq!(record["object"]["uid"], uid);

    let metrics = ctl.metrics();
    assert!(
        metrics.contains(
            r#"kubejit_approver_decisions_total{result="approved",reason="ApprovedByPolicy"}"#
        ),
        "{metrics}"
    );
    // Every deny reason exists from the start, so "never happened" reads as 0, not as missing.
    assert!(
        metrics.contains(
            r#"kubejit_approver_decisions_total{result="denied",reason="WrongSigner"} 0"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubejit_approver_decision_latency_seconds_count"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"kubejit_approver_errors_total{error="audit_write"}"#),
        "{metrics}"
    );
}
