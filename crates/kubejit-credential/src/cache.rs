//! The disk cache: one private JSON file per (cluster, asking identity, groups, incident), and a lock
//! file beside it so that concurrent invocations wait for one request instead of each filing a CSR.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::exec::ExecCredential;
use crate::secure_fs::{ensure_private_dir, write_private_atomic};
use crate::verify::Validity;
use crate::{CredentialError, refresh_at, rfc3339};

const ENTRY_VERSION: u32 = 1;
const LOCK_POLL: Duration = Duration::from_millis(20);

/// What a cached certificate is for. Any difference means a different certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The apiserver URL the credential is for.
    pub server: String,
    /// The kubeconfig and context of the asking identity (the everyday, low-privilege one).
    pub kubeconfig: String,
    pub context: String,
    /// Requested groups, sorted and without duplicates.
    pub groups: Vec<String>,
    pub incident: String,
}

impl CacheKey {
    /// A file name derived from the whole key; the entry also stores the key and is checked against it.
    fn stem(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..16])
    }
}

/// A verified certificate and its private key.
#[derive(Debug)]
pub struct CachedCredential {
    pub username: String,
    pub csr_name: String,
    pub validity: Validity,
    pub certificate_pem: String,
    pub private_key_pem: SecretString,
}

impl CachedCredential {
    /// The ExecCredential kubectl gets, expiring a safety margin before the certificate does.
    pub fn exec_credential(&self) -> ExecCredential {
        ExecCredential {
            client_certificate_pem: self.certificate_pem.clone(),
            client_key_pem: self.private_key_pem.clone(),
            expiration_timestamp: rfc3339(refresh_at(self.validity)),
        }
    }

    /// Usable at `now`: inside the window and not yet within the refresh margin of NotAfter.
    pub fn is_fresh(&self, now: i64) -> bool {
        self.validity.not_before <= now && now < refresh_at(self.validity)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    version: u32,
    key: CacheKey,
    username: String,
    csr_name: String,
    not_before: i64,
    not_after: i64,
    certificate: String,
    private_key: String,
}

/// A private cache directory (owner-only, checked on every open).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// Held while one invocation requests a certificate; released on drop (the OS releases it if we die).
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl Cache {
    /// Opens (creating owner-only if missing) and checks the directory.
    pub fn open(dir: &Path) -> Result<Self, CredentialError> {
        ensure_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.stem()))
    }

    fn lock_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.lock", key.stem()))
    }

    /// The cached credential for `key` if it is fresh at `now`. Missing, foreign or unreadable entries
    /// are misses: the next request overwrites them.
    pub fn load_fresh(
        &self,
        key: &CacheKey,
        now: i64,
    ) -> Result<Option<CachedCredential>, CredentialError> {
        let path = self.entry_path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialError::ReadCache { path, source }),
        };
        let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) else {
            return Ok(None);
        };
        if entry.version != ENTRY_VERSION || entry.key != *key {
            return Ok(None);
        }
        let cred = CachedCredential {
            username: entry.username,
            csr_name: entry.csr_name,
            validity: Validity {
                not_before: entry.not_before,
                not_after: entry.not_after,
            },
            certificate_pem: entry.certificate,
            private_key_pem: SecretString::from(entry.private_key),
        };
        Ok(cred.is_fresh(now).then_some(cred))
    }

    /// Stores a verified credential atomically with mode 0600.
    pub fn store(&self, key: &CacheKey, cred: &CachedCredential) -> Result<(), CredentialError> {
        let entry = Entry {
            version: ENTRY_VERSION,
            key: key.clone(),
            username: cred.username.clone(),
            csr_name: cred.csr_name.clone(),
            not_before: cred.validity.not_before,
            not_after: cred.validity.not_after,
            certificate: cred.certificate_pem.clone(),
            private_key: cred.private_key_pem.expose_secret().to_owned(),
        };
        let bytes = serde_json::to_vec_pretty(&entry).map_err(CredentialError::Render)?;
        write_private_atomic(&self.entry_path(key), &bytes)
    }

    /// Takes the per-key lock, waiting at most `timeout`; `on_wait` runs once if someone else holds it.
    pub fn lock(
        &self,
        key: &CacheKey,
        timeout: Duration,
        on_wait: impl FnOnce(),
    ) -> Result<CacheLock, CredentialError> {
        let path = self.lock_path(key);
        let err = |source| CredentialError::Lock {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        let started = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(CacheLock { _file: file }),
                Err(TryLockError::Error(source)) => return Err(err(source)),
                Err(TryLockError::WouldBlock) if started.elapsed() >= timeout => {
                    return Err(CredentialError::LockTimeout {
                        path,
                        waited_secs: timeout.as_secs(),
                    });
                }
                Err(TryLockError::WouldBlock) => {
                    if let Some(f) = on_wait.take() {
                        f();
                    }
                    std::thread::sleep(LOCK_POLL);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
