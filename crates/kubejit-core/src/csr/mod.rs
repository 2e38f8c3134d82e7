//! CertificateSigningRequest approval: strict PKCS#10 parsing, the pure approve/deny/pending decision,
//! and the check of an issued certificate against what was approved.

pub mod attestation;
mod decide;
#[cfg(test)]
mod decide_tests;
mod decision;
mod issued;
mod key;
pub mod key_attestation;
#[cfg(test)]
pub(crate) mod keys_tests;
#[cfg(test)]
mod malformed_tests;
mod name;
pub(crate) mod pem;
mod pkcs10;
mod request;
#[cfg(test)]
mod request_tests;

pub use decide::decide;
pub use decision::{Allowed, CsrFacts, Decision, DenyReason, KUBE_APISERVER_CLIENT_SIGNER};
pub use issued::{CertificateMismatch, check_issued};
pub use key::{KeyAlgorithm, RSA_MAX_BITS, RSA_MIN_BITS};
pub use key_attestation::{AnnotationError, AttestationChain, KeyTrust, RootsError};
pub use request::{
    PemError, RequestError, RequestedCertificate, RequestedSubject, SubjectError, parse_request,
};
