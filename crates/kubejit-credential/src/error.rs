//! Everything that can go wrong while obtaining a credential, each message naming the fix.

use std::path::PathBuf;

/// One variant per failing operation; the binary prints the whole chain once and maps kinds to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "KUBERNETES_EXEC_INFO is not a client.authentication.k8s.io/v1 ExecCredential; \
         set apiVersion client.authentication.k8s.io/v1 in the kubeconfig exec stanza"
    )]
    ParseExecInfo(#[source] serde_json::Error),
    #[error("no cache directory: set XDG_CACHE_HOME or HOME, or pass --cache-dir")]
    NoCacheDir,
    #[error("failed to create cache directory {path}")]
    CreateCacheDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to inspect cache directory {path}")]
    InspectCacheDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cache directory {path} is accessible to other users (mode {mode:04o}); \
         private keys live there: run `chmod 700 {path}`"
    )]
    CacheDirTooOpen { path: PathBuf, mode: u32 },
    #[error(
        "cache directory {path} belongs to uid {owner}, not to you (uid {uid}); \
         private keys live there: pass a --cache-dir you own"
    )]
    CacheDirNotOwned { path: PathBuf, owner: u32, uid: u32 },
    #[error("cache path {path} is not a directory; remove it or pass another --cache-dir")]
    CacheDirNotDirectory { path: PathBuf },
    #[error("failed to read cache entry {path}")]
    ReadCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write cache entry {path}; check free space and permissions")]
    WriteCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another `kubejit credential` still holds {path} after {waited_secs}s; \
         wait for it or raise --timeout"
    )]
    LockTimeout { path: PathBuf, waited_secs: u64 },
    #[error("failed to read kubeconfig {path}; check --kubeconfig")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kubeconfig {path} is not valid YAML; fix it or pass another --kubeconfig")]
    ParseKubeconfig {
        path: PathBuf,
        #[source]
        // Boxed: the parser's error carries a source snippet and would bloat every Result.
        source: Box<serde_saphyr::Error>,
    },
    #[error("failed to render kubeconfig")]
    RenderKubeconfig(#[source] serde_saphyr::SerializeError),
    #[error(
        "kubeconfig {path} has no context {context:?}; list them with `kubectl config get-contexts`"
    )]
    NoSuchContext { path: PathBuf, context: String },
    #[error(
        "kubeconfig {path} has no current context; pass --context NAME \
         (list them with `kubectl config get-contexts`) or run `kubectl config use-context NAME`"
    )]
    NoCurrentContext { path: PathBuf },
    #[error(
        "kubeconfig {path} has no cluster {cluster:?} for context {context:?}; fix the context's cluster"
    )]
    NoSuchCluster {
        path: PathBuf,
        context: String,
        cluster: String,
    },
    #[error(
        "context {context:?} uses the kubejit exec plugin itself; --context must name your everyday \
         identity (the one that may only ask), not the elevated one"
    )]
    RecursiveContext { context: String },
    #[error(
        "the asking context talks to {asking} but kubectl wants a credential for {target}; \
         pass a --context for the same cluster"
    )]
    ClusterMismatch { asking: String, target: String },
    #[error("failed to connect with the asking identity")]
    Client(#[source] kubejit_kube::ClientError),
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(
        "failed to discover who you are (SelfSubjectReview); the asking identity needs the \
         kubejit-requester ClusterRole (deploy/rbac/requester.yaml)"
    )]
    WhoAmI(#[source] kube::Error),
    #[error("the apiserver returned a SelfSubjectReview without a username")]
    NoUsername,
    #[error("failed to generate a private key")]
    GenerateKey(#[source] rcgen::Error),
    #[error("failed to use the PKCS#11 token")]
    Token(#[from] crate::token::TokenError),
    #[error("failed to read the key attestation {path}")]
    ReadAttestation {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key attestation {path} would be refused by the approver")]
    Attestation {
        path: std::path::PathBuf,
        #[source]
        source: kubejit_core::csr::AnnotationError,
    },
    #[error("failed to sign the certificate signing request")]
    SignRequest(#[source] rcgen::Error),
    #[error(
        "failed to create the CertificateSigningRequest; the asking identity needs the \
         kubejit-requester ClusterRole (deploy/rbac/requester.yaml)"
    )]
    CreateCsr(#[source] kube::Error),
    #[error("failed to watch CertificateSigningRequest {name}")]
    WatchCsr {
        name: String,
        #[source]
        source: kube::runtime::watcher::Error,
    },
    #[error("CertificateSigningRequest {name} was deleted before a decision")]
    CsrDeleted { name: String },
    #[error("denied: {message} (CertificateSigningRequest {name}, reason {reason})")]
    Denied {
        name: String,
        reason: String,
        message: String,
    },
    #[error("signing failed: {message} (CertificateSigningRequest {name}, reason {reason})")]
    SigningFailed {
        name: String,
        reason: String,
        message: String,
    },
    #[error(
        "no decision on CertificateSigningRequest {name} within {waited_secs}s; under a Manual \
         AccessPolicy it is approved only once you have an approved AccessRequest for its groups \
         (`kubejit request --certificate-group …`, then an approver runs `kubejit approve`); \
         see why with `kubectl get csr {name}`, or raise --timeout"
    )]
    Timeout { name: String, waited_secs: u64 },
    #[error("the issued certificate is not trustworthy: {0}; do not use it, and report it")]
    Verify(#[from] crate::verify::VerifyError),
    #[error("failed to print the ExecCredential")]
    Render(#[source] serde_json::Error),
}
