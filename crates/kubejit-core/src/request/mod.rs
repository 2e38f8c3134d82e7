//! AccessRequests and AccessApprovals: the pure decision behind "people ask and approve through API
//! objects; only the controller acts" (docs/requests.md).
//!
//! The controller reads a request, its approvals and the policies, calls [`decide_request`], and
//! then, in this order: writes the verdict to `status` (so `approvedAt` is on record before anything
//! exists), performs the [`RequestAction`], and requeues at `requeue_at`.

mod authorize;
mod certificate;
#[cfg(test)]
mod certificate_tests;
mod count;
mod facts;
mod lifecycle;
mod spec;
#[cfg(test)]
mod tests;

pub use authorize::{Authorized, NotAllowed, authorize};
pub use certificate::{
    CandidateRequest, CertificateVerdict, PendingCertificate, RequestStatusView,
    fit_certificate_ttl, judge_certificate,
};
pub use count::{ApprovalIgnored, MAX_RECORDED_APPROVALS, Quorum, Tally, tally};
pub use facts::{
    ApprovalFacts, CERTIFICATE_REQUEST_NAMESPACE, RequestFacts, RequestSpecError, Target,
};
pub use lifecycle::{
    PhaseReason, Recorded, RequestAction, RequestVerdict, decide_malformed, decide_request,
};
pub use spec::{
    AccessApprovalSpec, AccessRequestSpec, AccessRequestStatus, ApprovalDecision, ApprovalRecord,
    IdentitySpec, Phase, RequestCondition,
};
