//! Start-up self-checks: who am I (SelfSubjectReview) and may I do what I need (SelfSubjectAccessReview)?
//!
//! A controller missing a permission should refuse to start with the exact rule to add, rather than
//! fail later in a reconcile loop with a bare 403.

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// One permission, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Needed {
    pub fn cluster(verb: &'static str, group: &'static str, resource: &'static str) -> Self {
        Self {
            verb,
            group,
            resource,
            subresource: None,
            namespace: None,
            name: None,
        }
    }

    pub fn subresource(mut self, sub: &'static str) -> Self {
        self.subresource = Some(sub);
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn in_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }
}

impl std::fmt::Display for Needed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        write!(f, " ({group})")?;
        if let Some(name) = &self.name {
            write!(f, " named {name}")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    #[error("failed to ask the apiserver who we are")]
    SelfSubjectReview(#[source] kube::Error),
    #[error("the apiserver returned a SelfSubjectReview without a username")]
    NoUsername,
    #[error("failed to check permission to {needed}")]
    AccessReview {
        needed: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{user} lacks permissions kubejit needs: {}; apply the RBAC in deploy/ (or grant these rules) and restart",
        missing.join("; ")
    )]
    Missing { user: String, missing: Vec<String> },
}

/// Who the apiserver authenticates this client as (username required): the one SelfSubjectReview
/// kubejit makes, for the controller's start-up check and for stamping an AccessRequest's requester.
pub async fn user_info(client: &kube::Client) -> Result<UserInfo, PermissionError> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(PermissionError::SelfSubjectReview)?;
    review
        .status
        .and_then(|s| s.user_info)
        .filter(|u| u.username.is_some())
        .ok_or(PermissionError::NoUsername)
}

/// The username the apiserver authenticates this client as.
pub async fn whoami(client: &kube::Client) -> Result<String, PermissionError> {
    user_info(client)
        .await?
        .username
        .ok_or(PermissionError::NoUsername)
}

/// Fails with every missing permission listed, so one restart fixes them all.
pub async fn check(client: &kube::Client, needed: &[Needed]) -> Result<(), PermissionError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut missing = Vec::new();
    for n in needed {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(n.verb.to_owned()),
                    group: Some(n.group.to_owned()),
                    resource: Some(n.resource.to_owned()),
                    subresource: n.subresource.map(str::to_owned),
                    namespace: n.namespace.clone(),
                    name: n.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| PermissionError::AccessReview {
                needed: n.to_string(),
                source,
            })?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(n.to_string());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let user = whoami(client)
        .await
        .unwrap_or_else(|_| "this identity".to_owned());
    Err(PermissionError::Missing { user, missing })
}

/// What leader election on one Lease needs.
pub fn lease_permissions(namespace: &str, name: &str) -> Vec<Needed> {
    let lease =
        |verb| Needed::cluster(verb, "coordination.k8s.io", "leases").in_namespace(namespace);
    vec![
        lease("create"),
        lease("get").named(name),
        lease("patch").named(name),
    ]
}
