//! The watch behind each controller: every binding of one kind, slimmed to what the reaper reads.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kubejit_kube::{Binding, keys};
use tokio_util::sync::CancellationToken;

use super::expire::{key_of, record_gone};
use super::expiry_events::ExpiryEvents;
use super::reconcile::{error_policy, reconcile};
use super::shared::Reaper;
use super::tracker::Tracker;

/// Reconciles in flight at once; bounds memory and the burst on the apiserver.
const CONCURRENCY: u16 = 32;
const KEPT_ANNOTATIONS: [&str; 4] = [
    keys::EXPIRES_AT,
    keys::INCIDENT,
    keys::GRANTED_BY,
    keys::REASON,
];

pub(crate) async fn run_kind<B: Binding>(
    ctx: Arc<crate::Context>,
    events: Arc<ExpiryEvents>,
    term: CancellationToken,
) {
    let api = B::api(ctx.client.clone(), None);
    let (reader, writer) = reflector::store::<B>();
    let r = Arc::new(Reaper {
        ctx,
        tracker: Tracker::default(),
        events,
        kind: PhantomData,
    });
    let (store, pruner) = (reader.clone(), Arc::clone(&r));
    let trigger = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(slim::<B>),
    )
    .inspect_ok(move |event| prune(&pruner, &store, event))
    .applied_objects();
    let work = Controller::for_stream(trigger, reader.clone())
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
        .graceful_shutdown_on(term.clone().cancelled_owned())
        .run(reconcile::<B>, error_policy::<B>, r)
        .for_each(|_| std::future::ready(()));
    crate::shutdown::drain("reaper", &term, &reader, work).await;
}

/// Keeps only what decisions, audit records and events read: no managedFields, no foreign
/// annotations (last-applied-configuration can be kilobytes).
fn slim<B: Binding>(binding: &mut B) {
    let meta = binding.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| KEPT_ANNOTATIONS.contains(&k.as_str()));
    }
}

/// Deletions we did not make (revoke, kubectl) and, after a re-list, bindings that vanished while
/// the watch was down, leave the tracker (and the gauges).
fn prune<B: Binding>(r: &Reaper<B>, store: &Store<B>, event: &watcher::Event<B>) {
    match event {
        watcher::Event::Delete(obj) => {
            if r.tracker.claim_gone(&r.ctx.reaper, &key_of(obj)) {
                record_gone(&r.ctx, obj);
            }
        }
        watcher::Event::InitDone => r.tracker.retain(&r.ctx.reaper, |(ns, name)| {
            let mut reference = ObjectRef::<B>::new(name);
            if let Some(ns) = ns {
                reference = reference.within(ns);
            }
            store.get(&reference).is_some()
        }),
        watcher::Event::Apply(_) | watcher::Event::Init | watcher::Event::InitApply(_) => {}
    }
}
