//! Reconcile errors of the reaper; each is retried by the error policy.

use kubejit_audit::AuditError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "failed to write the audit record for {what}; it is retried and nothing is deleted until it lands"
    )]
    Audit {
        what: String,
        #[source]
        source: AuditError,
    },
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
            Self::Audit { .. } => "audit",
            Self::Delete { .. } => "delete",
            Self::Reread { .. } => "reread",
            Self::KeepsChanging { .. } => "keeps_changing",
            Self::Panicked { .. } => "panic",
        }
    }
}
