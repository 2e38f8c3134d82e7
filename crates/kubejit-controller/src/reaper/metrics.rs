//! Reaper metrics: bindings tracked, overdue and malformed (gauges), deletion lag (histogram).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Seconds from a grant's deadline to its successful deletion.
const LAG_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 600.0, 3600.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    /// Well-formed grants the reaper is waiting on or deleting.
    pub tracked: Gauge,
    /// Grants at or past their deadline that are not deleted yet.
    pub overdue: Gauge,
    /// Grants whose expires-at cannot be parsed (never deleted).
    pub malformed: Gauge,
    pub deletion_lag: Histogram,
    pub deleted: Counter,
    pub errors: Family<ErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            tracked: Gauge::default(),
            overdue: Gauge::default(),
            malformed: Gauge::default(),
            deletion_lag: Histogram::new(LAG_BUCKETS),
            deleted: Counter::default(),
            errors: Family::default(),
        }
    }
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        crate::metrics::register_metrics!(registry, "kubejit_reaper", {
            "bindings_tracked" => "Grants (bindings with a valid expires-at) being tracked": m.tracked,
            "bindings_overdue" => "Grants at or past their deadline, not yet deleted": m.overdue,
            "bindings_malformed" => "Bindings whose expires-at is malformed (never deleted)": m.malformed,
            "deletion_lag_seconds" => "Seconds from a grant's deadline to its deletion": m.deletion_lag,
            "deletions" => "Expired grants deleted": m.deleted,
            "reconcile_errors" => "Reconcile errors by kind": m.errors,
        });
        m
    }
}
