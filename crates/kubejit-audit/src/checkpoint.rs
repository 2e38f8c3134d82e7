//! Signed checkpoints over the hash chain, the anchor that stores them outside the file, and key loading.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AuditError, Timestamp, escape::to_json_line};

/// A signed statement "the chain's record `sequence` has hash `hash`", made at `time`.
///
/// The same value is written into the trail and handed to a [`CheckpointAnchor`], so that truncating or
/// rewriting the file (which an attacker with file access can do consistently) is caught by comparing
/// with the copy kept elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Sequence of the last record covered.
    pub sequence: u64,
    /// Hex SHA-256 of that record.
    pub hash: String,
    /// When the checkpoint was signed.
    pub time: Timestamp,
    /// [`key_id`] of the signing key, so rotated keys can be told apart.
    pub key_id: String,
    /// Hex Ed25519 signature over [`Checkpoint::signed_message`].
    pub signature: String,
}

impl Checkpoint {
    /// Signs `(sequence, hash, time)` with `key`.
    pub fn sign(
        sequence: u64,
        hash: &str,
        time: Timestamp,
        key: &SigningKey,
    ) -> Result<Self, AuditError> {
        let message = signed_message(sequence, hash, time)?;
        let signature = key.sign(&message);
        Ok(Self {
            sequence,
            hash: hash.to_owned(),
            time,
            key_id: key_id(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
        })
    }

    /// Whether the signature is valid for `key`. Malformed hex counts as invalid.
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        let Ok(message) = signed_message(self.sequence, &self.hash, self.time) else {
            return false;
        };
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(&message, &signature).is_ok()
    }
}

/// Domain-separated bytes that are signed, so a checkpoint signature cannot be replayed as anything else.
fn signed_message(sequence: u64, hash: &str, time: Timestamp) -> Result<Vec<u8>, AuditError> {
    Ok(format!(
        "kubejit-audit-checkpoint-v1\n{sequence}\n{hash}\n{}\n",
        time.to_rfc3339()?
    )
    .into_bytes())
}

/// First 16 hex digits of SHA-256 over the raw public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Stores checkpoints somewhere the trail's writer cannot silently rewrite (a cluster object's
/// annotation in production, a file in tests and the CLI).
pub trait CheckpointAnchor: Send + Sync {
    /// Stores `checkpoint`. An error is reported to the caller of `record` but does not undo the record.
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError>;
}

/// Appends each checkpoint as one JSON line to a file; read back with [`load_checkpoints`].
#[derive(Debug, Clone)]
pub struct FileAnchor {
    path: PathBuf,
}

impl FileAnchor {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl CheckpointAnchor for FileAnchor {
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let mut line = to_json_line(checkpoint)?;
        line.push(b'\n');
        let io = |source| AuditError::Anchor {
            sequence: checkpoint.sequence,
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// Reads checkpoints written by [`FileAnchor`], one JSON object per non-empty line.
pub fn load_checkpoints(reader: impl BufRead, what: &str) -> Result<Vec<Checkpoint>, AuditError> {
    let mut checkpoints = Vec::new();
    for (index, line) in (1u64..).zip(reader.lines()) {
        let line = line.map_err(|source| AuditError::Read {
            what: what.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint =
            serde_json::from_str(&line).map_err(|source| AuditError::ParseCheckpoint {
                what: what.to_owned(),
                line: index,
                source,
            })?;
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

/// Reads a checkpoint file written by [`FileAnchor`].
pub fn load_checkpoint_file(path: &Path) -> Result<Vec<Checkpoint>, AuditError> {
    let file = std::fs::File::open(path).map_err(|source| AuditError::Open {
        path: path.to_owned(),
        source,
    })?;
    load_checkpoints(std::io::BufReader::new(file), &path.display().to_string())
}

/// Parses a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, AuditError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| AuditError::ParseKey {
        what: "signing",
        reason: e.to_string(),
    })
}

/// Parses an SPKI PEM Ed25519 public key (`openssl pkey -pubout`).
pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, AuditError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| AuditError::ParseKey {
        what: "verifying",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn checkpoint() -> Checkpoint {
        let time = Timestamp::parse("2024-05-01T10:00:00Z").unwrap();
        Checkpoint::sign(7, &"ab".repeat(32), time, &key(1)).unwrap()
    }

    #[test]
    fn signature_covers_every_field() {
        let public = key(1).verifying_key();
        assert!(checkpoint().signature_valid(&public));
        let later = Timestamp::parse("2024-05-01T10:00:01Z").unwrap();
        let tampered: [fn(&mut Checkpoint); 4] = [
            |c| c.sequence += 1,
            |c| c.hash = "cd".repeat(32),
            |c| c.signature = "00".repeat(64),
            |c| c.signature = "not hex".into(),
        ];
        for edit in tampered {
            let mut c = checkpoint();
            edit(&mut c);
            assert!(!c.signature_valid(&public), "{c:?}");
        }
        let mut c = checkpoint();
        c.time = later;
        assert!(!c.signature_valid(&public));
        assert!(!checkpoint().signature_valid(&key(2).verifying_key()));
    }

    #[test]
    fn file_anchor_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = FileAnchor::new(dir.path().join("anchors.jsonl"));
        anchor.anchor(&checkpoint()).unwrap();
        anchor.anchor(&checkpoint()).unwrap();
        let loaded = load_checkpoint_file(&dir.path().join("anchors.jsonl")).unwrap();
        assert_eq!(loaded, vec![checkpoint(), checkpoint()]);
    }

    #[test]
    fn load_reports_the_bad_line() {
        let input = format!(
            "{}\n\nnot json\n",
            serde_json::to_string(&checkpoint()).unwrap()
        );
        let err = load_checkpoints(input.as_bytes(), "anchors").unwrap_err();
        assert!(
            matches!(err, AuditError::ParseCheckpoint { line: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_garbage_pem() {
        assert!(
            signing_key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(verifying_key_from_pem("nope").is_err());
    }
}
