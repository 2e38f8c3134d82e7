//! Errors of grant operations; each message says what to do next.

use kubejit_core::GrantRefusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to find out who you are (SelfSubjectReview); check your kubeconfig")]
    WhoAmI(#[source] kube::Error),
    #[error(
        "the apiserver returned a SelfSubjectReview without a username; check your credentials"
    )]
    NoUsername,
    #[error(
        "failed to list AccessPolicies: check that deploy/ is applied and you may list accesspolicies.kubejit.dev"
    )]
    ListPolicies(#[source] kube::Error),
    /// The policy said no; nothing was written.
    #[error(transparent)]
    Refused(GrantRefusal),
    #[error(
        "failed to write the audit record, so nothing was changed; fix the audit log and retry"
    )]
    Audit(#[source] kubejit_audit::AuditError),
    #[error("the audit writer task did not finish, so nothing was changed; retry")]
    AuditTask(#[source] tokio::task::JoinError),
    #[error("failed to create {what}; check you may create rolebindings and bind the role")]
    Create {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "failed to list grants; check you may list rolebindings (and clusterrolebindings with -A)"
    )]
    List(#[source] kube::Error),
    #[error("failed to read {what}; check the name with `kubejit grants`")]
    Get {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{what} is not a kubejit grant (no debugging.kubernetes.io/expires-at annotation); kubejit only revokes or extends grants"
    )]
    NotAGrant { what: String },
    #[error("{what} changed since it was read; run the command again")]
    Changed { what: String },
    #[error("failed to delete {what}; check you may delete rolebindings")]
    Delete {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "failed to update {what}; check you may update rolebindings and are in the grant admin group"
    )]
    Update {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what} has an unusable expires-at ({reason}); revoke it and grant again")]
    Malformed { what: String, reason: String },
    #[error("{what} binds {subject}, which kubejit policy cannot check; revoke it and grant again")]
    UncheckableSubject { what: String, subject: String },
    #[error("failed to render grants as {format}")]
    Render {
        format: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
