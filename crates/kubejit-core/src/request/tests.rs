//! Table tests and properties of the AccessRequest state machine.

use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::policy::NamedPolicy;
use crate::testutil::policy;

const T0: OffsetDateTime = datetime!(2030-01-02 10:00:00 UTC);
const UID: &str = "3f0c-request-uid";

fn secs(n: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(n)
}

/// carol (group engineers) asks; oscar, olga and the group sre-leads approve; oncall may receive.
fn policies() -> Vec<NamedPolicy> {
    let subjects = json!({"users": ["carol", "dave"], "groups": ["oncall"]});
    let role = json!([{"kind": "ClusterRole", "name": "oncall-debug"}]);
    let manual = |n: u32| {
        json!({"mode": "Manual", "approvers": {"users": ["oscar", "olga", "carol", "dave"],
               "groups": ["sre-leads", "oncall"]}, "approvals": n, "approvalTimeout": "1h"})
    };
    vec![policy(
        "payments",
        json!({
            "requesters": {"groups": ["engineers"]},
            "certificateGroups": ["payments-debug"],
            "maxTTL": "2h",
            "incident": {"required": false},
            "approval": manual(1),
            "grants": [
                {"name": "debug", "roles": role, "namespaces": ["payments"], "subjects": subjects,
                 "maxTTL": "2h", "defaultTTL": "1h", "approval": manual(1)},
                {"name": "vault", "roles": role, "namespaces": ["vault"], "subjects": subjects,
                 "maxTTL": "2h", "defaultTTL": "1h", "approval": manual(2)},
                {"name": "legacy", "roles": role, "namespaces": ["auto"], "subjects": subjects,
                 "maxTTL": "2h", "defaultTTL": "1h"}
            ]
        }),
    )]
}

fn spec(namespace_target: Value) -> AccessRequestSpec {
    let mut v = json!({
        "requester": {"username": "carol", "groups": ["engineers", "system:authenticated"]},
        "reason": "checkout latency",
        "ttl": "30m",
    });
    for (k, val) in namespace_target.as_object().unwrap() {
        v[k] = val.clone();
    }
    serde_json::from_value(v).unwrap()
}

/// carol asks for herself, dave and the group oncall.
fn role_spec() -> AccessRequestSpec {
    spec(
        json!({"role": {"kind": "ClusterRole", "name": "oncall-debug"},
                "subjects": {"users": ["carol", "dave"], "groups": ["oncall"]}}),
    )
}

fn request(namespace: &str) -> RequestFacts {
    RequestFacts::parse(namespace, UID, T0, false, &role_spec()).unwrap()
}

fn approval(who: &str, groups: &[&str], decision: ApprovalDecision, at: i64) -> ApprovalFacts {
    ApprovalFacts {
        name: format!("{who}-{at}"),
        request_uid: UID.to_owned(),
        approver: crate::subject::Requester {
            username: who.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        },
        decision,
        created_at: secs(at),
    }
}

use ApprovalDecision::{Approve, Deny};

fn rec(phase: Option<Phase>, approved_at: Option<i64>, granted: bool) -> Recorded {
    Recorded {
        phase,
        approved_at: approved_at.map(secs),
        granted,
    }
}

/// (what, namespace, approvals, recorded, now, phase, reason, action).
type Case = (
    &'static str,
    &'static str,
    Vec<ApprovalFacts>,
    Recorded,
    i64,
    Phase,
    PhaseReason,
    &'static str,
);

#[test]
fn the_state_machine_table() {
    let fresh = rec(None, None, false);
    let approved = rec(Some(Phase::Approved), Some(60), false);
    let active = rec(Some(Phase::Active), Some(60), true);
    let oscar = approval("oscar", &[], Approve, 60);
    let olga = approval("olga", &[], Approve, 120);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no approvals yet", "payments", vec![], fresh, 10, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("one listed approver", "payments", vec![oscar.clone()], fresh, 61, Phase::Approved, PhaseReason::ApprovalsReceived, "grant"),
        ("the requester approves herself", "payments", vec![approval("carol", &["engineers"], Approve, 5)], fresh, 10, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("a subject by user", "payments", vec![approval("dave", &[], Approve, 5)], fresh, 10, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("a subject by group", "payments", vec![approval("erin", &["sre-leads", "oncall"], Approve, 5)], fresh, 10, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("someone not listed", "payments", vec![approval("mallory", &["engineers"], Approve, 5)], fresh, 10, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("listed by group", "payments", vec![approval("sam", &["sre-leads"], Approve, 5)], fresh, 10, Phase::Approved, PhaseReason::ApprovalsReceived, "grant"),
        ("an approval of another request", "payments", vec![ApprovalFacts { request_uid: "old".into(), ..oscar.clone() }], fresh, 61, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("two needed, one given", "vault", vec![oscar.clone()], fresh, 61, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("two needed, the same person twice", "vault", vec![oscar.clone(), approval("oscar", &[], Approve, 90)], fresh, 100, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("two needed, two people", "vault", vec![oscar.clone(), olga.clone()], fresh, 121, Phase::Approved, PhaseReason::ApprovalsReceived, "grant"),
        ("a listed deny", "payments", vec![approval("olga", &[], Deny, 30)], fresh, 31, Phase::Denied, PhaseReason::DeniedByApprover, "none"),
        ("deny beats a later approval", "payments", vec![approval("olga", &[], Deny, 30), oscar.clone()], fresh, 61, Phase::Denied, PhaseReason::DeniedByApprover, "none"),
        ("the requester may deny her own", "payments", vec![approval("carol", &[], Deny, 30)], fresh, 31, Phase::Denied, PhaseReason::DeniedByApprover, "none"),
        ("an unlisted deny is ignored", "payments", vec![approval("mallory", &[], Deny, 30)], fresh, 31, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("deny after approval revokes", "payments", vec![oscar.clone(), approval("olga", &[], Deny, 90)], active, 91, Phase::Revoked, PhaseReason::RevokedByApprover, "revoke"),
        ("deny after approval, before the grant", "payments", vec![oscar.clone(), approval("olga", &[], Deny, 90)], fresh, 91, Phase::Revoked, PhaseReason::RevokedByApprover, "none"),
        ("timeout: one second before", "payments", vec![], fresh, 3599, Phase::Pending, PhaseReason::AwaitingApproval, "none"),
        ("timeout: at the deadline", "payments", vec![], fresh, 3600, Phase::TimedOut, PhaseReason::ApprovalTimeout, "none"),
        ("timeout: an approval at the deadline is late", "payments", vec![approval("oscar", &[], Approve, 3600)], fresh, 3601, Phase::TimedOut, PhaseReason::ApprovalTimeout, "none"),
        ("timeout: an approval a second before counts", "payments", vec![approval("oscar", &[], Approve, 3599)], fresh, 3601, Phase::Approved, PhaseReason::ApprovalsReceived, "grant"),
        ("a deny after the timeout changes nothing", "payments", vec![approval("olga", &[], Deny, 3700)], fresh, 3701, Phase::TimedOut, PhaseReason::ApprovalTimeout, "none"),
        ("approved, binding now exists", "payments", vec![oscar.clone()], rec(Some(Phase::Approved), Some(60), true), 100, Phase::Active, PhaseReason::Granted, "none"),
        ("approved, not yet granted", "payments", vec![oscar.clone()], approved, 100, Phase::Approved, PhaseReason::ApprovalsReceived, "grant"),
        ("ttl from approval: a second before", "payments", vec![oscar.clone()], active, 60 + 1799, Phase::Active, PhaseReason::Granted, "none"),
        // The reaper ends the binding (and records it); the request follows once it is gone.
        ("ttl from approval: at the deadline", "payments", vec![oscar.clone()], active, 60 + 1800, Phase::Active, PhaseReason::Granted, "none"),
        ("ttl from approval: a second after", "payments", vec![oscar.clone()], active, 60 + 1801, Phase::Active, PhaseReason::Granted, "none"),
        ("ttl from approval: the reaper removed it", "payments", vec![oscar.clone()], rec(Some(Phase::Active), Some(60), false), 60 + 1801, Phase::Expired, PhaseReason::TtlElapsed, "none"),
        ("approved long ago, controller was down", "payments", vec![oscar.clone()], fresh, 60 + 1800, Phase::Expired, PhaseReason::TtlElapsed, "none"),
        ("the binding vanished early", "payments", vec![oscar.clone()], rec(Some(Phase::Active), Some(60), false), 100, Phase::Revoked, PhaseReason::AccessRemoved, "none"),
        ("approvals deleted after approval", "payments", vec![], rec(Some(Phase::Active), None, true), 100, Phase::Revoked, PhaseReason::ApprovalsLost, "revoke"),
        ("a rule without approval is Auto", "auto", vec![], fresh, 10, Phase::Approved, PhaseReason::AutoApproved, "grant"),
        ("auto, status lost while the access exists: no longer life", "auto", vec![], rec(None, None, true), 10, Phase::Active, PhaseReason::Granted, "none"),
        ("auto ignores approvals", "auto", vec![approval("olga", &[], Deny, 5)], fresh, 10, Phase::Approved, PhaseReason::AutoApproved, "grant"),
        ("a namespace no rule covers", "elsewhere", vec![oscar.clone()], fresh, 61, Phase::Denied, PhaseReason::NotAllowed, "none"),
        ("terminal phases stay", "payments", vec![oscar.clone()], rec(Some(Phase::TimedOut), None, false), 61, Phase::TimedOut, PhaseReason::AlreadyEnded, "none"),
        ("terminal with a stray binding removes it", "payments", vec![], rec(Some(Phase::Expired), Some(60), true), 61, Phase::Expired, PhaseReason::AlreadyEnded, "revoke"),
        ("pending with a stray binding removes it", "payments", vec![], rec(Some(Phase::Pending), None, true), 10, Phase::Pending, PhaseReason::AwaitingApproval, "revoke"),
    ];
    let policies = policies();
    for (what, ns, approvals, recorded, now, phase, reason, action) in cases {
        let v = decide_request(&request(ns), &policies, &approvals, recorded, secs(now));
        let got_action = match v.action {
            RequestAction::Nothing => "none",
            RequestAction::Grant { .. } => "grant",
            RequestAction::Revoke => "revoke",
        };
        assert_eq!(
            (v.phase, v.reason, got_action),
            (phase, reason, action),
            "{what}: {}",
            v.message
        );
    }
}

#[test]
fn the_ttl_counts_from_the_approval_not_the_request() {
    let v = decide_request(
        &request("payments"),
        &policies(),
        &[approval("oscar", &[], Approve, 600)],
        rec(None, None, false),
        secs(700),
    );
    assert_eq!(v.approved_at, Some(secs(600)));
    assert_eq!(v.expires_at, Some(secs(600 + 1800)));
    assert_eq!(
        v.action,
        RequestAction::Grant {
            expires_at: secs(2400)
        }
    );
    assert_eq!(v.requeue_at, Some(secs(2400)));
    let pending = decide_request(
        &request("payments"),
        &policies(),
        &[],
        rec(None, None, false),
        secs(10),
    );
    assert_eq!(
        pending.requeue_at,
        Some(secs(3600)),
        "requeue at the timeout"
    );
}

/// A status that lost its record while the access exists (a break-glass edit) never lengthens an
/// Auto grant: the TTL then counts from the request's creation.
#[test]
fn a_lost_record_never_lengthens_access() {
    let v = decide_request(
        &request("auto"),
        &policies(),
        &[],
        rec(None, None, true),
        secs(600),
    );
    assert_eq!(v.expires_at, Some(secs(1800)));
}

/// Once recorded, approvedAt does not move: a restarted controller grants the same deadline.
#[test]
fn the_recorded_approval_time_wins() {
    let v = decide_request(
        &request("auto"),
        &policies(),
        &[],
        rec(Some(Phase::Approved), Some(5), false),
        secs(100),
    );
    assert_eq!(v.expires_at, Some(secs(5 + 1800)));
}

#[test]
fn the_record_says_why_each_approval_did_or_did_not_count() {
    let approvals = [
        approval("oscar", &[], Approve, 10),
        approval("oscar", &[], Approve, 20),
        approval("carol", &[], Approve, 30),
        approval("dave", &[], Approve, 40),
        approval("mallory", &[], Approve, 50),
        approval("olga", &[], Approve, 4000),
    ];
    let v = decide_request(
        &request("vault"),
        &policies(),
        &approvals,
        rec(None, None, false),
        secs(4001),
    );
    assert_eq!(v.phase, Phase::TimedOut);
    let why: Vec<(&str, bool, &str)> = v
        .approvals
        .iter()
        .map(|r| (r.approver.as_str(), r.counted, r.ignored.as_str()))
        .collect();
    assert_eq!(
        why,
        [
            ("oscar", true, ""),
            ("oscar", false, "Duplicate"),
            ("carol", false, "Requester"),
            ("dave", false, "Subject"),
            ("mallory", false, "NotAnApprover"),
            ("olga", false, "Late"),
        ]
    );
}

/// A flood of approvals cannot make the status unwritable (the CRD holds 64), nor hide the ones
/// that counted.
#[test]
fn the_approval_record_is_bounded_and_keeps_what_counted() {
    let mut approvals: Vec<ApprovalFacts> = (0..100)
        .map(|i| approval("mallory", &[], Approve, i))
        .collect();
    approvals.push(approval("oscar", &[], Approve, 500));
    let v = decide_request(
        &request("payments"),
        &policies(),
        &approvals,
        rec(None, None, false),
        secs(501),
    );
    assert_eq!(v.phase, Phase::Approved);
    assert_eq!(v.approvals.len(), MAX_RECORDED_APPROVALS);
    assert!(
        v.approvals
            .iter()
            .any(|r| r.approver == "oscar" && r.counted)
    );
    assert!(v.approvals.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn withdrawal_ends_the_request_and_revokes() {
    let mut r = request("payments");
    r.deleting = true;
    let v = decide_request(
        &r,
        &policies(),
        &[approval("oscar", &[], Approve, 60)],
        rec(Some(Phase::Active), Some(60), true),
        secs(100),
    );
    assert_eq!(
        (v.phase, v.reason, v.action),
        (
            Phase::Withdrawn,
            PhaseReason::WithdrawnByRequester,
            RequestAction::Revoke
        )
    );
}

#[test]
fn a_policy_change_revokes_active_access() {
    let v = decide_request(
        &request("payments"),
        &[],
        &[approval("oscar", &[], Approve, 60)],
        rec(Some(Phase::Active), Some(60), true),
        secs(100),
    );
    assert_eq!(
        (v.phase, v.reason, v.action),
        (
            Phase::Revoked,
            PhaseReason::PolicyNoLongerAllows,
            RequestAction::Revoke
        )
    );
}

#[test]
fn certificate_requests() {
    let cert = |groups: Value, ns: &str| {
        RequestFacts::parse(
            ns,
            UID,
            T0,
            false,
            &spec(json!({ "certificateGroups": groups })),
        )
    };
    let r = cert(json!(["payments-debug"]), CERTIFICATE_REQUEST_NAMESPACE).unwrap();
    let v = decide_request(
        &r,
        &policies(),
        &[approval("oscar", &[], Approve, 60)],
        rec(None, None, false),
        secs(61),
    );
    assert_eq!(v.phase, Phase::Approved, "{}", v.message);
    assert_eq!(v.authorized.unwrap().rule, None);
    let r = cert(json!(["payments-admin"]), CERTIFICATE_REQUEST_NAMESPACE).unwrap();
    let v = decide_request(&r, &policies(), &[], rec(None, None, false), secs(1));
    assert_eq!(v.phase, Phase::Denied);
    assert!(
        v.message.contains("payments-admin is not allowed"),
        "{}",
        v.message
    );
    assert_eq!(
        cert(json!(["payments-debug"]), "payments"),
        Err(RequestSpecError::CertificateNamespace {
            namespace: "payments".into()
        })
    );
}

#[test]
fn malformed_specs_are_denied_with_the_field() {
    let role = json!({"kind": "ClusterRole", "name": "oncall-debug"});
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("no target", "payments", json!({}), "name exactly one"),
        ("both targets", "payments", json!({"role": role, "certificateGroups": ["a"]}), "name exactly one"),
        ("bad role name", "payments", json!({"role": {"kind": "Role", "name": "Not A Role"}}), "spec.role.name"),
        ("system group", "payments", json!({"role": role, "subjects": {"groups": ["system:masters"]}}), "spec.subjects.groups"),
        ("certificate for others", CERTIFICATE_REQUEST_NAMESPACE, json!({"certificateGroups": ["a"], "subjects": {"users": ["dave"]}}), "requester only"),
        ("ttl garbage", "payments", json!({"role": role, "ttl": "forever"}), "spec.ttl"),
        ("empty reason", "payments", json!({"role": role, "reason": ""}), "spec.reason"),
        ("bidi reason", "payments", json!({"role": role, "reason": "ok\u{202e}"}), "spec.reason"),
    ];
    for (what, ns, target, want) in cases {
        let err = RequestFacts::parse(ns, UID, T0, false, &spec(target)).expect_err(what);
        assert!(err.to_string().contains(want), "{what}: {err}");
        let v = decide_malformed(&err, rec(None, None, false));
        assert_eq!((v.phase, v.reason), (Phase::Denied, PhaseReason::Malformed));
    }
    let sa = json!({"role": role, "requester": {"username": "system:serviceaccount:x:y"}});
    let err = RequestFacts::parse("payments", UID, T0, false, &spec(sa)).unwrap_err();
    assert!(matches!(err, RequestSpecError::RequesterNotASubject(_)));
}

#[test]
fn the_requester_is_the_default_subject() {
    let role = json!({"role": {"kind": "ClusterRole", "name": "oncall-debug"}});
    let r = RequestFacts::parse("payments", UID, T0, false, &spec(role)).unwrap();
    assert_eq!(r.subjects.to_string(), "user carol");
}

#[test]
fn phases_serialise_as_the_crd_enum() {
    for phase in Phase::ALL {
        assert_eq!(serde_json::to_value(phase).unwrap(), json!(phase.as_str()));
    }
}

/// People who gain from the access, or who asked for it: carol (requester), dave (subject user),
/// erin (in the subject group oncall), all listed as approvers by the policy.
fn interested() -> impl Strategy<Value = ApprovalFacts> {
    let who = prop_oneof![
        Just(("carol", vec!["engineers", "sre-leads"])),
        Just(("dave", vec![])),
        Just(("erin", vec!["oncall", "sre-leads"])),
    ];
    (who, 0i64..7200).prop_map(|((name, groups), at)| {
        let mut a = approval(name, &groups, Approve, at);
        a.name = format!("{name}-{at}");
        a
    })
}

fn anyone() -> impl Strategy<Value = ApprovalFacts> {
    let who = prop_oneof![
        Just(("carol", vec!["engineers"])),
        Just(("dave", vec![])),
        Just(("oscar", vec![])),
        Just(("olga", vec![])),
        Just(("sam", vec!["sre-leads"])),
        Just(("mallory", vec!["engineers"])),
    ];
    let decision = prop_oneof![3 => Just(Approve), 1 => Just(Deny)];
    (who, decision, 0i64..7200, any::<bool>()).prop_map(|((name, groups), d, at, this)| {
        let mut a = approval(name, &groups, d, at);
        if !this {
            a.request_uid = "another".into();
        }
        a
    })
}

fn namespace() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("payments"), Just("vault")]
}

fn recorded() -> impl Strategy<Value = Recorded> {
    let phase = proptest::option::of(proptest::sample::select(Phase::ALL.to_vec()));
    (phase, any::<bool>()).prop_map(|(phase, granted)| Recorded {
        phase: phase.filter(|p| !matches!(p, Phase::Approved | Phase::Active)),
        approved_at: None,
        granted,
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9:-]{1,12}",
        "\\PC{0,20}",
        Just("system:masters".to_owned()),
        Just("1h".to_owned()),
    ]
}

prop_compose! {
    fn arbitrary_spec()(
        user in text(), groups in proptest::collection::vec(text(), 0..3),
        users in proptest::collection::vec(text(), 0..3),
        subject_groups in proptest::collection::vec(text(), 0..3),
        role in proptest::option::of(text()), cert in proptest::collection::vec(text(), 0..3),
        ttl in proptest::option::of(text()), reason in text(),
    ) -> AccessRequestSpec {
        AccessRequestSpec {
            requester: IdentitySpec { username: user, groups },
            subjects: Some(crate::policy::SubjectsSpec { users, groups: subject_groups }),
            role: role.map(|name| crate::policy::RoleRefSpec { kind: crate::policy::RoleKind::Role, name }),
            certificate_groups: cert,
            ttl,
            incident: None,
            reason,
        }
    }
}

proptest! {
    /// Whatever a request holds, parsing never panics, and what parses names one target and at
    /// least one subject; deciding it never panics either.
    #[test]
    fn arbitrary_specs_parse_safely(spec in arbitrary_spec(), ns in prop_oneof![Just("payments"), Just(CERTIFICATE_REQUEST_NAMESPACE), Just("Bad NS")]) {
        match RequestFacts::parse(ns, UID, T0, false, &spec) {
            Ok(facts) => {
                prop_assert!(!facts.subjects.is_empty());
                prop_assert_eq!(spec.role.is_some(), matches!(facts.target, Target::Role { .. }));
                let v = decide_request(&facts, &policies(), &[], Recorded::default(), T0);
                prop_assert!(!matches!(v.phase, Phase::Active));
            }
            Err(e) => {
                let v = decide_malformed(&e, Recorded::default());
                prop_assert_eq!(v.phase, Phase::Denied);
            }
        }
    }

    /// No set of approvals by the requester or the request's subjects ever approves a Manual request.
    #[test]
    fn self_interested_approvals_never_grant(
        approvals in proptest::collection::vec(interested(), 0..8),
        ns in namespace(),
        rec in recorded(),
        now in 0i64..10_000,
    ) {
        let v = decide_request(&request(ns), &policies(), &approvals, rec, secs(now));
        prop_assert!(!matches!(v.phase, Phase::Approved | Phase::Active), "{v:?}");
        prop_assert!(!matches!(v.action, RequestAction::Grant { .. }), "{v:?}");
        prop_assert!(v.approvals.iter().all(|r| !r.counted));
    }

    /// The verdict does not depend on the order the controller's cache lists approvals in.
    #[test]
    fn counting_is_order_independent(
        (approvals, shuffled) in proptest::collection::vec(anyone(), 0..8)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        ns in namespace(),
        now in 0i64..10_000,
    ) {
        let fresh = Recorded::default();
        let a = decide_request(&request(ns), &policies(), &approvals, fresh, secs(now));
        let b = decide_request(&request(ns), &policies(), &shuffled, fresh, secs(now));
        prop_assert_eq!(a, b);
    }

    /// Access never outlives approval + TTL, and approval never precedes the request.
    #[test]
    fn access_ends_by_approval_plus_ttl(
        approvals in proptest::collection::vec(anyone(), 0..8),
        ns in namespace(),
        now in 0i64..10_000,
    ) {
        let v = decide_request(&request(ns), &policies(), &approvals, Recorded::default(), secs(now));
        if let RequestAction::Grant { expires_at } = v.action {
            let approved = v.approved_at.unwrap();
            prop_assert!(approved >= T0);
            prop_assert!(expires_at <= approved + time::Duration::minutes(30));
            prop_assert!(secs(now) < expires_at);
            let counted = v.approvals.iter().filter(|r| r.counted && r.decision == Approve).count();
            let needed = if ns == "vault" { 2 } else { 1 };
            prop_assert!(counted >= needed);
        }
    }
}
