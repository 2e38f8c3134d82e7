//! The rules about kubejit's AccessPolicies: what they let the controller grant and for how long,
//! and whether kubejit's controller Deployment can honour them (its identities: check_install).

use k8s_openapi::api::apps::v1::Deployment;
use kubejit_core::{KeysMode, RoleKind, Ttl};
use kubejit_kube::policy::AccessPolicyResource;

use crate::access;
use crate::check_roles::writes_beyond_debug;
use crate::finding::{Finding, ObjectRef, RuleRef};
use crate::inventory::{Inventory, Located};
use crate::rules::RuleId;
use crate::subject::{KUBEJIT_NAMESPACE, Settings};

/// kubejit's controller Deployment as `deploy/` installs it: namespace and name.
pub const CONTROLLER: (&str, &str) = (KUBEJIT_NAMESPACE, "kubejit-controller");
/// The controller's flag (and variable) for the hardware-key attestation roots.
const ROOTS_FLAG: &str = "--attestation-roots";
const ROOTS_ENV: &str = "KUBEJIT_ATTESTATION_ROOTS";
/// Bootstrap ClusterRoles that include writes and paths around kubejit: never a debug grant.
const BROAD_ROLES: [&str; 3] = ["cluster-admin", "admin", "edit"];

pub fn check(inv: &Inventory, settings: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    for policy in &inv.access_policies {
        grant_rules(inv, settings, policy, &mut out);
        lifetimes(policy, &mut out);
        if let Some(controller) = &inv.controller {
            hardware_without_roots(policy, controller, &mut out);
        }
    }
    crate::check_install::beyond_install(inv, &mut out);
    out
}

fn policy_ref(policy: &AccessPolicyResource) -> ObjectRef {
    ObjectRef::new(
        "AccessPolicy",
        None,
        policy.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// KJL022: every role a grant rule lets the controller bind, in every namespace it names.
fn grant_rules(
    inv: &Inventory,
    settings: &Settings,
    located: &Located<AccessPolicyResource>,
    out: &mut Vec<Finding>,
) {
    for (index, grant) in located.object.spec.grants.iter().enumerate() {
        for role in &grant.roles {
            for namespace in &grant.namespaces {
                let Some((role_ref, problem)) = grant_problem(inv, settings, role, namespace)
                else {
                    continue;
                };
                let text = format!(
                    "grants[{index}] {}: {} {} in {namespace}",
                    grant.name,
                    role.kind.as_str(),
                    role.name
                );
                out.push(Finding {
                    rule: RuleId::PolicyGrantsTooMuch,
                    severity: RuleId::PolicyGrantsTooMuch.default_severity(),
                    subject: None,
                    binding: Some(policy_ref(&located.object)),
                    role: Some(role_ref),
                    policy_rule: Some(RuleRef { index, text }),
                    message: format!(
                        "AccessPolicy {} lets kubejit grant {problem}",
                        located.object.metadata.name.as_deref().unwrap_or_default()
                    ),
                    origin: located.origin.clone(),
                });
            }
        }
    }
}

/// What is wrong with granting `role` in `namespace`, if anything.
fn grant_problem(
    inv: &Inventory,
    settings: &Settings,
    role: &kubejit_core::RoleRefSpec,
    namespace: &str,
) -> Option<(ObjectRef, String)> {
    let name = role.name.as_str();
    let (role_ref, rules) = match role.kind {
        RoleKind::ClusterRole => {
            let found = inv
                .cluster_roles
                .iter()
                .find(|r| r.object.metadata.name.as_deref() == Some(name));
            (
                ObjectRef::new("ClusterRole", None, name),
                found.map(|r| r.object.rules.as_deref().unwrap_or_default()),
            )
        }
        RoleKind::Role => {
            let found = inv.roles.iter().find(|r| {
                let meta = &r.object.metadata;
                meta.name.as_deref() == Some(name) && meta.namespace.as_deref() == Some(namespace)
            });
            (
                ObjectRef::new("Role", Some(namespace), name),
                found.map(|r| r.object.rules.as_deref().unwrap_or_default()),
            )
        }
    };
    if settings
        .privileged_namespaces
        .iter()
        .any(|n| n == namespace)
    {
        return Some((
            role_ref,
            format!(
                "{role_ref_text} in the privileged namespace {namespace}",
                role_ref_text = name
            ),
        ));
    }
    if role.kind == RoleKind::ClusterRole && BROAD_ROLES.contains(&name) {
        return Some((
            role_ref,
            format!("ClusterRole {name} (every write in the namespace)"),
        ));
    }
    let rule = rules?
        .iter()
        .find(|r| writes_beyond_debug(r) || access::is_wildcard(r))?;
    let problem = format!("{role_ref}, which writes ({})", access::rule_text(rule));
    Some((role_ref, problem))
}

/// The longest access a policy should hand out: past a day, debugging access is standing access.
const LONGEST_SECS: u64 = 24 * 60 * 60;

/// KJL025: certificate and grant lifetime caps longer than [`LONGEST_SECS`]. A cap kubejit cannot
/// read makes the controller refuse the policy (it allows nothing), so it is not judged here.
fn lifetimes(located: &Located<AccessPolicyResource>, out: &mut Vec<Finding>) {
    let spec = &located.object.spec;
    let too_long = |ttl: &str| Ttl::parse(ttl).is_ok_and(|t| t.as_secs() > LONGEST_SECS);
    let name = located.object.metadata.name.as_deref().unwrap_or_default();
    let mut push = |policy_rule: Option<RuleRef>, what: String| {
        out.push(Finding {
            rule: RuleId::LongAccess,
            severity: RuleId::LongAccess.default_severity(),
            subject: None,
            binding: Some(policy_ref(&located.object)),
            role: None,
            policy_rule,
            message: format!("AccessPolicy {name} lets {what}, more than a day"),
            origin: located.origin.clone(),
        });
    };
    if !spec.certificate_groups.is_empty() && too_long(&spec.max_ttl) {
        push(None, format!("certificates live {}", spec.max_ttl));
    }
    for (index, grant) in spec.grants.iter().enumerate() {
        if too_long(&grant.max_ttl) {
            let text = format!("grants[{index}] {}: maxTTL {}", grant.name, grant.max_ttl);
            push(
                Some(RuleRef { index, text }),
                format!("grants live {}", grant.max_ttl),
            );
        }
    }
}

/// KJL023: a policy that asks for hardware keys while the controller has no attestation roots
/// denies every certificate request under it (fail closed, but the policy does not work).
fn hardware_without_roots(
    policy: &Located<AccessPolicyResource>,
    controller: &Located<Deployment>,
    out: &mut Vec<Finding>,
) {
    let hardware = match policy.object.spec.keys {
        Some(KeysMode::Hardware | KeysMode::HardwareWithTouch) => true,
        Some(KeysMode::Any) | None => false,
    };
    if !hardware || has_roots(&controller.object) {
        return;
    }
    let (namespace, name) = CONTROLLER;
    out.push(Finding {
        rule: RuleId::HardwareKeysWithoutRoots,
        severity: RuleId::HardwareKeysWithoutRoots.default_severity(),
        subject: None,
        binding: Some(policy_ref(&policy.object)),
        role: Some(ObjectRef::new("Deployment", Some(namespace), name)),
        policy_rule: None,
        message: format!(
            "AccessPolicy {} requires hardware keys but kubejit's controller runs without {ROOTS_FLAG}: it denies every certificate under it",
            policy.object.metadata.name.as_deref().unwrap_or_default()
        ),
        origin: policy.origin.clone(),
    });
}

/// Whether any container of the Deployment is given attestation roots (flag or variable).
fn has_roots(deployment: &Deployment) -> bool {
    let containers = deployment
        .spec
        .template
        .spec
        .as_ref()
        .map(|p| p.containers.as_slice())
        .unwrap_or_default();
    containers.iter().any(|c| {
        let flag = c
            .args
            .iter()
            .flatten()
            .chain(c.command.iter().flatten())
            .any(|a| {
                a == ROOTS_FLAG
                    || a.strip_prefix(ROOTS_FLAG)
                        .is_some_and(|v| v.starts_with('='))
            });
        let env = c
            .env
            .iter()
            .flatten()
            .any(|e| e.name == ROOTS_ENV && (e.value.is_some() || e.value_from.is_some()));
        flag || env
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const POLICY: &str = "apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: p}\nspec:\n  requesters: {groups: [g]}\n  maxTTL: 1h\n  approval: {mode: Auto}\n";
    pub(crate) const DEPLOYMENT: &str = include_str!("../../../deploy/controller/deployment.yaml");

    pub(crate) fn findings(text: &str) -> Vec<String> {
        let mut inv = Inventory::default();
        let errors = crate::load::load_text(text, "m.yaml", &mut inv);
        assert!(errors.is_empty(), "{errors:?}");
        check(&inv, &Settings::default())
            .iter()
            .map(|f| format!("{} {}", f.rule, f.message))
            .collect()
    }

    fn grant(role: &str, namespace: &str) -> String {
        format!(
            "{POLICY}  grants:\n  - {{name: g, roles: [{role}], namespaces: [{namespace}], subjects: {{groups: [g]}}, maxTTL: 1h}}\n"
        )
    }

    /// The fixture's Deployment is deploy/'s, so the live test applies no change to kubejit.
    #[test]
    fn the_kjl023_fixture_carries_deploys_controller_unchanged() {
        let fixture = include_str!("../fixtures/rules/kjl023.yaml");
        let body: String = DEPLOYMENT
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(fixture.ends_with(&body));
    }

    #[test]
    fn grant_rules_beyond_debugging_are_findings() {
        let writer = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: w, namespace: app}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [delete]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: star}\nrules: [{apiGroups: [\"*\"], resources: [\"*\"], verbs: [get]}]\n";
        let cases = [
            (grant("{kind: Role, name: w}", "app"), "writes"),
            (grant("{kind: ClusterRole, name: star}", "app"), "writes"),
            (grant("{kind: ClusterRole, name: admin}", "app"), "admin"),
            (grant("{kind: Role, name: w}", "kube-system"), "privileged"),
            (
                grant("{kind: Role, name: absent}", "kubejit-system"),
                "privileged",
            ),
        ];
        for (text, want) in cases {
            let got = findings(&format!("{text}{writer}"));
            assert_eq!(got.len(), 1, "{text}: {got:?}");
            assert!(
                got[0].starts_with("KJL022") && got[0].contains(want),
                "{got:?}"
            );
        }
        // A Role of the same name in another namespace is not the one granted.
        assert_eq!(
            findings(&format!(
                "{}{writer}",
                grant("{kind: Role, name: w}", "other")
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn hardware_keys_need_the_controllers_attestation_roots() {
        let hardware = POLICY.replace("maxTTL: 1h\n", "maxTTL: 1h\n  keys: hardwareWithTouch\n");
        let with = |deployment: &str| findings(&format!("{hardware}---\n{deployment}"));
        assert_eq!(with(DEPLOYMENT).len(), 1);
        assert!(with(DEPLOYMENT)[0].starts_with("KJL023"));
        let flag = DEPLOYMENT.replace(
            "--http-addr=0.0.0.0:9090]",
            "--http-addr=0.0.0.0:9090, --attestation-roots=/roots.pem]",
        );
        assert_eq!(with(&flag), Vec::<String>::new());
        let env = DEPLOYMENT.replace(
            "- name: POD_NAME",
            "- {name: KUBEJIT_ATTESTATION_ROOTS, value: /roots.pem}\n        - name: POD_NAME",
        );
        assert_eq!(with(&env), Vec::<String>::new());
        // A flag that only starts like it is not it; without the Deployment nothing is judged.
        let lookalike = DEPLOYMENT.replace(
            "--http-addr=0.0.0.0:9090]",
            "--http-addr=0.0.0.0:9090, --attestation-roots-x=/r]",
        );
        assert_eq!(with(&lookalike).len(), 1);
        assert_eq!(findings(&hardware), Vec::<String>::new());
    }

    #[test]
    fn access_longer_than_a_day_is_a_finding() {
        let certs = POLICY.replace(
            "maxTTL: 1h\n",
            "maxTTL: 48h\n  certificateGroups: [kubejit:g]\n",
        );
        let cases = [
            (certs.clone(), 1),
            (certs.replace("48h", "24h"), 0),
            // A policy without certificate groups issues no certificates: its maxTTL is unused.
            (POLICY.replace("maxTTL: 1h", "maxTTL: 48h"), 0),
            (
                grant("{kind: Role, name: r}", "app").replace("maxTTL: 1h}", "maxTTL: 25h}"),
                1,
            ),
            (
                grant("{kind: Role, name: r}", "app").replace("maxTTL: 1h}", "maxTTL: 1d1s}"),
                1,
            ),
            (
                grant("{kind: Role, name: r}", "app").replace("maxTTL: 1h}", "maxTTL: 24h}"),
                0,
            ),
        ];
        for (text, want) in cases {
            let got = findings(&text);
            assert_eq!(got.len(), want, "{text}: {got:?}");
            assert!(got.iter().all(|f| f.starts_with("KJL025")), "{got:?}");
        }
    }

    /// AccessPolicies are read as strictly as their CRD; other Deployments are ignored.
    #[test]
    fn malformed_access_policies_are_errors() {
        let cases = [
            POLICY.replace("v1alpha1", "v1beta1"),
            format!("{POLICY}status: {{}}\n"),
            format!("{POLICY}  keys: hardware\n  extra: 1\n"),
            POLICY.replace("groups: [g]", "groups: [1]"),
            POLICY.replace("name: p", "name: \"\""),
            POLICY.replace("mode: Auto", "mode: auto"),
        ];
        for text in cases {
            let mut inv = Inventory::default();
            let errors = crate::load::load_text(&text, "m.yaml", &mut inv);
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert!(inv.access_policies.is_empty());
        }
        let other = DEPLOYMENT.replace(
            "name: kubejit-controller\n  namespace",
            "name: web\n  namespace",
        );
        let mut inv = Inventory::default();
        assert!(crate::load::load_text(&other, "m.yaml", &mut inv).is_empty());
        assert!(inv.controller.is_none());
    }
}
