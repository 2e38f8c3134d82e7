//! Where audit events go: the `AuditSink` trait, a plain JSONL writer (stdout) and the hash-chained file.
//!
//! `record` returns only after the record is written (and, for the file sink, fsync'd). What an `Err`
//! means is the caller's choice, made in one place ([`crate::Auditor`]): a record that gates an action
//! (approve, grant) blocks it and is retried later; a record of an action already taken (a deletion at
//! its deadline) is spooled and replayed, never dropped. The file sink rolls back a partial line on
//! failure, or, if even that fails, refuses every later write instead of extending a corrupt file.
//!
//! Sinks do blocking std I/O behind a `Mutex`: async callers run them on a blocking thread
//! (`spawn_blocking`), never on the runtime's workers. The chained file commits in groups: each record
//! is appended under the lock, and one fsync outside it makes every record appended so far durable, so
//! writers that arrive together share one fsync (each still returns only once its own line is on disk).

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use kubejit_core::Clock;

use crate::chain::{self, CheckpointRecord};
use crate::checkpoint::{Checkpoint, CheckpointAnchor, Link, key_id};
use crate::resume::{self, Outcome, Resumed};
use crate::{AuditError, Stamped, Timestamp, escape::to_json_line};

/// Accepts audit events. Implementations are shared between tasks (`Arc<dyn AuditSink>`).
pub trait AuditSink: Send + Sync {
    /// Durably records `event`, assigning its sequence number. On `Err` nothing was recorded.
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError>;

    /// Which of `ids` (`eventId`s) this sink already holds, so a replay of spooled records writes each
    /// exactly once. A stream cannot tell and answers none: replay into it is at-least-once, and
    /// consumers deduplicate by `eventId`.
    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        let _ = ids;
        Ok(HashSet::new())
    }
}

/// What a sink did with an event.
#[derive(Debug)]
pub struct Recorded {
    pub sequence: u64,
    pub event_id: String,
    /// The record's chain hash (chained sinks only).
    pub hash: Option<String>,
    /// Set when this record triggered a checkpoint.
    pub checkpoint: Option<CheckpointOutcome>,
}

/// Result of writing a checkpoint. The event itself is already durable in every case, so none of these
/// blocks the action; failures are retried with the next record or [`ChainedFileSink::tick`].
#[derive(Debug)]
pub enum CheckpointOutcome {
    Anchored(Checkpoint),
    AnchorFailed {
        checkpoint: Checkpoint,
        error: AuditError,
    },
    WriteFailed(AuditError),
}

/// Writes each event as one JSON line to any writer (stdout in-cluster, for the log pipeline).
#[derive(Debug)]
pub struct WriterSink<W> {
    target: String,
    state: Mutex<(W, u64)>,
}

/// A [`WriterSink`] on the process's stdout.
pub type StdoutSink = WriterSink<std::io::Stdout>;

impl StdoutSink {
    pub fn stdout() -> Self {
        Self::new(std::io::stdout(), "stdout")
    }
}

impl<W: Write + Send> WriterSink<W> {
    /// `target` names the writer in error messages.
    pub fn new(writer: W, target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            state: Mutex::new((writer, 1)),
        }
    }
}

impl<W: Write + Send> AuditSink for WriterSink<W> {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        let mut state = lock(&self.state);
        let (writer, next) = &mut *state;
        let event = event.sequenced(*next);
        let mut line = to_json_line(&event)?;
        line.push(b'\n');
        let write = writer.write_all(&line).and_then(|()| writer.flush());
        write.map_err(|source| AuditError::Write {
            target: self.target.clone(),
            source,
        })?;
        *next += 1;
        Ok(Recorded {
            sequence: event.sequence,
            event_id: event.event_id,
            hash: None,
            checkpoint: None,
        })
    }
}

/// A mutex whose poisoning we ignore: state is only mutated after the I/O it depends on succeeded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When [`ChainedFileSink`] writes a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainConfig {
    /// After this many records since the last checkpoint.
    pub every_records: u64,
    /// Or when a record arrives (or [`ChainedFileSink::tick`] runs) this long after the last one.
    pub every: Duration,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            every_records: 1000,
            every: Duration::from_secs(60),
        }
    }
}

/// Append-only JSONL trail where every line carries `prevHash` and its own `hash`, fsync'd before its
/// `record` returns (in groups: see the module docs), with periodic Ed25519-signed checkpoints that are
/// also handed to a [`CheckpointAnchor`].
pub struct ChainedFileSink {
    path: PathBuf,
    key: SigningKey,
    anchor: Box<dyn CheckpointAnchor>,
    config: ChainConfig,
    clock: Box<dyn Clock>,
    state: Mutex<ChainState>,
    /// The group commit: a second handle on the trail and the file length it last made durable.
    /// Taken with `state` held (checkpoints) or alone (records); holding it, nothing takes `state`.
    durable: Mutex<Durable>,
    /// The file length once the newest append finished (what the next fsync covers).
    appended: AtomicU64,
    /// An fsync failed. After that the kernel may have dropped the unwritten pages and a later fsync
    /// can succeed without them, so no later record is acknowledged (the file is re-read on restart).
    sync_failed: AtomicBool,
}

struct Durable {
    file: File,
    through: u64,
}

impl fmt::Debug for ChainedFileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainedFileSink")
            .field("path", &self.path)
            .field("key_id", &key_id(&self.key.verifying_key()))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct ChainState {
    file: File,
    len: u64,
    last_sequence: u64,
    last_hash: String,
    since_checkpoint: u64,
    last_checkpoint_at: Timestamp,
    /// Digest of the newest checkpoint: the `prev` of the next one.
    last_checkpoint: String,
    /// A checkpoint whose anchoring failed and must be retried.
    unanchored: Option<Checkpoint>,
    poisoned: bool,
    /// Every `eventId` in the file, read on the first `find_recorded` and kept up to date by each
    /// append after it (this sink is the file's only writer): callers that ask once per decision
    /// (the CSR approver, after every restart) get an answer without rescanning the whole trail.
    event_ids: Option<HashSet<String>>,
}

impl ChainedFileSink {
    /// Opens (or creates) the trail at `path` and resumes its chain, for the trail named by `anchor`.
    ///
    /// Refuses a file whose last line is partial or not a valid sealed record
    /// ([`AuditError::BrokenTail`]), and a file that does not continue the checkpoint the anchor holds
    /// ([`AuditError::TrailRefused`]: truncated, replaced, another trail's, or the anchor entry is
    /// missing although the file has checkpoints); a refusal is also recorded as a `trailTruncated`
    /// event in the fallback spool `<path>.spool`. Checkpoints in the file that the anchor lacks (the
    /// last run stopped before they landed) are anchored again. If the file ends in records no
    /// checkpoint covers (e.g. after a crash), seals them now so a restart never leaves an unsigned tail.
    pub fn open(
        path: impl Into<PathBuf>,
        key: SigningKey,
        anchor: Box<dyn CheckpointAnchor>,
        config: ChainConfig,
        clock: Box<dyn Clock>,
    ) -> Result<(Self, Option<CheckpointOutcome>), AuditError> {
        let path = path.into();
        let open_err = |source| AuditError::Open {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(open_err)?;
        let len = file.metadata().map_err(open_err)?.len();
        let head = anchor.head()?;
        let trail = anchor.trail().as_str().to_owned();
        let public = key.verifying_key();
        let kept = anchor.keeps_checkpoints();
        let resumed = match resume::resume(&mut file, len, &trail, head.as_ref(), kept, &public)
            .map_err(open_err)?
        {
            Outcome::Resumed(resumed) => resumed,
            Outcome::BrokenTail(reason) => return Err(AuditError::BrokenTail { path, reason }),
            Outcome::Refused(refusal) => {
                return Err(refuse(path, trail, &refusal, Timestamp::new(clock.now())));
            }
        };
        let Resumed {
            last_sequence,
            last_hash,
            sealed,
            last_checkpoint,
            unanchored,
        } = resumed;
        let durable = Durable {
            file: file.try_clone().map_err(open_err)?,
            through: len,
        };
        let state = ChainState {
            file,
            len,
            last_sequence,
            last_hash,
            since_checkpoint: if sealed { 0 } else { 1 },
            last_checkpoint_at: Timestamp::new(clock.now()),
            last_checkpoint,
            unanchored: None,
            poisoned: false,
            event_ids: None,
        };
        let sink = Self {
            path,
            key,
            anchor,
            config,
            clock,
            state: Mutex::new(state),
            durable: Mutex::new(durable),
            appended: AtomicU64::new(len),
            sync_failed: AtomicBool::new(false),
        };
        sink.reanchor(unanchored);
        let outcome = if sealed { None } else { Some(sink.seal_now()?) };
        Ok((sink, outcome))
    }

    /// Hands the anchor, oldest first, the file's checkpoints it lacks. A failure is kept in
    /// `unanchored` (the newest failure wins) and retried like any failed anchor.
    fn reanchor(&self, checkpoints: Vec<Checkpoint>) {
        let mut state = lock(&self.state);
        for checkpoint in checkpoints {
            let _retried_later = self.anchor_checkpoint(&mut state, checkpoint);
        }
    }

    /// Path of the trail.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a checkpoint now if records are unsealed (for shutdown and tests).
    pub fn seal_now(&self) -> Result<CheckpointOutcome, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        let now = Timestamp::new(self.clock.now());
        Ok(self.checkpoint(&mut state, now))
    }

    /// Writes a time-based checkpoint if one is due, or retries a failed anchor. Call from a timer so an
    /// idle trail is still sealed within [`ChainConfig::every`].
    pub fn tick(&self) -> Result<Option<CheckpointOutcome>, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        let now = Timestamp::new(self.clock.now());
        Ok(self.checkpoint_if_due(&mut state, now))
    }

    fn ensure_usable(&self, state: &ChainState) -> Result<(), AuditError> {
        match state.poisoned || self.sync_failed.load(Ordering::SeqCst) {
            true => Err(AuditError::Poisoned {
                path: self.path.clone(),
            }),
            false => Ok(()),
        }
    }

    fn checkpoint_if_due(
        &self,
        state: &mut ChainState,
        now: Timestamp,
    ) -> Option<CheckpointOutcome> {
        let count_due = state.since_checkpoint >= self.config.every_records.max(1);
        let elapsed = Duration::from_secs(now.seconds_since(state.last_checkpoint_at));
        let time_due = state.since_checkpoint > 0 && elapsed >= self.config.every;
        if count_due || time_due {
            return Some(self.checkpoint(state, now));
        }
        let retry = state.unanchored.take()?;
        Some(self.anchor_checkpoint(state, retry))
    }

    /// Signs the current head, appends the checkpoint line, then anchors it.
    fn checkpoint(&self, state: &mut ChainState, now: Timestamp) -> CheckpointOutcome {
        // Nothing new since the last checkpoint: re-anchor it rather than sign the same head twice.
        if state.since_checkpoint == 0
            && let Some(pending) = state.unanchored.take()
        {
            return self.anchor_checkpoint(state, pending);
        }
        let link = Link {
            trail: self.anchor.trail().as_str(),
            sequence: state.last_sequence,
            hash: &state.last_hash,
            prev: &state.last_checkpoint,
        };
        let checkpoint = match Checkpoint::sign(link, now, &self.key) {
            Ok(c) => c,
            Err(error) => return CheckpointOutcome::WriteFailed(error),
        };
        if let Err(error) = self.append_synced(
            state,
            &CheckpointRecord::new(state.last_sequence + 1, &checkpoint),
        ) {
            return CheckpointOutcome::WriteFailed(error);
        }
        state.since_checkpoint = 0;
        state.last_checkpoint_at = now;
        state.last_checkpoint = checkpoint.digest();
        self.anchor_checkpoint(state, checkpoint)
    }

    fn anchor_checkpoint(
        &self,
        state: &mut ChainState,
        checkpoint: Checkpoint,
    ) -> CheckpointOutcome {
        match self.anchor.anchor(&checkpoint) {
            Ok(()) => CheckpointOutcome::Anchored(checkpoint),
            Err(error) => {
                state.unanchored = Some(checkpoint.clone());
                CheckpointOutcome::AnchorFailed { checkpoint, error }
            }
        }
    }

    /// [`Self::append`], then an fsync before the lock is released (checkpoints: rare, and the
    /// records they seal become durable with them).
    fn append_synced<T: serde::Serialize>(
        &self,
        state: &mut ChainState,
        record: &T,
    ) -> Result<(u64, String), AuditError> {
        let appended = self.append(state, record)?;
        self.sync_through(state.len)?;
        Ok(appended)
    }

    /// Makes the trail durable at least up to `end`: one fsync covers every line appended before it
    /// started, so a writer whose line an earlier fsync already covered returns at once.
    fn sync_through(&self, end: u64) -> Result<(), AuditError> {
        let mut durable = lock(&self.durable);
        if self.sync_failed.load(Ordering::SeqCst) {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        if durable.through >= end {
            return Ok(());
        }
        let target = self.appended.load(Ordering::SeqCst);
        if let Err(source) = durable.file.sync_data() {
            self.sync_failed.store(true, Ordering::SeqCst);
            return Err(AuditError::Write {
                target: self.path.display().to_string(),
                source,
            });
        }
        durable.through = target;
        Ok(())
    }

    /// Seals `record` onto the chain and writes it (not yet fsync'd: see [`Self::sync_through`]);
    /// returns its sequence and hash.
    fn append<T: serde::Serialize>(
        &self,
        state: &mut ChainState,
        record: &T,
    ) -> Result<(u64, String), AuditError> {
        let sequence = state.last_sequence.checked_add(1);
        let sequence = sequence.ok_or_else(|| AuditError::SequenceExhausted {
            path: self.path.clone(),
        })?;
        let (line, hash) = chain::seal(to_json_line(record)?, &state.last_hash);
        if let Err(source) = state.file.write_all(&line) {
            // Cut off whatever part of the line reached the file; if we cannot, stop writing for good.
            let rolled_back = state
                .file
                .set_len(state.len)
                .and_then(|()| state.file.sync_data());
            state.poisoned = rolled_back.is_err();
            return Err(AuditError::Write {
                target: self.path.display().to_string(),
                source,
            });
        }
        state.len += line.len() as u64;
        self.appended.store(state.len, Ordering::SeqCst);
        state.last_sequence = sequence;
        state.last_hash.clone_from(&hash);
        Ok((sequence, hash))
    }
}

/// Records a refusal in the fallback spool (the trail itself must not be written) and builds the error.
fn refuse(path: PathBuf, trail: String, refusal: &resume::Refusal, now: Timestamp) -> AuditError {
    let mut reason = refusal.detail.clone();
    if let Err(error) = resume::spool_refusal(&path, &trail, refusal, now) {
        reason.push_str(&format!(
            " (and recording this in the spool failed: {error})"
        ));
    }
    AuditError::TrailRefused {
        path,
        trail,
        reason,
    }
}

impl AuditSink for ChainedFileSink {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        let event = event.sequenced(state.last_sequence + 1);
        let (sequence, hash) = self.append(&mut state, &event)?;
        let end = state.len;
        if let Some(ids) = state.event_ids.as_mut() {
            ids.insert(event.event_id.clone());
        }
        state.since_checkpoint += 1;
        let now = Timestamp::new(self.clock.now());
        let checkpoint = self.checkpoint_if_due(&mut state, now);
        drop(state);
        // Acknowledged only once durable; other writers append meanwhile and share the fsync.
        self.sync_through(end)?;
        Ok(Recorded {
            sequence,
            event_id: event.event_id,
            hash: Some(hash),
            checkpoint,
        })
    }

    /// The first call scans the whole trail, holding the writers back for that one scan (the file
    /// cannot change under it); later calls answer from the index the appends keep current.
    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        let mut state = lock(&self.state);
        let known = match state.event_ids.take() {
            Some(known) => known,
            None => crate::lines::all_event_ids(&self.path)?,
        };
        let found = ids
            .iter()
            .filter(|id| known.contains(*id))
            .cloned()
            .collect();
        state.event_ids = Some(known);
        Ok(found)
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
