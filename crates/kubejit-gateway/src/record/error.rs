//! What can go wrong writing or reading a recording.

use std::path::PathBuf;

/// A recording could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "session id {id:?} cannot name a recording file (allowed: A-Z a-z 0-9 - _, 1-128 characters)"
    )]
    SessionId { id: String },
    #[error("failed to create recording {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write recording {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to encode the recording header")]
    Header(#[source] serde_json::Error),
    #[error("failed to read the recording at line {line}")]
    Read {
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed recording, line {line}: {problem}")]
    Malformed { line: u64, problem: String },
    #[error("failed to write to the terminal")]
    Terminal(#[source] std::io::Error),
}
