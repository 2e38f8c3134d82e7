//! RoleBindings and ClusterRoleBindings seen as kubejit grants: one trait over both, and a flat view.

use std::fmt::Debug;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::{Api, Client, Resource, ResourceExt};
use kubejit_audit::{Actor, AuditEvent, EventKind, ObjectRef, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys;

/// What kubejit needs from either kind of binding.
pub trait Binding:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static
{
    /// `RoleBinding` or `ClusterRoleBinding`.
    const KIND: &'static str;
    fn role_ref(&self) -> &RoleRef;
    fn subjects(&self) -> &[Subject];
    /// The API for this kind; `namespace` is ignored for cluster-scoped bindings.
    fn api(client: Client, namespace: Option<&str>) -> Api<Self>;
}

impl Binding for RoleBinding {
    const KIND: &'static str = "RoleBinding";
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
    fn subjects(&self) -> &[Subject] {
        self.subjects.as_deref().unwrap_or_default()
    }
    fn api(client: Client, namespace: Option<&str>) -> Api<Self> {
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
}

impl Binding for ClusterRoleBinding {
    const KIND: &'static str = "ClusterRoleBinding";
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
    fn subjects(&self) -> &[Subject] {
        self.subjects.as_deref().unwrap_or_default()
    }
    fn api(client: Client, _namespace: Option<&str>) -> Api<Self> {
        Api::all(client)
    }
}

/// The longest incident or reason annotation an audit record carries (the longest valid one).
const ANNOTATION_SHOWN_MAX: usize = kubejit_core::reason::REASON_MAX;

/// A binding flattened to what listing, auditing and events need. Annotation values are raw
/// (untrusted): `expires_at` may be malformed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// `Role/oncall-debug` or `ClusterRole/view`.
    pub role: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub service_accounts: Vec<String>,
    pub expires_at: Option<String>,
    pub incident: Option<String>,
    pub granted_by: Option<String>,
    pub reason: Option<String>,
}

impl GrantView {
    pub fn of<B: Binding>(binding: &B) -> Self {
        let annotations = binding.annotations();
        let get = |key: &str| annotations.get(key).cloned();
        let mut view = Self {
            kind: B::KIND,
            namespace: binding.namespace(),
            name: binding.name_any(),
            uid: binding.uid(),
            resource_version: binding.resource_version(),
            role: format!("{}/{}", binding.role_ref().kind, binding.role_ref().name),
            users: Vec::new(),
            groups: Vec::new(),
            service_accounts: Vec::new(),
            expires_at: get(keys::EXPIRES_AT),
            incident: get(keys::INCIDENT),
            granted_by: get(keys::GRANTED_BY),
            reason: get(keys::REASON),
        };
        for s in binding.subjects() {
            match s.kind.as_str() {
                "User" => view.users.push(s.name.clone()),
                "Group" => view.groups.push(s.name.clone()),
                _ => view.service_accounts.push(format!(
                    "system:serviceaccount:{}:{}",
                    s.namespace.as_deref().unwrap_or_default(),
                    s.name
                )),
            }
        }
        view
    }

    /// Users, groups and service accounts in one human list: `alice, group:oncall-payments`.
    pub fn subjects_text(&self) -> String {
        let users = self.users.iter().chain(&self.service_accounts).cloned();
        let groups = self.groups.iter().map(|g| format!("group:{g}"));
        users.chain(groups).collect::<Vec<_>>().join(", ")
    }

    /// An audit record about this grant, with every grant field filled in.
    pub fn audit_event(&self, kind: EventKind, actor: Actor, time: Timestamp) -> AuditEvent {
        let mut event = AuditEvent::new(kind, actor, time);
        let users: Vec<&str> = self
            .users
            .iter()
            .chain(&self.service_accounts)
            .map(String::as_str)
            .collect();
        // `subject` is for people; `users` keeps each name whole (a username may contain a comma).
        event.subject = (!users.is_empty()).then(|| users.join(","));
        event.users = users.iter().map(|&u| u.to_owned()).collect();
        event.groups.clone_from(&self.groups);
        event.namespace.clone_from(&self.namespace);
        event.role = Some(self.role.clone());
        // Annotations are read back from the apiserver: a cluster admin (who bypasses the admission
        // policy) can put anything there. Valid values (incident ≤ 128, reason ≤ 256 characters, no
        // control or format characters) pass unchanged; anything else is escaped and cut.
        let bounded = |v: &Option<String>| {
            v.as_deref()
                .map(|v| kubejit_core::text::escape_bounded(v, ANNOTATION_SHOWN_MAX))
        };
        event.incident = bounded(&self.incident);
        event.reason = bounded(&self.reason);
        event.expires_at = self
            .expires_at
            .as_deref()
            .and_then(|v| kubejit_core::parse_expires_at(v).ok())
            .map(Timestamp::new);
        event.object = Some(ObjectRef {
            kind: self.kind.to_owned(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
        });
        event
    }

    /// The audit actor for a change made by the granter: the admission-checked annotation, or
    /// `unknown` when a tool wrote none (only cluster admins can, bypassing the admission policy).
    pub fn granter(&self) -> Actor {
        Actor::user(self.granted_by.as_deref().unwrap_or("unknown"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    use kubejit_audit::{Actor, EventKind, Timestamp};

    use super::*;

    fn user(name: &str) -> Subject {
        Subject {
            kind: "User".to_owned(),
            name: name.to_owned(),
            ..Subject::default()
        }
    }

    /// Each user stays whole (`a,b` is one user) and hostile annotations reach the record escaped
    /// and bounded; valid values pass unchanged.
    #[test]
    fn audit_records_keep_users_whole_and_annotations_plain() {
        let mut rb = RoleBinding {
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_owned()),
                kind: "Role".to_owned(),
                name: "oncall-debug".to_owned(),
            },
            subjects: Some(vec![user("a,b"), user("carol")]),
            ..RoleBinding::default()
        };
        rb.metadata.annotations = Some(BTreeMap::from([
            (keys::INCIDENT.to_owned(), "INC-1\u{202e}".to_owned()),
            (keys::REASON.to_owned(), "x".repeat(10_000)),
        ]));
        let time = Timestamp::parse("2030-01-02T15:04:05Z").unwrap();
        let event = GrantView::of(&rb).audit_event(EventKind::GrantCreated, Actor::user("g"), time);
        assert_eq!(event.users, ["a,b", "carol"]);
        assert_eq!(event.incident.as_deref(), Some("INC-1\\u{202e}"));
        let reason = event.reason.unwrap();
        assert!(reason.chars().count() <= 256 && reason.ends_with("more characters]"));

        rb.metadata.annotations = Some(BTreeMap::from([
            (keys::INCIDENT.to_owned(), "INC-12345".to_owned()),
            (keys::REASON.to_owned(), "checkout 500s".to_owned()),
        ]));
        let event = GrantView::of(&rb).audit_event(EventKind::GrantCreated, Actor::user("g"), time);
        assert_eq!(event.incident.as_deref(), Some("INC-12345"));
        assert_eq!(event.reason.as_deref(), Some("checkout 500s"));
    }
}
