//! The request's public key and self-signature: which keys kubejit accepts, in which exact encoding.
//!
//! Accepted: Ed25519; ECDSA on P-256 or P-384 signed with SHA-256 or SHA-384; RSA of 2048 to 8192 bits
//! signed with PKCS#1 v1.5 and SHA-256/384/512 — what Go, OpenSSL (`openssl req`) and rcgen produce.
//! Algorithm parameters are exactly what the RFCs require (absent for Ed25519 and ECDSA signatures,
//! NULL for RSA), because the outer signatureAlgorithm is not covered by the signature: a field no one
//! checks is a place to hide bytes another parser may read.

use std::fmt;

use der::asn1::{AnyRef, BitStringRef, UintRef};
use der::oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use ring::signature::{self, VerificationAlgorithm};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// RSA moduli kubejit accepts, in bits (ring verifies the same range).
pub const RSA_MIN_BITS: usize = 2048;
pub const RSA_MAX_BITS: usize = 8192;

/// The kind of key a request certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    Rsa { bits: usize },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

/// Why the key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not the exact encoding the algorithm's RFC prescribes.
    Malformed(String),
    /// Well-formed, but a key type, size, curve or signature algorithm kubejit does not accept.
    Unsupported(String),
    /// The signature does not verify against the request's own key.
    BadSignature,
}

/// Checks the key and the signature over `info`; returns the key's algorithm.
pub fn verify(
    public_key_info: &[u8],
    signature_algorithm: &AlgorithmIdentifierRef<'_>,
    signature: BitStringRef<'_>,
    info: &[u8],
) -> Result<KeyAlgorithm, KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(public_key_info)
        .map_err(|e| KeyError::Malformed(format!("subject public key info: {e}")))?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Malformed("public key has unused bits".to_owned()))?;
    let kind = key_algorithm(&spki.algorithm, key)?;
    let algorithm = signature_verifier(kind, signature_algorithm)?;
    let signature = signature
        .as_bytes()
        .ok_or_else(|| KeyError::Malformed("signature has unused bits".to_owned()))?;
    signature::UnparsedPublicKey::new(algorithm, key)
        .verify(info, signature)
        .map_err(|_| KeyError::BadSignature)?;
    Ok(kind)
}

fn key_algorithm(alg: &AlgorithmIdentifierRef<'_>, key: &[u8]) -> Result<KeyAlgorithm, KeyError> {
    let malformed = |what: &str| Err(KeyError::Malformed(what.to_owned()));
    if alg.oid == ED25519 {
        return match (alg.parameters, key.len()) {
            (None, 32) => Ok(KeyAlgorithm::Ed25519),
            (Some(_), _) => malformed("Ed25519 key algorithm has parameters; they must be absent"),
            (None, _) => malformed("Ed25519 public key is not 32 bytes"),
        };
    }
    if alg.oid == EC_PUBLIC_KEY {
        let curve = alg
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let (kind, len) = match curve {
            Some(P256) => (KeyAlgorithm::EcdsaP256, 65),
            Some(P384) => (KeyAlgorithm::EcdsaP384, 97),
            Some(other) => {
                return Err(KeyError::Unsupported(format!(
                    "ECDSA curve {} is not supported; use P-256 or P-384",
                    curve_name(&other)
                )));
            }
            None => return malformed("ECDSA key parameters are not a named curve"),
        };
        if key.len() != len || key.first() != Some(&0x04) {
            return malformed("ECDSA public key is not an uncompressed point of its curve");
        }
        return Ok(kind);
    }
    if alg.oid == RSA {
        if !alg.parameters.is_some_and(AnyRef::is_null) {
            return malformed("RSA key algorithm parameters must be NULL");
        }
        let bits = rsa_modulus_bits(key)
            .map_err(|e| KeyError::Malformed(format!("RSA public key: {e}")))?;
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(KeyError::Unsupported(format!(
                "RSA key of {bits} bits is not supported; use {RSA_MIN_BITS} to {RSA_MAX_BITS} bits"
            )));
        }
        return Ok(KeyAlgorithm::Rsa { bits });
    }
    Err(KeyError::Unsupported(format!(
        "key algorithm {} is not supported; use Ed25519, ECDSA P-256/P-384 or RSA {RSA_MIN_BITS}-{RSA_MAX_BITS}",
        alg.oid
    )))
}

/// Bit length of the modulus of an `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_modulus_bits(key: &[u8]) -> der::Result<usize> {
    let mut reader = SliceReader::new(key)?;
    let modulus = reader.sequence(|r| {
        let modulus = UintRef::decode(r)?;
        let _exponent = UintRef::decode(r)?;
        Ok(modulus)
    })?;
    reader.finish(())?;
    let bytes = modulus.as_bytes();
    let leading = bytes.first().map_or(8, |b| b.leading_zeros() as usize);
    Ok(bytes.len().saturating_mul(8).saturating_sub(leading))
}

/// What an AlgorithmIdentifier's parameters must be.
#[derive(Debug, Clone, Copy)]
enum Params {
    Absent,
    Null,
}

const SIGNATURES: [ObjectIdentifier; 6] = [
    ED25519,
    ECDSA_SHA256,
    ECDSA_SHA384,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
];

/// The ring verifier for this key and signature algorithm, checking the algorithm's parameters.
fn signature_verifier(
    key: KeyAlgorithm,
    alg: &AlgorithmIdentifierRef<'_>,
) -> Result<&'static dyn VerificationAlgorithm, KeyError> {
    use KeyAlgorithm::{EcdsaP256, EcdsaP384, Ed25519, Rsa};
    let (verifier, params): (&'static dyn VerificationAlgorithm, Params) = match (key, alg.oid) {
        (Ed25519, ED25519) => (&signature::ED25519, Params::Absent),
        (EcdsaP256, ECDSA_SHA256) => (&signature::ECDSA_P256_SHA256_ASN1, Params::Absent),
        (EcdsaP256, ECDSA_SHA384) => (&signature::ECDSA_P256_SHA384_ASN1, Params::Absent),
        (EcdsaP384, ECDSA_SHA256) => (&signature::ECDSA_P384_SHA256_ASN1, Params::Absent),
        (EcdsaP384, ECDSA_SHA384) => (&signature::ECDSA_P384_SHA384_ASN1, Params::Absent),
        (Rsa { .. }, RSA_SHA256) => (&signature::RSA_PKCS1_2048_8192_SHA256, Params::Null),
        (Rsa { .. }, RSA_SHA384) => (&signature::RSA_PKCS1_2048_8192_SHA384, Params::Null),
        (Rsa { .. }, RSA_SHA512) => (&signature::RSA_PKCS1_2048_8192_SHA512, Params::Null),
        (_, oid) if SIGNATURES.contains(&oid) => {
            return Err(KeyError::Malformed(format!(
                "signature algorithm {oid} does not match the {key} key"
            )));
        }
        (_, oid) => {
            return Err(KeyError::Unsupported(format!(
                "signature algorithm {oid} is not supported with a {key} key; use {}",
                supported_signatures(key)
            )));
        }
    };
    match (params, alg.parameters) {
        (Params::Absent, None) => Ok(verifier),
        (Params::Null, Some(p)) if p.is_null() => Ok(verifier),
        (Params::Absent, Some(_)) => Err(KeyError::Malformed(format!(
            "signatureAlgorithm parameters must be absent for a {key} signature"
        ))),
        (Params::Null, _) => Err(KeyError::Malformed(format!(
            "signatureAlgorithm parameters must be NULL for a {key} signature"
        ))),
    }
}

fn supported_signatures(key: KeyAlgorithm) -> &'static str {
    match key {
        KeyAlgorithm::Ed25519 => "Ed25519",
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => "ecdsa-with-SHA256 or SHA384",
        KeyAlgorithm::Rsa { .. } => "sha256/384/512WithRSAEncryption",
    }
}

fn curve_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.132.0.35" => "P-521 (1.3.132.0.35)".to_owned(),
        "1.3.132.0.10" => "secp256k1 (1.3.132.0.10)".to_owned(),
        other => other.to_owned(),
    }
}
