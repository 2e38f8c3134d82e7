//! The rules judged per binding subject: what each subject can effectively do through each binding.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubejit_core::annotations::EXPIRES_AT;
use time::OffsetDateTime;

use crate::access::{self, WRITE_VERBS};
use crate::finding::{Finding, ObjectRef, RuleRef};
use crate::inventory::{Inventory, Origin};
use crate::rules::{RuleId, Severity};
use crate::subject::{Identity, Settings, SubjectRef};

const RBAC: &str = "rbac.authorization.k8s.io";
const CERTIFICATES: &str = "certificates.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";
/// The bootstrap bindings that give everyone discovery; Kubernetes recreates them at start-up.
const DISCOVERY: [&str; 3] = [
    "system:basic-user",
    "system:discovery",
    "system:public-info-viewer",
];

/// A binding, with what lint needs from it, whichever kind it is.
pub(crate) struct Binding<'a> {
    pub reference: ObjectRef,
    pub meta: &'a ObjectMeta,
    pub role_ref: &'a RoleRef,
    pub subjects: &'a [Subject],
    pub origin: &'a Origin,
}

/// The role a binding resolves to.
struct Resolved<'a> {
    reference: ObjectRef,
    rules: std::borrow::Cow<'a, [PolicyRule]>,
    origin: Option<&'a Origin>,
}

/// Roles by name, built once (20,000 bindings must not scan 10,000 roles each).
struct Index<'a> {
    roles: HashMap<(&'a str, &'a str), (&'a [PolicyRule], &'a Origin)>,
    cluster_roles: HashMap<&'a str, (&'a [PolicyRule], &'a Origin)>,
    offline: bool,
}

impl<'a> Index<'a> {
    fn new(inv: &'a Inventory) -> Self {
        let roles = inv
            .roles
            .iter()
            .map(|r| {
                let meta = &r.object.metadata;
                let key = (
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                );
                (
                    key,
                    (r.object.rules.as_deref().unwrap_or_default(), &r.origin),
                )
            })
            .collect();
        let cluster_roles = inv
            .cluster_roles
            .iter()
            .map(|r| {
                let name = r.object.metadata.name.as_deref().unwrap_or_default();
                (
                    name,
                    (r.object.rules.as_deref().unwrap_or_default(), &r.origin),
                )
            })
            .collect();
        Self {
            roles,
            cluster_roles,
            offline: inv.offline,
        }
    }

    /// `None` when the role does not exist. Offline, the ClusterRoles Kubernetes creates itself are
    /// assumed to exist: `cluster-admin` with its one all-wildcard rule, the others without rules
    /// (put `kubectl get clusterrole NAME -o yaml` among the inputs to judge their rules).
    fn resolve(&self, binding: &Binding<'_>) -> Option<Resolved<'a>> {
        let name = binding.role_ref.name.as_str();
        let namespace = binding.reference.namespace.as_deref();
        match (binding.role_ref.kind.as_str(), namespace) {
            ("Role", Some(ns)) => self.roles.get(&(ns, name)).map(|(rules, origin)| Resolved {
                reference: ObjectRef::new("Role", Some(ns), name),
                rules: std::borrow::Cow::Borrowed(rules),
                origin: Some(origin),
            }),
            ("ClusterRole", _) => {
                let reference = ObjectRef::new("ClusterRole", None, name);
                if let Some((rules, origin)) = self.cluster_roles.get(name) {
                    return Some(Resolved {
                        reference,
                        rules: std::borrow::Cow::Borrowed(rules),
                        origin: Some(origin),
                    });
                }
                bootstrap_rules(name)
                    .filter(|_| self.offline)
                    .map(|rules| Resolved {
                        reference,
                        rules: std::borrow::Cow::Owned(rules),
                        origin: None,
                    })
            }
            _ => None,
        }
    }
}

fn bootstrap_rules(name: &str) -> Option<Vec<PolicyRule>> {
    let all = || Some(vec!["*".to_owned()]);
    match name {
        "cluster-admin" => Some(vec![PolicyRule {
            api_groups: all(),
            resources: all(),
            verbs: vec!["*".to_owned()],
            ..PolicyRule::default()
        }]),
        "admin" | "edit" | "view" => Some(Vec::new()),
        _ if name.starts_with("system:") => Some(Vec::new()),
        _ => None,
    }
}

pub(crate) fn bindings(inv: &Inventory) -> impl Iterator<Item = Binding<'_>> {
    let rbs = inv.role_bindings.iter().map(|b| Binding {
        reference: reference("RoleBinding", &b.object.metadata),
        meta: &b.object.metadata,
        role_ref: &b.object.role_ref,
        subjects: b.object.subjects.as_deref().unwrap_or_default(),
        origin: &b.origin,
    });
    let crbs = inv.cluster_role_bindings.iter().map(|b| Binding {
        reference: reference("ClusterRoleBinding", &b.object.metadata),
        meta: &b.object.metadata,
        role_ref: &b.object.role_ref,
        subjects: b.object.subjects.as_deref().unwrap_or_default(),
        origin: &b.origin,
    });
    rbs.chain(crbs)
}

pub(crate) fn reference(kind: &str, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(
        kind,
        meta.namespace.as_deref(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// A binding's expiry, as kubejit's reaper reads it.
enum Expiry {
    Standing,
    Valid,
    Invalid(String),
}

fn expiry(meta: &ObjectMeta, now: OffsetDateTime) -> Expiry {
    let Some(value) = meta.annotations.as_ref().and_then(|a| a.get(EXPIRES_AT)) else {
        return Expiry::Standing;
    };
    match kubejit_core::expiry::parse_expires_at(value) {
        Ok(deadline) if deadline > now => Expiry::Valid,
        Ok(_) => Expiry::Invalid(format!("{EXPIRES_AT} {value:?} has passed")),
        Err(error) => Expiry::Invalid(format!("{EXPIRES_AT} {value:?} is invalid: {error}")),
    }
}

pub fn check(inv: &Inventory, settings: &Settings, now: OffsetDateTime) -> Vec<Finding> {
    let index = Index::new(inv);
    let approvers = signer_approvers(inv, &index);
    let mut out = Vec::new();
    for binding in bindings(inv) {
        let Some(role) = index.resolve(&binding) else {
            out.push(missing_role(&binding));
            continue;
        };
        let expiry = expiry(binding.meta, now);
        for subject in binding.subjects {
            let Some(subject) =
                SubjectRef::from_subject(subject, binding.reference.namespace.as_deref())
            else {
                continue;
            };
            if settings.allowed.contains(&subject) {
                continue;
            }
            let ctx = Ctx {
                binding: &binding,
                role: &role,
                subject: &subject,
                expiry: &expiry,
                settings,
            };
            ctx.judge(&approvers, &mut out);
        }
    }
    out
}

fn missing_role(binding: &Binding<'_>) -> Finding {
    let role = ObjectRef::new(
        &binding.role_ref.kind,
        (binding.role_ref.kind == "Role")
            .then_some(binding.reference.namespace.as_deref())
            .flatten(),
        &binding.role_ref.name,
    );
    Finding {
        rule: RuleId::MissingRole,
        severity: RuleId::MissingRole.default_severity(),
        subject: None,
        message: format!(
            "{} refers to {role}, which does not exist",
            binding.reference
        ),
        binding: Some(binding.reference.clone()),
        role: Some(role),
        policy_rule: None,
        origin: binding.origin.clone(),
    }
}

/// Subjects that hold a signer's `approve` somewhere: with the approval subresource they approve CSRs.
fn signer_approvers(inv: &Inventory, index: &Index<'_>) -> HashSet<SubjectRef> {
    let mut out = HashSet::new();
    for binding in bindings(inv) {
        let Some(role) = index.resolve(&binding) else {
            continue;
        };
        if !role
            .rules
            .iter()
            .any(|r| access::allows(r, "approve", CERTIFICATES, "signers"))
        {
            continue;
        }
        out.extend(
            binding.subjects.iter().filter_map(|s| {
                SubjectRef::from_subject(s, binding.reference.namespace.as_deref())
            }),
        );
    }
    out
}

/// One (binding, subject) pair under judgement.
struct Ctx<'a> {
    binding: &'a Binding<'a>,
    role: &'a Resolved<'a>,
    subject: &'a SubjectRef,
    expiry: &'a Expiry,
    settings: &'a Settings,
}

impl Ctx<'_> {
    fn cluster_wide(&self) -> bool {
        self.binding.reference.kind == "ClusterRoleBinding"
    }

    fn by_scope(&self, cluster: Severity, namespaced: Severity) -> Severity {
        if self.cluster_wide() {
            cluster
        } else {
            namespaced
        }
    }

    fn finding(
        &self,
        rule: RuleId,
        severity: Severity,
        index: Option<usize>,
        message: String,
    ) -> Finding {
        let policy_rule = index.and_then(|i| {
            self.role.rules.get(i).map(|r| RuleRef {
                index: i,
                text: access::rule_text(r),
            })
        });
        let origin = match (self.role.origin, index) {
            (Some(origin), Some(i)) if origin.file.is_some() => Origin {
                line: origin.rule_line(i),
                ..origin.clone()
            },
            _ => self.binding.origin.clone(),
        };
        Finding {
            rule,
            severity,
            subject: Some(self.subject.to_string()),
            binding: Some(self.binding.reference.clone()),
            role: Some(self.role.reference.clone()),
            policy_rule,
            message,
            origin,
        }
    }

    fn judge(&self, approvers: &HashSet<SubjectRef>, out: &mut Vec<Finding>) {
        let identity = self.subject.identity();
        match identity {
            Identity::Component => return,
            Identity::Everyone => self.everyone(out),
            Identity::Person | Identity::Workload => {}
        }
        if self.subject.is_person() && self.admin(out) {
            return;
        }
        for (i, rule) in self.role.rules.iter().enumerate() {
            if self.subject.is_person() {
                self.person_rule(i, rule, out);
            }
            self.any_rule(i, rule, approvers, out);
        }
    }

    fn everyone(&self, out: &mut Vec<Finding>) {
        let name = &self.binding.role_ref.name;
        let bootstrap = DISCOVERY.contains(&name.as_str())
            && self.binding.reference.name == *name
            && self.cluster_wide();
        if bootstrap {
            return;
        }
        let severity = match self.subject {
            SubjectRef::Group(g) if g == "system:authenticated" => Severity::High,
            SubjectRef::User(_) | SubjectRef::Group(_) | SubjectRef::ServiceAccount { .. } => {
                Severity::Critical
            }
        };
        out.push(self.finding(
            RuleId::AnonymousBinding,
            severity,
            None,
            format!(
                "{} gives {} to {}",
                self.binding.reference, self.role.reference, self.subject
            ),
        ));
    }

    /// KJL004; true when the role is cluster-admin or admin (that finding says it all).
    fn admin(&self, out: &mut Vec<Finding>) -> bool {
        let name = self.binding.role_ref.name.as_str();
        if self.binding.role_ref.kind != "ClusterRole" || !matches!(name, "cluster-admin" | "admin")
        {
            return false;
        }
        if self.settings.break_glass.contains(self.subject) {
            return true;
        }
        let severity = if name == "cluster-admin" {
            Severity::Critical
        } else {
            self.by_scope(Severity::Critical, Severity::High)
        };
        out.push(self.finding(
            RuleId::AdminForPerson,
            severity,
            None,
            format!(
                "{} holds {name} through {}",
                self.subject, self.binding.reference
            ),
        ));
        true
    }

    fn person_rule(&self, i: usize, rule: &PolicyRule, out: &mut Vec<Finding>) {
        if access::is_wildcard(rule) {
            out.push(self.finding(
                RuleId::WildcardForPerson,
                RuleId::WildcardForPerson.default_severity(),
                Some(i),
                format!(
                    "{} holds a wildcard rule{}",
                    self.subject,
                    access::narrowed(rule)
                ),
            ));
        }
        let debug = access::debug_access(rule);
        if debug.is_empty() {
            return;
        }
        let what = format!("{}{}", debug.join(", "), access::narrowed(rule));
        match self.expiry {
            Expiry::Standing => out.push(self.finding(
                RuleId::StandingDebugAccess,
                self.by_scope(Severity::Critical, Severity::High),
                Some(i),
                format!("{} can {what} with no expiry", self.subject),
            )),
            Expiry::Invalid(why) => out.push(self.finding(
                RuleId::DebugBindingExpiry,
                RuleId::DebugBindingExpiry.default_severity(),
                Some(i),
                format!("{} can {what}: {why}", self.subject),
            )),
            Expiry::Valid => {}
        }
        if self.cluster_wide() || self.role.reference.kind == "ClusterRole" {
            out.push(self.finding(
                RuleId::DebugViaClusterScope,
                self.by_scope(Severity::High, Severity::Medium),
                Some(i),
                format!(
                    "{} can {what} through {}",
                    self.subject, self.role.reference
                ),
            ));
        }
    }

    fn any_rule(
        &self,
        i: usize,
        rule: &PolicyRule,
        approvers: &HashSet<SubjectRef>,
        out: &mut Vec<Finding>,
    ) {
        let narrowed = access::narrowed(rule);
        let mut push = |id: RuleId, severity: Severity, what: &str| {
            out.push(self.finding(
                id,
                severity,
                Some(i),
                format!("{} can {what}{narrowed}", self.subject),
            ));
        };
        if access::allows_any(rule, &["get", "list", "watch"], "", &["secrets"]) {
            push(
                RuleId::SecretsRead,
                self.by_scope(Severity::High, Severity::Medium),
                "read secrets",
            );
        }
        if access::allows_any(
            rule,
            &["bind", "escalate"],
            RBAC,
            &["roles", "clusterroles"],
        ) || access::allows_any(
            rule,
            &["create", "update", "patch"],
            RBAC,
            &["rolebindings", "clusterrolebindings"],
        ) {
            push(
                RuleId::RbacEscalation,
                self.by_scope(Severity::Critical, Severity::High),
                "bind, escalate or write role bindings",
            );
        }
        if impersonates(rule) {
            push(RuleId::Impersonate, Severity::Critical, "impersonate");
        }
        if access::allows(
            rule,
            "update",
            CERTIFICATES,
            "certificatesigningrequests/approval",
        ) && approvers.contains(self.subject)
        {
            push(
                RuleId::CsrApproval,
                Severity::Critical,
                "approve certificate signing requests",
            );
        }
        if access::allows(rule, "create", "", "serviceaccounts/token") {
            push(
                RuleId::ServiceAccountToken,
                RuleId::ServiceAccountToken.default_severity(),
                "create serviceaccount tokens",
            );
        }
        if access::allows_any(rule, &["get", "create"], "", &["nodes/proxy"]) {
            push(RuleId::NodesProxy, Severity::Critical, "use nodes/proxy");
        }
        if self.privileged_scope() && creates_pods(rule) {
            push(
                RuleId::PrivilegedNamespacePods,
                RuleId::PrivilegedNamespacePods.default_severity(),
                "create pods in a privileged namespace",
            );
        }
        let admission = [
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
        ];
        if access::allows_any(rule, &WRITE_VERBS, ADMISSION, &admission) {
            push(
                RuleId::AdmissionWrites,
                Severity::Critical,
                "write admission webhooks or policies",
            );
        }
    }

    fn privileged_scope(&self) -> bool {
        match &self.binding.reference.namespace {
            None => true,
            Some(ns) => self.settings.privileged_namespaces.contains(ns),
        }
    }
}

fn impersonates(rule: &PolicyRule) -> bool {
    let extras = access::verb_matches(rule, "impersonate")
        && access::group_matches(rule, "authentication.k8s.io")
        && rule
            .resources
            .iter()
            .flatten()
            .any(|r| r.starts_with("userextras/"));
    extras
        || access::allows_any(
            rule,
            &["impersonate"],
            "",
            &["users", "groups", "serviceaccounts"],
        )
        || access::allows_any(
            rule,
            &["impersonate"],
            "authentication.k8s.io",
            &["uids", "userextras/*"],
        )
}

fn creates_pods(rule: &PolicyRule) -> bool {
    access::allows(rule, "create", "", "pods")
        || access::allows_any(
            rule,
            &["create"],
            "apps",
            &["deployments", "daemonsets", "statefulsets", "replicasets"],
        )
        || access::allows_any(rule, &["create"], "batch", &["jobs", "cronjobs"])
}
