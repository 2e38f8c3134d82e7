//! Which policy rule allows a request, and with which approval rule: the same checks as a grant or a
//! certificate, done before anyone is asked to approve and again on every later look.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::facts::{RequestFacts, Target};
use crate::grant::{GrantAction, GrantRequest, decide_grant};
use crate::incident::Incident;
use crate::names::{GroupName, ObjectName};
use crate::policy::{Approval, NamedPolicy};
use crate::ttl::Ttl;

/// The rule that allows a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    pub policy: ObjectName,
    /// The grant rule; `None` for a certificate request (the policy itself is the rule).
    pub rule: Option<ObjectName>,
    pub ttl: Ttl,
    pub incident: Option<Incident>,
    pub approval: Approval,
}

/// Why no rule allows a request; the message names the policy and the fix, as a grant refusal does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NotAllowed {
    pub message: String,
}

/// Finds the rule that allows `request`, or says why none does.
pub fn authorize(
    request: &RequestFacts,
    policies: &[NamedPolicy],
) -> Result<Authorized, NotAllowed> {
    match &request.target {
        Target::Role { namespace, role } => {
            let grant = GrantRequest {
                requester: request.requester.clone(),
                namespace: namespace.clone(),
                role: role.clone(),
                subjects: request.subjects.clone(),
                ttl: request.ttl,
                incident: request.incident.clone(),
                action: GrantAction::Create,
            };
            // The plan's deadline is not used (the TTL counts from approval): any instant will do.
            let plan = decide_grant(&grant, policies, OffsetDateTime::UNIX_EPOCH)
                .map_err(|r| NotAllowed { message: r.message })?;
            let approval = policies
                .iter()
                .filter(|p| p.name == plan.policy)
                .flat_map(|p| p.policy.grants.iter())
                .find(|r| r.name == plan.rule)
                .map(|r| r.approval.clone())
                .ok_or_else(|| NotAllowed {
                    message: format!("grant rule {} vanished while deciding", plan.rule),
                })?;
            Ok(Authorized {
                policy: plan.policy,
                rule: Some(plan.rule),
                ttl: plan.ttl,
                incident: plan.incident,
                approval,
            })
        }
        Target::Certificate { groups } => authorize_certificate(request, groups, policies),
    }
}

/// Like a CSR decision: one policy must allow every group, the TTL and the incident; Auto policies
/// win over Manual ones, then the first by name.
fn authorize_certificate(
    request: &RequestFacts,
    groups: &BTreeSet<GroupName>,
    policies: &[NamedPolicy],
) -> Result<Authorized, NotAllowed> {
    let mut sorted: Vec<&NamedPolicy> = policies
        .iter()
        .filter(|p| p.policy.issues_certificates())
        .collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut first_refusal = None;
    let mut allowed = Vec::new();
    for policy in sorted {
        if policy
            .policy
            .requesters
            .match_requester(&request.requester)
            .is_none()
        {
            continue;
        }
        match certificate_rule(request, groups, policy) {
            Ok(a) => allowed.push(a),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    let auto = allowed.iter().position(|a| a.approval == Approval::Auto);
    if let Some(chosen) = allowed.into_iter().nth(auto.unwrap_or(0)) {
        return Ok(chosen);
    }
    Err(first_refusal.unwrap_or_else(|| NotAllowed {
        message: format!(
            "no AccessPolicy that issues certificates lists user {} or any of its groups [{}] as a requester",
            request.requester.username,
            request.requester.groups.join(", ")
        ),
    }))
}

fn certificate_rule(
    request: &RequestFacts,
    groups: &BTreeSet<GroupName>,
    policy: &NamedPolicy,
) -> Result<Authorized, NotAllowed> {
    let scope = policy.scope();
    let refuse = |message: String| NotAllowed { message };
    if let Some(g) = groups.difference(&policy.policy.certificate_groups).next() {
        return Err(refuse(format!(
            "certificate group {g} is not allowed by {scope}"
        )));
    }
    let ttl = request
        .ttl
        .or(policy.policy.default_ttl)
        .ok_or_else(|| refuse(format!("{scope} has no defaultTTL; ask for a ttl")))?;
    let ttl = ttl
        .check_certificate_min()
        .and_then(|t| t.check_at_most(policy.policy.max_ttl, &scope))
        .map_err(|e| refuse(e.to_string()))?;
    let incident = policy
        .policy
        .incident
        .check(request.incident.as_deref(), &scope)
        .map_err(|v| refuse(v.to_string()))?;
    Ok(Authorized {
        policy: policy.name.clone(),
        rule: None,
        ttl,
        incident,
        approval: policy.policy.approval.clone(),
    })
}
