//! Errors of the controller process as a whole (reconcile errors live with their controller).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to set up leader election on Lease {namespace}/{name}")]
    LeaderElection {
        namespace: String,
        name: String,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
    #[error("failed to serve metrics and health endpoints on {addr}")]
    Serve {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to find out who this controller is (SelfSubjectReview)")]
    WhoAmI(#[source] kubejit_kube::PermissionError),
    #[error(transparent)]
    Permissions(#[from] kubejit_kube::PermissionError),
}

pub(crate) use kubejit_core::text::error_chain as chain;
