//! The gateway's configuration: where it listens, whom it trusts, and how long sessions may last.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubejit_core::ssh_cert::CertPolicy;
use russh::keys::{HashAlg, PublicKey};

use crate::error::GatewayError;

/// Everything `kubejit gateway` is told; validated once, then trusted.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address to listen on, e.g. `0.0.0.0:2222`.
    pub listen: String,
    /// The persistent host key (OpenSSH private key, 0600); created on first start if missing.
    pub host_key: PathBuf,
    /// An OpenSSH host certificate for the host key (`ssh-keygen -s CA -h`), presented to clients
    /// that trust the CA with `@cert-authority` in known_hosts; it must certify this host key.
    pub host_cert: Option<PathBuf>,
    /// Files of trusted user-CA public keys (one OpenSSH public key a line).
    pub trusted_ca_files: Vec<PathBuf>,
    /// Longest accepted certificate lifetime.
    pub max_cert_lifetime: Duration,
    /// Extra groups per user name.
    pub user_groups: BTreeMap<String, Vec<String>>,
    pub limits: Limits,
    /// Directory of session recordings (`<session id>.cast`, mode 0600).
    pub recordings: PathBuf,
    /// Record the user's keystrokes too (off: input can carry passwords).
    pub record_input: bool,
    /// The gateway's own Kubernetes credentials (it impersonates from there).
    pub client: kubejit_kube::ClientOptions,
    /// The port-forward protocols offered to the apiserver. `kubejit gateway` always offers both
    /// (SPDY tunnelled over the WebSocket first); tests offer only `v4.channel.k8s.io` to keep the
    /// fallback for apiservers that do not tunnel SPDY covered.
    pub port_forward: crate::kube::ForwardOffer,
}

/// When a session ends regardless of the person's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How often the person's Kubernetes permission in use is asked again (SubjectAccessReview).
    pub recheck_interval: Duration,
    pub idle_timeout: Duration,
    pub max_session: Duration,
    pub max_sessions_per_user: usize,
    /// How long before a known deadline the user is warned on stderr.
    pub warn_before: Duration,
    /// How often the trusted-CA files are re-read (a change applies without a restart).
    pub ca_reload_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            recheck_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15 * 60),
            max_session: Duration::from_secs(8 * 3600),
            max_sessions_per_user: 4,
            warn_before: Duration::from_secs(60),
            ca_reload_interval: Duration::from_secs(5),
        }
    }
}

/// The SHA-256 fingerprints (`SHA256:…`) of the keys in `files`: the CA is recognised by its
/// fingerprint, never by the key a certificate carries.
pub fn load_trusted_cas(files: &[PathBuf]) -> Result<BTreeSet<String>, GatewayError> {
    let mut out = BTreeSet::new();
    for path in files {
        out.extend(read_ca_file(path)?);
    }
    if out.is_empty() {
        return Err(GatewayError::NoTrustedCa);
    }
    Ok(out)
}

fn read_ca_file(path: &Path) -> Result<Vec<String>, GatewayError> {
    let text = std::fs::read_to_string(path).map_err(|source| GatewayError::ReadCaKeys {
        path: path.to_owned(),
        source,
    })?;
    parse_ca_text(path, &text)
}

/// The fingerprints of the keys in `text` (the content of the CA file `path`); any line that is
/// not a public key fails the whole file.
pub fn parse_ca_text(path: &Path, text: &str) -> Result<Vec<String>, GatewayError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = PublicKey::from_openssh(line).map_err(|source| GatewayError::ParseCaKey {
            path: path.to_owned(),
            line: index.saturating_add(1),
            source,
        })?;
        out.push(key.fingerprint(HashAlg::Sha256).to_string());
    }
    Ok(out)
}

impl GatewayConfig {
    /// The certificate policy the core rules read.
    pub fn cert_policy(&self) -> Result<CertPolicy, GatewayError> {
        Ok(CertPolicy {
            trusted_cas: load_trusted_cas(&self.trusted_ca_files)?,
            max_lifetime_secs: self.max_cert_lifetime.as_secs(),
            user_groups: self.user_groups.clone(),
        })
    }
}
