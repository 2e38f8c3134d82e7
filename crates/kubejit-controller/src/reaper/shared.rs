//! What every reconcile of one binding kind shares; below both `reconcile` and `expire`, which use it.

use std::marker::PhantomData;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::expiry_events::ExpiryEvents;
use super::tracker::Tracker;

/// Shared by every reconcile of one binding kind.
pub(crate) struct Reaper<B> {
    pub ctx: Arc<crate::Context>,
    pub tracker: Tracker,
    /// Shared by both kinds; only RoleBindings not made under a request are gathered here.
    pub events: Arc<ExpiryEvents>,
    /// What follows each deletion (its audit record, its Event): off the reconcile, waited for
    /// (bounded) when the reaper stops.
    pub after: TaskTracker,
    pub kind: PhantomData<fn() -> B>,
}

/// Waits (at most [`crate::shutdown::DRAIN_BOUND`]) for what follows the deletions already made: their
/// records are written (or spooled) before the process goes. Closes `after`: call it once, when the
/// reconciles have drained.
pub(crate) async fn settle(after: &TaskTracker) {
    after.close();
    if tokio::time::timeout(crate::shutdown::DRAIN_BOUND, after.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            pending = after.len(),
            "records of expired grants are still being written after shutdown; abandoning them"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// The reconcile returns once its DELETE is answered; the record written after it must not be
    /// lost to a shutdown that comes in between.
    #[tokio::test]
    async fn stopping_waits_for_the_records_of_deletions_already_made() {
        let after = TaskTracker::new();
        let written = Arc::new(AtomicBool::new(false));
        let w = Arc::clone(&written);
        after.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            w.store(true, Ordering::SeqCst);
        });
        settle(&after).await;
        assert!(written.load(Ordering::SeqCst));
        assert!(after.is_closed() && after.is_empty());
    }
}
