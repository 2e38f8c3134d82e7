//! The watch behind each controller: every binding of one kind, slimmed to what the reaper reads.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kubejit_kube::{Binding, keys};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::expire::{key_of, record_gone};
use super::expiry_events::ExpiryEvents;
use super::reconcile::{error_policy, reconcile};
use super::shared::{Reaper, settle};
use super::tracker::Tracker;

/// Reconciles in flight at once; bounds memory and the burst on the apiserver. Deadlines are whole
/// seconds, so hundreds of grants can fall due together; each reconcile holds its slot for one DELETE
/// round trip (and its record), so with 32 slots a burst of 167 (10,000 grants over 60 s) drained in
/// five or more round trips and its last deletions waited for the first. 128 issue a whole second's
/// burst at once; the apiserver's flow control (priority level `workload-low` for a service account)
/// queues what exceeds its seats instead of refusing it.
const CONCURRENCY: u16 = 128;
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
        after: TaskTracker::new(),
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
        .run(reconcile::<B>, error_policy::<B>, Arc::clone(&r))
        .for_each(|_| std::future::ready(()));
    crate::shutdown::drain("reaper", &term, &reader, work).await;
    settle(&r.after).await;
}

/// Keeps only what decisions, audit records and events read: no managedFields, no foreign
/// annotations (last-applied-configuration can be kilobytes), no labels (nothing the reaper decides
/// or records reads them, and each map costs a B-tree node of about half a KiB per stored grant).
fn slim<B: Binding>(binding: &mut B) {
    let meta = binding.meta_mut();
    meta.managed_fields = None;
    meta.labels = None;
    meta.finalizers = None;
    meta.generate_name = None;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        ManagedFieldsEntry, ObjectMeta, OwnerReference,
    };
    use kube::ResourceExt;
    use kubejit_kube::GrantView;

    use super::super::step::step;
    use super::*;

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "kubejit.dev/v1alpha1".to_owned(),
            kind: "AccessRequest".to_owned(),
            name: "r".to_owned(),
            uid: "u".to_owned(),
            controller: Some(true),
            ..OwnerReference::default()
        }
    }

    fn stored() -> RoleBinding {
        let mut annotations: BTreeMap<String, String> = KEPT_ANNOTATIONS
            .iter()
            .map(|k| ((*k).to_owned(), format!("value of {k}")))
            .collect();
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            "x".repeat(4096),
        );
        RoleBinding {
            metadata: ObjectMeta {
                name: Some("jit-1".to_owned()),
                namespace: Some("ns".to_owned()),
                uid: Some("uid-1".to_owned()),
                resource_version: Some("42".to_owned()),
                annotations: Some(annotations),
                labels: Some(BTreeMap::from([(
                    keys::MANAGED_BY.to_owned(),
                    "kubejit".to_owned(),
                )])),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                finalizers: Some(vec!["example.com/hold".to_owned()]),
                generate_name: Some("jit-".to_owned()),
                owner_references: Some(vec![owner()]),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_owned()),
                kind: "Role".to_owned(),
                name: "debug".to_owned(),
            },
            subjects: Some(vec![Subject {
                kind: "User".to_owned(),
                name: "carol".to_owned(),
                ..Subject::default()
            }]),
        }
    }

    /// Slimming drops only what nothing reads: the decision's inputs, the audit record's grant, the
    /// owner (request or foreign) and the delete preconditions come out the same.
    #[test]
    fn slimming_keeps_everything_the_reaper_reads() {
        let full = stored();
        let mut slimmed = full.clone();
        slim(&mut slimmed);
        assert_eq!(
            format!("{:?}", GrantView::of(&slimmed).audited()),
            format!("{:?}", GrantView::of(&full).audited())
        );
        assert_eq!(
            step(slimmed.annotations(), time::OffsetDateTime::UNIX_EPOCH),
            step(full.annotations(), time::OffsetDateTime::UNIX_EPOCH)
        );
        let (s, f) = (&slimmed.metadata, &full.metadata);
        assert_eq!(
            (&s.uid, &s.resource_version, &s.owner_references),
            (&f.uid, &f.resource_version, &f.owner_references)
        );
        assert_eq!(
            (&slimmed.subjects, &slimmed.role_ref),
            (&full.subjects, &full.role_ref)
        );
        let kept: Vec<&String> = s.annotations.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(kept.len(), KEPT_ANNOTATIONS.len());
        assert!(s.managed_fields.is_none() && s.labels.is_none());
        assert!(s.finalizers.is_none() && s.generate_name.is_none());
    }
}
