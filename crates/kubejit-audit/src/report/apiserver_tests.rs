//! Tests for the apiserver log scan: selection rules, pre-filter edge cases and chunk boundaries.

use super::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(&format!("2024-05-01T{s}Z")).unwrap()
}

struct Line<'a> {
    user: &'a str,
    time: &'a str,
    stage: &'a str,
    code: u16,
    subresource: Option<&'a str>,
    impersonated: Option<&'a str>,
}

fn line(l: &Line<'_>) -> String {
    let imp = l
        .impersonated
        .map(|u| format!(r#","impersonatedUser":{{"username":"{u}"}}"#))
        .unwrap_or_default();
    let sub = l
        .subresource
        .map(|s| format!(r#","subresource":"{s}""#))
        .unwrap_or_default();
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-{time}","stage":"{stage}","requestURI":"/api/v1/namespaces/default/pods/web","verb":"get","user":{{"username":"{user}","groups":["system:authenticated"]}}{imp},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"{sub}}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"2024-05-01T{time}.000001Z","stageTimestamp":"2024-05-01T{time}.000900Z"}}"#,
        time = l.time,
        stage = l.stage,
        user = l.user,
        code = l.code,
    ) + "\n"
}

fn ok<'a>(user: &'a str, time: &'a str) -> Line<'a> {
    Line {
        user,
        time,
        stage: "ResponseComplete",
        code: 200,
        subresource: None,
        impersonated: None,
    }
}

fn alice_window() -> Vec<AccessWindow> {
    vec![AccessWindow::requested(
        "alice",
        Some(at("10:00:00")),
        Some(at("11:00:00")),
    )]
}

fn run(log: &str, windows: &[AccessWindow]) -> Vec<(String, bool)> {
    let mut rows = Vec::new();
    scan(log.as_bytes(), &Selector::new(windows), |r| {
        rows.push((r.audit_id, r.during_access))
    })
    .unwrap();
    rows
}

#[test]
fn selects_only_the_identity_inside_its_window() {
    let cases: Vec<(&str, Line<'_>, Option<bool>)> = vec![
        ("inside", ok("alice", "10:30:00"), Some(true)),
        ("at start", ok("alice", "10:00:00"), Some(true)),
        ("after end", ok("alice", "11:00:01"), None),
        ("other user", ok("bob", "10:30:00"), None),
        ("prefix of another user", ok("alice2", "10:30:00"), None),
        (
            "request received stage",
            Line {
                stage: "RequestReceived",
                ..ok("alice", "10:30:00")
            },
            None,
        ),
        (
            "panic stage",
            Line {
                stage: "Panic",
                ..ok("alice", "10:30:00")
            },
            Some(true),
        ),
        (
            "exec",
            Line {
                subresource: Some("exec"),
                ..ok("alice", "10:30:00")
            },
            Some(true),
        ),
        (
            "denied inside",
            Line {
                code: 403,
                ..ok("alice", "10:30:00")
            },
            Some(true),
        ),
        (
            "impersonating alice",
            Line {
                impersonated: Some("alice"),
                ..ok("bob", "10:30:00")
            },
            Some(true),
        ),
    ];
    for (name, l, want) in cases {
        let got = run(&line(&l), &alice_window());
        assert_eq!(got.first().map(|r| r.1), want, "{name}");
    }
}

#[test]
fn denied_attempts_between_windows_are_kept_but_marked() {
    let windows = vec![
        AccessWindow::requested("alice", Some(at("10:00:00")), Some(at("10:10:00"))),
        AccessWindow::requested("alice", Some(at("10:50:00")), Some(at("11:00:00"))),
    ];
    let log = [
        line(&Line {
            code: 403,
            ..ok("alice", "10:30:00")
        }),
        line(&ok("alice", "10:30:01")),
        line(&Line {
            code: 403,
            ..ok("alice", "11:30:00")
        }),
    ]
    .concat();
    assert_eq!(run(&log, &windows), [("id-10:30:00".to_owned(), false)]);
}

#[test]
fn tolerates_malformed_and_unterminated_lines() {
    let log = format!(
        "{{\"user\":{{\"username\":\"alice\"\n\n{}",
        line(&ok("alice", "10:30:00")).trim_end()
    );
    let mut rows = 0;
    let stats = scan(log.as_bytes(), &Selector::new(&alice_window()), |_| {
        rows += 1
    })
    .unwrap();
    assert_eq!(
        (rows, stats.malformed, stats.bytes),
        (1, 1, log.len() as u64)
    );
}

#[test]
fn escaped_usernames_fall_back_to_parsing_every_line() {
    let windows = vec![AccessWindow::requested("a<b>", None, None)];
    assert!(Selector::new(&windows).needles.is_none());
    let log = line(&ok("a\\u003cb\\u003e", "10:30:00"));
    assert_eq!(run(&log, &windows).len(), 1);
}

#[test]
fn finds_every_match_across_needles_and_chunks() {
    let users = ["alice", "bob", "carol"];
    let windows: Vec<AccessWindow> = users
        .iter()
        .map(|u| AccessWindow::requested(u, None, None))
        .collect();
    let mut log = String::new();
    let mut want = 0;
    // Enough lines to span several read chunks, with matches at irregular places.
    for i in 0..40_000 {
        let user = match i % 7 {
            0 => "alice",
            3 if i % 2 == 0 => "bob",
            5 if i % 1000 == 5 => "carol",
            _ => "zed",
        };
        want += usize::from(user != "zed");
        log.push_str(&line(&ok(
            user,
            &format!("10:{:02}:{:02}", (i / 60) % 60, i % 60),
        )));
    }
    assert!(log.len() > 2 * CHUNK);
    assert_eq!(run(&log, &windows).len(), want);
}

#[test]
fn candidate_lines_are_each_reported_once_in_order() {
    let region = b"x alice bob\ny\nbob\nalice alice\nz";
    let finders = [Finder::new(b"alice"), Finder::new(b"bob")];
    let mut got = Vec::new();
    candidate_lines(region, &finders, |l| {
        got.push(String::from_utf8_lossy(l).into_owned())
    });
    assert_eq!(got, ["x alice bob", "bob", "alice alice"]);
}

#[test]
fn group_grants_select_every_member_and_nobody_else() {
    let window = AccessWindow {
        subject: String::new(),
        users: Vec::new(),
        groups: vec!["oncall-payments".to_owned()],
        namespace: Some("payments".to_owned()),
        role: Some("oncall-debug".to_owned()),
        source: "grant",
        object: Some("jit-inc-1".to_owned()),
        from: Some(Timestamp::parse("2026-11-26T10:00:00Z").unwrap()),
        until: Some(Timestamp::parse("2026-11-26T11:00:00Z").unwrap()),
    };
    let line = |user: &str, groups: &str, time: &str| {
        format!(
            r#"{{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{{"username":"{user}","groups":[{groups}]}},"objectRef":{{"resource":"pods","namespace":"payments"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"{time}"}}"#
        )
    };
    let log = [
        line(
            "alice",
            r#""oncall-payments","system:authenticated""#,
            "2026-11-26T10:30:00Z",
        ),
        line(
            "mallory",
            r#""system:authenticated""#,
            "2026-11-26T10:30:00Z",
        ),
        line("bob", r#""oncall-payments""#, "2026-11-26T12:00:00Z"),
    ]
    .join("\n");
    let selector = Selector::new(&[window]);
    let mut users = Vec::new();
    scan(log.as_bytes(), &selector, |row| users.push(row.user)).unwrap();
    assert_eq!(users, ["alice"], "members inside the window only");
}

/// A username with a comma is one user: a grant to `a,b` selects `a,b`'s requests, not `a`'s or `b`'s.
#[test]
fn a_username_with_a_comma_is_one_user() {
    let mut created = crate::AuditRecord::blank(
        crate::EventKind::GrantCreated,
        crate::Actor::user("granter"),
        at("10:00:00"),
    );
    created.subject = Some("a,b,carol".to_owned());
    created.users = vec!["a,b".to_owned(), "carol".to_owned()];
    created.incident = Some("INC-1".to_owned());
    created.expires_at = Some(at("11:00:00"));
    let trail = serde_json::to_string(&created).unwrap() + "\n";
    let windows = crate::report::windows_for_incident([trail.as_bytes()], "INC-1").unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].users, ["a,b", "carol"]);
    let log = [
        line(&ok("a,b", "10:10:00")),
        line(&ok("a", "10:11:00")),
        line(&ok("b", "10:12:00")),
        line(&ok("carol", "10:13:00")),
    ]
    .concat();
    let mut users = Vec::new();
    scan(log.as_bytes(), &Selector::new(&windows), |row| {
        users.push(row.user)
    })
    .unwrap();
    assert_eq!(users, ["a,b", "carol"]);
}

/// A record written before `users` existed: its `subject` is one username, commas and all.
#[test]
fn old_records_take_the_subject_whole() {
    let line_ = r#"{"schemaVersion":1,"sequence":1,"time":"2024-05-01T10:00:00Z","eventId":"x","kind":"grantCreated","actor":{"kind":"user","name":"g"},"subject":"a,b","groups":[],"namespace":null,"role":null,"policy":null,"incident":"INC-1","reason":null,"decision":null,"decisionReason":null,"ttlSeconds":null,"expiresAt":null,"object":null}"#;
    let windows =
        crate::report::windows_for_incident([format!("{line_}\n").as_bytes()], "INC-1").unwrap();
    assert_eq!(windows[0].users, ["a,b"]);
}
