//! The AccessRequest state machine: given the request, the policies, the approvals, what the
//! controller recorded and `now`, the next phase, why, and what the controller must do.
//!
//! Pending → Approved → Active → Expired, or Denied, Withdrawn, Revoked, TimedOut. Terminal phases
//! never change. Revocation always wins: whatever ends a request is checked before anything that
//! would grant, so a controller that was down for a while never grants what has since been refused.

use std::fmt;

use time::OffsetDateTime;

use super::authorize::{Authorized, authorize};
use super::count::{Quorum, Tally, tally};
use super::facts::{ApprovalFacts, RequestFacts, RequestSpecError, Target};
use super::spec::{ApprovalRecord, Phase};
use crate::policy::{Approval, NamedPolicy};
use crate::ttl::Ttl;

/// What the controller recorded last time (from `status`) and what it sees in the cluster now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// `status.phase`; `None` before the controller's first look.
    pub phase: Option<Phase>,
    /// `status.approvedAt`: once recorded, the TTL's start never moves.
    pub approved_at: Option<OffsetDateTime>,
    /// The access exists: the request's RoleBinding is present, or a certificate was approved
    /// under it.
    pub granted: bool,
}

/// Why the request is in its phase. Stable strings: they go to `status.reason` and audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhaseReason {
    AwaitingApproval,
    AutoApproved,
    ApprovalsReceived,
    Granted,
    TtlElapsed,
    NotAllowed,
    Malformed,
    DeniedByApprover,
    WithdrawnByRequester,
    RevokedByApprover,
    PolicyNoLongerAllows,
    AccessRemoved,
    ApprovalsLost,
    ApprovalTimeout,
    /// The request had already ended; nothing changes.
    AlreadyEnded,
}

impl PhaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "AwaitingApproval",
            Self::AutoApproved => "AutoApproved",
            Self::ApprovalsReceived => "ApprovalsReceived",
            Self::Granted => "Granted",
            Self::TtlElapsed => "TtlElapsed",
            Self::NotAllowed => "NotAllowed",
            Self::Malformed => "Malformed",
            Self::DeniedByApprover => "DeniedByApprover",
            Self::WithdrawnByRequester => "WithdrawnByRequester",
            Self::RevokedByApprover => "RevokedByApprover",
            Self::PolicyNoLongerAllows => "PolicyNoLongerAllows",
            Self::AccessRemoved => "AccessRemoved",
            Self::ApprovalsLost => "ApprovalsLost",
            Self::ApprovalTimeout => "ApprovalTimeout",
            Self::AlreadyEnded => "AlreadyEnded",
        }
    }
}

impl fmt::Display for PhaseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the controller must do to make the cluster match the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Nothing,
    /// Create the access (RoleBinding owned by the request, or approve the requester's CSR) ending
    /// at `expires_at`.
    Grant {
        expires_at: OffsetDateTime,
    },
    /// Remove the access now (delete the RoleBinding; a certificate cannot be recalled and ends at
    /// its own expiry, which is never later than the request's).
    Revoke,
}

/// The next state of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestVerdict {
    pub phase: Phase,
    pub reason: PhaseReason,
    pub message: String,
    /// The rule that allowed it, when one did.
    pub authorized: Option<Authorized>,
    pub approvals: Vec<ApprovalRecord>,
    pub approved_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub action: RequestAction,
    /// When to look again even if nothing changes (timeout or expiry); `None` for terminal phases.
    pub requeue_at: Option<OffsetDateTime>,
}

impl RequestVerdict {
    fn new(phase: Phase, reason: PhaseReason, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason,
            message: bounded(message.into()),
            authorized: None,
            approvals: Vec::new(),
            approved_at: None,
            expires_at: None,
            action: RequestAction::Nothing,
            requeue_at: None,
        }
    }

    /// Ends the request, removing whatever access exists.
    fn end(phase: Phase, reason: PhaseReason, message: impl Into<String>, rec: Recorded) -> Self {
        let mut v = Self::new(phase, reason, message);
        v.action = revoke_if(rec.granted);
        v
    }
}

/// The longest `status.message` the CRD accepts, in characters.
pub const MAX_MESSAGE: usize = 1024;

/// Messages quote policy refusals and names; cut to what the CRD accepts so the status stays writable.
fn bounded(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE {
        return message;
    }
    let mut cut: String = message
        .chars()
        .take(MAX_MESSAGE.saturating_sub(1))
        .collect();
    cut.push('…');
    cut
}

fn revoke_if(granted: bool) -> RequestAction {
    if granted {
        RequestAction::Revoke
    } else {
        RequestAction::Nothing
    }
}

/// A request whose spec does not validate: Denied, and nothing is ever granted for it.
pub fn decide_malformed(error: &RequestSpecError, rec: Recorded) -> RequestVerdict {
    if let Some(ended) = ended(rec) {
        return ended;
    }
    RequestVerdict::end(
        Phase::Denied,
        PhaseReason::Malformed,
        error.to_string(),
        rec,
    )
}

fn ended(rec: Recorded) -> Option<RequestVerdict> {
    let phase = rec.phase.filter(|p| p.is_terminal())?;
    Some(RequestVerdict::end(
        phase,
        PhaseReason::AlreadyEnded,
        format!("the request is {phase}"),
        rec,
    ))
}

/// Decides a request. Pure: the same inputs give the same verdict, whatever the order of `approvals`.
pub fn decide_request(
    request: &RequestFacts,
    policies: &[NamedPolicy],
    approvals: &[ApprovalFacts],
    rec: Recorded,
    now: OffsetDateTime,
) -> RequestVerdict {
    if let Some(ended) = ended(rec) {
        return ended;
    }
    let was_approved = matches!(rec.phase, Some(Phase::Approved | Phase::Active));
    if request.deleting {
        let msg = format!("withdrawn by {}", request.requester.username);
        return RequestVerdict::end(
            Phase::Withdrawn,
            PhaseReason::WithdrawnByRequester,
            msg,
            rec,
        );
    }
    let authorized = match authorize(request, policies) {
        Ok(a) => a,
        Err(refusal) if was_approved => {
            let msg = format!("no longer allowed: {refusal}");
            return RequestVerdict::end(
                Phase::Revoked,
                PhaseReason::PolicyNoLongerAllows,
                msg,
                rec,
            );
        }
        Err(refusal) => {
            let msg = refusal.to_string();
            return RequestVerdict::end(Phase::Denied, PhaseReason::NotAllowed, msg, rec);
        }
    };
    let counted = count(request, &authorized, approvals);
    let mut verdict = judge(request, &counted, rec, now);
    verdict.approvals = counted.tally.records;
    verdict.authorized = Some(authorized);
    verdict
}

/// The rule that allowed the request, the approvals counted under it, and its approval deadline.
struct Counted<'a> {
    authorized: &'a Authorized,
    tally: Tally,
    deadline: Option<OffsetDateTime>,
}

/// Counts the approvals under the rule that allowed the request.
fn count<'a>(
    request: &RequestFacts,
    authorized: &'a Authorized,
    approvals: &[ApprovalFacts],
) -> Counted<'a> {
    let (approvers, required, deadline) = match &authorized.approval {
        Approval::Auto => (None, 0, None),
        Approval::Manual {
            approvers,
            approvals,
            timeout,
        } => (
            Some(approvers),
            *approvals,
            Some(after(request.created_at, *timeout)),
        ),
    };
    let quorum = Quorum {
        approvers,
        required,
        deadline,
    };
    Counted {
        authorized,
        tally: tally(request, quorum, approvals),
        deadline,
    }
}

fn judge(
    request: &RequestFacts,
    counted: &Counted,
    rec: Recorded,
    now: OffsetDateTime,
) -> RequestVerdict {
    let (authorized, tally, deadline) = (counted.authorized, &counted.tally, counted.deadline);
    let first_look = rec.phase.is_none_or(|p| p == Phase::Pending) && !rec.granted;
    let approved_at = rec.approved_at.or(match authorized.approval {
        // Auto: approved at the controller's first look. A record that lost the instant (access
        // exists, or status says approved) falls back to the earliest possible one, so the TTL
        // can never be stretched.
        Approval::Auto if first_look => Some(now),
        Approval::Auto => Some(request.created_at),
        Approval::Manual { .. } => tally.quorum_at,
    });
    if let Some((who, at)) = &tally.denied {
        let before_approval = approved_at.is_none_or(|a| *at < a);
        let in_time = deadline.is_none_or(|d| *at < d);
        if before_approval && in_time {
            let msg = format!("denied by {who}");
            return RequestVerdict::end(Phase::Denied, PhaseReason::DeniedByApprover, msg, rec);
        }
        if !before_approval {
            let msg = format!("revoked by {who}");
            return RequestVerdict::end(Phase::Revoked, PhaseReason::RevokedByApprover, msg, rec);
        }
    }
    let Some(approved_at) = approved_at else {
        if matches!(rec.phase, Some(Phase::Approved | Phase::Active)) {
            let msg = "the approvals it was granted on no longer count (deleted, or the approvers changed)";
            return RequestVerdict::end(Phase::Revoked, PhaseReason::ApprovalsLost, msg, rec);
        }
        return pending(counted, rec, now);
    };
    approved(request, authorized, approved_at, rec, now)
}

fn pending(counted: &Counted, rec: Recorded, now: OffsetDateTime) -> RequestVerdict {
    let (tally, deadline) = (&counted.tally, counted.deadline);
    let need = match &counted.authorized.approval {
        Approval::Manual {
            approvers,
            approvals,
            ..
        } => format!("{approvals} approval(s) from {approvers}"),
        Approval::Auto => "no approval".to_owned(),
    };
    let have = tally.approved_by.len();
    match deadline {
        Some(d) if now >= d => RequestVerdict::end(
            Phase::TimedOut,
            PhaseReason::ApprovalTimeout,
            format!("needed {need} by {d}, got {have}"),
            rec,
        ),
        Some(_) | None => {
            let mut v = RequestVerdict::new(
                Phase::Pending,
                PhaseReason::AwaitingApproval,
                format!(
                    "waiting for {need} (have {have}); the requester and the subjects cannot approve"
                ),
            );
            v.requeue_at = deadline;
            // Nothing may exist before approval; whatever does is removed.
            v.action = revoke_if(rec.granted);
            v
        }
    }
}

fn approved(
    request: &RequestFacts,
    authorized: &Authorized,
    approved_at: OffsetDateTime,
    rec: Recorded,
    now: OffsetDateTime,
) -> RequestVerdict {
    let expires_at = after(approved_at, authorized.ttl);
    let role = matches!(request.target, Target::Role { .. });
    let mut v = if now >= expires_at && rec.granted && role {
        // Ending a grant is the reaper's, at its expires-at, with its grantExpired record: deleting
        // the binding here as well would race it, and a binding gone before the reaper marks it
        // overdue leaves no record. Its deletion brings the request back here, to Expired.
        RequestVerdict::new(
            Phase::Active,
            PhaseReason::Granted,
            format!("access granted; past its deadline {expires_at}, kubejit's reaper removes it"),
        )
    } else if now >= expires_at {
        RequestVerdict::end(
            Phase::Expired,
            PhaseReason::TtlElapsed,
            format!("expired at {expires_at}"),
            rec,
        )
    } else if rec.granted {
        let mut v = RequestVerdict::new(Phase::Active, PhaseReason::Granted, "access granted");
        v.requeue_at = Some(expires_at);
        v
    } else if rec.phase == Some(Phase::Active) && matches!(request.target, Target::Role { .. }) {
        let msg = "the RoleBinding was removed before its deadline by someone other than kubejit";
        return RequestVerdict::end(Phase::Revoked, PhaseReason::AccessRemoved, msg, rec);
    } else {
        let reason = match authorized.approval {
            Approval::Auto => PhaseReason::AutoApproved,
            Approval::Manual { .. } => PhaseReason::ApprovalsReceived,
        };
        let mut v = RequestVerdict::new(Phase::Approved, reason, "approved; granting access");
        v.action = RequestAction::Grant { expires_at };
        v.requeue_at = Some(expires_at);
        v
    };
    v.approved_at = Some(approved_at);
    v.expires_at = Some(expires_at);
    v
}

/// `start + ttl`, truncated to whole seconds (the expires-at annotation's resolution) so the access
/// never outlives its TTL. Past the representable range it is `start` (ends at once): never a panic,
/// never a longer life.
fn after(start: OffsetDateTime, ttl: Ttl) -> OffsetDateTime {
    let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let end = start
        .checked_add(time::Duration::seconds(secs))
        .unwrap_or(start);
    end.replace_nanosecond(0).unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fit_the_crd() {
        assert_eq!(bounded("short".into()), "short");
        let long = bounded("é".repeat(MAX_MESSAGE + 1));
        assert_eq!(long.chars().count(), MAX_MESSAGE);
        assert!(long.ends_with('…'));
        assert_eq!(bounded("x".repeat(MAX_MESSAGE)).len(), MAX_MESSAGE);
    }
}
