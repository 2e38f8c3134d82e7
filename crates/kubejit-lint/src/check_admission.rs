//! KJL021: the ValidatingAdmissionPolicies that back RBAC (kubejit's own stop anyone but its
//! controller from writing grants and request status) only act when bound with `Deny`; live, every
//! policy of kubejit's install must exist.

use std::collections::HashSet;

use crate::finding::{Finding, ObjectRef};
use crate::inventory::{Inventory, Origin};
use crate::rules::RuleId;

/// The ValidatingAdmissionPolicies kubejit's install (`deploy/`) creates.
pub fn kubejit_policies() -> Vec<String> {
    let mut names = Vec::new();
    for (_, text) in kubejit_kube::deploy::MANIFESTS {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).unwrap_or_default();
        names.extend(
            docs.iter()
                .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
                .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned)),
        );
    }
    names
}

pub fn check(inv: &Inventory) -> Vec<Finding> {
    let enforced: HashSet<&str> = inv
        .admission_bindings
        .iter()
        .map(|b| &b.object.spec)
        .filter(|spec| spec.validation_actions.iter().any(|a| a == "Deny"))
        .map(|spec| spec.policy_name.as_str())
        .collect();
    let finding = |name: &str, message: String, origin: &Origin| Finding {
        rule: RuleId::AdmissionNotEnforced,
        severity: RuleId::AdmissionNotEnforced.default_severity(),
        subject: None,
        binding: None,
        role: Some(ObjectRef::new("ValidatingAdmissionPolicy", None, name)),
        policy_rule: None,
        message,
        origin: origin.clone(),
    };
    let mut out = Vec::new();
    let mut present = HashSet::new();
    for policy in &inv.admission_policies {
        let name = policy.object.metadata.name.as_deref().unwrap_or_default();
        present.insert(name);
        if !enforced.contains(name) {
            let message = format!(
                "ValidatingAdmissionPolicy {name} has no binding with validationActions Deny: it rejects nothing"
            );
            out.push(finding(name, message, &policy.origin));
        }
    }
    // Offline input is a part of a cluster: what it lacks may exist. The live cluster is all of it.
    if !inv.offline {
        for name in kubejit_policies() {
            if !present.contains(name.as_str()) {
                let message = format!("kubejit's ValidatingAdmissionPolicy {name} is missing");
                out.push(finding(&name, message, &Origin::live()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubejit_installs_its_admission_policies() {
        let names = kubejit_policies();
        assert!(
            names.contains(&"kubejit-grant-annotations".to_owned()),
            "{names:?}"
        );
        assert!(names.len() >= 5, "{names:?}");
    }

    #[test]
    fn live_without_kubejits_policies_is_a_finding_offline_is_not() {
        let mut inv = Inventory::default();
        assert_eq!(check(&inv).len(), kubejit_policies().len());
        inv.offline = true;
        assert_eq!(check(&inv), []);
    }
}
