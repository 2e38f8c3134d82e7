//! The `AccessPolicy` model: the serde mirror of the CRD spec and its validated form.

mod model;
mod spec;
#[cfg(test)]
mod tests;
mod webhook;

pub use model::{
    AccessPolicy, Approval, DEFAULT_APPROVAL_TIMEOUT, DEFAULT_APPROVALS, GrantRule, KeyRequirement,
    MAX_APPROVAL_TIMEOUT, MAX_APPROVALS, NamedPolicy, PolicyError, PolicyProblem, RoleRef,
    no_policy_lists,
};
pub use spec::{
    AccessPolicySpec, ApprovalMode, ApprovalSpec, GrantRuleSpec, IncidentSpec, KeysMode,
    NotifySpec, RoleKind, RoleRefSpec, SecretKeyRefSpec, SubjectsSpec, WebhookSpec,
};
pub use webhook::{
    SecretKeyRef, WEBHOOK_SECRET_NAMESPACE, WEBHOOK_URL_MAX, Webhook, WebhookProblem, WebhookUrl,
};
