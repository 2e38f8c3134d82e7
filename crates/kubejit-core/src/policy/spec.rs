//! The raw, serde-deserialized `AccessPolicy` spec: a straight camelCase mirror of the CRD, unvalidated.
//!
//! The kube glue crate defines the CRD (kubejit.dev/v1alpha1, cluster-scoped) with the same field names
//! and converts into these types; [`crate::NamedPolicy::parse`] turns them into trusted values.
//! `deny_unknown_fields` everywhere: a misspelt field must fail loudly, not silently loosen policy.

use serde::{Deserialize, Serialize};

/// `AccessPolicy.spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessPolicySpec {
    /// Who may ask (matched exactly against the CSR's `spec.username`/`spec.groups`).
    pub requesters: SubjectsSpec,
    /// Groups (`O=`) a short-lived certificate may carry. Empty: this policy issues no certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_groups: Vec<String>,
    /// Certificate lifetime cap, a human duration of at least "10m".
    #[serde(rename = "maxTTL")]
    pub max_ttl: String,
    /// Lifetime the CLI asks for when the user gives none; at most `maxTTL`.
    #[serde(
        rename = "defaultTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_ttl: Option<String>,
    #[serde(default)]
    pub incident: IncidentSpec,
    pub approval: ApprovalSpec,
    /// What the certificate's key must be: `any` (the default) or a hardware key whose PIV
    /// attestation chain (CSR annotation `kubejit.dev/key-attestation`) verifies to a configured vendor
    /// root, with a PIN policy (`hardware`) and also a touch policy (`hardwareWithTouch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeysMode>,
    /// Time-bound RoleBinding grants this policy allows (`kubejit grant`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantRuleSpec>,
    /// Where to tell people about AccessRequests under this policy (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySpec>,
}

/// `notify`: today one outgoing webhook; chat or pager adapters can sit on top of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifySpec {
    pub webhook: WebhookSpec,
}

/// `notify.webhook: {url, secretRef: {name, key}}`: JSON POSTed on every AccessRequest phase change,
/// signed with HMAC-SHA256 under the key in the Secret (which lives in `kubejit-system`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    pub secret_ref: SecretKeyRefSpec,
}

/// A key of a Secret in `kubejit-system`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRefSpec {
    pub name: String,
    pub key: String,
}

/// Users and/or groups, exact strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectsSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// `incident`: omitted fields take the fail-closed defaults (required, no pattern, 64 characters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncidentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Regular expression the whole reference must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// `approval: {mode: Auto}` or `approval: {mode: Manual, approvers: {users: [...], groups: [...]},
/// approvals: 2, approvalTimeout: 1h}`.
/// A flat struct rather than a tagged enum so the CRD schema stays a plain object CEL can validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalSpec {
    pub mode: ApprovalMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<SubjectsSpec>,
    /// How many distinct approvers an AccessRequest needs (Manual only; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
    /// How long an AccessRequest may wait for approvals before it is closed as TimedOut (Manual only;
    /// default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout: Option<String>,
}

/// `keys`: which keys a certificate under this policy may certify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeysMode {
    Any,
    Hardware,
    HardwareWithTouch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalMode {
    Auto,
    Manual,
}

/// One grant rule: these roles, in these namespaces, to these subjects, for at most `maxTTL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantRuleSpec {
    /// Names the rule in explanations ("policy payments-oncall, grant rule debug").
    pub name: String,
    pub roles: Vec<RoleRefSpec>,
    pub namespaces: Vec<String>,
    pub subjects: SubjectsSpec,
    /// Grant lifetime cap; may be shorter than 10 minutes (no CSR is involved).
    #[serde(rename = "maxTTL")]
    pub max_ttl: String,
    #[serde(
        rename = "defaultTTL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_ttl: Option<String>,
    /// Overrides the policy's `incident` rule for this grant rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentSpec>,
    /// Who must approve an AccessRequest under this rule. Absent: `Auto`, which is what a grant rule
    /// meant before AccessRequests existed (a listed requester obtains the grant without a second
    /// person). The policy-level `approval` governs certificates only and is not inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
}

/// A role a grant's RoleBinding may reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleRefSpec {
    pub kind: RoleKind,
    pub name: String,
}

/// `roleRef.kind` of a RoleBinding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RoleKind {
    Role,
    ClusterRole,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Role => "Role",
            Self::ClusterRole => "ClusterRole",
        }
    }
}
