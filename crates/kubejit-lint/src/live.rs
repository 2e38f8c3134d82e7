//! Live input: every Role, ClusterRole (with the rules the aggregation controller already wrote),
//! RoleBinding and ClusterRoleBinding the apiserver holds, and the ValidatingAdmissionPolicies and
//! their bindings, listed in pages; kubejit's AccessPolicies and its controller Deployment.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use kubejit_kube::policy::AccessPolicyResource;

use crate::check_kubejit::CONTROLLER;
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

/// Every AccessPolicy; none when kubejit's CRD is not installed (nothing it could allow).
async fn list_policies(client: &Client) -> Result<Vec<Located<AccessPolicyResource>>, LintError> {
    match list_all::<AccessPolicyResource>(client, "accesspolicies").await {
        Err(LintError::List {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => Ok(Vec::new()),
        other => other,
    }
}

/// kubejit's controller Deployment, if installed.
async fn controller_deployment(client: &Client) -> Result<Option<Located<Deployment>>, LintError> {
    let (namespace, name) = CONTROLLER;
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map(|d| d.map(Located::live))
        .map_err(|source| LintError::List {
            what: "deployments",
            source,
        })
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
    let (access_policies, controller) =
        futures::join!(list_policies(client), controller_deployment(client));
    Ok(Inventory {
        access_policies: access_policies?,
        controller: controller?,
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
