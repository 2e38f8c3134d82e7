//! Anchors the audit trail's signed checkpoints outside the file: one annotation per trail on a
//! kubejit-owned ConfigMap, holding that trail's last [`HISTORY_LEN`] checkpoints as a chain, so
//! truncating or wholesale rewriting the file, or rolling the anchor back, is detectable by
//! `kubejit audit verify`.
//!
//! Every write is a read-modify-write conditional on the ConfigMap's resourceVersion and only ever moves
//! the trail's history forward along the writer's own chain ([`kubejit_audit::advance`]): a replica never
//! overwrites another replica's entry (each has its own trail name, and a second writer on the same name
//! is refused, not obeyed), and never writes an older history over a newer one.
//!
//! The sink's anchor call is synchronous and must not block an action on the network, so it only
//! appends to the writer's chain and wakes a background task that writes it (and retries until it
//! lands). Losing the last write to a crash is harmless: the next start re-anchors the file's newer
//! checkpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use kubejit_audit::{
    Advance, AuditError, Checkpoint, CheckpointAnchor, HISTORY_LEN, TrailName, advance,
};
use tokio::sync::watch;

use crate::keys;

/// The ConfigMap whose annotations hold each trail's checkpoint history.
pub const CONFIGMAP: &str = "kubejit-audit-checkpoints";
/// Checkpoints a writer remembers beyond the stored window, so it can still move forward after the
/// entry was rolled back by up to this many checkpoints (deeper rollbacks are a conflict it reports).
const REMEMBERED: usize = 1024;

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
    #[error("checkpoint annotation {annotation} is not a JSON list of checkpoints")]
    Parse {
        annotation: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The annotation that holds `trail`'s history.
pub fn annotation(trail: &TrailName) -> String {
    format!("{}{trail}", keys::AUDIT_CHECKPOINT_PREFIX)
}

/// Appends checkpoints to the writer's chain and wakes the writer task; never fails.
#[derive(Debug)]
pub struct ClusterAnchor {
    trail: TrailName,
    head: Option<Checkpoint>,
    chain: Arc<Mutex<Vec<Checkpoint>>>,
    tx: watch::Sender<u64>,
}

impl CheckpointAnchor for ClusterAnchor {
    fn trail(&self) -> &TrailName {
        &self.trail
    }

    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(self.head.clone())
    }

    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        if chain
            .last()
            .is_some_and(|last| last.sequence >= checkpoint.sequence)
        {
            return Ok(());
        }
        chain.push(checkpoint.clone());
        let excess = chain.len().saturating_sub(REMEMBERED);
        chain.drain(..excess);
        self.tx.send_replace(checkpoint.sequence);
        Ok(())
    }
}

/// Waits until the newest checkpoint handed to the anchor has landed in the cluster.
#[derive(Debug, Clone)]
pub struct AnchorFlusher {
    sent: watch::Receiver<u64>,
    written: watch::Receiver<u64>,
}

impl AnchorFlusher {
    /// Call on shutdown, after sealing the trail: otherwise the last checkpoint may never be anchored
    /// and a truncation of the trail's tail would go unnoticed until the next start.
    pub async fn flush(&mut self, timeout: Duration) -> bool {
        let target = *self.sent.borrow();
        let landed = self.written.wait_for(|w| *w >= target);
        matches!(tokio::time::timeout(timeout, landed).await, Ok(Ok(_)))
    }
}

/// Reads `trail`'s stored history (the sink checks its file against the newest entry before writing)
/// and starts the writer task for it in `namespace`.
pub async fn cluster_anchor(
    client: kube::Client,
    namespace: &str,
    trail: TrailName,
) -> Result<(ClusterAnchor, AnchorFlusher), AnchorError> {
    let stored = load(client.clone(), namespace, &trail).await?;
    let head = stored.last().cloned();
    let stored_sequence = head.as_ref().map_or(0, |h| h.sequence);
    let (tx, rx) = watch::channel(stored_sequence);
    let (written_tx, written) = watch::channel(stored_sequence);
    let flusher = AnchorFlusher {
        sent: tx.subscribe(),
        written,
    };
    let chain = Arc::new(Mutex::new(stored));
    let writer = Writer {
        api: Api::namespaced(client, namespace),
        trail: trail.clone(),
        chain: Arc::clone(&chain),
        last_written: stored_sequence,
    };
    tokio::spawn(writer.run(rx, written_tx));
    let anchor = ClusterAnchor {
        trail,
        head,
        chain,
        tx,
    };
    Ok((anchor, flusher))
}

/// Why a write did not land.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the API request failed")]
    Api(#[source] kube::Error),
    #[error("refusing to overwrite the anchor entry: {0}")]
    Conflict(String),
}

struct Writer {
    api: Api<ConfigMap>,
    trail: TrailName,
    chain: Arc<Mutex<Vec<Checkpoint>>>,
    last_written: u64,
}

impl Writer {
    /// Writes the chain whenever it grows, retrying with backoff until it lands.
    async fn run(mut self, mut rx: watch::Receiver<u64>, written: watch::Sender<u64>) {
        // `changed` marks the newest sequence seen; each attempt writes the whole current chain.
        while rx.changed().await.is_ok() {
            let mut delay = Duration::from_millis(200);
            loop {
                let ours = self
                    .chain
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match self.write(&ours).await {
                    Ok(sequence) => {
                        self.last_written = sequence;
                        written.send_replace(sequence);
                        break;
                    }
                    Err(error @ WriteError::Conflict(_)) => {
                        tracing::error!(%error, trail = %self.trail, "audit checkpoint not anchored")
                    }
                    Err(error) => {
                        tracing::warn!(%error, trail = %self.trail, "failed to anchor audit checkpoint; retrying")
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }

    /// One conditional read-modify-write; returns the newest sequence now stored.
    async fn write(&self, ours: &[Checkpoint]) -> Result<u64, WriteError> {
        let newest = ours.last().map_or(0, |c| c.sequence);
        let Some(mut cm) = self.api.get_opt(CONFIGMAP).await.map_err(WriteError::Api)? else {
            let window = &ours[ours.len().saturating_sub(HISTORY_LEN)..];
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIGMAP.to_owned()),
                    labels: Some(BTreeMap::from([(
                        keys::MANAGED_BY.to_owned(),
                        keys::MANAGER.to_owned(),
                    )])),
                    annotations: Some(BTreeMap::from([(annotation(&self.trail), encode(window)?)])),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            };
            // AlreadyExists (another replica created it first) is retried as a read-modify-write.
            self.api
                .create(&PostParams::default(), &cm)
                .await
                .map_err(WriteError::Api)?;
            return Ok(newest);
        };
        let key = annotation(&self.trail);
        let annotations = cm.metadata.annotations.get_or_insert_with(BTreeMap::new);
        let stored = match annotations.get(&key).map(|v| parse(&key, v)).transpose() {
            Ok(stored) => stored.unwrap_or_default(),
            Err(error) => return Err(WriteError::Conflict(error.to_string())),
        };
        let stored_head = stored.last().map_or(0, |c| c.sequence);
        if stored_head < self.last_written {
            tracing::warn!(trail = %self.trail, from = self.last_written, to = stored_head,
                "the anchor entry was rolled back (or deleted) behind this writer's back; writing it forward again");
        }
        match advance(&stored, ours) {
            Advance::Current => Ok(stored_head),
            Advance::Conflict(why) => Err(WriteError::Conflict(why)),
            Advance::Write(window) => {
                annotations.insert(key, encode(&window)?);
                // The resourceVersion read above makes this conditional: a concurrent write is a 409,
                // retried from a fresh read, never lost.
                self.api
                    .replace(CONFIGMAP, &PostParams::default(), &cm)
                    .await
                    .map_err(WriteError::Api)?;
                Ok(newest)
            }
        }
    }
}

fn encode(window: &[Checkpoint]) -> Result<String, WriteError> {
    serde_json::to_string(window).map_err(|e| WriteError::Api(kube::Error::SerdeError(e)))
}

fn parse(annotation: &str, value: &str) -> Result<Vec<Checkpoint>, AnchorError> {
    serde_json::from_str(value).map_err(|source| AnchorError::Parse {
        annotation: annotation.to_owned(),
        source,
    })
}

/// The history anchored for `trail`, oldest first; empty when the ConfigMap or the entry is absent
/// (the verifier decides what an empty history means for a file that has checkpoints).
pub async fn load(
    client: kube::Client,
    namespace: &str,
    trail: &TrailName,
) -> Result<Vec<Checkpoint>, AnchorError> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let cm = api
        .get_opt(CONFIGMAP)
        .await
        .map_err(|source| AnchorError::Read {
            namespace: namespace.to_owned(),
            source,
        })?;
    let key = annotation(trail);
    let annotations = cm
        .and_then(|cm| cm.metadata.annotations)
        .unwrap_or_default();
    annotations
        .get(&key)
        .map_or(Ok(Vec::new()), |value| parse(&key, value))
}
