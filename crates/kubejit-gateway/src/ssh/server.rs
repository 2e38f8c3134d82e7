//! The listening gateway: host key, russh configuration (certificate auth only), accept loop and
//! graceful shutdown that tells connected users why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::MethodKind;
use russh::server::Server as _;
use tokio::net::TcpListener;

use super::handler::{Connection, Shared};
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::record::InputPolicy;
use crate::session::{RecordingPolicy, Registry, Reporter};
use tokio_util::sync::CancellationToken;

/// A bound, ready gateway.
#[derive(Debug)]
pub struct Gateway {
    listener: TcpListener,
    shared: Arc<Shared>,
    russh: Arc<russh::server::Config>,
    ca_files: Vec<std::path::PathBuf>,
    metrics: Metrics,
}

struct Acceptor {
    shared: Arc<Shared>,
}

impl russh::server::Server for Acceptor {
    type Handler = Connection;
    fn new_client(&mut self, peer: Option<SocketAddr>) -> Connection {
        Connection::new(Arc::clone(&self.shared), peer)
    }
}

impl Gateway {
    /// Loads keys and credentials and binds the listen address. Session records go to `audit`.
    pub async fn bind(
        config: &GatewayConfig,
        metrics: Metrics,
        audit: Arc<kubejit_audit::Auditor>,
    ) -> Result<Self, GatewayError> {
        let policy = config.cert_policy()?;
        metrics.ca_reload("applied", policy.trusted_cas.len());
        let cas = Arc::new(tokio::sync::watch::Sender::new(Arc::new(
            policy.trusted_cas.clone(),
        )));
        let host_key = crate::host_key::load_or_create(&config.host_key)?;
        let host_certs = match &config.host_cert {
            Some(path) => vec![crate::host_key::load_host_cert(
                path,
                &host_key,
                crate::session::unix_now(),
            )?],
            None => Vec::new(),
        };
        let base = kubejit_kube::load_config(&config.client)
            .await
            .map_err(GatewayError::Client)?;
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| GatewayError::Listen {
                    addr: config.listen.clone(),
                    source,
                })?;
        let russh = russh::server::Config {
            methods: (&[MethodKind::PublicKey][..]).into(),
            keys: vec![host_key],
            // Offered (as `…-cert-v01@openssh.com`) to clients that know the host CA.
            certificates: host_certs,
            // Our own watch ends idle sessions, and says why.
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            auth_rejection_time: Duration::from_millis(500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            nodelay: true,
            // Backpressure: the client's window is refilled only as its bytes reach the pod
            // (session::Inbox), so a channel holds at most this much of them.
            window_size: crate::session::CHANNEL_WINDOW,
            manual_window_adjust: true,
            // Expired / not-yet-valid / badly signed certificates reach `decide_cert` (which
            // checks all three against `now`), so each refusal is audited with its reason.
            certificate_checks_in_handler: true,
            preferred: russh::Preferred {
                cipher: super::ciphers::offered().into(),
                ..russh::Preferred::default()
            },
            ..russh::server::Config::default()
        };
        let shared = Shared {
            policy,
            cas,
            base,
            limits: config.limits,
            registry: Arc::new(Registry::default()),
            reporter: Reporter::new(metrics.clone(), audit),
            recording: RecordingPolicy {
                dir: config.recordings.clone(),
                input: if config.record_input {
                    InputPolicy::Record
                } else {
                    InputPolicy::Skip
                },
            },
            shutdown: CancellationToken::new(),
            port_forward: config.port_forward,
            nudge: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        Ok(Self {
            listener,
            shared: Arc::new(shared),
            russh: Arc::new(russh),
            ca_files: config.trusted_ca_files.clone(),
            metrics,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then disconnects everyone with a message.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), GatewayError> {
        let mut acceptor = Acceptor {
            shared: Arc::clone(&self.shared),
        };
        if let Ok(client) = kube::Client::try_from(self.shared.base.clone()) {
            tokio::spawn(crate::kube::watch_deletions(
                client,
                Arc::clone(&self.shared.nudge),
                self.shared.shutdown.clone(),
            ));
        }
        tokio::spawn(crate::trust::reload(
            self.ca_files.clone(),
            Arc::clone(&self.shared.cas),
            self.metrics.clone(),
            self.shared.limits.ca_reload_interval,
            self.shared.shutdown.clone(),
        ));
        let running = acceptor.run_on_socket(Arc::clone(&self.russh), &self.listener);
        let handle = running.handle();
        tokio::select! {
            r = running => r.map_err(GatewayError::Serve),
            () = shutdown => {
                // Sessions tell their users first (stderr), then everyone is disconnected.
                self.shared.shutdown.cancel();
                tokio::time::sleep(Duration::from_millis(500)).await;
                handle.shutdown("kubejit: the gateway is shutting down; reconnect in a moment".into());
                Ok(())
            }
        }
    }
}
