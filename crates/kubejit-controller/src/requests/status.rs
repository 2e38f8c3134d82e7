//! `status` from a verdict, written with the resourceVersion that was decided on.

use kube::api::PostParams;
use kube::{Api, ResourceExt};
use kubejit_core::request::{AccessRequestStatus, Phase, RequestCondition, RequestVerdict};
use kubejit_kube::request::AccessRequest;
use time::OffsetDateTime;

use super::error::Error;

/// The status the verdict describes. `binding`: the RoleBinding that exists for it. The `Ready`
/// condition keeps its transition time while its status does not change.
pub fn of(
    old: Option<&AccessRequestStatus>,
    verdict: &RequestVerdict,
    binding: Option<String>,
    now: OffsetDateTime,
) -> AccessRequestStatus {
    let ready = verdict.phase == Phase::Active;
    let ready_status = if ready { "True" } else { "False" };
    let since = old
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == ready_status)
        .map_or(now, |c| c.last_transition_time);
    let authorized = verdict.authorized.as_ref();
    AccessRequestStatus {
        phase: Some(verdict.phase),
        reason: Some(verdict.reason.as_str().to_owned()),
        message: Some(verdict.message.clone()),
        conditions: vec![RequestCondition {
            type_: "Ready".to_owned(),
            status: ready_status.to_owned(),
            reason: verdict.reason.as_str().to_owned(),
            message: verdict.message.clone(),
            last_transition_time: since,
        }],
        approvals: verdict.approvals.clone(),
        policy: authorized.map(|a| a.policy.to_string()),
        rule: authorized
            .and_then(|a| a.rule.as_ref())
            .map(ToString::to_string),
        binding,
        approved_at: verdict.approved_at,
        expires_at: verdict.expires_at,
    }
}

/// Writes `status` unless it is already there; conditional on the request's resourceVersion (a
/// 409 means someone changed the request since it was decided: decided again on the retry).
pub async fn write(
    client: &kube::Client,
    request: &AccessRequest,
    status: AccessRequestStatus,
) -> Result<AccessRequest, Error> {
    if request.status.as_ref() == Some(&status) {
        return Ok(request.clone());
    }
    let namespace = request.namespace().unwrap_or_default();
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), &namespace);
    let mut updated = request.clone();
    updated.status = Some(status);
    updated.types = Some(kubejit_kube::request::type_meta::<AccessRequest>());
    updated.metadata.managed_fields = None;
    let what = || format!("{namespace}/{}", request.name_any());
    api.replace_status(&request.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(|source| Error::WriteStatus {
            what: what(),
            source,
        })
}
