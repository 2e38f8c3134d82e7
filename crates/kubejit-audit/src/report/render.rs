//! Renders a report as an aligned terminal table, JSON, or Markdown for a postmortem.
//!
//! Every cell comes from logs that users influence (names, usernames), so cells are sanitised for the
//! medium: control characters (ESC, newlines, C1, U+2028/9) are shown as `\u{..}` escapes in the table
//! and Markdown, and Markdown metacharacters are backslash-escaped so a name cannot inject a link or
//! break the table.

use std::io::Write;

use super::Report;
use super::apiserver::Row;
use super::story::StoryEntry;
use super::window::AccessWindow;
use crate::{AuditError, escape::to_json_line};

const HEADERS: [&str; 10] = [
    "",
    "TIME",
    "USER",
    "GROUPS",
    "AS",
    "VERB",
    "RESOURCE",
    "NAMESPACE",
    "NAME",
    "CODE",
];

/// Subresources that give interactive or data access and deserve a reviewer's eye.
fn sensitive(row: &Row) -> bool {
    matches!(
        row.subresource.as_deref(),
        Some("exec" | "portforward" | "log" | "attach" | "proxy")
    )
}

fn marker(row: &Row) -> &'static str {
    match (sensitive(row), row.code == Some(403)) {
        (_, true) => "DENIED",
        (true, false) => ">>",
        (false, false) => "",
    }
}

fn cells(row: &Row) -> [String; 10] {
    let resource = match (&row.resource, &row.subresource) {
        (Some(r), Some(s)) => format!("{r}/{s}"),
        (Some(r), None) => r.clone(),
        (None, _) => String::new(),
    };
    [
        marker(row).to_owned(),
        row.time.clone(),
        row.user.clone(),
        row.groups.join(","),
        row.impersonated_user.clone().unwrap_or_default(),
        row.verb.clone(),
        resource,
        row.namespace.clone().unwrap_or_default(),
        row.name.clone().unwrap_or_default(),
        row.code.map(|c| c.to_string()).unwrap_or_default(),
    ]
}

/// Escapes characters that could drive a terminal, split a line or reorder what it shows (bidi
/// overrides, zero-width characters): names come from the apiserver and nobody validated them.
fn clean(text: &str) -> String {
    kubejit_core::text::escape(text).into_owned()
}

fn window_line(w: &AccessWindow) -> String {
    let time = |t: Option<crate::Timestamp>| t.map_or_else(|| "…".to_owned(), |t| t.to_string());
    let scope = [w.namespace.as_deref(), w.role.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    format!(
        "{} {} {} [{}] {} from {} until {}",
        w.source,
        w.object.as_deref().unwrap_or("-"),
        w.subject,
        w.groups.join(","),
        scope,
        time(w.from),
        time(w.until)
    )
}

fn story_line(e: &StoryEntry) -> String {
    format!("{} {} {}", e.time, e.kind.as_str(), e.text)
}

fn io(source: std::io::Error) -> AuditError {
    AuditError::Write {
        target: "report output".to_owned(),
        source,
    }
}

/// Aligned plain-text table; `>>` marks exec/portforward/log/attach/proxy, `DENIED` marks 403s.
pub fn table(report: &Report, out: &mut impl Write) -> Result<(), AuditError> {
    for e in &report.story {
        writeln!(out, "story: {}", clean(&story_line(e))).map_err(io)?;
    }
    for w in &report.windows {
        writeln!(out, "access: {}", clean(&window_line(w))).map_err(io)?;
    }
    let rows: Vec<[String; 10]> = report
        .rows
        .iter()
        .map(|r| cells(r).map(|c| clean(&c)))
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let headers = HEADERS.map(str::to_owned);
    for row in std::iter::once(&headers).chain(&rows) {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end()).map_err(io)?;
    }
    Ok(())
}

/// The whole report as one JSON object (`story`, `windows`, `rows`, `stats`) on one line. Rows are serialized
/// one at a time so a large result is not held twice in memory.
pub fn json(report: &Report, out: &mut impl Write) -> Result<(), AuditError> {
    out.write_all(b"{\"story\":").map_err(io)?;
    out.write_all(&to_json_line(&report.story)?).map_err(io)?;
    out.write_all(b",\"windows\":").map_err(io)?;
    out.write_all(&to_json_line(&report.windows)?).map_err(io)?;
    out.write_all(b",\"rows\":[").map_err(io)?;
    for (i, row) in report.rows.iter().enumerate() {
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        out.write_all(&to_json_line(row)?).map_err(io)?;
    }
    out.write_all(b"],\"stats\":").map_err(io)?;
    out.write_all(&to_json_line(&report.stats)?).map_err(io)?;
    out.write_all(b"}\n").map_err(io)
}

/// Escapes Markdown metacharacters and controls so a cell cannot break out of its table cell.
fn markdown_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in clean(text).chars() {
        if matches!(
            c,
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '~' | '!' | '(' | ')'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown section ready to paste into a postmortem; sensitive and denied rows are bold.
pub fn markdown(report: &Report, out: &mut impl Write) -> Result<(), AuditError> {
    if !report.story.is_empty() {
        writeln!(out, "### Story\n").map_err(io)?;
        for e in &report.story {
            writeln!(out, "- {}", markdown_cell(&story_line(e))).map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    writeln!(out, "### Access granted\n").map_err(io)?;
    for w in &report.windows {
        writeln!(out, "- {}", markdown_cell(&window_line(w))).map_err(io)?;
    }
    writeln!(out, "\n### API requests\n").map_err(io)?;
    writeln!(out, "| {} |", HEADERS[1..].join(" | ")).map_err(io)?;
    writeln!(out, "|{}", "---|".repeat(HEADERS.len() - 1)).map_err(io)?;
    for row in &report.rows {
        let bold = if marker(row).is_empty() { "" } else { "**" };
        let cells: Vec<String> = cells(row)[1..]
            .iter()
            .map(|c| {
                if c.is_empty() {
                    String::new()
                } else {
                    format!("{bold}{}{bold}", markdown_cell(c))
                }
            })
            .collect();
        writeln!(out, "| {} |", cells.join(" | ")).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
