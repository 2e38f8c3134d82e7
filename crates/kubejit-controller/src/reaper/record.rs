//! What the reaper records: the grant facts it attests to (seen created or extended, expired,
//! malformed), built here, with the controller that emits them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubejit_audit::{
    Actor, AuditEvent, GrantChanged, GrantExpired, GrantMalformed, GrantSource, Stamped, Timestamp,
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

/// Stamps a `grantExpired`: one fact per binding, so its id is derived from the binding's uid. Two
/// replicas can both write it (the leader's delete answer lost in an outage, its watch seeing the
/// deletion that the next leader made and recorded too: the chaos test's etcd outage found that);
/// under one id, readers apply it once. A binding without a uid gets a fresh id.
pub(crate) fn stamp_expired(event: AuditEvent, uid: Option<&str>, now: OffsetDateTime) -> Stamped {
    match uid.filter(|u| !u.is_empty()) {
        Some(uid) => event.once(now, uid),
        None => event.at(now),
    }
}

pub(crate) fn malformed(controller: &str, view: &GrantView, problem: &str) -> AuditEvent {
    AuditEvent::GrantMalformed(GrantMalformed {
        controller: controller.to_owned(),
        grant: view.audited(),
        problem: problem.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expired_of(uid: Option<&str>) -> Stamped {
        let binding = k8s_openapi::api::rbac::v1::RoleBinding {
            metadata: ObjectMeta {
                name: Some("jit-1".to_owned()),
                uid: uid.map(str::to_owned),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        let view = GrantView::of(&binding);
        let now = OffsetDateTime::UNIX_EPOCH;
        stamp_expired(expired("c", &view, now), uid, now)
    }

    /// The same binding's expiry written by two replicas is one fact (one id); another binding's is
    /// another; without a uid nothing can be shared, so each record is its own.
    #[test]
    fn a_grant_expired_id_is_derived_from_the_binding_uid() {
        assert_eq!(
            expired_of(Some("uid-1")).event_id(),
            expired_of(Some("uid-1")).event_id()
        );
        assert_ne!(
            expired_of(Some("uid-1")).event_id(),
            expired_of(Some("uid-2")).event_id()
        );
        assert_ne!(expired_of(None).event_id(), expired_of(None).event_id());
        assert_ne!(
            expired_of(Some("")).event_id(),
            expired_of(Some("")).event_id()
        );
    }
}
