//! Reconcile errors of the request controller; each is retried by the error policy with backoff.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to add kubejit's finalizer to AccessRequest {what}")]
    AddFinalizer {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to release kubejit's finalizer on AccessRequest {what}")]
    ReleaseFinalizer {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write the status of AccessRequest {what}")]
    WriteStatus {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read RoleBinding {what}")]
    ReadBinding {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to create RoleBinding {what}")]
    CreateBinding {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete RoleBinding {what}")]
    DeleteBinding {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A binding with the request's deterministic name exists but is not this request's: someone
    /// squats the name. Nothing is adopted or granted.
    #[error("RoleBinding {what} exists but is not owned by this request; refusing to adopt it")]
    NameTaken { what: String },
    /// The approval record gates the grant: without it nothing is created.
    #[error("failed to write the accessApproved audit record of {what}; nothing is granted")]
    Audit {
        what: String,
        #[source]
        source: kubejit_audit::AuditError,
    },
    #[error("the task writing the {what} audit record failed; nothing is granted")]
    AuditTask { what: String },
    /// Before refusing a request for want of a policy, the policies are read afresh; that read failed,
    /// so nothing is decided yet.
    #[error("failed to list AccessPolicies to confirm a refusal of AccessRequest {what}")]
    ListPolicies {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A bug, contained (see `crate::panic`): the request is retried later, the rest is unaffected.
    #[error("reconciling AccessRequest {what} panicked ({message}); retrying later")]
    Panicked { what: String, message: String },
}

impl Error {
    /// Stable label for the errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::AddFinalizer { .. } => "add_finalizer",
            Self::ReleaseFinalizer { .. } => "release_finalizer",
            Self::WriteStatus { .. } => "write_status",
            Self::ReadBinding { .. } => "read_binding",
            Self::CreateBinding { .. } => "create_binding",
            Self::DeleteBinding { .. } => "delete_binding",
            Self::NameTaken { .. } => "name_taken",
            Self::ListPolicies { .. } => "list_policies",
            Self::Audit { .. } | Self::AuditTask { .. } => "audit",
            Self::Panicked { .. } => "panic",
        }
    }
}
