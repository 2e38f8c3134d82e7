//! Live input: every Role, ClusterRole (with the rules the aggregation controller already wrote),
//! RoleBinding and ClusterRoleBinding the apiserver holds, and the ValidatingAdmissionPolicies and
//! their bindings, listed in pages.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::error::LintError;
use crate::inventory::{Inventory, Located};

/// Objects per list page: bounded memory per response, few round trips.
const PAGE: u32 = 2_000;

async fn list_all<K>(client: &Client, what: &'static str) -> Result<Vec<Located<K>>, LintError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|source| LintError::List { what, source })?;
        out.extend(page.items.into_iter().map(Located::live));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// Reads the cluster's RBAC objects (no audit policy: the apiserver does not serve its own).
pub async fn read(client: &Client) -> Result<Inventory, LintError> {
    let (roles, cluster_roles, role_bindings, cluster_role_bindings) = futures::join!(
        list_all::<Role>(client, "roles"),
        list_all::<ClusterRole>(client, "clusterroles"),
        list_all::<RoleBinding>(client, "rolebindings"),
        list_all::<ClusterRoleBinding>(client, "clusterrolebindings"),
    );
    let (admission_policies, admission_bindings) = futures::join!(
        list_all::<ValidatingAdmissionPolicy>(client, "validatingadmissionpolicies"),
        list_all::<ValidatingAdmissionPolicyBinding>(client, "validatingadmissionpolicybindings"),
    );
    Ok(Inventory {
        admission_policies: admission_policies?,
        admission_bindings: admission_bindings?,
        roles: roles?,
        cluster_roles: cluster_roles?,
        role_bindings: role_bindings?,
        cluster_role_bindings: cluster_role_bindings?,
        audit_policy: None,
        offline: false,
    })
}
