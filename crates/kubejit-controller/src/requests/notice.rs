//! What people watching a request see: a Kubernetes Event on each phase change, and the hook the
//! notifications module plugs into.

use kube::Resource;
use kube::runtime::events::{Event, EventType};
use kubejit_core::request::{Phase, RequestVerdict};
use kubejit_kube::request::AccessRequest;

use super::shared::Requests;

/// Called once the status that moves `request` from `from` to `verdict.phase` is written (and the
/// facts it makes true are recorded). Every phase change passes here exactly once per write, so
/// this is where notifications (webhooks) attach; they must never block or fail the decision.
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
