//! `kubejit requests` output: a table (optionally wide) or the objects as JSON/YAML.

use kubejit_core::text;

use super::AccessRequest;
use crate::output::{OutputError, OutputFormat, render};

/// The `-o` values `kubejit requests` offers.
pub const REQUESTS_FORMATS: [OutputFormat; 4] = [
    OutputFormat::Table,
    OutputFormat::Wide,
    OutputFormat::Json,
    OutputFormat::Yaml,
];

/// Renders requests; `all_namespaces` adds the NAMESPACE column.
pub fn render_requests(
    requests: &[AccessRequest],
    format: OutputFormat,
    all_namespaces: bool,
) -> Result<String, OutputError> {
    let objects = || -> Result<Vec<serde_json::Value>, OutputError> {
        requests
            .iter()
            .map(|r| {
                let typed = AccessRequest {
                    types: Some(super::type_meta::<AccessRequest>()),
                    ..r.clone()
                };
                serde_json::to_value(typed).map_err(OutputError::Json)
            })
            .collect()
    };
    match format {
        OutputFormat::Json | OutputFormat::Yaml => render(&objects()?, format),
        OutputFormat::Table => Ok(table(requests, false, all_namespaces)),
        OutputFormat::Wide => Ok(table(requests, true, all_namespaces)),
        OutputFormat::Markdown | OutputFormat::Text | OutputFormat::Sarif => {
            Err(OutputError::Unsupported(format))
        }
    }
}

fn header(wide: bool, all_namespaces: bool) -> Vec<String> {
    let mut header = vec![
        "NAME",
        "REQUESTER",
        "ACCESS",
        "TTL",
        "INCIDENT",
        "PHASE",
        "EXPIRES-AT",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.extend(["SUBJECTS", "REASON", "MESSAGE"]);
    }
    header.iter().map(|h| (*h).to_owned()).collect()
}

fn table(requests: &[AccessRequest], wide: bool, all_namespaces: bool) -> String {
    let mut rows = vec![header(wide, all_namespaces)];
    for r in requests {
        rows.push(row(r, wide, all_namespaces));
    }
    align(&rows, &widths(&rows))
}

/// `kubejit requests --watch`: prints what changed since the last batch. A table prints its header
/// once and then a row whenever what the row shows changes (as `kubectl get --watch`); JSON prints
/// one compact object per line and YAML one document, whenever the object's resourceVersion changes.
#[derive(Debug)]
pub struct WatchPrinter {
    format: OutputFormat,
    all_namespaces: bool,
    widths: Option<Vec<usize>>,
    /// What was last printed for each (namespace, name): the row, or the resourceVersion.
    last: std::collections::HashMap<(String, String), String>,
}

impl WatchPrinter {
    pub fn new(format: OutputFormat, all_namespaces: bool) -> Result<Self, OutputError> {
        match format {
            OutputFormat::Table | OutputFormat::Wide | OutputFormat::Json | OutputFormat::Yaml => {
                Ok(Self {
                    format,
                    all_namespaces,
                    widths: None,
                    last: std::collections::HashMap::new(),
                })
            }
            OutputFormat::Markdown | OutputFormat::Text | OutputFormat::Sarif => {
                Err(OutputError::Unsupported(format))
            }
        }
    }

    /// The text to print for `batch` (empty when nothing shown changed).
    pub fn print(&mut self, batch: &[AccessRequest]) -> Result<String, OutputError> {
        let wide = self.format == OutputFormat::Wide;
        let mut rows = Vec::new();
        let mut out = String::new();
        for r in batch {
            let key = (
                r.metadata.namespace.clone().unwrap_or_default(),
                r.metadata.name.clone().unwrap_or_default(),
            );
            let (seen, text) = match self.format {
                OutputFormat::Table | OutputFormat::Wide => {
                    let cells = row(r, wide, self.all_namespaces);
                    (cells.join("\t"), Some(cells))
                }
                OutputFormat::Json
                | OutputFormat::Yaml
                | OutputFormat::Markdown
                | OutputFormat::Text
                | OutputFormat::Sarif => (
                    r.metadata.resource_version.clone().unwrap_or_default(),
                    None,
                ),
            };
            if self.last.get(&key) == Some(&seen) {
                continue;
            }
            self.last.insert(key, seen);
            match text {
                Some(cells) => rows.push(cells),
                None => out.push_str(&self.object(r)?),
            }
        }
        if rows.is_empty() {
            return Ok(out);
        }
        if self.widths.is_none() {
            rows.insert(0, header(wide, self.all_namespaces));
        }
        // Columns only grow: earlier rows stay as printed, later ones line up with them when they fit.
        let mut all = rows.clone();
        all.push(
            self.widths
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|w| " ".repeat(*w))
                .collect(),
        );
        let widths = widths(&all);
        self.widths = Some(widths.clone());
        Ok(align(&rows, &widths))
    }

    fn object(&self, r: &AccessRequest) -> Result<String, OutputError> {
        let typed = AccessRequest {
            types: Some(super::type_meta::<AccessRequest>()),
            ..r.clone()
        };
        match self.format {
            OutputFormat::Json => {
                let mut line = serde_json::to_string(&typed).map_err(OutputError::Json)?;
                line.push('\n');
                Ok(line)
            }
            OutputFormat::Yaml => {
                let value = serde_json::to_value(typed).map_err(OutputError::Json)?;
                render(&[value], OutputFormat::Yaml)
            }
            other @ (OutputFormat::Table
            | OutputFormat::Wide
            | OutputFormat::Markdown
            | OutputFormat::Text
            | OutputFormat::Sarif) => Err(OutputError::Unsupported(other)),
        }
    }
}

/// Untrusted strings (names, reasons, incidents) are escaped: a table cell must read as written.
fn row(r: &AccessRequest, wide: bool, all_namespaces: bool) -> Vec<String> {
    let cell = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            text::escape_bounded(s, 64)
        }
    };
    let spec = &r.spec;
    let status = r.status.clone().unwrap_or_default();
    let access = match &spec.role {
        Some(role) => format!("{}/{}", role.kind.as_str(), role.name),
        None => format!("certificate:{}", spec.certificate_groups.join(",")),
    };
    let mut out = vec![
        cell(r.metadata.name.as_deref().unwrap_or_default()),
        cell(&spec.requester.username),
        cell(&access),
        cell(spec.ttl.as_deref().unwrap_or_default()),
        cell(spec.incident.as_deref().unwrap_or_default()),
        status
            .phase
            .map_or_else(|| "-".to_owned(), |p| p.as_str().to_owned()),
        status
            .expires_at
            .map_or_else(|| "-".to_owned(), kubejit_core::format_expires_at),
    ];
    if all_namespaces {
        out.insert(0, cell(r.metadata.namespace.as_deref().unwrap_or_default()));
    }
    if wide {
        let subjects = spec.subjects.as_ref().map_or_else(
            || format!("user:{}", spec.requester.username),
            |s| {
                let users = s.users.iter().map(|u| format!("user:{u}"));
                let groups = s.groups.iter().map(|g| format!("group:{g}"));
                users.chain(groups).collect::<Vec<_>>().join(",")
            },
        );
        out.extend([
            cell(&subjects),
            cell(&spec.reason),
            cell(status.message.as_deref().unwrap_or_default()),
        ]);
    }
    out
}

fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

fn align(rows: &[Vec<String>], widths: &[usize]) -> String {
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn requests() -> Vec<AccessRequest> {
        let role = json!({
            "metadata": {"name": "oncall-debug-x7k2p", "namespace": "payments"},
            "spec": {"requester": {"username": "carol", "groups": ["oncall-checkout"]},
                     "role": {"kind": "ClusterRole", "name": "oncall-debug"},
                     "ttl": "1h", "incident": "INC-12345", "reason": "checkout latency"},
            "status": {"phase": "Active", "message": "access granted",
                       "expiresAt": "2030-01-02T11:00:00Z"}
        });
        let cert = json!({
            "metadata": {"name": "certificate-q9", "namespace": "kubejit-system"},
            "spec": {"requester": {"username": "bob\u{202e}"},
                     "certificateGroups": ["payments-debug", "payments-logs"],
                     "subjects": {"users": ["bob"], "groups": ["oncall"]},
                     "reason": "logs"}
        });
        [role, cert]
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect()
    }

    #[test]
    fn table_and_wide() {
        let table = render_requests(&requests(), OutputFormat::Table, false).unwrap();
        insta::assert_snapshot!("requests_table", table);
        let wide = render_requests(&requests(), OutputFormat::Wide, true).unwrap();
        insta::assert_snapshot!("requests_wide_all_namespaces", wide);
    }

    /// The watch prints the header and the listed rows, then only rows whose cells changed.
    #[test]
    fn watch_prints_rows_that_changed() {
        let mut listed = requests();
        let mut printer = WatchPrinter::new(OutputFormat::Table, false).unwrap();
        let first = printer.print(&listed).unwrap();
        assert_eq!(
            first,
            render_requests(&listed, OutputFormat::Table, false).unwrap()
        );
        assert_eq!(printer.print(&listed[..1]).unwrap(), "", "nothing changed");
        listed[1].status = serde_json::from_value(json!({"phase": "Denied"})).unwrap();
        let changed = printer.print(&listed).unwrap();
        assert_eq!(changed.lines().count(), 1, "{changed}");
        assert!(
            changed.starts_with("certificate-q9 ") && changed.contains(" Denied "),
            "{changed}"
        );
        // It lines up with the header printed first.
        let header = first.lines().next().unwrap();
        assert_eq!(
            changed.find("Denied"),
            header.find("PHASE"),
            "{first}{changed}"
        );
    }

    /// `-o json` under --watch: one compact object per line, once per resourceVersion.
    #[test]
    fn watch_json_is_one_object_per_line_per_version() {
        let mut listed = requests();
        listed[0].metadata.resource_version = Some("1".to_owned());
        let mut printer = WatchPrinter::new(OutputFormat::Json, true).unwrap();
        let out = printer.print(&listed).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["kind"], "AccessRequest");
        }
        assert_eq!(printer.print(&listed[..1]).unwrap(), "");
        listed[0].metadata.resource_version = Some("2".to_owned());
        assert_eq!(printer.print(&listed[..1]).unwrap().lines().count(), 1);
        assert!(WatchPrinter::new(OutputFormat::Markdown, false).is_err());
    }

    /// JSON is what `kubectl apply -f` reads back: typed objects with apiVersion and kind.
    #[test]
    fn json_is_a_list_of_typed_objects() {
        let out = render_requests(&requests(), OutputFormat::Json, false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"][0]["kind"], "AccessRequest");
        assert_eq!(v["items"][0]["apiVersion"], "kubejit.dev/v1alpha1");
        assert_eq!(v["items"][0]["status"]["phase"], "Active");
    }
}
