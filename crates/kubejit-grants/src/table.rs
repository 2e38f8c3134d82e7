//! Renders listed grants: a table (normal or wide) for people, JSON or YAML for scripts.

use kubejit_kube::{OutputError, OutputFormat};

use crate::{Error, GrantRow, GrantStatus};

/// The formats [`render_rows`] produces (`kubejit grants -o …`; a table when `-o` is absent).
pub const LIST_FORMATS: [OutputFormat; 4] = [
    OutputFormat::Table,
    OutputFormat::Wide,
    OutputFormat::Json,
    OutputFormat::Yaml,
];

/// Renders rows; an empty table says so instead of printing only headers.
pub fn render_rows(rows: &[GrantRow], format: OutputFormat) -> Result<String, Error> {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(rows)
            .map(|s| s + "\n")
            .map_err(|e| Error::Render {
                format: "json",
                source: Box::new(e),
            }),
        OutputFormat::Yaml => serde_saphyr::to_string(&rows).map_err(|e| Error::Render {
            format: "yaml",
            source: Box::new(e),
        }),
        OutputFormat::Table | OutputFormat::Wide if rows.is_empty() => {
            Ok("No grants found.\n".to_owned())
        }
        OutputFormat::Table => Ok(table(rows, false)),
        OutputFormat::Wide => Ok(table(rows, true)),
        unsupported @ (OutputFormat::Markdown | OutputFormat::Text | OutputFormat::Sarif) => {
            Err(Error::Render {
                format: unsupported.name(),
                source: Box::new(OutputError::Unsupported(unsupported)),
            })
        }
    }
}

fn table(rows: &[GrantRow], wide: bool) -> String {
    TablePages::new(wide).page(rows)
}

/// A table rendered page by page as the rows arrive (`kubejit grants` streams): the header once,
/// each page aligned as it comes (columns widen when a page needs it, never shrink), as kubectl aligns
/// each chunk of a long list.
#[derive(Debug)]
pub struct TablePages {
    wide: bool,
    started: bool,
    /// Widest cell per column so far: a later page never shrinks a column.
    widths: Vec<usize>,
}

impl TablePages {
    pub fn new(wide: bool) -> Self {
        Self {
            wide,
            started: false,
            widths: Vec::new(),
        }
    }

    /// The lines of one page (with the header if it is the first non-empty one).
    pub fn page(&mut self, rows: &[GrantRow]) -> String {
        if rows.is_empty() {
            return String::new();
        }
        let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
        if !self.started {
            lines.push(header(self.wide).iter().map(|h| (*h).to_owned()).collect());
            self.started = true;
        }
        lines.extend(rows.iter().map(|row| cells(row, self.wide)));
        align(&lines, &mut self.widths)
    }

    /// What ends the table: a line saying so when no page held a grant.
    pub fn finish(&self) -> &'static str {
        if self.started {
            ""
        } else {
            "No grants found.\n"
        }
    }
}

fn header(wide: bool) -> Vec<&'static str> {
    let mut header = vec![
        "NAMESPACE",
        "NAME",
        "SUBJECTS",
        "ROLE",
        "INCIDENT",
        "EXPIRES-AT",
        "TIME-LEFT",
    ];
    if wide {
        header.extend(["KIND", "GRANTED-BY", "REASON"]);
    }
    header
}

fn cells(row: &GrantRow, wide: bool) -> Vec<String> {
    let g = &row.grant;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let mut line = vec![
        dash(&g.namespace),
        g.name.clone(),
        g.subjects_text(),
        g.role.clone(),
        dash(&g.incident),
        dash(&g.expires_at),
        time_left_text(row.status, row.seconds_left),
    ];
    if wide {
        line.extend([g.kind.to_owned(), dash(&g.granted_by), dash(&g.reason)]);
    }
    line.into_iter().map(|c| printable(&c)).collect()
}

/// `1h59m`, `EXPIRED 12s ago, awaiting deletion`, or `MALFORMED: never expires`.
pub fn time_left_text(status: GrantStatus, seconds_left: Option<i64>) -> String {
    let secs = seconds_left.unwrap_or_default();
    match status {
        GrantStatus::Active => human(secs.unsigned_abs()),
        GrantStatus::Expired => {
            format!(
                "EXPIRED {} ago, awaiting deletion",
                human(secs.unsigned_abs())
            )
        }
        GrantStatus::Malformed => "MALFORMED: never expires".to_owned(),
    }
}

fn human(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// The widest a cell gets: annotations can hold kilobytes, a table row should not.
const CELL_MAX: usize = 128;

/// Cells come from the apiserver (names, annotations anyone with write access could set): control
/// and format characters (bidi overrides, zero-width spaces) are shown escaped as `\u{202e}`, never
/// raw, and long values are cut with a marker.
fn printable(cell: &str) -> String {
    kubejit_core::text::escape_bounded(cell, CELL_MAX)
}

fn align(lines: &[Vec<String>], widths: &mut Vec<usize>) -> String {
    let cols = lines.first().map_or(0, Vec::len);
    widths.resize(cols.max(widths.len()), 0);
    for line in lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use kubejit_kube::GrantView;

    use super::*;

    #[test]
    fn time_left_is_human() {
        let cases = [
            (GrantStatus::Active, Some(59), "59s"),
            (GrantStatus::Active, Some(61), "1m1s"),
            (GrantStatus::Active, Some(7199), "1h59m"),
            (GrantStatus::Active, Some(90_000), "1d1h"),
            (
                GrantStatus::Expired,
                Some(0),
                "EXPIRED 0s ago, awaiting deletion",
            ),
            (
                GrantStatus::Expired,
                Some(-12),
                "EXPIRED 12s ago, awaiting deletion",
            ),
            (GrantStatus::Malformed, None, "MALFORMED: never expires"),
        ];
        for (status, secs, want) in cases {
            assert_eq!(time_left_text(status, secs), want);
        }
    }

    fn row(name: &str, status: GrantStatus, secs: Option<i64>) -> GrantRow {
        GrantRow {
            grant: GrantView {
                kind: "RoleBinding",
                namespace: Some("payments".into()),
                name: name.into(),
                uid: Some("u1".into()),
                resource_version: Some("7".into()),
                role: "Role/oncall-debug".into(),
                users: vec!["alice".into()],
                groups: vec!["oncall-payments".into()],
                service_accounts: vec![],
                expires_at: Some("2030-01-02T15:04:05Z".into()),
                incident: Some("INC-1\u{1b}[31m".into()),
                granted_by: Some("irene".into()),
                reason: None,
            },
            status,
            seconds_left: secs,
        }
    }

    #[test]
    fn table_snapshot() {
        let rows = [
            row(
                "jit-inc-1-oncall-debug-abcde",
                GrantStatus::Active,
                Some(3600),
            ),
            row("jit-old", GrantStatus::Expired, Some(-3)),
        ];
        insta::assert_snapshot!(render_rows(&rows, OutputFormat::Wide).unwrap());
        assert_eq!(
            render_rows(&[], OutputFormat::Table).unwrap(),
            "No grants found.\n"
        );
    }

    #[test]
    fn pages_print_the_header_once_and_an_empty_listing_says_so() {
        let a = row("jit-a", GrantStatus::Active, Some(60));
        let b = row("jit-b", GrantStatus::Active, Some(60));
        let mut t = TablePages::new(false);
        let first = t.page(std::slice::from_ref(&a));
        assert_eq!(t.page(&[]), "", "an empty page prints nothing");
        let second = t.page(std::slice::from_ref(&b));
        assert!(
            first.starts_with("NAMESPACE") && first.lines().count() == 2,
            "{first}"
        );
        assert!(
            second.starts_with("payments") && second.lines().count() == 1,
            "{second}"
        );
        assert_eq!(t.finish(), "");
        assert_eq!(
            format!("{first}{second}"),
            render_rows(&[a, b], OutputFormat::Table).unwrap(),
            "pages of equal widths read as one table"
        );
        let empty = TablePages::new(true);
        assert_eq!(empty.finish(), "No grants found.\n");
    }

    /// Names come from the apiserver unvalidated: a bidi override or zero-width space in a user,
    /// group or reason is shown escaped, never raw; a huge reason is cut.
    #[test]
    fn spoofing_characters_are_shown_escaped() {
        let mut r = row("g", GrantStatus::Active, Some(60));
        r.grant.users = vec!["mallory\u{202e}ecila".into()];
        r.grant.groups = vec!["on\u{200b}call".into()];
        r.grant.reason = Some(format!("fix\u{2066}{}", "x".repeat(5000)));
        let out = render_rows(&[r], OutputFormat::Wide).unwrap();
        assert!(
            !out.chars()
                .any(|c| c != '\n' && kubejit_core::text::is_deceptive(c)),
            "{out:?}"
        );
        assert!(out.contains("mallory\\u{202e}ecila"), "{out}");
        assert!(out.contains("group:on\\u{200b}call"), "{out}");
        assert!(out.contains("fix\\u{2066}x"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() < 1000), "{out}");
    }

    #[test]
    fn json_has_status_and_time_left() {
        let out = render_rows(
            &[row("g", GrantStatus::Expired, Some(-3))],
            OutputFormat::Json,
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value[0]["status"], "expired");
        assert_eq!(value[0]["secondsLeft"], -3);
        assert_eq!(value[0]["grantedBy"], "irene");
    }

    /// YAML carries exactly the JSON's data (the YAML writer quotes what would otherwise read as
    /// another type, e.g. a reason "yes" or "123"), and the table formats are the only others.
    #[test]
    fn yaml_is_the_json_data() {
        let mut tricky = row("g", GrantStatus::Malformed, None);
        tricky.grant.reason = Some("yes".into());
        tricky.grant.incident = Some("123".into());
        let rows = [row("a", GrantStatus::Active, Some(60)), tricky];
        let yaml = render_rows(&rows, OutputFormat::Yaml).unwrap();
        let json = render_rows(&rows, OutputFormat::Json).unwrap();
        let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(from_yaml, from_json, "{yaml}");
        for format in OutputFormat::ALL {
            assert_eq!(
                render_rows(&rows, format).is_ok(),
                LIST_FORMATS.contains(&format),
                "{format}"
            );
        }
    }
}
