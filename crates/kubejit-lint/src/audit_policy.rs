//! KJL018: an apiserver audit policy (`audit.k8s.io/v1` `Policy`) must record the requests that
//! give or use debug access. The apiserver applies the first rule that matches; no match is level None.

use serde::Deserialize;

use crate::finding::{Finding, ObjectRef, RuleRef};
use crate::inventory::{Located, Origin};
use crate::rules::RuleId;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPolicy {
    #[serde(default)]
    pub rules: Vec<AuditRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRule {
    pub level: String,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// The requests whose record matters for debug access: (verb, group, resource/subresource).
pub const WATCHED: [(&str, &str, &str); 8] = [
    ("create", "", "pods/exec"),
    ("create", "", "pods/attach"),
    ("create", "", "pods/portforward"),
    (
        "update",
        "certificates.k8s.io",
        "certificatesigningrequests/approval",
    ),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ("patch", "rbac.authorization.k8s.io", "rolebindings"),
    ("delete", "rbac.authorization.k8s.io", "rolebindings"),
];

/// How a rule matches one of the watched requests.
#[derive(Debug, PartialEq, Eq)]
enum Match {
    No,
    /// Only for some users, groups, namespaces or names.
    Some,
    All,
}

impl AuditRule {
    fn matches(&self, verb: &str, group: &str, resource: &str) -> Match {
        if !self.verbs.is_empty() && !self.verbs.iter().any(|v| v == verb) {
            return Match::No;
        }
        if self.resources.is_empty() && !self.non_resource_urls.is_empty() {
            return Match::No;
        }
        let mut narrowed =
            !self.users.is_empty() || !self.user_groups.is_empty() || !self.namespaces.is_empty();
        if !self.resources.is_empty() {
            let hit = self.resources.iter().find(|gr| {
                (gr.group == group || gr.group == "*") && resource_matches(&gr.resources, resource)
            });
            match hit {
                None => return Match::No,
                Some(gr) => narrowed |= !gr.resource_names.is_empty(),
            }
        }
        if narrowed { Match::Some } else { Match::All }
    }

    fn text(&self) -> String {
        let mut parts = vec![format!("level: {}", self.level)];
        if !self.verbs.is_empty() {
            parts.push(format!("verbs: [{}]", self.verbs.join(", ")));
        }
        let resources: Vec<String> = self
            .resources
            .iter()
            .map(|gr| {
                format!(
                    "{{group: {:?}, resources: [{}]}}",
                    gr.group,
                    gr.resources.join(", ")
                )
            })
            .collect();
        if !resources.is_empty() {
            parts.push(format!("resources: [{}]", resources.join(", ")));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// Audit policy resource patterns: empty or `*` is everything, `pods/*` every pods subresource,
/// `*/exec` every exec subresource.
fn resource_matches(patterns: &[String], resource: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let (name, sub) = match resource.split_once('/') {
        Some((name, sub)) => (name, Some(sub)),
        None => (resource, None),
    };
    patterns.iter().any(|p| {
        p == "*"
            || p == resource
            || sub.is_some() && p.strip_suffix("/*") == Some(name)
            || sub.is_some_and(|sub| p.strip_prefix("*/") == Some(sub))
    })
}

pub fn check(policy: &Located<AuditPolicy>) -> Vec<Finding> {
    let name = policy
        .origin
        .file
        .clone()
        .unwrap_or_else(|| "audit policy".to_owned());
    let reference = ObjectRef::new("Policy", None, &name);
    let mut out = Vec::new();
    for (verb, group, resource) in WATCHED {
        let what = format!(
            "{verb} {}{resource}",
            if group.is_empty() {
                String::new()
            } else {
                format!("{group} ")
            }
        );
        let mut dropped = None;
        let mut covered = false;
        for (i, rule) in policy.object.rules.iter().enumerate() {
            let m = rule.matches(verb, group, resource);
            if m == Match::No {
                continue;
            }
            if rule.level == "None" {
                dropped = Some(i);
                break;
            }
            if m == Match::All {
                covered = true;
                break;
            }
        }
        let message = match dropped {
            Some(i) => format!("rules[{i}] records {what} at level None"),
            None if !covered => format!("no rule records {what} (no match is level None)"),
            None => continue,
        };
        out.push(Finding {
            rule: RuleId::AuditDropsDebug,
            severity: RuleId::AuditDropsDebug.default_severity(),
            subject: None,
            binding: None,
            role: Some(reference.clone()),
            policy_rule: dropped.map(|i| RuleRef {
                index: i,
                text: policy.object.rules[i].text(),
            }),
            message,
            origin: Origin {
                line: dropped.map_or(policy.origin.line, |i| policy.origin.rule_line(i)),
                ..policy.origin.clone()
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(yaml: &str) -> Vec<String> {
        let policy: AuditPolicy = serde_saphyr::from_str(yaml).unwrap();
        check(&Located::live(policy))
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn a_policy_that_drops_exec_is_a_finding() {
        let found = run(
            "rules:\n- level: None\n  resources: [{group: '', resources: ['pods/*']}]\n- level: Metadata\n",
        );
        assert_eq!(
            found,
            [
                "rules[0] records create pods/exec at level None",
                "rules[0] records create pods/attach at level None",
                "rules[0] records create pods/portforward at level None",
            ]
        );
    }

    #[test]
    fn a_policy_that_records_everything_is_clean() {
        assert!(run("rules:\n- level: None\n  users: [system:kube-proxy]\n  verbs: [watch]\n- level: Metadata\n").is_empty());
    }

    #[test]
    fn no_matching_rule_is_level_none() {
        let found =
            run("rules:\n- level: Metadata\n  resources: [{group: '', resources: [pods/exec]}]\n");
        assert_eq!(found.len(), 7, "{found:?}");
        assert!(found.iter().all(|m| m.starts_with("no rule records")));
    }

    #[test]
    fn a_narrowed_drop_before_the_catch_all_still_drops_some() {
        let found = run(
            "rules:\n- level: None\n  namespaces: [kube-system]\n  resources: [{group: '', resources: ['*/exec']}]\n- level: Metadata\n",
        );
        assert_eq!(found, ["rules[0] records create pods/exec at level None"]);
    }
}
