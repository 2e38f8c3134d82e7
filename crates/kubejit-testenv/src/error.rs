//! The errors a control plane start-up or helper can fail with; each says what to check.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "failed to build the control plane with {script}: see the output above; Go >= 1.26 must be on PATH"
    )]
    Build {
        script: PathBuf,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("control-plane binary {path} is missing: run tools/control-plane/build.sh")]
    MissingBinary { path: PathBuf },
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create the test environment's temporary directory")]
    TempDir(#[source] std::io::Error),
    #[error("failed to generate the test PKI")]
    Pki(#[source] rcgen::Error),
    #[error("failed to find a free local port")]
    Port(#[source] std::io::Error),
    #[error("failed to start {component}")]
    Spawn {
        component: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{component} exited during start-up ({status}); its log {log} ends with:\n{tail}")]
    Exited {
        component: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{component} was not ready after {seconds}s; its log {log} ends with:\n{tail}")]
    NotReady {
        component: String,
        seconds: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("kubectl {args} failed ({status}): {stderr}")]
    Kubectl {
        args: String,
        status: String,
        stderr: String,
    },
    #[error(
        "`{what}` did not finish within {seconds}s and was killed; it printed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    )]
    TimedOut {
        what: String,
        seconds: u64,
        stdout: String,
        stderr: String,
    },
    #[error("ssh-keygen {args} failed ({status}): {stderr}")]
    SshKeygen {
        args: String,
        status: String,
        stderr: String,
    },
    #[error("unknown test user {0:?}")]
    UnknownUser(String),
    #[error("the control plane runs no {0}")]
    UnknownComponent(String),
}
