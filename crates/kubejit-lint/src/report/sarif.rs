//! `-o sarif`: SARIF 2.1.0 (`runs[].tool.driver.rules`, `results[]` with ruleId, level, message and
//! locations), so code-scanning UIs show findings on the manifest line that causes them.

use serde_json::{Value, json};

use super::Outcome;
use crate::finding::Finding;
use crate::rules::RuleId;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn sarif(outcome: &Outcome) -> Value {
    let rules: Vec<Value> = RuleId::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.title(),
                "shortDescription": {"text": r.title()},
                "help": {"text": r.fix()},
                "helpUri": "https://github.com/kubejit/kubejit/blob/main/docs/lint.md#rules",
                "defaultConfiguration": {"level": r.default_severity().sarif_level()},
                "properties": {"severity": r.default_severity().as_str()},
            })
        })
        .collect();
    let results: Vec<Value> = outcome.findings.iter().map(result).collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubejit-lint",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kubejit/kubejit/blob/main/docs/lint.md",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn result(f: &Finding) -> Value {
    let index = RuleId::ALL
        .iter()
        .position(|r| *r == f.rule)
        .unwrap_or_default();
    let object = f
        .binding
        .as_ref()
        .or(f.role.as_ref())
        .map(ToString::to_string);
    let mut location = json!({});
    if let Some(file) = &f.origin.file {
        location["physicalLocation"] = json!({
            "artifactLocation": {"uri": file},
            "region": {"startLine": f.origin.line.max(1)},
        });
    }
    if let Some(object) = object {
        location["logicalLocations"] = json!([{"fullyQualifiedName": object, "kind": "object"}]);
    }
    json!({
        "ruleId": f.rule.id(),
        "ruleIndex": index,
        "level": f.severity.sarif_level(),
        "message": {"text": format!("{} Fix: {}", f.message, f.fix())},
        "locations": [location],
        "properties": {
            "severity": f.severity.as_str(),
            "subject": f.subject,
            "rule": f.policy_rule.as_ref().map(|r| json!({"index": r.index, "text": r.text})),
        },
    })
}
