//! What can go wrong while deciding one CSR; every error means "no approval, retry with backoff".

/// Errors of one approver reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to write the audit record for CSR {name}")]
    RecordAudit {
        name: String,
        #[source]
        source: kubejit_audit::AuditError,
    },
    #[error("audit writer task for CSR {name} did not finish")]
    AuditTask {
        name: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("failed to write the {condition} condition of CSR {name}")]
    WriteApproval {
        name: String,
        condition: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("failed to re-read CSR {name} after a conflict")]
    ReadCsr {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("CSR {name} kept changing while it was being decided")]
    KeptChanging { name: String },
    #[error("CSR {name} lacks metadata.{field}")]
    MissingMetadata { name: String, field: &'static str },
    #[error("AccessPolicies are not loaded yet")]
    PoliciesNotLoaded,
    /// A denial for want of a policy is confirmed against a fresh LIST first; the LIST failed, so
    /// nothing is decided yet.
    #[error("failed to list AccessPolicies to confirm the denial of CSR {name}")]
    ListPolicies {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A bug, contained (see `crate::panic`): no decision, retried with backoff like any error.
    #[error("deciding CSR {name} panicked ({message})")]
    Panicked { name: String, message: String },
}

/// Error labels counted outside reconcile (they never block a decision on their own).
pub const NON_RECONCILE_ERRORS: [&str; 6] = [
    "event_publish",
    "event_dropped",
    "policy_watch",
    "csr_watch",
    "request_watch",
    "approval_watch",
];

impl Error {
    pub const METRIC_LABELS: [&'static str; 9] = [
        "audit_write",
        "audit_task",
        "approval_write",
        "csr_read",
        "kept_changing",
        "missing_metadata",
        "policies_not_loaded",
        "policy_list",
        "panic",
    ];

    /// Stable label for the `kubejit_approver_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::RecordAudit { .. } => "audit_write",
            Self::AuditTask { .. } => "audit_task",
            Self::WriteApproval { .. } => "approval_write",
            Self::ReadCsr { .. } => "csr_read",
            Self::KeptChanging { .. } => "kept_changing",
            Self::MissingMetadata { .. } => "missing_metadata",
            Self::PoliciesNotLoaded => "policies_not_loaded",
            Self::ListPolicies { .. } => "policy_list",
            Self::Panicked { .. } => "panic",
        }
    }

    /// A 409 from the approval write: the CSR changed (or was replaced) since we read it.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::WriteApproval { source: kube::Error::Api(status), .. } if status.code == 409)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_409_from_the_approval_write_is_a_conflict() {
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            }))
        };
        let write = |code| Error::WriteApproval {
            name: "x".to_owned(),
            condition: "Approved",
            source: status(code),
        };
        assert!(write(409).is_conflict());
        assert!(!write(403).is_conflict());
        assert!(!write(500).is_conflict());
        let read = Error::ReadCsr {
            name: "x".to_owned(),
            source: status(409),
        };
        assert!(!read.is_conflict());
    }

    #[test]
    fn every_metric_label_is_preregistered() {
        let errors = [
            Error::KeptChanging {
                name: "x".to_owned(),
            },
            Error::MissingMetadata {
                name: "x".to_owned(),
                field: "uid",
            },
            Error::PoliciesNotLoaded,
            Error::Panicked {
                name: "x".to_owned(),
                message: "boom".to_owned(),
            },
        ];
        for e in errors {
            assert!(Error::METRIC_LABELS.contains(&e.metric_label()));
        }
    }
}
