//! The grant reaper: deletes kubejit RoleBindings and ClusterRoleBindings the moment they expire.
//!
//! One kube-runtime `Controller` per binding kind, fed by a slimmed full-object watch (the audit
//! record of an expiry names the subjects and role, which a metadata-only watch lacks; a GET per
//! deletion would double the API calls). Each annotated binding is requeued exactly at its deadline;
//! at or after it the reaper deletes with uid + resourceVersion preconditions, then records
//! `grantExpired` (Events about expiries are coalesced: see `expiry_events`) (time wins: a failing audit trail never delays the delete; the record is spooled and
//! replayed). Bindings without the annotation, and malformed ones, are never deleted.

mod error;
mod expire;
mod expiry_events;
mod k8s_event;
mod metrics;
mod reconcile;
mod record;
mod shared;
mod step;
mod tracker;
mod watch;

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kubejit_kube::Needed;
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use metrics::Metrics;

/// What the reaper needs from RBAC (mirrors deploy/rbac).
pub fn required_permissions() -> Vec<Needed> {
    let rbac = |verb, resource| Needed::cluster(verb, "rbac.authorization.k8s.io", resource);
    let mut needed = Vec::new();
    for resource in ["rolebindings", "clusterrolebindings"] {
        for verb in ["get", "list", "watch", "delete"] {
            needed.push(rbac(verb, resource));
        }
    }
    needed.push(Needed::cluster("create", "events.k8s.io", "events"));
    needed
}

/// Runs both controllers until `term` is cancelled, letting in-flight reconciles finish; the expiry
/// Events gathered so far are written last.
pub async fn run(ctx: Arc<crate::Context>, term: CancellationToken) {
    let events = Arc::new(expiry_events::ExpiryEvents::default());
    tokio::join!(
        watch::run_kind::<RoleBinding>(Arc::clone(&ctx), Arc::clone(&events), term.clone()),
        watch::run_kind::<ClusterRoleBinding>(Arc::clone(&ctx), Arc::clone(&events), term.clone()),
        events.run(&ctx, term),
    );
    // Reconciles that were in flight when `term` fired may have gathered more since.
    events.flush(&ctx).await;
}
