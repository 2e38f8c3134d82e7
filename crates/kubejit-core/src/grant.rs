//! Time-bound RoleBinding grants: the pure check behind `kubejit grant` and `kubejit extend`.
//!
//! Like CSR approval, one grant rule of one policy must allow everything (role, namespace, every
//! subject, TTL, incident). Policies and rules are tried sorted by name; the first that allows wins,
//! otherwise the refusal comes from the rule that got furthest through its checks.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::expiry::format_expires_at;
use crate::incident::{Incident, IncidentViolation};
use crate::names::{NamespaceName, ObjectName};
use crate::policy::{GrantRule, NamedPolicy, RoleRef};
use crate::subject::{Requester, RequesterMatch, Subjects};
use crate::ttl::Ttl;

/// What the CLI asks for. `requester` comes from a SelfSubjectReview, not from flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub requester: Requester,
    pub namespace: NamespaceName,
    pub role: RoleRef,
    pub subjects: Subjects,
    /// `None`: use the rule's `defaultTTL`.
    pub ttl: Option<Ttl>,
    pub incident: Option<String>,
    pub action: GrantAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAction {
    Create,
    /// Extending sets the deadline to `now + ttl` (capped like a new grant); it must move the deadline later.
    Extend {
        current_deadline: OffsetDateTime,
    },
}

/// An allowed grant, ready for the kube glue to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantPlan {
    pub policy: ObjectName,
    pub rule: ObjectName,
    pub matched: RequesterMatch,
    pub namespace: NamespaceName,
    pub role: RoleRef,
    pub subjects: Subjects,
    pub ttl: Ttl,
    pub incident: Option<Incident>,
    /// Whole seconds, UTC (now + ttl, truncated so the grant never outlives its cap).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl GrantPlan {
    /// The `debugging.kubernetes.io/expires-at` annotation value.
    pub fn expires_at_annotation(&self) -> String {
        format_expires_at(self.expires_at)
    }
}

/// Machine-readable refusal reasons (stable strings for audit and exit messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum GrantRefusalReason {
    /// The request names no user or group to bind.
    NoSubjects,
    /// No policy with grant rules lists the requester.
    NoMatchingPolicy,
    /// No rule of a matching policy allows this role.
    RoleNotAllowed,
    /// The role is allowed, but not in this namespace.
    NamespaceNotAllowed,
    /// A subject to bind is not in the rule's `subjects`.
    SubjectNotAllowed,
    /// No `--ttl` and the rule has no `defaultTTL`.
    TtlMissing,
    /// The TTL exceeds the rule's `maxTTL`.
    TtlExceedsPolicy,
    IncidentMissing,
    IncidentInvalid,
    IncidentMismatch,
    /// `extend` would not move the deadline later.
    NotAnExtension,
}

impl GrantRefusalReason {
    pub const ALL: [GrantRefusalReason; 11] = [
        Self::NoSubjects,
        Self::NoMatchingPolicy,
        Self::RoleNotAllowed,
        Self::NamespaceNotAllowed,
        Self::SubjectNotAllowed,
        Self::TtlMissing,
        Self::TtlExceedsPolicy,
        Self::IncidentMissing,
        Self::IncidentInvalid,
        Self::IncidentMismatch,
        Self::NotAnExtension,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSubjects => "NoSubjects",
            Self::NoMatchingPolicy => "NoMatchingPolicy",
            Self::RoleNotAllowed => "RoleNotAllowed",
            Self::NamespaceNotAllowed => "NamespaceNotAllowed",
            Self::SubjectNotAllowed => "SubjectNotAllowed",
            Self::TtlMissing => "TtlMissing",
            Self::TtlExceedsPolicy => "TtlExceedsPolicy",
            Self::IncidentMissing => "IncidentMissing",
            Self::IncidentInvalid => "IncidentInvalid",
            Self::IncidentMismatch => "IncidentMismatch",
            Self::NotAnExtension => "NotAnExtension",
        }
    }
}

impl fmt::Display for GrantRefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a grant was refused; nothing has been written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grant refused: {message}")]
pub struct GrantRefusal {
    pub reason: GrantRefusalReason,
    pub message: String,
}

fn refuse(reason: GrantRefusalReason, message: impl Into<String>) -> GrantRefusal {
    GrantRefusal {
        reason,
        message: message.into(),
    }
}

/// Decides a `grant` or `extend` request against all policies.
pub fn decide_grant(
    request: &GrantRequest,
    policies: &[NamedPolicy],
    now: OffsetDateTime,
) -> Result<GrantPlan, GrantRefusal> {
    if request.subjects.is_empty() {
        return Err(refuse(
            GrantRefusalReason::NoSubjects,
            "name at least one --group or --user to grant",
        ));
    }
    let mut sorted: Vec<&NamedPolicy> = policies
        .iter()
        .filter(|p| !p.policy.grants.is_empty())
        .collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut closest: Option<(Stage, GrantRefusal)> = None;
    for policy in sorted {
        let Some(matched) = policy.policy.requesters.match_requester(&request.requester) else {
            continue;
        };
        let mut rules: Vec<&GrantRule> = policy.policy.grants.iter().collect();
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        for rule in rules {
            match evaluate(request, policy, rule, &matched, now) {
                Ok(plan) => return check_extension(request, plan),
                Err((stage, refusal)) => {
                    if closest.as_ref().is_none_or(|(best, _)| stage > *best) {
                        closest = Some((stage, refusal));
                    }
                }
            }
        }
    }
    Err(closest
        .map(|(_, r)| r)
        .unwrap_or_else(|| no_policy(&request.requester)))
}

fn no_policy(requester: &Requester) -> GrantRefusal {
    let (username, groups) = (&requester.username, &requester.groups);
    let msg = crate::policy::no_policy_lists("with grant rules", username, groups);
    refuse(GrantRefusalReason::NoMatchingPolicy, msg)
}

/// Which check a rule failed; later means closer to allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Role,
    Namespace,
    Subjects,
    Ttl,
    Incident,
}

type Refused = (Stage, GrantRefusal);

fn evaluate(
    request: &GrantRequest,
    policy: &NamedPolicy,
    rule: &GrantRule,
    matched: &RequesterMatch,
    now: OffsetDateTime,
) -> Result<GrantPlan, Refused> {
    let scope = format!("{}, grant rule {}", policy.scope(), rule.name);
    check_target(request, rule, &scope)?;
    let ttl = grant_ttl(request.ttl, rule, &scope)?;
    let incident = rule
        .incident
        .check(request.incident.as_deref(), &scope)
        .map_err(incident_refusal)?;
    let expires_at = deadline(now, ttl).ok_or_else(|| {
        let msg = format!("now + {ttl} is not a representable time; ask for a shorter --ttl");
        (
            Stage::Ttl,
            refuse(GrantRefusalReason::TtlExceedsPolicy, msg),
        )
    })?;
    Ok(GrantPlan {
        policy: policy.name.clone(),
        rule: rule.name.clone(),
        matched: matched.clone(),
        namespace: request.namespace.clone(),
        role: request.role.clone(),
        subjects: request.subjects.clone(),
        ttl,
        incident,
        expires_at,
    })
}

/// `now + ttl`, truncated to whole seconds (the annotation's resolution) so the grant never outlives its cap.
fn deadline(now: OffsetDateTime, ttl: Ttl) -> Option<OffsetDateTime> {
    let secs = i64::try_from(ttl.as_secs()).ok()?;
    now.checked_add(time::Duration::seconds(secs))?
        .replace_nanosecond(0)
        .ok()
}

fn check_target(request: &GrantRequest, rule: &GrantRule, scope: &str) -> Result<(), Refused> {
    if !rule.roles.contains(&request.role) {
        let msg = format!("{} may not be granted by {scope}", request.role);
        return Err((Stage::Role, refuse(GrantRefusalReason::RoleNotAllowed, msg)));
    }
    if !rule.namespaces.contains(&request.namespace) {
        let msg = format!(
            "{} may not be granted in namespace {} by {scope}",
            request.role, request.namespace
        );
        return Err((
            Stage::Namespace,
            refuse(GrantRefusalReason::NamespaceNotAllowed, msg),
        ));
    }
    if !rule.subjects.contains_all(&request.subjects) {
        let msg = format!(
            "{scope} may grant only to {}, not to {}",
            rule.subjects, request.subjects
        );
        return Err((
            Stage::Subjects,
            refuse(GrantRefusalReason::SubjectNotAllowed, msg),
        ));
    }
    Ok(())
}

fn grant_ttl(requested: Option<Ttl>, rule: &GrantRule, scope: &str) -> Result<Ttl, Refused> {
    let Some(ttl) = requested.or(rule.default_ttl) else {
        let msg = format!(
            "{scope} has no defaultTTL; pass --ttl (at most {})",
            rule.max_ttl
        );
        return Err((Stage::Ttl, refuse(GrantRefusalReason::TtlMissing, msg)));
    };
    ttl.check_at_most(rule.max_ttl, scope).map_err(|e| {
        (
            Stage::Ttl,
            refuse(GrantRefusalReason::TtlExceedsPolicy, e.to_string()),
        )
    })
}

fn incident_refusal(violation: IncidentViolation) -> Refused {
    let reason = match violation {
        IncidentViolation::Missing { .. } => GrantRefusalReason::IncidentMissing,
        IncidentViolation::Invalid { .. } => GrantRefusalReason::IncidentInvalid,
        IncidentViolation::PatternMismatch { .. } => GrantRefusalReason::IncidentMismatch,
    };
    (Stage::Incident, refuse(reason, violation.to_string()))
}

fn check_extension(request: &GrantRequest, plan: GrantPlan) -> Result<GrantPlan, GrantRefusal> {
    match request.action {
        GrantAction::Create => Ok(plan),
        GrantAction::Extend { current_deadline } if plan.expires_at > current_deadline => Ok(plan),
        GrantAction::Extend { current_deadline } => {
            let msg = format!(
                "extending to {} would not move the deadline {} later; ask for a longer --ttl",
                plan.expires_at_annotation(),
                format_expires_at(current_deadline)
            );
            Err(refuse(GrantRefusalReason::NotAnExtension, msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::names::GroupName;
    use crate::policy::RoleKind;
    use crate::subject::UserName;
    use crate::testutil::policy;

    const NOW: OffsetDateTime = datetime!(2030-01-02 15:04:05.5 UTC);

    fn payments() -> NamedPolicy {
        policy(
            "payments-oncall",
            json!({
                "requesters": {"groups": ["oncall-payments"]},
                "maxTTL": "1h",
                "incident": {"pattern": "INC-[0-9]+"},
                "approval": {"mode": "Auto"},
                "grants": [{
                    "name": "debug",
                    "roles": [{"kind": "Role", "name": "oncall-debug"}, {"kind": "ClusterRole", "name": "view"}],
                    "namespaces": ["payments", "payments-canary"],
                    "subjects": {"groups": ["oncall-payments"], "users": ["alice"]},
                    "maxTTL": "2h",
                    "defaultTTL": "30m"
                }]
            }),
        )
    }

    fn role(kind: RoleKind, name: &str) -> RoleRef {
        RoleRef {
            kind,
            name: ObjectName::parse(name).unwrap(),
        }
    }

    fn group(g: &str) -> Subjects {
        Subjects {
            users: BTreeSet::new(),
            groups: [GroupName::parse(g).unwrap()].into(),
        }
    }

    fn request() -> GrantRequest {
        GrantRequest {
            requester: Requester {
                username: "alice".into(),
                groups: vec!["oncall-payments".into()],
            },
            namespace: NamespaceName::parse("payments").unwrap(),
            role: role(RoleKind::Role, "oncall-debug"),
            subjects: group("oncall-payments"),
            ttl: Some(Ttl::parse("2h").unwrap()),
            incident: Some("INC-12345".into()),
            action: GrantAction::Create,
        }
    }

    type Mutation = fn(&mut GrantRequest);

    #[test]
    fn each_rule_refuses_on_its_own() {
        let cases: Vec<(GrantRefusalReason, &str, Mutation)> = vec![
            (GrantRefusalReason::NoSubjects, "nobody", |r| {
                r.subjects = Subjects::default()
            }),
            (
                GrantRefusalReason::NoMatchingPolicy,
                "not a requester",
                |r| r.requester.groups = vec!["dev".into()],
            ),
            (GrantRefusalReason::RoleNotAllowed, "admin role", |r| {
                r.role = role(RoleKind::ClusterRole, "admin")
            }),
            (GrantRefusalReason::RoleNotAllowed, "kind matters", |r| {
                r.role = role(RoleKind::ClusterRole, "oncall-debug")
            }),
            (
                GrantRefusalReason::NamespaceNotAllowed,
                "other namespace",
                |r| {
                    r.namespace = NamespaceName::parse("billing").unwrap();
                },
            ),
            (GrantRefusalReason::SubjectNotAllowed, "other group", |r| {
                r.subjects = group("everyone")
            }),
            (GrantRefusalReason::SubjectNotAllowed, "extra user", |r| {
                r.subjects.users.insert(UserName::parse("mallory").unwrap());
            }),
            (GrantRefusalReason::TtlExceedsPolicy, "3h", |r| {
                r.ttl = Some(Ttl::parse("2h 1s").unwrap())
            }),
            (GrantRefusalReason::IncidentMissing, "no incident", |r| {
                r.incident = None
            }),
            (GrantRefusalReason::IncidentInvalid, "control char", |r| {
                r.incident = Some("INC-1\u{0}".into())
            }),
            (GrantRefusalReason::IncidentMismatch, "wrong pattern", |r| {
                r.incident = Some("JIRA-1".into())
            }),
            (GrantRefusalReason::NotAnExtension, "shorter extend", |r| {
                r.action = GrantAction::Extend {
                    current_deadline: NOW + time::Duration::hours(3),
                };
            }),
        ];
        let policies = [payments()];
        assert!(
            decide_grant(&request(), &policies, NOW).is_ok(),
            "the base case is allowed"
        );
        let mut covered = BTreeSet::new();
        for (want, what, mutate) in cases {
            let mut req = request();
            mutate(&mut req);
            let refusal = decide_grant(&req, &policies, NOW).expect_err(what);
            assert_eq!(refusal.reason, want, "{what}: {}", refusal.message);
            covered.insert(want);
        }
        let missing: Vec<_> = GrantRefusalReason::ALL
            .iter()
            .filter(|r| !covered.contains(r))
            .collect();
        assert_eq!(
            missing,
            [&GrantRefusalReason::TtlMissing],
            "only TtlMissing needs its own policy (below)"
        );
    }

    #[test]
    fn plan_carries_everything_the_binding_needs() {
        let plan = decide_grant(&request(), &[payments()], NOW).unwrap();
        assert_eq!(plan.policy.as_str(), "payments-oncall");
        assert_eq!(plan.rule.as_str(), "debug");
        assert_eq!(plan.matched.to_string(), "requester group oncall-payments");
        assert_eq!(plan.role.to_string(), "Role/oncall-debug");
        assert_eq!(
            plan.expires_at_annotation(),
            "2030-01-02T17:04:05Z",
            "truncated, never longer than the TTL"
        );
        assert_eq!(plan.incident.unwrap().as_str(), "INC-12345");
    }

    #[test]
    fn default_ttl_applies_and_missing_default_refuses() {
        let mut req = request();
        req.ttl = None;
        assert_eq!(
            decide_grant(&req, &[payments()], NOW)
                .unwrap()
                .ttl
                .as_secs(),
            1800
        );
        let no_default = policy(
            "strict",
            json!({"requesters": {"users": ["alice"]}, "maxTTL": "1h", "approval": {"mode": "Auto"},
                   "grants": [{"name": "r", "roles": [{"kind": "Role", "name": "oncall-debug"}],
                               "namespaces": ["payments"], "subjects": {"groups": ["oncall-payments"]}, "maxTTL": "10s"}]}),
        );
        let refusal = decide_grant(&req, &[no_default], NOW).unwrap_err();
        assert_eq!(refusal.reason, GrantRefusalReason::TtlMissing);
        assert!(
            refusal.message.contains("pass --ttl"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn short_grants_are_fine() {
        let mut req = request();
        req.ttl = Some(Ttl::parse("5s").unwrap());
        let plan = decide_grant(&req, &[payments()], NOW).unwrap();
        assert_eq!(plan.expires_at, datetime!(2030-01-02 15:04:10 UTC));
    }

    #[test]
    fn extend_moves_the_deadline_later_within_the_cap() {
        let mut req = request();
        req.action = GrantAction::Extend {
            current_deadline: NOW + time::Duration::minutes(10),
        };
        assert!(decide_grant(&req, &[payments()], NOW).is_ok());
        req.ttl = Some(Ttl::parse("3h").unwrap());
        assert_eq!(
            decide_grant(&req, &[payments()], NOW).unwrap_err().reason,
            GrantRefusalReason::TtlExceedsPolicy
        );
    }

    #[test]
    fn refusal_names_policy_and_rule() {
        let mut req = request();
        req.ttl = Some(Ttl::parse("3h").unwrap());
        let refusal = decide_grant(&req, &[payments()], NOW).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "grant refused: TTL 3h exceeds the maximum 2h allowed by policy payments-oncall, grant rule debug; \
             ask for 2h or less"
        );
    }

    #[test]
    fn closest_rule_explains_the_refusal() {
        let other = policy(
            "aaa",
            json!({"requesters": {"groups": ["oncall-payments"]}, "maxTTL": "1h", "approval": {"mode": "Auto"},
                   "grants": [{"name": "other", "roles": [{"kind": "Role", "name": "x"}],
                               "namespaces": ["x"], "subjects": {"groups": ["x"]}, "maxTTL": "1h"}]}),
        );
        let mut req = request();
        req.incident = Some("nope".into());
        let refusal = decide_grant(&req, &[other, payments()], NOW).unwrap_err();
        assert_eq!(refusal.reason, GrantRefusalReason::IncidentMismatch);
        assert!(
            refusal.message.contains("grant rule debug"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn certificate_only_policies_grant_nothing() {
        let certs = policy(
            "certs",
            json!({"requesters": {"groups": ["oncall-payments"]}, "certificateGroups": ["g"], "maxTTL": "1h",
                   "approval": {"mode": "Auto"}}),
        );
        assert_eq!(
            decide_grant(&request(), &[certs], NOW).unwrap_err().reason,
            GrantRefusalReason::NoMatchingPolicy
        );
    }

    #[test]
    fn reason_labels_are_unique() {
        let labels: BTreeSet<&str> = GrantRefusalReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), GrantRefusalReason::ALL.len());
    }
}
