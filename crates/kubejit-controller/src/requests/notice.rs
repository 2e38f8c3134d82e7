//! What people watching a request see: a Kubernetes Event on each phase change, and a notification
//! to the webhook of the policy that governs the request.

use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use kubejit_core::request::{Phase, RequestVerdict, authorize};
use kubejit_core::{ObjectName, Webhook};
use kubejit_kube::request::AccessRequest;
use time::OffsetDateTime;

use super::record;
use super::shared::Requests;
use crate::notify::{Notification, RequestRef};

/// Called once the status that moves `request` from `from` to `verdict.phase` is written (and the
/// facts it makes true are recorded). Every phase change passes here exactly once per write, so
/// this is where notifications (webhooks) attach: they are queued and never block or fail the decision.
pub(crate) async fn phase_changed(
    r: &Requests,
    request: &AccessRequest,
    from: Option<Phase>,
    verdict: &RequestVerdict,
) {
    r.ctx.requests.transition(verdict.phase.as_str());
    tracing::info!(
        from = from.map_or("-", Phase::as_str),
        to = verdict.phase.as_str(),
        reason = verdict.reason.as_str(),
        message = %kubejit_core::text::escape(&verdict.message),
        "AccessRequest phase changed"
    );
    publish(r, request, verdict).await;
    announce(r, request, from, verdict);
}

/// Queues the phase change for the governing policy's webhook, if it has one. Never waits: the
/// notifier delivers (and retries) on its own task.
fn announce(r: &Requests, request: &AccessRequest, from: Option<Phase>, verdict: &RequestVerdict) {
    let Some(webhook) = webhook(r, request, verdict) else {
        return;
    };
    let notification = notification(request, from, verdict, r.ctx.clock.now());
    r.notifier.notify(&webhook, &notification);
}

/// The `notify.webhook` of the policy that governs the request: the one the verdict names; for a
/// withdrawal (decided before any policy is consulted) the one that allows the request now. A
/// request no policy allows (Denied NotAllowed, or Revoked because its policy stopped allowing it)
/// has none, so nobody is notified.
fn webhook(r: &Requests, request: &AccessRequest, verdict: &RequestVerdict) -> Option<Webhook> {
    let policies = r.current_policies();
    let governing: ObjectName = match &verdict.authorized {
        Some(authorized) => authorized.policy.clone(),
        None if verdict.phase == Phase::Withdrawn => {
            let facts = request.facts().ok()?;
            authorize(&facts, &policies).ok()?.policy
        }
        None => return None,
    };
    policies
        .into_iter()
        .find(|p| p.name == governing)
        .and_then(|p| p.policy.notify)
}

/// The notification for a phase change, from the request's spec and the verdict just written.
pub(crate) fn notification(
    request: &AccessRequest,
    from: Option<Phase>,
    verdict: &RequestVerdict,
    now: OffsetDateTime,
) -> Notification {
    let spec = &request.spec;
    Notification {
        phase: verdict.phase,
        previous_phase: from,
        phase_reason: verdict.reason,
        request: RequestRef {
            namespace: request.namespace().unwrap_or_default(),
            name: request.name_any(),
            uid: request.uid().unwrap_or_default(),
        },
        requester: spec.requester.clone(),
        subjects: spec.subjects.clone(),
        role: spec.role.clone(),
        certificate_groups: spec.certificate_groups.clone(),
        incident: spec.incident.clone(),
        reason: spec.reason.clone(),
        approvers: record::approvers(verdict),
        expires_at: verdict.expires_at,
        time: now,
    }
}

async fn publish(r: &Requests, request: &AccessRequest, verdict: &RequestVerdict) {
    let type_ = match verdict.phase {
        Phase::Pending | Phase::Approved | Phase::Active | Phase::Expired | Phase::Withdrawn => {
            EventType::Normal
        }
        Phase::Denied | Phase::Revoked | Phase::TimedOut => EventType::Warning,
    };
    let event = Event {
        type_,
        reason: verdict.phase.as_str().to_owned(),
        // The message quotes names from the request: shown escaped, never raw.
        note: Some(kubejit_core::text::escape(&verdict.message).into_owned()),
        action: "Decide".to_owned(),
        secondary: None,
    };
    if let Err(error) = r.recorder.publish(&event, &request.object_ref(&())).await {
        r.ctx.requests.error("event_publish");
        tracing::warn!(%error, "failed to publish the AccessRequest Event");
    }
}

/// A Warning Event for a problem that stops the request from progressing (its binding's name is
/// taken, its audit record cannot be written).
pub(crate) async fn warn(r: &Requests, request: &AccessRequest, reason: &str, note: String) {
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(kubejit_core::text::escape(&note).into_owned()),
        action: "Grant".to_owned(),
        secondary: None,
    };
    if let Err(error) = r.recorder.publish(&event, &request.object_ref(&())).await {
        r.ctx.requests.error("event_publish");
        tracing::warn!(%error, "failed to publish the AccessRequest Event");
    }
}
