//! docs/audit.md's example records are records this crate writes: each one (without the chain's own
//! fields) is, byte for byte, one of the per-fact snapshots (`src/snapshots/`) that the typed events
//! render to, so a field added, renamed or dropped in the code fails here until the docs follow.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// The bodies of the committed event snapshots (everything after insta's `---` header).
fn snapshots() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/snapshots");
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("kubejit_audit__event__tests__") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let body = text.splitn(3, "---\n").nth(2).unwrap();
        bodies.push(body.trim_end().to_owned());
    }
    assert!(bodies.len() >= 13, "event snapshots missing");
    bodies
}

#[test]
fn example_records_are_event_snapshots() {
    let doc = include_str!("../../../docs/audit.md");
    let examples: Vec<&str> = doc
        .lines()
        .filter(|line| line.starts_with("{\"schemaVersion\""))
        .filter(|line| !line.contains("\"checkpoint\""))
        .collect();
    assert!(examples.len() >= 2, "no example records found");
    let snapshots = snapshots();
    for line in examples {
        // The chain's own fields close each line; the event is everything before them.
        let (event, _chain) = line.split_once(",\"prevHash\"").expect("chained example");
        let event = format!("{event}}}");
        assert!(
            snapshots.contains(&event),
            "docs/audit.md shows a record no event renders to:\n{event}"
        );
        let parsed: kubejit_audit::AuditRecord = serde_json::from_str(&event).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), event);
    }
}
