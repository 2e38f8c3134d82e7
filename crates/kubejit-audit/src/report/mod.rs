//! `kubejit audit report`: who was granted what for an incident, and every API request they made.

mod apiserver;
mod render;
mod story;
mod window;

use std::io::{BufRead, Read};

use serde::Serialize;

pub use apiserver::{Row, ScanStats, Selector, scan};
pub use render::{json, markdown, table};
pub use story::StoryEntry;
pub use window::{AccessWindow, incident_trail, window_story, windows_for_incident};

use crate::{AuditError, Timestamp};

/// What the report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Identities granted access for this incident, during their access windows.
    Incident(String),
    /// One user between two optional instants.
    User {
        user: String,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    },
}

/// The joined result, rendered with [`table`], [`json`] or [`markdown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The incident's story from kubejit's trail (requests, approvals, grants, sessions), by time;
    /// for a user scope, the user's gateway sessions in the window (when trails are given).
    pub story: Vec<StoryEntry>,
    pub windows: Vec<AccessWindow>,
    pub rows: Vec<Row>,
    pub stats: ScanStats,
}

/// Works out the access windows for `scope` (reading kubejit's `trails`, merged by time, for an
/// incident; no trail is needed for a user scope, and given ones add the user's gateway sessions to
/// the story), then streams `apiserver_log` and keeps the matching requests.
pub fn build<R: BufRead>(
    scope: &Scope,
    trails: Vec<R>,
    apiserver_log: impl Read,
) -> Result<Report, AuditError> {
    let (windows, story) = match scope {
        Scope::Incident(_) if trails.is_empty() => return Err(AuditError::MissingTrail),
        Scope::Incident(incident) => incident_trail(trails, incident)?,
        Scope::User { user, since, until } => {
            let window = AccessWindow::requested(user, *since, *until);
            let story = window_story(trails, &window)?;
            (vec![window], story)
        }
    };
    let mut rows = Vec::new();
    let stats = scan(apiserver_log, &Selector::new(&windows), |row| {
        rows.push(row)
    })?;
    Ok(Report {
        story,
        windows,
        rows,
        stats,
    })
}
