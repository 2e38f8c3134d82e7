//! Opens the audit sink the flags ask for: stdout, or a hash-chained file with signed checkpoints
//! anchored in the cluster (and optionally a file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kubejit_audit::{
    AuditError, AuditSink, ChainConfig, ChainedFileSink, Checkpoint, CheckpointAnchor, FileAnchor,
    Spool, SystemClock, WriterSink, signing_key_from_pem,
};

use crate::cli::AuditArgs;

/// Namespace of the ConfigMap that anchors checkpoints.
pub const ANCHOR_NAMESPACE: &str = "kubejit-system";

/// Sends each checkpoint to every anchor; the first failure is reported (the sink retries later).
struct Anchors(Vec<Box<dyn CheckpointAnchor>>);

impl CheckpointAnchor for Anchors {
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let mut first_error = None;
        for a in &self.0 {
            if let Err(e) = a.anchor(checkpoint) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Seals the trail and waits for the last checkpoint to be anchored; call once on shutdown.
pub struct AuditGuard {
    sealed: Option<(
        Arc<ChainedFileSink>,
        kubejit_kube::audit_anchor::AnchorFlusher,
    )>,
}

impl AuditGuard {
    pub async fn close(self) {
        let Some((sink, mut flusher)) = self.sealed else {
            return;
        };
        // Write + fsync: on a blocking thread, never on the async workers.
        let sealed = tokio::task::spawn_blocking(move || sink.seal_now()).await;
        match sealed {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "failed to seal the audit log on shutdown"),
            Err(error) => tracing::warn!(%error, "the task sealing the audit log failed"),
        }
        if !flusher.flush(Duration::from_secs(5)).await {
            tracing::warn!(
                "the last audit checkpoint was not anchored in the cluster before shutdown"
            );
        }
    }
}

/// Where records of actions already taken wait while the trail cannot take them: `--audit-spool`, else
/// `<audit-log>.spool`; none (memory only) for stdout.
pub fn spool(args: &AuditArgs) -> Option<Spool> {
    match (&args.audit_spool, &args.audit_log) {
        (Some(path), _) => Some(Spool::new(path)),
        (None, Some(trail)) => Some(Spool::beside(trail)),
        (None, None) => None,
    }
}

pub async fn open(
    args: &AuditArgs,
    client: kube::Client,
) -> anyhow::Result<(Arc<dyn AuditSink>, AuditGuard)> {
    let Some(path) = &args.audit_log else {
        return Ok((Arc::new(WriterSink::stdout()), AuditGuard { sealed: None }));
    };
    let key_path = args
        .audit_signing_key
        .as_ref()
        .context("--audit-log needs --audit-signing-key (an Ed25519 PKCS#8 PEM key)")?;
    let pem = std::fs::read_to_string(key_path)
        .with_context(|| format!("failed to read {}", key_path.display()))?;
    let key = signing_key_from_pem(&pem)
        .with_context(|| format!("{} is not an Ed25519 PKCS#8 PEM key", key_path.display()))?;
    let trail = path.file_stem().map_or_else(
        || "controller".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let (cluster, flusher) =
        kubejit_kube::audit_anchor::cluster_anchor(client, ANCHOR_NAMESPACE, &trail);
    let mut anchors: Vec<Box<dyn CheckpointAnchor>> = vec![Box::new(cluster)];
    if let Some(file) = &args.audit_checkpoints {
        anchors.push(Box::new(FileAnchor::new(file)));
    }
    let config = ChainConfig {
        every_records: args.audit_checkpoint_every,
        every: args.audit_checkpoint_interval,
    };
    let (sink, _) = ChainedFileSink::open(
        path,
        key,
        Box::new(Anchors(anchors)),
        config,
        Box::new(SystemClock),
    )
    .with_context(|| format!("failed to open audit log {}", path.display()))?;
    let sink = Arc::new(sink);
    // Time-based checkpoints while the trail is idle, and retries of failed anchors.
    let ticking = Arc::clone(&sink);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let sink = Arc::clone(&ticking);
            match tokio::task::spawn_blocking(move || sink.tick()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "failed to checkpoint the audit log"),
                Err(error) => tracing::warn!(%error, "the audit checkpoint task failed"),
            }
        }
    });
    Ok((
        sink.clone(),
        AuditGuard {
            sealed: Some((sink, flusher)),
        },
    ))
}
