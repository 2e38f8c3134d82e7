//! What the approver's reconciles share within one leadership term.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::Api;
use kube::runtime::events::Recorder;
use kubejit_core::NamedPolicy;
use tokio::sync::watch;

use super::error::Error;
use super::events::EventQueue;
use super::policies::PolicySnapshot;
use super::requests::RequestCache;
use crate::backoff::Backoff;
use crate::bounded_set::BoundedSet;

/// The controller-wide [`crate::Context`] plus the approver's own state.
pub struct Approver {
    pub ctx: Arc<crate::Context>,
    pub api: Api<CertificateSigningRequest>,
    pub recorder: Recorder,
    /// Decision Events, published off the reconcile slots.
    pub events: EventQueue,
    pub policies: watch::Receiver<PolicySnapshot>,
    /// Certificate AccessRequests and their approvals, for Manual CSRs.
    pub requests: RequestCache,
    /// CSR uid → the pending message already announced, so a Manual request gets one Event (and one
    /// audit record) per situation, not one per resync.
    announced: Mutex<HashMap<String, String>>,
    failures: Backoff,
    /// Uids of CSRs whose issued certificate was checked (and, on a mismatch, alarmed), so a resync
    /// never repeats an alarm. Kept in memory, not on the CSR: the controller may not (and should
    /// not) write CSR metadata, and an alarm raised again after a restart or failover is wanted, not
    /// spam. Bounded: when full it is emptied, which costs one silent re-check per CSR still present
    /// (the signer's cleaner deletes issued CSRs after an hour) and at most one repeated alarm.
    certificates_checked: BoundedSet<String>,
}

impl std::fmt::Debug for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approver").finish_non_exhaustive()
    }
}

impl Approver {
    pub fn new(
        ctx: Arc<crate::Context>,
        recorder: Recorder,
        policies: watch::Receiver<PolicySnapshot>,
        requests: RequestCache,
    ) -> Self {
        let events = EventQueue::start(recorder.clone(), ctx.approver.clone());
        Self {
            events,
            api: Api::all(ctx.client.clone()),
            ctx,
            recorder,
            policies,
            requests,
            announced: Mutex::new(HashMap::new()),
            failures: Backoff::default(),
            certificates_checked: BoundedSet::default(),
        }
    }

    /// The current valid policies; an error (and a retry) until the first list has arrived.
    pub fn current_policies(&self) -> Result<Arc<Vec<NamedPolicy>>, Error> {
        self.policies
            .borrow()
            .clone()
            .ok_or(Error::PoliciesNotLoaded)
    }

    /// Whether this exact pending message was already announced for this CSR.
    pub fn announced(&self, uid: &str, message: &str) -> bool {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uid)
            .is_some_and(|m| m == message)
    }

    /// Remembers an announcement once its audit record is written.
    pub fn announce(&self, uid: &str, message: &str) {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uid.to_owned(), message.to_owned());
    }

    /// Forgets a CSR that is not ours: its announcements and failure count.
    pub fn forget(&self, uid: &str) {
        self.forget_announcement(uid);
        self.succeeded(uid);
    }

    /// Forgets the pending announcement of a CSR that is decided.
    pub fn forget_announcement(&self, uid: &str) {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }

    /// Whether this CSR's issued certificate was already checked in this term.
    pub fn certificate_checked(&self, uid: &str) -> bool {
        self.certificates_checked.contains(uid)
    }

    /// Remembers that this CSR's issued certificate was checked (and any alarm recorded).
    pub fn certificate_checked_now(&self, uid: &str) {
        self.certificates_checked.insert(uid.to_owned());
    }

    pub fn succeeded(&self, uid: &str) {
        self.failures.succeeded(uid);
    }

    /// 250 ms, 500 ms, 1 s, … capped at 60 s.
    pub fn next_backoff(&self, uid: &str) -> Duration {
        self.failures.next(uid)
    }
}
