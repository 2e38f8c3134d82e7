//! The SSH gateway's facts: their samples (rendered to snapshots by the parent module) and what a
//! hostile client can put in them.

use super::*;
use crate::session::{
    RecordingRef, SessionAction, SessionCertificate, SessionCommand, SessionEndReason,
    SessionEnded, SessionRefused, SessionStarted, SessionUser,
};

fn carol() -> SessionUser {
    SessionUser {
        user: "carol".to_owned(),
        groups: vec!["oncall-payments".to_owned()],
    }
}

const SESSION: &str = "s-3f9c2a7d41e8b605";

/// The gateway's facts, as (snapshot name, sequence, time, event).
pub(super) fn samples() -> Vec<(&'static str, u64, &'static str, AuditEvent)> {
    vec![
        (
            "session_started",
            9,
            "2026-11-26T09:15:00Z",
            AuditEvent::SessionStarted(SessionStarted {
                session_id: SESSION.to_owned(),
                who: carol(),
                certificate: SessionCertificate {
                    key_id: "carol@laptop".to_owned(),
                    serial: 42,
                    ca_fingerprint: "SHA256:2mF6ZlW0V0v3qYkP7mXnE9Jb1Yc8y4q1p0aL2kQz7rA".to_owned(),
                },
                source_address: "192.0.2.10:50522".to_owned(),
            }),
        ),
        (
            "session_command",
            10,
            "2026-11-26T09:15:01Z",
            AuditEvent::SessionCommand(SessionCommand {
                session_id: SESSION.to_owned(),
                who: carol(),
                namespace: "payments".to_owned(),
                action: SessionAction::Exec {
                    pod: "checkout-api".to_owned(),
                    container: Some("app".to_owned()),
                    tty: true,
                    command: vec!["sh".to_owned(), "-c".to_owned(), "echo 'hi'; id".to_owned()],
                },
            }),
        ),
        (
            "session_ended",
            11,
            "2026-11-26T09:20:00Z",
            AuditEvent::SessionEnded(SessionEnded {
                gateway: "kubejit-gateway".to_owned(),
                session_id: SESSION.to_owned(),
                who: carol(),
                reason: SessionEndReason::AccessEnded,
                message: "your access to payments ended (grant expired)".to_owned(),
                exit_status: None,
                bytes_in: 312,
                bytes_out: 18_034,
                duration: std::time::Duration::from_millis(299_250),
                recording: Some(RecordingRef {
                    file: format!("{SESSION}.cast"),
                    sha256: "9f2c5e0a7b1d4c3e8f6a2b9d0c1e7f4a5b3c6d8e9f0a1b2c3d4e5f6a7b8c9d0e"
                        .to_owned(),
                }),
            }),
        ),
        (
            "session_refused",
            12,
            "2026-11-26T09:21:00Z",
            AuditEvent::SessionRefused(SessionRefused {
                gateway: "kubejit-gateway".to_owned(),
                connection_id: "c-77d1e0b3a9f24c68".to_owned(),
                login: "mallory\u{1b}[2J".to_owned(),
                source_address: "198.51.100.7:41000".to_owned(),
                reason: "certificateExpired".to_owned(),
                detail: "certificate valid_before 2026-11-26T09:00:00Z is in the past".to_owned(),
                key_id: Some("mallory@box".to_owned()),
                ca_fingerprint: Some(
                    "SHA256:2mF6ZlW0V0v3qYkP7mXnE9Jb1Yc8y4q1p0aL2kQz7rA".to_owned(),
                ),
            }),
        ),
    ]
}

/// Everything the client chose (login name, key id, command arguments) reaches the record escaped
/// and bounded: an ESC sequence or a bidi override cannot drive the terminal of whoever reads the
/// trail, and a megabyte of arguments cannot bloat it.
#[test]
fn hostile_session_strings_are_escaped_and_bounded() {
    let long = "y".repeat(5000);
    let refused = AuditEvent::SessionRefused(SessionRefused {
        gateway: "g".to_owned(),
        connection_id: "c".to_owned(),
        login: format!("a\u{1b}]0;x\u{7}\u{202e}{long}"),
        source_address: "192.0.2.1:1".to_owned(),
        reason: "untrustedCa".to_owned(),
        detail: "d\u{1b}[2J".to_owned(),
        key_id: Some("k\u{202e}".to_owned()),
        ca_fingerprint: None,
    })
    .into_record(at("2026-11-26T09:00:00Z"), "id".to_owned());
    let command = AuditEvent::SessionCommand(SessionCommand {
        session_id: "s".to_owned(),
        who: carol(),
        namespace: "pay\u{1b}[2Jments".to_owned(),
        action: SessionAction::Exec {
            pod: "p\u{202e}".to_owned(),
            container: None,
            tty: false,
            command: vec!["sh".to_owned(), format!("\u{1b}[31m{long}")],
        },
    })
    .into_record(at("2026-11-26T09:00:00Z"), "id".to_owned());
    let session = refused.session.clone().unwrap();
    let texts = [
        refused.subject.clone().unwrap(),
        refused.users[0].clone(),
        refused.reason.clone().unwrap(),
        session.key_id.unwrap(),
        command.session.clone().unwrap().command.unwrap(),
        command.namespace.clone().unwrap(),
        command.object.clone().unwrap().name,
        command.object.clone().unwrap().namespace.unwrap(),
    ];
    for text in texts {
        assert!(
            !text.chars().any(kubejit_core::text::is_deceptive),
            "{text:?}"
        );
        assert!(text.chars().count() < 400, "{}", text.len());
    }
    assert_eq!(refused.decision, Some(Verdict::Denied));
    assert_eq!(refused.decision_reason.as_deref(), Some("untrustedCa"));
}

#[test]
fn exec_arguments_read_back_unambiguously() {
    let cases: [(&[&str], &str); 4] = [
        (&["sh"], "exec -n ns p -- sh"),
        (&["sh", "-c", "a b"], "exec -n ns p -- sh -c 'a b'"),
        (&["echo", "it's"], r"exec -n ns p -- echo 'it'\''s'"),
        (&["printf", ""], "exec -n ns p -- printf ''"),
    ];
    for (args, want) in cases {
        let record = AuditEvent::SessionCommand(SessionCommand {
            session_id: "s".to_owned(),
            who: carol(),
            namespace: "ns".to_owned(),
            action: SessionAction::Exec {
                pod: "p".to_owned(),
                container: None,
                tty: false,
                command: args.iter().map(|a| (*a).to_owned()).collect(),
            },
        })
        .into_record(at("2026-11-26T09:00:00Z"), "id".to_owned());
        let session = record.session.unwrap();
        assert_eq!(session.command.as_deref(), Some(want));
        assert_eq!(session.action.as_deref(), Some("exec"));
        assert_eq!(record.object.unwrap().name, "p");
    }
}

#[test]
fn every_end_reason_has_its_own_wire_name() {
    let names: std::collections::HashSet<&str> =
        SessionEndReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(names.len(), SessionEndReason::ALL.len());
    for reason in SessionEndReason::ALL {
        let debug = format!("{reason:?}");
        let camel = format!("{}{}", debug[..1].to_lowercase(), &debug[1..]);
        assert_eq!(reason.as_str(), camel);
    }
}
