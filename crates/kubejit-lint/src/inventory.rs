//! The objects lint reads, each with where it came from (a manifest file and line, or the cluster).

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kubejit_kube::policy::AccessPolicyResource;

use crate::audit_policy::AuditPolicy;

/// Where an object was read: a manifest (file and 1-based line of the document) or the live cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: Option<String>,
    pub line: u64,
    /// The document's source lines, kept so a rule's line can be found ([`Origin::rule_line`]).
    pub(crate) rule_lines: Vec<u64>,
}

impl Origin {
    pub fn live() -> Self {
        Self::default()
    }

    /// The line of the `index`th entry of the document's `rules`, or the document's line.
    pub fn rule_line(&self, index: usize) -> u64 {
        self.rule_lines.get(index).copied().unwrap_or(self.line)
    }
}

/// One object and its origin.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub object: T,
    pub origin: Origin,
}

impl<T> Located<T> {
    pub fn live(object: T) -> Self {
        Self {
            object,
            origin: Origin::live(),
        }
    }
}

/// Everything one lint run judges.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub roles: Vec<Located<Role>>,
    pub cluster_roles: Vec<Located<ClusterRole>>,
    pub role_bindings: Vec<Located<RoleBinding>>,
    pub cluster_role_bindings: Vec<Located<ClusterRoleBinding>>,
    pub audit_policy: Option<Located<AuditPolicy>>,
    pub admission_policies: Vec<Located<ValidatingAdmissionPolicy>>,
    pub admission_bindings: Vec<Located<ValidatingAdmissionPolicyBinding>>,
    /// kubejit's AccessPolicies (what grants and certificates they allow).
    pub access_policies: Vec<Located<AccessPolicyResource>>,
    /// kubejit's controller Deployment ([`crate::check_kubejit::CONTROLLER`]), when present.
    pub controller: Option<Located<Deployment>>,
    /// True when the inventory was read from manifests: ClusterRoles that Kubernetes creates at
    /// start-up (`cluster-admin`, `admin`, `system:*`, …) are then assumed to exist.
    pub offline: bool,
}

impl Inventory {
    /// Resolves ClusterRole aggregation as kube-controller-manager does; offline input needs it,
    /// live input already carries the rules the controller wrote.
    pub fn aggregate(&mut self) {
        crate::aggregate::aggregate(&mut self.cluster_roles);
    }
}
