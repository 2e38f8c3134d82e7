//! How a core `Decision` shows up in the cluster: condition type, Event reason, metric labels.

use kubejit_core::Decision;

/// Condition/metric reason of an automatic approval.
pub const APPROVED_REASON: &str = "ApprovedByPolicy";
/// Event/metric reason of a valid request left for a person to approve.
pub const PENDING_REASON: &str = "PendingManualApproval";

/// The three results a decision can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Denied,
    Pending,
}

impl Outcome {
    pub fn of(decision: &Decision) -> Self {
        match decision {
            Decision::Approve { .. } => Self::Approved,
            Decision::Deny { .. } => Self::Denied,
            Decision::Pending { .. } => Self::Pending,
        }
    }

    /// The `result` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Pending => "pending",
        }
    }

    /// The reason of a non-denial outcome (denials carry their own `DenyReason`).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Approved => APPROVED_REASON,
            Self::Pending => PENDING_REASON,
            Self::Denied => "Denied",
        }
    }

    /// The Event reason (`kubectl describe` / `kubectl get events`).
    pub fn event_reason(self) -> &'static str {
        match self {
            Self::Approved => "Approved",
            Self::Denied => "Denied",
            Self::Pending => PENDING_REASON,
        }
    }
}

/// The stable machine reason of a decision: the condition reason, the audit `decisionReason` and
/// the `reason` metric label.
pub fn machine_reason(decision: &Decision) -> &'static str {
    match decision {
        Decision::Approve { .. } => APPROVED_REASON,
        Decision::Pending { .. } => PENDING_REASON,
        Decision::Deny { reason, .. } => reason.as_str(),
    }
}
