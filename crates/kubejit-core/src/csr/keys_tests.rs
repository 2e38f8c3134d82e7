//! `keys: hardware` in the decision: the attacker's cases (no chain, another root, another key,
//! expired certificates, weak PIN/touch policy, garbage) are denied with their own reason; a valid
//! chain made here (the test's own vendor root) is approved.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData};
use serde_json::json;

use super::*;
use crate::policy::NamedPolicy;
use crate::testutil::{CsrParts, PivVendor, policy, subject};

/// The deny reasons only a `keys` rule or the attestation annotation produce.
pub(crate) const KEY_REASONS: [DenyReason; 5] = [
    DenyReason::KeyAttestationMalformed,
    DenyReason::KeyAttestationMissing,
    DenyReason::KeyAttestationUntrusted,
    DenyReason::KeyNotAttested,
    DenyReason::KeyPolicyTooWeak,
];

const CONTROLLER: &str = "system:serviceaccount:kubejit-system:kubejit-controller";
const NOW: i64 = 1_900_000_000;
const DAY: i64 = 86_400;

fn hw_policy(keys: &str) -> NamedPolicy {
    policy(
        "hardware-oncall",
        json!({
            "requesters": {"users": ["alice"]},
            "certificateGroups": ["payments-debug"],
            "maxTTL": "1h",
            "incident": {"required": false},
            "approval": {"mode": "Auto"},
            "keys": keys
        }),
    )
}

/// Alice's CSR for `key`, with the annotation `attestation`.
fn csr(key: &KeyPair, attestation: Option<String>) -> CsrFacts {
    let der = CsrParts::new(key, subject("alice", &["payments-debug"])).sign(key);
    CsrFacts {
        username: "alice".into(),
        groups: vec!["system:authenticated".into()],
        uid: Some("uid-1".into()),
        usages: vec!["client auth".into()],
        expiration_seconds: Some(1800),
        signer_name: KUBE_APISERVER_CLIENT_SIGNER.into(),
        incident: None,
        key_attestation: attestation,
        request: crate::testutil::pem("CERTIFICATE REQUEST", &der).into_bytes(),
    }
}

struct Setup {
    vendor: PivVendor,
    key: KeyPair,
    trust: KeyTrust,
}

fn setup() -> Setup {
    let vendor = PivVendor::new(NOW - DAY, NOW + 365 * DAY);
    let trust = KeyTrust::from_pem(&vendor.root_pem).unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    Setup { vendor, key, trust }
}

impl Setup {
    fn good(&self) -> String {
        let att = self
            .vendor
            .attest(&self.key.subject_public_key_info(), Some([2, 2]), NOW + DAY);
        self.vendor.annotation(&att)
    }
}

fn reason(d: &Decision) -> Option<DenyReason> {
    match d {
        Decision::Deny { reason, .. } => Some(*reason),
        Decision::Approve { .. } | Decision::Pending { .. } => None,
    }
}

#[test]
fn a_valid_chain_for_the_csr_key_is_approved_and_named() {
    let s = setup();
    for keys in ["hardware", "hardwareWithTouch"] {
        let decision = decide(
            &csr(&s.key, Some(s.good())),
            &[hw_policy(keys)],
            CONTROLLER,
            &s.trust,
            NOW,
        );
        let Decision::Approve { allowed, message } = decision else {
            panic!("{keys}: {decision:?}")
        };
        let attested = allowed.hardware_key.unwrap();
        assert_eq!(
            (attested.pin, attested.touch),
            (PinPolicy::Once, TouchPolicy::Always)
        );
        assert!(
            message.contains("hardware key (PIN once, touch always)"),
            "{message}"
        );
    }
}

use super::attestation::{PinPolicy, TouchPolicy};

/// (what, annotation, keys rule, trust, now, expected reason)
type Case = (
    &'static str,
    Option<String>,
    &'static str,
    KeyTrust,
    i64,
    DenyReason,
);

#[test]
fn every_attack_is_denied_with_its_reason() {
    let s = setup();
    let spki = s.key.subject_public_key_info();
    let other_vendor = PivVendor::new(NOW - DAY, NOW + 365 * DAY);
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let att = |policy, not_after| {
        s.vendor
            .annotation(&s.vendor.attest(&spki, policy, not_after))
    };
    let expiring_device = PivVendor::new(NOW - DAY, NOW);
    let expiring_trust = KeyTrust::from_pem(&expiring_device.root_pem).unwrap();
    let device_expired =
        expiring_device.annotation(&expiring_device.attest(&spki, Some([2, 2]), NOW + DAY));
    let good = s.good();
    let device_pem = crate::testutil::pem("CERTIFICATE", &s.vendor.device_der);
    let att_pem = good.strip_suffix(&device_pem).unwrap().to_owned();
    let t = || s.trust.clone();
    let cases: Vec<Case> = vec![
        (
            "no annotation",
            None,
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMissing,
        ),
        (
            "a chain to another vendor's root",
            Some(other_vendor.annotation(&other_vendor.attest(&spki, Some([2, 2]), NOW + DAY))),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "no roots configured",
            Some(good.clone()),
            "hardware",
            KeyTrust::none(),
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "the attested key is not the CSR's",
            Some(s.vendor.annotation(&s.vendor.attest(
                &other_key.subject_public_key_info(),
                Some([2, 2]),
                NOW + DAY,
            ))),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyNotAttested,
        ),
        (
            "attestation expired (at its notAfter)",
            Some(att(Some([2, 2]), NOW)),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "attestation expired a second ago",
            Some(att(Some([2, 2]), NOW - 1)),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "device certificate expired",
            Some(device_expired),
            "hardware",
            expiring_trust,
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "attestation not yet valid",
            Some(good.clone()),
            "hardware",
            t(),
            NOW - DAY - 1,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "PIN policy never",
            Some(att(Some([1, 2]), NOW + DAY)),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyPolicyTooWeak,
        ),
        (
            "touch never under hardwareWithTouch",
            Some(att(Some([2, 1]), NOW + DAY)),
            "hardwareWithTouch",
            t(),
            NOW,
            DenyReason::KeyPolicyTooWeak,
        ),
        (
            "no PIN/touch extension",
            Some(att(None, NOW + DAY)),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyPolicyTooWeak,
        ),
        (
            "garbage",
            Some("hello".into()),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "garbage under keys: any",
            Some("hello".into()),
            "any",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "oversized",
            Some(format!("{good}{}", " ".repeat(16 * 1024))),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "only the attestation",
            Some(att_pem.clone()),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "the device certificate first",
            Some(format!("{device_pem}{att_pem}")),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationUntrusted,
        ),
        (
            "the same certificate twice",
            Some(format!("{att_pem}{att_pem}")),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "a third certificate",
            Some(format!("{good}{device_pem}")),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "text between the blocks",
            Some(format!("{att_pem}x\n{device_pem}")),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
        (
            "a PEM header",
            Some(good.replacen("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n", 1)),
            "hardware",
            t(),
            NOW,
            DenyReason::KeyAttestationMalformed,
        ),
    ];
    let mut covered = BTreeSet::new();
    for (what, annotation, keys, trust, now, want) in cases {
        let decision = decide(
            &csr(&s.key, annotation),
            &[hw_policy(keys)],
            CONTROLLER,
            &trust,
            now,
        );
        assert_eq!(reason(&decision), Some(want), "{what}: {decision:?}");
        covered.insert(want);
    }
    assert_eq!(
        covered,
        KEY_REASONS.into_iter().collect(),
        "every key reason needs a case"
    );
}

/// The same chain is approved a second before its notAfter and under a rule without touch.
#[test]
fn validity_is_judged_at_now_and_touch_only_when_required() {
    let s = setup();
    let spki = s.key.subject_public_key_info();
    let ann = s
        .vendor
        .annotation(&s.vendor.attest(&spki, Some([3, 1]), NOW + 1));
    let decide_at = |keys, now| {
        decide(
            &csr(&s.key, Some(ann.clone())),
            &[hw_policy(keys)],
            CONTROLLER,
            &s.trust,
            now,
        )
    };
    assert_eq!(reason(&decide_at("hardware", NOW)), None);
    assert_eq!(
        reason(&decide_at("hardware", NOW + 1)),
        Some(DenyReason::KeyAttestationUntrusted)
    );
    assert_eq!(
        reason(&decide_at("hardwareWithTouch", NOW)),
        Some(DenyReason::KeyPolicyTooWeak)
    );
    // Under `keys: any` a valid chain is not needed and not named.
    let Decision::Approve { allowed, .. } = decide_at("any", NOW) else {
        panic!()
    };
    assert_eq!(allowed.hardware_key, None);
    // Nor is an untrusted one held against the request.
    let d = decide(
        &csr(&s.key, Some(ann.clone())),
        &[hw_policy("any")],
        CONTROLLER,
        &KeyTrust::none(),
        NOW,
    );
    assert_eq!(reason(&d), None);
}

/// Of two policies, only the one whose keys rule holds can approve: a software key under a
/// `keys: hardware` policy does not borrow another policy's looser rule unless that policy allows all.
#[test]
fn the_closest_denial_names_the_key() {
    let s = setup();
    let d = decide(
        &csr(&s.key, None),
        &[hw_policy("hardware")],
        CONTROLLER,
        &s.trust,
        NOW,
    );
    let Decision::Deny { message, .. } = d else {
        panic!("{d:?}")
    };
    assert!(
        message.contains("policy hardware-oncall requires a hardware-attested key"),
        "{message}"
    );
    assert!(message.contains("kubejit.dev/key-attestation"), "{message}");
}

proptest::proptest! {
    /// The annotation is the requester's: no value makes the decision panic, and none approves.
    #[test]
    fn arbitrary_annotations_never_approve(value in ".{0,400}") {
        let s = setup();
        let d = decide(&csr(&s.key, Some(value)), &[hw_policy("hardware")], CONTROLLER, &s.trust, NOW);
        proptest::prop_assert!(reason(&d).is_some());
    }
}
