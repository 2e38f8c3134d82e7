//! Table tests and properties of approving a Manual CSR from an AccessRequest.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::names::GroupName;
use crate::policy::NamedPolicy;
use crate::subject::Requester;
use crate::testutil::policy;

const T0: OffsetDateTime = datetime!(2030-01-02 10:00:00 UTC);

fn secs(n: i64) -> OffsetDateTime {
    T0 + time::Duration::seconds(n)
}

/// carol and dave (group engineers) may ask for checkout-debug and payments-debug; oscar approves.
fn policies() -> Vec<NamedPolicy> {
    vec![policy(
        "checkout",
        json!({
            "requesters": {"groups": ["engineers"]},
            "certificateGroups": ["checkout-debug", "payments-debug"],
            "maxTTL": "2h",
            "incident": {"required": false},
            "approval": {"mode": "Manual", "approvers": {"users": ["oscar", "carol"], "groups": ["engineers"]},
                         "approvalTimeout": "1h"}
        }),
    )]
}

fn who(user: &str) -> Requester {
    Requester {
        username: user.to_owned(),
        groups: vec!["engineers".to_owned(), "system:authenticated".to_owned()],
    }
}

fn groups(names: &[&str]) -> BTreeSet<GroupName> {
    names.iter().map(|g| GroupName::parse(g).unwrap()).collect()
}

fn candidate(name: &str, by: &Requester, groups: &[&str], ttl: &str) -> CandidateRequest {
    let spec: AccessRequestSpec = serde_json::from_value(json!({
        "requester": {"username": by.username, "groups": by.groups},
        "certificateGroups": groups,
        "ttl": ttl,
        "reason": "checkout latency",
    }))
    .unwrap();
    CandidateRequest {
        name: name.to_owned(),
        facts: RequestFacts::parse("kubejit-system", &format!("uid-{name}"), T0, false, &spec)
            .unwrap(),
        recorded: Recorded::default(),
        approvals: Vec::new(),
    }
}

fn approved_by(mut c: CandidateRequest, user: &str, at: i64) -> CandidateRequest {
    c.approvals.push(ApprovalFacts {
        name: format!("{user}-{at}"),
        request_uid: c.facts.uid.clone(),
        approver: Requester {
            username: user.to_owned(),
            groups: vec!["sre".to_owned()],
        },
        decision: ApprovalDecision::Approve,
        created_at: secs(at),
    });
    c
}

fn judge(csr_groups: &[&str], expiration: u64, requests: &[CandidateRequest], now: i64) -> String {
    let carol = who("carol");
    let groups = groups(csr_groups);
    let csr = PendingCertificate {
        requester: &carol,
        groups: &groups,
        expiration_seconds: expiration,
        incident: None,
    };
    match judge_certificate(csr, requests, &policies(), secs(now)) {
        CertificateVerdict::Approve { request, .. } => format!("approve {request}"),
        CertificateVerdict::OutlivesRequest { .. } => "outlives".to_owned(),
        CertificateVerdict::Awaiting { .. } => "await".to_owned(),
    }
}

/// (what, the CSR's groups, expirationSeconds, requests, now, verdict).
type Case = (
    &'static str,
    &'static [&'static str],
    u64,
    Vec<CandidateRequest>,
    i64,
    &'static str,
);

#[test]
fn the_certificate_table() {
    let carol = who("carol");
    let mine = candidate("mine", &carol, &["checkout-debug"], "1h");
    let oscar_ok = approved_by(mine.clone(), "oscar", 60);
    let both = approved_by(
        candidate("both", &carol, &["checkout-debug", "payments-debug"], "1h"),
        "oscar",
        60,
    );
    let daves = approved_by(
        candidate("daves", &who("dave"), &["checkout-debug"], "1h"),
        "oscar",
        60,
    );
    let mut other_groups = oscar_ok.clone();
    other_groups.facts.requester.groups = vec!["engineers".to_owned()];
    let mut withdrawn = oscar_ok.clone();
    withdrawn.facts.deleting = true;
    let mut expired_status = oscar_ok.clone();
    expired_status.recorded.phase = Some(Phase::Expired);
    let mut lagging_status = oscar_ok.clone();
    lagging_status.recorded.phase = Some(Phase::Pending);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no request at all", &["checkout-debug"], 1200, vec![], 100, "await"),
        ("a request nobody approved", &["checkout-debug"], 1200, vec![mine.clone()], 100, "await"),
        ("approved only by the requester herself", &["checkout-debug"], 1200, vec![approved_by(mine.clone(), "carol", 60)], 100, "await"),
        ("approved by oscar", &["checkout-debug"], 1200, vec![oscar_ok.clone()], 100, "approve mine"),
        ("status lags (still Pending): approvals decide", &["checkout-debug"], 1200, vec![lagging_status], 100, "approve mine"),
        ("status says Expired", &["checkout-debug"], 1200, vec![expired_status], 100, "await"),
        ("withdrawn", &["checkout-debug"], 1200, vec![withdrawn], 100, "await"),
        ("more groups than the request covers", &["checkout-debug", "payments-debug"], 1200, vec![oscar_ok.clone()], 100, "await"),
        ("a request covering both", &["checkout-debug", "payments-debug"], 1200, vec![oscar_ok.clone(), both], 100, "approve both"),
        ("someone else's approved request", &["checkout-debug"], 1200, vec![daves], 100, "await"),
        ("same user, other groups", &["checkout-debug"], 1200, vec![other_groups], 100, "await"),
        ("TTL: exactly the time left less the signing margin", &["checkout-debug"], 3600 - 40 - 60, vec![oscar_ok.clone()], 100, "approve mine"),
        ("TTL: a second more", &["checkout-debug"], 3600 - 39 - 60, vec![oscar_ok.clone()], 100, "outlives"),
        ("request ends: the last instant a minimal certificate fits", &["checkout-debug"], 600, vec![oscar_ok.clone()], 3660 - 660, "approve mine"),
        ("request ends: a second later it does not", &["checkout-debug"], 600, vec![oscar_ok.clone()], 3660 - 659, "outlives"),
        ("request ended: a second before", &["checkout-debug"], 600, vec![oscar_ok.clone()], 3659, "outlives"),
        ("request ended: at the deadline", &["checkout-debug"], 600, vec![oscar_ok.clone()], 3660, "await"),
        ("request ended: a second after", &["checkout-debug"], 600, vec![oscar_ok.clone()], 3661, "await"),
    ];
    for (what, csr_groups, expiration, requests, now, want) in cases {
        assert_eq!(
            judge(csr_groups, expiration, &requests, now),
            want,
            "{what}"
        );
    }
}

#[test]
fn messages_say_what_to_do() {
    let carol = who("carol");
    let g = groups(&["checkout-debug"]);
    let csr = PendingCertificate {
        requester: &carol,
        groups: &g,
        expiration_seconds: 7200,
        incident: Some("INC-1"),
    };
    let CertificateVerdict::Awaiting { message } = judge_certificate(csr, &[], &policies(), T0)
    else {
        panic!("no request must await");
    };
    assert!(
        message.starts_with("awaiting an approved AccessRequest")
            && message.contains("kubejit request --certificate-group checkout-debug"),
        "{message}"
    );
    let ok = approved_by(
        candidate("mine", &carol, &["checkout-debug"], "1h"),
        "oscar",
        0,
    );
    let CertificateVerdict::Awaiting { message } =
        judge_certificate(csr, std::slice::from_ref(&ok), &policies(), secs(10))
    else {
        panic!("another incident must await");
    };
    assert!(
        message.contains("incident none, the CSR for \"INC-1\""),
        "{message}"
    );
    let csr = PendingCertificate {
        incident: None,
        ..csr
    };
    let verdict = judge_certificate(csr, std::slice::from_ref(&ok), &policies(), secs(10));
    let CertificateVerdict::OutlivesRequest { message } = verdict else {
        panic!("a certificate outliving the request must be refused: {verdict:?}");
    };
    assert!(
        message.contains("ask for expirationSeconds 3530 or less"),
        "{message}"
    );
    let verdict = judge_certificate(csr, &[ok], &policies(), secs(3100));
    let CertificateVerdict::OutlivesRequest { message } = verdict else {
        panic!("{verdict:?}");
    };
    assert!(message.contains("request access again"), "{message}");
}

#[test]
fn an_approval_names_the_request_policy_and_approvers() {
    let carol = who("carol");
    let g = groups(&["checkout-debug"]);
    let csr = PendingCertificate {
        requester: &carol,
        groups: &g,
        expiration_seconds: 1200,
        incident: None,
    };
    let ok = approved_by(
        candidate("mine", &carol, &["checkout-debug"], "1h"),
        "oscar",
        60,
    );
    let verdict = judge_certificate(csr, &[ok], &policies(), secs(100));
    assert_eq!(
        verdict,
        CertificateVerdict::Approve {
            request: "mine".to_owned(),
            policy: crate::names::ObjectName::parse("checkout").unwrap(),
            approved_by: vec!["oscar".to_owned()],
            expires_at: secs(3660),
        }
    );
}

const USERS: [&str; 4] = ["carol", "dave", "oscar", "mallory"];
const GROUPS: [&str; 3] = ["checkout-debug", "payments-debug", "other"];

/// Requests that are often approvable, so the property is exercised on approvals, not only refusals:
/// mostly fresh and not withdrawn, with mostly Approve decisions early on.
fn arb_candidate() -> impl Strategy<Value = CandidateRequest> {
    let users = proptest::sample::select(USERS.to_vec());
    let approve = proptest::bool::weighted(0.8);
    let approvals = proptest::collection::vec((users.clone(), 0i64..1200, approve), 0..4);
    let phase = proptest::option::weighted(0.3, proptest::sample::select(Phase::ALL.to_vec()));
    (
        users,
        proptest::sample::subsequence(GROUPS.to_vec(), 1..=3),
        proptest::sample::select(vec!["10m", "30m", "1h", "3h"]),
        approvals,
        phase,
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(by, gs, ttl, approvals, phase, deleting)| {
            let mut c = candidate(&format!("r-{by}-{ttl}"), &who(by), &gs, ttl);
            c.facts.deleting = deleting;
            c.recorded.phase = phase;
            for (user, at, approve) in approvals {
                c = approved_by(c, user, at);
                if let Some(last) = c.approvals.last_mut()
                    && !approve
                {
                    last.decision = ApprovalDecision::Deny;
                }
            }
            c
        })
}

proptest! {
    /// No CSR is ever approved without an approved request of the same requester covering all its
    /// groups, approved by someone other than the requester, and ending no earlier than the
    /// certificate.
    #[test]
    fn never_approved_without_a_covering_approved_request(
        requests in proptest::collection::vec(arb_candidate(), 0..4),
        csr_groups in proptest::sample::subsequence(GROUPS.to_vec(), 1..=3),
        expiration in 600u64..4000,
        now in 0i64..5000,
    ) {
        let carol = who("carol");
        let g = groups(&csr_groups);
        let csr = PendingCertificate { requester: &carol, groups: &g, expiration_seconds: expiration, incident: None };
        let verdict = judge_certificate(csr, &requests, &policies(), secs(now));
        if let CertificateVerdict::Approve { request, expires_at, approved_by, .. } = verdict {
            let r = requests.iter().find(|r| r.name == request).unwrap();
            prop_assert_eq!(&r.facts.requester.username, "carol");
            let Target::Certificate { groups: covered } = &r.facts.target else {
                panic!("a role request approved a certificate");
            };
            prop_assert!(g.is_subset(covered));
            prop_assert!(!r.facts.deleting);
            prop_assert!(!r.recorded.phase.is_some_and(Phase::is_terminal));
            prop_assert!(!approved_by.is_empty());
            prop_assert!(!approved_by.iter().any(|a| a == "carol"));
            let by_another = r.approvals.iter().any(|a| {
                a.approver.username != "carol" && a.decision == ApprovalDecision::Approve
            });
            prop_assert!(by_another);
            prop_assert!(secs(now) + time::Duration::seconds(expiration as i64) <= expires_at);
        }
    }
}

mod fit {
    use super::*;
    use crate::request::certificate::SIGNING_MARGIN_SECS;
    use crate::ttl::Ttl;

    fn view(c: &CandidateRequest, phase: Phase, ends: i64) -> RequestStatusView<'_> {
        RequestStatusView {
            facts: &c.facts,
            phase: Some(phase),
            expires_at: Some(secs(ends)),
        }
    }

    fn fit(wanted: &str, requests: &[RequestStatusView<'_>], now: i64) -> u64 {
        fit_certificate_ttl(
            Ttl::parse(wanted).unwrap(),
            "carol",
            &groups(&["checkout-debug"]),
            None,
            requests,
            secs(now),
        )
        .as_secs()
    }

    #[test]
    fn shortens_to_what_is_left_of_the_approved_request_less_the_signing_margin() {
        let c = candidate("r", &who("carol"), &["checkout-debug"], "1h");
        // Approved at T0 for 1h, asked 20 min later for a 1h certificate: 40 min − 60 s are left.
        assert_eq!(
            fit("1h", &[view(&c, Phase::Active, 3600)], 1200),
            2400 - SIGNING_MARGIN_SECS
        );
        // A shorter wish is kept.
        assert_eq!(fit("15m", &[view(&c, Phase::Approved, 3600)], 1200), 900);
    }

    #[test]
    fn the_longest_lived_covering_request_counts() {
        let short = candidate("a", &who("carol"), &["checkout-debug"], "1h");
        let long = candidate(
            "b",
            &who("carol"),
            &["checkout-debug", "payments-debug"],
            "2h",
        );
        let views = [
            view(&short, Phase::Active, 1800),
            view(&long, Phase::Active, 7200),
        ];
        assert_eq!(fit("2h", &views, 0), 7200 - SIGNING_MARGIN_SECS);
    }

    #[test]
    fn anything_that_does_not_vouch_for_the_certificate_leaves_the_wish_alone() {
        let carols = candidate("r", &who("carol"), &["checkout-debug"], "1h");
        let daves = candidate("d", &who("dave"), &["checkout-debug"], "1h");
        let other_group = candidate("o", &who("carol"), &["payments-debug"], "1h");
        for (views, why) in [
            (
                vec![view(&daves, Phase::Active, 1800)],
                "another requester's",
            ),
            (
                vec![view(&other_group, Phase::Active, 1800)],
                "other groups",
            ),
            (vec![view(&carols, Phase::Pending, 1800)], "not approved"),
            (vec![view(&carols, Phase::Expired, 1800)], "ended"),
            (vec![view(&carols, Phase::Active, 300)], "below the floor"),
            (vec![], "no request"),
        ] {
            assert_eq!(fit("1h", &views, 0), 3600, "{why}");
        }
    }

    #[test]
    fn another_incident_does_not_vouch() {
        let spec: AccessRequestSpec = serde_json::from_value(json!({
            "requester": {"username": "carol", "groups": ["engineers"]},
            "certificateGroups": ["checkout-debug"],
            "ttl": "1h", "reason": "r", "incident": "INC-1",
        }))
        .unwrap();
        let facts = RequestFacts::parse("kubejit-system", "u", T0, false, &spec).unwrap();
        let v = RequestStatusView {
            facts: &facts,
            phase: Some(Phase::Active),
            expires_at: Some(secs(1800)),
        };
        assert_eq!(fit("1h", &[v], 0), 3600);
    }
}
