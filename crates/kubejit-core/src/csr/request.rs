//! Strict parsing of the untrusted PKCS#10 request inside a CSR: subject shape, no attributes, valid signature.

use std::collections::BTreeSet;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME};
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

/// Requests larger than this are refused before parsing; a real one is well under 1 KiB.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

const PEM_LABEL: &str = "CERTIFICATE REQUEST";

/// The only facts kubejit takes from a PKCS#10 request: the certificate subject it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSubject {
    pub common_name: String,
    /// Organizations (`O=`), i.e. the Kubernetes groups the certificate would carry, in request order.
    pub organizations: Vec<String>,
}

/// Why a PKCS#10 request was refused. Every variant is a denial; none is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request is {len} bytes, more than {MAX_REQUEST_BYTES}")]
    TooLarge { len: usize },
    #[error("request is not PEM-encoded CERTIFICATE REQUEST data: {reason}")]
    Pem { reason: String },
    #[error("request PEM block is labelled {label:?}; expected \"CERTIFICATE REQUEST\"")]
    PemLabel { label: String },
    #[error("request has data after the CERTIFICATE REQUEST; send exactly one block")]
    TrailingData,
    #[error("request is not a valid PKCS#10 structure: {reason}")]
    Der { reason: String },
    #[error("request has PKCS#10 version {version}; only version 1 (0) exists")]
    Version { version: u32 },
    #[error("request signature does not verify against its own public key: {reason}")]
    Signature { reason: String },
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
    #[error("attribute {oid} is not a UTF8String, PrintableString, IA5String or NumericString")]
    NotAString { oid: String },
    #[error("organization (O) {value:?} appears twice")]
    DuplicateOrganization { value: String },
}

/// Parses and verifies a request given as PEM (what `spec.request` holds) or raw DER.
pub fn parse_request(bytes: &[u8]) -> Result<RequestedSubject, RequestError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge { len: bytes.len() });
    }
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let der = pem_to_der(bytes)?;
        parse_der(&der)
    } else {
        parse_der(bytes)
    }
}

fn pem_to_der(bytes: &[u8]) -> Result<Vec<u8>, RequestError> {
    let (rest, pem) = parse_x509_pem(bytes).map_err(|e| RequestError::Pem {
        reason: e.to_string(),
    })?;
    if pem.label != PEM_LABEL {
        return Err(RequestError::PemLabel { label: pem.label });
    }
    // A second block could be read differently by another parser; refuse ambiguity.
    if !rest.trim_ascii().is_empty() {
        return Err(RequestError::TrailingData);
    }
    Ok(pem.contents)
}

fn parse_der(der: &[u8]) -> Result<RequestedSubject, RequestError> {
    let (rest, request) =
        X509CertificationRequest::from_der(der).map_err(|e| RequestError::Der {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(RequestError::TrailingData);
    }
    let version = request.certification_request_info.version.0;
    if version != 0 {
        return Err(RequestError::Version { version });
    }
    request
        .verify_signature()
        .map_err(|e| RequestError::Signature {
            reason: e.to_string(),
        })?;
    check_attributes(&request)?;
    Ok(parse_subject(&request.certification_request_info.subject)?)
}

/// Any attribute is refused: an extension request could carry SANs the signer would copy into the
/// certificate, and no other attribute has a use here.
fn check_attributes(request: &X509CertificationRequest<'_>) -> Result<(), RequestError> {
    match request.certification_request_info.iter_attributes().next() {
        None => Ok(()),
        Some(attr) => match attr.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(_) => Err(RequestError::ExtensionsRequested),
            ParsedCriAttribute::ChallengePassword(_) | ParsedCriAttribute::UnsupportedAttribute => {
                Err(RequestError::Attribute {
                    oid: attr.oid.to_id_string(),
                })
            }
        },
    }
}

fn parse_subject(name: &X509Name<'_>) -> Result<RequestedSubject, SubjectError> {
    let mut common_name = None;
    let mut organizations = Vec::new();
    let mut seen = BTreeSet::new();
    for rdn in name.iter_rdn() {
        let count = rdn.iter().count();
        let (Some(atv), 1) = (rdn.iter().next(), count) else {
            return Err(SubjectError::MultiValuedRdn { count });
        };
        let oid = atv.attr_type();
        let value = atv.as_str().map_err(|_| SubjectError::NotAString {
            oid: oid.to_id_string(),
        })?;
        if *oid == OID_X509_COMMON_NAME {
            if common_name.replace(value.to_owned()).is_some() {
                return Err(SubjectError::MultipleCommonNames);
            }
        } else if *oid == OID_X509_ORGANIZATION_NAME {
            if !seen.insert(value) {
                return Err(SubjectError::DuplicateOrganization {
                    value: value.to_owned(),
                });
            }
            organizations.push(value.to_owned());
        } else {
            return Err(SubjectError::UnexpectedAttribute {
                oid: oid.to_id_string(),
            });
        }
    }
    let common_name = common_name.ok_or(SubjectError::NoCommonName)?;
    Ok(RequestedSubject {
        common_name,
        organizations,
    })
}
