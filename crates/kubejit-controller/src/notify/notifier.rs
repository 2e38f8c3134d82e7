//! The notifier: a handle reconcilers call (it never waits) and one worker task that delivers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Bytes;
use kubejit_core::Webhook;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Notification;
use super::keys::{KeySource, SecretKeys};
use super::metrics::Metrics;
use super::payload::body;
use super::queue::Queue;
use super::retry::RetryPolicy;
use super::send::{HttpClient, Job, Outcome, deliver, http_client};

/// Tuning; [`NotifyConfig::default`] is what the controller runs with.
#[derive(Debug, Clone, Copy)]
pub struct NotifyConfig {
    /// Notifications waiting for the worker; beyond it the oldest is dropped.
    pub queue_capacity: usize,
    /// Deliveries in flight at once (one slow receiver does not hold up the others').
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// After shutdown, how long queued and in-flight deliveries may still take; then they are
    /// dropped with a warning (time wins).
    pub drain: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            concurrency: 8,
            retry: RetryPolicy::default(),
            drain: Duration::from_secs(3),
        }
    }
}

/// Cheap to clone; every clone feeds the same worker.
#[derive(Clone)]
pub struct Notifier {
    queue: Arc<Queue<Job>>,
    metrics: Metrics,
    /// Set when the worker has finished: later notifications are counted as abandoned.
    stopped: Arc<AtomicBool>,
    done: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the delivery worker with the controller's client (keys from Secrets in
    /// `kubejit-system`). It runs until `shutdown` is cancelled, then drains for at most
    /// `config.drain`.
    pub fn start(
        client: kube::Client,
        config: NotifyConfig,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Self {
        Self::start_with(SecretKeys::new(client), config, metrics, shutdown)
    }

    /// [`Notifier::start`] with another key source (tests).
    pub fn start_with(
        keys: impl KeySource,
        config: NotifyConfig,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Self {
        let queue = Arc::new(Queue::new(config.queue_capacity));
        let stopped = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let worker = Worker {
            queue: Arc::clone(&queue),
            keys: Arc::new(keys),
            // ring supports rustls' default protocol versions, so this does not fail in practice;
            // if it did, every delivery would be counted as failed, loudly, instead of a panic.
            client: http_client().map_err(|e| e.to_string()),
            config,
            metrics: metrics.clone(),
        };
        let flag = Arc::clone(&stopped);
        let span = tracing::info_span!("notify");
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                worker.run(shutdown).await;
                flag.store(true, Ordering::SeqCst);
                let _ = done_tx.send(true);
            },
            span,
        ));
        Self {
            queue,
            metrics,
            stopped,
            done,
        }
    }

    /// Queues `notification` for `webhook` and returns at once: never blocks, never fails the caller.
    pub fn notify(&self, webhook: &Webhook, notification: &Notification) {
        let delivery_id = delivery_id();
        let body = match body(notification, &delivery_id) {
            Ok(b) => Bytes::from(b),
            Err(error) => {
                // Cannot happen for these types; counted rather than unwrapped.
                tracing::warn!(%error, "failed to serialize a notification; dropping it");
                self.metrics.outcome(Outcome::Dropped);
                return;
            }
        };
        if self.stopped.load(Ordering::SeqCst) {
            tracing::warn!(delivery = %delivery_id, "notifier stopped; notification not sent");
            self.metrics.outcome(Outcome::Abandoned);
            return;
        }
        let job = Job {
            webhook: webhook.clone(),
            delivery_id,
            body,
        };
        if let Some(old) = self.queue.push(job) {
            tracing::warn!(delivery = %old.delivery_id, url = old.webhook.url.redacted(), "notification queue full; dropped the oldest notification");
            self.metrics.outcome(Outcome::Dropped);
        }
        self.metrics.set_queued(self.queue.len());
    }

    /// Resolves once the worker has finished (after shutdown and its bounded drain).
    pub async fn stopped(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// 128 random bits, hex. Unique per notification, shared by its retries.
fn delivery_id() -> String {
    let mut bytes = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // Uniqueness, not secrecy, is what matters here.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = nanos.to_le_bytes();
    }
    hex::encode(bytes)
}

struct Worker<K> {
    queue: Arc<Queue<Job>>,
    keys: Arc<K>,
    client: Result<HttpClient, String>,
    config: NotifyConfig,
    metrics: Metrics,
}

impl<K: KeySource> Worker<K> {
    async fn run(self, shutdown: CancellationToken) {
        let mut inflight = JoinSet::new();
        let concurrency = self.config.concurrency.max(1);
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            while inflight.len() < concurrency {
                let Some(job) = self.queue.pop() else { break };
                self.metrics.set_queued(self.queue.len());
                inflight.spawn(self.delivery(job));
            }
            if deadline.is_some() && inflight.is_empty() && self.queue.len() == 0 {
                return;
            }
            let drain_end = deadline.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                () = shutdown.cancelled(), if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + self.config.drain);
                }
                () = self.queue.pushed(), if inflight.len() < concurrency => {}
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                () = tokio::time::sleep_until(drain_end), if deadline.is_some() => break,
            }
        }
        let abandoned = inflight.len().saturating_add(self.queue.take_all().len());
        inflight.abort_all();
        self.metrics.set_queued(0);
        if abandoned > 0 {
            tracing::warn!(abandoned, drain = ?self.config.drain, "shutting down: notifications not delivered in time are dropped");
            for _ in 0..abandoned {
                self.metrics.outcome(Outcome::Abandoned);
            }
        }
    }

    fn delivery(&self, job: Job) -> impl std::future::Future<Output = ()> + Send + 'static {
        let keys = Arc::clone(&self.keys);
        let client = self.client.clone();
        let retry = self.config.retry;
        let metrics = self.metrics.clone();
        let span = tracing::info_span!("delivery", delivery = %job.delivery_id);
        tracing::Instrument::instrument(
            async move {
                let outcome = match &client {
                    Ok(client) => deliver(client, keys.as_ref(), &retry, &job).await,
                    Err(error) => {
                        tracing::warn!(%error, "no TLS client for notification webhooks; not sent");
                        Outcome::Failed
                    }
                };
                metrics.outcome(outcome);
            },
            span,
        )
    }
}
