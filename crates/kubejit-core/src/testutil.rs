//! Shared test fixtures: policies from JSON and hand-built PKCS#10 requests signed with real keys.
//!
//! rcgen's `DistinguishedName` holds one value per attribute type, so subjects with several `O=`,
//! repeated CNs or multi-valued RDNs are DER-encoded here and signed with an rcgen key pair.
//! Test support only: built for core's own tests and, with the `testutil` feature, for other
//! crates' tests (the CSR differential test makes its openssl requests and PEM here too).

// Test fixtures: a panic is how a broken fixture fails its test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]

use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    PublicKeyData, SigningKey,
};

use crate::policy::{AccessPolicySpec, NamedPolicy};

/// Parses and validates a policy written as JSON (what the CRD would hold).
pub fn policy(name: &str, spec: serde_json::Value) -> NamedPolicy {
    let spec: AccessPolicySpec = serde_json::from_value(spec).unwrap();
    NamedPolicy::parse(name, &spec).unwrap()
}

pub const OID_CN: &[u64] = &[2, 5, 4, 3];
pub const OID_O: &[u64] = &[2, 5, 4, 10];
pub const OID_OU: &[u64] = &[2, 5, 4, 11];

pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(body);
    out
}

pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

pub fn set(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x31, &parts.concat())
}

pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

pub fn utf8(s: &str) -> Vec<u8> {
    tlv(0x0c, s.as_bytes())
}

/// One AttributeTypeAndValue.
pub fn atv(attr: &[u64], value: &str) -> Vec<u8> {
    seq(&[oid(attr), utf8(value)])
}

/// A subject Name: one RDN (a SET) per inner slice.
pub fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
    seq(&rdns.iter().map(|atvs| set(atvs)).collect::<Vec<_>>())
}

/// The usual subject: one CN, then one RDN per O.
pub fn subject(cn: &str, orgs: &[&str]) -> Vec<u8> {
    let mut rdns = vec![vec![atv(OID_CN, cn)]];
    rdns.extend(orgs.iter().map(|o| vec![atv(OID_O, o)]));
    name(&rdns)
}

/// Builds a PEM CSR over `subject` with the raw `attributes` (contents of the `[0]` SET), signed
/// with a fresh Ed25519 key.
pub fn csr_pem(subject: Vec<u8>, attributes: &[Vec<u8>]) -> Vec<u8> {
    pem("CERTIFICATE REQUEST", &csr_der(subject, attributes)).into_bytes()
}

/// The DER inside a (strict) PEM block.
pub fn pem_der(pem: &[u8]) -> Vec<u8> {
    crate::csr::pem::decode(pem).unwrap()
}

pub fn csr_der(subject: Vec<u8>, attributes: &[Vec<u8>]) -> Vec<u8> {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut parts = CsrParts::new(&key, subject);
    parts.attributes = tlv(0xa0, &attributes.concat());
    parts.sign(&key)
}

pub const NULL: [u8; 2] = [0x05, 0x00];

/// The fields of a CertificationRequest as DER TLVs, for tests that change one of them and sign.
#[derive(Debug, Clone)]
pub struct CsrParts {
    pub version: Vec<u8>,
    pub subject: Vec<u8>,
    pub public_key_info: Vec<u8>,
    /// The whole `[0]` attributes TLV.
    pub attributes: Vec<u8>,
    /// The outer signatureAlgorithm TLV (not covered by the signature).
    pub signature_algorithm: Vec<u8>,
}

impl CsrParts {
    /// Version 0, no attributes, the key's SPKI and its usual signature algorithm.
    pub fn new(key: &KeyPair, subject: Vec<u8>) -> Self {
        Self {
            version: tlv(0x02, &[0]),
            subject,
            public_key_info: key.subject_public_key_info(),
            attributes: tlv(0xa0, &[]),
            signature_algorithm: signature_algorithm(key),
        }
    }

    /// The signed CertificationRequestInfo.
    pub fn info(&self) -> Vec<u8> {
        seq(&[
            self.version.clone(),
            self.subject.clone(),
            self.public_key_info.clone(),
            self.attributes.clone(),
        ])
    }

    /// The CertificationRequest, signed by `key`.
    pub fn sign(&self, key: &KeyPair) -> Vec<u8> {
        let info = self.info();
        let signature = key.sign(&info).unwrap();
        self.assemble(info, &signature)
    }

    /// Puts `info`, the signature algorithm and `signature` together as they are.
    pub fn assemble(&self, info: Vec<u8>, signature: &[u8]) -> Vec<u8> {
        seq(&[
            info,
            self.signature_algorithm.clone(),
            bit_string(signature),
        ])
    }
}

pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(bytes);
    tlv(0x03, &body)
}

pub const OID_ED25519: &[u64] = &[1, 3, 101, 112];
pub const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
pub const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
pub const OID_RSA_SHA256: &[u64] = &[1, 2, 840, 113_549, 1, 1, 11];

/// The AlgorithmIdentifier an rcgen key signs with, encoded as the RFCs say.
pub fn signature_algorithm(key: &KeyPair) -> Vec<u8> {
    let alg = key.algorithm();
    if alg == &PKCS_ED25519 {
        seq(&[oid(OID_ED25519)])
    } else if alg == &PKCS_ECDSA_P256_SHA256 {
        seq(&[oid(OID_ECDSA_SHA256)])
    } else if alg == &PKCS_ECDSA_P384_SHA384 {
        seq(&[oid(OID_ECDSA_SHA384)])
    } else if alg == &PKCS_RSA_SHA256 {
        seq(&[oid(OID_RSA_SHA256), NULL.to_vec()])
    } else {
        panic!("no test encoding for {alg:?}")
    }
}

/// Runs `openssl` (as `openssl req` users would) and returns its stdout.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (tests use it to make RSA and P-521 requests)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A PEM request made by `openssl req` with a fresh key of `newkey` (e.g. `rsa:2048`, `ec`), extra
/// arguments such as `-pkeyopt ec_paramgen_curve:P-384` and `-sha384`.
pub fn openssl_csr(newkey: &str, extra: &[&str], subj: &str) -> Vec<u8> {
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        newkey,
        "-nodes",
        "-keyout",
        "/dev/null",
        "-subj",
        subj,
    ];
    args.extend_from_slice(extra);
    openssl(&args)
}

/// A fresh RSA key rcgen can sign with (ring cannot generate RSA keys; openssl can).
pub fn rsa_key(bits: u32) -> KeyPair {
    let bits = format!("rsa_keygen_bits:{bits}");
    let pem = openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &bits]);
    KeyPair::from_pkcs8_pem_and_sign_algo(std::str::from_utf8(&pem).unwrap(), &PKCS_RSA_SHA256)
        .unwrap()
}

/// Minimal PEM armour (base64, 64 columns) so tests need no extra crate.
pub fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A test "vendor" for PIV attestation: a root CA (configuration in the tests, as Yubico's root is in
/// production), a device f9 certificate it issued, and attestation certificates that device makes.
pub struct PivVendor {
    /// The root, PEM: what the controller's vendor root bundle holds.
    pub root_pem: String,
    pub root_der: Vec<u8>,
    pub device_der: Vec<u8>,
    device: rcgen::Issuer<'static, KeyPair>,
    not_before: i64,
}

/// Yubico's PIN/touch policy extension.
pub const OID_YUBICO_POLICY: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 8];

fn piv_params(cn: &str, ca: bool, not_before: i64, not_after: i64) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    if ca {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    p
}

impl std::fmt::Debug for PivVendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivVendor").finish_non_exhaustive()
    }
}

impl PivVendor {
    /// A root and a device certificate valid from `not_before`; the device's until `device_not_after`.
    pub fn new(not_before: i64, device_not_after: i64) -> Self {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root_params = piv_params(
            "Test PIV Root CA",
            true,
            not_before,
            not_before + 86_400 * 3650,
        );
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root = rcgen::Issuer::new(root_params, root_key);
        let device_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let device_params = piv_params("Test PIV Attestation", true, not_before, device_not_after);
        let device_cert = device_params.signed_by(&device_key, &root).unwrap();
        Self {
            root_pem: root_cert.pem(),
            root_der: root_cert.der().to_vec(),
            device_der: device_cert.der().to_vec(),
            device: rcgen::Issuer::new(device_params, device_key),
            not_before,
        }
    }

    /// The device's attestation certificate (DER) for the key whose SPKI is `spki`, with PIN/touch
    /// policy bytes `policy` (Yubico's: PIN 1 never, 2 once, 3 always; touch 1 never, 2 always,
    /// 3 cached), valid until `not_after`.
    pub fn attest(&self, spki: &[u8], policy: Option<[u8; 2]>, not_after: i64) -> Vec<u8> {
        let key = rcgen::SubjectPublicKeyInfo::from_der(spki).unwrap();
        let mut p = piv_params(
            "YubiKey PIV Attestation 9a",
            false,
            self.not_before,
            not_after,
        );
        if let Some(bytes) = policy {
            p.custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    OID_YUBICO_POLICY,
                    bytes.to_vec(),
                ));
        }
        p.signed_by(&key, &self.device).unwrap().der().to_vec()
    }

    /// The `kubejit.dev/key-attestation` annotation for `attestation`: it, then the device certificate.
    pub fn annotation(&self, attestation: &[u8]) -> String {
        format!(
            "{}{}",
            pem("CERTIFICATE", attestation),
            pem("CERTIFICATE", &self.device_der)
        )
    }
}
