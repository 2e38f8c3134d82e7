//! `-o json`: findings and suppressed findings with every field, for scripts.
//!
//! Serialized straight to the writer (no `serde_json::Value` in between: at 30,000 objects the
//! tree cost more than the lint). Fields are declared in sorted order, the order a `Value` object
//! (a `BTreeMap`) printed them in, so the bytes did not change; `json_is_byte_identical_to_the_value_tree`
//! pins that.

use std::io;

use serde::Serialize;

use super::Outcome;
use crate::finding::{Finding, ObjectRef};
use crate::suppress::Suppressed;

#[derive(Serialize)]
struct Object<'a> {
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
}

impl<'a> From<&'a ObjectRef> for Object<'a> {
    fn from(o: &'a ObjectRef) -> Self {
        Self {
            kind: &o.kind,
            name: &o.name,
            namespace: o.namespace.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct Rule<'a> {
    index: usize,
    text: &'a str,
}

#[derive(Serialize)]
struct Location<'a> {
    file: &'a str,
    line: u64,
}

#[derive(Serialize)]
struct Suppression<'a> {
    expires: String,
    reason: &'a str,
}

/// One finding; keys in sorted order (see the module comment).
#[derive(Serialize)]
struct FindingOut<'a> {
    binding: Option<Object<'a>>,
    fix: &'static str,
    location: Option<Location<'a>>,
    message: &'a str,
    role: Option<Object<'a>>,
    rule: Option<Rule<'a>>,
    #[serde(rename = "ruleId")]
    rule_id: &'static str,
    severity: &'static str,
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression: Option<Suppression<'a>>,
    title: &'static str,
}

impl<'a> FindingOut<'a> {
    fn new(f: &'a Finding, suppression: Option<Suppression<'a>>) -> Self {
        Self {
            binding: f.binding.as_ref().map(Object::from),
            fix: f.fix(),
            location: f.origin.file.as_deref().map(|file| Location {
                file,
                line: f.origin.line,
            }),
            message: &f.message,
            role: f.role.as_ref().map(Object::from),
            rule: f.policy_rule.as_ref().map(|r| Rule {
                index: r.index,
                text: &r.text,
            }),
            rule_id: f.rule.id(),
            severity: f.severity.as_str(),
            subject: f.subject.as_deref(),
            suppression,
            title: f.rule.title(),
        }
    }

    fn suppressed(s: &'a Suppressed) -> Self {
        Self::new(
            &s.finding,
            Some(Suppression {
                expires: s.expires.to_string(),
                reason: &s.reason,
            }),
        )
    }
}

/// Serializes a slice lazily, one element at a time.
struct Seq<'a, T>(&'a [T], fn(&'a T) -> FindingOut<'a>);

impl<T> Serialize for Seq<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(self.1))
    }
}

#[derive(Serialize)]
struct Report<'a> {
    findings: Seq<'a, Finding>,
    suppressed: Seq<'a, Suppressed>,
}

/// Writes the report, pretty-printed (two-space indent), without a trailing newline.
pub fn json<W: io::Write>(outcome: &Outcome, out: W) -> Result<(), serde_json::Error> {
    let report = Report {
        findings: Seq(&outcome.findings, |f| FindingOut::new(f, None)),
        suppressed: Seq(&outcome.suppressed, FindingOut::suppressed),
    };
    serde_json::to_writer_pretty(out, &report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::{Value, json as j};

    use super::*;
    use crate::finding::RuleRef;
    use crate::inventory::Origin;
    use crate::rules::{RuleId, Severity};

    /// The renderer this module replaced, kept as the reference for the bytes.
    fn object(o: &Option<ObjectRef>) -> Value {
        match o {
            Some(o) => j!({"kind": o.kind, "namespace": o.namespace, "name": o.name}),
            None => Value::Null,
        }
    }

    fn finding(f: &Finding) -> Value {
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

    fn value(outcome: &Outcome) -> Value {
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

    fn rendered(outcome: &Outcome) -> String {
        let mut out = Vec::new();
        json(outcome, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sample(file: Option<&str>, subject: Option<&str>, quote: &str) -> Finding {
        Finding {
            rule: RuleId::ALL[0],
            severity: Severity::High,
            subject: subject.map(str::to_owned),
            binding: Some(ObjectRef::new("RoleBinding", Some("ns"), "b")),
            role: Some(ObjectRef::new("ClusterRole", None, quote)),
            policy_rule: Some(RuleRef {
                index: 3,
                text: format!("{{verbs: [\"{quote}\"]}}"),
            }),
            message: format!("line\nbreak \u{1} {quote} \u{2028}"),
            origin: Origin {
                file: file.map(str::to_owned),
                line: 7,
                rule_lines: Vec::new(),
            },
        }
    }

    #[test]
    fn json_is_byte_identical_to_the_value_tree() {
        let empty = Outcome::default();
        assert_eq!(rendered(&empty), format!("{:#}", value(&empty)));
        let outcome = Outcome {
            findings: vec![
                sample(Some("a.yaml"), Some("User:alice"), "\"\\é"),
                sample(None, None, "x"),
            ],
            suppressed: vec![Suppressed {
                finding: sample(Some("b.yaml"), Some("Group:g"), "</script>"),
                reason: "team \"x\"".to_owned(),
                expires: time::macros::date!(2027 - 06 - 30),
            }],
        };
        let text = rendered(&outcome);
        assert_eq!(text, format!("{:#}", value(&outcome)));
        // And it is valid JSON of the documented shape.
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back["suppressed"][0]["suppression"]["expires"],
            "2027-06-30"
        );
        assert_eq!(back["findings"][1]["location"], Value::Null);
    }

    #[test]
    fn json_of_every_fixture_is_byte_identical_to_the_value_tree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rules");
        let mut inv = crate::Inventory::default();
        assert!(crate::load::load_path(&dir, &mut inv).is_empty());
        inv.aggregate();
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let outcome = crate::run(
            &inv,
            &crate::tests::fixture_settings(),
            now,
            crate::Suppressions::default(),
        );
        assert!(!outcome.findings.is_empty());
        assert_eq!(rendered(&outcome), format!("{:#}", value(&outcome)));
    }
}
