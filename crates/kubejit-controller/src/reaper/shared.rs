//! What every reconcile of one binding kind shares; below both `reconcile` and `expire`, which use it.

use std::marker::PhantomData;
use std::sync::Arc;

use super::expiry_events::ExpiryEvents;
use super::tracker::Tracker;

/// Shared by every reconcile of one binding kind.
pub(crate) struct Reaper<B> {
    pub ctx: Arc<crate::Context>,
    pub tracker: Tracker,
    /// Shared by both kinds; only RoleBindings not made under a request are gathered here.
    pub events: Arc<ExpiryEvents>,
    pub kind: PhantomData<fn() -> B>,
}
