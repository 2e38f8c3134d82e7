//! The incident's story over a synthetic trail written from typed events: requester, approvers, the
//! grant and its end, and the gateway sessions used under it — and nothing of anyone else's.

use super::*;
use crate::report::{Scope, build, table};
use crate::session::{
    RecordingRef, SessionAction, SessionCertificate, SessionCommand, SessionEndReason,
    SessionEnded, SessionStarted, SessionUser,
};
use crate::{
    AccessApproved, AccessRequested, Actor, AuditEvent, AuditedGrant, GrantChanged, GrantExpired,
    GrantSource, ObjectRef, RequestedAccess, Verdict,
};

fn at(s: &str) -> Timestamp {
    Timestamp::parse(&format!("2026-11-26T{s}Z")).unwrap()
}

fn request(name: &str, user: &str, incident: &str) -> RequestedAccess {
    RequestedAccess {
        request: ObjectRef {
            kind: "AccessRequest".into(),
            namespace: Some("payments".into()),
            name: name.into(),
            uid: Some(format!("uid-{name}")),
        },
        requester: user.into(),
        users: vec![user.into()],
        groups: Vec::new(),
        role: Some("ClusterRole/oncall-debug".into()),
        policy: Some("payments-grants".into()),
        incident: Some(incident.into()),
        reason: "checkout 500s".into(),
        ttl_seconds: Some(3600),
    }
}

fn grant(binding: &str, user: &str, incident: &str) -> AuditedGrant {
    AuditedGrant {
        binding: ObjectRef {
            kind: "RoleBinding".into(),
            namespace: Some("payments".into()),
            name: binding.into(),
            uid: Some(format!("uid-{binding}")),
        },
        role: "ClusterRole/oncall-debug".into(),
        users: vec![user.into()],
        groups: Vec::new(),
        incident: Some(incident.into()),
        reason: Some("checkout 500s".into()),
        expires_at: Some(at("10:12:00")),
    }
}

fn who(user: &str) -> SessionUser {
    SessionUser {
        user: user.into(),
        groups: vec!["oncall-payments".into()],
    }
}

fn started(id: &str, user: &str) -> AuditEvent {
    AuditEvent::SessionStarted(SessionStarted {
        session_id: id.into(),
        who: who(user),
        certificate: SessionCertificate {
            key_id: format!("{user}@laptop"),
            serial: 7,
            ca_fingerprint: "SHA256:ca".into(),
        },
        source_address: "192.0.2.10:5000".into(),
    })
}

fn command(id: &str, user: &str) -> AuditEvent {
    AuditEvent::SessionCommand(SessionCommand {
        session_id: id.into(),
        who: who(user),
        namespace: "payments".into(),
        action: SessionAction::Exec {
            pod: "checkout-api".into(),
            container: None,
            tty: true,
            command: vec!["sh".into()],
        },
    })
}

fn ended(id: &str, user: &str, reason: SessionEndReason) -> AuditEvent {
    AuditEvent::SessionEnded(SessionEnded {
        gateway: "kubejit-gateway".into(),
        session_id: id.into(),
        who: who(user),
        reason,
        message: "your access ended".into(),
        exit_status: None,
        bytes_in: 10,
        bytes_out: 20,
        duration: std::time::Duration::from_secs(60),
        recording: Some(RecordingRef {
            file: format!("{id}.cast"),
            sha256: "ab".repeat(32),
        }),
    })
}

fn trail() -> String {
    let approved = |name: &str, user: &str, incident: &str, approvers: &[&str]| {
        AuditEvent::AccessApproved(AccessApproved {
            controller: "kubejit-controller".into(),
            access: request(name, user, incident),
            approvers: approvers.iter().map(|a| (*a).to_owned()).collect(),
            expires_at: at("10:12:00"),
            phase_reason: "ApprovalsReceived".into(),
        })
    };
    let created = |binding: &str, user: &str, incident: &str| {
        AuditEvent::GrantCreated(GrantChanged {
            actor: Actor::controller("kubejit-controller"),
            grant: grant(binding, user, incident),
            source: GrantSource::Request {
                request: format!("payments/{user}-req"),
                approvers: vec!["oscar".into(), "olga".into()],
                policy: "payments-grants".into(),
                ttl_seconds: 3600,
                expires_at: at("10:12:00"),
            },
        })
    };
    let events = [
        // carol's session before her access: not this incident's.
        ("08:00:00", started("s-early", "carol")),
        (
            "09:10:00",
            AuditEvent::AccessRequested(AccessRequested {
                access: request("carol-req", "carol", "INC-42"),
                decision: Verdict::Pending,
                phase_reason: "AwaitingApproval".into(),
            }),
        ),
        (
            "09:10:30",
            AuditEvent::AccessRequested(AccessRequested {
                access: request("dave-req", "dave", "INC-99"),
                decision: Verdict::Pending,
                phase_reason: "AwaitingApproval".into(),
            }),
        ),
        (
            "09:12:00",
            approved("carol-req", "carol", "INC-42", &["oscar", "olga"]),
        ),
        ("09:12:01", created("carol-binding", "carol", "INC-42")),
        (
            "09:12:02",
            approved("dave-req", "dave", "INC-99", &["oscar"]),
        ),
        ("09:12:03", created("dave-binding", "dave", "INC-99")),
        ("09:15:00", started("s-carol", "carol")),
        ("09:15:01", command("s-carol", "carol")),
        ("09:16:00", started("s-dave", "dave")),
        (
            "10:12:00",
            AuditEvent::GrantExpired(GrantExpired {
                controller: "kubejit-controller".into(),
                grant: AuditedGrant {
                    incident: None,
                    ..grant("carol-binding", "carol", "INC-42")
                },
                deadline: at("10:12:00"),
            }),
        ),
        // Cut after the window closed: it still belongs to the story.
        (
            "10:12:03",
            ended("s-carol", "carol", SessionEndReason::AccessEnded),
        ),
        (
            "10:13:00",
            ended("s-dave", "dave", SessionEndReason::ClientClosed),
        ),
    ];
    events
        .into_iter()
        .map(|(time, event)| {
            let record = event.into_record(at(time), "id".into());
            serde_json::to_string(&record).unwrap() + "\n"
        })
        .collect()
}

#[test]
fn the_story_names_requester_approvers_grant_end_and_sessions() {
    let trail = trail();
    let report = build(
        &Scope::Incident("INC-42".into()),
        vec![trail.as_bytes()],
        &b""[..],
    )
    .unwrap();
    let got: Vec<(EventKind, &str)> = report
        .story
        .iter()
        .map(|e| (e.kind, e.actor.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (EventKind::AccessRequested, "carol"),
            (EventKind::AccessApproved, "kubejit-controller"),
            (EventKind::GrantCreated, "kubejit-controller"),
            (EventKind::SessionStarted, "carol"),
            (EventKind::SessionCommand, "carol"),
            (EventKind::GrantExpired, "kubejit-controller"),
            (EventKind::SessionEnded, "kubejit-gateway"),
        ]
    );
    assert_eq!(report.story[1].approvers, ["oscar", "olga"]);
    assert_eq!(report.story[2].approvers, ["oscar", "olga"]);
    let mut out = Vec::new();
    table(&report, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "carol requested payments/ClusterRole/oncall-debug for carol (request carol-req)",
        "request carol-req approved by oscar, olga",
        "binding carol-binding expired",
        "carol opened SSH session s-carol from 192.0.2.10:5000 (key carol@laptop, serial 7, CA SHA256:ca)",
        "carol in session s-carol: exec -n payments checkout-api -t -- sh",
        "session s-carol ended: accessEnded",
        "recording s-carol.cast sha256 abab",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    for absent in ["dave", "s-early", "INC-99"] {
        assert!(!text.contains(absent), "{absent} leaked into\n{text}");
    }
}

/// A hostile session string (a login or command with escape sequences) cannot drive the terminal
/// of whoever reads the report.
#[test]
fn story_lines_are_escaped_in_the_table() {
    let mut trail = trail();
    let hostile = command("s-carol", "carol");
    let AuditEvent::SessionCommand(mut c) = hostile else {
        unreachable!()
    };
    c.action = SessionAction::Exec {
        pod: "checkout-api".into(),
        container: None,
        tty: false,
        command: vec!["\u{1b}]0;pwned\u{7}".into()],
    };
    let mut record = AuditEvent::SessionCommand(c).into_record(at("09:20:00"), "id".into());
    // The recorder escapes; a record written by something else might not. The report escapes again.
    record.session.as_mut().unwrap().command = Some("\u{1b}[2J\u{202e}".into());
    let line = serde_json::to_string(&record).unwrap() + "\n";
    trail.push_str(&line);
    let report = build(
        &Scope::Incident("INC-42".into()),
        vec![trail.as_bytes()],
        &b""[..],
    )
    .unwrap();
    let mut out = Vec::new();
    table(&report, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && kubejit_core::text::is_deceptive(c)),
        "{text:?}"
    );
    assert!(text.contains(r"s-carol: \u{1b}[2J\u{202e}"), "{text}");
}

/// `--user carol --since … --until …` with the trail: carol's sessions that started in the window,
/// with their commands and end; no request story (there is no incident) and nobody else's session.
#[test]
fn a_user_window_shows_that_user_s_sessions() {
    let trail = trail();
    let scope = Scope::User {
        user: "carol".into(),
        since: Some(at("09:00:00")),
        until: Some(at("09:30:00")),
    };
    let report = build(&scope, vec![trail.as_bytes()], &b""[..]).unwrap();
    let got: Vec<(EventKind, String)> = report
        .story
        .iter()
        .map(|e| (e.kind, e.text.split(':').next().unwrap().to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            (
                EventKind::SessionStarted,
                "carol opened SSH session s-carol from 192.0.2.10".to_owned()
            ),
            (
                EventKind::SessionCommand,
                "carol in session s-carol".to_owned()
            ),
            (EventKind::SessionEnded, "session s-carol ended".to_owned()),
        ]
    );
    let without_trail = build(&scope, Vec::<&[u8]>::new(), &b""[..]).unwrap();
    assert!(without_trail.story.is_empty());
}
