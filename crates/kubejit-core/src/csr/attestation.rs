//! YubiKey PIV attestation, checked as a pure function: the slot's attestation certificate chains
//! through the device's f9 certificate to a configured vendor root, attests exactly the CSR's key,
//! and carries a PIN and touch policy the AccessPolicy accepts.
//!
//! The chain is: vendor root (configuration, e.g. Yubico's PIV root CA) → f9 device certificate (one
//! per YubiKey, issued at manufacture) → attestation certificate (made on the device for the key in
//! one slot; its public key *is* that key). Only ECDSA P-256/P-384 with SHA-256/384 and RSA PKCS#1
//! v1.5 with SHA-256 signatures are accepted; anything else is refused, not skipped.

use ring::signature::{self, VerificationAlgorithm};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid::Oid;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;

/// Yubico's PIN/touch policy extension (two bytes: PIN policy, touch policy).
const OID_YUBICO_POLICY: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 8];
/// Yubico's device serial number extension (an INTEGER).
const OID_YUBICO_SERIAL: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 7];

/// When the device asks for the PIN before using the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PinPolicy {
    Never,
    Once,
    Always,
}

/// When the device asks for a touch before using the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TouchPolicy {
    Never,
    Always,
    /// One touch is good for 15 seconds.
    Cached,
}

/// What the AccessPolicy requires of an attested key (`keys: hardware`).
#[derive(Debug, Clone)]
pub struct HardwareKeyPolicy {
    /// DER certificates of the vendor roots to chain to (configuration, not code).
    pub roots: Vec<Vec<u8>>,
    pub require_pin: bool,
    pub require_touch: bool,
}

/// What a verified attestation says about the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attested {
    pub pin: PinPolicy,
    pub touch: TouchPolicy,
    pub serial: Option<u64>,
}

impl Attested {
    /// Whether the key's PIN and touch policy are at least what is required.
    pub fn meets(&self, require_pin: bool, require_touch: bool) -> Result<(), AttestationError> {
        if require_pin && self.pin == PinPolicy::Never {
            return Err(AttestationError::NoPin);
        }
        if require_touch && self.touch == TouchPolicy::Never {
            return Err(AttestationError::NoTouch);
        }
        Ok(())
    }
}

impl std::fmt::Display for Attested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pin = match self.pin {
            PinPolicy::Never => "never",
            PinPolicy::Once => "once",
            PinPolicy::Always => "always",
        };
        let touch = match self.touch {
            TouchPolicy::Never => "never",
            TouchPolicy::Always => "always",
            TouchPolicy::Cached => "cached",
        };
        match self.serial {
            Some(serial) => write!(f, "device serial {serial}, PIN {pin}, touch {touch}"),
            None => write!(f, "PIN {pin}, touch {touch}"),
        }
    }
}

/// Why an attestation was refused. Every variant is a denial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("the {which} certificate is not DER X.509")]
    Parse { which: &'static str },
    #[error("no vendor root is configured; hardware keys cannot be verified")]
    NoRoots,
    #[error("the device certificate is not signed by a configured vendor root")]
    UntrustedDevice,
    #[error("the attestation certificate is not signed by the device certificate")]
    NotSignedByDevice,
    #[error("the {which} certificate uses a signature algorithm kubejit does not accept ({oid})")]
    Algorithm { which: &'static str, oid: String },
    #[error("the {which} certificate is not valid at this time")]
    Validity { which: &'static str },
    #[error("the attested key is not the key in the certificate request")]
    OtherKey,
    #[error("the attestation carries no PIN/touch policy")]
    NoPolicy,
    #[error("the attestation's PIN/touch policy bytes {0:?} are not ones kubejit knows")]
    UnknownPolicy(Vec<u8>),
    #[error("the key can be used without a PIN (PIN policy never); the policy requires a PIN")]
    NoPin,
    #[error(
        "the key can be used without a touch (touch policy never); the policy requires a touch"
    )]
    NoTouch,
}

fn parse<'a>(der: &'a [u8], which: &'static str) -> Result<X509Certificate<'a>, AttestationError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) | Err(_) => Err(AttestationError::Parse { which }),
    }
}

/// Verifies `attestation` (slot certificate) and `device` (f9 certificate) for the CSR whose DER
/// SubjectPublicKeyInfo is `csr_spki`, at Unix time `now`.
pub fn verify_piv_attestation(
    attestation: &[u8],
    device: &[u8],
    csr_spki: &[u8],
    policy: &HardwareKeyPolicy,
    now: i64,
) -> Result<Attested, AttestationError> {
    if policy.roots.is_empty() {
        return Err(AttestationError::NoRoots);
    }
    let att = parse(attestation, "attestation")?;
    let dev = parse(device, "device")?;
    let mut trusted = false;
    for root in &policy.roots {
        let root = parse(root, "vendor root")?;
        if root.subject().as_raw() == dev.issuer().as_raw()
            && signed_by(&dev, &root, "device")?
            && valid_at(&root, now)
        {
            trusted = true;
        }
    }
    if !trusted {
        return Err(AttestationError::UntrustedDevice);
    }
    if att.issuer().as_raw() != dev.subject().as_raw() || !signed_by(&att, &dev, "attestation")? {
        return Err(AttestationError::NotSignedByDevice);
    }
    for (cert, which) in [(&dev, "device"), (&att, "attestation")] {
        if !valid_at(cert, now) {
            return Err(AttestationError::Validity { which });
        }
    }
    if att.public_key().raw != csr_spki {
        return Err(AttestationError::OtherKey);
    }
    let attested = read_policy(&att)?;
    attested.meets(policy.require_pin, policy.require_touch)?;
    Ok(attested)
}

fn valid_at(cert: &X509Certificate<'_>, now: i64) -> bool {
    let v = cert.validity();
    v.not_before.timestamp() <= now && now < v.not_after.timestamp()
}

/// Whether `issuer`'s key signed `cert`; an algorithm outside the accepted set is an error.
fn signed_by(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    which: &'static str,
) -> Result<bool, AttestationError> {
    let oid = &cert.signature_algorithm.algorithm;
    let key = issuer.public_key().subject_public_key.data.as_ref();
    let refuse = || AttestationError::Algorithm {
        which,
        oid: oid.to_id_string(),
    };
    // The curve follows from the issuer's point size (uncompressed: 65 bytes P-256, 97 P-384).
    let sha256 = *oid == OID_SIG_ECDSA_WITH_SHA256;
    let sha384 = *oid == OID_SIG_ECDSA_WITH_SHA384;
    let algorithm: &dyn VerificationAlgorithm = match (sha256, sha384, key.len()) {
        (true, _, 65) => &signature::ECDSA_P256_SHA256_ASN1,
        (true, _, 97) => &signature::ECDSA_P384_SHA256_ASN1,
        (_, true, 65) => &signature::ECDSA_P256_SHA384_ASN1,
        (_, true, 97) => &signature::ECDSA_P384_SHA384_ASN1,
        (true, _, _) | (_, true, _) => return Err(refuse()),
        (false, false, _) if *oid == OID_PKCS1_SHA256WITHRSA => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        (false, false, _) => return Err(refuse()),
    };
    Ok(signature::UnparsedPublicKey::new(algorithm, key)
        .verify(
            cert.tbs_certificate.as_ref(),
            cert.signature_value.data.as_ref(),
        )
        .is_ok())
}

fn read_policy(att: &X509Certificate<'_>) -> Result<Attested, AttestationError> {
    let policy_oid = Oid::from(OID_YUBICO_POLICY).map_err(|_| AttestationError::NoPolicy)?;
    let serial_oid = Oid::from(OID_YUBICO_SERIAL).map_err(|_| AttestationError::NoPolicy)?;
    let mut bytes = None;
    let mut serial = None;
    for ext in att.extensions() {
        if ext.oid == policy_oid {
            bytes = Some(ext.value.to_vec());
        } else if ext.oid == serial_oid {
            serial = x509_parser::der_parser::der::parse_der_integer(ext.value)
                .ok()
                .and_then(|(_, v)| v.as_u64().ok());
        }
    }
    let bytes = bytes.ok_or(AttestationError::NoPolicy)?;
    let (pin, touch) = match bytes.as_slice() {
        [pin, touch] => (*pin, *touch),
        _ => return Err(AttestationError::UnknownPolicy(bytes)),
    };
    let pin = match pin {
        1 => PinPolicy::Never,
        2 => PinPolicy::Once,
        3 => PinPolicy::Always,
        _ => return Err(AttestationError::UnknownPolicy(bytes)),
    };
    let touch = match touch {
        1 => TouchPolicy::Never,
        2 => TouchPolicy::Always,
        3 => TouchPolicy::Cached,
        _ => return Err(AttestationError::UnknownPolicy(bytes)),
    };
    Ok(Attested { pin, touch, serial })
}

#[cfg(test)]
#[path = "attestation_tests.rs"]
mod tests;
