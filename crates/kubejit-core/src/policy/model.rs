//! The validated `AccessPolicy`: parsed once from the spec, failing closed on anything malformed.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::spec::{
    AccessPolicySpec, ApprovalMode, ApprovalSpec, GrantRuleSpec, IncidentSpec, KeysMode, RoleKind,
    SubjectsSpec,
};
use super::webhook::{Webhook, WebhookProblem};
use crate::incident::{
    INCIDENT_ABSOLUTE_MAX, INCIDENT_DEFAULT_MAX, IncidentPattern, IncidentRule, PatternError,
};
use crate::names::{GroupName, NameError, NamespaceName, ObjectName};
use crate::subject::{Subjects, UserName};
use crate::ttl::{Ttl, TtlError};

/// A validated policy together with its `metadata.name`, the unit every decision refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPolicy {
    pub name: ObjectName,
    pub policy: AccessPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub requesters: Subjects,
    pub certificate_groups: BTreeSet<GroupName>,
    pub max_ttl: Ttl,
    pub default_ttl: Option<Ttl>,
    pub incident: IncidentRule,
    pub approval: Approval,
    /// What a certificate's key must be (`keys`).
    pub keys: KeyRequirement,
    pub grants: Vec<GrantRule>,
    /// Where AccessRequest phase changes under this policy are announced (`notify.webhook`).
    pub notify: Option<Webhook>,
}

/// What a certificate's key must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequirement {
    /// Any key kubejit accepts (software keys included).
    Any,
    /// A hardware key with a verified PIV attestation and a PIN policy; with `touch`, also a touch
    /// policy.
    Hardware { touch: bool },
}

impl KeyRequirement {
    fn from_spec(spec: Option<KeysMode>) -> Self {
        match spec {
            None | Some(KeysMode::Any) => Self::Any,
            Some(KeysMode::Hardware) => Self::Hardware { touch: false },
            Some(KeysMode::HardwareWithTouch) => Self::Hardware { touch: true },
        }
    }
}

/// Who turns a valid request into an approved one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The controller approves as soon as every rule holds.
    Auto,
    /// The controller leaves the CSR pending; one of `approvers` (never the requester, enforced by an
    /// admission policy) approves with `kubectl certificate approve`. An AccessRequest under this
    /// rule needs `approvals` distinct eligible approvers within `timeout` of its creation.
    Manual {
        approvers: Subjects,
        approvals: u32,
        timeout: Ttl,
    },
}

/// Approvals an AccessRequest needs when a Manual rule does not say.
pub const DEFAULT_APPROVALS: u32 = 1;
/// More distinct approvers than this is a typo, and a request nobody can ever satisfy.
pub const MAX_APPROVALS: u32 = 5;
/// How long a request waits for approvers when a Manual rule does not say: pending access should not
/// linger past the shift that asked for it.
pub const DEFAULT_APPROVAL_TIMEOUT: Ttl = Ttl::constant(3600);
/// The longest a request may wait for approvers (one week).
pub const MAX_APPROVAL_TIMEOUT: Ttl = Ttl::constant(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRule {
    pub name: ObjectName,
    pub roles: BTreeSet<RoleRef>,
    pub namespaces: BTreeSet<NamespaceName>,
    pub subjects: Subjects,
    pub max_ttl: Ttl,
    pub default_ttl: Option<Ttl>,
    pub incident: IncidentRule,
    /// Who approves an AccessRequest under this rule (`Auto` when the rule does not say).
    pub approval: Approval,
}

/// `roleRef` of a grant's RoleBinding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RoleRef {
    pub kind: RoleKind,
    pub name: ObjectName,
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

/// A policy that cannot be trusted, with the field path and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AccessPolicy {policy}: {field}: {problem}")]
pub struct PolicyError {
    pub policy: String,
    pub field: String,
    #[source]
    pub problem: PolicyProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyProblem {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Ttl(#[from] TtlError),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("must list at least one user or group")]
    NoSubjects,
    #[error("{value:?} is listed twice; remove the duplicate")]
    Duplicate { value: String },
    #[error("must list at least one entry")]
    Empty,
    #[error("defaultTTL {default} is longer than maxTTL {max}; lower defaultTTL")]
    DefaultAboveMax { default: Ttl, max: Ttl },
    #[error("maxLength must be between 1 and {max}")]
    IncidentMaxLength { max: usize },
    #[error("approvers are only meaningful with mode Manual; remove them or switch to Manual")]
    ApproversWithAuto,
    #[error("mode Manual needs approvers (users or groups)")]
    NoApprovers,
    #[error("approvals and approvalTimeout are only meaningful with mode Manual; remove them")]
    ManualOptionsWithAuto,
    #[error("approvals must be between 1 and {max}")]
    ApprovalCount { max: u32 },
    #[error("approvalTimeout {timeout} is longer than {max}; pending requests must not linger")]
    ApprovalTimeoutTooLong { timeout: Ttl, max: Ttl },
    #[error(transparent)]
    Webhook(#[from] WebhookProblem),
}

type Problem<T> = Result<T, (String, PolicyProblem)>;

fn at<T, E: Into<PolicyProblem>>(field: impl Into<String>, r: Result<T, E>) -> Problem<T> {
    r.map_err(|e| (field.into(), e.into()))
}

/// Why a request is refused when no policy of a kind (`issuing certificates`, `with grant rules`)
/// names its requester: said the same way for certificates and grants.
pub fn no_policy_lists(kind: &str, username: &str, groups: &[String]) -> String {
    format!(
        "no AccessPolicy {kind} lists user {username} or any of its groups [{}] as a requester",
        groups.join(", ")
    )
}

impl NamedPolicy {
    /// Validates a policy; the error names the policy, the field and the fix.
    pub fn parse(name: &str, spec: &AccessPolicySpec) -> Result<Self, PolicyError> {
        let err = |(field, problem)| PolicyError {
            policy: name.to_owned(),
            field,
            problem,
        };
        let name = at("metadata.name", ObjectName::parse_as("policy name", name)).map_err(err)?;
        let policy = AccessPolicy::parse(spec).map_err(err)?;
        Ok(Self { name, policy })
    }

    /// How this policy is named in messages.
    pub fn scope(&self) -> String {
        format!("policy {}", self.name)
    }
}

impl AccessPolicy {
    fn parse(spec: &AccessPolicySpec) -> Problem<Self> {
        let requesters = parse_subjects("spec.requesters", &spec.requesters)?;
        let certificate_groups =
            parse_set("spec.certificateGroups", &spec.certificate_groups, |g| {
                GroupName::parse(g)
            })?;
        let max_ttl = at(
            "spec.maxTTL",
            Ttl::parse(&spec.max_ttl).and_then(Ttl::check_certificate_min),
        )?;
        let default_ttl = match &spec.default_ttl {
            Some(raw) => Some(at(
                "spec.defaultTTL",
                Ttl::parse(raw).and_then(Ttl::check_certificate_min),
            )?),
            None => None,
        };
        check_default("spec.defaultTTL", default_ttl, max_ttl)?;
        let incident = parse_incident("spec.incident", &spec.incident)?;
        let approval = parse_approval("spec.approval", &spec.approval)?;
        let grants = spec
            .grants
            .iter()
            .enumerate()
            .map(|(i, g)| GrantRule::parse(&format!("spec.grants[{i}]"), g, &incident))
            .collect::<Problem<Vec<_>>>()?;
        check_unique_rule_names(&grants)?;
        let notify = match &spec.notify {
            Some(n) => Some(
                Webhook::parse(&n.webhook)
                    .map_err(|(field, p)| (format!("spec.notify.webhook.{field}"), p.into()))?,
            ),
            None => None,
        };
        Ok(Self {
            requesters,
            certificate_groups,
            max_ttl,
            default_ttl,
            incident,
            approval,
            keys: KeyRequirement::from_spec(spec.keys),
            grants,
            notify,
        })
    }

    /// A policy with no certificate groups governs grants only and takes no part in CSR decisions.
    pub fn issues_certificates(&self) -> bool {
        !self.certificate_groups.is_empty()
    }
}

impl GrantRule {
    fn parse(field: &str, spec: &GrantRuleSpec, policy_incident: &IncidentRule) -> Problem<Self> {
        let name = at(
            format!("{field}.name"),
            ObjectName::parse_as("grant rule name", &spec.name),
        )?;
        let roles = parse_set(&format!("{field}.roles"), &spec.roles, |r| {
            ObjectName::parse_as("role name", &r.name).map(|name| RoleRef { kind: r.kind, name })
        })?;
        non_empty(&format!("{field}.roles"), roles.len())?;
        let namespaces = parse_set(&format!("{field}.namespaces"), &spec.namespaces, |n| {
            NamespaceName::parse(n)
        })?;
        non_empty(&format!("{field}.namespaces"), namespaces.len())?;
        let subjects = parse_subjects(&format!("{field}.subjects"), &spec.subjects)?;
        let max_ttl = at(format!("{field}.maxTTL"), Ttl::parse(&spec.max_ttl))?;
        let default_ttl = match &spec.default_ttl {
            Some(raw) => Some(at(format!("{field}.defaultTTL"), Ttl::parse(raw))?),
            None => None,
        };
        check_default(&format!("{field}.defaultTTL"), default_ttl, max_ttl)?;
        let incident = match &spec.incident {
            Some(i) => parse_incident(&format!("{field}.incident"), i)?,
            None => policy_incident.clone(),
        };
        let approval = match &spec.approval {
            Some(a) => parse_approval(&format!("{field}.approval"), a)?,
            None => Approval::Auto,
        };
        Ok(Self {
            name,
            roles,
            namespaces,
            subjects,
            max_ttl,
            default_ttl,
            incident,
            approval,
        })
    }
}

fn parse_subjects(field: &str, spec: &SubjectsSpec) -> Problem<Subjects> {
    let users = parse_set(&format!("{field}.users"), &spec.users, |u| {
        UserName::parse(u)
    })?;
    let groups = parse_set(&format!("{field}.groups"), &spec.groups, |g| {
        GroupName::parse(g)
    })?;
    let subjects = Subjects { users, groups };
    if subjects.is_empty() {
        return Err((field.to_owned(), PolicyProblem::NoSubjects));
    }
    Ok(subjects)
}

/// Parses every entry, refusing duplicates: a repeated entry is almost always a typo for another one.
fn parse_set<S, T: Ord + fmt::Display, E: Into<PolicyProblem>>(
    field: &str,
    raw: &[S],
    parse: impl Fn(&S) -> Result<T, E>,
) -> Problem<BTreeSet<T>> {
    let mut out = BTreeSet::new();
    for (i, item) in raw.iter().enumerate() {
        let value = at(format!("{field}[{i}]"), parse(item))?;
        let shown = value.to_string();
        if !out.insert(value) {
            return Err((
                format!("{field}[{i}]"),
                PolicyProblem::Duplicate { value: shown },
            ));
        }
    }
    Ok(out)
}

fn non_empty(field: &str, len: usize) -> Problem<()> {
    if len == 0 {
        return Err((field.to_owned(), PolicyProblem::Empty));
    }
    Ok(())
}

fn check_default(field: &str, default: Option<Ttl>, max: Ttl) -> Problem<()> {
    match default {
        Some(d) if d > max => Err((
            field.to_owned(),
            PolicyProblem::DefaultAboveMax { default: d, max },
        )),
        Some(_) | None => Ok(()),
    }
}

fn parse_incident(field: &str, spec: &IncidentSpec) -> Problem<IncidentRule> {
    let max_length = match spec.max_length {
        None => INCIDENT_DEFAULT_MAX,
        Some(n) => match usize::try_from(n) {
            Ok(n) if (1..=INCIDENT_ABSOLUTE_MAX).contains(&n) => n,
            Ok(_) | Err(_) => {
                let problem = PolicyProblem::IncidentMaxLength {
                    max: INCIDENT_ABSOLUTE_MAX,
                };
                return Err((format!("{field}.maxLength"), problem));
            }
        },
    };
    let pattern = match &spec.pattern {
        Some(p) => Some(at(format!("{field}.pattern"), IncidentPattern::new(p))?),
        None => None,
    };
    Ok(IncidentRule {
        required: spec.required.unwrap_or(true),
        pattern,
        max_length,
    })
}

fn parse_approval(field: &str, spec: &ApprovalSpec) -> Problem<Approval> {
    let approvers_field = format!("{field}.approvers");
    match (spec.mode, &spec.approvers) {
        (ApprovalMode::Auto, None) => {
            if spec.approvals.is_some() || spec.approval_timeout.is_some() {
                return Err((field.to_owned(), PolicyProblem::ManualOptionsWithAuto));
            }
            Ok(Approval::Auto)
        }
        (ApprovalMode::Auto, Some(_)) => Err((approvers_field, PolicyProblem::ApproversWithAuto)),
        (ApprovalMode::Manual, None) => Err((approvers_field, PolicyProblem::NoApprovers)),
        (ApprovalMode::Manual, Some(a)) => {
            let approvers = parse_subjects(&approvers_field, a).map_err(|(f, p)| {
                (
                    f,
                    if p == PolicyProblem::NoSubjects {
                        PolicyProblem::NoApprovers
                    } else {
                        p
                    },
                )
            })?;
            let approvals = spec.approvals.unwrap_or(DEFAULT_APPROVALS);
            if !(1..=MAX_APPROVALS).contains(&approvals) {
                let problem = PolicyProblem::ApprovalCount { max: MAX_APPROVALS };
                return Err((format!("{field}.approvals"), problem));
            }
            let timeout = parse_approval_timeout(field, spec.approval_timeout.as_deref())?;
            Ok(Approval::Manual {
                approvers,
                approvals,
                timeout,
            })
        }
    }
}

fn parse_approval_timeout(field: &str, raw: Option<&str>) -> Problem<Ttl> {
    let field = format!("{field}.approvalTimeout");
    let Some(raw) = raw else {
        return Ok(DEFAULT_APPROVAL_TIMEOUT);
    };
    let timeout = at(&field, Ttl::parse(raw))?;
    if timeout > MAX_APPROVAL_TIMEOUT {
        let problem = PolicyProblem::ApprovalTimeoutTooLong {
            timeout,
            max: MAX_APPROVAL_TIMEOUT,
        };
        return Err((field, problem));
    }
    Ok(timeout)
}

fn check_unique_rule_names(grants: &[GrantRule]) -> Problem<()> {
    let mut seen = BTreeSet::new();
    for (i, rule) in grants.iter().enumerate() {
        if !seen.insert(&rule.name) {
            let problem = PolicyProblem::Duplicate {
                value: rule.name.to_string(),
            };
            return Err((format!("spec.grants[{i}].name"), problem));
        }
    }
    Ok(())
}
