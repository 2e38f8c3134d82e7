//! docs/audit.md's example records are records this crate writes: each reads as an `AuditEvent` and
//! serializes back to the same bytes (every field, in order), so a field added, renamed or dropped in
//! the code fails here until the docs follow.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubejit_audit::AuditEvent;

#[test]
fn example_records_are_written_exactly_as_shown() {
    let doc = include_str!("../../../docs/audit.md");
    let examples: Vec<&str> = doc
        .lines()
        .filter(|line| line.starts_with("{\"schemaVersion\""))
        .collect();
    assert!(examples.len() >= 2, "no example records found");
    for line in examples {
        // The chain's own fields close each line; the event is everything before them.
        let (event, _chain) = line.split_once(",\"prevHash\"").expect("chained example");
        let event = format!("{event}}}");
        let parsed: AuditEvent = serde_json::from_str(&event).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), event);
    }
}
