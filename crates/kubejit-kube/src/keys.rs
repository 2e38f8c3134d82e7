//! Label and annotation keys that kubejit reads and writes; one place so nothing drifts.

// The two keys core decisions read are defined in core, once; the glue re-exports them.
pub use kubejit_core::annotations::{EXPIRES_AT, INCIDENT};
/// Standard "managed by" label; kubejit's value is [`MANAGER`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`] on objects kubejit created.
pub const MANAGER: &str = "kubejit";
/// Label naming the kubejit component that owns an object (e.g. `oncall-role`).
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// Username of whoever created or last extended a grant; the admission policy makes it equal the
/// requesting user, so the controller can trust it as the audit actor.
pub const GRANTED_BY: &str = "kubejit.dev/granted-by";
/// Justification typed with `kubejit grant --reason` or `kubejit credential --reason` (on the binding or
/// the CSR; untrusted, informational).
pub const REASON: &str = "kubejit.dev/reason";
/// Prefix of the annotations (one per trail) on the audit checkpoint ConfigMap.
pub const AUDIT_CHECKPOINT_PREFIX: &str = "kubejit.dev/audit-checkpoint.";

/// An Event's `reportingController` for one of kubejit's controllers: `kubejit.dev/<controller>`.
pub fn reporting_controller(controller: &str) -> String {
    format!("kubejit.dev/{controller}")
}
