//! Reconcile errors of the reaper; each is retried by the error policy.

/// Audit failures are not here: the reaper's records are of things already done, kept and replayed
/// by the auditor, so they never fail a reconcile or hold up a deletion.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to delete expired {what}")]
    Delete {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to re-read {what} after a conflicting change")]
    Reread {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} kept changing while being deleted; retrying")]
    KeepsChanging { what: String },
    /// A bug, contained (see `crate::panic`): the object is retried later, the rest is unaffected.
    #[error("reconciling {what} panicked ({message}); retrying later")]
    Panicked { what: String, message: String },
}

impl Error {
    /// Stable label for the errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Delete { .. } => "delete",
            Self::Reread { .. } => "reread",
            Self::KeepsChanging { .. } => "keeps_changing",
            Self::Panicked { .. } => "panic",
        }
    }
}
