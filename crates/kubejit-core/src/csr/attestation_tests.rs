//! PIV attestation: a chain made here (root → device → attestation) passes; every broken link,
//! another key, a missing or weak PIN/touch policy, and garbage are refused.

#![allow(clippy::unwrap_used)]

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};

use super::*;

const NOW: i64 = 1_900_000_000;
const POLICY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 8];
const SERIAL_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 7];

fn params(cn: &str, ca: bool, not_after: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    p
}

/// A vendor root and the f9 device certificate it issued.
struct Vendor {
    root_der: Vec<u8>,
    device_der: Vec<u8>,
    device: Issuer<'static, KeyPair>,
}

fn vendor(device_not_after: i64) -> Vendor {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let root_params = params("Test PIV Root CA", true, NOW + 86_400 * 365);
    let root_cert = root_params.self_signed(&root_key).unwrap();
    let root = Issuer::new(root_params, root_key);
    let device_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let device_params = params("Test PIV Attestation", true, device_not_after);
    let device_cert = device_params.signed_by(&device_key, &root).unwrap();
    Vendor {
        root_der: root_cert.der().to_vec(),
        device_der: device_cert.der().to_vec(),
        device: Issuer::new(device_params, device_key),
    }
}

/// The slot's attestation certificate for `slot_key`, with policy extension bytes `policy`.
fn attest(issuer: &Issuer<'_, KeyPair>, slot_key: &KeyPair, policy: Option<Vec<u8>>) -> Vec<u8> {
    let mut p = params("YubiKey PIV Attestation 9a", false, NOW + 86_400);
    if let Some(bytes) = policy {
        p.custom_extensions
            .push(CustomExtension::from_oid_content(POLICY_OID, bytes));
    }
    // INTEGER 12345678
    p.custom_extensions.push(CustomExtension::from_oid_content(
        SERIAL_OID,
        vec![0x02, 0x04, 0x00, 0xbc, 0x61, 0x4e],
    ));
    p.signed_by(slot_key, issuer).unwrap().der().to_vec()
}

/// (name, attestation DER, device DER, CSR SPKI, policy, expected refusal)
type Case = (
    &'static str,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    HardwareKeyPolicy,
    AttestationError,
);

fn policy(roots: Vec<Vec<u8>>, require_touch: bool) -> HardwareKeyPolicy {
    HardwareKeyPolicy {
        roots,
        require_pin: true,
        require_touch,
    }
}

#[test]
fn a_chain_to_the_root_for_the_csr_key_passes() {
    let v = vendor(NOW + 86_400);
    let slot = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let att = attest(&v.device, &slot, Some(vec![2, 2]));
    let got = verify_piv_attestation(
        &att,
        &v.device_der,
        &slot.subject_public_key_info(),
        &policy(vec![v.root_der.clone()], true),
        NOW,
    );
    assert_eq!(
        got,
        Ok(Attested {
            pin: PinPolicy::Once,
            touch: TouchPolicy::Always,
            serial: Some(12_345_678),
        })
    );
}

#[test]
fn every_broken_link_is_refused() {
    let v = vendor(NOW + 86_400);
    let other_vendor = vendor(NOW + 86_400);
    let slot = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = slot.subject_public_key_info();
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let good = attest(&v.device, &slot, Some(vec![2, 2]));
    let roots = vec![v.root_der.clone()];
    let expired = vendor(NOW - 10);
    let cases: Vec<Case> = vec![
        (
            "no roots",
            good.clone(),
            v.device_der.clone(),
            spki.clone(),
            policy(vec![], true),
            AttestationError::NoRoots,
        ),
        (
            "device from another vendor",
            attest(&other_vendor.device, &slot, Some(vec![2, 2])),
            other_vendor.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::UntrustedDevice,
        ),
        (
            // Same device name, another device key: the forged attestation must not pass.
            "attestation signed by another device",
            attest(&other_vendor.device, &slot, Some(vec![2, 2])),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::NotSignedByDevice,
        ),
        (
            "another key than the CSR's",
            good.clone(),
            v.device_der.clone(),
            other_key.subject_public_key_info(),
            policy(roots.clone(), true),
            AttestationError::OtherKey,
        ),
        (
            "expired device certificate",
            attest(&expired.device, &slot, Some(vec![2, 2])),
            expired.device_der.clone(),
            spki.clone(),
            policy(vec![expired.root_der.clone()], true),
            AttestationError::Validity { which: "device" },
        ),
        (
            "no policy extension",
            attest(&v.device, &slot, None),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::NoPolicy,
        ),
        (
            "PIN policy never",
            attest(&v.device, &slot, Some(vec![1, 2])),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::NoPin,
        ),
        (
            "touch policy never",
            attest(&v.device, &slot, Some(vec![2, 1])),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::NoTouch,
        ),
        (
            "unknown policy values",
            attest(&v.device, &slot, Some(vec![9, 2])),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::UnknownPolicy(vec![9, 2]),
        ),
        (
            "short policy",
            attest(&v.device, &slot, Some(vec![2])),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::UnknownPolicy(vec![2]),
        ),
        (
            "garbage attestation",
            b"not a certificate".to_vec(),
            v.device_der.clone(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::Parse {
                which: "attestation",
            },
        ),
        (
            "trailing bytes after the device certificate",
            good.clone(),
            [v.device_der.clone(), vec![0]].concat(),
            spki.clone(),
            policy(roots.clone(), true),
            AttestationError::Parse { which: "device" },
        ),
    ];
    for (name, att, dev, spki, policy, want) in cases {
        assert_eq!(
            verify_piv_attestation(&att, &dev, &spki, &policy, NOW),
            Err(want),
            "{name}"
        );
    }
    // Touch not required: a key without touch policy passes.
    let no_touch = attest(&v.device, &slot, Some(vec![3, 1]));
    let got = verify_piv_attestation(&no_touch, &v.device_der, &spki, &policy(roots, false), NOW);
    assert_eq!(
        got.map(|a| (a.pin, a.touch)),
        Ok((PinPolicy::Always, TouchPolicy::Never))
    );
}

proptest::proptest! {
    /// The certificates come from the requester: no bytes make the check panic, and none pass.
    #[test]
    fn arbitrary_bytes_never_panic_or_pass(
        att in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        dev in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
    ) {
        let v = vendor(NOW + 86_400);
        let got = verify_piv_attestation(&att, &dev, &[], &policy(vec![v.root_der], false), NOW);
        proptest::prop_assert!(got.is_err());
    }
}
