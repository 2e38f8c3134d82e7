//! The one reading of `spec.request`: strict PEM, strict DER, an accepted key, a valid self-signature,
//! no attributes, and a CN/O subject. Anything else is refused with the precise reason.
//!
//! Kubernetes reads `spec.request` with Go's `pem.Decode` then `x509.ParseCertificateRequest`; where
//! that reading and another could differ (text around the block, a second block, raw DER, BER, unsigned
//! bytes in odd places) kubejit refuses instead of guessing, so what it approves is what gets signed.

use super::key::{self, KeyAlgorithm, KeyError};
use super::{name, pem, pkcs10};

pub use super::pem::PemError;

/// Requests larger than this are refused before parsing; a real one is well under 1 KiB (RSA 8192: ~3 KiB).
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// PKCS#10 attribute carrying requested extensions (SANs, key usages, …).
const EXTENSION_REQUEST: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// The certificate subject a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSubject {
    pub common_name: String,
    /// Organizations (`O=`), i.e. the Kubernetes groups the certificate would carry, in request order.
    pub organizations: Vec<String>,
}

/// Everything kubejit takes from a PKCS#10 request: the subject and the key the certificate would certify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedCertificate {
    pub subject: RequestedSubject,
    pub key: KeyAlgorithm,
    /// The DER `SubjectPublicKeyInfo`, byte for byte: an issued certificate must carry exactly this.
    pub public_key_info: Vec<u8>,
}

/// Why a PKCS#10 request was refused. Every variant is a denial; none is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request is {len} bytes, more than {MAX_REQUEST_BYTES}")]
    TooLarge { len: usize },
    #[error("request is not exactly one PEM CERTIFICATE REQUEST block: {0}")]
    Pem(#[from] PemError),
    #[error("request is not a strict DER PKCS#10 structure: {reason}")]
    Der { reason: String },
    #[error("request has PKCS#10 version {version}; only version 1 (0) exists")]
    Version { version: u32 },
    #[error("request key or signature is not in its canonical encoding: {reason}")]
    KeyEncoding { reason: String },
    #[error("request key is not supported: {reason}")]
    UnsupportedKey { reason: String },
    #[error("request signature does not verify against its own public key")]
    Signature,
    #[error(
        "request asks for certificate extensions (subject alternative names or others); send none"
    )]
    ExtensionsRequested,
    #[error("request carries the PKCS#10 attribute {oid}; send none")]
    Attribute { oid: String },
    #[error("request subject is not allowed: {0}")]
    Subject(#[from] SubjectError),
}

/// How a subject deviates from "exactly one CN plus zero or more O, one attribute per RDN".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("it has no common name (CN)")]
    NoCommonName,
    #[error("it has more than one common name (CN)")]
    MultipleCommonNames,
    #[error(
        "it has a relative distinguished name with {count} attributes; use one attribute per RDN"
    )]
    MultiValuedRdn { count: usize },
    #[error("it has attribute {oid}; only CN and O are allowed")]
    UnexpectedAttribute { oid: String },
    #[error("attribute {oid} is not a UTF8String, PrintableString or IA5String")]
    NotAString { oid: String },
    #[error("organization (O) {value:?} appears twice")]
    DuplicateOrganization { value: String },
}

/// Parses and verifies `spec.request` (PEM, exactly as described in the module documentation).
pub fn parse_request(bytes: &[u8]) -> Result<RequestedCertificate, RequestError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge { len: bytes.len() });
    }
    let der = pem::decode(bytes)?;
    parse_der(&der)
}

fn parse_der(der: &[u8]) -> Result<RequestedCertificate, RequestError> {
    let der_error = |e: der::Error| RequestError::Der {
        reason: e.to_string(),
    };
    let request = pkcs10::parse(der).map_err(der_error)?;
    if request.version != 0 {
        return Err(RequestError::Version {
            version: request.version,
        });
    }
    // Nothing unsigned is interpreted: the signature is checked before the subject is read.
    let key = key::verify(
        request.public_key_info,
        &request.signature_algorithm,
        request.signature,
        request.info,
    )
    .map_err(|e| match e {
        KeyError::Malformed(reason) => RequestError::KeyEncoding { reason },
        KeyError::Unsupported(reason) => RequestError::UnsupportedKey { reason },
        KeyError::BadSignature => RequestError::Signature,
    })?;
    // Any attribute is refused: an extension request could carry SANs the signer would copy into the
    // certificate, and no other attribute has a use here.
    match pkcs10::first_attribute(request.attributes).map_err(der_error)? {
        None => {}
        Some(oid) if oid == EXTENSION_REQUEST => return Err(RequestError::ExtensionsRequested),
        Some(oid) => {
            return Err(RequestError::Attribute {
                oid: oid.to_string(),
            });
        }
    }
    Ok(RequestedCertificate {
        subject: name::parse_subject(request.subject)?,
        key,
        public_key_info: request.public_key_info.to_vec(),
    })
}
