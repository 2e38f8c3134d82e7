//! `kubejit proxy`: kubectl talks TLS to a loopback listener (client certificate from a local CA
//! required); its requests go to the apiserver over mTLS made with the short-lived certificate and
//! the key in the PKCS#11 token: ordinary requests over pooled connections, HTTP/1.1 upgrades (exec,
//! attach, port-forward) spliced on a connection of their own (`forward`). The certificate is
//! renewed with the same token key before it expires; requests in flight (a running
//! `kubectl logs -f`) keep the connection they have.
//!
//! It lives beside the credential plugin because it is the plugin's other half: the same CSR flow,
//! for a key kubectl cannot read.

mod forward;
mod local_ca;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use secrecy::ExposeSecret;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::narrator::Narrator;
use crate::token::TokenKey;
use crate::{CredentialError, CredentialRequest, IssuedCertificate, now_unix, refresh_at};
use forward::Forwarder;
use local_ca::LocalCa;
use upstream::CurrentCert;

/// Why the proxy stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("failed to make the local CA")]
    LocalCa(#[source] rcgen::Error),
    #[error("TLS configuration")]
    Tls(#[source] rustls::Error),
    #[error("failed to listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the proxy listens on loopback only; {addr} is not a loopback address")]
    NotLoopback { addr: SocketAddr },
    #[error("failed to read the asking context's cluster")]
    Cluster(#[source] kubejit_kube::ClientError),
    #[error("the cluster URL {url} has no host")]
    NoHost { url: String },
    #[error("failed to get a certificate for the token key")]
    Credential(#[source] Box<CredentialError>),
    #[error("failed to write the proxy kubeconfig")]
    WriteKubeconfig(#[source] Box<CredentialError>),
    #[error("a lock was poisoned by a panic")]
    Poisoned,
}

/// What `kubejit proxy` was asked for.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The asking identity, groups, TTL and incident: as for `kubejit credential`.
    pub request: CredentialRequest,
    /// Loopback address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where a self-contained kubeconfig for kubectl is written (mode 0600).
    pub kubeconfig_out: Option<PathBuf>,
    /// A private directory for the local CA and client certificate/key as files, which the stanza
    /// of `kubejit kubeconfig add-user --pkcs11` reads.
    pub state_dir: Option<PathBuf>,
    /// Renew at least this often, besides the refresh point before expiry (rotate sooner).
    pub renew_every: Option<Duration>,
}

/// Where the apiserver is and how to trust it, from the asking context's kubeconfig.
struct Upstream {
    addr: String,
    server_name: rustls::pki_types::ServerName<'static>,
    roots: Vec<Vec<u8>>,
}

async fn upstream(req: &CredentialRequest) -> Result<Upstream, ProxyError> {
    let options = kubejit_kube::ClientOptions {
        kubeconfig: req.kubeconfig.clone(),
        context: req.context.clone(),
    };
    let config = kubejit_kube::load_config(&options)
        .await
        .map_err(ProxyError::Cluster)?;
    let url = config.cluster_url.clone();
    let host = url
        .host()
        .ok_or_else(|| ProxyError::NoHost {
            url: url.to_string(),
        })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_u16().unwrap_or(443);
    let name = config
        .tls_server_name
        .clone()
        .unwrap_or_else(|| host.clone());
    let server_name = rustls::pki_types::ServerName::try_from(name)
        .map_err(|e| ProxyError::Tls(rustls::Error::General(e.to_string())))?;
    let addr = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    };
    Ok(Upstream {
        addr,
        server_name,
        roots: config.root_cert.clone().unwrap_or_default(),
    })
}

async fn issue(
    req: &CredentialRequest,
    key: &TokenKey,
    narrator: &Narrator,
) -> Result<IssuedCertificate, ProxyError> {
    crate::request_certificate(req, narrator, key, key.public_key_raw())
        .await
        .map_err(|e| ProxyError::Credential(Box::new(e)))
}

/// Runs until `shutdown` resolves. Prints nothing on stdout; `ready` is called with the bound address
/// once the kubeconfig is written.
pub async fn run(
    options: ProxyOptions,
    key: Arc<TokenKey>,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ProxyError> {
    if !options.listen.ip().is_loopback() {
        return Err(ProxyError::NotLoopback {
            addr: options.listen,
        });
    }
    let narrator = Narrator { interactive: false };
    let upstream = upstream(&options.request).await?;
    let first = issue(&options.request, &key, &narrator).await?;
    let current = Arc::new(CurrentCert::new(key.clone()));
    current.install(&first.certificate_pem)?;
    let tls = upstream::client_config(&upstream.roots, current.clone())?;

    let local = LocalCa::generate(options.listen.ip())?;
    let acceptor = TlsAcceptor::from(local.server_config()?);
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| ProxyError::Listen {
                addr: options.listen,
                source,
            })?;
    let bound = listener.local_addr().map_err(|source| ProxyError::Listen {
        addr: options.listen,
        source,
    })?;
    if let Some(dir) = &options.state_dir {
        write_state(dir, &local)?;
    }
    if let Some(path) = &options.kubeconfig_out {
        write_kubeconfig(path, bound, &local)?;
    }
    ready(bound);

    let forwarder = Arc::new(Forwarder::new(Arc::new(upstream), tls));
    let renewal = renew_forever(
        options.request.clone(),
        key,
        current,
        Arc::clone(&forwarder),
        first,
        options.renew_every,
        narrator,
    );
    let serve = async {
        loop {
            let Ok((socket, peer)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let forwarder = Arc::clone(&forwarder);
            tokio::spawn(async move {
                if let Err(error) = serve(socket, &acceptor, forwarder).await {
                    info!(%peer, %error, "proxied connection ended");
                }
            });
        }
    };
    tokio::select! {
        () = serve => Ok(()),
        () = renewal => Ok(()),
        () = shutdown => Ok(()),
    }
}

/// One kubectl connection: TLS with a client certificate from our CA, then its requests forwarded
/// until it closes.
async fn serve(
    socket: TcpStream,
    acceptor: &TlsAcceptor,
    forwarder: Arc<Forwarder>,
) -> std::io::Result<()> {
    // Without TCP_NODELAY, a response written as a head and then a body would have its body held back
    // by Nagle's algorithm until kubectl acknowledges the head, which a delayed ACK puts off by up to
    // 40 ms: every request through the proxy would pay it. The upstream side sets it too.
    socket.set_nodelay(true)?;
    // A local client without our client certificate fails here, before anything reaches the apiserver.
    // Handshakes are bounded so a silent client or apiserver cannot pin a task forever.
    let local = bounded(acceptor.accept(socket)).await?;
    forwarder.serve(local).await.map_err(std::io::Error::other)
}

/// How long a TCP connect or TLS handshake may take (a YubiKey touch included).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

async fn bounded<T>(
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, step)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Files a new CSR with the same token key at the refresh point of the current certificate (the
/// plugin's rule: NotAfter minus 10% of the lifetime, within [1, 5] minutes), or after `every` when
/// that is sooner; on failure, retries every 10 s, also after the certificate has expired.
async fn renew_forever(
    req: CredentialRequest,
    key: Arc<TokenKey>,
    current: Arc<CurrentCert>,
    forwarder: Arc<Forwarder>,
    mut issued: IssuedCertificate,
    every: Option<Duration>,
    narrator: Narrator,
) {
    loop {
        let wait = refresh_at(issued.validity)
            .saturating_sub(now_unix())
            .max(0);
        let wait = Duration::from_secs(wait.unsigned_abs());
        tokio::time::sleep(every.map_or(wait, |every| every.min(wait))).await;
        match issue(&req, &key, &narrator).await {
            Ok(next) => match current.install(&next.certificate_pem) {
                Ok(()) => {
                    forwarder.rotate();
                    info!(csr = %next.csr_name, not_after = next.validity.not_after, "certificate renewed");
                    issued = next;
                }
                Err(error) => warn!(%error, "failed to install the renewed certificate"),
            },
            Err(error) => {
                warn!(error = %error, "failed to renew the certificate; retrying in 10s");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    }
}

/// The local CA, client certificate and key as files in a private directory.
fn write_state(dir: &std::path::Path, local: &LocalCa) -> Result<(), ProxyError> {
    use crate::kubeconfig::{PROXY_CA, PROXY_CLIENT_CERT, PROXY_CLIENT_KEY};
    let fail = |e| ProxyError::WriteKubeconfig(Box::new(e));
    crate::ensure_private_dir(dir).map_err(fail)?;
    crate::write_private_atomic(&dir.join(PROXY_CA), local.ca_pem.as_bytes()).map_err(fail)?;
    crate::write_private_atomic(
        &dir.join(PROXY_CLIENT_CERT),
        local.client_cert_pem.as_bytes(),
    )
    .map_err(fail)?;
    crate::write_private_atomic(
        &dir.join(PROXY_CLIENT_KEY),
        local.client_key_pem.expose_secret().as_bytes(),
    )
    .map_err(fail)
}

/// A kubeconfig (JSON, which kubectl reads as YAML) for the listener, written 0600.
fn write_kubeconfig(
    path: &std::path::Path,
    bound: SocketAddr,
    local: &LocalCa,
) -> Result<(), ProxyError> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubejit-proxy", "cluster": {
            "server": format!("https://{bound}"),
            "certificate-authority-data": b64(&local.ca_pem),
        }}],
        "users": [{"name": "kubejit-proxy", "user": {
            "client-certificate-data": b64(&local.client_cert_pem),
            "client-key-data": b64(local.client_key_pem.expose_secret()),
        }}],
        "contexts": [{"name": "kubejit-proxy", "context": {"cluster": "kubejit-proxy", "user": "kubejit-proxy"}}],
        "current-context": "kubejit-proxy",
    });
    let text = serde_json::to_vec_pretty(&doc)
        .map_err(|e| ProxyError::WriteKubeconfig(Box::new(CredentialError::Render(e))))?;
    crate::write_private_atomic(path, &text).map_err(|e| ProxyError::WriteKubeconfig(Box::new(e)))
}
