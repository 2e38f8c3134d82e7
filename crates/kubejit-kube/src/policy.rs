//! The `AccessPolicy` custom resource (kubejit.dev/v1alpha1, cluster-scoped) as a kube resource type.
//!
//! The spec is kubejit-core's serde mirror, so there is exactly one definition of the fields; the
//! OpenAPI + CEL schema that makes `kubectl apply` reject bad policy lives in
//! `deploy/crds/accesspolicies.kubejit.dev.yaml`.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::ClusterResourceScope;
use kubejit_core::{AccessPolicySpec, NamedPolicy, PolicyError};
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "kubejit.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "AccessPolicy";
pub const PLURAL: &str = "accesspolicies";

/// One AccessPolicy object as stored in the cluster (the CRD type; kubejit-core's `AccessPolicy` is the
/// validated model it parses into).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessPolicyResource {
    pub metadata: ObjectMeta,
    pub spec: AccessPolicySpec,
}

impl kube::Resource for AccessPolicyResource {
    type DynamicType = ();
    type Scope = ClusterResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        PLURAL.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl AccessPolicyResource {
    /// Validates into trusted policy. A policy that does not validate is skipped by callers
    /// (fail closed: it can never allow anything) and reported.
    pub fn parse(&self) -> Result<NamedPolicy, PolicyError> {
        NamedPolicy::parse(
            self.metadata.name.as_deref().unwrap_or_default(),
            &self.spec,
        )
    }
}

/// Validates every policy; returns the valid ones (sorted by name) and the errors of the others.
pub fn parse_all(policies: &[AccessPolicyResource]) -> (Vec<NamedPolicy>, Vec<PolicyError>) {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for p in policies {
        match p.parse() {
            Ok(n) => valid.push(n),
            Err(e) => invalid.push(e),
        }
    }
    valid.sort_by(|a, b| a.name.cmp(&b.name));
    (valid, invalid)
}
