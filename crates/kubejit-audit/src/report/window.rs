//! Reads kubejit's trail and works out who had which access when: the windows the report joins on.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::story::{StoryEntry, in_story, story};
use crate::{AuditError, AuditRecord, EventKind, Timestamp};

/// A period during which `subject` held access kubejit granted (or the window the user asked about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessWindow {
    /// For display: the record's `subject`.
    pub subject: String,
    /// The usernames the window selects, one entry each (never split on commas: a username may
    /// contain one).
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub namespace: Option<String>,
    pub role: Option<String>,
    /// `grant`, `certificate` or `requested` (from `--user/--since/--until`).
    pub source: &'static str,
    /// Name of the Grant or CSR object, if known.
    pub object: Option<String>,
    /// Start of access; `None` means unbounded.
    pub from: Option<Timestamp>,
    /// End of access (expiry, revocation); `None` means still live / unbounded.
    pub until: Option<Timestamp>,
}

impl AccessWindow {
    /// The window of `--user U --since S --until T`.
    pub fn requested(user: &str, since: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        Self {
            subject: user.to_owned(),
            users: vec![user.to_owned()],
            groups: Vec::new(),
            namespace: None,
            role: None,
            source: "requested",
            object: None,
            from: since,
            until,
        }
    }

    /// Whether `time` falls inside the window (both ends inclusive).
    pub fn contains(&self, time: Timestamp) -> bool {
        self.from.is_none_or(|from| from <= time) && self.until.is_none_or(|until| time <= until)
    }
}

/// Lines of the trail that are checkpoints rather than events.
#[derive(Deserialize)]
struct CheckpointProbe {
    #[allow(dead_code)] // only its presence matters
    checkpoint: serde::de::IgnoredAny,
}

/// Streams each trail (chained file or stdout JSONL) and returns the access windows of `incident`.
///
/// Several trails (the controller's, and one per `kubejit grant` writer) are merged by record time,
/// each kept in its own order, so an expiry written by the reaper closes a grant another trail opened.
/// Grant end events (extended, revoked, expired) are applied by object even when they do not repeat the
/// incident, because the reaper that writes them may not know it.
pub fn windows_for_incident<R: BufRead>(
    trails: impl IntoIterator<Item = R>,
    incident: &str,
) -> Result<Vec<AccessWindow>, AuditError> {
    incident_trail(trails, incident).map(|(windows, _)| windows)
}

/// [`windows_for_incident`], and the incident's story ([`StoryEntry`]) from the same merged read.
pub fn incident_trail<R: BufRead>(
    trails: impl IntoIterator<Item = R>,
    incident: &str,
) -> Result<(Vec<AccessWindow>, Vec<StoryEntry>), AuditError> {
    let merged = read_merged(trails)?;
    let mut windows: Vec<(AccessWindow, bool)> = Vec::new();
    let mut by_object: HashMap<String, usize> = HashMap::new();
    for event in merged.iter().filter(|e| effect(e.kind).is_some()) {
        apply(event.clone(), incident, &mut windows, &mut by_object);
    }
    let windows: Vec<AccessWindow> = windows
        .into_iter()
        .filter_map(|(window, relevant)| relevant.then_some(window))
        .collect();
    let story = story(&merged, Some(incident), &windows);
    Ok((windows, story))
}

/// The gateway sessions of `window` (a `--user/--since/--until` window) from the trails.
pub fn window_story<R: BufRead>(
    trails: impl IntoIterator<Item = R>,
    window: &AccessWindow,
) -> Result<Vec<StoryEntry>, AuditError> {
    let merged = read_merged(trails)?;
    Ok(story(&merged, None, std::slice::from_ref(window)))
}

/// Every record the report uses from all trails, merged by time (each trail kept in its own order).
fn read_merged<R: BufRead>(
    trails: impl IntoIterator<Item = R>,
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut queues = Vec::new();
    for trail in trails {
        let mut events = VecDeque::new();
        for_each_event(trail, |event| {
            if effect(event.kind).is_some() || in_story(event.kind) {
                events.push_back(event);
            }
        })?;
        queues.push(events);
    }
    let mut merged = Vec::new();
    while let Some(event) = next_by_time(&mut queues) {
        merged.push(event);
    }
    Ok(merged)
}

/// Takes the earliest head among the trails (the first trail wins a tie), so each trail's order is kept.
fn next_by_time(queues: &mut [VecDeque<AuditRecord>]) -> Option<AuditRecord> {
    let mut earliest: Option<(usize, Timestamp)> = None;
    for (i, queue) in queues.iter().enumerate() {
        if let Some(head) = queue.front()
            && earliest.is_none_or(|(_, time)| head.time < time)
        {
            earliest = Some((i, head.time));
        }
    }
    earliest.and_then(|(i, _)| queues[i].pop_front())
}

/// What a record does to an access window.
#[derive(Clone, Copy)]
enum Effect {
    Open,
    Extend,
    Close,
}

/// The effect of a record of `kind`; `None` for records the report does not keep.
fn effect(kind: EventKind) -> Option<Effect> {
    match kind {
        EventKind::GrantCreated | EventKind::ForeignGrant | EventKind::CertificateApproved => {
            Some(Effect::Open)
        }
        EventKind::GrantExtended => Some(Effect::Extend),
        EventKind::GrantRevoked | EventKind::GrantExpired => Some(Effect::Close),
        EventKind::CertificateDenied
        | EventKind::CertificatePending
        | EventKind::CertificateMismatch
        | EventKind::GrantMalformed
        | EventKind::ControllerStarted
        | EventKind::LeadershipAcquired
        | EventKind::LeadershipLost
        | EventKind::TrailTruncated
        // The request's story; the access itself is opened by its grantCreated record.
        | EventKind::AccessRequested
        | EventKind::AccessApproved
        | EventKind::AccessDenied
        | EventKind::AccessWithdrawn
        | EventKind::AccessTimedOut
        | EventKind::AccessRevoked
        // Sessions are shown in the story; they use access a grant or certificate opened.
        | EventKind::SessionStarted
        | EventKind::SessionCommand
        | EventKind::SessionEnded
        | EventKind::SessionRefused => None,
    }
}

fn apply(
    event: AuditRecord,
    incident: &str,
    windows: &mut Vec<(AccessWindow, bool)>,
    by_object: &mut HashMap<String, usize>,
) {
    let key = object_key(&event);
    match effect(event.kind) {
        Some(Effect::Open) => {
            let relevant = event.incident.as_deref() == Some(incident);
            by_object.insert(key, windows.len());
            windows.push((opened_window(event), relevant));
        }
        Some(Effect::Extend) => {
            if let Some(&i) = by_object.get(&key) {
                windows[i].0.until = event.expires_at.or(windows[i].0.until);
            }
        }
        Some(Effect::Close) => {
            if let Some(&i) = by_object.get(&key) {
                let until = windows[i].0.until.map_or(event.time, |u| u.min(event.time));
                windows[i].0.until = Some(until);
            }
        }
        None => {}
    }
}

fn opened_window(event: AuditRecord) -> AccessWindow {
    let source = match event.kind {
        EventKind::CertificateApproved => "certificate",
        _ => "grant",
    };
    // Older records have no `users`: their `subject` is taken whole, as one username.
    let users = match (event.users.is_empty(), &event.subject) {
        (false, _) => event.users,
        (true, Some(subject)) if !subject.is_empty() => vec![subject.clone()],
        (true, _) => Vec::new(),
    };
    AccessWindow {
        subject: event.subject.unwrap_or_default(),
        users,
        groups: event.groups,
        namespace: event.namespace,
        role: event.role,
        source,
        object: event.object.map(|o| o.name),
        from: Some(event.time),
        until: event.expires_at,
    }
}

/// Identifies the grant or certificate an event is about: uid, else name, else subject/namespace/role.
pub(super) fn object_key(event: &AuditRecord) -> String {
    match &event.object {
        Some(object) => match &object.uid {
            Some(uid) => format!("uid:{uid}"),
            None => format!(
                "name:{}/{}/{}",
                object.kind,
                object.namespace.as_deref().unwrap_or(""),
                object.name
            ),
        },
        None => format!(
            "subject:{}/{}/{}",
            event.subject.as_deref().unwrap_or(""),
            event.namespace.as_deref().unwrap_or(""),
            event.role.as_deref().unwrap_or("")
        ),
    }
}

/// Calls `f` with each event of the trail, skipping checkpoint lines and blank lines.
fn for_each_event(
    mut trail: impl BufRead,
    mut f: impl FnMut(AuditRecord),
) -> Result<(), AuditError> {
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let read = trail.read_until(b'\n', &mut line);
        if read.map_err(|source| AuditError::Read {
            what: "audit trail".to_owned(),
            source,
        })? == 0
        {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(&line) {
            Ok(event) => f(event),
            Err(_) if serde_json::from_slice::<CheckpointProbe>(&line).is_ok() => {}
            Err(source) => {
                return Err(AuditError::ParseTrail {
                    line: number,
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, ObjectRef};

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(&format!("2024-05-01T{s}Z")).unwrap()
    }

    fn ev(
        kind: EventKind,
        time: &str,
        name: &str,
        incident: Option<&str>,
        expires: Option<&str>,
    ) -> String {
        let mut e = AuditRecord::blank(kind, Actor::controller("c"), at(time));
        e.subject = Some(format!("{name}-user"));
        e.incident = incident.map(str::to_owned);
        e.expires_at = expires.map(at);
        e.object = Some(ObjectRef {
            kind: "Grant".into(),
            namespace: None,
            name: name.into(),
            uid: None,
        });
        serde_json::to_string(&e).unwrap() + "\n"
    }

    #[test]
    fn builds_windows_from_grant_lifecycles() {
        let inc = Some("INC-1");
        let trail = [
            ev(
                EventKind::GrantCreated,
                "10:00:00",
                "a",
                inc,
                Some("11:00:00"),
            ),
            ev(
                EventKind::GrantCreated,
                "10:00:00",
                "other",
                Some("INC-2"),
                Some("11:00:00"),
            ),
            ev(
                EventKind::GrantExtended,
                "10:30:00",
                "a",
                None,
                Some("12:00:00"),
            ),
            ev(
                EventKind::CertificateApproved,
                "10:05:00",
                "b",
                inc,
                Some("10:20:00"),
            ),
            ev(
                EventKind::GrantCreated,
                "10:10:00",
                "c",
                inc,
                Some("11:00:00"),
            ),
            ev(EventKind::GrantRevoked, "10:15:00", "c", None, None),
            ev(EventKind::GrantCreated, "10:10:00", "d", inc, None),
            r#"{"schemaVersion":1,"sequence":9,"checkpoint":{"sequence":8}}"#.to_owned() + "\n\n",
        ]
        .concat();
        let windows = windows_for_incident([trail.as_bytes()], "INC-1").unwrap();
        let got: Vec<(&str, &str, Option<Timestamp>, Option<Timestamp>)> = windows
            .iter()
            .map(|w| (w.subject.as_str(), w.source, w.from, w.until))
            .collect();
        let want = [
            (
                "a-user",
                "grant",
                Some(at("10:00:00")),
                Some(at("12:00:00")),
            ),
            (
                "b-user",
                "certificate",
                Some(at("10:05:00")),
                Some(at("10:20:00")),
            ),
            (
                "c-user",
                "grant",
                Some(at("10:10:00")),
                Some(at("10:15:00")),
            ),
            ("d-user", "grant", Some(at("10:10:00")), None),
        ];
        assert_eq!(got, want);
    }

    /// The grant command's own trail opens the window, the controller's trail closes it: read in
    /// either order, the records are merged by time, so the expiry finds the grant it ends.
    #[test]
    fn several_trails_are_merged_by_time() {
        let inc = Some("INC-1");
        let grants = ev(
            EventKind::GrantCreated,
            "10:00:00",
            "a",
            inc,
            Some("10:30:00"),
        );
        let controller = [
            ev(EventKind::ControllerStarted, "09:00:00", "x", None, None),
            ev(EventKind::GrantExpired, "10:20:00", "a", None, None),
        ]
        .concat();
        let want = vec![(Some(at("10:00:00")), Some(at("10:20:00")))];
        for trails in [
            [controller.as_bytes(), grants.as_bytes()],
            [grants.as_bytes(), controller.as_bytes()],
        ] {
            let windows = windows_for_incident(trails, "INC-1").unwrap();
            let got: Vec<_> = windows.iter().map(|w| (w.from, w.until)).collect();
            assert_eq!(got, want);
        }
        // Read one after the other instead, the expiry would come before the grant and be lost.
        let concatenated = controller.clone() + &grants;
        let windows = windows_for_incident([concatenated.as_bytes()], "INC-1").unwrap();
        assert_eq!(windows[0].until, Some(at("10:30:00")));
    }

    #[test]
    fn window_bounds_are_inclusive() {
        let w = AccessWindow::requested("u", Some(at("10:00:00")), Some(at("11:00:00")));
        let cases = [
            ("09:59:59", false),
            ("10:00:00", true),
            ("11:00:00", true),
            ("11:00:01", false),
        ];
        for (time, want) in cases {
            assert_eq!(w.contains(at(time)), want, "{time}");
        }
        assert!(AccessWindow::requested("u", None, None).contains(at("00:00:00")));
    }

    #[test]
    fn reports_the_unparsable_trail_line() {
        let trail = ev(EventKind::GrantCreated, "10:00:00", "a", None, None) + "{garbage\n";
        let err = windows_for_incident([trail.as_bytes()], "INC-1").unwrap_err();
        assert!(
            matches!(err, AuditError::ParseTrail { line: 2, .. }),
            "{err:?}"
        );
    }
}
