//! The AccessRequest facts (`accessRequested`, `accessApproved`, `accessDenied`, `accessWithdrawn`,
//! `accessTimedOut`, `accessRevoked`): what the request controller attests to, one struct each.
//!
//! Each fact happens at most once per request, so its event id can be derived from the request's uid
//! and the fact ([`crate::AuditEvent::once`]): a record written twice (a crash between the write and
//! the status that says it was written) carries one id, which the sinks and the spool replay
//! recognise.

use crate::{Actor, ObjectRef, Timestamp, Verdict};

/// The AccessRequest a fact is about, and what it asks for as the controller validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedAccess {
    /// The AccessRequest (`kind` `AccessRequest`); its namespace is the access's.
    pub request: ObjectRef,
    /// The requester, as admission stamped it.
    pub requester: String,
    /// Who receives the access: users (the requester for a certificate) and groups (for a certificate
    /// request, the certificate groups).
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// `Role/oncall-debug`, `ClusterRole/view`; `None` for a certificate request.
    pub role: Option<String>,
    /// The policy that allows it, when one does.
    pub policy: Option<String>,
    pub incident: Option<String>,
    /// The requester's justification (`spec.reason`).
    pub reason: String,
    /// The TTL, counted from approval, when a rule decided it.
    pub ttl_seconds: Option<u64>,
}

/// `accessRequested`: the controller saw a new request (first look).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequested {
    pub access: RequestedAccess,
    /// `pending` (waiting for approvers) or `allowed` (an Auto rule: approved at once).
    pub decision: Verdict,
    /// `status.reason` it went to (`AwaitingApproval`, `AutoApproved`, …).
    pub phase_reason: String,
}

/// `accessApproved`: the rule's approvals arrived (or an Auto rule approved it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessApproved {
    pub controller: String,
    pub access: RequestedAccess,
    /// The distinct approvers whose approval counted, in order; empty for an Auto rule.
    pub approvers: Vec<String>,
    /// `approvedAt` + TTL.
    pub expires_at: Timestamp,
    /// `ApprovalsReceived` or `AutoApproved`.
    pub phase_reason: String,
}

/// `accessDenied`, `accessWithdrawn`, `accessTimedOut`, `accessRevoked`: the request ended before or
/// instead of its TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEnded {
    pub controller: String,
    pub access: RequestedAccess,
    /// `status.reason` (`DeniedByApprover`, `NotAllowed`, `WithdrawnByRequester`, …).
    pub phase_reason: String,
    /// `status.message`, for people.
    pub message: String,
}

impl RequestedAccess {
    pub(crate) fn fill(self, r: &mut crate::event::Fields) {
        r.subject = (!self.users.is_empty()).then(|| self.users.join(","));
        r.users = self.users;
        r.groups = self.groups;
        r.namespace.clone_from(&self.request.namespace);
        r.role = self.role;
        r.policy = self.policy;
        r.incident = self.incident;
        r.reason = Some(self.reason);
        r.ttl_seconds = self.ttl_seconds;
        r.object = Some(self.request);
    }
}

impl AccessRequested {
    pub(crate) fn fill(self, r: &mut crate::event::Fields) -> Actor {
        let requester = self.access.requester.clone();
        self.access.fill(r);
        r.decision = Some(self.decision);
        r.decision_reason = Some(self.phase_reason);
        Actor::user(requester)
    }
}

impl AccessApproved {
    pub(crate) fn fill(self, r: &mut crate::event::Fields) -> Actor {
        let by = approved_by(&self.approvers);
        self.access.fill(r);
        // The justification stays first; who approved follows it, for people.
        r.reason = Some(match r.reason.take() {
            Some(reason) => format!("{reason} ({by})"),
            None => by,
        });
        r.decision = Some(Verdict::Allowed);
        r.decision_reason = Some(self.phase_reason);
        r.expires_at = Some(self.expires_at);
        r.approvers = self.approvers;
        Actor::controller(self.controller)
    }
}

/// `approved by oscar, olga` or `approved by rule (Auto)`.
pub(crate) fn approved_by(approvers: &[String]) -> String {
    if approvers.is_empty() {
        "approved by rule (Auto)".to_owned()
    } else {
        format!("approved by {}", approvers.join(", "))
    }
}

impl AccessEnded {
    pub(crate) fn fill(self, r: &mut crate::event::Fields, decision: Verdict) -> Actor {
        self.access.fill(r);
        r.reason = Some(self.message);
        r.decision = Some(decision);
        r.decision_reason = Some(self.phase_reason);
        Actor::controller(self.controller)
    }
}
