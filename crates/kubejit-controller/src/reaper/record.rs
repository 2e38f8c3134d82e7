//! What the reaper records: a binding as an audited grant, and the grant facts it attests to
//! (seen created or extended, expired, malformed). The grant→audit mapping lives with its emitter.

use kubejit_audit::{
    Actor, AuditEvent, AuditedGrant, GrantChanged, GrantExpired, GrantMalformed, GrantSource,
    ObjectRef, Timestamp,
};
use kubejit_kube::GrantView;
use time::OffsetDateTime;

/// A binding as the trail records it: every user and service account whole, untrusted annotations
/// escaped and bounded, the expiry only when it parses.
pub(crate) fn audited(view: &GrantView) -> AuditedGrant {
    AuditedGrant {
        binding: ObjectRef {
            kind: view.kind.to_owned(),
            namespace: view.namespace.clone(),
            name: view.name.clone(),
            uid: view.uid.clone(),
        },
        role: view.role.clone(),
        users: view
            .users
            .iter()
            .chain(&view.service_accounts)
            .cloned()
            .collect(),
        groups: view.groups.clone(),
        incident: AuditedGrant::annotation(view.incident.as_deref()),
        reason: AuditedGrant::annotation(view.reason.as_deref()),
        expires_at: AuditedGrant::expiry(view.expires_at.as_deref()),
    }
}

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
        grant: audited(view),
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
        grant: audited(view),
        deadline: Timestamp::new(deadline),
    })
}

pub(crate) fn malformed(controller: &str, view: &GrantView, problem: &str) -> AuditEvent {
    AuditEvent::GrantMalformed(GrantMalformed {
        controller: controller.to_owned(),
        grant: audited(view),
        problem: problem.to_owned(),
    })
}
