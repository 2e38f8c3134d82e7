//! Leader election on a coordination.k8s.io Lease: controllers run only while this replica holds it.
//!
//! Leadership is an optimisation, not the safety net: during an apiserver outage a stale leader may
//! briefly overlap with a new one, so every write a controller makes carries `resourceVersion`/`uid`
//! preconditions and a double action fails with a conflict instead of acting twice.

use std::future::Future;
use std::time::Duration;

use kube_lease_manager::LeaseManagerBuilder;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::shutdown::DRAIN_BOUND;

/// Releasing the Lease is one API call; an unreachable apiserver must not hold up the exit.
const RELEASE_BOUND: Duration = Duration::from_secs(5);

/// Where the lease lives and how long a holder keeps it without renewing.
#[derive(Debug, Clone)]
pub(crate) struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration_secs: u64,
    pub grace_secs: u64,
}

/// Runs `work` for each term of leadership until `shutdown`; `work` gets a token that is cancelled
/// when the term ends and must return promptly (finishing in-flight writes) once it is.
pub(crate) async fn lead<F, Fut>(
    client: kube::Client,
    cfg: &LeaseConfig,
    shutdown: CancellationToken,
    mut on_change: impl FnMut(bool),
    mut work: F,
) -> Result<(), Error>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let err = |source| Error::LeaderElection {
        namespace: cfg.namespace.clone(),
        name: cfg.name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client, &cfg.name)
        .with_namespace(&cfg.namespace)
        .with_identity(&cfg.identity)
        .with_duration(cfg.duration_secs)
        .with_grace(cfg.grace_secs)
        .build()
        .await
        .map_err(err)?;
    let (mut leading, lease_task) = manager.watch().await;
    loop {
        // Follower: wait for the lease (or shutdown).
        while !*leading.borrow_and_update() {
            tokio::select! {
                () = shutdown.cancelled() => return release(leading, lease_task).await,
                changed = leading.changed() => if changed.is_err() { return release(leading, lease_task).await },
            }
        }
        on_change(true);
        let term = shutdown.child_token();
        let job = work(term.clone());
        tokio::pin!(job);
        let finished = loop {
            tokio::select! {
                () = &mut job => break true,
                changed = leading.changed() => {
                    if changed.is_err() || !*leading.borrow_and_update() {
                        term.cancel();
                        break false;
                    }
                }
                () = shutdown.cancelled() => {
                    term.cancel();
                    break false;
                }
            }
        };
        if !finished {
            // Let in-flight reconciles finish their conditional writes before giving up the term —
            // for a bounded time: each controller drains within DRAIN_BOUND, this is the backstop.
            let bound = DRAIN_BOUND + Duration::from_secs(2);
            if tokio::time::timeout(bound, job).await.is_err() {
                tracing::warn!(
                    ?bound,
                    "the term's work did not return after it ended; abandoning it"
                );
            }
        }
        on_change(false);
        if shutdown.is_cancelled() {
            return release(leading, lease_task).await;
        }
    }
}

/// Closing the channel makes the lease manager release the Lease, so a peer takes over at once.
async fn release(
    leading: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
) -> Result<(), Error> {
    drop(leading);
    match tokio::time::timeout(RELEASE_BOUND, task).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "failed to release the leader lease; it expires on its own")
        }
        Ok(Err(error)) => tracing::warn!(%error, "leader lease task failed"),
        Err(_) => tracing::warn!(
            bound = ?RELEASE_BOUND,
            "releasing the leader lease took too long (apiserver unreachable?); it expires on its own"
        ),
    }
    Ok(())
}
