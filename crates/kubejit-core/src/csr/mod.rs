//! CertificateSigningRequest approval: strict PKCS#10 parsing and the pure approve/deny/pending decision.

mod decide;
#[cfg(test)]
mod decide_tests;
mod decision;
mod request;
#[cfg(test)]
mod request_tests;

pub use decide::decide;
pub use decision::{Allowed, CsrFacts, Decision, DenyReason, KUBE_APISERVER_CLIENT_SIGNER};
pub use request::{RequestError, RequestedSubject, SubjectError, parse_request};
