//! Bounded shutdown: once a term ends, in-flight work gets a fixed time to finish, never forever.
//!
//! kube-runtime holds a controller's runner until its store has seen the first complete list, and a
//! graceful shutdown stops the watch without dropping the store's writer: a shutdown that arrives
//! before the first list completes leaves `Controller::run` waiting forever (seen in CI as a replica
//! that never exited after SIGTERM). So every controller runs through [`drain`], which returns at once
//! when nothing can be in flight and otherwise gives in-flight reconciles [`DRAIN_BOUND`].

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use kube::runtime::reflector::Store;
use tokio_util::sync::CancellationToken;

/// How long in-flight reconciles may take to finish their (conditional) writes after the term ends.
/// Kubernetes' default termination grace period is 30 s; the whole process must exit well within it.
pub const DRAIN_BOUND: Duration = Duration::from_secs(5);

/// The whole shutdown, from SIGTERM to exit (drain, Lease release, audit flush): the process gives
/// up waiting after this and exits, logging what it abandoned.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(20);

/// Runs `work` (a controller's stream, driven to completion) until it ends; once `term` is cancelled,
/// waits for it at most [`DRAIN_BOUND`], and not at all while `store` has not seen its first list
/// (then no reconcile has started). Abandoning the future cancels its reconciles: every write they
/// make is conditional, so one cut short is simply not done, and the next leader redoes it.
pub(crate) async fn drain<K, F>(
    what: &'static str,
    term: &CancellationToken,
    store: &Store<K>,
    work: F,
) where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
    F: Future<Output = ()>,
{
    let mut work = std::pin::pin!(work);
    tokio::select! {
        () = &mut work => return,
        () = term.cancelled() => {}
    }
    let listed = matches!(store.wait_until_ready().now_or_never(), Some(Ok(())));
    if !listed {
        tracing::debug!(
            controller = what,
            "stopped before the first list; nothing in flight"
        );
        return;
    }
    if tokio::time::timeout(DRAIN_BOUND, work).await.is_err() {
        tracing::warn!(
            controller = what,
            bound = ?DRAIN_BOUND,
            "in-flight reconciles did not finish in time after shutdown; abandoning them (their writes are conditional)"
        );
    }
}
