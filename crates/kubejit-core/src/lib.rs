//! kubejit's pure domain model: validated input types and the policy that decides who gets what access.
//!
//! Nothing here talks to Kubernetes or needs an async runtime, so every rule is unit-testable without a
//! cluster. The Kubernetes glue (`kubejit-kube`) turns these values into API objects. Time is always
//! passed in (`now`); core never reads a clock.

// Core parses untrusted text (annotations, CSR fields, policies, durations): outside tests, no
// arithmetic that can overflow and no indexing or slicing that can panic. Use checked_*/get().
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]

pub mod annotations;
pub mod clock;
pub mod csr;
pub mod expiry;
pub mod grant;
pub mod incident;
pub mod names;
pub mod policy;
pub mod reason;
pub mod request;
pub mod role;
pub mod ssh_cert;
pub mod subject;
pub mod text;
pub mod ttl;

#[cfg(any(test, feature = "testutil"))]
pub mod testutil;

#[cfg(any(test, feature = "testutil"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use csr::{
    Allowed, CsrFacts, Decision, DenyReason, KUBE_APISERVER_CLIENT_SIGNER, KeyTrust, decide,
};
pub use expiry::{
    ExpiryDecision, ExpiryError, decide_expiry, decide_expiry_value, format_expires_at,
    parse_expires_at,
};
pub use grant::{
    GrantAction, GrantPlan, GrantRefusal, GrantRefusalReason, GrantRequest, decide_grant,
};
pub use incident::{
    Incident, IncidentError, IncidentPattern, IncidentRule, IncidentViolation, PatternError,
};
pub use names::{GroupName, NameError, NamespaceName, ObjectName};
pub use policy::{
    AccessPolicy, AccessPolicySpec, Approval, ApprovalMode, ApprovalSpec, GrantRule, GrantRuleSpec,
    IncidentSpec, KeyRequirement, KeysMode, NamedPolicy, NotifySpec, PolicyError, PolicyProblem,
    RoleKind, RoleRef, RoleRefSpec, SecretKeyRef, SecretKeyRefSpec, SubjectsSpec,
    WEBHOOK_SECRET_NAMESPACE, Webhook, WebhookProblem, WebhookSpec, WebhookUrl,
};
pub use reason::{Reason, ReasonError};
pub use role::{OncallRole, PolicyRule};
pub use ssh_cert::{Admitted, CertFacts, CertKind, CertPolicy, CertRefusal, Login, decide_cert};
pub use subject::{Requester, RequesterMatch, Subjects, UserName};
pub use ttl::{Ttl, TtlError};
