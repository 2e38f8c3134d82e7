//! Opens the audit sink the flags ask for: stdout, or a hash-chained file with signed checkpoints
//! anchored in the cluster (and optionally a file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kubejit_audit::{
    AuditError, AuditSink, ChainConfig, ChainedFileSink, Checkpoint, CheckpointAnchor, FileAnchor,
    Spool, TrailName, WriterSink, signing_key_from_pem,
};
use kubejit_kube::audit_anchor::AnchorFlusher;

use crate::cli::AuditArgs;

/// Namespace of the ConfigMap that anchors checkpoints.
pub const ANCHOR_NAMESPACE: &str = "kubejit-system";

/// Sends each checkpoint to every anchor; the first failure is reported (the sink retries later).
/// The first anchor is the primary one: its head is what the file is checked against on open (the
/// others are copies, and only ever move forward).
struct Anchors(Vec<Box<dyn CheckpointAnchor>>);

impl CheckpointAnchor for Anchors {
    fn trail(&self) -> &TrailName {
        self.0[0].trail()
    }

    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.0[0].head()
    }

    fn keeps_checkpoints(&self) -> bool {
        self.0[0].keeps_checkpoints()
    }

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
    sealed: Option<(Arc<ChainedFileSink>, Option<AnchorFlusher>)>,
}

impl AuditGuard {
    pub async fn close(self) {
        let Some((sink, flusher)) = self.sealed else {
            return;
        };
        // Write + fsync: on a blocking thread, never on the async workers.
        let sealed = tokio::task::spawn_blocking(move || sink.seal_now()).await;
        match sealed {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "failed to seal the audit log on shutdown"),
            Err(error) => tracing::warn!(%error, "the task sealing the audit log failed"),
        }
        if let Some(mut flusher) = flusher
            && !flusher.flush(Duration::from_secs(5)).await
        {
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

/// Opens the sink. `trail` names the trail and anchors it in the cluster; without it the trail is named
/// after the file and anchored only in `--audit-checkpoints`, if given.
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
    let trail = match &args.audit_trail {
        Some(trail) => trail.clone(),
        None => path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .parse()
            .context("the audit log's file name is not a valid trail name: give --audit-trail")?,
    };
    let mut anchors: Vec<Box<dyn CheckpointAnchor>> = Vec::new();
    let mut flusher = None;
    if let Some(trail) = &args.audit_trail {
        let (cluster, flush) =
            kubejit_kube::audit_anchor::cluster_anchor(client, ANCHOR_NAMESPACE, trail.clone())
                .await
                .context("failed to read the audit trail's anchor in the cluster")?;
        anchors.push(Box::new(cluster));
        flusher = Some(flush);
    }
    if let Some(file) = &args.audit_checkpoints {
        anchors.push(Box::new(FileAnchor::new(file, trail.clone())));
    }
    let anchor: Box<dyn CheckpointAnchor> = match anchors.is_empty() {
        true => Box::new(kubejit_audit::Unanchored(trail)),
        false => Box::new(Anchors(anchors)),
    };
    let config = ChainConfig {
        every_records: args.audit_checkpoint_every,
        every: args.audit_checkpoint_interval,
    };
    let (sink, _) = ChainedFileSink::open(
        path,
        key,
        anchor,
        config,
        Box::new(kubejit_core::SystemClock),
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
