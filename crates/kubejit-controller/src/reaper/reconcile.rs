//! One reconcile of one binding: decide (pure), then record, warn, wait or expire.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kubejit_core::ExpiryError;
use kubejit_kube::{Binding, GrantView, keys};
use tracing::Instrument;

use super::Error;
use super::expire::{Expired, deferred_warning, describe, expire, key_of};
use super::k8s_event::{self, Kind};
use super::record;
use super::shared::Reaper;
use super::step::{Step, action, malformed_reason, step};
use super::tracker::{Key, Seen, State};

/// A 409 is re-read and re-decided; a binding that changes this often under us is retried later.
const MAX_ATTEMPTS: usize = 3;
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A reconcile that panicked is retried this much later: soon enough to recover once the cause
/// (a transient state) is gone, rarely enough not to spin on a poisoned object.
const PANIC_RETRY_AFTER: Duration = Duration::from_secs(300);

/// One reconcile with any panic contained to this object (see `crate::panic`).
pub(crate) async fn reconcile<B: Binding>(obj: Arc<B>, r: Arc<Reaper<B>>) -> Result<Action, Error> {
    let what = format!("{} {}", B::KIND, describe(&key_of(obj.as_ref())));
    crate::panic::contain(reconcile_one(obj, r))
        .await
        .unwrap_or_else(|message| Err(Error::Panicked { what, message }))
}

async fn reconcile_one<B: Binding>(obj: Arc<B>, r: Arc<Reaper<B>>) -> Result<Action, Error> {
    let key = key_of(obj.as_ref());
    let span = tracing::info_span!("reconcile", kind = B::KIND, binding = %describe(&key));
    async move {
        let mut current = (*obj).clone();
        for _ in 0..MAX_ATTEMPTS {
            let s = step(current.annotation(keys::EXPIRES_AT), r.ctx.clock.now());
            match handle(&r, &current, key.clone(), &s).await? {
                Expired::Done => return Ok(action(&s)),
                Expired::Changed(Some(fresh)) => current = fresh,
                Expired::Changed(None) => {
                    r.tracker.forget(&r.ctx.reaper, &key);
                    return Ok(Action::await_change());
                }
            }
        }
        Err(Error::KeepsChanging {
            what: format!("{} {}", B::KIND, describe(&key)),
        })
    }
    .instrument(span)
    .await
}

async fn handle<B: Binding>(
    r: &Reaper<B>,
    obj: &B,
    key: Key,
    s: &Step,
) -> Result<Expired<B>, Error> {
    match s {
        Step::Ignore => r.tracker.forget(&r.ctx.reaper, &key),
        Step::Warn { value, reason } => malformed(r, obj, key, value, reason).await?,
        Step::Wait { .. } => observe(r, obj, key).await,
        Step::Expire { deadline } => return expire(r, obj, key, *deadline).await,
    }
    Ok(Expired::Done)
}

/// Records `foreignGrant` (a binding no AccessRequest owns; the request controller records its own
/// grants' `grantCreated`)/`grantExtended` the first time a grant (or a new deadline) is seen, with
/// the admission-checked `granted-by` annotation as the actor. The grant already exists, so the record
/// never holds anything up (it may be deferred, never dropped).
async fn observe<B: Binding>(r: &Reaper<B>, obj: &B, key: Key) {
    let view = GrantView::of(obj);
    let value = view.expires_at.clone().unwrap_or_default();
    let maker = record::Maker::of(obj.meta());
    let (kind, fact) = match (r.tracker.seen(&key, view.uid.as_deref(), &value), maker) {
        (Seen::Same, _) => return,
        // The request controller recorded this grant's creation, exactly once, naming its request.
        (Seen::New, record::Maker::Request) => {
            r.tracker
                .set(&r.ctx.reaper, key, view.uid, value, State::Pending);
            return;
        }
        (Seen::New, record::Maker::Foreign) => (record::Seen::Created, "foreignGrant"),
        (Seen::Changed, _) => (record::Seen::Extended, "grantExtended"),
    };
    let event = record::observed(&view, kind, maker).at(r.ctx.clock.now());
    r.tracker
        .set(&r.ctx.reaper, key, view.uid, value, State::Pending);
    let kept = r.ctx.record_after(event).await;
    deferred_warning(&r.ctx, obj, fact, kept).await;
}

/// Once per resourceVersion: audit record, Warning Event, gauge. Never deleted, never requeued.
async fn malformed<B: Binding>(
    r: &Reaper<B>,
    obj: &B,
    key: Key,
    value: &str,
    reason: &ExpiryError,
) -> Result<(), Error> {
    let rv = obj.resource_version().unwrap_or_default();
    if !r.tracker.first_malformed(&key, &rv) {
        return Ok(());
    }
    let view = GrantView::of(obj);
    let problem = malformed_reason(reason);
    let event = record::malformed(&r.ctx.controller_name, &view, problem);
    let kept = r.ctx.record_after(event.at(r.ctx.clock.now())).await;
    deferred_warning(&r.ctx, obj, "grantMalformed", kept).await;
    r.tracker
        .set(&r.ctx.reaper, key, view.uid, rv, State::Malformed);
    let shown = kubejit_core::text::escape_bounded(value, 128);
    tracing::warn!(value = %shown, %reason, "binding has a malformed expires-at; it will never be deleted");
    let note =
        format!("{reason}. kubejit will not delete this binding until the annotation is fixed.");
    k8s_event::publish(&r.ctx, obj, Kind::Warning, "MalformedExpiresAt", note).await;
    Ok(())
}

pub(crate) fn error_policy<B: Binding>(obj: Arc<B>, error: &Error, r: Arc<Reaper<B>>) -> Action {
    let label = super::metrics::ErrorLabels {
        error: error.metric_label(),
    };
    r.ctx.reaper.errors.get_or_create(&label).inc();
    match error {
        Error::Panicked { .. } => {
            tracing::error!(error = %error, binding = %obj.name_any(), "reconcile panicked; contained");
            Action::requeue(PANIC_RETRY_AFTER)
        }
        Error::Delete { .. } | Error::Reread { .. } | Error::KeepsChanging { .. } => {
            tracing::warn!(error = %error, binding = %obj.name_any(), "reconcile failed; retrying");
            Action::requeue(RETRY_AFTER)
        }
    }
}
