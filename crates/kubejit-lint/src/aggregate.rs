//! ClusterRole aggregation, computed the way kube-controller-manager's clusterrole-aggregation
//! controller does: for each selector in order, the matching ClusterRoles sorted by name (never the
//! role itself), their rules appended unless an equal rule is already there.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::inventory::Located;

/// Rewrites the rules of every aggregated ClusterRole. The controller reacts to its own writes, so
/// an aggregated role that selects another aggregated role sees that role's aggregated rules: this
/// repeats until nothing changes (bounded by the number of roles, as each round settles at least one).
pub fn aggregate(roles: &mut [Located<ClusterRole>]) {
    let mut order: Vec<usize> = (0..roles.len()).collect();
    order.sort_by(|&a, &b| {
        roles[a]
            .object
            .metadata
            .name
            .cmp(&roles[b].object.metadata.name)
    });
    for _ in 0..=roles.len() {
        let mut changed = false;
        for target in 0..roles.len() {
            let Some(selectors) = selectors(&roles[target].object) else {
                continue;
            };
            let rules = aggregated_rules(roles, &order, target, &selectors);
            if !rules_equal(
                &rules,
                roles[target].object.rules.as_deref().unwrap_or_default(),
            ) {
                roles[target].object.rules = Some(rules);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

fn selectors(role: &ClusterRole) -> Option<Vec<LabelSelector>> {
    role.aggregation_rule
        .as_ref()
        .map(|rule| rule.cluster_role_selectors.clone().unwrap_or_default())
}

fn aggregated_rules(
    roles: &[Located<ClusterRole>],
    order: &[usize],
    target: usize,
    selectors: &[LabelSelector],
) -> Vec<PolicyRule> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    let empty = BTreeMap::new();
    for selector in selectors {
        for &i in order {
            if i == target {
                continue;
            }
            let labels = roles[i].object.metadata.labels.as_ref().unwrap_or(&empty);
            if !selector_matches(selector, labels) {
                continue;
            }
            for rule in roles[i].object.rules.iter().flatten() {
                if !rules.iter().any(|r| rule_equal(r, rule)) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

/// `equality.Semantic.DeepEqual`: a missing list equals an empty one.
fn rule_equal(a: &PolicyRule, b: &PolicyRule) -> bool {
    let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
    a.verbs == b.verbs
        && list(&a.api_groups) == list(&b.api_groups)
        && list(&a.resources) == list(&b.resources)
        && list(&a.resource_names) == list(&b.resource_names)
        && list(&a.non_resource_urls) == list(&b.non_resource_urls)
}

fn rules_equal(a: &[PolicyRule], b: &[PolicyRule]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| rule_equal(x, y))
}

/// `metav1.LabelSelectorAsSelector` semantics. An empty selector matches everything; an operator
/// Kubernetes would reject matches nothing (fail closed: it aggregates no rules).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|expr| {
        let values = expr.values.as_deref().unwrap_or_default();
        let value = labels.get(&expr.key);
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn role(yaml: &str) -> Located<ClusterRole> {
        Located::live(serde_saphyr::from_str(yaml).unwrap())
    }

    fn names(role: &Located<ClusterRole>) -> Vec<String> {
        role.object
            .rules
            .iter()
            .flatten()
            .map(|r| r.resources.clone().unwrap_or_default().join(","))
            .collect()
    }

    #[test]
    fn rules_come_by_selector_then_name_deduplicated_and_nested() {
        let mut roles = vec![
            role(
                "metadata: {name: top}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: top}}]}\nrules: [{apiGroups: [''], resources: [stale], verbs: [get]}]",
            ),
            role(
                "metadata: {name: b, labels: {agg: top}}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get]}, {apiGroups: [''], resources: [secrets], verbs: [get]}]",
            ),
            role(
                "metadata: {name: a, labels: {agg: top}}\nrules: [{apiGroups: [''], resources: [secrets], verbs: [get]}]",
            ),
            role(
                "metadata: {name: mid, labels: {agg: top}}\naggregationRule: {clusterRoleSelectors: [{matchExpressions: [{key: agg, operator: In, values: [mid]}]}]}",
            ),
            role(
                "metadata: {name: leaf, labels: {agg: mid}}\nrules: [{apiGroups: [''], resources: [pods/exec], verbs: [create]}]",
            ),
            role(
                "metadata: {name: other, labels: {agg: nope}}\nrules: [{apiGroups: [''], resources: [nodes], verbs: [get]}]",
            ),
        ];
        aggregate(&mut roles);
        assert_eq!(names(&roles[0]), ["secrets", "pods", "pods/exec"]);
        assert_eq!(names(&roles[3]), ["pods/exec"]);
    }

    #[test]
    fn a_role_never_aggregates_itself_and_bad_operators_match_nothing() {
        let mut roles = vec![
            role(
                "metadata: {name: self, labels: {agg: x}}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: x}}]}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get]}]",
            ),
            role(
                "metadata: {name: odd}\naggregationRule: {clusterRoleSelectors: [{matchExpressions: [{key: agg, operator: Like, values: [x]}]}]}",
            ),
        ];
        aggregate(&mut roles);
        assert_eq!(names(&roles[0]), Vec::<String>::new());
        assert_eq!(names(&roles[1]), Vec::<String>::new());
    }
}
