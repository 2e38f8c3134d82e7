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

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    sessions: Gauge,
    sessions_total: Counter,
    auth_failures: Family<ReasonLabel, Counter>,
    bytes: Counter,
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
        Self {
            registry: Arc::new(registry),
            sessions,
            sessions_total,
            auth_failures,
            bytes,
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
