//! What one RBAC rule allows, with Kubernetes' own matching (`rbac/v1` `VerbMatches`,
//! `APIGroupMatches`, `ResourceMatches`): `*` means every verb, group or resource (every
//! subresource included), `*/sub` every resource's `sub`, and nothing else is a pattern —
//! `pods/*` names a subresource called `*`, which does not exist.

use std::fmt::Write as _;

use k8s_openapi::api::rbac::v1::PolicyRule;

pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// The subresources that open a shell or a socket into a pod, with the verb that uses them.
pub const DEBUG_ACCESS: [(&str, &str); 5] = [
    ("create", "pods/exec"),
    ("create", "pods/attach"),
    ("create", "pods/portforward"),
    ("update", "pods/ephemeralcontainers"),
    ("patch", "pods/ephemeralcontainers"),
];

fn list(l: &Option<Vec<String>>) -> &[String] {
    l.as_deref().unwrap_or_default()
}

pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == verb)
}

pub fn group_matches(rule: &PolicyRule, group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == "*" || g == group)
}

/// `resource` is `name` or `name/subresource`.
pub fn resource_matches(rule: &PolicyRule, resource: &str) -> bool {
    let sub = resource.split_once('/').map(|(_, sub)| sub);
    list(&rule.resources).iter().any(|r| {
        r == "*" || r == resource || sub.is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
    })
}

/// Whether the rule allows `verb` on `group`/`resource` for at least one object (resourceNames
/// narrow which objects; see [`narrowed`]).
pub fn allows(rule: &PolicyRule, verb: &str, group: &str, resource: &str) -> bool {
    verb_matches(rule, verb) && group_matches(rule, group) && resource_matches(rule, resource)
}

pub fn allows_any(rule: &PolicyRule, verbs: &[&str], group: &str, resources: &[&str]) -> bool {
    verbs
        .iter()
        .any(|v| resources.iter().any(|r| allows(rule, v, group, r)))
}

/// The debug powers the rule gives, as `verb resource` strings.
pub fn debug_access(rule: &PolicyRule) -> Vec<String> {
    DEBUG_ACCESS
        .iter()
        .filter(|(verb, resource)| allows(rule, verb, "", resource))
        .map(|(verb, resource)| format!("{verb} {resource}"))
        .collect()
}

pub fn is_wildcard(rule: &PolicyRule) -> bool {
    rule.verbs.iter().any(|v| v == "*")
        || list(&rule.resources).iter().any(|r| r == "*")
        || list(&rule.api_groups).iter().any(|g| g == "*")
}

/// " (only resourceNames …)" when the rule names its objects, so a reader sees the narrowing.
pub fn narrowed(rule: &PolicyRule) -> String {
    let names = list(&rule.resource_names);
    if names.is_empty() {
        String::new()
    } else {
        format!(" (only resourceNames {})", names.join(", "))
    }
}

/// The rule as one line of YAML flow style, as a reader would write it.
pub fn rule_text(rule: &PolicyRule) -> String {
    let mut out = String::from("{");
    let mut field = |name: &str, values: &[String]| {
        if values.is_empty() {
            return;
        }
        if out.len() > 1 {
            out.push_str(", ");
        }
        let quoted: Vec<String> = values
            .iter()
            .map(|v| {
                if v.is_empty() || v.contains(['*', ':', ',', '{', '[', '"', ' ']) {
                    format!("{v:?}")
                } else {
                    v.clone()
                }
            })
            .collect();
        let _ = write!(out, "{name}: [{}]", quoted.join(", "));
    };
    field("apiGroups", list(&rule.api_groups));
    field("resources", list(&rule.resources));
    field("resourceNames", list(&rule.resource_names));
    field("nonResourceURLs", list(&rule.non_resource_urls));
    field("verbs", &rule.verbs);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let own = |l: &[&str]| Some(l.iter().map(|s| (*s).to_owned()).collect());
        PolicyRule {
            api_groups: own(groups),
            resources: own(resources),
            verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn wildcards_mean_what_kubernetes_means() {
        let cases: &[(PolicyRule, &str, &str, &str, bool)] = &[
            (
                rule(&[""], &["*"], &["create"]),
                "create",
                "",
                "pods/exec",
                true,
            ),
            (
                rule(&[""], &["pods"], &["create"]),
                "create",
                "",
                "pods/exec",
                false,
            ),
            (
                rule(&[""], &["pods/*"], &["create"]),
                "create",
                "",
                "pods/exec",
                false,
            ),
            (
                rule(&[""], &["*/exec"], &["create"]),
                "create",
                "",
                "pods/exec",
                true,
            ),
            (
                rule(&[""], &["*/exec"], &["create"]),
                "create",
                "",
                "pods",
                false,
            ),
            (
                rule(&["*"], &["pods/exec"], &["*"]),
                "create",
                "",
                "pods/exec",
                true,
            ),
            (
                rule(&["apps"], &["pods/exec"], &["create"]),
                "create",
                "",
                "pods/exec",
                false,
            ),
            (
                rule(&[""], &["pods/exec"], &["get"]),
                "create",
                "",
                "pods/exec",
                false,
            ),
        ];
        for (rule, verb, group, resource, want) in cases {
            assert_eq!(
                allows(rule, verb, group, resource),
                *want,
                "{rule:?} {verb} {resource}"
            );
        }
    }

    #[test]
    fn rule_text_is_one_flow_line() {
        let mut r = rule(&[""], &["pods/exec"], &["create", "get"]);
        r.resource_names = Some(vec!["api".to_owned()]);
        assert_eq!(
            rule_text(&r),
            r#"{apiGroups: [""], resources: [pods/exec], resourceNames: [api], verbs: [create, get]}"#
        );
        assert_eq!(narrowed(&r), " (only resourceNames api)");
    }
}
