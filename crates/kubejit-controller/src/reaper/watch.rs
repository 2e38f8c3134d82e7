//! The watch behind each controller: every binding of one kind, decoded as [`Stored`] (only what the
//! reaper reads).

use std::marker::PhantomData;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kubejit_kube::Binding;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::expire::{describe, key_of, record_gone};
use super::expiry_events::ExpiryEvents;
use super::reconcile::{error_policy, reconcile};
use super::shared::{Reaper, settle};
use super::stored::Stored;
use super::tracker::Tracker;

pub(crate) async fn run_kind<K>(
    ctx: Arc<crate::Context>,
    events: Arc<ExpiryEvents>,
    concurrency: u16,
    term: CancellationToken,
) where
    Stored<K>: Binding,
{
    let api = Stored::<K>::api(ctx.client.clone(), None);
    let (reader, writer) = reflector::store::<Stored<K>>();
    let r = Arc::new(Reaper {
        ctx,
        tracker: Tracker::default(),
        events,
        after: TaskTracker::new(),
        kind: PhantomData,
    });
    let (store, pruner) = (reader.clone(), Arc::clone(&r));
    let trigger = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(warn_unfit::<K>),
    )
    .inspect_ok(move |event| prune(&pruner, &store, event))
    .applied_objects();
    let work = Controller::for_stream(trigger, reader.clone())
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(term.clone().cancelled_owned())
        .run(reconcile, error_policy, Arc::clone(&r))
        .for_each(|_| std::future::ready(()));
    crate::shutdown::drain("reaper", &term, &reader, work).await;
    settle(&r.after).await;
}

/// A binding whose JSON did not fit [`Stored`] is kept without annotations (never a grant, never
/// deleted); say so each time it is seen, since nothing else will.
fn warn_unfit<K>(binding: &mut Stored<K>)
where
    Stored<K>: Binding,
{
    if let Some(why) = binding.unfit {
        tracing::warn!(
            kind = <Stored<K> as Binding>::KIND,
            binding = %describe(&key_of(binding)),
            why,
            "binding does not have the shape the apiserver writes; the reaper ignores it"
        );
    }
}

/// Deletions we did not make (revoke, kubectl) and, after a re-list, bindings that vanished while
/// the watch was down, leave the tracker (and the gauges).
fn prune<B: Binding>(r: &Reaper<B>, store: &Store<B>, event: &watcher::Event<B>) {
    match event {
        watcher::Event::Delete(obj) => {
            if r.tracker.claim_gone(&r.ctx.reaper, &key_of(obj)) {
                record_gone(r, obj);
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
