//! What the request controller's reconciles share within one leadership term.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kubejit_audit::EventKind;
use kubejit_core::NamedPolicy;
use kubejit_kube::policy::AccessPolicyResource;
use kubejit_kube::request::AccessApproval;

/// The controller-wide [`crate::Context`] plus the request controller's own state.
pub struct Requests {
    pub ctx: Arc<crate::Context>,
    pub recorder: Recorder,
    pub policies: Store<AccessPolicyResource>,
    pub approvals: Store<AccessApproval>,
    /// (request uid, fact) already in the audit trail, learnt this term: spares a trail lookup per
    /// reconcile. Bounded: when full it is emptied, which costs one lookup per request again.
    recorded: Mutex<HashSet<(String, EventKind)>>,
    /// request uid → consecutive failures, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

const MAX_RECORDED: usize = 65_536;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

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
    ) -> Self {
        Self {
            ctx,
            recorder,
            policies,
            approvals,
            recorded: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
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
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(uid.to_owned(), kind))
    }

    pub fn mark_recorded(&self, uid: &str, kind: EventKind) {
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if recorded.len() >= MAX_RECORDED {
            recorded.clear();
        }
        recorded.insert((uid.to_owned(), kind));
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }

    /// 250 ms, 500 ms, 1 s, … capped at 60 s.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(uid.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
    }
}
