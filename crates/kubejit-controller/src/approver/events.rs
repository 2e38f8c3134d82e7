//! Decision Events, published off the reconcile slot: a bounded queue and a few publishers.
//!
//! The Event is what `kubectl describe csr` shows, not the record (the audit trail is, and it is
//! written before the approval). Publishing it inside the reconcile held one of the approver's slots
//! for a whole extra apiserver round trip per decision, so CSRs queued behind Events. Now a decision
//! hands its Event to a bounded queue and frees its slot; a few publisher tasks drain it. When the
//! queue is full (the apiserver is slower than the decisions) the Event is dropped, counted
//! (`kubejit_approver_errors_total{error="event_dropped"}`) and logged: the decision itself is
//! already approved and audited, and an unbounded queue would turn a slow apiserver into memory.

use kube::Resource;
use kube::runtime::events::{Event, Recorder};
use tokio::sync::mpsc;

use super::metrics::Metrics;

/// Events waiting to be published. A burst of 2,000 decisions at a few hundred a second fits; a
/// sustained apiserver stall does not, by design.
const QUEUE: usize = 4_096;
/// Events in flight at once: enough to keep up with the approver's decisions, few enough that
/// Events do not crowd out the approvals at the apiserver.
const PUBLISHERS: usize = 4;

/// One Event about one CSR.
struct Pending {
    event: Event,
    object: k8s_openapi::api::core::v1::ObjectReference,
    csr: String,
}

/// The sending side, held by the approver for one leadership term. Dropping it lets the publishers
/// drain what is queued and stop.
#[derive(Debug, Clone)]
pub struct EventQueue {
    tx: mpsc::Sender<PendingBox>,
    metrics: Metrics,
}

/// Boxed so the channel's slots stay small.
type PendingBox = Box<Pending>;

impl EventQueue {
    /// Starts the publishers; they run until every `EventQueue` clone is dropped and the queue is empty.
    pub fn start(recorder: Recorder, metrics: Metrics) -> Self {
        let (queue, rx) = Self::bounded(metrics.clone(), QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..PUBLISHERS {
            let (rx, recorder, metrics) = (rx.clone(), recorder.clone(), metrics.clone());
            tokio::spawn(async move {
                loop {
                    // One receiver shared by the publishers: the lock is held only to take the next one.
                    let next = rx.lock().await.recv().await;
                    let Some(pending) = next else { break };
                    publish(&recorder, &metrics, *pending).await;
                }
            });
        }
        queue
    }

    fn bounded(metrics: Metrics, capacity: usize) -> (Self, mpsc::Receiver<PendingBox>) {
        let (tx, rx) = mpsc::channel::<PendingBox>(capacity);
        (Self { tx, metrics }, rx)
    }

    /// Queues `event` about `csr` without waiting; drops (and counts) it when the queue is full.
    pub fn send<K: Resource<DynamicType = ()>>(&self, event: Event, csr: &K, name: &str) {
        let pending = Box::new(Pending {
            event,
            object: csr.object_ref(&()),
            csr: name.to_owned(),
        });
        match self.tx.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p)) => {
                self.metrics.error("event_dropped");
                tracing::warn!(csr = %p.csr, "decision Event dropped: the Event queue is full (the decision is audited)");
            }
        }
    }
}

async fn publish(recorder: &Recorder, metrics: &Metrics, pending: Pending) {
    if let Err(error) = recorder.publish(&pending.event, &pending.object).await {
        metrics.error("event_publish");
        tracing::warn!(%error, csr = %pending.csr, "failed to publish the decision Event");
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
    use kube::runtime::events::EventType;
    use prometheus_client::registry::Registry;

    use super::*;

    fn event() -> Event {
        Event {
            type_: EventType::Normal,
            reason: "Approved".to_owned(),
            note: None,
            action: "Decide".to_owned(),
            secondary: None,
        }
    }

    fn dropped(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text.lines()
            .find(|l| l.contains("error=\"event_dropped\""))
            .unwrap_or_default()
            .to_owned()
    }

    /// An apiserver that stops taking Events must not hold up decisions or grow memory: past the
    /// queue's bound, sending returns at once and the Event is counted as dropped.
    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        // Nothing drains the queue, as when every publisher is stuck on a slow apiserver.
        let (queue, _rx) = EventQueue::bounded(metrics, 2);
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = Some("req".to_owned());
        assert!(dropped(&registry).ends_with(" 0"), "{}", dropped(&registry));
        for _ in 0..2 {
            queue.send(event(), &csr, "req");
        }
        assert!(dropped(&registry).ends_with(" 0"), "{}", dropped(&registry));
        queue.send(event(), &csr, "req");
        queue.send(event(), &csr, "req");
        assert!(dropped(&registry).ends_with(" 2"), "{}", dropped(&registry));
    }
}
