//! Builds a kube client from a kubeconfig file and context, with errors that say how to fix them.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::retry::RetryPolicy;
use kube::client::{ClientBuilder, ConfigExt as _};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tower::ServiceBuilder;
use tower::retry::RetryLayer;

/// With no frame read for this long, the controller's HTTP/2 client pings the apiserver (client-go's
/// `ReadIdleTimeout`): after an apiserver restart a dead connection is noticed instead of waited on.
const H2_READ_IDLE: Duration = Duration::from_secs(30);
/// An unanswered ping closes the connection after this long (client-go's `PingTimeout`).
const H2_PING_TIMEOUT: Duration = Duration::from_secs(15);

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
    #[error("the kubeconfig's tls-server-name is not a valid DNS name or IP address")]
    TlsServerName(#[source] rustls::pki_types::InvalidDnsNameError),
}

/// Builds a client; an explicit kubeconfig path wins over the environment.
pub async fn build_client(opts: &ClientOptions) -> Result<Client, ClientError> {
    Client::try_from(load_config(opts).await?).map_err(ClientError::Build)
}

/// Builds the controller's client: HTTP/2 when the apiserver offers it (ALPN `h2`, then `http/1.1`),
/// so every request and watch shares one TLS connection instead of one HTTP/1.1 connection (and its
/// read/write and TLS buffers) per request in flight, as client-go does. Only for processes that never
/// upgrade a connection: exec, port-forward and WebSocket need kube's HTTP/1.1 client ([`build_client`]).
pub async fn build_controller_client(opts: &ClientOptions) -> Result<Client, ClientError> {
    controller_client(load_config(opts).await?)
}

/// kube's own client stack (base URI, retry, auth, extra headers; see kube's `ClientBuilder`) around
/// an HTTP/2-capable hyper client with the same TLS configuration (CA, client certificate, server name).
fn controller_client(config: Config) -> Result<Client, ClientError> {
    // A proxy needs kube's tunnelling connector, and an exec plugin's certificate an expiry kube tracks
    // on its own client: both keep kube's client (HTTP/1.1) rather than a partial copy of it here.
    if config.proxy_url.is_some() || config.auth_info.exec.is_some() {
        tracing::info!(
            "proxy or exec credentials configured: the controller's client uses HTTP/1.1"
        );
        return Client::try_from(config).map_err(ClientError::Build);
    }
    let tls = config.rustls_client_config().map_err(ClientError::Build)?;
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(ClientError::TlsServerName)?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    // Many small frames (HEADERS, WINDOW_UPDATE, PING acks) share one connection: without TCP_NODELAY,
    // Nagle holds a frame back until the previous one is acknowledged, which the peer's delayed ACK
    // can make tens of milliseconds (Go, the apiserver's side, sets it by default).
    http.set_nodelay(true);
    let https = https.enable_all_versions().wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(H2_READ_IDLE)
        .http2_keep_alive_timeout(H2_PING_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer().map_err(ClientError::Build)?)
        .layer(config.extra_headers_layer().map_err(ClientError::Build)?)
        .map_err(tower::BoxError::from)
        .service(hyper);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
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
