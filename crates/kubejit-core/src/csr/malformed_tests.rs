//! The attacker's table for `spec.request`: every form a lenient reader and Go's could read differently
//! (raw DER, text around the block, two blocks, headers, loose base64, BER, odd algorithm parameters)
//! and every key kubejit does not accept is refused, with its precise reason.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

use super::request::{PemError, RequestError, parse_request};
use super::request_tests::{LABEL, ed25519, good, signed};
use crate::testutil::{
    CsrParts, NULL, OID_CN, OID_ECDSA_SHA256, OID_ED25519, OID_RSA_SHA256, bit_string, csr_pem,
    name, oid, openssl_csr, pem, pem_der, rsa_key, seq, subject, tlv,
};

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
                expected: LABEL,
            },
        ),
        (
            "old OpenSSL label",
            block("NEW CERTIFICATE REQUEST", &body, "NEW CERTIFICATE REQUEST").into_bytes(),
            PemError::Label {
                label: "NEW CERTIFICATE REQUEST".into(),
                expected: LABEL,
            },
        ),
        (
            "mismatched END",
            block(LABEL, &body, "CERTIFICATE").into_bytes(),
            PemError::EndLabel {
                label: "CERTIFICATE".into(),
                expected: LABEL,
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
fn labels_in_messages_are_bounded_and_escaped() {
    let label = format!("\u{202e}{}", "X".repeat(10_000));
    let input = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
    let message = parse_request(input.as_bytes()).unwrap_err().to_string();
    assert!(message.len() < 200, "{message}");
    assert!(message.contains("\\u{202e}"), "{message}");
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
    let rsa_sha256 = oid(OID_RSA_SHA256);
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
    // Key size is judged before the signature, so a made-up modulus of the right length will do.
    let rsa_modulus = |modulus: &[u8]| {
        let (key, parts) = ed25519();
        let public = seq(&[tlv(0x02, modulus), tlv(0x02, &[1, 0, 1])]);
        let algorithm = seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 1]), NULL.to_vec()]);
        let spki = seq(&[algorithm, bit_string(&public)]);
        signed(
            &CsrParts {
                public_key_info: spki,
                signature_algorithm: seq(&[oid(OID_RSA_SHA256), NULL.to_vec()]),
                ..parts
            },
            &key,
        )
    };
    let bits_2047 = [&[0x7f][..], &[0xff; 255]].concat();
    let bits_8193 = [&[0x01][..], &[0xff; 1024]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("RSA 1024", openssl_csr("rsa:1024", &[], subj), "1024 bits"),
        ("RSA 2047", rsa_modulus(&bits_2047), "2047 bits"),
        ("RSA 8193", rsa_modulus(&bits_8193), "8193 bits"),
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
    // 2048 bits is accepted as a size: this made-up key only fails at the signature.
    let bits_2048 = [&[0x00, 0x80][..], &[0xff; 255]].concat();
    assert_eq!(
        parse_request(&rsa_modulus(&bits_2048)),
        Err(RequestError::Signature)
    );
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
