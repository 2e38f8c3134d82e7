//! A fresh Ed25519 key (or a token-held P-256 key) and the PKCS#10 request for it: exactly one CN and one O per group, nothing else.
//!
//! rcgen's `DistinguishedName` holds one value per attribute type, but Kubernetes reads every `O` as a
//! group, so the request body is encoded here (a dozen lines of DER) and signed with rcgen's key.

use base64::Engine;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, SigningKey};
use secrecy::SecretString;

use crate::CredentialError;

const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x0a];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent as RFC 5758 requires.
const OID_ECDSA_SHA256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

/// A private key generated on this machine; only its public half ever leaves it.
#[derive(Debug)]
pub struct LocalKey {
    pair: KeyPair,
}

impl LocalKey {
    pub fn generate() -> Result<Self, CredentialError> {
        let pair = KeyPair::generate_for(&PKCS_ED25519).map_err(CredentialError::GenerateKey)?;
        Ok(Self { pair })
    }

    /// The key pair, for signing a request with [`request_pem`].
    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The raw 32-byte Ed25519 public key, for comparing with the issued certificate.
    pub fn public_key_raw(&self) -> &[u8] {
        self.pair.public_key_raw()
    }

    /// PKCS#8 PEM, wrapped so that it cannot end up in a log by accident.
    pub fn private_key_pem(&self) -> SecretString {
        SecretString::from(self.pair.serialize_pem())
    }

    /// A PEM `CERTIFICATE REQUEST` with subject CN=`common_name`, O=each group, no extensions.
    pub fn request_pem(
        &self,
        common_name: &str,
        groups: &[&str],
    ) -> Result<String, CredentialError> {
        request_pem(&self.pair, common_name, groups)
    }
}

/// The same request signed by any key rcgen can drive: a local Ed25519 key or a token-held ECDSA
/// P-256 key (whose signature the token computes).
pub fn request_pem(
    key: &impl SigningKey,
    common_name: &str,
    groups: &[&str],
) -> Result<String, CredentialError> {
    let signature_algorithm = if key.algorithm() == &PKCS_ED25519 {
        OID_ED25519
    } else if key.algorithm() == &PKCS_ECDSA_P256_SHA256 {
        OID_ECDSA_SHA256
    } else {
        return Err(CredentialError::SignRequest(
            rcgen::Error::UnsupportedSignatureAlgorithm,
        ));
    };
    let mut rdns = vec![rdn(OID_CN, common_name)];
    rdns.extend(groups.iter().map(|g| rdn(OID_O, g)));
    let info = tlv(
        0x30,
        &[
            tlv(0x02, &[0]),
            tlv(0x30, &rdns.concat()),
            key.subject_public_key_info(),
            tlv(0xa0, &[]),
        ]
        .concat(),
    );
    let signature = key.sign(&info).map_err(CredentialError::SignRequest)?;
    let der = tlv(
        0x30,
        &[
            info,
            tlv(0x30, signature_algorithm),
            tlv(0x03, &[&[0u8][..], &signature].concat()),
        ]
        .concat(),
    );
    Ok(pem("CERTIFICATE REQUEST", &der))
}

/// One relative distinguished name: SET { SEQUENCE { type, UTF8String value } }.
fn rdn(oid: &[u8], value: &str) -> Vec<u8> {
    tlv(
        0x31,
        &tlv(0x30, &[oid, &tlv(0x0c, value.as_bytes())].concat()),
    )
}

/// DER tag-length-value with definite length (short or long form).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// PEM armour around `der` (64-column base64).
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use kubejit_core::csr::parse_request;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn request_carries_cn_and_every_group_and_verifies() {
        let key = LocalKey::generate().unwrap();
        let pem = key
            .request_pem("alice", &["oncall-debuggers", "oncall-payments"])
            .unwrap();
        let subject = parse_request(pem.as_bytes()).unwrap().subject;
        assert_eq!(subject.common_name, "alice");
        assert_eq!(
            subject.organizations,
            ["oncall-debuggers", "oncall-payments"]
        );
    }

    #[test]
    fn request_without_groups_and_with_long_names() {
        let key = LocalKey::generate().unwrap();
        let long = "g".repeat(200);
        let pem = key.request_pem("bob", &[long.as_str()]).unwrap();
        let subject = parse_request(pem.as_bytes()).unwrap().subject;
        assert_eq!(subject.organizations, [long]);
        let bare = parse_request(key.request_pem("bob", &[]).unwrap().as_bytes())
            .unwrap()
            .subject;
        assert!(bare.organizations.is_empty());
    }

    #[test]
    fn private_key_is_pkcs8_and_redacted() {
        let key = LocalKey::generate().unwrap();
        let pem = key.private_key_pem();
        assert!(
            pem.expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(!format!("{pem:?}").contains("PRIVATE"));
        assert_eq!(key.public_key_raw().len(), 32);
    }

    #[test]
    fn ecdsa_p256_request_verifies_and_other_algorithms_are_refused() {
        let p256 = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let pem = request_pem(&p256, "alice", &["g"]).unwrap();
        let parsed = parse_request(pem.as_bytes()).unwrap();
        assert_eq!(parsed.subject.common_name, "alice");
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert!(matches!(
            request_pem(&p384, "alice", &[]),
            Err(CredentialError::SignRequest(_))
        ));
    }

    #[test]
    fn long_form_lengths() {
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
