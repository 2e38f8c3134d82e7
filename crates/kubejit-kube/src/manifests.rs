//! Builders for the API objects kubejit hands to `kubectl apply` or creates itself.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubejit_core::OncallRole;

use crate::keys;

fn labels(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (keys::MANAGED_BY.to_owned(), keys::MANAGER.to_owned()),
        (keys::COMPONENT.to_owned(), component.to_owned()),
    ])
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The namespaced on-call Role and the RoleBinding that gives it to the on-call groups.
pub fn oncall_role_manifests(spec: &OncallRole) -> (Role, RoleBinding) {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(spec.namespace.to_string()),
        labels: Some(labels("oncall-role")),
        ..ObjectMeta::default()
    };
    let role = Role {
        metadata: meta(spec.name.as_str()),
        rules: Some(
            spec.rules()
                .iter()
                .map(|r| PolicyRule {
                    api_groups: Some(strings(&r.api_groups)),
                    resources: Some(strings(&r.resources)),
                    verbs: strings(&r.verbs),
                    ..PolicyRule::default()
                })
                .collect(),
        ),
    };
    let binding = RoleBinding {
        metadata: meta(spec.binding_name().as_str()),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: spec.name.to_string(),
        },
        subjects: Some(
            spec.groups
                .iter()
                .map(|g| Subject {
                    api_group: Some("rbac.authorization.k8s.io".to_owned()),
                    kind: "Group".to_owned(),
                    name: g.to_string(),
                    namespace: None,
                })
                .collect(),
        ),
    };
    (role, binding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{OutputFormat, render};
    use kubejit_core::{GroupName, NamespaceName, ObjectName};

    #[test]
    fn yaml_snapshot() {
        let spec = OncallRole {
            name: ObjectName::parse("oncall-debug").unwrap(),
            namespace: NamespaceName::parse("payments").unwrap(),
            groups: vec![GroupName::parse("oncall-payments").unwrap()],
            ephemeral_containers: true,
        };
        let (role, binding) = oncall_role_manifests(&spec);
        let objects = [
            serde_json::to_value(&role).unwrap(),
            serde_json::to_value(&binding).unwrap(),
        ];
        insta::assert_snapshot!(render(&objects, OutputFormat::Yaml).unwrap());
    }
}
