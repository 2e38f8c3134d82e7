//! Asking and listing: create an AccessRequest with the requester the apiserver reports, list them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use kubejit_core::request::{
    AccessApprovalSpec, AccessRequestSpec, ApprovalDecision, IdentitySpec,
};

use super::{AccessApproval, AccessRequest};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("failed to learn who you are")]
    Identify(#[source] crate::permissions::PermissionError),
    #[error("failed to create the AccessRequest in namespace {namespace}")]
    Create {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read AccessRequest {namespace}/{name}")]
    Get {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to record the decision on AccessRequest {namespace}/{name}")]
    Decide {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The apiserver closed a watch for good (it re-lists by itself after any gap).
    #[error("the watch of {what} ended; see `kubejit requests`")]
    WatchEnded { what: String },
    #[error("failed to withdraw AccessRequest {namespace}/{name} (delete it)")]
    Withdraw {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "failed to list AccessRequests: check that deploy/ is applied and you may list accessrequests.kubejit.dev"
    )]
    List(#[source] kube::Error),
}

/// The caller exactly as the apiserver authenticates it: what admission compares `spec.requester`
/// with, so it is asked for, never assembled from local configuration.
pub async fn identity(client: &Client) -> Result<IdentitySpec, RequestError> {
    let info = crate::permissions::user_info(client)
        .await
        .map_err(RequestError::Identify)?;
    Ok(IdentitySpec {
        username: info.username.unwrap_or_default(),
        groups: info.groups.unwrap_or_default(),
    })
}

/// A new request object: named `name`, or by the apiserver from `prefix` when `name` is `None`.
pub fn new_request(
    namespace: &str,
    name: Option<&str>,
    prefix: &str,
    spec: AccessRequestSpec,
) -> AccessRequest {
    AccessRequest {
        types: Some(super::type_meta::<AccessRequest>()),
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            name: name.map(str::to_owned),
            generate_name: name.is_none().then(|| format!("{prefix}-")),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "kubejit".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

pub async fn create(
    client: &Client,
    request: &AccessRequest,
) -> Result<AccessRequest, RequestError> {
    let namespace = request.metadata.namespace.clone().unwrap_or_default();
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), &namespace);
    api.create(&PostParams::default(), request)
        .await
        .map_err(|source| RequestError::Create { namespace, source })
}

/// Requests in one namespace, or in all (`None`), sorted by namespace, then creation, then name.
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<AccessRequest>, RequestError> {
    let api: Api<AccessRequest> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut items = api
        .list(&ListParams::default())
        .await
        .map_err(RequestError::List)?
        .items;
    sort(&mut items);
    Ok(items)
}

/// By namespace, then creation, then name: the order `kubejit requests` shows.
pub(super) fn sort(items: &mut [AccessRequest]) {
    items.sort_by(|a, b| {
        let key = |r: &AccessRequest| {
            (
                r.metadata.namespace.clone(),
                r.metadata.creation_timestamp.as_ref().map(|t| t.0),
                r.metadata.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// Records `decision` on the request `namespace/name` as an AccessApproval in the caller's name,
/// tied to the request's uid (a re-created request of the same name does not inherit it).
pub async fn decide(
    client: &Client,
    namespace: &str,
    name: &str,
    decision: ApprovalDecision,
    comment: Option<String>,
) -> Result<AccessApproval, RequestError> {
    let requests: Api<AccessRequest> = Api::namespaced(client.clone(), namespace);
    let request = requests
        .get(name)
        .await
        .map_err(|source| RequestError::Get {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })?;
    let approval = AccessApproval {
        types: Some(super::type_meta::<AccessApproval>()),
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            generate_name: Some(format!("{name}-")),
            ..ObjectMeta::default()
        },
        spec: AccessApprovalSpec {
            request: name.to_owned(),
            request_uid: request.metadata.uid.unwrap_or_default(),
            decision,
            comment,
            approver: identity(client).await?,
        },
    };
    let approvals: Api<AccessApproval> = Api::namespaced(client.clone(), namespace);
    approvals
        .create(&PostParams::default(), &approval)
        .await
        .map_err(|source| RequestError::Decide {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        })
}

/// Reads one request.
pub async fn get(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<AccessRequest, RequestError> {
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), namespace);
    api.get(name).await.map_err(|source| RequestError::Get {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })
}

/// Withdraws a request by deleting it, on condition that it is still the object that was read
/// (its uid): a re-created request of the same name is never withdrawn by mistake. The controller
/// then marks it `Withdrawn` and removes what it granted. A request already gone counts as done.
pub async fn withdraw(client: &Client, request: &AccessRequest) -> Result<(), RequestError> {
    let namespace = request.metadata.namespace.clone().unwrap_or_default();
    let name = request.metadata.name.clone().unwrap_or_default();
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), &namespace);
    let params = kube::api::DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: request.metadata.uid.clone(),
            resource_version: None,
        }),
        ..kube::api::DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(RequestError::Withdraw {
            namespace,
            name,
            source,
        }),
    }
}
