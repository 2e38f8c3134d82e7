//! Certificate verification: a good certificate passes; another key, CN, group set or window fails.

#![allow(clippy::unwrap_used)]

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, PKCS_ED25519,
};
use time::OffsetDateTime;

use super::*;

const NOW: i64 = 1_900_000_000;

struct Leaf<'a> {
    key: &'a KeyPair,
    cn: &'a str,
    groups: &'a [&'a str],
    not_before: i64,
    not_after: i64,
    client_auth: bool,
    extra_ou: bool,
}

fn issue(leaf: &Leaf<'_>) -> String {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, leaf.cn);
    // rcgen keeps one value per type: a second O goes in under its raw OID.
    let o_types = [
        DnType::OrganizationName,
        DnType::CustomDnType(vec![2, 5, 4, 10]),
    ];
    for (ty, group) in o_types.into_iter().zip(leaf.groups) {
        dn.push(ty, *group);
    }
    if leaf.extra_ou {
        dn.push(DnType::OrganizationalUnitName, "x");
    }
    params.distinguished_name = dn;
    params.not_before = OffsetDateTime::from_unix_timestamp(leaf.not_before).unwrap();
    params.not_after = OffsetDateTime::from_unix_timestamp(leaf.not_after).unwrap();
    if leaf.client_auth {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    params.signed_by(leaf.key, &issuer).unwrap().pem()
}

fn good<'a>(key: &'a KeyPair) -> Leaf<'a> {
    Leaf {
        key,
        cn: "alice",
        groups: &["oncall-debuggers", "oncall-payments"],
        not_before: NOW - 300,
        not_after: NOW + 900,
        client_auth: true,
        extra_ou: false,
    }
}

fn check(leaf: &Leaf<'_>, ours: &KeyPair, now: i64) -> Result<Validity, VerifyError> {
    let expected = Expected {
        public_key_raw: ours.public_key_raw(),
        common_name: "alice",
        groups: &["oncall-payments", "oncall-debuggers"],
    };
    verify_certificate(issue(leaf).as_bytes(), &expected, now)
}

#[test]
fn good_certificate_passes_with_its_window() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let validity = check(&good(&key), &key, NOW).unwrap();
    assert_eq!(
        validity,
        Validity {
            not_before: NOW - 300,
            not_after: NOW + 900
        }
    );
}

#[test]
fn another_key_is_rejected() {
    let ours = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let theirs = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    assert_eq!(
        check(&good(&theirs), &ours, NOW),
        Err(VerifyError::WrongKey)
    );
    let ecdsa = KeyPair::generate().unwrap();
    assert_eq!(check(&good(&ecdsa), &ours, NOW), Err(VerifyError::WrongKey));
}

/// A token key is ECDSA P-256: its certificate passes, another P-256 key's or a P-384 key's fails,
/// and so does an Ed25519 certificate when we hold a P-256 key.
#[test]
fn token_p256_key_is_checked_by_point_and_curve() {
    let ours = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    assert!(check(&good(&ours), &ours, NOW).is_ok());
    let theirs = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    assert_eq!(
        check(&good(&theirs), &ours, NOW),
        Err(VerifyError::WrongKey)
    );
    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    assert_eq!(check(&good(&p384), &ours, NOW), Err(VerifyError::WrongKey));
    let ed = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    assert_eq!(check(&good(&ed), &ours, NOW), Err(VerifyError::WrongKey));
}

#[test]
fn subject_must_be_exactly_what_we_asked() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let other_cn = Leaf {
        cn: "mallory",
        ..good(&key)
    };
    assert!(matches!(
        check(&other_cn, &key, NOW),
        Err(VerifyError::WrongCommonName { .. })
    ));
    let fewer = Leaf {
        groups: &["oncall-payments"],
        ..good(&key)
    };
    assert!(matches!(
        check(&fewer, &key, NOW),
        Err(VerifyError::WrongGroups { .. })
    ));
    let other = Leaf {
        groups: &["oncall-payments", "system:masters"],
        ..good(&key)
    };
    assert!(matches!(
        check(&other, &key, NOW),
        Err(VerifyError::WrongGroups { .. })
    ));
    let ou = Leaf {
        extra_ou: true,
        ..good(&key)
    };
    assert!(matches!(
        check(&ou, &key, NOW),
        Err(VerifyError::UnexpectedAttribute { .. })
    ));
}

#[test]
fn must_be_for_client_auth() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let server = Leaf {
        client_auth: false,
        ..good(&key)
    };
    assert_eq!(check(&server, &key, NOW), Err(VerifyError::NotClientAuth));
}

#[test]
fn validity_window_edges() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let leaf = good(&key);
    let cases = [
        (NOW - 301, false),
        (NOW - 300, true),
        (NOW + 899, true),
        (NOW + 900, false),
        (NOW + 901, false),
    ];
    for (now, ok) in cases {
        assert_eq!(check(&leaf, &key, now).is_ok(), ok, "now = {now}");
    }
    let expired = Leaf {
        not_after: NOW - 1,
        not_before: NOW - 1000,
        ..good(&key)
    };
    assert!(matches!(
        check(&expired, &key, NOW),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn garbage_is_rejected() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let expected = Expected {
        public_key_raw: key.public_key_raw(),
        common_name: "alice",
        groups: &[],
    };
    assert!(matches!(
        verify_certificate(b"nope", &expected, NOW),
        Err(VerifyError::Parse(_))
    ));
}
