//! kubejit's tamper-evident audit trail: typed events, sinks, the signed hash chain and its verifier, and
//! the incident report that joins the trail with the kube-apiserver audit log.
//!
//! Writers build a typed [`AuditEvent`] (one variant per fact) and stamp it ([`AuditEvent::at`]); sinks
//! take only [`Stamped`] events, and the flat [`AuditRecord`] is what readers parse.
//!
//! Pure library: std I/O only, no Kubernetes client, no async runtime. The Kubernetes glue opens a
//! trail for every writer (`kubejit_kube::open_audit`) and plugs in a [`CheckpointAnchor`] that stores
//! checkpoints on a cluster object. See `docs/audit.md`.

mod access;
pub mod anchor_history;
mod auditor;
mod backoff;
mod chain;
pub mod checkpoint;
mod error;
pub mod escape;
pub mod event;
mod lines;
pub mod record;
pub mod report;
mod resume;
pub mod session;
pub mod sink;
pub mod spool;
mod timestamp;
pub mod verify;

pub use access::{AccessApproved, AccessEnded, AccessRequested, RequestedAccess};
pub use anchor_history::{Advance, HISTORY_LEN, HistoryFault, advance, check_history};
pub use auditor::{After, Auditor, Replayed};
pub use backoff::Backoff;
pub use chain::GENESIS_HASH;
pub use checkpoint::{
    Checkpoint, CheckpointAnchor, FileAnchor, Link, TrailName, Unanchored, for_trail, key_id,
    load_checkpoint_file, load_checkpoints, signing_key_from_pem, verifying_key_from_pem,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::AuditError;
pub use event::{
    AuditEvent, AuditedGrant, CertificateDecided, CertificateOutcome, CsrRef, GrantChanged,
    GrantExpired, GrantMalformed, GrantRevoked, GrantSource, Lifecycle, MismatchAlarm,
    TrailTruncated,
};
pub use lines::MAX_LINE_BYTES;
pub use record::{
    Actor, ActorKind, AuditRecord, EventKind, ObjectRef, SCHEMA_VERSION, Stamped, Verdict,
};
pub use session::{
    RecordingRef, SessionAction, SessionCertificate, SessionCommand, SessionDetails,
    SessionEndReason, SessionEnded, SessionRefused, SessionStarted, SessionUser,
};
pub use sink::{
    AuditSink, ChainConfig, ChainedFileSink, CheckpointOutcome, Recorded, StdoutSink, WriterSink,
};
pub use spool::{Spool, spool_path};
pub use timestamp::Timestamp;
pub use verify::{Broken, EXIT_OK, Failure, Intact, VerifyReport, verify, verify_file};
