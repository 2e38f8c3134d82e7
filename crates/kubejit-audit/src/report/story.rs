//! The incident's story from kubejit's own trail, in time order: who asked, who approved, which
//! grants and certificates it made and how they ended, and the SSH gateway sessions used under them
//! (started, commands, ended and why).

use std::collections::HashSet;

use serde::Serialize;

use super::window::{AccessWindow, object_key};
use crate::{AuditRecord, EventKind, Timestamp};

/// One step of the story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryEntry {
    pub time: Timestamp,
    pub kind: EventKind,
    /// Who did it (the record's actor).
    pub actor: String,
    /// Everyone whose approval counted (`accessApproved`, `grantCreated` by a request).
    pub approvers: Vec<String>,
    /// The step, for people (record values, unescaped: renderers escape them).
    pub text: String,
}

/// Which part of the story a record kind belongs to.
#[derive(Clone, Copy)]
enum Part {
    /// Carries the incident itself (requests, decisions, grants opened).
    Incident,
    /// Ends or moves a grant; may not repeat the incident: matched by object.
    GrantEnd,
    /// A gateway session: matched by the person and the access windows.
    Session,
    None,
}

fn part(kind: EventKind) -> Part {
    match kind {
        EventKind::AccessRequested
        | EventKind::AccessApproved
        | EventKind::AccessDenied
        | EventKind::AccessWithdrawn
        | EventKind::AccessTimedOut
        | EventKind::AccessRevoked
        | EventKind::GrantCreated
        | EventKind::ForeignGrant
        | EventKind::CertificateApproved
        | EventKind::CertificateDenied
        | EventKind::CertificatePending
        | EventKind::CertificateMismatch => Part::Incident,
        EventKind::GrantExtended | EventKind::GrantRevoked | EventKind::GrantExpired => {
            Part::GrantEnd
        }
        EventKind::SessionStarted
        | EventKind::SessionCommand
        | EventKind::SessionEnded
        | EventKind::SessionRefused => Part::Session,
        EventKind::GrantMalformed
        | EventKind::ControllerStarted
        | EventKind::LeadershipAcquired
        | EventKind::LeadershipLost
        | EventKind::TrailTruncated => Part::None,
    }
}

/// Whether the report keeps records of `kind` for the story.
pub(super) fn in_story(kind: EventKind) -> bool {
    !matches!(part(kind), Part::None)
}

/// The story of `incident` from the merged, time-ordered `events` and the incident's `windows`; with
/// no incident (a user's window), only the gateway sessions used in `windows`.
pub(super) fn story(
    events: &[AuditRecord],
    incident: Option<&str>,
    windows: &[AccessWindow],
) -> Vec<StoryEntry> {
    let mut grants: HashSet<String> = HashSet::new();
    let mut sessions: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for event in events {
        let keep = match part(event.kind) {
            Part::Incident => {
                let ours = incident.is_some() && event.incident.as_deref() == incident;
                if ours {
                    grants.insert(object_key(event));
                }
                ours
            }
            Part::GrantEnd => grants.contains(&object_key(event)),
            Part::Session => session_in_scope(event, windows, &mut sessions),
            Part::None => false,
        };
        if keep {
            out.push(entry(event));
        }
    }
    out
}

/// A session record belongs to the story when the session started inside one of the person's
/// access windows; its commands and end follow it even after the window closed (a session cut
/// because the grant ended is exactly what a reviewer wants to see).
fn session_in_scope(
    event: &AuditRecord,
    windows: &[AccessWindow],
    sessions: &mut HashSet<String>,
) -> bool {
    let Some(id) = event.session.as_ref().map(|s| s.id.clone()) else {
        return false;
    };
    if sessions.contains(&id) {
        return true;
    }
    let covered = windows.iter().any(|w| {
        let person = event.users.iter().any(|u| w.users.contains(u))
            || event.groups.iter().any(|g| w.groups.contains(g));
        person && w.contains(event.time)
    });
    if covered && event.kind != EventKind::SessionRefused {
        sessions.insert(id);
    }
    covered
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn entry(e: &AuditRecord) -> StoryEntry {
    StoryEntry {
        time: e.time,
        kind: e.kind,
        actor: e.actor.name.clone(),
        approvers: e.approvers.clone(),
        text: text(e),
    }
}

/// `payments/ClusterRole/oncall-debug for carol [groups]`.
fn access(e: &AuditRecord) -> String {
    let who = e.users.join(",");
    let groups = if e.groups.is_empty() {
        String::new()
    } else {
        format!(" [{}]", e.groups.join(","))
    };
    format!(
        "{}/{} for {who}{groups}",
        or_dash(e.namespace.as_deref()),
        or_dash(e.role.as_deref())
    )
}

fn text(e: &AuditRecord) -> String {
    let object = e.object.as_ref().map_or("-", |o| o.name.as_str());
    let until = e
        .expires_at
        .map_or_else(|| "-".to_owned(), |t| t.to_string());
    let reason = or_dash(e.reason.as_deref());
    let why = or_dash(e.decision_reason.as_deref());
    match e.kind {
        EventKind::AccessRequested => format!(
            "{} requested {} (request {object}): {reason}",
            e.actor.name,
            access(e)
        ),
        EventKind::AccessApproved => {
            let by = match e.approvers.is_empty() {
                true => "a rule (Auto)".to_owned(),
                false => e.approvers.join(", "),
            };
            format!("request {object} approved by {by}, until {until}")
        }
        EventKind::GrantCreated | EventKind::ForeignGrant => {
            format!("binding {object} gives {} until {until} ({why})", access(e))
        }
        EventKind::GrantExtended => format!("binding {object} extended until {until}"),
        EventKind::GrantRevoked => format!("binding {object} removed early: {reason}"),
        EventKind::GrantExpired => format!("binding {object} expired"),
        EventKind::AccessDenied
        | EventKind::AccessWithdrawn
        | EventKind::AccessTimedOut
        | EventKind::AccessRevoked => format!("request {object}: {why}: {reason}"),
        EventKind::CertificateApproved
        | EventKind::CertificateDenied
        | EventKind::CertificatePending
        | EventKind::CertificateMismatch => format!(
            "certificate {object} for {} [{}]: {why}",
            or_dash(e.subject.as_deref()),
            e.groups.join(",")
        ),
        EventKind::SessionStarted
        | EventKind::SessionCommand
        | EventKind::SessionEnded
        | EventKind::SessionRefused => session_text(e),
        EventKind::GrantMalformed
        | EventKind::ControllerStarted
        | EventKind::LeadershipAcquired
        | EventKind::LeadershipLost
        | EventKind::TrailTruncated => why.to_owned(),
    }
}

fn session_text(e: &AuditRecord) -> String {
    let Some(s) = &e.session else {
        return String::new();
    };
    let user = or_dash(e.subject.as_deref());
    let id = &s.id;
    match e.kind {
        EventKind::SessionStarted => format!(
            "{user} opened SSH session {id} from {} (key {}, serial {}, CA {})",
            or_dash(s.source_address.as_deref()),
            or_dash(s.key_id.as_deref()),
            s.serial.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            or_dash(s.ca_fingerprint.as_deref())
        ),
        EventKind::SessionCommand => {
            format!("{user} in session {id}: {}", or_dash(s.command.as_deref()))
        }
        EventKind::SessionEnded => {
            let num = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            let recording = match (&s.recording, &s.recording_sha256) {
                (Some(file), Some(hash)) => format!(", recording {file} sha256 {hash}"),
                (Some(file), None) => format!(", recording {file}"),
                (None, _) => String::new(),
            };
            format!(
                "session {id} ended: {} ({}); {} bytes in, {} out, {} ms{recording}",
                or_dash(e.decision_reason.as_deref()),
                or_dash(e.reason.as_deref()),
                num(s.bytes_in),
                num(s.bytes_out),
                num(s.duration_ms)
            )
        }
        EventKind::SessionRefused => format!(
            "SSH login as {user} from {} refused: {}",
            or_dash(s.source_address.as_deref()),
            or_dash(e.decision_reason.as_deref())
        ),
        EventKind::CertificateApproved
        | EventKind::CertificateDenied
        | EventKind::CertificatePending
        | EventKind::CertificateMismatch
        | EventKind::GrantCreated
        | EventKind::GrantExtended
        | EventKind::GrantRevoked
        | EventKind::GrantExpired
        | EventKind::GrantMalformed
        | EventKind::ForeignGrant
        | EventKind::ControllerStarted
        | EventKind::LeadershipAcquired
        | EventKind::LeadershipLost
        | EventKind::TrailTruncated
        | EventKind::AccessRequested
        | EventKind::AccessApproved
        | EventKind::AccessDenied
        | EventKind::AccessWithdrawn
        | EventKind::AccessTimedOut
        | EventKind::AccessRevoked => String::new(),
    }
}

#[cfg(test)]
#[path = "story_tests.rs"]
mod tests;
