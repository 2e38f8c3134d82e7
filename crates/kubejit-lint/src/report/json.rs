//! `-o json`: findings and suppressed findings with every field, for scripts.

use serde_json::{Value, json as j};

use super::Outcome;
use crate::finding::{Finding, ObjectRef};

fn object(o: &Option<ObjectRef>) -> Value {
    match o {
        Some(o) => j!({"kind": o.kind, "namespace": o.namespace, "name": o.name}),
        None => Value::Null,
    }
}

pub(crate) fn finding(f: &Finding) -> Value {
    j!({
        "ruleId": f.rule.id(),
        "severity": f.severity.as_str(),
        "title": f.rule.title(),
        "subject": f.subject,
        "binding": object(&f.binding),
        "role": object(&f.role),
        "rule": f.policy_rule.as_ref().map(|r| j!({"index": r.index, "text": r.text})),
        "message": f.message,
        "fix": f.fix(),
        "location": f.origin.file.as_ref().map(|file| j!({"file": file, "line": f.origin.line})),
    })
}

pub fn json(outcome: &Outcome) -> Value {
    let suppressed: Vec<Value> = outcome
        .suppressed
        .iter()
        .map(|s| {
            let mut v = finding(&s.finding);
            v["suppression"] = j!({"reason": s.reason, "expires": s.expires.to_string()});
            v
        })
        .collect();
    j!({
        "findings": outcome.findings.iter().map(finding).collect::<Vec<_>>(),
        "suppressed": suppressed,
    })
}
