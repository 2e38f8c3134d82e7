//! One snapshot per fact: the exact line a sink writes for it (fixed time and id). docs/audit.md's
//! example records are checked against these files (`tests/docs.rs`).

use super::*;
use crate::escape::to_json_line;
use crate::{AccessApproved, AccessEnded, AccessRequested, RequestedAccess};

fn at(time: &str) -> Timestamp {
    Timestamp::parse(time).unwrap()
}

fn csr() -> CsrRef {
    CsrRef {
        name: "kubejit-7xk2p".to_owned(),
        uid: Some("0b6e…".to_owned()),
    }
}

fn decided(outcome: CertificateOutcome, reason: &str, message: &str) -> AuditEvent {
    AuditEvent::CertificateDecided(CertificateDecided {
        controller: "kubejit-controller".to_owned(),
        csr: csr(),
        username: "alice".to_owned(),
        groups: vec!["payments-debug".to_owned()],
        incident: Some("INC-42".to_owned()),
        outcome,
        decision_reason: reason.to_owned(),
        message: message.to_owned(),
        key_attestation: None,
    })
}

fn grant() -> AuditedGrant {
    AuditedGrant {
        binding: ObjectRef {
            kind: "RoleBinding".to_owned(),
            namespace: Some("payments".to_owned()),
            name: "jit-inc-42-oncall-debug-x7k2q".to_owned(),
            uid: Some("7a1f…".to_owned()),
        },
        role: "Role/oncall-debug".to_owned(),
        users: Vec::new(),
        groups: vec!["oncall-payments".to_owned()],
        incident: Some("INC-42".to_owned()),
        reason: Some("checkout 500s".to_owned()),
        expires_at: Some(at("2026-11-26T11:01:00Z")),
    }
}

fn by_policy() -> GrantSource {
    GrantSource::Policy {
        policy: "payments-grants".to_owned(),
        ttl_seconds: 7200,
        expires_at: at("2026-11-26T11:01:00Z"),
    }
}

fn lifecycle() -> Lifecycle {
    Lifecycle {
        controller: "kubejit-controller".to_owned(),
        identity: "system:serviceaccount:kubejit-system:kubejit-controller".to_owned(),
    }
}

fn requested_access() -> RequestedAccess {
    RequestedAccess {
        request: ObjectRef {
            kind: "AccessRequest".to_owned(),
            namespace: Some("payments".to_owned()),
            name: "carol-checkout".to_owned(),
            uid: Some("6f1c…".to_owned()),
        },
        requester: "carol".to_owned(),
        users: vec!["carol".to_owned()],
        groups: Vec::new(),
        role: Some("ClusterRole/oncall-debug".to_owned()),
        policy: Some("payments-grants".to_owned()),
        incident: Some("INC-42".to_owned()),
        reason: "checkout 500s".to_owned(),
        ttl_seconds: Some(3600),
    }
}

fn ended(phase_reason: &str, message: &str) -> AccessEnded {
    AccessEnded {
        controller: "kubejit-controller".to_owned(),
        access: requested_access(),
        phase_reason: phase_reason.to_owned(),
        message: message.to_owned(),
    }
}

/// The request facts, as (snapshot name, sequence, time, event).
fn request_samples() -> Vec<(&'static str, u64, &'static str, AuditEvent)> {
    vec![
        (
            "access_requested",
            5,
            "2026-11-26T09:10:00Z",
            AuditEvent::AccessRequested(AccessRequested {
                access: requested_access(),
                decision: Verdict::Pending,
                phase_reason: "AwaitingApproval".to_owned(),
            }),
        ),
        (
            "access_approved",
            6,
            "2026-11-26T09:12:00Z",
            AuditEvent::AccessApproved(AccessApproved {
                controller: "kubejit-controller".to_owned(),
                access: requested_access(),
                approvers: vec!["oscar".to_owned(), "olga".to_owned()],
                expires_at: at("2026-11-26T10:12:00Z"),
                phase_reason: "ApprovalsReceived".to_owned(),
            }),
        ),
        (
            "grant_created_by_request",
            7,
            "2026-11-26T09:12:01Z",
            AuditEvent::GrantCreated(GrantChanged {
                actor: Actor::controller("kubejit-controller"),
                grant: AuditedGrant {
                    users: vec!["carol".to_owned()],
                    groups: Vec::new(),
                    role: "ClusterRole/oncall-debug".to_owned(),
                    expires_at: Some(at("2026-11-26T10:12:00Z")),
                    ..grant()
                },
                source: GrantSource::Request {
                    request: "payments/carol-checkout".to_owned(),
                    approvers: vec!["oscar".to_owned(), "olga".to_owned()],
                    policy: "payments-grants".to_owned(),
                    ttl_seconds: 3600,
                    expires_at: at("2026-11-26T10:12:00Z"),
                },
            }),
        ),
        (
            "access_denied",
            6,
            "2026-11-26T09:11:00Z",
            AuditEvent::AccessDenied(ended("DeniedByApprover", "denied by olga")),
        ),
        (
            "access_withdrawn",
            8,
            "2026-11-26T09:30:00Z",
            AuditEvent::AccessWithdrawn(ended("WithdrawnByRequester", "withdrawn by carol")),
        ),
        (
            "access_timed_out",
            6,
            "2026-11-26T13:10:00Z",
            AuditEvent::AccessTimedOut(ended(
                "ApprovalTimeout",
                "needed 2 approval(s) from users [oscar, olga] by 2026-11-26 13:10:00.0 +00:00:00, got 1",
            )),
        ),
        (
            "access_revoked",
            8,
            "2026-11-26T09:40:00Z",
            AuditEvent::AccessRevoked(ended("RevokedByApprover", "revoked by olga")),
        ),
    ]
}

#[path = "event_session_tests.rs"]
mod session;

/// Every fact, as (snapshot name, sequence, time, event).
fn samples() -> Vec<(&'static str, u64, &'static str, AuditEvent)> {
    let approved = CertificateOutcome::Approved {
        policy: "payments-oncall".to_owned(),
        ttl_seconds: 1800,
    };
    let pending = CertificateOutcome::Pending {
        policy: "payments-oncall".to_owned(),
        ttl_seconds: 1800,
    };
    let denied = CertificateOutcome::Denied {
        requested_ttl_seconds: Some(86400),
    };
    let cli = |user: &str| Actor::user(user);
    vec![
        (
            "certificate_approved",
            1,
            "2026-11-26T09:00:00Z",
            decided(
                approved,
                "ApprovedByPolicy",
                "approved by policy payments-oncall (matched requester group oncall-payments): CN alice, groups [payments-debug], TTL 30m, incident INC-42",
            ),
        ),
        (
            "certificate_pending",
            1,
            "2026-11-26T09:00:00Z",
            decided(
                pending,
                "PendingManualApproval",
                "valid; waiting for a person to approve",
            ),
        ),
        (
            "certificate_denied",
            1,
            "2026-11-26T09:00:00Z",
            decided(
                denied,
                "TtlExceedsPolicy",
                "requested TTL 24h exceeds the policy maximum 1h",
            ),
        ),
        (
            "certificate_mismatch",
            1,
            "2026-11-26T09:00:05Z",
            AuditEvent::CertificateMismatch(MismatchAlarm {
                controller: "kubejit-controller".to_owned(),
                csr: csr(),
                username: Some("alice".to_owned()),
                groups: vec!["payments-debug".to_owned()],
                incident: Some("INC-42".to_owned()),
                message: "the issued certificate's subject is not the approved one".to_owned(),
            }),
        ),
        (
            "grant_created",
            2,
            "2026-11-26T09:01:00Z",
            AuditEvent::GrantCreated(GrantChanged {
                actor: cli("irene"),
                grant: grant(),
                source: by_policy(),
            }),
        ),
        (
            "grant_created_observed",
            2,
            "2026-11-26T09:01:01Z",
            AuditEvent::GrantCreated(GrantChanged {
                actor: cli("irene"),
                grant: AuditedGrant {
                    users: vec!["alice".to_owned(), "a,b".to_owned()],
                    ..grant()
                },
                source: GrantSource::Observed,
            }),
        ),
        (
            "foreign_grant",
            2,
            "2026-11-26T09:01:02Z",
            AuditEvent::ForeignGrant(GrantChanged {
                actor: cli("root-admin"),
                grant: grant(),
                source: GrantSource::Observed,
            }),
        ),
        (
            "grant_extended",
            3,
            "2026-11-26T10:00:00Z",
            AuditEvent::GrantExtended(GrantChanged {
                actor: cli("irene"),
                grant: grant(),
                source: by_policy(),
            }),
        ),
        (
            "grant_revoked",
            4,
            "2026-11-26T10:30:00Z",
            AuditEvent::GrantRevoked(GrantRevoked {
                actor: Actor::user("irene"),
                grant: grant(),
                reason: Some("fixed".to_owned()),
            }),
        ),
        (
            "grant_revoked_by_the_request_controller",
            4,
            "2026-11-26T10:30:00Z",
            AuditEvent::GrantRevoked(GrantRevoked {
                actor: Actor::controller("kubejit-access-requests"),
                grant: grant(),
                reason: Some("withdrawn by the requester".to_owned()),
            }),
        ),
        (
            "grant_expired",
            4,
            "2026-11-26T11:01:00Z",
            AuditEvent::GrantExpired(GrantExpired {
                controller: "kubejit-controller".to_owned(),
                grant: grant(),
                deadline: at("2026-11-26T11:01:00Z"),
            }),
        ),
        (
            "grant_malformed",
            4,
            "2026-11-26T09:02:00Z",
            AuditEvent::GrantMalformed(GrantMalformed {
                controller: "kubejit-controller".to_owned(),
                grant: AuditedGrant {
                    expires_at: None,
                    ..grant()
                },
                problem: "expiresAtMissingZone".to_owned(),
            }),
        ),
        (
            "controller_started",
            1,
            "2026-11-26T08:00:00Z",
            AuditEvent::ControllerStarted(lifecycle()),
        ),
        (
            "leadership_acquired",
            2,
            "2026-11-26T08:00:01Z",
            AuditEvent::LeadershipAcquired(lifecycle()),
        ),
        (
            "leadership_lost",
            3,
            "2026-11-26T18:00:00Z",
            AuditEvent::LeadershipLost(lifecycle()),
        ),
        (
            "trail_truncated",
            0,
            "2026-11-26T08:00:00Z",
            AuditEvent::TrailTruncated(TrailTruncated {
                trail: "kubejit-controller-0".to_owned(),
                reason: "truncated".to_owned(),
                detail: "the file ends at sequence 10; the anchor holds a checkpoint at 12"
                    .to_owned(),
            }),
        ),
    ]
    .into_iter()
    .chain(request_samples())
    .chain(session::samples())
    .collect()
}

/// The record's line as a sink writes it (before the chain's own fields), with a fixed id.
fn line(sequence: u64, time: &str, event: AuditEvent) -> String {
    use sha2::Digest;
    let seed = format!("{time}{:?}", event.kind());
    let id = hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..16]);
    let record = Stamped::new(event.into_record(at(time), id)).sequenced(sequence);
    String::from_utf8(to_json_line(&record).unwrap()).unwrap()
}

#[test]
fn every_fact_renders_as_its_snapshot() {
    for (name, sequence, time, event) in samples() {
        insta::assert_snapshot!(name, line(sequence, time, event));
    }
}

#[test]
fn every_kind_has_a_snapshot() {
    let kinds: std::collections::HashSet<EventKind> =
        samples().into_iter().map(|(_, _, _, e)| e.kind()).collect();
    // `ALL` is made with the enum from one list, so a new kind fails here until it has a sample.
    let all: std::collections::HashSet<EventKind> = EventKind::ALL.iter().copied().collect();
    assert_eq!(kinds, all);
    assert_eq!(all.len(), EventKind::ALL.len(), "no kind listed twice");
}

/// The wire name is the variant's name in camelCase, and what serde writes and reads.
#[test]
fn every_kind_s_wire_name_is_its_camel_case_name() {
    for &kind in EventKind::ALL {
        let debug = format!("{kind:?}");
        let camel = format!("{}{}", debug[..1].to_lowercase(), &debug[1..]);
        assert_eq!(kind.as_str(), camel);
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{camel}\"")
        );
        assert_eq!(
            serde_json::from_str::<EventKind>(&format!("\"{camel}\"")).unwrap(),
            kind
        );
    }
}

#[test]
fn every_field_is_always_present_in_camel_case() {
    for (name, sequence, time, event) in samples() {
        let value: serde_json::Value = serde_json::from_str(&line(sequence, time, event)).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let want = [
            "actor",
            "approvers",
            "decision",
            "decisionReason",
            "eventId",
            "expiresAt",
            "groups",
            "incident",
            "keyAttestation",
            "kind",
            "namespace",
            "object",
            "policy",
            "reason",
            "role",
            "schemaVersion",
            "sequence",
            "session",
            "subject",
            "time",
            "ttlSeconds",
            "users",
        ];
        assert_eq!(keys, want, "{name}");
        assert_eq!(value["schemaVersion"], SCHEMA_VERSION);
    }
}

#[test]
fn records_round_trip_through_json() {
    for (_, sequence, time, event) in samples() {
        let record = event.into_record(at(time), "id".to_owned());
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<AuditRecord>(&text).unwrap(),
            record,
            "{sequence}"
        );
    }
}

#[test]
fn a_grant_to_several_users_keeps_each_name_whole() {
    let event = AuditEvent::GrantExpired(GrantExpired {
        controller: "c".to_owned(),
        grant: AuditedGrant {
            users: vec!["a,b".to_owned(), "system:serviceaccount:ns:sa".to_owned()],
            ..grant()
        },
        deadline: at("2026-11-26T11:01:00Z"),
    });
    let record = event.into_record(at("2026-11-26T11:01:00Z"), "id".to_owned());
    assert_eq!(record.users, ["a,b", "system:serviceaccount:ns:sa"]);
    assert_eq!(
        record.subject.as_deref(),
        Some("a,b,system:serviceaccount:ns:sa")
    );
}

#[test]
fn hostile_annotations_are_escaped_and_bounded() {
    let long = "x".repeat(1000);
    let cases = [
        (Some("INC-42"), Some("INC-42".to_owned())),
        (Some("a\u{202e}b"), Some("a\\u{202e}b".to_owned())),
        (None, None),
    ];
    for (raw, want) in cases {
        assert_eq!(AuditedGrant::annotation(raw), want);
    }
    let cut = AuditedGrant::annotation(Some(&long)).unwrap();
    assert!(cut.len() < 400 && cut.contains("more characters"), "{cut}");
    assert_eq!(AuditedGrant::expiry(Some("tomorrow")), None);
    assert_eq!(
        AuditedGrant::expiry(Some("2026-11-26T11:01:00Z")),
        Some(at("2026-11-26T11:01:00Z"))
    );
}

#[test]
fn approved_certificates_end_at_most_ttl_after_the_decision() {
    let record = decided(
        CertificateOutcome::Approved {
            policy: "p".to_owned(),
            ttl_seconds: 1800,
        },
        "ApprovedByPolicy",
        "m",
    )
    .into_record(at("2026-11-26T09:00:00Z"), "id".to_owned());
    assert_eq!(record.expires_at, Some(at("2026-11-26T09:30:00Z")));
    let denied = decided(
        CertificateOutcome::Denied {
            requested_ttl_seconds: None,
        },
        "TtlExceedsPolicy",
        "m",
    )
    .into_record(at("2026-11-26T09:00:00Z"), "id".to_owned());
    assert_eq!(
        (denied.expires_at, denied.ttl_seconds, denied.policy),
        (None, None, None)
    );
    assert_eq!(denied.decision, Some(Verdict::Denied));
}

#[test]
fn event_ids_are_fresh_128_bit_hex() {
    let a = AuditEvent::ControllerStarted(lifecycle()).at(at("2026-11-26T08:00:00Z"));
    let b = AuditEvent::ControllerStarted(lifecycle()).at(at("2026-11-26T08:00:00Z"));
    assert_ne!(a.event_id(), b.event_id());
    assert_eq!(a.event_id().len(), 32);
}

#[test]
fn a_fact_recorded_once_per_key_has_one_id() {
    let first = AuditEvent::AccessWithdrawn(ended("WithdrawnByRequester", "x"));
    let again = AuditEvent::AccessWithdrawn(ended("WithdrawnByRequester", "y"));
    let a = first.once(at("2026-11-26T09:30:00Z"), "uid-1");
    let b = again.clone().once(at("2026-11-26T09:31:00Z"), "uid-1");
    assert_eq!(a.event_id(), b.event_id());
    assert_ne!(
        again
            .clone()
            .once(at("2026-11-26T09:30:00Z"), "uid-2")
            .event_id(),
        a.event_id()
    );
    let revoked = AuditEvent::AccessRevoked(ended("RevokedByApprover", "x"));
    assert_ne!(
        revoked.once(at("2026-11-26T09:30:00Z"), "uid-1").event_id(),
        a.event_id()
    );
    let id = a.event_id();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

/// Who approved is machine-readable, not only inside the free-text reason.
#[test]
fn approvers_are_a_field_of_their_own() {
    for (name, _, time, event) in request_samples() {
        let kind = event.kind();
        let record = event.into_record(at(time), "id".to_owned());
        let want: &[&str] = match kind {
            EventKind::AccessApproved | EventKind::GrantCreated => &["oscar", "olga"],
            _ => &[],
        };
        assert_eq!(record.approvers, want, "{name}");
    }
}

/// A record written before `approvers` and `session` existed still reads.
#[test]
fn records_without_the_new_fields_still_parse() {
    let old = r#"{"schemaVersion":1,"sequence":1,"time":"2026-11-26T09:00:00Z","eventId":"x","kind":"grantExpired","actor":{"kind":"controller","name":"c"},"subject":null,"groups":[],"namespace":null,"role":null,"policy":null,"incident":null,"reason":null,"decision":null,"decisionReason":null,"ttlSeconds":null,"expiresAt":null,"object":null}"#;
    let record: AuditRecord = serde_json::from_str(old).unwrap();
    assert!(record.approvers.is_empty() && record.session.is_none());
}
