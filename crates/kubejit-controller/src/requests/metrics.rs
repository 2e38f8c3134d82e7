//! Request controller metrics: phase transitions written, grants created and revoked, errors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Status writes that moved a request into a phase.
    pub transitions: Family<PhaseLabels, Counter>,
    /// RoleBindings created (or adopted after a crash) for approved requests.
    pub granted: Counter,
    /// RoleBindings deleted because their request ended early.
    pub revoked: Counter,
    pub errors: Family<ErrorLabels, Counter>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("kubejit_requests");
        r.register(
            "transitions",
            "AccessRequest phase changes written to status, by new phase",
            m.transitions.clone(),
        );
        r.register(
            "grants_created",
            "RoleBindings created for approved AccessRequests",
            m.granted.clone(),
        );
        r.register(
            "grants_revoked",
            "RoleBindings deleted because their AccessRequest ended early",
            m.revoked.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconcile errors by kind",
            m.errors.clone(),
        );
        m
    }

    pub fn transition(&self, phase: &'static str) {
        self.transitions.get_or_create(&PhaseLabels { phase }).inc();
    }

    pub fn error(&self, error: &'static str) {
        self.errors.get_or_create(&ErrorLabels { error }).inc();
    }
}
