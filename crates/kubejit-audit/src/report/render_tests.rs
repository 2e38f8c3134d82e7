//! Tests for report rendering and the end-to-end join of a real trail with an apiserver log.

use super::*;
use crate::Timestamp;
use crate::report::{Scope, build};
use crate::{
    Actor, AuditRecord, AuditSink, ChainConfig, ChainedFileSink, EventKind, FileAnchor, SigningKey,
};
use kubejit_core::SystemClock;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(&format!("2024-05-01T{s}Z")).unwrap()
}

fn api(user: &str, time: &str, verb: &str, sub: &str, name: &str, code: u16) -> String {
    let sub = if sub.is_empty() {
        String::new()
    } else {
        format!(r#","subresource":"{sub}""#)
    };
    format!(
        r#"{{"auditID":"{time}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}","groups":["oncall"]}},"objectRef":{{"resource":"pods","namespace":"shop","name":{name}{sub}}},"responseStatus":{{"code":{code}}},"requestReceivedTimestamp":"2024-05-01T{time}Z"}}"#,
        name = serde_json::to_string(name).unwrap()
    ) + "\n"
}

/// An incident trail written through the real chained sink (so checkpoint lines are present).
fn trail(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("trail.jsonl");
    let anchor = Box::new(FileAnchor::new(
        dir.join("anchors"),
        "trail".parse().unwrap(),
    ));
    let config = ChainConfig {
        every_records: 2,
        every: std::time::Duration::from_secs(60),
    };
    let key = SigningKey::from_bytes(&[1; 32]);
    let (sink, _) =
        ChainedFileSink::open(&path, key, anchor, config, Box::new(SystemClock)).unwrap();
    let mut approved = AuditRecord::blank(
        EventKind::CertificateApproved,
        Actor::controller("csr"),
        at("10:00:00"),
    );
    approved.subject = Some("alice".into());
    approved.groups = vec!["kubejit:oncall".into()];
    approved.incident = Some("INC-7".into());
    approved.expires_at = Some(at("10:30:00"));
    sink.record(approved.stamped()).unwrap();
    let mut other = AuditRecord::blank(EventKind::GrantCreated, Actor::user("bob"), at("10:00:00"));
    other.subject = Some("bob".into());
    other.incident = Some("INC-8".into());
    sink.record(other.stamped()).unwrap();
    std::fs::read(path).unwrap()
}

fn report() -> Report {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        api("alice", "09:59:59", "get", "", "web", 200),
        api("alice", "10:01:00", "get", "log", "web", 200),
        api("bob", "10:02:00", "delete", "", "web", 200),
        api(
            "alice",
            "10:03:00",
            "create",
            "exec",
            "web\u{1b}[2J|*x*",
            101,
        ),
        api("alice", "10:04:00", "delete", "", "db", 403),
        api("alice", "10:31:00", "get", "", "web", 200),
    ]
    .concat();
    let trail = trail(dir.path());
    build(
        &Scope::Incident("INC-7".into()),
        vec![trail.as_slice()],
        log.as_bytes(),
    )
    .unwrap()
}

#[test]
fn incident_report_joins_trail_and_log() {
    let report = report();
    assert_eq!(report.windows.len(), 1);
    let got: Vec<(&str, &str)> = report
        .rows
        .iter()
        .map(|r| (r.time.as_str(), r.user.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("2024-05-01T10:01:00Z", "alice"),
            ("2024-05-01T10:03:00Z", "alice"),
            ("2024-05-01T10:04:00Z", "alice")
        ]
    );
}

#[test]
fn table_highlights_and_escapes() {
    let mut out = Vec::new();
    table(&report(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(
        text.starts_with("story: 2024-05-01T10:00:00Z certificateApproved certificate - for alice"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("story: ")).collect();
    assert!(
        lines[0].starts_with("access: certificate - alice [kubejit:oncall]"),
        "{text}"
    );
    assert!(lines[1].contains("TIME") && lines[1].contains("CODE"));
    assert!(
        lines[2].starts_with(">>") && lines[2].contains("pods/log"),
        "{text}"
    );
    assert!(
        lines[3].starts_with(">>") && lines[3].contains(r"web\u{1b}[2J|*x*"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("DENIED") && lines[4].ends_with("403"),
        "{text}"
    );
}

#[test]
fn markdown_is_a_table_that_cells_cannot_break() {
    let mut out = Vec::new();
    markdown(&report(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + 3, "{text}");
    for line in &table {
        let bytes = line.as_bytes();
        let separators =
            (0..bytes.len()).filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'));
        assert_eq!(separators.count(), 10, "nine columns: {line}");
    }
    assert!(table[3].contains(r"**web\\u{1b}\[2J\|\*x\***"), "{text}");
    assert!(table[2].contains("**pods/log**"), "{text}");
    assert!(!table[4].is_empty() && table[4].contains("**403**"));
}

#[test]
fn json_round_trips_rows() {
    let mut out = Vec::new();
    json(&report(), &mut out).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["rows"][1]["subresource"], "exec");
    assert_eq!(value["rows"][1]["name"], "web\u{1b}[2J|*x*");
    assert_eq!(value["windows"][0]["until"], "2024-05-01T10:30:00Z");
    assert_eq!(value["stats"]["rows"], 3);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
}

#[test]
fn user_scope_needs_no_trail() {
    let log = api("alice", "10:01:00", "get", "", "web", 200);
    let scope = Scope::User {
        user: "alice".into(),
        since: Some(at("10:00:00")),
        until: None,
    };
    let report = build(&scope, Vec::<&[u8]>::new(), log.as_bytes()).unwrap();
    assert_eq!(report.rows.len(), 1);
    let err = build(
        &Scope::Incident("INC".into()),
        Vec::<&[u8]>::new(),
        log.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::MissingTrail));
}

/// A username or object name from the apiserver carrying a bidi override or a zero-width space is
/// shown escaped in the table and Markdown, so it cannot reorder or hide part of a row; JSON keeps
/// the exact value (escaped as `\u202e` in the JSON text).
#[test]
fn spoofing_characters_are_escaped_in_every_renderer() {
    let log = api("mal\u{202e}lory", "10:01:00", "get", "", "we\u{200b}b", 200);
    let scope = Scope::User {
        user: "mal\u{202e}lory".into(),
        since: None,
        until: None,
    };
    let report = build(&scope, Vec::<&[u8]>::new(), log.as_bytes()).unwrap();
    assert_eq!(report.rows.len(), 1);
    type Render = fn(&Report, &mut Vec<u8>) -> Result<(), AuditError>;
    for render in [table as Render, markdown as Render] {
        let mut out = Vec::new();
        render(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && kubejit_core::text::is_deceptive(c)),
            "{text:?}"
        );
        assert!(
            text.contains("mal\\u{202e}lory") || text.contains(r"mal\\u{202e}lory"),
            "{text}"
        );
    }
    let mut out = Vec::new();
    json(&report, &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains(r"mal\u202elory"), "{text}");
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["rows"][0]["user"], "mal\u{202e}lory");
}
