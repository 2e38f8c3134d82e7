//! What the controller does to the cluster for a request: its finalizer, and the RoleBinding it
//! creates, adopts or deletes. Every write carries a precondition (resourceVersion or uid).

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};
use kubejit_core::request::{RequestFacts, Target};
use kubejit_kube::request::AccessRequest;
use kubejit_kube::{GrantBinding, grant_binding, is_controlled_by, owned_by};
use serde_json::json;
use time::OffsetDateTime;

use super::error::Error;

/// Held on a request from the controller's first look until its access is gone, so a deleted
/// (withdrawn) request is revoked and recorded before it disappears.
pub const FINALIZER: &str = "kubejit.dev/revoke-access";

/// Longest RoleBinding name kept readable; the uid suffix keeps it unique.
const NAME_STEM: usize = 54;

/// The RoleBinding's name, derived from the request alone: a crash between creating it and writing
/// the status cannot make a second one (the retry finds it and adopts it).
pub fn binding_name(request: &AccessRequest) -> String {
    let uid = request.uid().unwrap_or_default();
    let suffix: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    let name = request.name_any();
    let stem: String = name.chars().take(NAME_STEM).collect();
    let stem = stem.trim_end_matches(['-', '.']);
    format!("{stem}-{suffix}")
}

fn what(request: &AccessRequest) -> String {
    format!(
        "{}/{}",
        request.namespace().unwrap_or_default(),
        request.name_any()
    )
}

fn requests_api(client: &kube::Client, request: &AccessRequest) -> Api<AccessRequest> {
    Api::namespaced(client.clone(), &request.namespace().unwrap_or_default())
}

fn bindings_api(client: &kube::Client, request: &AccessRequest) -> Api<RoleBinding> {
    Api::namespaced(client.clone(), &request.namespace().unwrap_or_default())
}

pub fn has_finalizer(request: &AccessRequest) -> bool {
    request.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds the finalizer, conditional on the resourceVersion that was read.
pub async fn add_finalizer(
    client: &kube::Client,
    request: &AccessRequest,
) -> Result<AccessRequest, Error> {
    let mut finalizers = request.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    patch_finalizers(client, request, finalizers)
        .await
        .map_err(|source| Error::AddFinalizer {
            what: what(request),
            source,
        })
}

/// Releases the finalizer, conditional on the resourceVersion that was read.
pub async fn release_finalizer(
    client: &kube::Client,
    request: &AccessRequest,
) -> Result<(), Error> {
    let finalizers: Vec<String> = request
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match patch_finalizers(client, request, finalizers).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::ReleaseFinalizer {
            what: what(request),
            source,
        }),
    }
}

async fn patch_finalizers(
    client: &kube::Client,
    request: &AccessRequest,
    finalizers: Vec<String>,
) -> Result<AccessRequest, kube::Error> {
    let patch = json!({
        "metadata": {
            "resourceVersion": request.resource_version(),
            "finalizers": finalizers,
        }
    });
    requests_api(client, request)
        .patch(
            &request.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
}

/// The request's RoleBinding if it exists and is this request's (controlled by its uid). A binding
/// of that name owned by anything else is not this request's access: `None`.
pub async fn find_binding(
    client: &kube::Client,
    request: &AccessRequest,
) -> Result<Option<RoleBinding>, Error> {
    let name = binding_name(request);
    let found = bindings_api(client, request)
        .get_opt(&name)
        .await
        .map_err(|source| Error::ReadBinding {
            what: format!("{}/{name}", request.namespace().unwrap_or_default()),
            source,
        })?;
    let uid = request.uid().unwrap_or_default();
    Ok(found.filter(|b| is_controlled_by(b, &uid)))
}

/// Creates the request's RoleBinding ending at `expires_at`, owned by the request; adopts one this
/// request already created (a crash before the status write); refuses (`NameTaken`) when the name is
/// held by a binding this request does not control. Certificate requests create nothing
/// here: the CSR approver approves the requester's CSR under them.
pub async fn grant(
    client: &kube::Client,
    granted_by: &str,
    request: &AccessRequest,
    facts: &RequestFacts,
    expires_at: OffsetDateTime,
) -> Result<Option<RoleBinding>, Error> {
    let Target::Role { namespace, role } = &facts.target else {
        return Ok(None);
    };
    let incident = facts.incident.as_deref();
    let binding = grant_binding(&GrantBinding {
        name: binding_name(request),
        namespace,
        role,
        subjects: &facts.subjects,
        expires_at,
        incident,
        granted_by,
        reason: Some(facts.reason.as_str()),
    });
    let binding = owned_by(binding, request);
    let name = binding_name(request);
    match bindings_api(client, request)
        .create(&PostParams::default(), &binding)
        .await
    {
        Ok(created) => Ok(Some(created)),
        Err(kube::Error::Api(s)) if s.code == 409 => match find_binding(client, request).await? {
            Some(ours) => Ok(Some(ours)),
            None => Err(Error::NameTaken {
                what: format!("{namespace}/{name}"),
            }),
        },
        Err(source) => Err(Error::CreateBinding {
            what: format!("{namespace}/{name}"),
            source,
        }),
    }
}

/// Deletes the request's RoleBinding, conditional on its uid; gone already is done.
pub async fn revoke(
    client: &kube::Client,
    request: &AccessRequest,
    binding: &RoleBinding,
) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: binding.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match bindings_api(client, request)
        .delete(&binding.name_any(), &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::DeleteBinding {
            what: format!(
                "{}/{}",
                request.namespace().unwrap_or_default(),
                binding.name_any()
            ),
            source,
        }),
    }
}
