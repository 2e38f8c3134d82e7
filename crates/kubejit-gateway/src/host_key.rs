//! The gateway's persistent host key: generated once (Ed25519, mode 0600), then reused, so clients'
//! `known_hosts` entries stay valid across restarts.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{Certificate, HashAlg, PrivateKey};

use crate::error::GatewayError;

/// Loads the host key at `path`, creating it if the file does not exist. A key readable by group or
/// others is refused: a leaked host key lets anyone impersonate the gateway.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, GatewayError> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(GatewayError::HostKeyMode {
                    path: path.to_owned(),
                    mode,
                });
            }
            let text =
                std::fs::read_to_string(path).map_err(|source| GatewayError::ReadHostKey {
                    path: path.to_owned(),
                    source,
                })?;
            PrivateKey::from_openssh(text).map_err(|source| GatewayError::ParseHostKey {
                path: path.to_owned(),
                source,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(source) => Err(GatewayError::ReadHostKey {
            path: path.to_owned(),
            source,
        }),
    }
}

fn create(path: &Path) -> Result<PrivateKey, GatewayError> {
    let seed: [u8; 32] = rand::random();
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(GatewayError::EncodeHostKey)?;
    let write_err = |source| GatewayError::WriteHostKey {
        path: path.to_owned(),
        source,
    };
    // create_new: two replicas starting at once must not overwrite each other's key.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_err)?;
    file.write_all(text.as_bytes()).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    tracing::info!(path = %path.display(), "generated a new gateway host key");
    Ok(key)
}

/// Loads the host certificate at `path` and checks it can vouch for `key` now: a host certificate,
/// for this very key, whose CA signature verifies and whose validity period includes `now` (Unix
/// seconds). Anything else stops the start, naming the fix: clients would refuse the gateway.
pub fn load_host_cert(
    path: &Path,
    key: &PrivateKey,
    now: u64,
) -> Result<Certificate, GatewayError> {
    let text = std::fs::read_to_string(path).map_err(|source| GatewayError::ReadHostCert {
        path: path.to_owned(),
        source,
    })?;
    let cert =
        Certificate::from_openssh(text.trim()).map_err(|source| GatewayError::ParseHostCert {
            path: path.to_owned(),
            source,
        })?;
    match host_cert_problem(&cert, key, now) {
        None => Ok(cert),
        Some(problem) => Err(GatewayError::HostCertUnusable {
            path: path.to_owned(),
            problem,
        }),
    }
}

/// Why `cert` cannot be presented for `key` at `now`, if it cannot.
fn host_cert_problem(cert: &Certificate, key: &PrivateKey, now: u64) -> Option<String> {
    match cert.cert_type() {
        CertType::Host => {}
        CertType::User => {
            return Some("it is a user certificate, not a host certificate (-h)".into());
        }
    }
    if cert.public_key() != key.public_key().key_data() {
        let certified = russh::keys::PublicKey::new(cert.public_key().clone(), "");
        return Some(format!(
            "it certifies the key {}, not the gateway's host key {}",
            certified.fingerprint(HashAlg::Sha256),
            key.public_key().fingerprint(HashAlg::Sha256)
        ));
    }
    if cert.verify_signature().is_err() {
        return Some("its CA signature does not verify".into());
    }
    if now < cert.valid_after() {
        return Some(format!("it is not valid before {}", cert.valid_after()));
    }
    if now >= cert.valid_before() {
        return Some(format!("it expired at {}", cert.valid_before()));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_new_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.public_key(), again.public_key());
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(GatewayError::HostKeyMode { mode: 0o644, .. })
        ));
    }
}
