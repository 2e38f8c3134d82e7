//! PKCS#10 parser tests: what Go, OpenSSL and rcgen produce is accepted, subjects and attributes are
//! checked, and arbitrary or near-valid inputs never panic (the malformed forms: `malformed_tests`).

use proptest::prelude::*;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ED25519, SanType,
};

use super::key::KeyAlgorithm;
use super::request::{RequestError, SubjectError, parse_request};
use crate::testutil::{
    CsrParts, OID_CN, OID_O, OID_OU, atv, csr_pem, name, oid, openssl_csr, pem, pem_der, rsa_key,
    seq, set, subject, tlv,
};

pub(super) const LABEL: &str = "CERTIFICATE REQUEST";

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

/// A canonical Ed25519 request for alice in group oncall, as PEM text.
pub(super) fn good() -> String {
    String::from_utf8(csr_pem(subject("alice", &["oncall"]), &[])).unwrap()
}

/// Signs `parts` with `key` and armours the result in strict PEM.
pub(super) fn signed(parts: &CsrParts, key: &KeyPair) -> Vec<u8> {
    pem(LABEL, &parts.sign(key)).into_bytes()
}

pub(super) fn ed25519() -> (KeyPair, CsrParts) {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let parts = CsrParts::new(&key, subject("alice", &["oncall"]));
    (key, parts)
}

#[test]
fn what_go_openssl_and_rcgen_write_is_accepted() {
    let ok = |what: &str, input: &[u8], key: KeyAlgorithm, cn: &str, orgs: &[&str]| {
        let req = parse_request(input).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(req.key, key, "{what}");
        assert_eq!(req.subject.common_name, cn, "{what}");
        assert_eq!(req.subject.organizations, orgs, "{what}");
    };
    let rc = |alg| rcgen_csr("alice", Some("oncall"), vec![], alg);
    ok(
        "rcgen Ed25519",
        rc(&PKCS_ED25519).as_bytes(),
        KeyAlgorithm::Ed25519,
        "alice",
        &["oncall"],
    );
    ok(
        "rcgen P-256",
        rc(&PKCS_ECDSA_P256_SHA256).as_bytes(),
        KeyAlgorithm::EcdsaP256,
        "alice",
        &["oncall"],
    );
    ok(
        "rcgen P-384",
        rc(&PKCS_ECDSA_P384_SHA384).as_bytes(),
        KeyAlgorithm::EcdsaP384,
        "alice",
        &["oncall"],
    );
    let subj = "/CN=alice/O=oncall/O=payments";
    let orgs = ["oncall", "payments"];
    let rsa2048 = KeyAlgorithm::Rsa { bits: 2048 };
    ok(
        "openssl RSA 2048",
        &openssl_csr("rsa:2048", &[], subj),
        rsa2048,
        "alice",
        &orgs,
    );
    ok(
        "openssl RSA 2048 SHA-512",
        &openssl_csr("rsa:2048", &["-sha512"], subj),
        rsa2048,
        "alice",
        &orgs,
    );
    ok(
        "openssl RSA 3072 SHA-384",
        &openssl_csr("rsa:3072", &["-sha384"], subj),
        KeyAlgorithm::Rsa { bits: 3072 },
        "alice",
        &orgs,
    );
    let p256 = ["-pkeyopt", "ec_paramgen_curve:P-256"];
    ok(
        "openssl P-256",
        &openssl_csr("ec", &p256, subj),
        KeyAlgorithm::EcdsaP256,
        "alice",
        &orgs,
    );
    let p384 = ["-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"];
    ok(
        "openssl P-384",
        &openssl_csr("ec", &p384, subj),
        KeyAlgorithm::EcdsaP384,
        "alice",
        &orgs,
    );
    ok(
        "openssl Ed25519",
        &openssl_csr("ed25519", &[], subj),
        KeyAlgorithm::Ed25519,
        "alice",
        &orgs,
    );
    let key = rsa_key(2048);
    let parts = CsrParts::new(&key, subject("alice", &["oncall"]));
    ok(
        "hand-built RSA 2048",
        &signed(&parts, &key),
        rsa2048,
        "alice",
        &["oncall"],
    );
}

#[test]
fn surrounding_whitespace_and_crlf_are_accepted() {
    let good = good();
    for (what, input) in [
        (
            "leading and trailing whitespace",
            format!("\n \t{good}\n\n  "),
        ),
        ("CRLF line endings", good.replace('\n', "\r\n")),
        ("no final newline", good.trim_end().to_owned()),
    ] {
        let req = parse_request(input.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(req.subject.common_name, "alice", "{what}");
    }
}

#[test]
fn the_public_key_info_is_returned_byte_for_byte() {
    let (key, parts) = ed25519();
    let req = parse_request(&signed(&parts, &key)).unwrap();
    assert_eq!(req.public_key_info, parts.public_key_info);
}

#[test]
fn sans_are_refused() {
    let sans = vec![SanType::DnsName("api.example.com".try_into().unwrap())];
    let err = parse_request(rcgen_csr("alice", None, sans, &PKCS_ED25519).as_bytes()).unwrap_err();
    assert_eq!(err, RequestError::ExtensionsRequested);
}

#[test]
fn several_organizations_in_order() {
    let req = parse_request(&csr_pem(subject("alice", &["b", "a"]), &[])).unwrap();
    assert_eq!(req.subject.organizations, ["b", "a"]);
}

#[test]
fn odd_subjects_are_refused() {
    let printable = |s: &[u8]| seq(&[set(&[seq(&[oid(OID_CN), tlv(0x13, s)])])]);
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
            "empty RDN",
            name(&[vec![atv(OID_CN, "a")], vec![]]),
            SubjectError::MultiValuedRdn { count: 0 },
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
        (
            "T61String CN",
            seq(&[set(&[seq(&[oid(OID_CN), tlv(0x14, b"a")])])]),
            SubjectError::NotAString {
                oid: "2.5.4.3".into(),
            },
        ),
        (
            "PrintableString with *",
            printable(b"a*"),
            SubjectError::NotAString {
                oid: "2.5.4.3".into(),
            },
        ),
        (
            "UTF8String not UTF-8",
            seq(&[set(&[seq(&[oid(OID_CN), tlv(0x0c, &[0xff])])])]),
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
    let ok = parse_request(&csr_pem(printable(b"alice"), &[])).unwrap();
    assert_eq!(ok.subject.common_name, "alice");
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
fn oversized_requests_are_refused_before_parsing() {
    assert_eq!(
        parse_request(&vec![b'A'; 70_000]),
        Err(RequestError::TooLarge { len: 70_000 })
    );
}

/// Re-armours `der` with `width`-column lines and the given line ending.
fn armour_with(der: &[u8], width: usize, eol: &str) -> String {
    let one_line: String = pem(LABEL, der)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let lines: Vec<&str> = one_line
        .as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {LABEL}-----{eol}{}{eol}-----END {LABEL}-----{eol}",
        lines.join(eol)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request(&bytes);
    }

    #[test]
    fn arbitrary_pem_bodies_never_panic(body in "[A-Za-z0-9+/=\n:-]{0,400}") {
        let input = format!("-----BEGIN {LABEL}-----\n{body}\n-----END {LABEL}-----\n");
        let _ = parse_request(input.as_bytes());
    }

    /// One flipped bit anywhere in a canonical request's DER: refused (strict DER, signed info,
    /// exact algorithm identifiers), never a different accepted request, never a panic.
    #[test]
    fn every_one_bit_change_of_the_der_is_refused(pos in 0usize..400, bit in 0u8..8) {
        let mut der = pem_der(good().as_bytes());
        let i = pos % der.len();
        der[i] ^= 1 << bit;
        prop_assert!(parse_request(pem(LABEL, &der).as_bytes()).is_err());
    }

    /// Flipped bits in the PEM text never panic and never yield another subject or key.
    #[test]
    fn pem_text_mutations_never_change_the_reading(pos in 0usize..2000, bit in 0u8..8) {
        let good = good();
        let want = parse_request(good.as_bytes()).unwrap();
        let mut text = good.into_bytes();
        let i = pos % text.len();
        text[i] ^= 1 << bit;
        if let Ok(got) = parse_request(&text) {
            prop_assert_eq!(got, want);
        }
    }

    /// A canonical request round-trips: any line width, LF or CRLF, same DER and same reading.
    #[test]
    fn canonical_requests_round_trip(
        cn in "[a-z][a-z0-9.@-]{0,30}",
        orgs in proptest::collection::btree_set("[a-z][a-z0-9:-]{0,20}", 0..4),
        width in 1usize..=76,
        crlf in any::<bool>(),
    ) {
        let orgs: Vec<&str> = orgs.iter().map(String::as_str).collect();
        let der = crate::testutil::csr_der(subject(&cn, &orgs), &[]);
        let text = armour_with(&der, width, if crlf { "\r\n" } else { "\n" });
        let req = parse_request(text.as_bytes()).unwrap();
        prop_assert_eq!(&req.subject.common_name, &cn);
        prop_assert_eq!(&req.subject.organizations, &orgs);
        prop_assert_eq!(super::pem::decode(text.as_bytes()).unwrap(), der);
    }
}
