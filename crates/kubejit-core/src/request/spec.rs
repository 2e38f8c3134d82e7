//! The raw, serde-deserialized AccessRequest and AccessApproval objects: camelCase mirrors of the CRDs.
//!
//! The kube glue crate wraps these as `kubejit.dev/v1alpha1` resources; [`super::RequestFacts::parse`]
//! and [`super::ApprovalFacts::parse`] turn them into trusted values. The CRD schemas in `deploy/crds/`
//! declare the same fields (a test in kubejit-kube keeps the two in step).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::policy::{RoleRefSpec, SubjectsSpec};

/// `AccessRequest.spec`: immutable after create (CEL `self == oldSelf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRequestSpec {
    /// Who asks, exactly as the apiserver authenticated them (admission refuses anything else).
    pub requester: IdentitySpec,
    /// Who the access is for. Absent: the requester's user alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<SubjectsSpec>,
    /// The role to bind in the request's namespace. Exactly one of `role` and `certificateGroups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleRefSpec>,
    /// Groups a short-lived client certificate for the requester may carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_groups: Vec<String>,
    /// How long the access lasts, counted from approval. Absent: the rule's defaultTTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// Mandatory: approvers and auditors read it.
    pub reason: String,
}

/// An authenticated identity: `request.userInfo` as admission saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentitySpec {
    pub username: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Where a request is in its life. Written only by kubejit's controller (status subresource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// Waiting for approvals (or for the controller's first look).
    Pending,
    /// Approved; the controller is creating the access.
    Approved,
    /// The access exists and ends at `expiresAt`.
    Active,
    /// The access ran its TTL.
    Expired,
    /// Refused: by policy, by an approver, or malformed.
    Denied,
    /// The requester deleted the request.
    Withdrawn,
    /// Ended early: an approver denied after approval, the policy stopped allowing it, or the
    /// access was removed by someone else.
    Revoked,
    /// Not enough approvals within the policy's approvalTimeout.
    TimedOut,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Self::Pending,
        Self::Approved,
        Self::Active,
        Self::Expired,
        Self::Denied,
        Self::Withdrawn,
        Self::Revoked,
        Self::TimedOut,
    ];

    /// Terminal phases never change again, whatever arrives later.
    pub fn is_terminal(self) -> bool {
        match self {
            Self::Pending | Self::Approved | Self::Active => false,
            Self::Expired | Self::Denied | Self::Withdrawn | Self::Revoked | Self::TimedOut => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Denied => "Denied",
            Self::Withdrawn => "Withdrawn",
            Self::Revoked => "Revoked",
            Self::TimedOut => "TimedOut",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `AccessRequest.status`, the controller's record of the state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Machine-readable reason for the phase (a `PhaseReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions (`Ready`: the access exists now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RequestCondition>,
    /// Every decision received, counted or not, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalRecord>,
    /// The policy and rule that allowed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Name of the RoleBinding the controller created (same namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub approved_at: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// A `metav1.Condition`, mirrored so core needs no Kubernetes types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: OffsetDateTime,
}

/// One AccessApproval as the controller judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The AccessApproval object's name.
    pub name: String,
    pub approver: String,
    pub decision: ApprovalDecision,
    /// Whether it counted towards the decision.
    pub counted: bool,
    /// Why it did not count (an `ApprovalIgnored`), empty when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ignored: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `AccessApproval.spec`: one person's decision on one request. Immutable after create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessApprovalSpec {
    /// The AccessRequest's name, in the approval's namespace.
    pub request: String,
    /// The AccessRequest's `metadata.uid`: a request deleted and re-created under the same name does
    /// not inherit decisions made about the old one.
    #[serde(rename = "requestUID")]
    pub request_uid: String,
    pub decision: ApprovalDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who decides, exactly as the apiserver authenticated them (admission refuses anything else).
    pub approver: IdentitySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ApprovalDecision {
    Approve,
    Deny,
}
