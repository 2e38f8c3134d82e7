//! A CSR a Manual policy allows is approved by the controller, and only under an approved
//! AccessRequest of the same requester (`kubejit_core::request::judge_certificate`); people no
//! longer hold the signer's approve verb.

use kubejit_core::request::{
    CERTIFICATE_REQUEST_NAMESPACE, CertificateVerdict, PendingCertificate, judge_certificate,
};
use kubejit_core::{Allowed, CsrFacts, Decision, DenyReason, NamedPolicy};
use time::OffsetDateTime;

use super::requests::RequestCache;

/// Turns a `Pending` decision into an approval, a denial (the certificate would outlive the
/// request) or a `Pending` that says it awaits an approved AccessRequest. Other decisions pass.
pub fn settle(
    decision: Decision,
    facts: &CsrFacts,
    requests: &RequestCache,
    policies: &[NamedPolicy],
    now: OffsetDateTime,
) -> Decision {
    let Decision::Pending {
        allowed,
        approvers,
        message,
    } = decision
    else {
        return decision;
    };
    let requester = facts.requester();
    let csr = PendingCertificate {
        requester: &requester,
        groups: &allowed.groups,
        expiration_seconds: allowed.ttl.as_secs(),
        incident: facts.incident.as_deref(),
    };
    let candidates = requests.candidates(&facts.username);
    match judge_certificate(csr, &candidates, policies, now) {
        CertificateVerdict::Approve {
            request,
            policy,
            approved_by,
            expires_at,
        } => {
            let message = format!(
                "approved under AccessRequest {CERTIFICATE_REQUEST_NAMESPACE}/{request} of policy {policy}, approved by {}, which ends at {expires_at}: {}",
                approved_by.join(", "),
                summary(&allowed)
            );
            let allowed = Allowed { policy, ..allowed };
            Decision::Approve { allowed, message }
        }
        CertificateVerdict::OutlivesRequest { message } => Decision::Deny {
            reason: DenyReason::TtlExceedsRequest,
            message,
        },
        CertificateVerdict::Awaiting { message: why } => Decision::Pending {
            allowed,
            approvers,
            message: format!("{why}; {message}"),
        },
    }
}

fn summary(allowed: &Allowed) -> String {
    let groups: Vec<&str> = allowed.groups.iter().map(|g| g.as_str()).collect();
    format!(
        "CN {}, groups [{}], TTL {}",
        allowed.common_name,
        groups.join(", "),
        allowed.ttl
    )
}
