//! Expiring one binding: a delete conditional on uid + resourceVersion, then its `grantExpired` record.
//! Expiry wins: nothing (audit, Events) runs before the delete, and the record, written after, is never
//! dropped (primary sink, else the spool, replayed later; a Warning Event says so). 404 is success; 409
//! hands back the fresh object.

use std::sync::Arc;

use kube::api::{DeleteParams, Preconditions};
use kube::{Resource, ResourceExt};
use kubejit_kube::{Binding, GrantView, keys};
use time::OffsetDateTime;
use tracing::Instrument;

use super::Error;
use super::expiry_events::ExpiryEvents;
use super::k8s_event::{self, Kind};
use super::record;
use super::shared::Reaper;
use super::step::{Step, step};
use super::tracker::{Key, State};
use crate::audit::Kept;

pub(crate) enum Expired<B> {
    /// Deleted (or already gone).
    Done,
    /// Changed since we read it: re-decide on this version (`None`: it is gone now).
    Changed(Option<B>),
}

pub(crate) async fn expire<B: Binding>(
    r: &Reaper<B>,
    binding: &B,
    key: Key,
    deadline: OffsetDateTime,
) -> Result<Expired<B>, Error> {
    let ctx = &r.ctx;
    let view = GrantView::of(binding);
    let what = format!("{} {}", B::KIND, describe(&key));
    let seen = view.expires_at.clone().unwrap_or_default();
    r.tracker.set(
        &ctx.reaper,
        key.clone(),
        view.uid.clone(),
        seen,
        State::Overdue,
    );
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: binding.uid(),
            resource_version: binding.resource_version(),
        }),
        ..DeleteParams::default()
    };
    let api = B::api(ctx.client.clone(), key.0.as_deref());
    match delete(&ctx.client, &api, &key.1, &params).await {
        Ok(()) => {
            deleted(r, binding, &key, deadline);
            Ok(Expired::Done)
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {
            r.tracker.forget(&ctx.reaper, &key);
            Ok(Expired::Done)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => match api.get_opt(&key.1).await {
            Ok(fresh) => Ok(Expired::Changed(fresh)),
            Err(source) => Err(Error::Reread { what, source }),
        },
        Err(source) => Err(Error::Delete { what, source }),
    }
}

/// `Api::delete` without decoding its answer: the apiserver answers a DELETE with the whole deleted
/// object (managedFields included), which nothing here reads; at hundreds of deletions a second,
/// parsing it was the burst's largest transient allocation. The body is still read to its end, so
/// the connection goes back to the pool. Errors are `Api::delete`'s (`kube::Error::Api` with the
/// status code for 4xx/5xx).
async fn delete<B: Binding>(
    client: &kube::Client,
    api: &kube::Api<B>,
    name: &str,
    params: &DeleteParams,
) -> Result<(), kube::Error> {
    let mut request = kube::core::Request::new(api.resource_url())
        .delete(name, params)
        .map_err(kube::Error::BuildRequest)?;
    request.extensions_mut().insert("delete");
    client.request_text(request).await.map(drop)
}

/// The access has ended: metrics and the tracker now; the record (which may be deferred, never lost;
/// before the Events, which can be slow) and the expiry's announcement in a task of their own, so the
/// reconcile's slot is free for the next DELETE at once. A burst's DELETEs used to wait for earlier
/// reconciles' audit writes (a hop to the blocking pool and back, an fsync with a file trail); the
/// record comes after the delete either way. The reaper waits for these tasks when it stops
/// (`watch::run_kind`).
fn deleted<B: Binding>(r: &Reaper<B>, binding: &B, key: &Key, deadline: OffsetDateTime) {
    let ctx = &r.ctx;
    let now = ctx.clock.now();
    let lag = (now - deadline).as_seconds_f64().max(0.0);
    ctx.reaper.deletion_lag.observe(lag);
    ctx.reaper.deleted.inc();
    let ours = r.tracker.finish_expired(&ctx.reaper, key);
    tracing::info!(lag_seconds = lag, "deleted expired grant");
    let note = format!(
        "kubejit deleted {} {}: its access expired at {} ({lag:.3}s ago)",
        B::KIND,
        binding.name_any(),
        kubejit_core::format_expires_at(deadline)
    );
    let (ctx, events, binding) = (Arc::clone(ctx), Arc::clone(&r.events), binding.clone());
    r.after.spawn(
        async move {
            // Not ours when the watch saw the deletion first and recorded it (see `record_gone`).
            let kept = match ours {
                true => Some(record_expired(&ctx, &binding, deadline, now).await),
                false => None,
            };
            announce(&ctx, &events, &binding, note).await;
            if let Some(kept) = kept {
                deferred_warning(&ctx, &binding, "grantExpired", kept).await;
            }
        }
        .in_current_span(),
    );
}

/// Who hears of an expiry besides the audit trail: nobody new for a grant under an AccessRequest (its
/// request's `Expired` Event says it), the namespace's coalesced Event for other RoleBindings, an
/// Event of its own for a ClusterRoleBinding (see `expiry_events`).
async fn announce<B: Binding>(
    ctx: &crate::Context,
    events: &ExpiryEvents,
    binding: &B,
    note: String,
) {
    match (record::Maker::of(binding.meta()), binding.namespace()) {
        (record::Maker::Request, _) => {}
        (record::Maker::Foreign, Some(namespace)) => {
            events.add(&namespace, &binding.name_any(), || binding.object_ref(&()));
        }
        (record::Maker::Foreign, None) => {
            k8s_event::publish(ctx, binding, Kind::Normal, "GrantExpired", note).await;
        }
    }
}

/// Writes the `grantExpired` record of a binding deleted at `now`, after its `deadline`.
pub(crate) async fn record_expired<B: Binding>(
    ctx: &crate::Context,
    binding: &B,
    deadline: OffsetDateTime,
    now: OffsetDateTime,
) -> Kept {
    let view = GrantView::of(binding);
    let event = record::expired(&ctx.controller_name, &view, deadline);
    ctx.record_after(record::stamp_expired(event, view.uid.as_deref(), now))
        .await
}

/// The watch saw a binding disappear while we were expiring it, before our delete's answer: that
/// answer may never come (a connection lost after the apiserver deleted), and nothing reconciles a
/// binding that is gone, so the record is written here. Exactly once: see `Tracker::claim_gone`.
pub(crate) fn record_gone<B: Binding>(r: &Reaper<B>, binding: &B) {
    let ctx = &r.ctx;
    let now = ctx.clock.now();
    let Step::Expire { deadline } = step(binding.annotation(keys::EXPIRES_AT), now) else {
        return;
    };
    let (ctx, binding) = (Arc::clone(ctx), binding.clone());
    let span = tracing::info_span!("gone", kind = B::KIND, binding = %binding.name_any());
    r.after.spawn(
        async move {
            tracing::info!("an expiring grant disappeared before our delete was answered");
            let kept = record_expired(&ctx, &binding, deadline, now).await;
            deferred_warning(&ctx, &binding, "grantExpired", kept).await;
        }
        .instrument(span),
    );
}

/// A Warning Event when a record of something already done could not reach the audit trail yet.
pub(crate) async fn deferred_warning<B: Binding>(
    ctx: &crate::Context,
    binding: &B,
    fact: &str,
    kept: Kept,
) {
    let why = match kept {
        Kept::Recorded | Kept::InProgress => return,
        Kept::Deferred(why) => why,
    };
    let note = format!(
        "kubejit could not write the {fact} audit record of {} {}: {why}",
        B::KIND,
        binding.name_any()
    );
    k8s_event::publish(ctx, binding, Kind::Warning, "AuditRecordDeferred", note).await;
}

pub(crate) fn describe(key: &Key) -> String {
    match &key.0 {
        Some(ns) => format!("{ns}/{}", key.1),
        None => key.1.clone(),
    }
}

/// The tracker key of a binding.
pub(crate) fn key_of<B: Resource>(binding: &B) -> Key {
    (
        binding.meta().namespace.clone(),
        binding.meta().name.clone().unwrap_or_default(),
    )
}
