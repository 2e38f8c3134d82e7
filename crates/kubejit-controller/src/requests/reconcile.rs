//! One AccessRequest: decide it, write the verdict to status, record what it made true, act, and
//! requeue at the next deadline.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubejit_audit::EventKind;
use kubejit_core::NamedPolicy;
use kubejit_core::request::{
    ApprovalFacts, Phase, PhaseReason, RequestAction, RequestFacts, RequestSpecError,
    RequestVerdict, decide_malformed, decide_request,
};
use kubejit_kube::GrantView;
use kubejit_kube::policy::{self, AccessPolicyResource};
use kubejit_kube::request::AccessRequest;
use time::OffsetDateTime;

use super::act::{self, has_finalizer};
use super::error::Error;
use super::notice;
use super::record;
use super::shared::Requests;
use super::status;

/// How soon a request seen before the policies and approvals are loaded is looked at again.
const NOT_LOADED_RETRY: Duration = Duration::from_millis(200);

/// One reconcile with any panic contained to this request (see `crate::panic`).
pub async fn reconcile(request: Arc<AccessRequest>, r: Arc<Requests>) -> Result<Action, Error> {
    let what = format!(
        "{}/{}",
        request.namespace().unwrap_or_default(),
        request.name_any()
    );
    crate::panic::contain(reconcile_one(request, r))
        .await
        .unwrap_or_else(|message| Err(Error::Panicked { what, message }))
}

#[tracing::instrument(skip_all, fields(request = %request.name_any(), namespace = %request.namespace().unwrap_or_default()))]
async fn reconcile_one(request: Arc<AccessRequest>, r: Arc<Requests>) -> Result<Action, Error> {
    if !r.loaded() {
        return Ok(Action::requeue(NOT_LOADED_RETRY));
    }
    let client = &r.ctx.client;
    let uid = request.uid().unwrap_or_default();
    let recorded_phase = request.status.as_ref().and_then(|s| s.phase);
    let deleting = request.metadata.deletion_timestamp.is_some();
    let mut request = (*request).clone();
    if deleting && !has_finalizer(&request) {
        // Deleted before the controller held it: nothing was ever granted under it.
        return Ok(Action::await_change());
    }
    if recorded_phase.is_some_and(Phase::is_terminal) && !has_finalizer(&request) {
        // Done: the finalizer is released only after the facts are recorded and the access is gone,
        // so a restart does not look every ended request up in the trail again.
        return Ok(Action::await_change());
    }
    // The finalizer comes before anything can be granted, so a deletion is always seen.
    if !deleting && !recorded_phase.is_some_and(Phase::is_terminal) && !has_finalizer(&request) {
        request = act::add_finalizer(client, &request).await?;
    }
    let binding = act::find_binding(client, &request).await?;
    let facts = request.facts();
    let now = r.ctx.clock.now();
    let mut verdict = decide(
        &r,
        &request,
        &facts,
        &r.current_policies(),
        binding.is_some(),
        now,
    );
    if confirm_with_fresh_policies(&verdict, recorded_phase) {
        // The policy cache may lag a policy applied a moment ago, and a refusal or revocation is
        // final: confirm it with the policies as the apiserver holds them now.
        let fresh = fresh_policies(&r, &request).await?;
        verdict = decide(&r, &request, &facts, &fresh, binding.is_some(), now);
    }
    let access = record::access(&request, facts.as_ref().ok(), &verdict);
    let controller = r.ctx.controller_name.clone();
    if let Some(phase) = recorded_phase.filter(|p| p.is_terminal()) {
        // A terminal status never changes: make sure what it says is on the record and that no
        // access or finalizer is left behind.
        let old = request.status.clone().unwrap_or_default();
        let (reason, message) = (
            old.reason.unwrap_or_default(),
            old.message.unwrap_or_default(),
        );
        for event in record::due(&controller, &access, &verdict, &reason, &message) {
            record::once(&r, &uid, event, false).await?;
        }
        tracing::debug!(%phase, "request already ended");
        return finish(&r, &request, binding.as_ref(), &uid).await;
    }
    let new_status = status::of(
        request.status.as_ref(),
        &verdict,
        binding.as_ref().map(ResourceExt::name_any),
        now,
    );
    let written = status::write(client, &request, new_status).await?;
    let (reason, message) = (verdict.reason.as_str(), verdict.message.as_str());
    for event in record::due(&controller, &access, &verdict, reason, message) {
        // The approval record gates the grant, as a certificate approval's does.
        let gate = event.kind() == EventKind::AccessApproved;
        record::once(&r, &uid, event, gate).await?;
    }
    if recorded_phase != Some(verdict.phase) {
        notice::phase_changed(&r, &written, recorded_phase, &verdict).await;
    }
    act(&r, &written, &facts, &verdict, binding.as_ref(), &uid).await?;
    r.succeeded(&uid);
    Ok(requeue(verdict.requeue_at, now))
}

fn decide(
    r: &Requests,
    request: &AccessRequest,
    facts: &Result<RequestFacts, RequestSpecError>,
    policies: &[NamedPolicy],
    granted: bool,
    now: OffsetDateTime,
) -> RequestVerdict {
    let recorded = request.recorded(granted);
    match facts {
        Ok(f) => {
            let approvals = approvals_for(r, request);
            decide_request(f, policies, &approvals, recorded, now)
        }
        Err(error) => decide_malformed(error, recorded),
    }
}

/// A verdict for want of a policy that would end the request for good (not yet on record): a first
/// refusal (a Denied request never changes again) or the revocation of approved access. A policy
/// cache that lags a policy applied a moment ago gets both wrong: the first decision, confirmed
/// against a fresh LIST, approves, and the next reconcile, still on the stale cache, would revoke.
pub(super) fn confirm_with_fresh_policies(
    verdict: &RequestVerdict,
    recorded: Option<Phase>,
) -> bool {
    let final_for_want_of_policy = match verdict.reason {
        PhaseReason::NotAllowed => verdict.phase == Phase::Denied,
        PhaseReason::PolicyNoLongerAllows => verdict.phase == Phase::Revoked,
        PhaseReason::AwaitingApproval
        | PhaseReason::AutoApproved
        | PhaseReason::ApprovalsReceived
        | PhaseReason::Granted
        | PhaseReason::TtlElapsed
        | PhaseReason::Malformed
        | PhaseReason::DeniedByApprover
        | PhaseReason::WithdrawnByRequester
        | PhaseReason::RevokedByApprover
        | PhaseReason::AccessRemoved
        | PhaseReason::ApprovalsLost
        | PhaseReason::ApprovalTimeout
        | PhaseReason::AlreadyEnded => false,
    };
    final_for_want_of_policy && recorded != Some(verdict.phase)
}

/// Every valid AccessPolicy as the apiserver holds it now (a LIST, not the cache).
async fn fresh_policies(r: &Requests, request: &AccessRequest) -> Result<Vec<NamedPolicy>, Error> {
    let api: kube::Api<AccessPolicyResource> = kube::Api::all(r.ctx.client.clone());
    let listed = api
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|source| Error::ListPolicies {
            what: format!(
                "{}/{}",
                request.namespace().unwrap_or_default(),
                request.name_any()
            ),
            source,
        })?;
    let (valid, _invalid) = policy::parse_all(&listed.items);
    Ok(valid)
}

/// Every AccessApproval naming this request (by name, in its namespace); the decision counts only
/// those that carry its uid and records the others as `OtherRequest`.
fn approvals_for(r: &Requests, request: &AccessRequest) -> Vec<ApprovalFacts> {
    let (namespace, name) = (request.namespace(), request.name_any());
    r.approvals
        .state()
        .iter()
        .filter(|a| a.namespace() == namespace && a.spec.request == name)
        .map(|a| a.facts())
        .collect()
}

/// Performs the verdict's action; then, once a request has ended and its access is gone, lets it go.
async fn act(
    r: &Arc<Requests>,
    request: &AccessRequest,
    facts: &Result<RequestFacts, RequestSpecError>,
    verdict: &RequestVerdict,
    binding: Option<&RoleBinding>,
    uid: &str,
) -> Result<(), Error> {
    let client = &r.ctx.client;
    match (verdict.action, facts) {
        (RequestAction::Grant { expires_at }, Ok(f)) => {
            let controller = &r.ctx.controller_name;
            // granted-by is the identity the apiserver sees: what admission checks it against.
            let granter = &r.ctx.identity;
            let granted = match act::grant(client, granter, request, f, expires_at).await {
                Err(error @ Error::NameTaken { .. }) => {
                    notice::warn(r, request, "BindingNameTaken", error.to_string()).await;
                    return Err(error);
                }
                other => other?,
            };
            if let Some(created) = granted {
                r.ctx.requests.granted.inc();
                let view = GrantView::of(&created);
                if let Some(event) = record::grant_created(controller, request, &view, verdict) {
                    record::once(r, uid, event, false).await?;
                }
            }
        }
        (RequestAction::Revoke, _) => {
            if let Some(b) = binding {
                revoke(r, request, b, uid, verdict.message.clone()).await?;
            }
            if verdict.phase.is_terminal() {
                return finish(r, request, None, uid).await.map(|_| ());
            }
        }
        (RequestAction::Grant { .. }, Err(_)) | (RequestAction::Nothing, _) => {}
    }
    if verdict.phase.is_terminal() && binding.is_none() {
        finish(r, request, None, uid).await?;
    }
    Ok(())
}

/// Removes the request's binding before its deadline (uid precondition), then records `grantRevoked`
/// once per request: time wins, the record follows the deletion (spooled if the trail is down).
async fn revoke(
    r: &Arc<Requests>,
    request: &AccessRequest,
    binding: &RoleBinding,
    uid: &str,
    why: String,
) -> Result<(), Error> {
    act::revoke(&r.ctx.client, request, binding).await?;
    r.ctx.requests.revoked.inc();
    let event = record::grant_revoked(&r.ctx.controller_name, &GrantView::of(binding), why);
    record::once(r, uid, event, false).await
}

/// An ended request: removes any access still there, then releases the finalizer.
async fn finish(
    r: &Arc<Requests>,
    request: &AccessRequest,
    binding: Option<&RoleBinding>,
    uid: &str,
) -> Result<Action, Error> {
    if let Some(b) = binding {
        let why = request
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_else(|| "the request ended".to_owned());
        revoke(r, request, b, uid, why).await?;
    }
    if has_finalizer(request) {
        act::release_finalizer(&r.ctx.client, request).await?;
    }
    r.succeeded(uid);
    Ok(Action::await_change())
}

/// Exactly at the next deadline (approval timeout or expiry); never polled.
fn requeue(at: Option<OffsetDateTime>, now: OffsetDateTime) -> Action {
    match at {
        Some(at) => {
            let wait = (at - now).max(time::Duration::ZERO);
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            Action::requeue(wait.max(Duration::from_millis(10)))
        }
        None => Action::await_change(),
    }
}

/// Any error: count it and retry this request with exponential backoff.
pub fn error_policy(request: Arc<AccessRequest>, error: &Error, r: Arc<Requests>) -> Action {
    r.ctx.requests.error(error.metric_label());
    let delay = r.next_backoff(&request.uid().unwrap_or_default());
    tracing::warn!(
        error = %crate::error::chain(error),
        request = %request.name_any(),
        namespace = %request.namespace().unwrap_or_default(),
        retry_in = ?delay,
        "failed to reconcile AccessRequest; retrying"
    );
    Action::requeue(delay)
}
