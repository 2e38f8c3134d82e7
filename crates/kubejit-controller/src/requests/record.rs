//! What the request controller records, and how each fact lands in the trail exactly once.
//!
//! Every fact is about one request and happens at most once for it, so its event id is derived from
//! the request's uid and the fact ([`kubejit_audit::AuditEvent::once`]). Before writing a fact the
//! controller asks the trail whether it already holds that id (once per request and fact per term;
//! afterwards it remembers), so a fact written just before a crash is not written again after the
//! restart, and a fact whose write was lost is written then. Which facts are due is read from the
//! status the controller wrote (see [`due`]), never from memory.

use std::collections::HashSet;
use std::sync::Arc;

use kube::ResourceExt;
use kubejit_audit::{
    AccessApproved, AccessEnded, AccessRequested, Actor, AuditEvent, AuditedGrant, GrantChanged,
    GrantRevoked, GrantSource, ObjectRef, RequestedAccess, Timestamp, Verdict,
};
use kubejit_core::request::{Phase, RequestFacts, RequestVerdict, Target};
use kubejit_kube::GrantView;
use kubejit_kube::request::AccessRequest;

use super::error::Error;
use super::shared::Requests;

/// The request as every fact about it describes it.
pub(crate) fn access(
    request: &AccessRequest,
    facts: Option<&RequestFacts>,
    verdict: &RequestVerdict,
) -> RequestedAccess {
    let (users, groups, role) = match facts.map(|f| (&f.target, f)) {
        Some((Target::Role { role, .. }, f)) => (
            f.subjects
                .users
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            f.subjects
                .groups
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            Some(format!("{}/{}", role.kind.as_str(), role.name)),
        ),
        Some((Target::Certificate { groups }, f)) => (
            vec![f.requester.username.clone()],
            groups.iter().map(|g| g.as_str().to_owned()).collect(),
            None,
        ),
        // Malformed: what the spec says, escaped (nobody validated it).
        None => (Vec::new(), Vec::new(), None),
    };
    let authorized = verdict.authorized.as_ref();
    RequestedAccess {
        request: ObjectRef {
            kind: "AccessRequest".to_owned(),
            namespace: request.namespace(),
            name: request.name_any(),
            uid: request.uid(),
        },
        requester: kubejit_core::text::escape(&request.spec.requester.username).into_owned(),
        users,
        groups,
        role,
        policy: authorized.map(|a| a.policy.to_string()),
        incident: AuditedGrant::annotation(request.spec.incident.as_deref()),
        reason: AuditedGrant::annotation(Some(&request.spec.reason)).unwrap_or_default(),
        ttl_seconds: authorized.map(|a| a.ttl.as_secs()),
    }
}

/// The approvers whose approval counted, in the order recorded.
pub(crate) fn approvers(verdict: &RequestVerdict) -> Vec<String> {
    verdict
        .approvals
        .iter()
        .filter(|a| a.counted)
        .map(|a| a.approver.clone())
        .collect()
}

/// The facts the status just written makes true, in the order they happened. `accessApproved` is
/// first returned on its own by [`approval`]: it gates the grant.
/// `reason` and `message` are the status's (a terminal status keeps the ones it was written with).
pub(crate) fn due(
    controller: &str,
    access: &RequestedAccess,
    verdict: &RequestVerdict,
    reason: &str,
    message: &str,
) -> Vec<AuditEvent> {
    let mut facts = vec![AuditEvent::AccessRequested(AccessRequested {
        access: access.clone(),
        decision: match verdict.phase {
            Phase::Pending => Verdict::Pending,
            Phase::Approved | Phase::Active | Phase::Expired => Verdict::Allowed,
            Phase::Denied | Phase::Withdrawn | Phase::Revoked | Phase::TimedOut => Verdict::Denied,
        },
        phase_reason: reason.to_owned(),
    })];
    if let Some(event) = approval(controller, access, verdict) {
        facts.push(event);
    }
    let ended = |phase_reason: &str| AccessEnded {
        controller: controller.to_owned(),
        access: access.clone(),
        phase_reason: phase_reason.to_owned(),
        message: message.to_owned(),
    };
    match verdict.phase {
        Phase::Pending | Phase::Approved | Phase::Active | Phase::Expired => {}
        Phase::Denied => facts.push(AuditEvent::AccessDenied(ended(reason))),
        Phase::Withdrawn => facts.push(AuditEvent::AccessWithdrawn(ended(reason))),
        Phase::TimedOut => facts.push(AuditEvent::AccessTimedOut(ended(reason))),
        Phase::Revoked => facts.push(AuditEvent::AccessRevoked(ended(reason))),
    }
    facts
}

/// `accessApproved`, once the request has an approval instant.
pub(crate) fn approval(
    controller: &str,
    access: &RequestedAccess,
    verdict: &RequestVerdict,
) -> Option<AuditEvent> {
    let expires_at = verdict.expires_at?;
    verdict.approved_at?;
    Some(AuditEvent::AccessApproved(AccessApproved {
        controller: controller.to_owned(),
        access: access.clone(),
        approvers: approvers(verdict),
        expires_at: Timestamp::new(expires_at),
        phase_reason: match verdict.authorized.as_ref().map(|a| &a.approval) {
            Some(kubejit_core::Approval::Manual { .. }) => "ApprovalsReceived",
            Some(kubejit_core::Approval::Auto) | None => "AutoApproved",
        }
        .to_owned(),
    }))
}

/// `grantCreated` by the controller, naming the request and its approvers.
pub(crate) fn grant_created(
    controller: &str,
    request: &AccessRequest,
    binding: &GrantView,
    verdict: &RequestVerdict,
) -> Option<AuditEvent> {
    let authorized = verdict.authorized.as_ref()?;
    let expires_at = verdict.expires_at?;
    Some(AuditEvent::GrantCreated(GrantChanged {
        actor: Actor::controller(controller),
        grant: binding.audited(),
        source: GrantSource::Request {
            request: format!(
                "{}/{}",
                request.namespace().unwrap_or_default(),
                request.name_any()
            ),
            approvers: approvers(verdict),
            policy: authorized.policy.to_string(),
            ttl_seconds: authorized.ttl.as_secs(),
            expires_at: Timestamp::new(expires_at),
        },
    }))
}

/// The record of a binding the controller removed before its deadline (the request was withdrawn,
/// denied or is no longer allowed): `grantRevoked`, which ends the grant in `audit report`.
pub(crate) fn grant_revoked(controller: &str, binding: &GrantView, why: String) -> AuditEvent {
    AuditEvent::GrantRevoked(GrantRevoked {
        actor: Actor::controller(controller),
        grant: binding.audited(),
        reason: Some(why),
    })
}

/// Writes `event` about the request `uid` unless the trail already holds it. `gate`: the record
/// must be in the primary sink before the caller acts (`Err` otherwise); else it is a record of
/// something done, kept and replayed if the trail is down.
pub(crate) async fn once(
    r: &Arc<Requests>,
    uid: &str,
    event: AuditEvent,
    gate: bool,
) -> Result<(), Error> {
    let kind = event.kind();
    if r.is_recorded(uid, kind) {
        return Ok(());
    }
    let stamped = event.once(r.ctx.clock.now(), uid);
    let id = stamped.event_id().to_owned();
    let auditor = Arc::clone(&r.ctx.audit);
    let ids: HashSet<String> = [id.clone()].into();
    // Blocking I/O (a trail read): off the async workers.
    let present = tokio::task::spawn_blocking(move || auditor.primary().find_recorded(&ids))
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|found| found.contains(&id));
    if present {
        r.mark_recorded(uid, kind);
        return Ok(());
    }
    if gate {
        let auditor = Arc::clone(&r.ctx.audit);
        let what = kind.as_str();
        tokio::task::spawn_blocking(move || auditor.record(stamped))
            .await
            .map_err(|_| Error::AuditTask {
                what: what.to_owned(),
            })?
            .map_err(|source| Error::Audit {
                what: what.to_owned(),
                source,
            })?;
    } else {
        r.ctx.record_after(stamped).await;
    }
    r.mark_recorded(uid, kind);
    Ok(())
}
