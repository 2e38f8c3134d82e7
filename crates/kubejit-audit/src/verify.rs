//! Streams a hash-chained trail and reports OK or the first broken record, with a distinct kind (and
//! exit code) per way the file can have been tampered with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::chain::{self, GENESIS_HASH, LineError, LineHead};
use crate::lines::{Line, MAX_LINE_BYTES, read_line};
use crate::{AuditError, Checkpoint, check_history};

/// Exit code for an intact trail.
pub const EXIT_OK: u8 = 0;

/// The ways a trail can be broken, in the order they are checked for each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// A line's bytes do not match its own hash, or it is not a sealed record at all.
    EditedRecord,
    /// A sequence number is missing, or `prevHash` does not match the previous record.
    DeletedRecord,
    /// A sequence number appears out of order (later in the file, or twice).
    ReorderedRecords,
    /// The last line is partial, or the trail ends before the last anchored checkpoint.
    TruncatedTail,
    /// The chain is self-consistent but disagrees with, or lacks, a signed checkpoint.
    RewrittenChain,
    /// A checkpoint (in the file or from the anchor) is not signed by the given key.
    BadCheckpointSignature,
    /// The anchor's newest checkpoint is older than a signed checkpoint in the file: the anchor was
    /// rolled back (or its writer stopped before the last checkpoint landed; a restart re-anchors it).
    AnchorRolledBack,
    /// The anchor's history is not one trail's chain of checkpoints (cut, reordered, spliced, mixed).
    AnchorHistoryBroken,
    /// The anchor holds nothing for the trail although the file has signed checkpoints: the anchor
    /// entry (or its ConfigMap) was deleted.
    AnchorMissing,
}

impl Failure {
    /// Every failure, in exit-code order: the `kubejit` binary's table of exit codes is built from it.
    pub const ALL: [Failure; 9] = [
        Failure::EditedRecord,
        Failure::DeletedRecord,
        Failure::ReorderedRecords,
        Failure::TruncatedTail,
        Failure::RewrittenChain,
        Failure::BadCheckpointSignature,
        Failure::AnchorRolledBack,
        Failure::AnchorHistoryBroken,
        Failure::AnchorMissing,
    ];

    /// Stable process exit code for `kubejit audit verify` (tables in `docs/audit.md` and `docs/cli.md`).
    pub fn exit_code(self) -> u8 {
        match self {
            Failure::EditedRecord => 10,
            Failure::DeletedRecord => 11,
            Failure::ReorderedRecords => 12,
            Failure::TruncatedTail => 13,
            Failure::RewrittenChain => 14,
            Failure::BadCheckpointSignature => 15,
            Failure::AnchorRolledBack => 16,
            Failure::AnchorHistoryBroken => 17,
            Failure::AnchorMissing => 18,
        }
    }

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::EditedRecord => "editedRecord",
            Failure::DeletedRecord => "deletedRecord",
            Failure::ReorderedRecords => "reorderedRecords",
            Failure::TruncatedTail => "truncatedTail",
            Failure::RewrittenChain => "rewrittenChain",
            Failure::BadCheckpointSignature => "badCheckpointSignature",
            Failure::AnchorRolledBack => "anchorRolledBack",
            Failure::AnchorHistoryBroken => "anchorHistoryBroken",
            Failure::AnchorMissing => "anchorMissing",
        }
    }
}

/// The first broken record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub failure: Failure,
    /// 1-based line number in the trail; 0 when the problem is in the supplied checkpoints.
    pub line: u64,
    /// Human explanation with the values that disagree.
    pub detail: String,
}

/// Facts about an intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    /// Number of records (events and checkpoints).
    pub records: u64,
    pub last_hash: String,
    /// Highest sequence covered by a valid signed checkpoint inside the file.
    pub sealed_through: u64,
    /// Highest sequence matched by a supplied (anchored) checkpoint.
    pub anchored_through: Option<u64>,
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    Ok(Intact),
    Broken(Broken),
}

impl VerifyReport {
    /// `0` when intact, otherwise [`Failure::exit_code`].
    pub fn exit_code(&self) -> u8 {
        match self {
            VerifyReport::Ok(_) => EXIT_OK,
            VerifyReport::Broken(broken) => broken.failure.exit_code(),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyReport::Ok(ok) => write!(
                f,
                "OK: {} records, signed through sequence {}, last hash {}",
                ok.records, ok.sealed_through, ok.last_hash
            ),
            VerifyReport::Broken(b) => write!(
                f,
                "BROKEN ({}) at line {}: {}",
                b.failure.as_str(),
                b.line,
                b.detail
            ),
        }
    }
}

/// Opens `path` and [`verify`]s it.
pub fn verify_file(
    path: &Path,
    checkpoints: Option<&[Checkpoint]>,
    key: &VerifyingKey,
) -> Result<VerifyReport, AuditError> {
    let file = std::fs::File::open(path).map_err(|source| AuditError::Open {
        path: path.to_owned(),
        source,
    })?;
    verify(file, checkpoints, key)
}

/// Streams the trail line by line (never holding more than one record, and refusing, with
/// [`AuditError::LineTooLong`], a line longer than [`MAX_LINE_BYTES`]) and checks, in order for each
/// line: its own hash, its sequence, its `prevHash`, its checkpoint's signature, trail, coverage and link
/// to the previous checkpoint, and the anchored checkpoint for its sequence.
///
/// `checkpoints` is the anchor's history of this trail, oldest first (the cluster's window or a
/// checkpoint file), checked first to be one signed chain. `Some(&[])` means the anchor was consulted
/// and holds nothing. Without `checkpoints`, truncation after the last in-file checkpoint cannot be
/// detected.
pub fn verify(
    trail: impl Read,
    checkpoints: Option<&[Checkpoint]>,
    key: &VerifyingKey,
) -> Result<VerifyReport, AuditError> {
    let anchors = match checkpoints.map(|c| anchored(c, key)).transpose() {
        Ok(anchors) => anchors,
        Err(broken) => return Ok(VerifyReport::Broken(broken)),
    };
    let mut walk = Walk::new(BufReader::with_capacity(256 * 1024, trail), anchors, key);
    match walk.run()? {
        Some(broken) => Ok(VerifyReport::Broken(broken)),
        None => Ok(walk.finish()),
    }
}

/// The anchor's history, checked to be one chain, indexed by the sequence each checkpoint covers.
struct Anchored<'a> {
    by_sequence: BTreeMap<u64, &'a Checkpoint>,
    trail: Option<&'a str>,
}

fn anchored<'a>(checkpoints: &'a [Checkpoint], key: &VerifyingKey) -> Result<Anchored<'a>, Broken> {
    check_history(checkpoints, None, key).map_err(|fault| Broken {
        failure: fault.failure,
        line: 0,
        detail: fault.detail,
    })?;
    Ok(Anchored {
        by_sequence: checkpoints.iter().map(|c| (c.sequence, c)).collect(),
        trail: checkpoints.first().map(|c| c.trail.as_str()),
    })
}

struct Walk<'a, R> {
    reader: R,
    buf: Vec<u8>,
    /// `None` when no anchor was given.
    anchored: Option<Anchored<'a>>,
    key: &'a VerifyingKey,
    line: u64,
    /// Lines read so far, including those scanned ahead to tell a reorder from a deletion.
    read: u64,
    limit: usize,
    prev_hash: String,
    sealed_through: u64,
    anchored_through: Option<u64>,
    /// Trail named by the anchor or, failing that, by the file's first checkpoint.
    trail: Option<String>,
    /// Digest of the last in-file checkpoint: the next one's `prev`.
    last_checkpoint: String,
    /// Sequence covered by the newest in-file checkpoint, if any.
    newest_checkpoint: Option<u64>,
    /// Anchored checkpoints found, identical, in the file.
    matched: BTreeSet<u64>,
}

fn broken(failure: Failure, line: u64, detail: String) -> Option<Broken> {
    Some(Broken {
        failure,
        line,
        detail,
    })
}

impl<'a, R: BufRead> Walk<'a, R> {
    fn new(reader: R, anchored: Option<Anchored<'a>>, key: &'a VerifyingKey) -> Self {
        let buf = Vec::with_capacity(4096);
        let trail = anchored.as_ref().and_then(|a| a.trail).map(str::to_owned);
        Self {
            reader,
            buf,
            anchored,
            key,
            line: 0,
            read: 0,
            limit: MAX_LINE_BYTES,
            prev_hash: GENESIS_HASH.to_owned(),
            sealed_through: 0,
            anchored_through: None,
            trail,
            last_checkpoint: GENESIS_HASH.to_owned(),
            newest_checkpoint: None,
            matched: BTreeSet::new(),
        }
    }

    fn next_line(&mut self) -> Result<bool, AuditError> {
        self.read = self.read.saturating_add(1);
        let read = read_line(&mut self.reader, &mut self.buf, self.limit);
        match read.map_err(|source| AuditError::Read {
            what: "audit trail".to_owned(),
            source,
        })? {
            Line::Eof => Ok(false),
            Line::Read => Ok(true),
            Line::TooLong => Err(AuditError::LineTooLong {
                what: "the audit trail".to_owned(),
                line: self.read,
                limit: self.limit,
            }),
        }
    }

    fn run(&mut self) -> Result<Option<Broken>, AuditError> {
        while self.next_line()? {
            self.line += 1;
            let Some(body) = self.buf.strip_suffix(b"\n") else {
                let detail = "the last line is partial (no trailing newline)".to_owned();
                return Ok(broken(Failure::TruncatedTail, self.line, detail));
            };
            let opened = match chain::open_line(body) {
                Ok(opened) => opened,
                Err(error) => {
                    return Ok(broken(Failure::EditedRecord, self.line, describe(&error)));
                }
            };
            let expected = self.line;
            if opened.head.sequence != expected {
                return self
                    .sequence_break(expected, opened.head.sequence)
                    .map(Some);
            }
            if let Some(found) = self.check_links(&opened.head, &opened.hash) {
                return Ok(Some(found));
            }
            self.prev_hash = opened.hash;
        }
        Ok(None)
    }

    /// Checks `prevHash`, an in-file checkpoint, and any anchored checkpoint for this record.
    fn check_links(&mut self, head: &LineHead, hash: &str) -> Option<Broken> {
        if head.prev_hash != self.prev_hash {
            let detail = format!(
                "prevHash {} does not match the previous record's hash {}: a record before it was removed or replaced",
                head.prev_hash, self.prev_hash
            );
            return broken(Failure::DeletedRecord, self.line, detail);
        }
        if let Some(checkpoint) = &head.checkpoint
            && let Some(found) = self.check_checkpoint(checkpoint, head.sequence)
        {
            return Some(found);
        }
        let anchor = self.anchored.as_ref()?.by_sequence.get(&head.sequence)?;
        if anchor.hash != hash {
            let detail = format!(
                "record {} has hash {hash} but the anchored signed checkpoint says {}: the file was rewritten",
                head.sequence, anchor.hash
            );
            return broken(Failure::RewrittenChain, self.line, detail);
        }
        self.anchored_through = Some(head.sequence);
        None
    }

    fn check_checkpoint(&mut self, checkpoint: &Checkpoint, sequence: u64) -> Option<Broken> {
        if !checkpoint.signature_valid(self.key) {
            let detail = format!(
                "checkpoint for sequence {} is not signed by the given key",
                checkpoint.sequence
            );
            return broken(Failure::BadCheckpointSignature, self.line, detail);
        }
        // The sequence is read from the file: u64::MAX must be a broken chain, not an overflow.
        if checkpoint.sequence.checked_add(1) != Some(sequence) || checkpoint.hash != self.prev_hash
        {
            let detail = format!(
                "signed checkpoint covers sequence {} with hash {}, but the chain before it ends at {} with hash {}",
                checkpoint.sequence,
                checkpoint.hash,
                sequence.saturating_sub(1),
                self.prev_hash
            );
            return broken(Failure::RewrittenChain, self.line, detail);
        }
        let trail = self.trail.get_or_insert_with(|| checkpoint.trail.clone());
        if checkpoint.trail != *trail || checkpoint.prev != self.last_checkpoint {
            let detail = format!(
                "signed checkpoint for sequence {} (trail {:?}) does not follow the previous checkpoint of trail {trail:?}: \
                 checkpoints were removed, or another trail's were spliced in",
                checkpoint.sequence, checkpoint.trail
            );
            return broken(Failure::RewrittenChain, self.line, detail);
        }
        let anchors = self.anchored.as_ref().map(|a| &a.by_sequence);
        if let Some(anchor) = anchors.and_then(|a| a.get(&checkpoint.sequence)) {
            if *anchor != checkpoint {
                let detail = format!(
                    "signed checkpoint for sequence {} differs from the anchored one: the file was rewritten by the key holder",
                    checkpoint.sequence
                );
                return broken(Failure::RewrittenChain, self.line, detail);
            }
            self.matched.insert(checkpoint.sequence);
        }
        self.last_checkpoint = checkpoint.digest();
        self.newest_checkpoint = Some(checkpoint.sequence);
        self.sealed_through = checkpoint.sequence;
        None
    }

    /// A record has the wrong sequence: it is a reorder if a missing sequence shows up later in the
    /// file (or this one was already seen), otherwise records were deleted. Scans the rest of the file.
    fn sequence_break(&mut self, expected: u64, found: u64) -> Result<Broken, AuditError> {
        let line = self.line;
        if found < expected {
            let detail =
                format!("expected sequence {expected} but found {found}, which appeared earlier");
            return Ok(Broken {
                failure: Failure::ReorderedRecords,
                line,
                detail,
            });
        }
        while self.next_line()? {
            let Ok(head) = serde_json::from_slice::<LineHead>(&self.buf) else {
                continue;
            };
            if (expected..found).contains(&head.sequence) {
                let detail = format!(
                    "expected sequence {expected} but found {found}; {} appears later",
                    head.sequence
                );
                return Ok(Broken {
                    failure: Failure::ReorderedRecords,
                    line,
                    detail,
                });
            }
        }
        let detail = format!(
            "expected sequence {expected} but found {found}: records {expected}..{found} are missing"
        );
        Ok(Broken {
            failure: Failure::DeletedRecord,
            line,
            detail,
        })
    }

    fn finish(self) -> VerifyReport {
        let last = self.line;
        if let Some(found) = self.anchor_findings(last) {
            return VerifyReport::Broken(found);
        }
        if last > 0 && self.sealed_through == 0 && self.anchored_through.is_none() {
            let detail =
                "no signed checkpoint covers any record: the chain may have been rewritten"
                    .to_owned();
            return VerifyReport::Broken(Broken {
                failure: Failure::RewrittenChain,
                line: last,
                detail,
            });
        }
        VerifyReport::Ok(Intact {
            records: last,
            last_hash: self.prev_hash,
            sealed_through: self.sealed_through,
            anchored_through: self.anchored_through,
        })
    }

    /// Compares the whole file with the anchor's history once every line was read.
    fn anchor_findings(&self, last: u64) -> Option<Broken> {
        let anchored = self.anchored.as_ref()?;
        let at_end = |failure, detail| broken(failure, last, detail);
        let Some((&head, _)) = anchored.by_sequence.last_key_value() else {
            let newest = self.newest_checkpoint?;
            let detail = format!(
                "the anchor holds no checkpoint for this trail, but the file has signed checkpoints up to sequence {newest}: \
                 the anchor entry was deleted"
            );
            return at_end(Failure::AnchorMissing, detail);
        };
        if head >= last {
            let detail = format!(
                "an anchored checkpoint covers sequence {head} but the trail ends at {last}"
            );
            return at_end(Failure::TruncatedTail, detail);
        }
        let unmatched = anchored
            .by_sequence
            .keys()
            .find(|s| **s < last && !self.matched.contains(s));
        if let Some(sequence) = unmatched {
            let detail = format!(
                "the anchored checkpoint for sequence {sequence} is not in the file: the file was rewritten"
            );
            return at_end(Failure::RewrittenChain, detail);
        }
        match self.newest_checkpoint {
            Some(newest) if newest > head => {
                let detail = format!(
                    "the file holds a signed checkpoint for sequence {newest} but the anchor's newest is for {head}: \
                     the anchor was rolled back (or its writer stopped before the last checkpoint landed; \
                     restarting the writer anchors it again)"
                );
                at_end(Failure::AnchorRolledBack, detail)
            }
            _ => None,
        }
    }
}

fn describe(error: &LineError) -> String {
    match error {
        LineError::MissingHash => "the line does not end with a hash field".to_owned(),
        LineError::HashMismatch { stated, computed } => {
            format!("the line's bytes hash to {computed} but it states {stated}")
        }
        LineError::NotARecord(why) => format!("the line is not a trail record: {why}"),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
