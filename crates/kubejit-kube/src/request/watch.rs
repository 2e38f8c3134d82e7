//! Following every AccessRequest of a namespace (or of all): `kubejit requests --watch`.

use std::ops::ControlFlow;

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use super::{AccessRequest, RequestError};

/// Calls `changed` with the listed requests once the watch has its first complete list (sorted as
/// [`super::list`] sorts), then with each request as it changes or is deleted, until `changed`
/// breaks (then `Ok`) or the caller stops awaiting (Ctrl-C). A failing watch retries with backoff
/// and re-lists, which calls `changed` with the whole list again (the caller prints only what changed).
pub async fn watch(
    client: &Client,
    namespace: Option<&str>,
    mut changed: impl FnMut(&[AccessRequest]) -> ControlFlow<()>,
) -> Result<(), RequestError> {
    let api: Api<AccessRequest> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    // The initial (or re-)list, shown in one piece so a table starts aligned and sorted.
    let mut listing: Option<Vec<AccessRequest>> = None;
    while let Some(event) = stream.next().await {
        let flow = match event {
            Ok(Event::Init) => {
                listing = Some(Vec::new());
                ControlFlow::Continue(())
            }
            Ok(Event::InitApply(object)) => {
                listing.get_or_insert_with(Vec::new).push(object);
                ControlFlow::Continue(())
            }
            Ok(Event::InitDone) => {
                let mut items = listing.take().unwrap_or_default();
                super::api::sort(&mut items);
                changed(&items)
            }
            Ok(Event::Apply(object) | Event::Delete(object)) => changed(&[object]),
            Err(error) => {
                tracing::warn!(%error, namespace, "watch of AccessRequests failed; retrying");
                ControlFlow::Continue(())
            }
        };
        if flow.is_break() {
            return Ok(());
        }
    }
    Err(RequestError::WatchEnded {
        what: namespace.map_or_else(
            || "AccessRequests in every namespace".to_owned(),
            |ns| format!("AccessRequests in namespace {ns}"),
        ),
    })
}
