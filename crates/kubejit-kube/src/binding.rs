//! RoleBindings and ClusterRoleBindings seen as kubejit grants: one trait over both, and a flat view.

use std::fmt::Debug;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::{Api, Client, Resource, ResourceExt};
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
}
