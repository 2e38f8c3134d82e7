//! What every reconciler shares: the client, the clock, metrics, the audit sink and our own identity.

use std::sync::Arc;

use kubejit_audit::Auditor;
use kubejit_core::Clock;
use prometheus_client::registry::Registry;

/// Shared state handed to every reconcile; tests build it with their own clock and sink.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub clock: Arc<dyn Clock>,
    /// Records that gate an action go to its primary sink; records of actions already taken use
    /// [`Context::record_after`] (primary, else the spool, replayed later).
    pub audit: Arc<Auditor>,
    /// The username the apiserver sees for this controller: it must never approve its own requests.
    pub identity: String,
    /// Vendor roots for hardware key attestation (configuration, read once at start).
    pub keys: Arc<kubejit_core::KeyTrust>,
    /// Name used as the audit actor and the Event reporting controller.
    pub controller_name: String,
    pub approver: crate::approver::Metrics,
    pub reaper: crate::reaper::Metrics,
    pub requests: crate::requests::Metrics,
    pub audit_metrics: crate::audit::Metrics,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("identity", &self.identity)
            .field("controller_name", &self.controller_name)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Registers every controller's metrics in `registry`.
    pub fn new(
        client: kube::Client,
        clock: Arc<dyn Clock>,
        audit: Arc<Auditor>,
        identity: String,
        registry: &mut Registry,
    ) -> Self {
        Self {
            client,
            clock,
            audit,
            identity,
            keys: Arc::new(kubejit_core::KeyTrust::none()),
            controller_name: "kubejit-controller".to_owned(),
            approver: crate::approver::Metrics::register(registry),
            reaper: crate::reaper::Metrics::register(registry),
            requests: crate::requests::Metrics::register(registry),
            audit_metrics: crate::audit::Metrics::register(registry),
        }
    }

    /// The vendor roots the approver checks key attestations against.
    pub fn with_keys(mut self, keys: kubejit_core::KeyTrust) -> Self {
        self.keys = Arc::new(keys);
        self
    }
}
