//! What the request controller's reconciles share within one leadership term.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kubejit_audit::EventKind;
use kubejit_core::NamedPolicy;
use kubejit_kube::policy::AccessPolicyResource;
use kubejit_kube::request::AccessApproval;

use crate::backoff::Backoff;
use crate::bounded_set::BoundedSet;
use crate::notify::Notifier;

/// The controller-wide [`crate::Context`] plus the request controller's own state.
pub struct Requests {
    pub ctx: Arc<crate::Context>,
    pub recorder: Recorder,
    pub policies: Store<AccessPolicyResource>,
    pub approvals: Store<AccessApproval>,
    /// Announces phase changes to the governing policy's webhook; never waits.
    pub notifier: Notifier,
    /// (request uid, fact) already in the audit trail, learnt this term: spares a trail lookup per
    /// reconcile. Bounded: when full it is emptied, which costs one lookup per request again.
    recorded: BoundedSet<(String, EventKind)>,
    failures: Backoff,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests").finish_non_exhaustive()
    }
}

impl Requests {
    pub fn new(
        ctx: Arc<crate::Context>,
        recorder: Recorder,
        policies: Store<AccessPolicyResource>,
        approvals: Store<AccessApproval>,
        notifier: Notifier,
    ) -> Self {
        Self {
            ctx,
            recorder,
            policies,
            approvals,
            notifier,
            recorded: BoundedSet::default(),
            failures: Backoff::default(),
        }
    }

    /// Whether the first complete lists of policies and approvals arrived: deciding before would
    /// deny (no policy) or time out (no approvals) for want of them.
    pub fn loaded(&self) -> bool {
        use futures::FutureExt;
        let ready = |r: Option<Result<(), _>>| matches!(r, Some(Ok(())));
        ready(self.policies.wait_until_ready().now_or_never())
            && ready(self.approvals.wait_until_ready().now_or_never())
    }

    /// The valid policies, sorted by name. Invalid ones allow nothing (the approver reports them).
    pub fn current_policies(&self) -> Vec<NamedPolicy> {
        let mut valid: Vec<NamedPolicy> = self
            .policies
            .state()
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        valid.sort_by(|a, b| a.name.cmp(&b.name));
        valid
    }

    pub fn is_recorded(&self, uid: &str, kind: EventKind) -> bool {
        self.recorded.contains(&(uid.to_owned(), kind))
    }

    pub fn mark_recorded(&self, uid: &str, kind: EventKind) {
        self.recorded.insert((uid.to_owned(), kind));
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures.succeeded(uid);
    }

    /// 250 ms, 500 ms, 1 s, … capped at 60 s.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        self.failures.next(uid)
    }
}
