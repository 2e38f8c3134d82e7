//! Keeps the parsed AccessPolicies current: a reflector on the CRD, re-parsed on every change, invalid
//! ones reported (Warning Event on the policy, log, metric) and never used.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Api, Resource, ResourceExt};
use kubejit_core::NamedPolicy;
use kubejit_kube::policy::AccessPolicyResource;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// The valid policies, sorted by name; `None` until the first complete list arrived.
pub type PolicySnapshot = Option<Arc<Vec<NamedPolicy>>>;

/// Watches AccessPolicies until `term`, publishing a fresh snapshot after every change.
pub async fn watch_policies(
    client: kube::Client,
    recorder: Recorder,
    metrics: Metrics,
    tx: watch::Sender<PolicySnapshot>,
    term: CancellationToken,
) {
    let (reader, writer) = reflector::store();
    let stream = watcher::watcher(
        Api::<AccessPolicyResource>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer);
    let mut stream = std::pin::pin!(stream);
    let mut reported = HashSet::new();
    loop {
        let next = tokio::select! {
            () = term.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(WatchEvent::InitDone | WatchEvent::Apply(_) | WatchEvent::Delete(_))) => {
                let valid = parse(&reader, &recorder, &metrics, &mut reported).await;
                tx.send_replace(Some(Arc::new(valid)));
            }
            Some(Ok(WatchEvent::Init | WatchEvent::InitApply(_))) => {}
            Some(Err(error)) => {
                metrics.error("policy_watch");
                tracing::warn!(%error, "AccessPolicy watch failed; retrying with backoff");
            }
            None => return,
        }
    }
}

/// Parses every stored policy; each invalid one is reported once per resourceVersion.
async fn parse(
    reader: &Store<AccessPolicyResource>,
    recorder: &Recorder,
    metrics: &Metrics,
    reported: &mut HashSet<(String, String)>,
) -> Vec<NamedPolicy> {
    let mut valid = Vec::new();
    let mut invalid = 0;
    for policy in reader.state() {
        match policy.parse() {
            Ok(parsed) => valid.push(parsed),
            Err(error) => {
                invalid += 1;
                let key = (
                    policy.name_any(),
                    policy.resource_version().unwrap_or_default(),
                );
                if reported.insert(key) {
                    report_invalid(&policy, &error, recorder, metrics).await;
                }
            }
        }
    }
    metrics.set_invalid_policies(invalid);
    valid.sort_by(|a, b| a.name.cmp(&b.name));
    valid
}

async fn report_invalid(
    policy: &AccessPolicyResource,
    error: &kubejit_core::PolicyError,
    recorder: &Recorder,
    metrics: &Metrics,
) {
    let name = policy.name_any();
    let note = format!("AccessPolicy {name} is invalid and allows nothing: {error}");
    tracing::warn!(policy = %name, %error, "invalid AccessPolicy ignored; it allows nothing");
    let event = Event {
        type_: EventType::Warning,
        reason: "InvalidPolicy".to_owned(),
        // The note quotes policy fields as written: shown escaped, never raw.
        note: Some(kubejit_core::text::escape(&note).into_owned()),
        action: "Validate".to_owned(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, &policy.object_ref(&())).await {
        metrics.error("event_publish");
        tracing::warn!(%error, policy = %name, "failed to publish the InvalidPolicy Event");
    }
}

/// Fires once per published snapshot: re-evaluates every pending CSR when policy changes.
pub fn changes(rx: watch::Receiver<PolicySnapshot>) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok().map(|()| ((), rx))
    })
}

/// Waits for the first complete policy list; `None` if `term` fires first.
pub async fn loaded(
    rx: &mut watch::Receiver<PolicySnapshot>,
    term: &CancellationToken,
) -> Option<Arc<Vec<NamedPolicy>>> {
    tokio::select! {
        () = term.cancelled() => None,
        ready = rx.wait_for(Option::is_some) => ready.ok().and_then(|s| s.clone()),
    }
}
