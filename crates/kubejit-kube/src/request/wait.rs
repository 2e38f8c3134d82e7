//! Following one AccessRequest until kubejit's controller settles it: `kubejit grant`'s wait.

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use kubejit_core::request::Phase;

use super::{AccessRequest, RequestError};

/// Where a followed request ended up.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The access exists (`Active`).
    Active(AccessRequest),
    /// A terminal phase: refused, timed out, withdrawn, revoked or already expired.
    Ended(AccessRequest),
}

/// Watches `namespace/name` until it is `Active` or terminal, calling `progress` on every phase
/// change (for stderr). A watch is level-triggered: the current object comes first, so a request
/// settled before the watch started is seen at once. The caller bounds the wait (a timeout).
pub async fn wait_settled(
    client: &Client,
    namespace: &str,
    name: &str,
    mut progress: impl FnMut(&AccessRequest),
) -> Result<Settled, RequestError> {
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Backoff: a failing watch (apiserver away, RBAC) retries calmly instead of re-listing hot.
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut last: Option<Phase> = None;
    while let Some(event) = stream.next().await {
        let object = match event {
            Ok(Event::Apply(object) | Event::InitApply(object)) => object,
            Ok(Event::Delete(object)) => return Ok(Settled::Ended(object)),
            Ok(Event::Init | Event::InitDone) => continue,
            // The watcher re-lists by itself after a gap (with backoff); the caller bounds the wait.
            Err(error) => {
                tracing::warn!(%error, namespace, name, "watch of the AccessRequest failed; retrying");
                continue;
            }
        };
        let phase = object.status.as_ref().and_then(|s| s.phase);
        if phase != last {
            progress(&object);
            last = phase;
        }
        match phase {
            Some(Phase::Active) => return Ok(Settled::Active(object)),
            Some(
                Phase::Expired
                | Phase::Denied
                | Phase::Withdrawn
                | Phase::Revoked
                | Phase::TimedOut,
            ) => return Ok(Settled::Ended(object)),
            Some(Phase::Pending | Phase::Approved) | None => {}
        }
    }
    Err(RequestError::WatchEnded {
        what: format!("AccessRequest {namespace}/{name}"),
    })
}
