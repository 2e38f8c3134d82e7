//! The audit record of an allowed grant write, shared by `create` and `extend`.

use kubejit_audit::{Actor, Decision, EventKind, Timestamp};
use kubejit_core::GrantPlan;
use kubejit_kube::GrantView;
use time::OffsetDateTime;

/// The audit record of an allowed create or extend, with the policy that allowed it.
pub(crate) fn allowed_event(
    view: &GrantView,
    plan: &GrantPlan,
    kind: EventKind,
    user: &str,
    now: OffsetDateTime,
) -> kubejit_audit::AuditEvent {
    let mut event = view.audit_event(kind, Actor::user(user), Timestamp::new(now));
    event.policy = Some(plan.policy.to_string());
    event.decision = Some(Decision::Allowed);
    event.decision_reason = Some("policyMatched".to_owned());
    event.ttl_seconds = Some(plan.ttl.as_secs());
    event.expires_at = Some(Timestamp::new(plan.expires_at));
    event
}
