//! The audit front door: [`open_audit`] turns plain options into a ready [`Auditor`] — stdout, or the
//! hash-chained file with signed checkpoints anchored in the cluster (and optionally a file), its 1 s
//! checkpoint timer and its fallback spool — plus the guard that seals it on shutdown. Every writer
//! (the controller, the grant commands, later the gateway) opens its trail here, so they all write the
//! same chained, anchored trail the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kubejit_audit::{
    AuditError, AuditSink, Auditor, ChainConfig, ChainedFileSink, Checkpoint, CheckpointAnchor,
    FileAnchor, Spool, TrailName, Unanchored, WriterSink, signing_key_from_pem,
};
use kubejit_core::SystemClock;

use crate::audit_anchor::{AnchorError, AnchorFlusher, cluster_anchor};

/// Namespace of the ConfigMap that anchors checkpoints.
pub const ANCHOR_NAMESPACE: &str = "kubejit-system";

/// How long closing waits for the last checkpoint to be anchored in the cluster.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Where the audit trail goes.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The hash-chained file; `None`: one JSON line per record on stdout.
    pub file: Option<TrailOptions>,
    /// Where records of actions already taken wait while the trail cannot take them. `None`:
    /// `<log>.spool` beside a file, memory for stdout.
    pub spool: Option<PathBuf>,
}

/// The hash-chained, signed file.
#[derive(Debug, Clone)]
pub struct TrailOptions {
    pub log: PathBuf,
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints.
    pub signing_key: PathBuf,
    /// Anchors the trail in the cluster under this name. `None`: the trail is named after the file
    /// and anchored only in `checkpoints`, if given.
    pub name: Option<TrailName>,
    /// Also anchor checkpoints in this file.
    pub checkpoints: Option<PathBuf>,
    pub chain: ChainConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditTrailError {
    #[error("failed to read the audit signing key {path}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 PKCS#8 PEM key")]
    Key {
        path: PathBuf,
        #[source]
        source: AuditError,
    },
    #[error("the audit log's file name {path} is not a valid trail name: give the trail a name")]
    TrailName { path: PathBuf },
    #[error("failed to read the audit trail's anchor in the cluster")]
    Anchor(#[source] AnchorError),
    #[error("failed to open audit log {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: AuditError,
    },
    #[error("failed to open the audit spool")]
    Spool(#[source] tokio::task::JoinError),
}

/// Seals the trail and waits (bounded) for its last checkpoint to be anchored; call once on shutdown.
#[derive(Debug)]
pub struct AuditGuard {
    sealed: Option<(Arc<ChainedFileSink>, Option<AnchorFlusher>)>,
}

/// Opens the trail `options` ask for and returns its [`Auditor`] (records kept in the spool by an
/// earlier run are replayed on its first `replay_due`) and the guard that seals it.
pub async fn open_audit(
    options: &AuditOptions,
    client: kube::Client,
) -> Result<(Arc<Auditor>, AuditGuard), AuditTrailError> {
    let (sink, guard): (Arc<dyn AuditSink>, _) = match &options.file {
        None => (Arc::new(WriterSink::stdout()), AuditGuard { sealed: None }),
        Some(file) => {
            let (sink, flusher) = open_chained(file, client).await?;
            tick(Arc::clone(&sink));
            let guard = AuditGuard {
                sealed: Some((Arc::clone(&sink), flusher)),
            };
            (sink, guard)
        }
    };
    let spool = match (&options.spool, &options.file) {
        (Some(path), _) => Some(Spool::new(path)),
        (None, Some(file)) => Some(Spool::beside(&file.log)),
        (None, None) => None,
    };
    // Reads a spool left by an earlier run: file I/O, so on a blocking thread.
    let auditor =
        tokio::task::spawn_blocking(move || Auditor::new(sink, spool, Arc::new(SystemClock)))
            .await
            .map_err(AuditTrailError::Spool)?;
    Ok((Arc::new(auditor), guard))
}

async fn open_chained(
    file: &TrailOptions,
    client: kube::Client,
) -> Result<(Arc<ChainedFileSink>, Option<AnchorFlusher>), AuditTrailError> {
    let key_path = &file.signing_key;
    let pem = std::fs::read_to_string(key_path).map_err(|source| AuditTrailError::ReadKey {
        path: key_path.clone(),
        source,
    })?;
    let key = signing_key_from_pem(&pem).map_err(|source| AuditTrailError::Key {
        path: key_path.clone(),
        source,
    })?;
    let trail = match &file.name {
        Some(name) => name.clone(),
        None => file
            .log
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .parse()
            .map_err(|_| AuditTrailError::TrailName {
                path: file.log.clone(),
            })?,
    };
    let mut anchors: Vec<Box<dyn CheckpointAnchor>> = Vec::new();
    let mut flusher = None;
    if let Some(name) = &file.name {
        let (cluster, flush) = cluster_anchor(client, ANCHOR_NAMESPACE, name.clone())
            .await
            .map_err(AuditTrailError::Anchor)?;
        anchors.push(Box::new(cluster));
        flusher = Some(flush);
    }
    if let Some(path) = &file.checkpoints {
        anchors.push(Box::new(FileAnchor::new(path, trail.clone())));
    }
    let anchor: Box<dyn CheckpointAnchor> = match Anchors::new(anchors) {
        Some(anchors) => Box::new(anchors),
        None => Box::new(Unanchored(trail)),
    };
    let clock = Box::new(SystemClock);
    let (sink, _sealed) = ChainedFileSink::open(&file.log, key, anchor, file.chain, clock)
        .map_err(|source| AuditTrailError::Open {
            path: file.log.clone(),
            source,
        })?;
    Ok((Arc::new(sink), flusher))
}

/// Time-based checkpoints while the trail is idle, and retries of failed anchors, every second.
fn tick(sink: Arc<ChainedFileSink>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let sink = Arc::clone(&sink);
            match tokio::task::spawn_blocking(move || sink.tick()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "failed to checkpoint the audit log"),
                Err(error) => tracing::warn!(%error, "the audit checkpoint task failed"),
            }
        }
    });
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
            && !flusher.flush(FLUSH_WAIT).await
        {
            tracing::warn!(
                "the last audit checkpoint was not anchored in the cluster before shutdown"
            );
        }
    }
}

/// Sends each checkpoint to every anchor; the first failure is reported (the sink retries later).
/// The first anchor is the primary one: its head is what the file is checked against on open (the
/// others are copies, and only ever move forward).
struct Anchors {
    primary: Box<dyn CheckpointAnchor>,
    copies: Vec<Box<dyn CheckpointAnchor>>,
}

impl Anchors {
    /// `None` when there is no anchor at all.
    fn new(mut anchors: Vec<Box<dyn CheckpointAnchor>>) -> Option<Self> {
        if anchors.is_empty() {
            return None;
        }
        let primary = anchors.remove(0);
        Some(Self {
            primary,
            copies: anchors,
        })
    }
}

impl CheckpointAnchor for Anchors {
    fn trail(&self) -> &TrailName {
        self.primary.trail()
    }

    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.primary.head()
    }

    fn keeps_checkpoints(&self) -> bool {
        self.primary.keeps_checkpoints()
    }

    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let mut first_error = None;
        for a in std::iter::once(&self.primary).chain(&self.copies) {
            if let Err(e) = a.anchor(checkpoint) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
