//! The grant reaper: deletes kubejit RoleBindings and ClusterRoleBindings the moment they expire.
//!
//! One kube-runtime `Controller` per binding kind, fed by a full-object watch decoded into a type of
//! its own that keeps only what the reaper reads (`stored`; the audit record of an expiry names the
//! subjects and role, which a metadata-only watch lacks; a GET per deletion would double the API
//! calls). Each annotated binding is requeued exactly at its deadline;
//! at or after it the reaper deletes with uid + resourceVersion preconditions, then records
//! `grantExpired` (Events about expiries are coalesced: see `expiry_events`) (time wins: a failing audit trail never delays the delete; the record is spooled and
//! replayed). Bindings without the annotation, and malformed ones, are never deleted.

mod error;
mod expire;
mod expiry_events;
mod k8s_event;
mod lenient;
mod metrics;
mod reconcile;
mod record;
mod shared;
mod step;
mod stored;
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

/// Reconciles in flight at once per binding kind (`--reaper-concurrency`); bounds memory and the
/// burst on the apiserver. Deadlines are whole seconds, so hundreds of grants can fall due together;
/// each reconcile holds its slot for one DELETE round trip, so with 32 slots a burst of 167 (10,000
/// grants over 60 s) drained in five or more round trips and its last deletions waited for the first.
/// 64 and 128 gave the same lag p99 at 10,000 grants, and 64 held ~2.2 MiB less at the peak in every
/// pair measured (docs/benchmarks.md, rounds h-reaper-2 and -3); the apiserver's flow control
/// (priority level `workload-low` for a service account) queues what exceeds its seats instead of
/// refusing it. The controller's client multiplexes them on one HTTP/2 connection (with
/// `--disable-http2`, each slot holds an HTTP/1.1 connection of its own, with its buffers).
pub const DEFAULT_CONCURRENCY: u16 = 64;

/// Runs both controllers until `term` is cancelled, letting in-flight reconciles finish; the expiry
/// Events gathered so far are written last.
pub async fn run(ctx: Arc<crate::Context>, concurrency: u16, term: CancellationToken) {
    let events = Arc::new(expiry_events::ExpiryEvents::default());
    tokio::join!(
        watch::run_kind::<RoleBinding>(
            Arc::clone(&ctx),
            Arc::clone(&events),
            concurrency,
            term.clone()
        ),
        watch::run_kind::<ClusterRoleBinding>(
            Arc::clone(&ctx),
            Arc::clone(&events),
            concurrency,
            term.clone()
        ),
        events.run(&ctx, term),
    );
    // Reconciles that were in flight when `term` fired may have gathered more since.
    events.flush(&ctx).await;
}
