//! The audit front door for controllers: one place decides what a failed write means.
//!
//! * [`Auditor::record`] gates an action (an approval): it returns only once the primary sink has the
//!   record, and on `Err` the action must not happen.
//! * [`Auditor::record_after`] records an action already taken (a deletion at a grant's deadline). It
//!   never fails and never loses the record: the primary sink, else the fallback [`Spool`], else
//!   memory. [`Auditor::replay_due`] moves kept records into the primary, with backoff, exactly once.
//!
//! Exactly once: replay first asks the primary which of the kept records' `eventId`s it already holds
//! ([`AuditSink::find_recorded`]) and skips those, so a crash between replaying and clearing the spool
//! repeats nothing. The spool is cleared only after every record is in the primary.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::backoff::Backoff;
use kubejit_core::Clock;

use crate::{AuditError, AuditSink, Recorded, Spool, Stamped, Timestamp};

/// How [`Auditor::record_after`] kept a record.
#[derive(Debug)]
pub enum After {
    /// The primary sink has it.
    Recorded(Recorded),
    /// Durable in the fallback spool, to be replayed. `primary_error` is `None` when the primary was
    /// not tried (it is backing off, or older records are still waiting: they go first).
    Spooled { primary_error: Option<AuditError> },
    /// Neither sink took it (or no spool is configured): kept in memory and replayed from there; lost
    /// only if the process dies before the primary recovers.
    Held {
        primary_error: Option<AuditError>,
        spool_error: Option<AuditError>,
    },
}

/// What one replay attempt did.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Records written to the primary.
    pub replayed: u64,
    /// Records the primary already had (a replay interrupted before the spool was cleared).
    pub duplicates: u64,
    /// Records still waiting afterwards.
    pub pending: u64,
    /// Why the attempt stopped early; the rest is retried after a backoff.
    pub error: Option<AuditError>,
}

/// A primary sink plus the fallback for records of actions already taken.
pub struct Auditor {
    primary: Arc<dyn AuditSink>,
    spool: Option<Spool>,
    clock: Arc<dyn Clock>,
    state: Mutex<Kept>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

/// Records not yet in the primary.
#[derive(Default)]
struct Kept {
    /// Records in the spool file. An unreadable spool counts as one, so replay keeps reporting it.
    spooled: u64,
    /// Records neither sink accepted.
    held: Vec<Stamped>,
    /// Ids this process replayed into the primary since the spool was last cleared (for sinks that
    /// cannot answer `find_recorded`).
    delivered: HashSet<String>,
    backoff: Backoff,
}

impl Kept {
    fn pending(&self) -> u64 {
        let held = u64::try_from(self.held.len()).unwrap_or(u64::MAX);
        self.spooled.saturating_add(held)
    }
}

fn lock(mutex: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Auditor {
    /// Records already in `spool` (left by an earlier run) are replayed on the first [`Self::replay_due`].
    pub fn new(primary: Arc<dyn AuditSink>, spool: Option<Spool>, clock: Arc<dyn Clock>) -> Self {
        let spooled = match &spool {
            Some(s) => s
                .read()
                .map_or(1, |events| u64::try_from(events.len()).unwrap_or(u64::MAX)),
            None => 0,
        };
        let kept = Kept {
            spooled,
            ..Kept::default()
        };
        Self {
            primary,
            spool,
            clock,
            state: Mutex::new(kept),
        }
    }

    pub fn primary(&self) -> &Arc<dyn AuditSink> {
        &self.primary
    }

    pub fn spool(&self) -> Option<&Spool> {
        self.spool.as_ref()
    }

    /// Records that gate an action: durable in the primary, or `Err` and the action must not happen.
    pub fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        self.primary.record(event)
    }

    /// Records an action already taken; see [`After`]. Blocking I/O, like every sink.
    pub fn record_after(&self, event: Stamped) -> After {
        let mut kept = lock(&self.state);
        let now = Timestamp::new(self.clock.now());
        let mut primary_error = None;
        // Older kept records go first, so the trail keeps the order in which things happened.
        if kept.pending() == 0 && kept.backoff.due(now) {
            match self.primary.record(event.clone()) {
                Ok(recorded) => {
                    kept.backoff.succeeded();
                    return After::Recorded(recorded);
                }
                Err(error) => {
                    kept.backoff.failed(now);
                    primary_error = Some(error);
                }
            }
        }
        let spool_error = match &self.spool {
            Some(spool) => match spool.append(&event) {
                Ok(()) => {
                    kept.spooled = kept.spooled.saturating_add(1);
                    return After::Spooled { primary_error };
                }
                Err(error) => Some(error),
            },
            None => None,
        };
        kept.held.push(event);
        After::Held {
            primary_error,
            spool_error,
        }
    }

    /// Records not yet in the primary (spooled or held).
    pub fn pending(&self) -> u64 {
        lock(&self.state).pending()
    }

    /// If records are waiting and the backoff allows, moves them into the primary. `None`: nothing
    /// was due. Call from a timer.
    pub fn replay_due(&self) -> Option<Replayed> {
        let mut kept = lock(&self.state);
        let now = Timestamp::new(self.clock.now());
        if kept.pending() == 0 || !kept.backoff.due(now) {
            return None;
        }
        let mut tally = Replayed::default();
        match self.replay(&mut kept, &mut tally) {
            Ok(()) => kept.backoff.succeeded(),
            Err(error) => {
                kept.backoff.failed(now);
                tally.error = Some(error);
            }
        }
        tally.pending = kept.pending();
        Some(tally)
    }

    fn replay(&self, kept: &mut Kept, tally: &mut Replayed) -> Result<(), AuditError> {
        let spool = self.spool.as_ref().filter(|_| kept.spooled > 0);
        let mut events = match spool {
            Some(spool) => spool.read()?,
            None => Vec::new(),
        };
        events.extend(kept.held.iter().cloned());
        // Spooled and held records may interleave (the spool failed for a while): replay by time.
        events.sort_by_key(Stamped::time);
        let ids = events.iter().map(|e| e.event_id().to_owned()).collect();
        let present = self.primary.find_recorded(&ids)?;
        for event in events {
            let id = event.event_id().to_owned();
            if present.contains(&id) || kept.delivered.contains(&id) {
                tally.duplicates = tally.duplicates.saturating_add(1);
                continue;
            }
            self.primary.record(event)?;
            kept.delivered.insert(id);
            tally.replayed = tally.replayed.saturating_add(1);
        }
        if let Some(spool) = spool {
            spool.clear()?;
        }
        kept.spooled = 0;
        kept.held.clear();
        kept.delivered.clear();
        Ok(())
    }
}

impl AuditSink for Auditor {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        self.primary.record(event)
    }

    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        self.primary.find_recorded(ids)
    }
}

#[cfg(test)]
#[path = "auditor_tests.rs"]
mod tests;
