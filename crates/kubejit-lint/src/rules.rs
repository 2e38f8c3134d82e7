//! The rule catalog: stable ids (KJL001…), default severity, title and the one-sentence fix.

use std::fmt;

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// SARIF 2.1.0 `level`: code-scanning UIs know only these three.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Self::Low => "note",
            Self::Medium => "warning",
            Self::High | Self::Critical => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sev| sev.as_str() == s)
            .ok_or_else(|| format!("expected one of low, medium, high, critical, not {s:?}"))
    }
}

macro_rules! rules {
    ($($variant:ident = $id:literal, $sev:ident, $title:literal, $fix:literal;)*) => {
        /// A rule's stable id. Ids are never reused; a retired rule keeps its number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId { $($variant,)* }

        impl RuleId {
            pub const ALL: &'static [RuleId] = &[$(Self::$variant,)*];

            pub fn id(self) -> &'static str {
                match self { $(Self::$variant => $id,)* }
            }

            /// The severity when the rule has no scope-dependent one ([`crate::Finding::severity`]
            /// is what counts).
            pub fn default_severity(self) -> Severity {
                match self { $(Self::$variant => Severity::$sev,)* }
            }

            pub fn title(self) -> &'static str {
                match self { $(Self::$variant => $title,)* }
            }

            pub fn fix(self) -> &'static str {
                match self { $(Self::$variant => $fix,)* }
            }
        }
    };
}

rules! {
    StandingDebugAccess = "KJL001", High,
        "standing exec/attach/port-forward/ephemeral-container access for a person",
        "Remove the binding and grant debug access through kubejit (`kubejit grant`), which expires on its own.";
    DebugGetWithoutCreate = "KJL002", Medium,
        "debug role allows get but not create on exec/attach/portforward",
        "Add `create` next to `get` for pods/exec, pods/attach and pods/portforward: WebSocket exec is authorized as create.";
    WildcardForPerson = "KJL003", High,
        "wildcard verbs, resources or apiGroups in a role bound to a person",
        "List the verbs, resources and apiGroups the person needs instead of `*`.";
    AdminForPerson = "KJL004", Critical,
        "cluster-admin or admin bound to a person outside the break-glass allowlist",
        "Bind a narrow role instead, or add the subject to the break-glass allowlist (--break-glass) if this is the emergency account.";
    DebugBindingExpiry = "KJL005", High,
        "debug binding whose expires-at annotation is invalid or already past",
        "Delete the binding (the reaper should have: check that kubejit's controller runs) or recreate it through kubejit.";
    DebugViaClusterScope = "KJL006", Medium,
        "debug access through a ClusterRoleBinding or a RoleBinding to a ClusterRole",
        "Use a namespaced Role and RoleBinding in the namespace being debugged.";
    DebugRoleWrites = "KJL007", Medium,
        "debug role that also grants writes",
        "Keep debug roles to reads plus exec/attach/portforward; move writes to a separate, separately granted role.";
    SecretsRead = "KJL008", High,
        "get/list/watch on secrets",
        "Drop secrets from the role, or narrow it with resourceNames to the Secrets the subject must read.";
    RbacEscalation = "KJL009", Critical,
        "bind/escalate on roles or writes to role bindings outside kubejit's controller",
        "Remove bind, escalate and binding writes; kubejit's controller creates grants.";
    Impersonate = "KJL010", Critical,
        "impersonate",
        "Remove the impersonate verb, or narrow it with resourceNames to exactly the identities needed.";
    CsrApproval = "KJL011", Critical,
        "CSR approval (certificatesigningrequests/approval and signer approve) outside kubejit's controller",
        "Remove certificatesigningrequests/approval update and signers approve: only kubejit's controller approves client certificates.";
    ServiceAccountToken = "KJL012", High,
        "create on serviceaccounts/token",
        "Remove serviceaccounts/token create: it mints tokens for any ServiceAccount in scope.";
    NodesProxy = "KJL013", Critical,
        "nodes/proxy",
        "Remove nodes/proxy: it reaches the kubelet API (exec into any pod on the node) without pod RBAC or audit of the exec.";
    PrivilegedNamespacePods = "KJL014", High,
        "pod creation in a privileged namespace",
        "Remove pod and workload creation in kube-system and kubejit's namespace, or scope it to another namespace.";
    AdmissionWrites = "KJL015", Critical,
        "writes to admission webhooks or policies",
        "Remove writes to webhook configurations and (Validating|Mutating)AdmissionPolicies: they can switch off kubejit's own admission checks.";
    AnonymousBinding = "KJL016", Critical,
        "binding to system:anonymous, system:unauthenticated or system:authenticated",
        "Bind named users or groups instead of the anonymous or all-authenticated groups.";
    MissingRole = "KJL017", Medium,
        "binding to a role that does not exist",
        "Delete the binding or create the role it names; whoever creates that role later grants it at once.";
    AuditDropsDebug = "KJL018", High,
        "audit policy drops exec/attach/portforward, CSR approval or binding writes",
        "Log these requests at Metadata level or above, before any rule that sets level None.";
    NoMatchPattern = "KJL019", Low,
        "resource pattern that matches nothing (such as pods/*)",
        "RBAC has no `resource/*` wildcard: list the subresources (pods/exec, pods/log, …) or use `*/subresource`.";
    BadSuppression = "KJL020", Medium,
        "suppression that is malformed or expired",
        "Fix the suppression (rule id, reason and expires are mandatory) or remove it and fix the finding.";
    AdmissionNotEnforced = "KJL021", High,
        "admission policy not enforced (no binding with Deny), or one of kubejit's missing",
        "Bind the policy with validationActions [Deny]; reinstall kubejit's (kubejit manifests install | kubectl apply -f -) if one is missing.";
    PolicyGrantsTooMuch = "KJL022", High,
        "AccessPolicy grant rule that allows a role with writes, a broad role, or a privileged namespace",
        "Let grant rules name only debug roles (reads plus exec/attach/portforward) in application namespaces.";
    HardwareKeysWithoutRoots = "KJL023", Medium,
        "AccessPolicy requires hardware keys but kubejit's controller has no --attestation-roots",
        "Give the controller Deployment --attestation-roots (the vendor root CAs), or set the policy's keys to any.";
    KubejitBeyondInstall = "KJL024", High,
        "kubejit's exempt identities hold more than kubejit's install gives them",
        "Remove the extra binding or rule, or run the controller as its own ServiceAccount; kubejit's identities are exempt from every other rule.";
    LongAccess = "KJL025", Medium,
        "AccessPolicy lets certificates or grants live longer than a day",
        "Cap maxTTL at the length of an incident shift (hours, not days); ask again when it ends.";
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|rule| rule.id() == s)
            .ok_or_else(|| format!("unknown rule id {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_numbered_and_round_trip() {
        for (n, rule) in RuleId::ALL.iter().enumerate() {
            assert_eq!(rule.id(), format!("KJL{:03}", n + 1));
            assert_eq!(rule.id().parse::<RuleId>(), Ok(*rule));
            assert!(rule.fix().ends_with('.'), "{rule}: the fix is one sentence");
        }
        assert!("KJL999".parse::<RuleId>().is_err());
    }
}
