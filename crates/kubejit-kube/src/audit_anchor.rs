//! Anchors the audit trail's signed checkpoints outside the file: as an annotation on a kubejit-owned
//! ConfigMap, so truncating or wholesale rewriting the file is detectable by `kubejit audit verify`.
//!
//! The sink's anchor call is synchronous and must not block an action on the network, so it only
//! hands the newest checkpoint to a background task that writes it (and retries until it lands).
//! Losing one checkpoint to a crash is harmless: the next one supersedes it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kubejit_audit::{AuditError, Checkpoint, CheckpointAnchor};
use serde_json::json;
use tokio::sync::watch;

use crate::keys;

/// The ConfigMap whose annotations hold the latest checkpoint of each trail.
pub const CONFIGMAP: &str = "kubejit-audit-checkpoints";
const ANNOTATION_PREFIX: &str = "kubejit.dev/audit-checkpoint.";

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(
        "failed to read ConfigMap {namespace}/{CONFIGMAP}: check the namespace and `get configmaps` permission"
    )]
    Read {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("no checkpoint for trail {trail:?} in ConfigMap {namespace}/{CONFIGMAP}")]
    Missing { namespace: String, trail: String },
    #[error("checkpoint annotation {annotation} is not valid JSON")]
    Parse {
        annotation: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Hands checkpoints to the background writer; never fails.
#[derive(Debug)]
pub struct ClusterAnchor {
    tx: watch::Sender<Option<Checkpoint>>,
}

impl CheckpointAnchor for ClusterAnchor {
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        self.tx.send_replace(Some(checkpoint.clone()));
        Ok(())
    }
}

/// Waits until the newest checkpoint handed to the anchor has landed in the cluster.
#[derive(Debug, Clone)]
pub struct AnchorFlusher {
    sent: watch::Receiver<Option<Checkpoint>>,
    written: watch::Receiver<u64>,
}

impl AnchorFlusher {
    /// Call on shutdown, after sealing the trail: otherwise the last checkpoint may never be anchored
    /// and a truncation of the trail's tail would go unnoticed.
    pub async fn flush(&mut self, timeout: Duration) -> bool {
        let target = self.sent.borrow().as_ref().map_or(0, |c| c.sequence);
        let landed = self.written.wait_for(|w| *w >= target);
        matches!(tokio::time::timeout(timeout, landed).await, Ok(Ok(_)))
    }
}

/// Starts the writer task for trail `trail` (one annotation per trail) in `namespace`.
pub fn cluster_anchor(
    client: kube::Client,
    namespace: &str,
    trail: &str,
) -> (ClusterAnchor, AnchorFlusher) {
    let (tx, rx) = watch::channel::<Option<Checkpoint>>(None);
    let (written_tx, written) = watch::channel(0u64);
    let flusher = AnchorFlusher {
        sent: tx.subscribe(),
        written,
    };
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let annotation = format!("{ANNOTATION_PREFIX}{trail}");
    tokio::spawn(write_loop(api, annotation, rx, written_tx));
    (ClusterAnchor { tx }, flusher)
}

/// Writes each newest checkpoint, retrying with backoff until it lands or a newer one supersedes it.
async fn write_loop(
    api: Api<ConfigMap>,
    annotation: String,
    mut rx: watch::Receiver<Option<Checkpoint>>,
    written: watch::Sender<u64>,
) {
    while rx.changed().await.is_ok() {
        let Some(checkpoint) = rx.borrow_and_update().clone() else {
            continue;
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match write(&api, &annotation, &checkpoint).await {
                Ok(()) => {
                    written.send_replace(checkpoint.sequence);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, sequence = checkpoint.sequence, "failed to anchor audit checkpoint; retrying")
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
            if rx.has_changed().unwrap_or(false) {
                break;
            }
        }
    }
}

async fn write(
    api: &Api<ConfigMap>,
    annotation: &str,
    checkpoint: &Checkpoint,
) -> Result<(), kube::Error> {
    let value = serde_json::to_string(checkpoint).map_err(kube::Error::SerdeError)?;
    let patch = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP,
            "labels": { keys::MANAGED_BY: keys::MANAGER },
            "annotations": { annotation: value },
        },
    });
    // Server-side apply owned by one field manager per trail: replicas never clobber each other.
    let params = PatchParams::apply(&format!(
        "kubejit-audit-{}",
        annotation.trim_start_matches(ANNOTATION_PREFIX)
    ))
    .force();
    api.patch(CONFIGMAP, &params, &Patch::Apply(patch))
        .await
        .map(|_| ())
}

/// The latest anchored checkpoint of `trail`, for `kubejit audit verify --checkpoints from-cluster`.
pub async fn load(
    client: kube::Client,
    namespace: &str,
    trail: &str,
) -> Result<Checkpoint, AnchorError> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let cm = api
        .get(CONFIGMAP)
        .await
        .map_err(|source| AnchorError::Read {
            namespace: namespace.to_owned(),
            source,
        })?;
    let annotation = format!("{ANNOTATION_PREFIX}{trail}");
    let annotations: BTreeMap<String, String> = cm.metadata.annotations.unwrap_or_default();
    let value = annotations
        .get(&annotation)
        .ok_or_else(|| AnchorError::Missing {
            namespace: namespace.to_owned(),
            trail: trail.to_owned(),
        })?;
    serde_json::from_str(value).map_err(|source| AnchorError::Parse { annotation, source })
}
