//! The `AccessRequest` and `AccessApproval` custom resources (kubejit.dev/v1alpha1, namespaced) as kube
//! resource types.
//!
//! As with `AccessPolicy`, spec and status are kubejit-core's serde mirrors (one definition of the
//! fields, no kube types in core), so these are hand-written `kube::Resource` impls rather than
//! `#[derive(CustomResource)]`, which must sit on the spec struct itself. The OpenAPI + CEL schemas
//! live in `deploy/crds/`; a test below keeps them and these types in step.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{NamespaceResourceScope, TypeMeta};
use kubejit_core::request::{
    AccessApprovalSpec, AccessRequestSpec, AccessRequestStatus, ApprovalFacts, Recorded,
    RequestFacts, RequestSpecError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::policy::{GROUP, VERSION};

mod api;
mod table;
mod wait;
mod watch;

pub use api::{RequestError, create, decide, get, identity, list, new_request, withdraw};
pub use table::{REQUESTS_FORMATS, WatchPrinter, render_requests};
pub use wait::{Settled, wait_settled};
pub use watch::watch;

/// One AccessRequest as stored in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRequest {
    /// `apiVersion` and `kind`: the apiserver requires them on create.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    pub metadata: ObjectMeta,
    pub spec: AccessRequestSpec,
    /// Read leniently: a status kubejit cannot read (a break-glass edit the schema still allowed)
    /// is treated as absent rather than failing the whole list and stalling the controller.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_status"
    )]
    pub status: Option<AccessRequestStatus>,
}

fn lenient_status<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AccessRequestStatus>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// One AccessApproval as stored in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessApproval {
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    pub metadata: ObjectMeta,
    pub spec: AccessApprovalSpec,
}

macro_rules! namespaced_resource {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                GROUP.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                VERSION.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

namespaced_resource!(AccessRequest, "AccessRequest", "accessrequests");
namespaced_resource!(AccessApproval, "AccessApproval", "accessapprovals");

/// `apiVersion`/`kind` of `K`, for objects kubejit creates.
pub fn type_meta<K: kube::Resource<DynamicType = ()>>() -> TypeMeta {
    TypeMeta {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
    }
}

/// `metadata.creationTimestamp`, which the apiserver always sets; an object without one (never stored)
/// counts as created at the epoch, so every deadline derived from it has already passed (fail closed).
fn created_at(meta: &ObjectMeta) -> OffsetDateTime {
    meta.creation_timestamp
        .as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl AccessRequest {
    /// Validates into trusted facts for [`kubejit_core::request::decide_request`].
    pub fn facts(&self) -> Result<RequestFacts, RequestSpecError> {
        RequestFacts::parse(
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.uid.as_deref().unwrap_or_default(),
            created_at(&self.metadata),
            self.metadata.deletion_timestamp.is_some(),
            &self.spec,
        )
    }

    /// What the controller recorded in status; `granted` is what it observes in the cluster.
    pub fn recorded(&self, granted: bool) -> Recorded {
        let status = self.status.clone().unwrap_or_default();
        Recorded {
            phase: status.phase,
            approved_at: status.approved_at,
            granted,
        }
    }
}

impl AccessApproval {
    pub fn facts(&self) -> ApprovalFacts {
        ApprovalFacts::new(
            self.metadata.name.as_deref().unwrap_or_default(),
            created_at(&self.metadata),
            &self.spec,
        )
    }
}

#[cfg(test)]
mod tests;
