//! The crate's single error type: one variant per operation that can fail.

use std::path::PathBuf;

/// Everything that can go wrong while recording, verifying or reporting.
///
/// Variants are named for the failing operation; messages are lowercase fragments that do not repeat
/// their source, because the binary prints the whole chain once.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("failed to serialize audit record")]
    Serialize(#[source] serde_json::Error),
    #[error("failed to write audit record to {target}")]
    Write {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open audit trail {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to append to audit trail {path}: its last record is broken ({reason})")]
    BrokenTail { path: PathBuf, reason: String },
    #[error(
        "audit sink is unusable after an earlier write failure left {path} in an unknown state"
    )]
    Poisoned { path: PathBuf },
    #[error("audit trail {path} reached the maximum sequence number")]
    SequenceExhausted { path: PathBuf },
    #[error("failed to anchor checkpoint at sequence {sequence}")]
    Anchor {
        sequence: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read {what}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse checkpoint on line {line} of {what}")]
    ParseCheckpoint {
        what: String,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line} of {what} is longer than {limit} bytes")]
    LineTooLong {
        what: String,
        line: u64,
        limit: usize,
    },
    #[error("failed to parse record on line {line} of audit spool {path}")]
    ParseSpool {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to parse line {line} of the kubejit audit trail")]
    ParseTrail {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "failed to build an incident report: the kubejit audit trail is required for an incident scope"
    )]
    MissingTrail,
    #[error("failed to parse {what} key")]
    ParseKey { what: &'static str, reason: String },
    #[error("failed to parse time {value:?}")]
    ParseTime {
        value: String,
        #[source]
        source: time::error::Parse,
    },
    #[error(
        "time {value:?} is outside the range kubejit can represent in UTC (years -9999..=9999)"
    )]
    TimeOutOfRange { value: String },
    #[error(
        "invalid trail name {value:?}: use 1 to 46 of [A-Za-z0-9._-], starting and ending with a letter or digit"
    )]
    TrailName { value: String },
    #[error(
        "refusing to continue audit trail {trail:?} in {path}: {reason}. Nothing was appended. Keep the \
         file as evidence and check it with `kubejit audit verify --checkpoints from-cluster --trail {trail}`; \
         then start a new trail: move the file aside and restart with a new, never used --audit-trail name"
    )]
    TrailRefused {
        path: PathBuf,
        trail: String,
        reason: String,
    },
    #[error("failed to format time")]
    FormatTime(#[source] time::error::Format),
}
