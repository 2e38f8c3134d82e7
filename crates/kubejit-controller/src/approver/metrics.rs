//! Approver metrics: decisions by result and reason, decision latency, errors, invalid policies, and
//! issued certificates that do not match their approval.

use kubejit_core::DenyReason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::error::{Error, NON_RECONCILE_ERRORS};
use super::outcome::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    result: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

/// The parts of one decision that wait on something other than this process's CPU, timed so a
/// slow decision says where it waited (docs/benchmarks.md, CSR decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The trail lookup and the record (one trip to the blocking pool, the fsync included).
    Audit,
    /// The approval subresource update's round trip.
    Approval,
    /// The whole reconcile of a pending CSR, from its slot being taken to it being freed.
    Slot,
}

impl Step {
    const ALL: [Self; 3] = [Self::Audit, Self::Approval, Self::Slot];

    fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Approval => "approval",
            Self::Slot => "slot",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

/// Approver metrics, registered once per process and shared by every leadership term.
#[derive(Debug, Clone)]
pub struct Metrics {
    decisions: Family<DecisionLabels, Counter>,
    latency: Histogram,
    steps: Family<StepLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    invalid_policies: Gauge,
    certificate_mismatches: Counter,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            decisions: Family::default(),
            // 10 ms … ~82 s: an approval normally takes milliseconds; the tail shows retries.
            latency: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.01, 2.0, 14,
            )),
            // 0.25 ms … ~8 s.
            steps: Family::new_with_constructor(|| {
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.000_25, 2.0, 16,
                ))
            }),
            errors: Family::default(),
            invalid_policies: Gauge::default(),
            certificate_mismatches: Counter::default(),
        };
        metrics.preregister();
        crate::metrics::register_metrics!(registry, "kubejit_approver", {
            "decisions" => "CSR decisions written, by result and machine reason": metrics.decisions,
            "decision_latency_seconds" => "Time from CSR creation to the decision being written": metrics.latency,
            "decision_step_seconds" => "Time a decision waits in each step (audit, approval) and holds its reconcile slot (slot)": metrics.steps,
            "errors" => "Approver errors by kind (each one means no approval and a retry)": metrics.errors,
            "invalid_policies" => "AccessPolicies that fail validation and therefore allow nothing": metrics.invalid_policies,
            "certificate_mismatches" => "Issued certificates that do not certify what kubejit approved (subject, key or usages)": metrics.certificate_mismatches,
        });
        metrics
    }

    /// Every series exists from the start (at 0), so dashboards and alerts see absent-vs-zero correctly.
    fn preregister(&self) {
        for outcome in [Outcome::Approved, Outcome::Pending] {
            let _ = self
                .decisions
                .get_or_create(&labels(outcome, outcome.reason()));
        }
        for reason in DenyReason::ALL {
            let _ = self
                .decisions
                .get_or_create(&labels(Outcome::Denied, reason.as_str()));
        }
        for step in Step::ALL {
            let _ = self.steps.get_or_create(&StepLabels {
                step: step.as_str(),
            });
        }
        for error in Error::METRIC_LABELS
            .iter()
            .chain(NON_RECONCILE_ERRORS.iter())
        {
            let _ = self.errors.get_or_create(&ErrorLabels { error });
        }
    }

    pub(crate) fn decided(
        &self,
        outcome: Outcome,
        reason: &'static str,
        latency_secs: Option<f64>,
    ) {
        self.decisions.get_or_create(&labels(outcome, reason)).inc();
        if let Some(secs) = latency_secs {
            self.latency.observe(secs);
        }
    }

    pub(crate) fn step(&self, step: Step, took: std::time::Duration) {
        self.steps
            .get_or_create(&StepLabels {
                step: step.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn error(&self, label: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { error: label })
            .inc();
    }

    pub(crate) fn certificate_mismatch(&self) {
        self.certificate_mismatches.inc();
    }

    pub(crate) fn set_invalid_policies(&self, count: usize) {
        self.invalid_policies
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

fn labels(outcome: Outcome, reason: &'static str) -> DecisionLabels {
    DecisionLabels {
        result: outcome.as_str(),
        reason,
    }
}
