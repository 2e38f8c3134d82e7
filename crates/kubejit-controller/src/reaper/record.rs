//! What the reaper records: the grant facts it attests to (seen created or extended, expired,
//! malformed), built here, with the controller that emits them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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

/// Who made a grant: kubejit's controller (under an AccessRequest that owns the binding) or someone
/// else (a break-glass admin, or the CLI before AccessRequests). Only admission-exempt identities can
/// make the second kind, so it is a fact of its own on the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Maker {
    Request,
    Foreign,
}

impl Maker {
    /// Foreign unless an AccessRequest controls the binding (an ownerReference with controller:
    /// true, which only the controller or a break-glass admin can write on a grant).
    pub(crate) fn of(meta: &ObjectMeta) -> Self {
        let by_request = meta
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| {
                o.kind == "AccessRequest"
                    && o.api_version.starts_with("kubejit.dev/")
                    && o.controller == Some(true)
            });
        if by_request {
            Self::Request
        } else {
            Self::Foreign
        }
    }
}

pub(crate) fn observed(view: &GrantView, seen: Seen, maker: Maker) -> AuditEvent {
    let fact = GrantChanged {
        actor: granter(view),
        grant: view.audited(),
        source: GrantSource::Observed,
    };
    match (seen, maker) {
        (Seen::Created, Maker::Request) => AuditEvent::GrantCreated(fact),
        (Seen::Created, Maker::Foreign) => AuditEvent::ForeignGrant(fact),
        (Seen::Extended, Maker::Request | Maker::Foreign) => AuditEvent::GrantExtended(fact),
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
