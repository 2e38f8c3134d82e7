//! Shared test fixtures: policies from JSON and hand-built PKCS#10 requests signed with real keys.
//!
//! rcgen's `DistinguishedName` holds one value per attribute type, so subjects with several `O=`,
//! repeated CNs or multi-valued RDNs are DER-encoded here and signed with an rcgen key pair.

use rcgen::{KeyPair, PKCS_ED25519, PublicKeyData, SigningKey};

use crate::policy::{AccessPolicySpec, NamedPolicy};

/// Parses and validates a policy written as JSON (what the CRD would hold).
pub fn policy(name: &str, spec: serde_json::Value) -> NamedPolicy {
    let spec: AccessPolicySpec = serde_json::from_value(spec).unwrap();
    NamedPolicy::parse(name, &spec).unwrap()
}

pub const OID_CN: &[u64] = &[2, 5, 4, 3];
pub const OID_O: &[u64] = &[2, 5, 4, 10];
pub const OID_OU: &[u64] = &[2, 5, 4, 11];

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
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

/// The DER inside a PEM block.
pub fn pem_der(pem: &[u8]) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem).unwrap().1.contents
}

pub fn csr_der(subject: Vec<u8>, attributes: &[Vec<u8>]) -> Vec<u8> {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let info = seq(&[
        tlv(0x02, &[0]),
        subject,
        key.subject_public_key_info(),
        tlv(0xa0, &attributes.concat()),
    ]);
    let signature = key.sign(&info).unwrap();
    let mut bits = vec![0u8];
    bits.extend(signature);
    seq(&[info, seq(&[oid(&[1, 3, 101, 112])]), tlv(0x03, &bits)])
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
