//! KJL024: kubejit's exempt identities (its controller's and gateway's ServiceAccounts) hold no
//! more than kubejit's install gives them, and the controller runs as its own ServiceAccount.

use std::collections::HashSet;
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::access;
use crate::check_bindings::reference;
use crate::check_kubejit::CONTROLLER;
use crate::finding::{Finding, ObjectRef, RuleRef};
use crate::inventory::{Inventory, Located, Origin};
use crate::rules::RuleId;
use crate::subject::{KUBEJIT_NAMESPACE, SubjectRef};

/// kubejit's install (`deploy/` and the gateway's RBAC), read once.
fn install() -> &'static Inventory {
    static INSTALL: OnceLock<Inventory> = OnceLock::new();
    INSTALL.get_or_init(|| {
        let mut inv = Inventory::default();
        let text = format!(
            "{}---\n{}",
            kubejit_kube::deploy::install_yaml(),
            include_str!("../../../deploy/gateway/rbac.yaml")
        );
        // The install is this crate's own input, pinned by a test to read without errors.
        let _ = crate::load::load_text(&text, "deploy", &mut inv);
        inv
    })
}

/// A binding's identity: kind, namespace, name and the role it names.
type BindingKey = (String, Option<String>, String, String, String);

fn binding_keys(inv: &Inventory) -> Vec<(BindingKey, Vec<SubjectRef>, &Origin)> {
    crate::check_bindings::bindings(inv)
        .map(|b| {
            // A ClusterRoleBinding has no namespace, whatever its manifest says.
            let namespace = (b.reference.kind == "RoleBinding")
                .then(|| b.meta.namespace.clone())
                .flatten();
            let subjects = b
                .subjects
                .iter()
                .filter_map(|s| SubjectRef::from_subject(s, namespace.as_deref()))
                .collect();
            let key = (
                b.reference.kind,
                namespace,
                b.meta.name.clone().unwrap_or_default(),
                b.role_ref.kind.clone(),
                b.role_ref.name.clone(),
            );
            (key, subjects, b.origin)
        })
        .collect()
}

/// Rules of the roles kubejit's install defines, by (kind, namespace, name).
fn role_rules(inv: &Inventory) -> Vec<(ObjectRef, &[PolicyRule], &Origin)> {
    let roles = inv.roles.iter().map(|r| {
        (
            reference("Role", &r.object.metadata),
            r.object.rules.as_deref().unwrap_or_default(),
            &r.origin,
        )
    });
    let cluster_roles = inv.cluster_roles.iter().map(|r| {
        (
            reference("ClusterRole", &r.object.metadata),
            r.object.rules.as_deref().unwrap_or_default(),
            &r.origin,
        )
    });
    roles.chain(cluster_roles).collect()
}

/// KJL024: kubejit's identities are exempt from every rule, so whatever they hold beyond the
/// install (another binding, a widened role, the controller running as someone else) would pass
/// unseen.
pub(crate) fn beyond_install(inv: &Inventory, out: &mut Vec<Finding>) {
    let install = install();
    let ours: HashSet<SubjectRef> = binding_keys(install)
        .into_iter()
        .flat_map(|(_, subjects, _)| subjects)
        .filter(|s| matches!(s, SubjectRef::ServiceAccount { namespace, .. } if namespace == KUBEJIT_NAMESPACE))
        .collect();
    let installed: HashSet<BindingKey> = binding_keys(install)
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    for (key, subjects, origin) in binding_keys(inv) {
        if installed.contains(&key) {
            continue;
        }
        for subject in subjects.iter().filter(|s| ours.contains(s)) {
            let (kind, namespace, name, role_kind, role_name) = &key;
            let role_ns = (role_kind == "Role")
                .then_some(namespace.as_deref())
                .flatten();
            out.push(beyond(
                Some(subject.to_string()),
                Some(ObjectRef::new(kind, namespace.as_deref(), name)),
                ObjectRef::new(role_kind, role_ns, role_name),
                None,
                format!("{kind} {name} gives kubejit's exempt identity {subject} more than kubejit's install"),
                origin,
            ));
        }
    }
    let documented = role_rules(install);
    for (role, rules, origin) in role_rules(inv) {
        let Some((_, allowed, _)) = documented.iter().find(|(r, _, _)| *r == role) else {
            continue;
        };
        for (index, rule) in rules.iter().enumerate() {
            if allowed.contains(rule) {
                continue;
            }
            let text = access::rule_text(rule);
            out.push(beyond(
                None,
                None,
                role.clone(),
                Some(RuleRef { index, text }),
                format!("{role} holds a rule kubejit's install does not give it"),
                &Origin {
                    line: origin.rule_line(index),
                    ..origin.clone()
                },
            ));
        }
    }
    if let Some(controller) = &inv.controller {
        controller_account(controller, out);
    }
}

fn beyond(
    subject: Option<String>,
    binding: Option<ObjectRef>,
    role: ObjectRef,
    policy_rule: Option<RuleRef>,
    message: String,
    origin: &Origin,
) -> Finding {
    Finding {
        rule: RuleId::KubejitBeyondInstall,
        severity: RuleId::KubejitBeyondInstall.default_severity(),
        subject,
        binding,
        role: Some(role),
        policy_rule,
        message,
        origin: origin.clone(),
    }
}

/// The controller must run as its own ServiceAccount: another one's powers are not kubejit's.
fn controller_account(controller: &Located<Deployment>, out: &mut Vec<Finding>) {
    let account = controller
        .object
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.service_account_name.as_deref())
        .unwrap_or("default");
    let (namespace, name) = CONTROLLER;
    if account == name {
        return;
    }
    out.push(beyond(
        Some(format!("ServiceAccount:{namespace}/{account}")),
        None,
        ObjectRef::new("Deployment", Some(namespace), name),
        None,
        format!("kubejit's controller runs as ServiceAccount {account}, not {name}"),
        &controller.origin,
    ));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::check_kubejit::tests::{DEPLOYMENT, findings};
    use crate::subject::Settings;

    #[test]
    fn the_install_reads_cleanly_and_lints_clean() {
        let mut inv = Inventory::default();
        let text = format!(
            "{}---\n{}",
            kubejit_kube::deploy::install_yaml(),
            include_str!("../../../deploy/gateway/rbac.yaml")
        );
        assert!(crate::load::load_text(&text, "deploy", &mut inv).is_empty());
        assert!(inv.controller.is_some() && !inv.cluster_role_bindings.is_empty());
        assert_eq!(crate::check_kubejit::check(&inv, &Settings::default()), []);
    }

    #[test]
    fn kubejit_identities_beyond_the_install_are_findings() {
        let extra = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: x, namespace: kube-system}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: User, name: \"system:serviceaccount:kubejit-system:kubejit-gateway\"}]\n";
        let got = findings(extra);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("KJL024"), "{got:?}");
        // The install's own binding name, pointed at another role, is not the install's.
        let renamed = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: kubejit-controller}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: kubejit-controller, namespace: kubejit-system}]\n";
        assert_eq!(findings(renamed).len(), 1);
        let widened = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: kubejit-gateway-bindings}\nrules: [{apiGroups: [\"\"], resources: [secrets], verbs: [get]}]\n";
        let got = findings(widened);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("does not give it"), "{got:?}");
        let account = DEPLOYMENT.replace(
            "serviceAccountName: kubejit-controller",
            "serviceAccountName: builder",
        );
        let got = findings(&account);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("builder"), "{got:?}");
    }
}
