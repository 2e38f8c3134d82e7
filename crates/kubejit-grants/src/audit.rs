//! What the grant commands record: the facts `grant`, `extend` and `revoke` attest to, built here,
//! with the commands that emit them.

use kubejit_audit::{Actor, AuditEvent, GrantChanged, GrantRevoked, GrantSource};
use kubejit_core::GrantPlan;
use kubejit_kube::GrantView;

/// Which allowed change a record is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    Created,
    Extended,
}

/// The record of an allowed create or extend by `user`, with the policy that allowed it.
pub(crate) fn allowed(
    view: &GrantView,
    plan: &GrantPlan,
    user: &str,
    change: Change,
) -> AuditEvent {
    let fact = GrantChanged {
        actor: Actor::user(user),
        grant: view.audited(),
        source: GrantSource::Policy {
            policy: plan.policy.to_string(),
            ttl_seconds: plan.ttl.as_secs(),
            expires_at: kubejit_audit::Timestamp::new(plan.expires_at),
        },
    };
    match change {
        Change::Created => AuditEvent::GrantCreated(fact),
        Change::Extended => AuditEvent::GrantExtended(fact),
    }
}

/// The record of `kubejit revoke` by `user`.
pub(crate) fn revoked(view: &GrantView, user: &str, reason: Option<&str>) -> AuditEvent {
    AuditEvent::GrantRevoked(GrantRevoked {
        username: user.to_owned(),
        grant: view.audited(),
        reason: reason.map(str::to_owned),
    })
}
