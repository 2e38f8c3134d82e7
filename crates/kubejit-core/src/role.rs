//! The on-call debug Role: exactly the permissions an incident needs, as plain data.
//!
//! Why both `get` and `create` on the streaming subresources: kubectl >= 1.30 opens exec, attach and
//! port-forward as WebSocket GETs, while the apiserver (since 1.35) also authorizes `create` for them.
//! The integration tests prove each verb alone is not enough on the real apiserver.
//!
//! Ephemeral containers get `patch` besides `update`: `kubectl debug` adds the container with a
//! strategic-merge PATCH of `pods/ephemeralcontainers` (the subresource accepts nothing else than
//! new ephemeral containers either way), so `update` alone leaves `kubectl debug` Forbidden.

use serde::Serialize;

use crate::names::{GroupName, NamespaceName, ObjectName};

/// One RBAC rule, independent of any Kubernetes client library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    pub api_groups: Vec<&'static str>,
    pub resources: Vec<&'static str>,
    pub verbs: Vec<&'static str>,
}

/// Everything needed to render the on-call Role and its group RoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OncallRole {
    pub name: ObjectName,
    pub namespace: NamespaceName,
    pub groups: Vec<GroupName>,
    pub ephemeral_containers: bool,
}

/// Default Role (and RoleBinding) name.
pub const DEFAULT_ROLE_NAME: &str = "oncall-debug";

const READ: [&str; 3] = ["get", "list", "watch"];

impl OncallRole {
    /// The Role's rules. Read-only discovery plus the streaming subresources; nothing that writes
    /// to a workload except, when asked, adding an ephemeral debug container.
    pub fn rules(&self) -> Vec<PolicyRule> {
        let mut rules = vec![
            PolicyRule {
                api_groups: vec![""],
                resources: vec!["pods", "events"],
                verbs: READ.to_vec(),
            },
            PolicyRule {
                api_groups: vec!["apps"],
                resources: vec!["deployments", "replicasets"],
                verbs: READ.to_vec(),
            },
            PolicyRule {
                api_groups: vec![""],
                resources: vec!["pods/log"],
                verbs: vec!["get"],
            },
            PolicyRule {
                api_groups: vec![""],
                resources: vec!["pods/exec", "pods/attach", "pods/portforward"],
                verbs: vec!["get", "create"],
            },
        ];
        if self.ephemeral_containers {
            rules.push(PolicyRule {
                api_groups: vec![""],
                resources: vec!["pods/ephemeralcontainers"],
                verbs: vec!["update", "patch"],
            });
        }
        rules
    }

    /// The RoleBinding shares the Role's name: one pair per team and namespace, easy to find.
    pub fn binding_name(&self) -> &ObjectName {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(ephemeral: bool) -> OncallRole {
        OncallRole {
            name: ObjectName::parse(DEFAULT_ROLE_NAME).unwrap(),
            namespace: NamespaceName::parse("payments").unwrap(),
            groups: vec![GroupName::parse("oncall-payments").unwrap()],
            ephemeral_containers: ephemeral,
        }
    }

    #[test]
    fn no_write_verbs_beyond_streaming_and_ephemeral() {
        for ephemeral in [false, true] {
            for rule in role(ephemeral).rules() {
                for verb in &rule.verbs {
                    let allowed = match *verb {
                        "get" | "list" | "watch" => true,
                        "create" => rule.resources.iter().all(|r| {
                            matches!(*r, "pods/exec" | "pods/attach" | "pods/portforward")
                        }),
                        "update" | "patch" => rule.resources == ["pods/ephemeralcontainers"],
                        _ => false,
                    };
                    assert!(allowed, "verb {verb} on {:?}", rule.resources);
                }
                assert!(
                    !rule
                        .resources
                        .iter()
                        .any(|r| r.contains('*') || *r == "secrets")
                );
                assert!(!rule.verbs.contains(&"*"));
            }
        }
    }

    #[test]
    fn ephemeral_containers_only_when_asked() {
        let has = |r: &OncallRole| {
            r.rules()
                .iter()
                .any(|x| x.resources.contains(&"pods/ephemeralcontainers"))
        };
        assert!(!has(&role(false)));
        assert!(has(&role(true)));
    }

    #[test]
    fn streaming_needs_get_and_create() {
        let rules = role(false).rules();
        for sub in ["pods/exec", "pods/portforward"] {
            let verbs: Vec<_> = rules
                .iter()
                .filter(|r| r.resources.contains(&sub))
                .flat_map(|r| r.verbs.clone())
                .collect();
            assert!(
                verbs.contains(&"get") && verbs.contains(&"create"),
                "{sub}: {verbs:?}"
            );
        }
    }
}
