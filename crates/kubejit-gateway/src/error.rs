//! The gateway's one error type: what failed while starting or serving, with the path or step.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("failed to read trusted CA keys from {path}")]
    ReadCaKeys {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not an OpenSSH public key")]
    ParseCaKey {
        path: PathBuf,
        line: usize,
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    #[error("no trusted user CA key: pass --trusted-ca (a file of OpenSSH public keys)")]
    NoTrustedCa,
    #[error("failed to read the host key {path}")]
    ReadHostKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host key {path} is not an unencrypted OpenSSH private key")]
    ParseHostKey {
        path: PathBuf,
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    #[error("host key {path} is readable by others (mode {mode:o}); chmod 600 it")]
    HostKeyMode { path: PathBuf, mode: u32 },
    #[error("failed to write a new host key to {path}")]
    WriteHostKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read the host certificate {path}")]
    ReadHostCert {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("host certificate {path} is not an OpenSSH certificate")]
    ParseHostCert {
        path: PathBuf,
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    #[error(
        "host certificate {path} is not usable: {problem}; sign the gateway's host key as a host \
         certificate (ssh-keygen -s CA -h -I ID -n HOSTNAMES HOST_KEY.pub) and pass that"
    )]
    HostCertUnusable { path: PathBuf, problem: String },
    #[error("failed to encode the new host key")]
    EncodeHostKey(#[source] russh::keys::ssh_key::Error),
    #[error("failed to listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the SSH server stopped")]
    Serve(#[source] std::io::Error),
    #[error("failed to load the gateway's Kubernetes credentials")]
    Client(#[source] kubejit_kube::ClientError),
}
