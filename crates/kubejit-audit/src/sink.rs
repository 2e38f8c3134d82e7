//! Where audit events go: the `AuditSink` trait, a plain JSONL writer (stdout) and the hash-chained file.
//!
//! `record` returns only after the record is written (and, for the file sink, fsync'd). What an `Err`
//! means is the caller's choice, made in one place ([`crate::Auditor`]): a record that gates an action
//! (approve, grant) blocks it and is retried later; a record of an action already taken (a deletion at
//! its deadline) is spooled and replayed, never dropped. The file sink rolls back a partial line on
//! failure, or, if even that fails, refuses every later write instead of extending a corrupt file.
//!
//! Sinks do blocking std I/O behind a `Mutex` (one small write plus one fsync per record): async callers
//! run them on a blocking thread (`spawn_blocking`), never on the runtime's workers.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ed25519_dalek::SigningKey;

use crate::chain::{self, CheckpointRecord, GENESIS_HASH};
use crate::checkpoint::{Checkpoint, CheckpointAnchor, key_id};
use crate::{AuditError, AuditEvent, Timestamp, escape::to_json_line};

/// Accepts audit events. Implementations are shared between tasks (`Arc<dyn AuditSink>`).
pub trait AuditSink: Send + Sync {
    /// Durably records `event`, assigning its sequence number. On `Err` nothing was recorded.
    fn record(&self, event: AuditEvent) -> Result<Recorded, AuditError>;

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

/// Source of "now" for time-based checkpoints, injectable in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
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
    fn record(&self, mut event: AuditEvent) -> Result<Recorded, AuditError> {
        let mut state = lock(&self.state);
        let (writer, next) = &mut *state;
        event.sequence = *next;
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

/// Append-only JSONL trail where every line carries `prevHash` and its own `hash`, fsync'd per record,
/// with periodic Ed25519-signed checkpoints that are also handed to a [`CheckpointAnchor`].
pub struct ChainedFileSink {
    path: PathBuf,
    key: SigningKey,
    anchor: Box<dyn CheckpointAnchor>,
    config: ChainConfig,
    clock: Box<dyn Clock>,
    state: Mutex<ChainState>,
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
    /// A checkpoint whose anchoring failed and must be retried.
    unanchored: Option<Checkpoint>,
    poisoned: bool,
}

/// The last complete record of an existing trail.
struct Tail {
    sequence: u64,
    hash: String,
    is_checkpoint: bool,
}

impl ChainedFileSink {
    /// Opens (or creates) the trail at `path` and resumes its chain. Refuses a file whose last line is
    /// partial or not a valid sealed record. If the file ends in records no checkpoint covers (e.g. after
    /// a crash), seals them now so a restart never leaves an unsigned tail behind.
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
        let tail = read_tail(&mut file, len)
            .map_err(open_err)?
            .map_err(|reason| AuditError::BrokenTail {
                path: path.clone(),
                reason,
            })?;
        let now = clock.now();
        let (last_sequence, last_hash, sealed) = match tail {
            Some(t) => (t.sequence, t.hash, t.is_checkpoint),
            None => (0, GENESIS_HASH.to_owned(), true),
        };
        let since_checkpoint = if sealed { 0 } else { 1 };
        let state = ChainState {
            file,
            len,
            last_sequence,
            last_hash,
            since_checkpoint,
            last_checkpoint_at: now,
            unanchored: None,
            poisoned: false,
        };
        let sink = Self {
            path,
            key,
            anchor,
            config,
            clock,
            state: Mutex::new(state),
        };
        let outcome = if sealed { None } else { Some(sink.seal_now()?) };
        Ok((sink, outcome))
    }

    /// Path of the trail.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a checkpoint now if records are unsealed (for shutdown and tests).
    pub fn seal_now(&self) -> Result<CheckpointOutcome, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        let now = self.clock.now();
        Ok(self.checkpoint(&mut state, now))
    }

    /// Writes a time-based checkpoint if one is due, or retries a failed anchor. Call from a timer so an
    /// idle trail is still sealed within [`ChainConfig::every`].
    pub fn tick(&self) -> Result<Option<CheckpointOutcome>, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        let now = self.clock.now();
        Ok(self.checkpoint_if_due(&mut state, now))
    }

    fn ensure_usable(&self, state: &ChainState) -> Result<(), AuditError> {
        match state.poisoned {
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
        let checkpoint =
            match Checkpoint::sign(state.last_sequence, &state.last_hash, now, &self.key) {
                Ok(c) => c,
                Err(error) => return CheckpointOutcome::WriteFailed(error),
            };
        if let Err(error) = self.append(
            state,
            &CheckpointRecord::new(state.last_sequence + 1, &checkpoint),
        ) {
            return CheckpointOutcome::WriteFailed(error);
        }
        state.since_checkpoint = 0;
        state.last_checkpoint_at = now;
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

    /// Seals `record` onto the chain, writes and fsyncs it; returns its sequence and hash.
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
        let written = state
            .file
            .write_all(&line)
            .and_then(|()| state.file.sync_data());
        if let Err(source) = written {
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
        state.last_sequence = sequence;
        state.last_hash.clone_from(&hash);
        Ok((sequence, hash))
    }
}

impl AuditSink for ChainedFileSink {
    fn record(&self, mut event: AuditEvent) -> Result<Recorded, AuditError> {
        let mut state = lock(&self.state);
        self.ensure_usable(&state)?;
        event.sequence = state.last_sequence + 1;
        let (sequence, hash) = self.append(&mut state, &event)?;
        state.since_checkpoint += 1;
        let now = self.clock.now();
        let checkpoint = self.checkpoint_if_due(&mut state, now);
        Ok(Recorded {
            sequence,
            event_id: event.event_id,
            hash: Some(hash),
            checkpoint,
        })
    }

    /// Scans the whole trail (without blocking writers): replays are rare and must never duplicate.
    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        crate::lines::find_event_ids(&self.path, ids)
    }
}

/// Reads the last line of a trail of `len` bytes. Outer `Err` is I/O; inner `Err` says why the tail is
/// broken. Reads backwards in chunks so opening a large trail costs one record, not the whole file.
fn read_tail(file: &mut File, len: u64) -> std::io::Result<Result<Option<Tail>, String>> {
    if len == 0 {
        return Ok(Ok(None));
    }
    let mut line = Vec::new();
    let mut end = len;
    loop {
        let start = end.saturating_sub(64 * 1024);
        let mut chunk = vec![0; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&line);
        line = chunk;
        // The last byte should be the final newline; the line starts after the newline before it.
        if let Some(pos) = memchr::memrchr(b'\n', &line[..line.len() - 1]) {
            line.drain(..=pos);
            break;
        }
        if start == 0 {
            break;
        }
        end = start;
    }
    Ok(parse_tail(&line))
}

fn parse_tail(line: &[u8]) -> Result<Option<Tail>, String> {
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err("the last line is incomplete (no trailing newline)".to_owned());
    };
    match chain::open_line(body) {
        Ok(opened) => Ok(Some(Tail {
            sequence: opened.head.sequence,
            hash: opened.hash,
            is_checkpoint: opened.head.checkpoint.is_some(),
        })),
        Err(error) => Err(format!(
            "the last line is not a valid sealed record: {error:?}"
        )),
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
