//! The annotation reader and the vendor root bundle: exactly two strict blocks, bounded; roots parse.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::testutil::{PivVendor, pem};

const NOW: i64 = 1_900_000_000;

#[test]
fn two_blocks_in_order_are_read() {
    let v = PivVendor::new(NOW - 10, NOW + 10);
    let att = vec![0x30, 0x03, 0x02, 0x01, 0x01];
    let chain = parse_annotation(&v.annotation(&att)).unwrap();
    assert_eq!(chain.attestation, att);
    assert_eq!(chain.device, v.device_der);
    // CRLF line ends, as some tools write, are the same text.
    let crlf = v.annotation(&att).replace('\n', "\r\n");
    assert_eq!(parse_annotation(&crlf).unwrap(), chain);
}

/// (what, annotation, whether the error is the expected one)
type Case = (&'static str, String, fn(&AnnotationError) -> bool);

#[test]
fn anything_else_is_refused() {
    let a = pem("CERTIFICATE", &[1, 2, 3]);
    let b = pem("CERTIFICATE", &[4, 5, 6]);
    let key = pem("PRIVATE KEY", &[4, 5, 6]);
    let cases: Vec<Case> = vec![
        ("empty", String::new(), |e| {
            matches!(e, AnnotationError::BlockCount { count: 0 })
        }),
        ("one block", a.clone(), |e| {
            matches!(e, AnnotationError::BlockCount { count: 1 })
        }),
        ("three blocks", format!("{a}{b}{a}"), |e| {
            matches!(e, AnnotationError::BlockCount { count: 3 })
        }),
        ("duplicate", format!("{a}{a}"), |e| {
            matches!(e, AnnotationError::Duplicate)
        }),
        ("a key block", format!("{a}{key}"), |e| {
            matches!(
                e,
                AnnotationError::Pem {
                    which: "device",
                    ..
                }
            )
        }),
        ("text before", format!("x{a}{b}"), |e| {
            matches!(
                e,
                AnnotationError::Pem {
                    which: "attestation",
                    ..
                }
            )
        }),
        ("text after", format!("{a}{b}x"), |e| {
            matches!(
                e,
                AnnotationError::Pem {
                    which: "device",
                    ..
                }
            )
        }),
        (
            "oversized",
            format!("{a}{b}{}", "\n".repeat(MAX_ANNOTATION_BYTES)),
            |e| matches!(e, AnnotationError::TooLarge { .. }),
        ),
    ];
    for (what, value, want) in cases {
        let got = parse_annotation(&value).unwrap_err();
        assert!(want(&got), "{what}: {got:?}");
    }
}

#[test]
fn root_bundles_parse_or_fail_at_start() {
    let v = PivVendor::new(NOW - 10, NOW + 10);
    let w = PivVendor::new(NOW - 10, NOW + 10);
    let both = KeyTrust::from_pem(&format!("{}\n{}", v.root_pem, w.root_pem)).unwrap();
    assert_eq!(both.roots(), [v.root_der.clone(), w.root_der.clone()]);
    assert_eq!(KeyTrust::from_pem(""), Err(RootsError::Empty));
    assert_eq!(
        KeyTrust::from_pem(&pem("CERTIFICATE", &[1, 2])),
        Err(RootsError::Der { index: 0 })
    );
    assert!(matches!(
        KeyTrust::from_pem(&format!("{}junk", v.root_pem)),
        Err(RootsError::Pem { index: 0, .. })
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(value in "(-----BEGIN CERTIFICATE-----\n|[A-Za-z0-9+/=\n]{0,80}|-----END CERTIFICATE-----\n){0,8}") {
        let _ = parse_annotation(&value);
    }
}
