//! An impersonating kube client for one person. The user and groups come only from the accepted
//! certificate (and the gateway's mapping); no client input reaches the impersonation headers.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Config};
use kubejit_core::names::{GroupName, NamespaceName, ObjectName};
use kubejit_core::subject::UserName;

use super::upgrade::{self, ForwardOffer, ForwardProtocol};

/// Kubernetes as one person.
#[derive(Clone)]
pub struct PersonClient {
    client: Client,
}

impl std::fmt::Debug for PersonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonClient").finish_non_exhaustive()
    }
}

/// The Kubernetes permission a running command uses, re-checked while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: NamespaceName,
    pub name: Option<ObjectName>,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        write!(f, " in namespace {}", self.namespace)
    }
}

impl PersonClient {
    /// A client that acts as `user` with exactly `groups`. Any impersonation the gateway's own
    /// kubeconfig carried is replaced, not merged.
    pub fn new(base: &Config, user: &UserName, groups: &[GroupName]) -> Result<Self, kube::Error> {
        let mut config = base.clone();
        config.auth_info.impersonate = Some(user.as_str().to_owned());
        config.auth_info.impersonate_groups =
            Some(groups.iter().map(|g| g.as_str().to_owned()).collect());
        config.auth_info.impersonate_uid = None;
        config.auth_info.impersonate_user_extra = None;
        Ok(Self {
            client: Client::try_from(config)?,
        })
    }

    pub fn pods(&self, namespace: &NamespaceName) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace.as_str())
    }

    /// Opens a port-forward to `port` of `pod` as the person: a WebSocket that carries either
    /// SPDY/3.1 (`kube::spdy`) or `v4.channel.k8s.io`, as the apiserver chose from `offer`;
    /// `session::forward` reads and writes it directly.
    pub async fn portforward(
        &self,
        namespace: &NamespaceName,
        pod: &ObjectName,
        port: u16,
        offer: ForwardOffer,
    ) -> Result<(upgrade::Upgraded, ForwardProtocol), kube::Error> {
        use kube::Resource as _;
        let request = kube::core::Request::new(Pod::url_path(&(), Some(namespace.as_str())))
            .portforward(pod.as_str(), &[port])
            .map_err(kube::Error::BuildRequest)?;
        upgrade::port_forward(&self.client, request, offer).await
    }

    /// Starts `command` in `pod` as the person: the apiserver's exec WebSocket, read and written
    /// directly by `session::exec` (kube's own AttachedProcess sends stdin from the loop that
    /// reads stdout, so a command that stops reading its input also stops its output reaching us).
    /// The flag says whether the protocol can signal the end of stdin (`v5.channel.k8s.io`).
    pub async fn exec(
        &self,
        namespace: &NamespaceName,
        pod: &ObjectName,
        command: Vec<String>,
        params: &kube::api::AttachParams,
    ) -> Result<
        (
            tokio_tungstenite::WebSocketStream<
                impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + use<>,
            >,
            bool,
        ),
        kube::Error,
    > {
        use kube::Resource as _;
        let mut request = kube::core::Request::new(Pod::url_path(&(), Some(namespace.as_str())))
            .exec(pod.as_str(), command, params)
            .map_err(kube::Error::BuildRequest)?;
        request.extensions_mut().insert("exec");
        let connection = self.client.connect(request).await?;
        let closes = connection.supports_stream_close();
        Ok((connection.into_stream(), closes))
    }

    /// The pod names and phases in `namespace`, as the person.
    pub async fn list_pods(
        &self,
        namespace: &NamespaceName,
    ) -> Result<Vec<(String, String)>, kube::Error> {
        let list = self.pods(namespace).list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .map(|p| {
                let name = p.metadata.name.unwrap_or_default();
                let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
                (name, phase)
            })
            .collect())
    }

    /// Whether the person may still do `perm` (asked as the person, so the apiserver's answer is
    /// theirs; never cached past one call).
    pub async fn allowed(&self, perm: &Permission) -> Result<bool, kube::Error> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(perm.verb.to_owned()),
                    resource: Some(perm.resource.to_owned()),
                    subresource: perm.subresource.map(str::to_owned),
                    namespace: Some(perm.namespace.as_str().to_owned()),
                    name: perm.name.as_ref().map(|n| n.as_str().to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &review).await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
