//! What the reaper records: the grant facts it attests to (seen created or extended, expired,
//! malformed), built here, with the controller that emits them.

use kubejit_audit::{
    Actor, AuditEvent, GrantChanged, GrantExpired, GrantMalformed, GrantSource, Timestamp,
};
use kubejit_kube::GrantView;
use time::OffsetDateTime;

/// The actor of a grant the reaper saw appear or change: the admission-checked granter annotation,
/// or `unknown` when a tool wrote none (only cluster admins can, bypassing the admission policy).
fn granter(view: &GrantView) -> Actor {
    Actor::user(view.granted_by.as_deref().unwrap_or("unknown"))
}

/// Whether the reaper saw a grant appear or change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seen {
    Created,
    Extended,
}

pub(crate) fn observed(view: &GrantView, seen: Seen) -> AuditEvent {
    let fact = GrantChanged {
        actor: granter(view),
        grant: view.audited(),
        source: GrantSource::Observed,
    };
    match seen {
        Seen::Created => AuditEvent::GrantCreated(fact),
        Seen::Extended => AuditEvent::GrantExtended(fact),
    }
}

pub(crate) fn expired(controller: &str, view: &GrantView, deadline: OffsetDateTime) -> AuditEvent {
    AuditEvent::GrantExpired(GrantExpired {
        controller: controller.to_owned(),
        grant: view.audited(),
        deadline: Timestamp::new(deadline),
    })
}

pub(crate) fn malformed(controller: &str, view: &GrantView, problem: &str) -> AuditEvent {
    AuditEvent::GrantMalformed(GrantMalformed {
        controller: controller.to_owned(),
        grant: view.audited(),
        problem: problem.to_owned(),
    })
}
