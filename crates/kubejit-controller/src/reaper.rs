//! The grant reaper: deletes kubejit RoleBindings and ClusterRoleBindings the moment they expire.

use std::sync::Arc;

use kubejit_kube::Needed;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Reaper metrics: bindings tracked, deletion lag, overdue and malformed bindings.
#[derive(Debug, Clone, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn register(_registry: &mut Registry) -> Self {
        Self::default()
    }
}

/// What the reaper needs from RBAC (mirrors deploy/rbac).
pub fn required_permissions() -> Vec<Needed> {
    Vec::new()
}

/// Runs until `term` is cancelled.
pub async fn run(_ctx: Arc<crate::Context>, term: CancellationToken) {
    term.cancelled().await;
}
