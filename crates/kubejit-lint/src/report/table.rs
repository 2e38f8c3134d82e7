//! The default output: one block per finding, then a summary line.

use std::fmt::Write as _;

use kubejit_core::text::escape;

use super::Outcome;
use crate::rules::Severity;

pub fn table(outcome: &Outcome) -> String {
    let mut out = String::new();
    for f in &outcome.findings {
        let part = |o: &Option<crate::ObjectRef>| o.as_ref().map(ToString::to_string);
        let via = [part(&f.binding), part(&f.role)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" -> ");
        let _ = writeln!(
            out,
            "{:<8}  {}  {}{}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.subject
                .as_deref()
                .map(|s| format!("{}  ", escape(s)))
                .unwrap_or_default(),
            escape(&via)
        );
        let _ = writeln!(out, "          {}", escape(&f.message));
        if let Some(rule) = &f.policy_rule {
            let _ = writeln!(
                out,
                "          rules[{}]: {}",
                rule.index,
                escape(&rule.text)
            );
        }
        if let Some(file) = &f.origin.file {
            let _ = writeln!(out, "          at {}:{}", escape(file), f.origin.line);
        }
        let _ = writeln!(out, "          fix: {}", f.fix());
    }
    let count = |s: Severity| outcome.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "{} findings ({} critical, {} high, {} medium, {} low), {} suppressed",
        outcome.findings.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
        outcome.suppressed.len()
    );
    out
}
