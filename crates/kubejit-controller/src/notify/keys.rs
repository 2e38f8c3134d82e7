//! Where a webhook's HMAC key comes from: the Secret named by the policy, read for every delivery so
//! that a rotated key is used from the next notification on (no cache to go stale).

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kubejit_core::{SecretKeyRef, WEBHOOK_SECRET_NAMESPACE};
use secrecy::SecretSlice;

/// Why no key could be had. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to read Secret {WEBHOOK_SECRET_NAMESPACE}/{name}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret {WEBHOOK_SECRET_NAMESPACE}/{name} has no key {key:?} (or it is empty)")]
    MissingKey { name: String, key: String },
}

/// A source of webhook keys; the controller's is [`SecretKeys`], tests bring their own.
pub trait KeySource: Send + Sync + 'static {
    fn key<'a>(
        &'a self,
        secret: &'a SecretKeyRef,
    ) -> BoxFuture<'a, Result<SecretSlice<u8>, KeyError>>;
}

/// Reads keys from Secrets in `kubejit-system` with the controller's client (`get` only).
#[derive(Clone)]
pub struct SecretKeys {
    api: Api<Secret>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeys")
    }
}

impl SecretKeys {
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::namespaced(client, WEBHOOK_SECRET_NAMESPACE),
        }
    }

    /// The key, or why not. An empty value counts as missing: an HMAC under an empty key proves
    /// nothing.
    pub async fn read(&self, secret: &SecretKeyRef) -> Result<SecretSlice<u8>, KeyError> {
        let name = secret.name.as_str();
        let found = self.api.get(name).await.map_err(|source| KeyError::Read {
            name: name.to_owned(),
            source,
        })?;
        let bytes = found
            .data
            .and_then(|mut data| data.remove(&secret.key))
            .map(|b| b.0)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| KeyError::MissingKey {
                name: name.to_owned(),
                key: secret.key.clone(),
            })?;
        Ok(SecretSlice::from(bytes))
    }
}

impl KeySource for SecretKeys {
    fn key<'a>(
        &'a self,
        secret: &'a SecretKeyRef,
    ) -> BoxFuture<'a, Result<SecretSlice<u8>, KeyError>> {
        Box::pin(self.read(secret))
    }
}
