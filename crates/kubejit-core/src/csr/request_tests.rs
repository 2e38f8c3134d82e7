//! PKCS#10 parser tests: what Go, OpenSSL and rcgen produce is accepted; every other form an attacker
//! could send (raw DER, text around the block, two blocks, headers, BER, odd parameters, weak keys)
//! is refused with its precise reason; arbitrary and near-valid inputs never panic.

use proptest::prelude::*;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ED25519, SanType,
};

use super::key::KeyAlgorithm;
use super::request::{PemError, RequestError, SubjectError, parse_request};
use crate::testutil::{
    CsrParts, NULL, OID_CN, OID_ECDSA_SHA256, OID_ED25519, OID_O, OID_OU, atv, bit_string, csr_pem,
    name, oid, openssl_csr, pem, pem_der, rsa_key, seq, set, subject, tlv,
};

const LABEL: &str = "CERTIFICATE REQUEST";

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
fn good() -> String {
    String::from_utf8(csr_pem(subject("alice", &["oncall"]), &[])).unwrap()
}

/// Signs `parts` with `key` and armours the result in strict PEM.
fn signed(parts: &CsrParts, key: &KeyPair) -> Vec<u8> {
    pem(LABEL, &parts.sign(key)).into_bytes()
}

fn ed25519() -> (KeyPair, CsrParts) {
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

/// Every PEM form Go's `pem.Decode` might read differently from a strict reader.
#[test]
fn every_loose_pem_form_is_refused() {
    let good = good();
    let body = good
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    let der = pem_der(good.as_bytes());
    let other = String::from_utf8(csr_pem(subject("mallory", &["admins"]), &[])).unwrap();
    let block = |label: &str, body: &str, end: &str| {
        format!("-----BEGIN {label}-----\n{body}\n-----END {end}-----\n")
    };
    let cases: Vec<(&str, Vec<u8>, PemError)> = vec![
        ("empty", vec![], PemError::NotPem),
        ("raw DER", der.clone(), PemError::NotPem),
        (
            "base64 without armour",
            body.clone().into_bytes(),
            PemError::NotPem,
        ),
        (
            "text before",
            format!("hello\n{good}").into_bytes(),
            PemError::LeadingData,
        ),
        (
            "form feed before",
            format!("\u{c}{good}").into_bytes(),
            PemError::LeadingData,
        ),
        (
            "text after",
            format!("{good}trailer\n").into_bytes(),
            PemError::TrailingData,
        ),
        (
            "two blocks",
            format!("{good}{other}").into_bytes(),
            PemError::SeveralBlocks,
        ),
        (
            "two blocks, other first",
            format!("{other}{good}").into_bytes(),
            PemError::SeveralBlocks,
        ),
        (
            "BEGIN marker inside trailing text",
            format!("{good}-----BEGIN").into_bytes(),
            PemError::SeveralBlocks,
        ),
        (
            "raw DER, then a PEM block",
            [der.clone(), b"\n".to_vec(), other.clone().into_bytes()].concat(),
            PemError::LeadingData,
        ),
        (
            "wrong label",
            block("CERTIFICATE", &body, "CERTIFICATE").into_bytes(),
            PemError::Label {
                label: "CERTIFICATE".into(),
            },
        ),
        (
            "old OpenSSL label",
            block("NEW CERTIFICATE REQUEST", &body, "NEW CERTIFICATE REQUEST").into_bytes(),
            PemError::Label {
                label: "NEW CERTIFICATE REQUEST".into(),
            },
        ),
        (
            "mismatched END",
            block(LABEL, &body, "CERTIFICATE").into_bytes(),
            PemError::EndLabel {
                label: "CERTIFICATE".into(),
            },
        ),
        (
            "malformed BEGIN",
            good.replacen("REQUEST-----", "REQUEST----", 1).into_bytes(),
            PemError::BeginLine,
        ),
        (
            "no END",
            good.lines()
                .take_while(|l| !l.starts_with("-----END"))
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            PemError::MissingEnd,
        ),
        (
            "headers",
            block(
                LABEL,
                &format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n{body}"),
                LABEL,
            )
            .into_bytes(),
            PemError::Headers,
        ),
        (
            "blank line in body",
            block(LABEL, &body.replacen('\n', "\n\n", 1), LABEL).into_bytes(),
            PemError::Base64Line { line: 3 },
        ),
        (
            "space in body",
            block(LABEL, &body.replacen('A', " A", 1), LABEL).into_bytes(),
            PemError::Base64Line { line: 2 },
        ),
        (
            "tab in body",
            block(LABEL, &format!("\t{body}"), LABEL).into_bytes(),
            PemError::Base64Line { line: 2 },
        ),
        (
            "URL-safe alphabet",
            block(LABEL, &format!("-_{body}"), LABEL).into_bytes(),
            PemError::Base64Line { line: 2 },
        ),
        (
            "empty body",
            format!("-----BEGIN {LABEL}-----\n-----END {LABEL}-----\n").into_bytes(),
            PemError::Empty,
        ),
    ];
    for (what, input, want) in cases {
        assert_eq!(
            parse_request(&input),
            Err(RequestError::Pem(want)),
            "{what}"
        );
    }
}

#[test]
fn non_canonical_base64_is_refused() {
    // 4 bytes → "AAECAw==": dropping padding, nonzero trailing bits and padding mid-stream.
    for (what, body) in [
        ("missing padding", "MIIBAw"),
        ("nonzero trailing bits", "MIIBAx=="),
        ("padding in the middle", "MA==MIIB"),
        ("too much padding", "MIIBA==="),
    ] {
        let input = format!("-----BEGIN {LABEL}-----\n{body}\n-----END {LABEL}-----\n");
        let err = parse_request(input.as_bytes()).unwrap_err();
        assert!(
            matches!(err, RequestError::Pem(PemError::Base64 { .. })),
            "{what}: {err:?}"
        );
    }
}

/// DER that is not canonical, or not version 1 (0), or has bytes where none belong.
#[test]
fn non_canonical_der_is_refused() {
    let (key, parts) = ed25519();
    let good = parts.sign(&key);
    let armour = |der: &[u8]| pem(LABEL, der).into_bytes();
    let long_form = {
        // 30 82 LL LL: a two-byte length where one byte (0x81) or none would do.
        let mut der = vec![0x30, 0x82, 0x00];
        der.push(u8::try_from(good.len() - 3).unwrap());
        der.extend_from_slice(&good[3..]);
        assert_eq!(good[1], 0x81, "fixture: the request is 128..255 bytes");
        der
    };
    let indefinite = [&[0x30, 0x80][..], &good[3..], &[0, 0]].concat();
    let with = |f: fn(&mut CsrParts)| {
        let mut p = parts.clone();
        f(&mut p);
        armour(&p.sign(&key))
    };
    type Check = fn(&RequestError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("long-form length", armour(&long_form), |e| {
            matches!(e, RequestError::Der { .. })
        }),
        ("indefinite (BER) length", armour(&indefinite), |e| {
            matches!(e, RequestError::Der { .. })
        }),
        (
            "trailing byte after the request",
            armour(&[good.clone(), vec![0]].concat()),
            |e| matches!(e, RequestError::Der { .. }),
        ),
        (
            "version as a non-minimal INTEGER",
            with(|p| p.version = tlv(0x02, &[0, 0])),
            |e| matches!(e, RequestError::Der { .. }),
        ),
        ("version 1", with(|p| p.version = tlv(0x02, &[1])), |e| {
            *e == RequestError::Version { version: 1 }
        }),
        (
            "no attributes field",
            with(|p| p.attributes = vec![]),
            |e| matches!(e, RequestError::Der { .. }),
        ),
        (
            "extra signed field after the attributes",
            with(|p| p.attributes.extend([0x05, 0x00])),
            |e| matches!(e, RequestError::Der { .. }),
        ),
        (
            "long-form length inside the subject",
            with(|p| p.subject = [&[0x30, 0x81][..], &p.subject[1..]].concat()),
            |e| matches!(e, RequestError::Der { .. }),
        ),
        (
            "constructed UTF8String in the subject",
            with(|p| {
                p.subject = name(&[vec![seq(&[oid(OID_CN), tlv(0x2c, &tlv(0x0c, b"alice"))])]])
            }),
            |e| matches!(e, RequestError::Der { .. }),
        ),
    ];
    for (what, input, want) in cases {
        let err = parse_request(&input).unwrap_err();
        assert!(want(&err), "{what}: {err:?}");
    }
    let extra_element = {
        let info = parts.info();
        let sig = rcgen::SigningKey::sign(&key, &info).unwrap();
        let whole = parts.assemble(info, &sig);
        // Re-open the outer SEQUENCE and append a NULL after the signature.
        let inner = &whole[3..];
        let mut der = vec![0x30, 0x81, u8::try_from(inner.len() + 2).unwrap()];
        der.extend_from_slice(inner);
        der.extend([0x05, 0x00]);
        der
    };
    assert!(matches!(
        parse_request(&armour(&extra_element)),
        Err(RequestError::Der { .. })
    ));
}

/// The outer signatureAlgorithm is not signed, so its parameters must be exactly what the RFCs say.
#[test]
fn odd_algorithm_parameters_are_refused() {
    let (key, parts) = ed25519();
    let ecdsa = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let ecdsa_parts = CsrParts::new(&ecdsa, subject("alice", &[]));
    let rsa = rsa_key(2048);
    let rsa_parts = CsrParts::new(&rsa, subject("alice", &[]));
    let hidden = pem(
        LABEL,
        &pem_der(&csr_pem(subject("mallory", &["admins"]), &[])),
    );
    let rsa_sha256 = oid(crate::testutil::OID_RSA_SHA256);
    let cases: Vec<(&str, &KeyPair, CsrParts, &str)> = vec![
        (
            "Ed25519 with NULL",
            &key,
            CsrParts {
                signature_algorithm: seq(&[oid(OID_ED25519), NULL.to_vec()]),
                ..parts.clone()
            },
            "must be absent",
        ),
        (
            "Ed25519 hiding a PEM block",
            &key,
            CsrParts {
                signature_algorithm: seq(&[
                    oid(OID_ED25519),
                    tlv(0x04, format!("\n{hidden}").as_bytes()),
                ]),
                ..parts.clone()
            },
            "must be absent",
        ),
        (
            "ECDSA with NULL",
            &ecdsa,
            CsrParts {
                signature_algorithm: seq(&[oid(OID_ECDSA_SHA256), NULL.to_vec()]),
                ..ecdsa_parts
            },
            "must be absent",
        ),
        (
            "RSA without NULL",
            &rsa,
            CsrParts {
                signature_algorithm: seq(std::slice::from_ref(&rsa_sha256)),
                ..rsa_parts.clone()
            },
            "must be NULL",
        ),
        (
            "RSA with an OCTET STRING",
            &rsa,
            CsrParts {
                signature_algorithm: seq(&[rsa_sha256, tlv(0x04, b"x")]),
                ..rsa_parts
            },
            "must be NULL",
        ),
        (
            "Ed25519 key with parameters",
            &key,
            CsrParts {
                public_key_info: seq(&[
                    seq(&[oid(OID_ED25519), NULL.to_vec()]),
                    bit_string(&[0; 32]),
                ]),
                ..parts.clone()
            },
            "parameters",
        ),
        (
            "signature algorithm of another key type",
            &key,
            CsrParts {
                signature_algorithm: seq(&[oid(OID_ECDSA_SHA256)]),
                ..parts.clone()
            },
            "does not match",
        ),
    ];
    for (what, key, parts, fragment) in cases {
        let err = parse_request(&signed(&parts, key)).unwrap_err();
        assert!(
            matches!(&err, RequestError::KeyEncoding { reason } if reason.contains(fragment)),
            "{what}: {err:?}"
        );
    }
    let with_unused_bits = {
        let info = parts.info();
        let sig = rcgen::SigningKey::sign(&key, &info).unwrap();
        let mut bits = vec![1u8];
        bits.extend(sig);
        seq(&[info, parts.signature_algorithm.clone(), tlv(0x03, &bits)])
    };
    let err = parse_request(pem(LABEL, &with_unused_bits).as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::KeyEncoding { .. } | RequestError::Der { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn unsupported_keys_say_so() {
    let subj = "/CN=alice/O=oncall";
    let x25519 = {
        let (key, parts) = ed25519();
        let spki = seq(&[seq(&[oid(&[1, 3, 101, 110])]), bit_string(&[9; 32])]);
        signed(
            &CsrParts {
                public_key_info: spki,
                ..parts
            },
            &key,
        )
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("RSA 1024", openssl_csr("rsa:1024", &[], subj), "1024 bits"),
        (
            "P-521",
            openssl_csr("ec", &["-pkeyopt", "ec_paramgen_curve:P-521"], subj),
            "P-521",
        ),
        (
            "secp256k1",
            openssl_csr("ec", &["-pkeyopt", "ec_paramgen_curve:secp256k1"], subj),
            "secp256k1",
        ),
        (
            "RSA with SHA-1",
            openssl_csr("rsa:2048", &["-sha1"], subj),
            "1.2.840.113549.1.1.5",
        ),
        (
            "ECDSA with SHA-512",
            openssl_csr(
                "ec",
                &["-pkeyopt", "ec_paramgen_curve:P-256", "-sha512"],
                subj,
            ),
            "1.2.840.10045.4.3.4",
        ),
        ("X25519 key", x25519, "1.3.101.110"),
    ];
    for (what, input, fragment) in cases {
        let err = parse_request(&input).unwrap_err();
        assert!(
            matches!(&err, RequestError::UnsupportedKey { reason } if reason.contains(fragment)),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn tampered_signatures_are_refused() {
    let (key, parts) = ed25519();
    let mut der = parts.sign(&key);
    let last = der.len() - 1;
    der[last] ^= 1;
    assert_eq!(
        parse_request(pem(LABEL, &der).as_bytes()),
        Err(RequestError::Signature)
    );
    // The signature of one subject on another subject.
    let info = parts.info();
    let sig = rcgen::SigningKey::sign(&key, &info).unwrap();
    let other = CsrParts {
        subject: subject("mallory", &["admins"]),
        ..parts.clone()
    };
    let swapped = other.assemble(other.info(), &sig);
    assert_eq!(
        parse_request(pem(LABEL, &swapped).as_bytes()),
        Err(RequestError::Signature)
    );
    let rsa = rsa_key(2048);
    let mut der = CsrParts::new(&rsa, subject("alice", &[])).sign(&rsa);
    let last = der.len() - 1;
    der[last] ^= 1;
    assert_eq!(
        parse_request(pem(LABEL, &der).as_bytes()),
        Err(RequestError::Signature)
    );
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
