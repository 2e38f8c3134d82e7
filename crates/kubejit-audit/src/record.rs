//! The audit record as written (one flat JSON object per line): what readers (verify, report, resume)
//! parse and what sinks serialise. Writers never fill one by hand: it is made only from a typed
//! [`crate::AuditEvent`] ([`crate::AuditEvent::into_record`]), stamped with its time and id ([`Stamped`]).
//!
//! The JSON field names (camelCase) are a stable, versioned schema documented in `docs/audit.md`: every
//! field is always present (absent values are `null`, empty lists `[]`), so consumers never have to guess
//! whether a key was dropped. Adding a field bumps nothing; renaming or removing one bumps
//! [`SCHEMA_VERSION`].

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Version of the record schema written in every event's `schemaVersion` field.
pub const SCHEMA_VERSION: u32 = 1;

/// One fact as written. Sinks fill `sequence` when they record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// [`SCHEMA_VERSION`] at the time of writing.
    pub schema_version: u32,
    /// Position in the sink's stream, assigned by the sink (starts at 1).
    pub sequence: u64,
    /// When the fact happened, RFC 3339 UTC.
    pub time: Timestamp,
    /// Random 128-bit id (hex), unique across replicas, for deduplicating shipped logs.
    pub event_id: String,
    /// Which fact this is.
    pub kind: EventKind,
    /// Who did it: a controller or a person using the CLI.
    pub actor: Actor,
    /// Whose access this is about (the Kubernetes username), if anyone's. For a grant to several
    /// users this is their comma-separated list, for people only: usernames may contain commas,
    /// so programs read `users`.
    pub subject: Option<String>,
    /// Every user (and service account) the access is for, one entry each. Empty in records
    /// written before this field existed; readers then take `subject` as one username.
    #[serde(default)]
    pub users: Vec<String>,
    /// The subject's groups, or the groups in the requested certificate.
    pub groups: Vec<String>,
    /// Namespace the access is scoped to.
    pub namespace: Option<String>,
    /// Role (on-call role name) granted or requested.
    pub role: Option<String>,
    /// Name of the policy that matched, if one did.
    pub policy: Option<String>,
    /// Incident reference, as typed by the user (untrusted, escaped on output).
    pub incident: Option<String>,
    /// Justification, as typed by the user (untrusted, escaped on output).
    pub reason: Option<String>,
    /// The decision taken, for facts that are decisions.
    pub decision: Option<Verdict>,
    /// Stable machine-readable reason for the decision, e.g. `ttlAbovePolicyMaximum`.
    pub decision_reason: Option<String>,
    /// Requested or granted lifetime in seconds.
    pub ttl_seconds: Option<u64>,
    /// When the access ends (certificate `notAfter`, grant expiry).
    pub expires_at: Option<Timestamp>,
    /// The Kubernetes object this fact is about.
    pub object: Option<ObjectRef>,
    /// Who approved (`accessApproved`, and `grantCreated` by the request controller): each approver
    /// whose approval counted, in order; empty for an Auto rule and on every other record. Empty in
    /// records written before this field existed (their `reason` names the approvers, for people).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// The SSH gateway session a `session*` record is about; `null` on every other record.
    #[serde(default)]
    pub session: Option<crate::session::SessionDetails>,
    /// A certificate decision's hardware key attestation: what the verified attestation says
    /// (device serial, PIN and touch policy) when a `keys: hardware` policy allowed the request,
    /// the denial reason when the key was why it was denied, `null` otherwise and on every other
    /// record (and in records written before this field existed).
    #[serde(default)]
    pub key_attestation: Option<String>,
}

/// Declares [`EventKind`] from one list of `Variant = "wireName"`, with [`EventKind::ALL`] and
/// [`EventKind::as_str`] made from the same list: a new kind is in all three at once, and its wire
/// name is written once.
macro_rules! event_kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:literal,)+) => {
        /// The facts kubejit records; serialized as camelCase strings (`certificateApproved`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventKind {
            $($(#[$doc])* #[serde(rename = $name)] $kind,)+
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &[EventKind] = &[$(Self::$kind,)+];

            /// The wire name: what the record's `kind` field holds.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)+
                }
            }
        }
    };
}

event_kinds! {
    CertificateApproved = "certificateApproved",
    CertificateDenied = "certificateDenied",
    CertificatePending = "certificatePending",
    /// An issued certificate does not certify what kubejit approved (subject, key or usages): an alarm.
    CertificateMismatch = "certificateMismatch",
    GrantCreated = "grantCreated",
    GrantExtended = "grantExtended",
    GrantRevoked = "grantRevoked",
    GrantExpired = "grantExpired",
    GrantMalformed = "grantMalformed",
    /// A grant kubejit's controller did not make (an admin's, or one from before AccessRequests):
    /// the reaper still expires it.
    ForeignGrant = "foreignGrant",
    ControllerStarted = "controllerStarted",
    LeadershipAcquired = "leadershipAcquired",
    LeadershipLost = "leadershipLost",
    /// The chained trail was refused on open: the file does not continue the anchored trail (truncated,
    /// replaced, another trail's, or its anchor is missing). Written to the fallback spool.
    TrailTruncated = "trailTruncated",
    AccessRequested = "accessRequested",
    AccessApproved = "accessApproved",
    AccessDenied = "accessDenied",
    AccessWithdrawn = "accessWithdrawn",
    AccessTimedOut = "accessTimedOut",
    AccessRevoked = "accessRevoked",
    /// The SSH gateway accepted a certificate and opened a session.
    SessionStarted = "sessionStarted",
    /// A command (exec, logs, pods) or forwarded port inside a gateway session.
    SessionCommand = "sessionCommand",
    /// A gateway session ended; says why, and the recording's hash.
    SessionEnded = "sessionEnded",
    /// The SSH gateway refused a login; says exactly why (the client is told only "denied").
    SessionRefused = "sessionRefused",
}

/// The `decision` of a record: what was decided (not core's `csr::Decision`, which carries why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Allowed,
    Denied,
    Pending,
}

/// Who performed the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub kind: ActorKind,
    /// Controller name (`kubejit-csr-approver`) or the person's Kubernetes username.
    pub name: String,
}

/// Whether the actor is kubejit itself or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    Controller,
    User,
}

/// The Kubernetes object a fact is about (CSR, RoleBinding, Grant, Lease, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
}

impl Actor {
    /// A kubejit controller acting on its own.
    pub fn controller(name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Controller,
            name: name.into(),
        }
    }

    /// A person acting through the CLI.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::User,
            name: name.into(),
        }
    }
}

/// 128 random bits in hex: unique enough across replicas without coordinating.
pub(crate) fn new_event_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A record stamped with its time and id, ready for a sink. Made only from a typed event
/// ([`crate::AuditEvent::at`]) or read back from a spool that a writer filled, so no writer can hand
/// a sink a record it filled in by hand (it is not `Deserialize` for the same reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Stamped(AuditRecord);

impl Stamped {
    pub(crate) fn new(record: AuditRecord) -> Self {
        Self(record)
    }

    /// The record as it will be written (`sequence` is `0` until a sink assigns it).
    pub fn record(&self) -> &AuditRecord {
        &self.0
    }

    pub fn event_id(&self) -> &str {
        &self.0.event_id
    }

    pub fn time(&self) -> Timestamp {
        self.0.time
    }

    pub fn kind(&self) -> EventKind {
        self.0.kind
    }

    /// The record with the sequence number a sink assigned.
    pub(crate) fn sequenced(self, sequence: u64) -> AuditRecord {
        let mut record = self.0;
        record.sequence = sequence;
        record
    }
}

#[cfg(test)]
impl AuditRecord {
    /// A record with every optional field empty, for readers' tests (hostile or old records).
    pub(crate) fn blank(kind: EventKind, actor: Actor, time: Timestamp) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            sequence: 0,
            time,
            event_id: new_event_id(),
            kind,
            actor,
            subject: None,
            users: Vec::new(),
            groups: Vec::new(),
            namespace: None,
            role: None,
            policy: None,
            incident: None,
            reason: None,
            decision: None,
            decision_reason: None,
            ttl_seconds: None,
            expires_at: None,
            object: None,
            approvers: Vec::new(),
            session: None,
            key_attestation: None,
        }
    }

    /// Stamps a hand-built record, for tests of sinks and readers only.
    pub(crate) fn stamped(self) -> Stamped {
        Stamped(self)
    }
}
