//! Builds a kube client from a kubeconfig file and context, with errors that say how to fix them.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where to find cluster credentials; `None` fields fall back to kubectl's rules ($KUBECONFIG, in-cluster).
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to read kubeconfig {path}: check the path or pass --kubeconfig")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("failed to load cluster configuration: set KUBECONFIG or pass --kubeconfig/--context")]
    Infer(#[source] kube::config::InferConfigError),
    #[error(
        "failed to load kubeconfig context: check --context against `kubectl config get-contexts`"
    )]
    Context(#[source] kube::config::KubeconfigError),
    #[error("failed to build Kubernetes client")]
    Build(#[source] kube::Error),
}

/// Builds a client; an explicit kubeconfig path wins over the environment.
pub async fn build_client(opts: &ClientOptions) -> Result<Client, ClientError> {
    Client::try_from(load_config(opts).await?).map_err(ClientError::Build)
}

/// The cluster configuration (server, CA, credentials) a client would be built from.
pub async fn load_config(opts: &ClientOptions) -> Result<Config, ClientError> {
    let kube_opts = KubeConfigOptions {
        context: opts.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| ClientError::ReadKubeconfig {
                path: path.clone(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &kube_opts)
                .await
                .map_err(ClientError::Context)?
        }
        None if opts.context.is_some() => Config::from_kubeconfig(&kube_opts)
            .await
            .map_err(ClientError::Context)?,
        None => Config::infer().await.map_err(ClientError::Infer)?,
    };
    Ok(config)
}
