//! Notification metrics: deliveries by outcome (`kubejit_notify_deliveries_total`) and the queue.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::send::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    deliveries: Family<OutcomeLabels, Counter>,
    queue_dropped: Counter,
    queued: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        for outcome in Outcome::ALL {
            let _ = m.deliveries.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        crate::metrics::register_metrics!(registry, "kubejit_notify", {
            "deliveries" => "Notification deliveries by outcome (delivered, rejected, failed, no_key, abandoned, dropped)": m.deliveries,
            "queue_dropped" => "Notifications dropped from a full queue (the oldest goes first)": m.queue_dropped,
            "queued" => "Notifications waiting for the delivery worker": m.queued,
        });
        m
    }

    pub(super) fn outcome(&self, outcome: Outcome) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == Outcome::Dropped {
            self.queue_dropped.inc();
        }
    }

    pub(super) fn set_queued(&self, n: usize) {
        self.queued.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Deliveries that ended with `outcome` so far.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .get()
    }
}
