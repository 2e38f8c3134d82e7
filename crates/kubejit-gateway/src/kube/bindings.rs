//! Sooner than the re-check interval: when any RoleBinding or ClusterRoleBinding is deleted (a grant
//! expired or was revoked), every session re-asks the apiserver about its permissions now. The
//! watch only nudges; the SelfSubjectAccessReview as the person still decides.

use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch::Sender;
use tokio_util::sync::CancellationToken;

/// Watches binding deletions with the gateway's own client until `stop`, bumping `nudge`.
/// Without list/watch on bindings the gateway falls back to the re-check interval (and says so).
pub async fn watch_deletions(client: Client, nudge: Arc<Sender<u64>>, stop: CancellationToken) {
    let rb = watch_kind(Api::<RoleBinding>::all(client.clone()), Arc::clone(&nudge));
    let crb = watch_kind(Api::<ClusterRoleBinding>::all(client), nudge);
    tokio::select! {
        () = stop.cancelled() => {}
        () = async { tokio::join!(rb, crb); } => {}
    }
}

async fn watch_kind<K>(api: Api<K>, nudge: Arc<Sender<u64>>)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut events = watcher(api, watcher::Config::default()).boxed();
    let mut warned = false;
    while let Some(event) = events.next().await {
        match event {
            // A generation counter, not a notification: a session busy at this moment still sees it.
            Ok(watcher::Event::Delete(_)) => nudge.send_modify(|g| *g = g.wrapping_add(1)),
            Ok(_) => warned = false,
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "cannot watch bindings; permissions are re-checked on the interval only");
                    warned = true;
                }
                // The watcher backs off by itself only with a backoff; keep the loop calm.
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}
