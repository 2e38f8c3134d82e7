//! What the grant commands record: a binding (its [`GrantView`]) as an audited grant, and the facts
//! `grant`, `extend` and `revoke` attest to. The mapping lives here, with the commands that emit it.

use kubejit_audit::{
    Actor, AuditEvent, AuditedGrant, GrantChanged, GrantRevoked, GrantSource, ObjectRef,
};
use kubejit_core::GrantPlan;
use kubejit_kube::GrantView;

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
        grant: audited(view),
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
        grant: audited(view),
        reason: reason.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    use kubejit_kube::keys;

    use super::*;

    fn subject(kind: &str, name: &str) -> Subject {
        Subject {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: (kind == "ServiceAccount").then(|| "ns".to_owned()),
            ..Subject::default()
        }
    }

    /// Each user stays whole (`a,b` is one user), service accounts count as users, and hostile
    /// annotations reach the record escaped and bounded; valid values pass unchanged.
    #[test]
    fn grants_keep_users_whole_and_annotations_plain() {
        let mut rb = RoleBinding {
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_owned()),
                kind: "Role".to_owned(),
                name: "oncall-debug".to_owned(),
            },
            subjects: Some(vec![
                subject("User", "a,b"),
                subject("User", "carol"),
                subject("ServiceAccount", "sa"),
                subject("Group", "oncall"),
            ]),
            ..RoleBinding::default()
        };
        rb.metadata.annotations = Some(BTreeMap::from([
            (keys::INCIDENT.to_owned(), "INC-1\u{202e}".to_owned()),
            (keys::REASON.to_owned(), "x".repeat(10_000)),
            (keys::EXPIRES_AT.to_owned(), "soon".to_owned()),
        ]));
        let grant = audited(&GrantView::of(&rb));
        assert_eq!(grant.users, ["a,b", "carol", "system:serviceaccount:ns:sa"]);
        assert_eq!(grant.groups, ["oncall"]);
        assert_eq!(grant.role, "Role/oncall-debug");
        assert_eq!(grant.incident.as_deref(), Some("INC-1\\u{202e}"));
        assert_eq!(grant.expires_at, None);
        let reason = grant.reason.unwrap();
        assert!(reason.chars().count() <= 256 && reason.ends_with("more characters]"));

        rb.metadata.annotations = Some(BTreeMap::from([
            (keys::INCIDENT.to_owned(), "INC-12345".to_owned()),
            (keys::REASON.to_owned(), "checkout 500s".to_owned()),
            (
                keys::EXPIRES_AT.to_owned(),
                "2030-01-02T15:04:05Z".to_owned(),
            ),
        ]));
        let grant = audited(&GrantView::of(&rb));
        assert_eq!(grant.incident.as_deref(), Some("INC-12345"));
        assert_eq!(grant.reason.as_deref(), Some("checkout 500s"));
        assert!(grant.expires_at.is_some());
    }
}
