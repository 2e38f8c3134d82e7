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
        OutputFormat::Markdown | OutputFormat::Text => Err(OutputError::Unsupported(format)),
    }
}

fn table(requests: &[AccessRequest], wide: bool, all_namespaces: bool) -> String {
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
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    for r in requests {
        rows.push(row(r, wide, all_namespaces));
    }
    align(&rows)
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

fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
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
