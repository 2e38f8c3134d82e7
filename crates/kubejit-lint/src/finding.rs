//! One finding: which rule, how bad, who, through which binding and role, the exact rule, the fix.

use std::fmt;

use crate::inventory::Origin;
use crate::rules::{RuleId, Severity};

/// An object a finding names: `RoleBinding payments/oncall`, `ClusterRole edit`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The rule of a role, audit policy or AccessPolicy (a grant rule) a finding is about: its index and
/// its text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleRef {
    pub index: usize,
    pub text: String,
}

/// One finding. Fields are ordered so that sorting groups by rule, then severity, then subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// `User:alice` etc.; `None` for findings about a role or policy alone.
    pub subject: Option<String>,
    pub binding: Option<ObjectRef>,
    pub role: Option<ObjectRef>,
    pub policy_rule: Option<RuleRef>,
    pub message: String,
    /// Where to point a reader: the rule's line in the role's manifest, else the binding's.
    pub origin: Origin,
}

impl Finding {
    pub fn fix(&self) -> &'static str {
        self.rule.fix()
    }

    /// What identifies a finding across runs and sources (live and offline agree on it).
    pub fn key(&self) -> String {
        let part = |o: &Option<ObjectRef>| o.as_ref().map(ToString::to_string).unwrap_or_default();
        format!(
            "{} {} | {} | {} | {} | {}",
            self.rule,
            self.severity,
            self.subject.as_deref().unwrap_or(""),
            part(&self.binding),
            part(&self.role),
            self.policy_rule
                .as_ref()
                .map(|r| format!("rules[{}] {}", r.index, r.text))
                .unwrap_or_default()
        )
    }
}
