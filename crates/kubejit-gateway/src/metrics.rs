//! The gateway's Prometheus metrics: open sessions, refused logins by reason, bytes moved.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    sessions: Gauge,
    sessions_total: Counter,
    auth_failures: Family<ReasonLabel, Counter>,
    bytes: Counter,
    ca_reloads: Family<ResultLabel, Counter>,
    trusted_cas: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubejit_gateway");
        let sessions = Gauge::default();
        let sessions_total = Counter::default();
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        let bytes = Counter::default();
        let ca_reloads = Family::<ResultLabel, Counter>::default();
        let trusted_cas = Gauge::default();
        registry.register("sessions", "Open SSH sessions", sessions.clone());
        registry.register(
            "sessions_started",
            "SSH sessions admitted",
            sessions_total.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused SSH logins by reason",
            auth_failures.clone(),
        );
        registry.register(
            "session_bytes",
            "Bytes moved by ended sessions",
            bytes.clone(),
        );
        registry.register(
            "ca_reloads",
            "Changed trusted-CA files read: applied or rejected (previous set kept)",
            ca_reloads.clone(),
        );
        registry.register("trusted_cas", "User CAs trusted now", trusted_cas.clone());
        Self {
            registry: Arc::new(registry),
            sessions,
            sessions_total,
            auth_failures,
            bytes,
            ca_reloads,
            trusted_cas,
        }
    }

    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn session_started(&self) {
        self.sessions.inc();
        self.sessions_total.inc();
    }

    pub fn session_ended(&self, bytes: u64) {
        self.sessions.dec();
        self.bytes.inc_by(bytes);
    }

    /// A changed trusted-CA file set was read: `applied` or `rejected`; `trusted` CAs are in use.
    pub fn ca_reload(&self, result: &str, trusted: usize) {
        self.ca_reloads
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.trusted_cas
            .set(i64::try_from(trusted).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text for `/metrics`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `/metrics` (and `/healthz`) on `listener` until `shutdown` is cancelled.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
