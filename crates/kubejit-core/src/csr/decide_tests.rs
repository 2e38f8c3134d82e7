//! Table tests for `decide`: every deny reason has a case that changes one fact of an approvable CSR.

use std::collections::BTreeSet;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ED25519, SanType};
use serde_json::json;

use super::*;
use crate::csr::keys_tests::KEY_REASONS;
use crate::policy::NamedPolicy;
use crate::testutil::{
    CsrParts, OID_CN, OID_OU, atv, bit_string, csr_der, csr_pem, name, oid, pem, policy, seq,
    subject,
};

const CONTROLLER: &str = "system:serviceaccount:kubejit-system:kubejit-controller";
const NOW: i64 = 1_900_000_000;

fn payments_oncall() -> NamedPolicy {
    policy(
        "payments-oncall",
        json!({
            "requesters": {"groups": ["oncall-payments"]},
            "certificateGroups": ["payments-debug", "payments-logs"],
            "maxTTL": "1h",
            "incident": {"pattern": "^INC-[0-9]+$"},
            "approval": {"mode": "Auto"}
        }),
    )
}

fn facts(cn: &str, orgs: &[&str]) -> CsrFacts {
    CsrFacts {
        username: cn.to_owned(),
        groups: vec!["oncall-payments".into(), "system:authenticated".into()],
        uid: Some("uid-1".into()),
        usages: vec!["client auth".into(), "digital signature".into()],
        expiration_seconds: Some(1800),
        signer_name: KUBE_APISERVER_CLIENT_SIGNER.into(),
        incident: Some("INC-42".into()),
        key_attestation: None,
        request: csr_pem(subject(cn, orgs), &[]),
    }
}

fn alice() -> CsrFacts {
    facts("alice", &["payments-debug"])
}

fn san_request() -> Vec<u8> {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "alice");
    params.subject_alt_names = vec![SanType::DnsName("kubernetes.default".try_into().unwrap())];
    params
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
        .into_bytes()
}

fn tampered_request() -> Vec<u8> {
    let mut der = csr_der(subject("alice", &["payments-debug"]), &[]);
    let last = der.len() - 1;
    der[last] ^= 0x40;
    pem("CERTIFICATE REQUEST", &der).into_bytes()
}

/// A well-formed request for an X25519 key (a key type that cannot sign at all).
fn x25519_request() -> Vec<u8> {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut parts = CsrParts::new(&key, subject("alice", &["payments-debug"]));
    parts.public_key_info = seq(&[seq(&[oid(&[1, 3, 101, 110])]), bit_string(&[9; 32])]);
    pem("CERTIFICATE REQUEST", &parts.sign(&key)).into_bytes()
}

fn reason(decision: &Decision) -> Option<DenyReason> {
    match decision {
        Decision::Deny { reason, .. } => Some(*reason),
        Decision::Approve { .. } | Decision::Pending { .. } => None,
    }
}

type Mutation = fn(&mut CsrFacts);

#[test]
fn each_rule_denies_on_its_own() {
    let cases: Vec<(DenyReason, &str, Mutation)> = vec![
        (DenyReason::WrongSigner, "kubelet signer", |f| {
            f.signer_name = "kubernetes.io/kubelet-serving".into()
        }),
        (DenyReason::SelfRequest, "controller asks", |f| {
            *f = facts(CONTROLLER, &["payments-debug"]);
        }),
        (DenyReason::SystemRequester, "node asks", |f| {
            *f = facts("system:node:n1", &["payments-debug"])
        }),
        (DenyReason::MalformedRequest, "garbage request", |f| {
            f.request = b"garbage".to_vec()
        }),
        (DenyReason::MalformedRequest, "raw DER", |f| {
            f.request = csr_der(subject("alice", &["payments-debug"]), &[])
        }),
        (DenyReason::UnsupportedKey, "X25519 key", |f| {
            f.request = x25519_request()
        }),
        (DenyReason::InvalidSignature, "tampered signature", |f| {
            f.request = tampered_request()
        }),
        (DenyReason::ExtensionsRequested, "SAN", |f| {
            f.request = san_request()
        }),
        (DenyReason::SubjectNotAllowed, "OU in subject", |f| {
            f.request = csr_pem(
                name(&[vec![atv(OID_CN, "alice")], vec![atv(OID_OU, "x")]]),
                &[],
            );
        }),
        (DenyReason::SubjectNotAllowed, "group with newline", |f| {
            f.request = csr_pem(subject("alice", &["payments-debug\n"]), &[]);
        }),
        (DenyReason::CommonNameMismatch, "CN bob", |f| {
            f.request = csr_pem(subject("bob", &["payments-debug"]), &[])
        }),
        (DenyReason::SystemGroup, "system:masters", |f| {
            f.request = csr_pem(subject("alice", &["payments-debug", "system:masters"]), &[]);
        }),
        (DenyReason::UsagesNotAllowed, "server auth", |f| {
            f.usages.push("server auth".into())
        }),
        (DenyReason::UsagesNotAllowed, "no client auth", |f| {
            f.usages = vec!["digital signature".into()]
        }),
        (DenyReason::UsagesNotAllowed, "no usages", |f| {
            f.usages.clear()
        }),
        (DenyReason::UsagesNotAllowed, "duplicate usage", |f| {
            f.usages.push("client auth".into())
        }),
        (DenyReason::ExpirationMissing, "no expiration", |f| {
            f.expiration_seconds = None
        }),
        (DenyReason::ExpirationTooShort, "599 s", |f| {
            f.expiration_seconds = Some(599)
        }),
        (DenyReason::ExpirationTooShort, "negative", |f| {
            f.expiration_seconds = Some(-1)
        }),
        (DenyReason::NoMatchingPolicy, "not on call", |f| {
            f.groups = vec!["dev".into()]
        }),
        (DenyReason::GroupNotAllowed, "admin group", |f| {
            f.request = csr_pem(subject("alice", &["payments-admin"]), &[]);
        }),
        (DenyReason::TtlExceedsPolicy, "3601 s", |f| {
            f.expiration_seconds = Some(3601)
        }),
        (DenyReason::TtlExceedsPolicy, "i32::MAX", |f| {
            f.expiration_seconds = Some(i32::MAX)
        }),
        (DenyReason::IncidentMissing, "no incident", |f| {
            f.incident = None
        }),
        (DenyReason::IncidentInvalid, "leading space", |f| {
            f.incident = Some(" INC-42".into())
        }),
        (DenyReason::IncidentInvalid, "too long", |f| {
            f.incident = Some(format!("INC-{}", "1".repeat(70)))
        }),
        (DenyReason::IncidentMismatch, "foo", |f| {
            f.incident = Some("foo".into())
        }),
    ];
    let policies = [payments_oncall()];
    assert!(
        matches!(
            decide(&alice(), &policies, CONTROLLER, &KeyTrust::none(), NOW),
            Decision::Approve { .. }
        ),
        "the base case approves"
    );
    let mut covered = BTreeSet::new();
    for (want, what, mutate) in cases {
        let mut csr = alice();
        mutate(&mut csr);
        let decision = decide(&csr, &policies, CONTROLLER, &KeyTrust::none(), NOW);
        assert_eq!(reason(&decision), Some(want), "{what}: {decision:?}");
        assert!(!decision.message().is_empty(), "{what}");
        covered.insert(want);
    }
    // TtlExceedsRequest is decided under an AccessRequest, after `decide` (request::certificate_tests);
    // the key reasons have their own table (keys_tests.rs).
    assert_eq!(
        covered,
        DenyReason::ALL
            .into_iter()
            .filter(|r| *r != DenyReason::TtlExceedsRequest && !KEY_REASONS.contains(r))
            .collect(),
        "every deny reason needs a case"
    );
}

#[test]
fn self_request_is_caught_even_for_a_non_system_controller_name() {
    let decision = decide(
        &alice(),
        &[payments_oncall()],
        "alice",
        &KeyTrust::none(),
        NOW,
    );
    assert_eq!(reason(&decision), Some(DenyReason::SelfRequest));
}

#[test]
fn approval_explains_policy_and_rule() {
    let Decision::Approve { allowed, message } = decide(
        &alice(),
        &[payments_oncall()],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    ) else {
        panic!("expected approval");
    };
    assert_eq!(allowed.policy.as_str(), "payments-oncall");
    assert_eq!(allowed.rule.to_string(), "requester group oncall-payments");
    assert_eq!(allowed.ttl.as_secs(), 1800);
    assert_eq!(allowed.incident.unwrap().as_str(), "INC-42");
    assert_eq!(
        message,
        "approved by policy payments-oncall (matched requester group oncall-payments): \
         CN alice, groups [payments-debug], TTL 30m, incident INC-42"
    );
}

#[test]
fn incident_denial_reads_like_the_cli_expects() {
    let mut csr = alice();
    csr.incident = Some("foo".into());
    let decision = decide(
        &csr,
        &[payments_oncall()],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    );
    assert!(
        decision
            .message()
            .starts_with("incident reference 'foo' does not match ^INC-[0-9]+$ required by policy payments-oncall"),
        "{}",
        decision.message()
    );
}

#[test]
fn ttl_boundaries() {
    for (secs, ok) in [(599, false), (600, true), (3600, true), (3601, false)] {
        let mut csr = alice();
        csr.expiration_seconds = Some(secs);
        let approved = matches!(
            decide(
                &csr,
                &[payments_oncall()],
                CONTROLLER,
                &KeyTrust::none(),
                NOW
            ),
            Decision::Approve { .. }
        );
        assert_eq!(approved, ok, "{secs}");
    }
}

#[test]
fn zero_organizations_and_optional_incident() {
    let relaxed = policy(
        "relaxed",
        json!({"requesters": {"users": ["alice"]}, "certificateGroups": ["x"], "maxTTL": "1h",
               "incident": {"required": false}, "approval": {"mode": "Auto"}}),
    );
    let mut csr = facts("alice", &[]);
    csr.incident = None;
    let Decision::Approve { allowed, .. } =
        decide(&csr, &[relaxed], CONTROLLER, &KeyTrust::none(), NOW)
    else {
        panic!("expected approval")
    };
    assert!(allowed.groups.is_empty() && allowed.incident.is_none());
    assert_eq!(allowed.rule.to_string(), "requester user alice");
}

fn manual(name: &str) -> NamedPolicy {
    policy(
        name,
        json!({"requesters": {"groups": ["oncall-payments"]}, "certificateGroups": ["payments-debug"],
               "maxTTL": "1h", "approval": {"mode": "Manual", "approvers": {"groups": ["sre-leads"]}}}),
    )
}

#[test]
fn manual_policy_leaves_the_csr_pending() {
    let Decision::Pending {
        allowed,
        approvers,
        message,
    } = decide(
        &alice(),
        &[manual("a-manual")],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    )
    else {
        panic!("expected pending");
    };
    assert_eq!(allowed.policy.as_str(), "a-manual");
    assert_eq!(approvers.to_string(), "group sre-leads");
    assert!(message.contains("someone other than alice"), "{message}");
}

#[test]
fn auto_wins_over_manual_whatever_the_order() {
    for policies in [
        [manual("a-manual"), payments_oncall()],
        [payments_oncall(), manual("a-manual")],
    ] {
        let Decision::Approve { allowed, .. } =
            decide(&alice(), &policies, CONTROLLER, &KeyTrust::none(), NOW)
        else {
            panic!("expected approval")
        };
        assert_eq!(allowed.policy.as_str(), "payments-oncall");
    }
}

#[test]
fn one_policy_must_allow_everything() {
    let logs = policy(
        "logs",
        json!({"requesters": {"groups": ["oncall-payments"]}, "certificateGroups": ["payments-admin"],
               "maxTTL": "1h", "incident": {"required": false}, "approval": {"mode": "Auto"}}),
    );
    // payments-debug is only in payments-oncall, payments-admin only in logs: no single policy allows both.
    let mut csr = facts("alice", &["payments-debug", "payments-admin"]);
    csr.incident = Some("INC-1".into());
    let decision = decide(
        &csr,
        &[payments_oncall(), logs],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    );
    assert_eq!(reason(&decision), Some(DenyReason::GroupNotAllowed));
    assert!(
        decision.message().contains("policy logs"),
        "first by name among equally close: {}",
        decision.message()
    );
}

#[test]
fn denial_comes_from_the_closest_policy() {
    let other = policy(
        "aaa-other",
        json!({"requesters": {"groups": ["oncall-payments"]}, "certificateGroups": ["unrelated"],
               "maxTTL": "1h", "approval": {"mode": "Auto"}}),
    );
    let mut csr = alice();
    csr.incident = Some("foo".into());
    for policies in [
        [other.clone(), payments_oncall()],
        [payments_oncall(), other.clone()],
    ] {
        let decision = decide(&csr, &policies, CONTROLLER, &KeyTrust::none(), NOW);
        assert_eq!(
            reason(&decision),
            Some(DenyReason::IncidentMismatch),
            "{decision:?}"
        );
        assert!(decision.message().contains("policy payments-oncall"));
    }
}

#[test]
fn grants_only_policies_do_not_issue_certificates() {
    let grants_only = policy(
        "grants-only",
        json!({"requesters": {"groups": ["oncall-payments"]}, "maxTTL": "1h", "approval": {"mode": "Auto"}}),
    );
    let decision = decide(
        &facts("alice", &[]),
        &[grants_only],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    );
    assert_eq!(reason(&decision), Some(DenyReason::NoMatchingPolicy));
}

#[test]
fn no_policies_means_deny() {
    assert_eq!(
        reason(&decide(&alice(), &[], CONTROLLER, &KeyTrust::none(), NOW)),
        Some(DenyReason::NoMatchingPolicy)
    );
}

#[test]
fn labels_are_stable() {
    assert_eq!(DenyReason::SubjectNotAllowed.as_str(), "SubjectNotAllowed");
    let labels: BTreeSet<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), DenyReason::ALL.len());
    assert_eq!(
        decide(
            &alice(),
            &[payments_oncall()],
            CONTROLLER,
            &KeyTrust::none(),
            NOW
        )
        .label(),
        "Approved"
    );
}
