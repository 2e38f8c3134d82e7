//! Resuming a trail on open: walks the file backwards from its last line to the checkpoint the anchor
//! holds, so a file that was truncated, replaced or swapped for another trail's is refused instead of
//! being re-sealed as if nothing had happened, and the refusal is recorded in the fallback spool.
//!
//! The walk costs the records written since the anchored checkpoint (normally a handful), not the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use crate::chain::{self, GENESIS_HASH, OpenedLine};
use crate::{AuditError, AuditEvent, Checkpoint, Spool, Timestamp, TrailTruncated};

/// Where the chain continues.
#[derive(Debug)]
pub(crate) struct Resumed {
    pub last_sequence: u64,
    pub last_hash: String,
    /// The last line is a checkpoint (or the file is empty).
    pub sealed: bool,
    /// Digest of the newest checkpoint in the file ([`GENESIS_HASH`] when none): the next one's `prev`.
    pub last_checkpoint: String,
    /// In-file checkpoints newer than the anchor's head, oldest first: anchored again on open (the last
    /// run stopped before they landed).
    pub unanchored: Vec<Checkpoint>,
}

/// Why the file does not continue the anchored trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Stable machine reason, the audit record's `decisionReason`.
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Resumed(Resumed),
    /// The last line is partial or not a sealed record (a crash mid-write or an edit).
    BrokenTail(String),
    Refused(Refusal),
}

fn refused(reason: &'static str, detail: String) -> std::io::Result<Outcome> {
    Ok(Outcome::Refused(Refusal { reason, detail }))
}

/// Checks the trail in `file` (`len` bytes) against `head`, the newest checkpoint the anchor holds for
/// `trail`, and finds where the chain continues. With `kept` false there is no anchor to compare with
/// (`head` is then `None`): the file is only checked back to its newest checkpoint.
pub(crate) fn resume(
    file: &mut File,
    len: u64,
    trail: &str,
    head: Option<&Checkpoint>,
    kept: bool,
    key: &VerifyingKey,
) -> std::io::Result<Outcome> {
    if let Some(h) = head
        && (h.trail != trail || !h.signature_valid(key))
    {
        let detail = format!(
            "the anchor's newest checkpoint (sequence {}) is not trail {trail:?}'s or not signed by this key: \
             the anchor entry was replaced",
            h.sequence
        );
        return refused("anchorInvalid", detail);
    }
    let mut lines = ReverseLines::new(file, len);
    let Some(last) = lines.next()? else {
        return Ok(match head {
            Some(h) => Outcome::Refused(Refusal {
                reason: "fileBehindAnchor",
                detail: format!(
                    "the file is empty but the anchor holds a signed checkpoint for sequence {}",
                    h.sequence
                ),
            }),
            None => Outcome::Resumed(Resumed {
                last_sequence: 0,
                last_hash: GENESIS_HASH.to_owned(),
                sealed: true,
                last_checkpoint: GENESIS_HASH.to_owned(),
                unanchored: Vec::new(),
            }),
        });
    };
    let Some(body) = last.strip_suffix(b"\n") else {
        let why = "the last line is incomplete (no trailing newline)".to_owned();
        return Ok(Outcome::BrokenTail(why));
    };
    let tail = match chain::open_line(body) {
        Ok(opened) => opened,
        Err(error) => {
            let why = format!("the last line is not a valid sealed record: {error:?}");
            return Ok(Outcome::BrokenTail(why));
        }
    };
    if let Some(checkpoint) = &tail.head.checkpoint
        && checkpoint.trail != trail
    {
        let detail = format!(
            "the file's checkpoints belong to trail {:?}",
            checkpoint.trail
        );
        return refused("fileOfAnotherTrail", detail);
    }
    if let Some(h) = head
        && tail.head.sequence <= h.sequence
    {
        let detail = format!(
            "the file ends at sequence {} but the anchor holds a signed checkpoint for sequence {} \
             (written at sequence {}): records were cut off the end",
            tail.head.sequence,
            h.sequence,
            h.sequence.saturating_add(1)
        );
        return refused("fileBehindAnchor", detail);
    }
    let mut walk = Backwards::new(trail, head, key, &tail);
    walk.kept = kept;
    walk.run(tail, &mut lines)
}

/// State of the backwards walk: the line after the current one, and the checkpoints seen so far.
struct Backwards<'a> {
    trail: &'a str,
    head: Option<&'a Checkpoint>,
    /// Whether an anchor keeps checkpoints at all (else a missing head is not a finding).
    kept: bool,
    key: &'a VerifyingKey,
    /// `(sequence, prevHash)` of the line after the current one.
    after: Option<(u64, String)>,
    /// In-file checkpoints newer than the head, newest first.
    seen: Vec<Checkpoint>,
    resumed: Resumed,
}

impl<'a> Backwards<'a> {
    fn new(
        trail: &'a str,
        head: Option<&'a Checkpoint>,
        key: &'a VerifyingKey,
        tail: &OpenedLine,
    ) -> Self {
        let resumed = Resumed {
            last_sequence: tail.head.sequence,
            last_hash: tail.hash.clone(),
            sealed: tail.head.checkpoint.is_some(),
            last_checkpoint: GENESIS_HASH.to_owned(),
            unanchored: Vec::new(),
        };
        Self {
            trail,
            head,
            kept: true,
            key,
            after: None,
            seen: Vec::new(),
            resumed,
        }
    }

    fn run(mut self, tail: OpenedLine, lines: &mut ReverseLines<'_>) -> std::io::Result<Outcome> {
        let mut current = tail;
        loop {
            if let Some(outcome) = self.step(&current) {
                return Ok(outcome);
            }
            self.after = Some((current.head.sequence, current.head.prev_hash.clone()));
            let Some(line) = lines.next()? else {
                let detail = format!(
                    "the file starts at sequence {}, not 1: its beginning was cut off",
                    current.head.sequence
                );
                return refused("brokenChain", detail);
            };
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            current = match chain::open_line(body) {
                Ok(opened) => opened,
                Err(error) => {
                    let detail = format!(
                        "the line before sequence {} is not a valid sealed record: {error:?}",
                        current.head.sequence
                    );
                    return refused("brokenChain", detail);
                }
            };
        }
    }

    /// Checks one line; `Some` ends the walk.
    fn step(&mut self, line: &OpenedLine) -> Option<Outcome> {
        let sequence = line.head.sequence;
        if let Some((after, prev_hash)) = &self.after
            && (sequence.checked_add(1) != Some(*after) || line.hash != *prev_hash)
        {
            let detail = format!(
                "the record before sequence {after} is sequence {sequence} with a different hash: \
                 the file was edited"
            );
            return Some(Outcome::Refused(Refusal {
                reason: "brokenChain",
                detail,
            }));
        }
        if let Some(checkpoint) = &line.head.checkpoint
            && let Some(end) = self.checkpoint(checkpoint, line)
        {
            return Some(end);
        }
        if sequence == 1 {
            return Some(self.at_start(line));
        }
        None
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint, line: &OpenedLine) -> Option<Outcome> {
        let refuse = |reason, detail| Some(Outcome::Refused(Refusal { reason, detail }));
        if checkpoint.trail != self.trail {
            let detail = format!(
                "the file's checkpoints belong to trail {:?}",
                checkpoint.trail
            );
            return refuse("fileOfAnotherTrail", detail);
        }
        let covers_previous = checkpoint.sequence.checked_add(1) == Some(line.head.sequence)
            && checkpoint.hash == line.head.prev_hash;
        let linked = self
            .seen
            .last()
            .is_none_or(|n| n.prev == checkpoint.digest());
        if !checkpoint.signature_valid(self.key) || !covers_previous || !linked {
            let detail = format!(
                "the checkpoint at sequence {} is not signed by this key or not part of the chain",
                line.head.sequence
            );
            return refuse("brokenChain", detail);
        }
        let Some(head) = self.head else {
            if !self.kept {
                return Some(self.finish(checkpoint.digest()));
            }
            // The file's only checkpoint is the trail's first: a kill between writing it and
            // anchoring it leaves exactly this (chaos seed 2902851271044914872 refused every restart
            // for good). It is signed and the walk still checks the chain back to genesis, so resume
            // and anchor it. A file with a second checkpoint and no anchor entry stays refused: what
            // an attacker can still hide by deleting the entry is bounded by one checkpoint interval
            // (docs/audit.md).
            if checkpoint.prev == GENESIS_HASH && self.seen.is_empty() {
                self.seen.push(checkpoint.clone());
                return None;
            }
            let detail = format!(
                "the file holds a signed checkpoint for sequence {} but the anchor holds none for this \
                 trail: the anchor entry was deleted, or never written",
                checkpoint.sequence
            );
            return refuse("anchorMissing", detail);
        };
        if checkpoint.sequence > head.sequence {
            self.seen.push(checkpoint.clone());
            return None;
        }
        if checkpoint != head {
            let detail = format!(
                "the file's checkpoint for sequence {} differs from the anchored one: the file was replaced",
                checkpoint.sequence
            );
            return refuse("fileDiffersFromAnchor", detail);
        }
        Some(self.finish(head.digest()))
    }

    /// Reached the first record without meeting a checkpoint (so without an anchored one either).
    fn at_start(&mut self, line: &OpenedLine) -> Outcome {
        if line.head.prev_hash != GENESIS_HASH {
            return Outcome::Refused(Refusal {
                reason: "brokenChain",
                detail: "the first record does not start the chain".to_owned(),
            });
        }
        match self.head {
            Some(head) => Outcome::Refused(Refusal {
                reason: "fileDiffersFromAnchor",
                detail: format!(
                    "the file has no checkpoint for sequence {}, which the anchor holds: the file was replaced",
                    head.sequence
                ),
            }),
            None => self.finish(GENESIS_HASH.to_owned()),
        }
    }

    fn finish(&mut self, anchored_digest: String) -> Outcome {
        let mut resumed = std::mem::replace(
            &mut self.resumed,
            Resumed {
                last_sequence: 0,
                last_hash: String::new(),
                sealed: false,
                last_checkpoint: String::new(),
                unanchored: Vec::new(),
            },
        );
        resumed.last_checkpoint = self
            .seen
            .first()
            .map_or(anchored_digest, Checkpoint::digest);
        resumed.unanchored = self.seen.drain(..).rev().collect();
        Outcome::Resumed(resumed)
    }
}

/// Yields a file's lines last to first (each with its newline, the last one possibly without), reading
/// backwards in 64 KiB chunks.
struct ReverseLines<'a> {
    file: &'a mut File,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Bytes from `pos` up to the end of the line to yield next.
    buf: Vec<u8>,
}

impl<'a> ReverseLines<'a> {
    const CHUNK: u64 = 64 * 1024;

    fn new(file: &'a mut File, len: u64) -> Self {
        Self {
            file,
            pos: len,
            buf: Vec::new(),
        }
    }

    fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            // The buffer's last byte is the line's own newline; the line starts after the one before.
            let search = self.buf.len().saturating_sub(1);
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[..search]) {
                return Ok(Some(self.buf.split_off(i + 1)));
            }
            if self.pos == 0 {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            let start = self.pos.saturating_sub(Self::CHUNK);
            let mut chunk = vec![0; usize::try_from(self.pos - start).unwrap_or(0)];
            self.file.seek(SeekFrom::Start(start))?;
            self.file.read_exact(&mut chunk)?;
            chunk.append(&mut self.buf);
            self.buf = chunk;
            self.pos = start;
        }
    }
}

/// Appends (and fsyncs) a `trailTruncated` record of `refusal` to the trail's fallback spool: the trail
/// itself must not be written, and the refusal must still be on record.
pub(crate) fn spool_refusal(
    path: &Path,
    trail: &str,
    refusal: &Refusal,
    now: Timestamp,
) -> Result<PathBuf, AuditError> {
    let event = AuditEvent::TrailTruncated(TrailTruncated {
        trail: trail.to_owned(),
        reason: refusal.reason.to_owned(),
        detail: refusal.detail.clone(),
    });
    let spool = Spool::beside(path);
    spool.append(&event.at(now))?;
    Ok(spool.path().to_owned())
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
