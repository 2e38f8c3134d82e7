//! RoleBindings and ClusterRoleBindings seen as kubejit grants: one trait over both, and a flat view.

use std::fmt::Debug;

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Api, Client, Resource, ResourceExt};
use kubejit_audit::{AuditedGrant, ObjectRef};
use kubejit_core::{NamespaceName, Subjects};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::keys;

/// What kubejit needs from either kind of binding.
pub trait Binding:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static
{
    /// `RoleBinding` or `ClusterRoleBinding`.
    const KIND: &'static str;
    fn role_ref(&self) -> &RoleRef;
    fn subjects(&self) -> &[Subject];
    /// One annotation's raw (untrusted) value. A type that keeps some annotations outside
    /// `metadata.annotations` (the reaper's stored bindings) answers from there.
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations().get(key).map(String::as_str)
    }
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
        let get = |key: &str| binding.annotation(key).map(str::to_owned);
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

    /// The grant as an audit record describes it: every user and service account whole, untrusted
    /// annotations escaped and bounded, the expiry only when it parses. Which fact a record states
    /// (and who acted) is decided by the crate that emits it.
    pub fn audited(&self) -> AuditedGrant {
        AuditedGrant {
            binding: ObjectRef {
                kind: self.kind.to_owned(),
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                uid: self.uid.clone(),
            },
            role: self.role.clone(),
            users: self
                .users
                .iter()
                .chain(&self.service_accounts)
                .cloned()
                .collect(),
            groups: self.groups.clone(),
            incident: AuditedGrant::annotation(self.incident.as_deref()),
            reason: AuditedGrant::annotation(self.reason.as_deref()),
            expires_at: AuditedGrant::expiry(self.expires_at.as_deref()),
        }
    }

    /// Users, groups and service accounts in one human list: `alice, group:oncall-payments`.
    pub fn subjects_text(&self) -> String {
        let users = self.users.iter().chain(&self.service_accounts).cloned();
        let groups = self.groups.iter().map(|g| format!("group:{g}"));
        users.chain(groups).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};

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
        let grant = GrantView::of(&rb).audited();
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
        let grant = GrantView::of(&rb).audited();
        assert_eq!(grant.incident.as_deref(), Some("INC-12345"));
        assert_eq!(grant.reason.as_deref(), Some("checkout 500s"));
        assert!(grant.expires_at.is_some());
    }
}

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Everything a kubejit grant's RoleBinding says: who, what, where, until when, why and by whom.
/// One builder for `kubejit grant` and the request controller, so both write the same marks.
#[derive(Debug, Clone)]
pub struct GrantBinding<'a> {
    pub name: String,
    pub namespace: &'a NamespaceName,
    pub role: &'a kubejit_core::RoleRef,
    pub subjects: &'a Subjects,
    /// Whole seconds, UTC: the `expires-at` annotation the reaper acts on.
    pub expires_at: OffsetDateTime,
    pub incident: Option<&'a str>,
    /// The `kubejit.dev/granted-by` annotation: the requester (CLI) or the controller.
    pub granted_by: &'a str,
    pub reason: Option<&'a str>,
}

/// The RoleBinding for a grant: managed-by label, expiry, incident, granter and reason.
pub fn grant_binding(g: &GrantBinding<'_>) -> RoleBinding {
    let mut annotations = BTreeMap::from([
        (
            keys::EXPIRES_AT.to_owned(),
            kubejit_core::format_expires_at(g.expires_at),
        ),
        (keys::GRANTED_BY.to_owned(), g.granted_by.to_owned()),
    ]);
    if let Some(incident) = g.incident {
        annotations.insert(keys::INCIDENT.to_owned(), incident.to_owned());
    }
    if let Some(reason) = g.reason {
        annotations.insert(keys::REASON.to_owned(), reason.to_owned());
    }
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(g.name.clone()),
            namespace: Some(g.namespace.to_string()),
            labels: Some(BTreeMap::from([(
                keys::MANAGED_BY.to_owned(),
                keys::MANAGER.to_owned(),
            )])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some(RBAC_GROUP.to_owned()),
            kind: g.role.kind.as_str().to_owned(),
            name: g.role.name.to_string(),
        },
        subjects: Some(rbac_subjects(g.subjects)),
    }
}

/// The binding is owned by `owner` (controller, blocking its deletion): deleting the owner with
/// `--cascade=foreground` removes the grant through Kubernetes' garbage collector.
pub fn owned_by<K: Resource<DynamicType = ()>>(mut binding: RoleBinding, owner: &K) -> RoleBinding {
    if let Some(mut reference) = owner.controller_owner_ref(&()) {
        reference.block_owner_deletion = Some(true);
        binding.metadata.owner_references = Some(vec![reference]);
    }
    binding
}

/// Whether `binding` is controlled by the object with `uid`.
pub fn is_controlled_by(binding: &RoleBinding, uid: &str) -> bool {
    binding
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r: &OwnerReference| r.uid == uid && r.controller == Some(true))
}

fn rbac_subjects(subjects: &Subjects) -> Vec<Subject> {
    let subject = |kind: &str, name: &str| Subject {
        api_group: Some(RBAC_GROUP.to_owned()),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: None,
    };
    let users = subjects.users.iter().map(|u| subject("User", u.as_str()));
    let groups = subjects.groups.iter().map(|g| subject("Group", g.as_str()));
    users.chain(groups).collect()
}
