//! Audit writes from async code: always on the blocking pool, so a file write + fsync never stalls the
//! runtime's workers; the metrics of the fail-open path; and the timer that replays kept records.
//!
//! Records that gate an action (approvals) are awaited and block the action on failure (see
//! `approver::write`). Records of actions already taken (a deletion at a grant's deadline, a grant
//! seen, lifecycle facts) go through [`crate::Context::record_after`]: primary sink, else the spool,
//! else memory, replayed by [`replay`] — never dropped and never holding up the next deadline.

use crate::error::chain;
use std::sync::Arc;
use std::time::Duration;

use kubejit_audit::{After, EventKind, Replayed, Stamped};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::Context;

/// How long an after-the-fact record may hold up its caller. Past it the write carries on in the
/// background (it still ends in the primary or the spool) and the caller moves on.
const AFTER_WAIT: Duration = Duration::from_secs(5);
/// How often kept records are offered to the primary again (the auditor's backoff decides whether).
const REPLAY_EVERY: Duration = Duration::from_secs(1);

/// `kubejit_audit_*` metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// After-the-fact records (first writes and replays) the primary sink refused.
    pub write_failures: Counter,
    /// Records written to the fallback spool.
    pub spooled: Counter,
    /// Records neither the primary nor the spool took (kept in memory).
    pub held: Counter,
    /// Kept records replayed into the primary.
    pub replayed: Counter,
    /// Records not yet in the primary (spooled or held).
    pub pending: Gauge,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        crate::metrics::register_metrics!(registry, "kubejit_audit", {
            "write_failures" => "Audit records of actions already taken that the primary sink refused (first writes and replays)": m.write_failures,
            "spooled_records" => "Audit records written to the fallback spool because the primary sink could not take them": m.spooled,
            "held_records" => "Audit records neither the primary sink nor the spool took, kept in memory": m.held,
            "replayed_records" => "Kept audit records replayed into the primary sink": m.replayed,
            "pending_records" => "Audit records not yet in the primary sink (spooled or held)": m.pending,
        });
        m
    }

    fn set_pending(&self, pending: u64) {
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}

/// How an after-the-fact record was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kept {
    /// In the primary sink.
    Recorded,
    /// Not in the primary yet; says where it is, for a Warning Event.
    Deferred(String),
    /// Still being written after [`AFTER_WAIT`]; it lands in the primary or the spool on its own.
    InProgress,
}

impl Context {
    /// Records an action already taken, off the async workers; never fails and never drops it.
    pub(crate) async fn record_after(&self, event: Stamped) -> Kept {
        let (auditor, metrics) = (Arc::clone(&self.audit), self.audit_metrics.clone());
        let kind = event.kind();
        // Counted on the writing thread, so a write that outlives the wait below is counted too.
        let write = tokio::task::spawn_blocking(move || {
            let kept = count(&metrics, auditor.record_after(event), kind);
            metrics.set_pending(auditor.pending());
            kept
        });
        match tokio::time::timeout(AFTER_WAIT, write).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(error)) => {
                tracing::error!(%error, ?kind, "audit writer task failed");
                Kept::InProgress
            }
            Err(_) => {
                tracing::warn!(?kind, "audit write is slow; it continues in the background");
                Kept::InProgress
            }
        }
    }
}

fn count(m: &Metrics, after: After, kind: EventKind) -> Kept {
    let (primary_error, kept) = match after {
        After::Recorded(_) => return Kept::Recorded,
        After::Spooled { primary_error } => {
            m.spooled.inc();
            let kept = "it is kept in the local audit spool".to_owned();
            (primary_error, kept)
        }
        After::Held {
            primary_error,
            spool_error,
        } => {
            m.held.inc();
            let spool = spool_error.map_or_else(
                || "no spool is configured".to_owned(),
                |e| format!("the spool failed too: {}", chain(&e)),
            );
            tracing::error!(?kind, %spool, "audit record kept in memory only");
            (primary_error, format!("it is kept in memory ({spool})"))
        }
    };
    let why = match primary_error {
        Some(error) => {
            m.write_failures.inc();
            let error = chain(&error);
            tracing::warn!(?kind, %error, "the audit trail refused a record of an action already taken");
            format!("the audit trail refused it ({error}); {kept}")
        }
        None => format!("the audit trail failed recently and is being retried; {kept}"),
    };
    Kept::Deferred(format!(
        "{why} and replayed into the trail once it accepts records again"
    ))
}

/// Offers kept records to the primary every [`REPLAY_EVERY`] until `shutdown`, then once more.
pub(crate) async fn replay(ctx: Arc<Context>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(REPLAY_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => replay_once(&ctx).await,
            () = shutdown.cancelled() => break,
        }
    }
    replay_once(&ctx).await;
}

async fn replay_once(ctx: &Context) {
    let (auditor, metrics) = (Arc::clone(&ctx.audit), ctx.audit_metrics.clone());
    let attempt = tokio::task::spawn_blocking(move || {
        if let Some(r) = auditor.replay_due() {
            report(&metrics, &r);
        }
        metrics.set_pending(auditor.pending());
    });
    // A hung primary must not hold up shutdown: the attempt finishes (or not) on its own thread.
    if !matches!(tokio::time::timeout(AFTER_WAIT, attempt).await, Ok(Ok(()))) {
        tracing::warn!("replaying kept audit records is slow or failed; retrying later");
    }
}

fn report(m: &Metrics, r: &Replayed) {
    m.replayed.inc_by(r.replayed);
    match &r.error {
        Some(error) => {
            m.write_failures.inc();
            let error = chain(error);
            tracing::warn!(%error, replayed = r.replayed, pending = r.pending, "failed to replay kept audit records; retrying with backoff");
        }
        None => tracing::info!(
            replayed = r.replayed,
            duplicates = r.duplicates,
            "replayed kept audit records into the trail"
        ),
    }
}

#[cfg(test)]
mod tests {
    use kubejit_audit::{AuditError, Recorded};

    use super::*;

    fn refused() -> AuditError {
        AuditError::Write {
            target: "trail".to_owned(),
            source: std::io::Error::other("disk full"),
        }
    }

    #[test]
    fn every_way_a_record_is_kept_is_counted_and_explained() {
        let recorded = || {
            After::Recorded(Recorded {
                sequence: 1,
                event_id: "id".to_owned(),
                hash: None,
                checkpoint: None,
            })
        };
        // (outcome, Warning text contains, (write failures, spooled, held))
        let cases = vec![
            (recorded(), None, (0, 0, 0)),
            (
                After::Spooled {
                    primary_error: Some(refused()),
                },
                Some(
                    "refused it (failed to write audit record to trail: disk full); it is kept in the local audit spool",
                ),
                (1, 1, 0),
            ),
            (
                After::Spooled {
                    primary_error: None,
                },
                Some("failed recently and is being retried; it is kept in the local audit spool"),
                (0, 1, 0),
            ),
            (
                After::Held {
                    primary_error: Some(refused()),
                    spool_error: None,
                },
                Some("kept in memory (no spool is configured)"),
                (1, 0, 1),
            ),
            (
                After::Held {
                    primary_error: None,
                    spool_error: Some(refused()),
                },
                Some("kept in memory (the spool failed too: failed to write"),
                (0, 0, 1),
            ),
        ];
        for (after, text, (failures, spooled, held)) in cases {
            let m = Metrics::default();
            let kept = count(&m, after, EventKind::GrantExpired);
            match (text, kept) {
                (None, Kept::Recorded) => {}
                (Some(want), Kept::Deferred(why)) => {
                    assert!(why.contains(want), "{why}");
                    assert!(why.ends_with("replayed into the trail once it accepts records again"));
                }
                (text, kept) => panic!("{text:?} {kept:?}"),
            }
            assert_eq!(
                (m.write_failures.get(), m.spooled.get(), m.held.get()),
                (failures, spooled, held)
            );
        }
    }
}
