//! Errors of grant listing; each message says what to do next.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "failed to list grants; check you may list rolebindings (and clusterrolebindings with -A)"
    )]
    List(#[source] kube::Error),
    #[error("failed to render grants as {format}")]
    Render {
        format: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
