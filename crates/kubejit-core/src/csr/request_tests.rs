//! PKCS#10 parser tests: realistic rcgen requests, hand-built odd subjects, and never-panic properties.

use proptest::prelude::*;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
    SanType,
};

use super::request::{RequestError, SubjectError, parse_request};
use crate::testutil::{OID_CN, OID_O, OID_OU, atv, csr_pem, name, oid, pem, seq, set, subject};

fn rcgen_csr(
    cn: &str,
    org: Option<&str>,
    sans: Vec<SanType>,
    alg: &'static rcgen::SignatureAlgorithm,
) -> String {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn rcgen_ed25519_request_parses() {
    let subject =
        parse_request(rcgen_csr("alice", Some("oncall"), vec![], &PKCS_ED25519).as_bytes())
            .unwrap();
    assert_eq!(subject.common_name, "alice");
    assert_eq!(subject.organizations, ["oncall"]);
}

#[test]
fn rcgen_ecdsa_request_parses() {
    let subject =
        parse_request(rcgen_csr("bob", None, vec![], &PKCS_ECDSA_P256_SHA256).as_bytes()).unwrap();
    assert_eq!(subject.common_name, "bob");
    assert!(subject.organizations.is_empty());
}

#[test]
fn der_is_accepted_too() {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "alice");
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    assert_eq!(parse_request(&der).unwrap().common_name, "alice");
}

#[test]
fn sans_are_refused() {
    let sans = vec![SanType::DnsName("api.example.com".try_into().unwrap())];
    let err = parse_request(rcgen_csr("alice", None, sans, &PKCS_ED25519).as_bytes()).unwrap_err();
    assert_eq!(err, RequestError::ExtensionsRequested);
}

#[test]
fn several_organizations_in_order() {
    let subject = parse_request(&csr_pem(subject("alice", &["b", "a"]), &[])).unwrap();
    assert_eq!(subject.organizations, ["b", "a"]);
}

#[test]
fn odd_subjects_are_refused() {
    let cases: Vec<(&str, Vec<u8>, SubjectError)> = vec![
        (
            "no CN",
            name(&[vec![atv(OID_O, "a")]]),
            SubjectError::NoCommonName,
        ),
        ("empty subject", name(&[]), SubjectError::NoCommonName),
        (
            "two CNs",
            name(&[vec![atv(OID_CN, "a")], vec![atv(OID_CN, "b")]]),
            SubjectError::MultipleCommonNames,
        ),
        (
            "multi-valued RDN",
            name(&[vec![atv(OID_CN, "a"), atv(OID_O, "g")]]),
            SubjectError::MultiValuedRdn { count: 2 },
        ),
        (
            "OU",
            name(&[vec![atv(OID_CN, "a")], vec![atv(OID_OU, "x")]]),
            SubjectError::UnexpectedAttribute {
                oid: "2.5.4.11".into(),
            },
        ),
        (
            "duplicate O",
            subject("a", &["g", "g"]),
            SubjectError::DuplicateOrganization { value: "g".into() },
        ),
        (
            "BMPString CN",
            seq(&[set(&[seq(&[oid(OID_CN), vec![0x1e, 2, 0, b'a']])])]),
            SubjectError::NotAString {
                oid: "2.5.4.3".into(),
            },
        ),
    ];
    for (what, subject, want) in cases {
        assert_eq!(
            parse_request(&csr_pem(subject, &[])),
            Err(RequestError::Subject(want)),
            "{what}"
        );
    }
}

#[test]
fn any_attribute_is_refused() {
    // challengePassword (1.2.840.113549.1.9.7) with a UTF8String value.
    let challenge = seq(&[
        oid(&[1, 2, 840, 113_549, 1, 9, 7]),
        set(&[vec![0x0c, 1, b'x']]),
    ]);
    let err = parse_request(&csr_pem(subject("a", &[]), &[challenge])).unwrap_err();
    assert!(matches!(err, RequestError::Attribute { .. }), "{err:?}");
    // An empty extension request is still an extension request.
    let ext_req = seq(&[oid(&[1, 2, 840, 113_549, 1, 9, 14]), set(&[seq(&[])])]);
    assert_eq!(
        parse_request(&csr_pem(subject("a", &[]), &[ext_req])),
        Err(RequestError::ExtensionsRequested)
    );
}

#[test]
fn tampered_signature_is_refused() {
    let good = csr_pem(subject("alice", &["oncall"]), &[]);
    assert!(parse_request(&good).is_ok());
    let mut der = crate::testutil::pem_der(&good);
    let last = der.len() - 1;
    der[last] ^= 1;
    assert!(matches!(
        parse_request(&der),
        Err(RequestError::Signature { .. })
    ));
}

#[test]
fn malformed_inputs_are_refused() {
    let good = String::from_utf8(csr_pem(subject("alice", &[]), &[])).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"hello".to_vec()),
        (
            "wrong label",
            good.replace("CERTIFICATE REQUEST", "CERTIFICATE")
                .into_bytes(),
        ),
        ("two blocks", format!("{good}{good}").into_bytes()),
        ("truncated pem", good.as_bytes()[..good.len() / 2].to_vec()),
        (
            "trailing der",
            [crate::testutil::pem_der(good.as_bytes()), vec![0]].concat(),
        ),
        ("oversized", vec![b'A'; 70_000]),
        ("empty pem", pem("CERTIFICATE REQUEST", &[]).into_bytes()),
    ];
    for (what, input) in cases {
        let err = parse_request(&input).expect_err(what);
        let malformed = matches!(
            err,
            RequestError::TooLarge { .. }
                | RequestError::Pem { .. }
                | RequestError::PemLabel { .. }
                | RequestError::TrailingData
                | RequestError::Der { .. }
        );
        assert!(malformed, "{what}: {err:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request(&bytes);
    }

    #[test]
    fn arbitrary_pem_bodies_never_panic(body in "[A-Za-z0-9+/=\n]{0,400}") {
        let input = format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n");
        let _ = parse_request(input.as_bytes());
    }

    #[test]
    fn mutated_requests_never_panic_nor_change_the_subject(pos in 0usize..400, bit in 0u8..8) {
        let good = csr_pem(subject("alice", &["oncall"]), &[]);
        let mut der = crate::testutil::pem_der(&good);
        let i = pos % der.len();
        der[i] ^= 1 << bit;
        // The outer AlgorithmIdentifier is not signed and x509-parser is lenient about its tag, so a
        // flipped bit there may still parse; what must hold is that the signed subject never changes.
        if let Ok(parsed) = parse_request(&der) {
            prop_assert_eq!(parsed.common_name, "alice");
            prop_assert_eq!(parsed.organizations, vec!["oncall".to_owned()]);
        }
    }

    #[test]
    fn flipped_bits_in_the_signed_part_are_refused(pos in 4usize..80, bit in 0u8..8) {
        let good = csr_pem(subject("alice", &["oncall"]), &[]);
        let mut der = crate::testutil::pem_der(&good);
        der[pos] ^= 1 << bit;
        prop_assert!(parse_request(&der).is_err());
    }
}
