//! Suppressions of known exceptions: a file (`--suppressions`) or the annotation
//! `kubejit.dev/lint-ignore` on a binding or role. Each names one rule and carries a reason and an
//! expiry date; a malformed or expired suppression suppresses nothing and is a finding (KJL020).
//!
//! Annotation value: one suppression per line, `KJL005; reason=break-glass for the DB team; expires=2027-01-31`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::check_bindings::reference;
use crate::error::LintError;
use crate::finding::{Finding, ObjectRef};
use crate::inventory::{Inventory, Origin};
use crate::rules::RuleId;

pub const ANNOTATION: &str = "kubejit.dev/lint-ignore";

/// One valid, unexpired suppression.
#[derive(Debug, Clone)]
pub struct Suppression {
    pub rule: RuleId,
    pub reason: String,
    pub expires: Date,
    pub binding: Option<ObjectRef>,
    pub role: Option<ObjectRef>,
    pub subject: Option<String>,
}

impl Suppression {
    fn covers(&self, f: &Finding) -> bool {
        self.rule == f.rule
            && f.rule != RuleId::BadSuppression
            && self
                .binding
                .as_ref()
                .is_none_or(|b| f.binding.as_ref() == Some(b))
            && self
                .role
                .as_ref()
                .is_none_or(|r| f.role.as_ref() == Some(r))
            && self
                .subject
                .as_ref()
                .is_none_or(|s| f.subject.as_ref() == Some(s))
    }
}

/// Suppressions read so far, and the findings about the broken ones.
#[derive(Debug, Default)]
pub struct Suppressions {
    pub valid: Vec<Suppression>,
    pub broken: Vec<Finding>,
}

/// A finding and the reason it is suppressed.
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub finding: Finding,
    pub reason: String,
    pub expires: Date,
}

impl Suppressions {
    /// Splits `findings` into kept and suppressed; broken suppressions join the kept findings.
    pub fn apply(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Suppressed>) {
        let mut kept = Vec::new();
        let mut suppressed = Vec::new();
        for finding in findings {
            match self.valid.iter().find(|s| s.covers(&finding)) {
                Some(s) => suppressed.push(Suppressed {
                    finding,
                    reason: s.reason.clone(),
                    expires: s.expires,
                }),
                None => kept.push(finding),
            }
        }
        kept.extend(self.broken.iter().cloned());
        kept.sort();
        kept.dedup();
        (kept, suppressed)
    }

    fn add(
        &mut self,
        parsed: Result<Suppression, String>,
        source: &ObjectRef,
        origin: &Origin,
        now: OffsetDateTime,
    ) {
        let is_binding = source.kind.ends_with("Binding");
        let problem = match parsed {
            Ok(s) if s.expires > now.date() => {
                self.valid.push(s);
                return;
            }
            Ok(s) => format!("suppression of {} expired on {}", s.rule, s.expires),
            Err(why) => format!("malformed suppression: {why}"),
        };
        self.broken.push(Finding {
            rule: RuleId::BadSuppression,
            severity: RuleId::BadSuppression.default_severity(),
            subject: None,
            binding: is_binding.then(|| source.clone()),
            role: (!is_binding).then(|| source.clone()),
            policy_rule: None,
            message: problem,
            origin: origin.clone(),
        });
    }

    /// The `kubejit.dev/lint-ignore` annotations of every binding, role and AccessPolicy.
    pub fn from_annotations(inv: &Inventory, now: OffsetDateTime) -> Self {
        let mut out = Self::default();
        let mut visit = |kind: &str, meta: &ObjectMeta, origin: &Origin, is_binding: bool| {
            let Some(value) = meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION)) else {
                return;
            };
            let object = reference(kind, meta);
            for line in value.lines().filter(|l| !l.trim().is_empty()) {
                let parsed = parse_annotation_line(line).map(|mut s| {
                    if is_binding {
                        s.binding = Some(object.clone());
                    } else {
                        s.role = Some(object.clone());
                    }
                    s
                });
                out.add(parsed, &object, origin, now);
            }
        };
        for r in &inv.roles {
            visit("Role", &r.object.metadata, &r.origin, false);
        }
        for r in &inv.cluster_roles {
            visit("ClusterRole", &r.object.metadata, &r.origin, false);
        }
        for b in &inv.role_bindings {
            visit("RoleBinding", &b.object.metadata, &b.origin, true);
        }
        for b in &inv.cluster_role_bindings {
            visit("ClusterRoleBinding", &b.object.metadata, &b.origin, true);
        }
        // A policy's findings name it where a binding would be (it is what grants).
        for p in &inv.access_policies {
            visit("AccessPolicy", &p.object.metadata, &p.origin, true);
        }
        out
    }

    /// A suppressions file (format in docs/lint.md). An unreadable file is an error; a bad entry
    /// is a finding.
    pub fn read_file(
        &mut self,
        text: &str,
        file: &str,
        now: OffsetDateTime,
    ) -> Result<(), LintError> {
        let parsed: FileFormat =
            serde_saphyr::from_str(text).map_err(|e| LintError::Suppressions {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
        let source = ObjectRef::new("Suppressions", None, file);
        for (i, entry) in parsed.suppressions.into_iter().enumerate() {
            let origin = Origin {
                file: Some(file.to_owned()),
                line: 1,
                rule_lines: Vec::new(),
            };
            let parsed = entry
                .into_suppression()
                .map_err(|why| format!("suppressions[{i}]: {why}"));
            self.add(parsed, &source, &origin, now);
        }
        Ok(())
    }
}

/// `KJL005; reason=…; expires=2027-01-31`.
pub fn parse_annotation_line(line: &str) -> Result<Suppression, String> {
    let mut parts = line.split(';').map(str::trim);
    let rule: RuleId = parts.next().unwrap_or_default().parse()?;
    let (mut reason, mut expires) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("reason", value)) => reason = Some(value.trim().to_owned()),
            Some(("expires", value)) => expires = Some(value.trim().to_owned()),
            _ => {
                return Err(format!(
                    "unexpected {part:?} (expected reason=… or expires=YYYY-MM-DD)"
                ));
            }
        }
    }
    build(rule, reason, expires)
}

fn build(
    rule: RuleId,
    reason: Option<String>,
    expires: Option<String>,
) -> Result<Suppression, String> {
    let reason = reason
        .filter(|r| !r.is_empty())
        .ok_or("a reason is mandatory")?;
    let expires = expires.ok_or("an expiry date (expires=YYYY-MM-DD) is mandatory")?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let expires =
        Date::parse(&expires, &format).map_err(|e| format!("expires {expires:?}: {e}"))?;
    Ok(Suppression {
        rule,
        reason,
        expires,
        binding: None,
        role: None,
        subject: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    suppressions: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    rule: String,
    reason: Option<String>,
    expires: Option<String>,
    /// `RoleBinding NAMESPACE/NAME` or `ClusterRoleBinding NAME`, as findings print it.
    binding: Option<String>,
    role: Option<String>,
    /// `User:alice`, `Group:oncall`, `ServiceAccount:ns/name`.
    subject: Option<String>,
}

impl FileEntry {
    fn into_suppression(self) -> Result<Suppression, String> {
        let mut s = build(self.rule.parse()?, self.reason, self.expires)?;
        s.binding = self.binding.as_deref().map(parse_ref).transpose()?;
        s.role = self.role.as_deref().map(parse_ref).transpose()?;
        s.subject = self.subject;
        if s.binding.is_none() && s.role.is_none() && s.subject.is_none() {
            return Err(
                "name a binding, role or subject: a suppression of a whole rule hides too much"
                    .to_owned(),
            );
        }
        Ok(s)
    }
}

fn parse_ref(text: &str) -> Result<ObjectRef, String> {
    let (kind, rest) = text
        .split_once(' ')
        .ok_or_else(|| format!("expected \"KIND NAME\", not {text:?}"))?;
    match (kind, rest.split_once('/')) {
        ("Role" | "RoleBinding" | "Deployment", Some((ns, name))) => {
            Ok(ObjectRef::new(kind, Some(ns), name))
        }
        ("ClusterRole" | "ClusterRoleBinding" | "AccessPolicy", None) => {
            Ok(ObjectRef::new(kind, None, rest))
        }
        _ => Err(format!(
            "expected \"RoleBinding NS/NAME\" or \"ClusterRoleBinding NAME\" (or Role/ClusterRole, AccessPolicy NAME, Deployment NS/NAME), not {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_lines() {
        let ok = parse_annotation_line("KJL005; reason=db team break-glass; expires=2027-01-31");
        let ok = ok.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (ok.rule, ok.reason.as_str()),
            (RuleId::DebugBindingExpiry, "db team break-glass")
        );
        for bad in [
            "KJL005",
            "KJL005; reason=x",
            "KJL005; expires=2027-01-31",
            "KJL005; reason=; expires=2027-01-31",
            "KJL999; reason=x; expires=2027-01-31",
            "KJL005; reason=x; expires=31/01/2027",
            "KJL005; reason=x; expires=2027-01-31; until=never",
        ] {
            assert!(parse_annotation_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_entries_must_name_what_they_cover() {
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let mut s = Suppressions::default();
        let text = "suppressions:\n- {rule: KJL008, reason: x, expires: 2027-01-01}\n- {rule: KJL008, reason: x, expires: 2026-11-30, subject: 'User:a'}\n- {rule: KJL008, reason: x, expires: 2026-12-01, role: ClusterRole r}\n";
        s.read_file(text, "s.yaml", now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.valid.len(), 1);
        let messages: Vec<&str> = s.broken.iter().map(|f| f.message.as_str()).collect();
        assert!(messages[0].contains("name a binding"), "{messages:?}");
        assert!(
            messages[1].contains("expired on 2026-11-30"),
            "{messages:?}"
        );
        assert!(
            s.read_file("suppressions: [{rule: KJL008, color: red}]", "s.yaml", now)
                .is_err()
        );
    }

    /// kubejit's own objects are named as findings print them; a namespace where there is none
    /// (or none where there is one) is a broken entry, not a wider match.
    #[test]
    fn file_entries_name_access_policies_and_deployments() {
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let mut s = Suppressions::default();
        let text = "suppressions:\n- {rule: KJL022, reason: x, expires: 2027-01-01, binding: AccessPolicy p}\n- {rule: KJL023, reason: x, expires: 2027-01-01, role: Deployment kubejit-system/kubejit-controller}\n- {rule: KJL022, reason: x, expires: 2027-01-01, binding: AccessPolicy ns/p}\n- {rule: KJL023, reason: x, expires: 2027-01-01, role: Deployment d}\n";
        s.read_file(text, "s.yaml", now)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.valid.len(), 2);
        assert_eq!(s.broken.len(), 2);
    }
}
