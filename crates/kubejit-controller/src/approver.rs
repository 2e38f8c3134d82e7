//! The CSR approval controller: approves or denies `kubernetes.io/kube-apiserver-client` CSRs by policy.

use std::sync::Arc;

use kubejit_kube::Needed;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Approver metrics: decisions by result and reason, decision latency.
#[derive(Debug, Clone, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn register(_registry: &mut Registry) -> Self {
        Self::default()
    }
}

/// What the approver needs from RBAC (mirrors deploy/rbac).
pub fn required_permissions() -> Vec<Needed> {
    Vec::new()
}

/// Runs until `term` is cancelled.
pub async fn run(_ctx: Arc<crate::Context>, term: CancellationToken) {
    term.cancelled().await;
}
