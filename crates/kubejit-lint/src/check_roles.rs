//! The rules judged per role, whoever it is bound to: how a debug role is written.

use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::access::{self, WRITE_VERBS};
use crate::check_bindings::reference;
use crate::finding::{Finding, ObjectRef, RuleRef};
use crate::inventory::{Inventory, Origin};
use crate::rules::RuleId;

/// Roles Kubernetes creates and reconciles at start-up carry this annotation: they are the
/// platform's (judged when bound, not as written).
const BOOTSTRAP: &str = "rbac.authorization.kubernetes.io/autoupdate";

const DEBUG_SUBRESOURCES: [&str; 3] = ["pods/exec", "pods/attach", "pods/portforward"];
/// What a debug role may write: the debug subresources themselves.
const DEBUG_WRITES: [&str; 4] = [
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "pods/ephemeralcontainers",
];

pub fn check(inv: &Inventory) -> Vec<Finding> {
    let roles = inv.roles.iter().map(|r| {
        (
            "Role",
            &r.object.metadata,
            r.object.rules.as_deref(),
            &r.origin,
            false,
        )
    });
    let cluster_roles = inv.cluster_roles.iter().map(|r| {
        let aggregated = r.object.aggregation_rule.is_some();
        (
            "ClusterRole",
            &r.object.metadata,
            r.object.rules.as_deref(),
            &r.origin,
            aggregated,
        )
    });
    let mut out = Vec::new();
    for (kind, meta, rules, origin, aggregated) in roles.chain(cluster_roles) {
        // An aggregated role's rules are its sources' rules, judged there.
        if aggregated || is_bootstrap(meta) {
            continue;
        }
        let role = reference(kind, meta);
        check_role(&role, rules.unwrap_or_default(), origin, &mut out);
    }
    out
}

fn is_bootstrap(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(BOOTSTRAP))
        .is_some_and(|v| v == "true")
}

fn finding(
    role: &ObjectRef,
    rules: &[PolicyRule],
    origin: &Origin,
    rule: RuleId,
    index: usize,
    message: String,
) -> Finding {
    Finding {
        rule,
        severity: rule.default_severity(),
        subject: None,
        binding: None,
        role: Some(role.clone()),
        policy_rule: rules.get(index).map(|r| RuleRef {
            index,
            text: access::rule_text(r),
        }),
        message,
        origin: Origin {
            line: origin.rule_line(index),
            ..origin.clone()
        },
    }
}

fn check_role(role: &ObjectRef, rules: &[PolicyRule], origin: &Origin, out: &mut Vec<Finding>) {
    let can =
        |verb: &str, resource: &str| rules.iter().any(|r| access::allows(r, verb, "", resource));
    let get_only: Vec<&str> = DEBUG_SUBRESOURCES
        .into_iter()
        .filter(|res| can("get", res) && !can("create", res))
        .collect();
    if let Some(first) = get_only.first() {
        let index = rules
            .iter()
            .position(|r| access::allows(r, "get", "", first))
            .unwrap_or(0);
        let message = format!(
            "{role} allows get but not create on {}",
            get_only.join(", ")
        );
        out.push(finding(
            role,
            rules,
            origin,
            RuleId::DebugGetWithoutCreate,
            index,
            message,
        ));
    }
    let is_debug = rules.iter().any(|r| !access::debug_access(r).is_empty());
    for (index, rule) in rules.iter().enumerate() {
        if is_debug && writes_beyond_debug(rule) {
            let message = format!(
                "{role} gives debug access and writes ({})",
                rule.verbs.join(", ")
            );
            out.push(finding(
                role,
                rules,
                origin,
                RuleId::DebugRoleWrites,
                index,
                message,
            ));
        }
        for pattern in rule.resources.iter().flatten() {
            if pattern.ends_with("/*") && pattern != "*/*" {
                let message = format!("{role}: resource {pattern:?} matches nothing in RBAC");
                out.push(finding(
                    role,
                    rules,
                    origin,
                    RuleId::NoMatchPattern,
                    index,
                    message,
                ));
            }
        }
    }
}

/// A write verb on anything but the debug subresources.
pub(crate) fn writes_beyond_debug(rule: &PolicyRule) -> bool {
    let writes = rule
        .verbs
        .iter()
        .any(|v| v == "*" || WRITE_VERBS.contains(&v.as_str()));
    writes
        && rule
            .resources
            .iter()
            .flatten()
            .any(|r| !DEBUG_WRITES.contains(&r.as_str()))
}
