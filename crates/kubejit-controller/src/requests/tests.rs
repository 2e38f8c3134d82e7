//! Table tests of the request controller's pure parts: the binding name, which facts a status makes
//! due, and the status a verdict writes.

use kubejit_audit::EventKind;
use kubejit_core::request::{Phase, PhaseReason, RequestAction, RequestVerdict};
use kubejit_core::{Approval, ObjectName, Ttl};
use kubejit_kube::request::AccessRequest;
use time::OffsetDateTime;
use time::macros::datetime;

use super::act::binding_name;
use super::{record, status};

fn request(name: &str, uid: &str) -> AccessRequest {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "payments", "uid": uid},
        "spec": {"requester": {"username": "carol"}, "reason": "checkout latency",
                 "role": {"kind": "Role", "name": "oncall-debug"}},
    }))
    .unwrap()
}

fn verdict(phase: Phase, reason: PhaseReason, approved: bool) -> RequestVerdict {
    let at = datetime!(2026-11-26 09:00:00 UTC);
    RequestVerdict {
        phase,
        reason,
        message: "m".to_owned(),
        authorized: Some(kubejit_core::request::Authorized {
            policy: ObjectName::parse("p").unwrap(),
            rule: Some(ObjectName::parse("debug").unwrap()),
            ttl: Ttl::parse("1h").unwrap(),
            incident: None,
            approval: Approval::Auto,
        }),
        approvals: Vec::new(),
        approved_at: approved.then_some(at),
        expires_at: approved.then_some(at + time::Duration::HOUR),
        action: RequestAction::Nothing,
        requeue_at: None,
    }
}

#[test]
fn binding_names_are_derived_from_the_request_alone() {
    let uid = "6f1c2a9e-0000-4000-8000-000000000000";
    let a = binding_name(&request("carol-checkout", uid));
    assert_eq!(a, "carol-checkout-6f1c2a9e");
    assert_eq!(
        a,
        binding_name(&request("carol-checkout", uid)),
        "deterministic"
    );
    assert_ne!(
        a,
        binding_name(&request("carol-checkout", "7f1c2a9e-0000")),
        "a re-created request gets another binding"
    );
    let long = binding_name(&request(&format!("{}-x", "a".repeat(53)), uid));
    assert!(long.len() <= 63, "{long}");
    assert!(!long.contains("--"), "{long}");
}

#[test]
fn the_status_decides_which_facts_are_due() {
    use EventKind::*;
    let cases = [
        (
            Phase::Pending,
            PhaseReason::AwaitingApproval,
            false,
            vec![AccessRequested],
        ),
        (
            Phase::Approved,
            PhaseReason::AutoApproved,
            true,
            vec![AccessRequested, AccessApproved],
        ),
        (
            Phase::Active,
            PhaseReason::Granted,
            true,
            vec![AccessRequested, AccessApproved],
        ),
        (
            Phase::Expired,
            PhaseReason::TtlElapsed,
            true,
            vec![AccessRequested, AccessApproved],
        ),
        (
            Phase::Denied,
            PhaseReason::NotAllowed,
            false,
            vec![AccessRequested, AccessDenied],
        ),
        (
            Phase::TimedOut,
            PhaseReason::ApprovalTimeout,
            false,
            vec![AccessRequested, AccessTimedOut],
        ),
        (
            Phase::Withdrawn,
            PhaseReason::WithdrawnByRequester,
            false,
            vec![AccessRequested, AccessWithdrawn],
        ),
        (
            Phase::Revoked,
            PhaseReason::RevokedByApprover,
            false,
            vec![AccessRequested, AccessRevoked],
        ),
    ];
    let req = request("r", "u");
    for (phase, reason, approved, want) in cases {
        let v = verdict(phase, reason, approved);
        let access = record::access(&req, None, &v);
        let kinds: Vec<EventKind> = record::due("c", &access, &v, reason.as_str(), "m")
            .iter()
            .map(kubejit_audit::AuditEvent::kind)
            .collect();
        assert_eq!(kinds, want, "{phase}");
    }
}

#[test]
fn ready_keeps_its_transition_time_until_it_changes() {
    let t0 = datetime!(2026-11-26 09:00:00 UTC);
    let t1 = t0 + time::Duration::MINUTE;
    let pending = status::of(
        None,
        &verdict(Phase::Pending, PhaseReason::AwaitingApproval, false),
        None,
        t0,
    );
    assert_eq!(pending.conditions[0].status, "False");
    let still = status::of(
        Some(&pending),
        &verdict(Phase::Approved, PhaseReason::AutoApproved, true),
        None,
        t1,
    );
    assert_eq!(still.conditions[0].last_transition_time, t0);
    let active = status::of(
        Some(&still),
        &verdict(Phase::Active, PhaseReason::Granted, true),
        Some("b".into()),
        t1,
    );
    assert_eq!(active.conditions[0].status, "True");
    assert_eq!(active.conditions[0].last_transition_time, t1);
    assert_eq!(active.binding.as_deref(), Some("b"));
    assert_eq!(active.policy.as_deref(), Some("p"));
    let _: OffsetDateTime = active.approved_at.unwrap();
}

/// A notification says what the request asked for and what the verdict made of it: only the
/// approvals that counted name an approver, and the expiry is the verdict's.
#[test]
fn a_notification_carries_the_request_and_the_counted_approvers() {
    use kubejit_core::request::{ApprovalDecision, ApprovalRecord};
    let at = datetime!(2026-11-26 09:00:00 UTC);
    let record = |approver: &str, counted: bool| ApprovalRecord {
        name: format!("{approver}-approval"),
        approver: approver.to_owned(),
        decision: ApprovalDecision::Approve,
        counted,
        ignored: if counted {
            String::new()
        } else {
            "Requester".to_owned()
        },
        at,
    };
    let req = request("carol-checkout", "uid-1");
    let mut v = verdict(Phase::Approved, PhaseReason::ApprovalsReceived, true);
    v.approvals = vec![record("carol", false), record("oscar", true)];
    let now = at + time::Duration::SECOND;
    let n = super::notice::notification(&req, Some(Phase::Pending), &v, now);
    assert_eq!(n.phase, Phase::Approved);
    assert_eq!(n.previous_phase, Some(Phase::Pending));
    assert_eq!(n.phase_reason, PhaseReason::ApprovalsReceived);
    assert_eq!(
        (
            n.request.namespace.as_str(),
            n.request.name.as_str(),
            n.request.uid.as_str()
        ),
        ("payments", "carol-checkout", "uid-1")
    );
    assert_eq!(n.requester.username, "carol");
    assert_eq!(
        n.role.as_ref().map(|r| r.name.as_str()),
        Some("oncall-debug")
    );
    assert_eq!(n.reason, "checkout latency");
    assert_eq!(n.approvers, vec!["oscar".to_owned()]);
    assert_eq!(n.expires_at, Some(at + time::Duration::HOUR));
    assert_eq!(n.time, now);
    let pending = verdict(Phase::Pending, PhaseReason::AwaitingApproval, false);
    let first = super::notice::notification(&req, None, &pending, now);
    assert_eq!((first.previous_phase, first.expires_at), (None, None));
    assert!(first.approvers.is_empty());
}

/// A policy cache that lags a policy applied a moment ago must never end access for good: the first
/// refusal was confirmed against a fresh LIST already; a revocation of approved access for want of
/// a policy must be too (else the second reconcile, still on the stale cache, revokes what the
/// fresh LIST just approved).
#[test]
fn final_verdicts_for_want_of_a_policy_are_confirmed_with_a_fresh_list() {
    use super::reconcile::confirm_with_fresh_policies as confirm;
    let denied = verdict(Phase::Denied, PhaseReason::NotAllowed, false);
    let revoked = verdict(Phase::Revoked, PhaseReason::PolicyNoLongerAllows, true);
    assert!(confirm(&denied, None));
    assert!(confirm(&denied, Some(Phase::Pending)));
    assert!(!confirm(&denied, Some(Phase::Denied)), "already on record");
    assert!(confirm(&revoked, Some(Phase::Approved)));
    assert!(confirm(&revoked, Some(Phase::Active)));
    assert!(
        !confirm(&revoked, Some(Phase::Revoked)),
        "already on record"
    );
    for (phase, reason) in [
        (Phase::Approved, PhaseReason::AutoApproved),
        (Phase::Active, PhaseReason::Granted),
        (Phase::Revoked, PhaseReason::RevokedByApprover),
        (Phase::Expired, PhaseReason::TtlElapsed),
    ] {
        assert!(!confirm(&verdict(phase, reason, true), Some(Phase::Active)));
    }
}
