//! The typed audit record: an envelope plus one `kind` per fact kubejit attests to.
//!
//! The JSON field names (camelCase) are a stable, versioned schema documented in `docs/audit.md`: every
//! field is always present (absent values are `null`, empty lists `[]`), so consumers never have to guess
//! whether a key was dropped. Adding a field bumps nothing; renaming or removing one bumps
//! [`SCHEMA_VERSION`].

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Version of the record schema written in every event's `schemaVersion` field.
pub const SCHEMA_VERSION: u32 = 1;

/// One fact kubejit attests to. Sinks fill `sequence` when they record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
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
    pub decision: Option<Decision>,
    /// Stable machine-readable reason for the decision, e.g. `ttlAbovePolicyMaximum`.
    pub decision_reason: Option<String>,
    /// Requested or granted lifetime in seconds.
    pub ttl_seconds: Option<u64>,
    /// When the access ends (certificate `notAfter`, grant expiry).
    pub expires_at: Option<Timestamp>,
    /// The Kubernetes object this fact is about.
    pub object: Option<ObjectRef>,
}

/// The facts kubejit records; serialized as camelCase strings (`certificateApproved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    CertificateRequested,
    CertificateApproved,
    CertificateDenied,
    CertificatePending,
    /// An issued certificate does not certify what kubejit approved (subject, key or usages): an alarm.
    CertificateMismatch,
    GrantCreated,
    GrantExtended,
    GrantRevoked,
    GrantExpired,
    GrantMalformed,
    PolicyMatched,
    ControllerStarted,
    LeadershipAcquired,
    LeadershipLost,
    /// The chained trail was refused on open: the file does not continue the anchored trail (truncated,
    /// replaced, another trail's, or its anchor is missing). Written to the fallback spool.
    TrailTruncated,
}

/// Outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
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

impl AuditEvent {
    /// A new event with a fresh random id and every optional field empty; set the fields that apply.
    pub fn new(kind: EventKind, actor: Actor, time: Timestamp) -> Self {
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
        }
    }
}

/// 128 random bits in hex: unique enough across replicas without coordinating.
fn new_event_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditEvent {
        let mut event = AuditEvent::new(
            EventKind::CertificateApproved,
            Actor::controller("kubejit-csr-approver"),
            Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
        );
        event.subject = Some("alice".into());
        event.groups = vec!["kubejit:oncall".into()];
        event.decision = Some(Decision::Allowed);
        event.ttl_seconds = Some(3600);
        event.object = Some(ObjectRef {
            kind: "CertificateSigningRequest".into(),
            namespace: None,
            name: "csr-1".into(),
            uid: None,
        });
        event
    }

    #[test]
    fn field_names_are_stable_camel_case() {
        let value = serde_json::to_value(sample()).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let want = [
            "actor",
            "decision",
            "decisionReason",
            "eventId",
            "expiresAt",
            "groups",
            "incident",
            "kind",
            "namespace",
            "object",
            "policy",
            "reason",
            "role",
            "schemaVersion",
            "sequence",
            "subject",
            "time",
            "ttlSeconds",
            "users",
        ];
        assert_eq!(keys, want);
        assert_eq!(value["kind"], "certificateApproved");
        assert_eq!(value["actor"]["kind"], "controller");
        assert_eq!(value["time"], "2024-05-01T10:00:00Z");
        assert_eq!(value["schemaVersion"], SCHEMA_VERSION);
    }

    #[test]
    fn kinds_serialize_as_camel_case() {
        let cases = [
            (EventKind::CertificateRequested, "certificateRequested"),
            (EventKind::CertificateMismatch, "certificateMismatch"),
            (EventKind::GrantMalformed, "grantMalformed"),
            (EventKind::LeadershipLost, "leadershipLost"),
            (EventKind::PolicyMatched, "policyMatched"),
            (EventKind::TrailTruncated, "trailTruncated"),
        ];
        for (kind, want) in cases {
            assert_eq!(serde_json::to_value(kind).unwrap(), want);
        }
    }

    #[test]
    fn round_trips_through_json() {
        let event = sample();
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<AuditEvent>(&text).unwrap(), event);
    }

    #[test]
    fn event_ids_differ() {
        assert_ne!(sample().event_id, sample().event_id);
        assert_eq!(sample().event_id.len(), 32);
    }
}
