//! Who a binding subject is (a person, a workload, a Kubernetes component, everyone) and the
//! allowlists that exempt kubejit's own identities and break-glass accounts.

use std::fmt;

use k8s_openapi::api::rbac::v1::Subject;

/// A binding subject, normalized (`ServiceAccount` always carries its namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectRef {
    User(String),
    Group(String),
    ServiceAccount { namespace: String, name: String },
}

/// What kind of identity a subject is, which decides which rules apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A User or Group of people: every rule applies.
    Person,
    /// `system:authenticated`, `system:unauthenticated`, `system:anonymous`: everyone (KJL016), and
    /// people among them.
    Everyone,
    /// ServiceAccounts and the `system:serviceaccounts[:ns]` groups: rules about people do not apply.
    Workload,
    /// Kubernetes' own components (`system:` users and groups, `kube-system` ServiceAccounts): their
    /// powers are the platform's, not this cluster's choice.
    Component,
}

pub const EVERYONE: [&str; 3] = [
    "system:anonymous",
    "system:unauthenticated",
    "system:authenticated",
];

impl SubjectRef {
    /// `None` for a kind RBAC does not know (the apiserver would reject the binding).
    pub fn from_subject(subject: &Subject, binding_namespace: Option<&str>) -> Option<Self> {
        match subject.kind.as_str() {
            // A ServiceAccount's username bound as a User is that ServiceAccount (same identity,
            // same allowlist entry).
            "User" => Some(match service_account_username(&subject.name) {
                Some((namespace, name)) => Self::ServiceAccount {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
                None => Self::User(subject.name.clone()),
            }),
            "Group" => Some(Self::Group(subject.name.clone())),
            "ServiceAccount" => Some(Self::ServiceAccount {
                namespace: subject
                    .namespace
                    .clone()
                    .or_else(|| binding_namespace.map(str::to_owned))
                    .unwrap_or_default(),
                name: subject.name.clone(),
            }),
            _ => None,
        }
    }

    pub fn identity(&self) -> Identity {
        match self {
            Self::User(name) | Self::Group(name) if EVERYONE.contains(&name.as_str()) => {
                Identity::Everyone
            }
            Self::Group(name)
                if name == "system:serviceaccounts"
                    || name.starts_with("system:serviceaccounts:") =>
            {
                Identity::Workload
            }
            Self::User(name) if name.starts_with("system:serviceaccount:") => Identity::Workload,
            Self::User(name) | Self::Group(name) if name.starts_with("system:") => {
                Identity::Component
            }
            Self::User(_) | Self::Group(_) => Identity::Person,
            Self::ServiceAccount { namespace, .. } if namespace == "kube-system" => {
                Identity::Component
            }
            Self::ServiceAccount { .. } => Identity::Workload,
        }
    }

    pub fn is_person(&self) -> bool {
        matches!(self.identity(), Identity::Person | Identity::Everyone)
    }
}

/// `system:serviceaccount:NAMESPACE:NAME` as (namespace, name).
fn service_account_username(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

impl fmt::Display for SubjectRef {
    /// `User:alice`, `Group:oncall`, `ServiceAccount:ns/name`: the form `--allow-subject` and
    /// `--break-glass` take.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(name) => write!(f, "User:{name}"),
            Self::Group(name) => write!(f, "Group:{name}"),
            Self::ServiceAccount { namespace, name } => {
                write!(f, "ServiceAccount:{namespace}/{name}")
            }
        }
    }
}

impl std::str::FromStr for SubjectRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("expected User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME, not {s:?}")
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "User" => Ok(Self::User(rest.to_owned())),
            "Group" => Ok(Self::Group(rest.to_owned())),
            "ServiceAccount" => {
                let (namespace, name) = rest.split_once('/').ok_or_else(bad)?;
                if namespace.is_empty() || name.is_empty() {
                    return Err(bad());
                }
                Ok(Self::ServiceAccount {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// What a run exempts and treats as privileged.
#[derive(Debug, Clone)]
pub struct Settings {
    /// kubejit's own identities: their powers are kubejit's design, not findings.
    pub allowed: Vec<SubjectRef>,
    /// Emergency accounts that may hold cluster-admin (KJL004 only).
    pub break_glass: Vec<SubjectRef>,
    /// Namespaces where creating pods is a path to the platform's credentials (KJL014).
    pub privileged_namespaces: Vec<String>,
}

/// kubejit's namespace in `deploy/`.
pub const KUBEJIT_NAMESPACE: &str = "kubejit-system";

impl Default for Settings {
    /// The ServiceAccounts of `deploy/` (controller and gateway), no break-glass account, and
    /// `kube-system` plus kubejit's namespace as privileged.
    fn default() -> Self {
        let sa = |name: &str| SubjectRef::ServiceAccount {
            namespace: KUBEJIT_NAMESPACE.to_owned(),
            name: name.to_owned(),
        };
        Self {
            allowed: vec![sa("kubejit-controller"), sa("kubejit-gateway")],
            break_glass: Vec::new(),
            privileged_namespaces: vec!["kube-system".to_owned(), KUBEJIT_NAMESPACE.to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        let cases = [
            ("User:alice", Identity::Person),
            ("Group:oncall", Identity::Person),
            ("Group:system:authenticated", Identity::Everyone),
            ("User:system:anonymous", Identity::Everyone),
            ("Group:system:serviceaccounts:payments", Identity::Workload),
            (
                "User:system:serviceaccount:payments:api",
                Identity::Workload,
            ),
            ("Group:system:masters", Identity::Component),
            ("User:system:kube-scheduler", Identity::Component),
            ("ServiceAccount:kube-system/x", Identity::Component),
            ("ServiceAccount:payments/api", Identity::Workload),
        ];
        for (text, want) in cases {
            let subject: SubjectRef = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(subject.identity(), want, "{text}");
            assert_eq!(subject.to_string(), text);
        }
        for bad in [
            "alice",
            "User:",
            "Robot:x",
            "ServiceAccount:x",
            "ServiceAccount:/x",
        ] {
            assert!(bad.parse::<SubjectRef>().is_err(), "{bad}");
        }
    }

    /// The default allowlist is exactly the ServiceAccounts `deploy/` installs (controller, gateway).
    #[test]
    fn default_allowlist_is_deploys_service_accounts() {
        let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let mut found = Vec::new();
        for file in ["rbac/controller.yaml", "gateway/rbac.yaml"] {
            let text = std::fs::read_to_string(deploy.join(file)).unwrap_or_default();
            let docs: Vec<serde_json::Value> =
                serde_saphyr::from_multiple(&text).unwrap_or_default();
            for doc in docs.iter().filter(|d| d["kind"] == "ServiceAccount") {
                found.push(SubjectRef::ServiceAccount {
                    namespace: doc["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    name: doc["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
        }
        assert_eq!(found, Settings::default().allowed);
    }
}
