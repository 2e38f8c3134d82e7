//! Signed checkpoints over the hash chain, the anchor that stores them outside the file, and key loading.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AuditError, Timestamp, escape::to_json_line};

/// A signed statement "trail `trail`'s record `sequence` has hash `hash`, and my predecessor checkpoint
/// has digest `prev`", made at `time`.
///
/// The same value is written into the trail and handed to a [`CheckpointAnchor`], so that truncating or
/// rewriting the file (which an attacker with file access can do consistently) is caught by comparing
/// with the copy kept elsewhere. `prev` makes a trail's checkpoints a chain of their own, so an anchor's
/// history cannot be shortened, reordered or mixed with another trail's without breaking a signature or
/// a link, and `trail` binds each checkpoint to one trail, so one replica's checkpoints cannot be passed
/// off as another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Name of the trail (see [`TrailName`]); untrusted when read back, so a plain string.
    pub trail: String,
    /// Sequence of the last record covered.
    pub sequence: u64,
    /// Hex SHA-256 of that record.
    pub hash: String,
    /// [`Checkpoint::digest`] of the trail's previous checkpoint; [`crate::GENESIS_HASH`] for its first.
    pub prev: String,
    /// When the checkpoint was signed.
    pub time: Timestamp,
    /// [`key_id`] of the signing key, so rotated keys can be told apart.
    pub key_id: String,
    /// Hex Ed25519 signature over the checkpoint's signed message (every field above).
    pub signature: String,
}

/// Where a new checkpoint sits: which trail, which record it covers, which checkpoint precedes it.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub trail: &'a str,
    pub sequence: u64,
    pub hash: &'a str,
    pub prev: &'a str,
}

impl Checkpoint {
    /// Signs `link` at `time` with `key`.
    pub fn sign(link: Link<'_>, time: Timestamp, key: &SigningKey) -> Result<Self, AuditError> {
        let mut checkpoint = Self {
            trail: link.trail.to_owned(),
            sequence: link.sequence,
            hash: link.hash.to_owned(),
            prev: link.prev.to_owned(),
            time,
            key_id: key_id(&key.verifying_key()),
            signature: String::new(),
        };
        let signature = key.sign(&checkpoint.signed_message()?);
        checkpoint.signature = hex::encode(signature.to_bytes());
        Ok(checkpoint)
    }

    /// Whether the signature is valid for `key`. Malformed hex counts as invalid.
    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        let Ok(message) = self.signed_message() else {
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

    /// Hex SHA-256 of the signed message: what the next checkpoint's `prev` names. The message commits
    /// to every field but the signature, and only the key holder can produce a valid signature for it.
    pub fn digest(&self) -> String {
        match self.signed_message() {
            Ok(message) => hex::encode(Sha256::digest(&message)),
            // A time that cannot be formatted cannot have been signed either: a digest nothing links to.
            Err(_) => String::new(),
        }
    }

    /// Domain-separated bytes that are signed, so a checkpoint signature cannot be replayed as anything
    /// else. The trail name cannot contain a newline (validated by [`TrailName`], and a name read back
    /// with one would simply not verify), so fields cannot be shifted into one another.
    fn signed_message(&self) -> Result<Vec<u8>, AuditError> {
        Ok(format!(
            "kubejit-audit-checkpoint-v2\n{}\n{}\n{}\n{}\n{}\n",
            self.trail,
            self.sequence,
            self.hash,
            self.prev,
            self.time.to_rfc3339()?
        )
        .into_bytes())
    }
}

/// First 16 hex digits of SHA-256 over the raw public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// A trail's name: the key of its entry in the anchor, signed into every checkpoint. 1 to
/// [`TrailName::MAX_LEN`] characters of `[A-Za-z0-9._-]`, starting and ending with a letter or digit,
/// so `kubejit.dev/audit-checkpoint.<name>` is a valid annotation key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrailName(String);

impl TrailName {
    /// 63 (the annotation name limit) minus `audit-checkpoint.`.
    pub const MAX_LEN: usize = 46;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TrailName {
    type Err = AuditError;

    fn from_str(value: &str) -> Result<Self, AuditError> {
        let bytes = value.as_bytes();
        let edges_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let valid = (1..=Self::MAX_LEN).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && edges_ok(bytes.first())
            && edges_ok(bytes.last());
        match valid {
            true => Ok(Self(value.to_owned())),
            false => Err(AuditError::TrailName {
                value: value.to_owned(),
            }),
        }
    }
}

impl std::fmt::Display for TrailName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stores one trail's checkpoints somewhere the trail's writer cannot silently rewrite (a cluster
/// object's annotation in production, a file in tests and the CLI).
pub trait CheckpointAnchor: Send + Sync {
    /// The trail whose checkpoints this anchor keeps; signed into every checkpoint the sink writes.
    fn trail(&self) -> &TrailName;
    /// The newest checkpoint stored for the trail, read when a sink opens: a file that does not contain
    /// it was truncated or replaced, and is refused.
    fn head(&self) -> Result<Option<Checkpoint>, AuditError>;
    /// Whether this anchor keeps checkpoints at all. Only a stand-in that stores nothing says no; the
    /// sink then cannot detect truncation and only checks the file is its trail's own chain.
    fn keeps_checkpoints(&self) -> bool {
        true
    }
    /// Stores `checkpoint`. An error is reported to the caller of `record` but does not undo the record.
    /// Storing a checkpoint the anchor already holds is a no-op (the sink re-anchors after a restart).
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError>;
}

/// No anchor at all (a CLI trail without `--audit-trail` or `--audit-checkpoints`): checkpoints are
/// still signed into the file, but truncating it cannot be detected.
#[derive(Debug, Clone)]
pub struct Unanchored(pub TrailName);

impl CheckpointAnchor for Unanchored {
    fn trail(&self) -> &TrailName {
        &self.0
    }

    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(None)
    }

    fn keeps_checkpoints(&self) -> bool {
        false
    }

    fn anchor(&self, _: &Checkpoint) -> Result<(), AuditError> {
        Ok(())
    }
}

/// Appends each checkpoint as one JSON line to a file; read back with [`load_checkpoints`]. One file may
/// hold several trails; readers select one with [`for_trail`].
#[derive(Debug, Clone)]
pub struct FileAnchor {
    path: PathBuf,
    trail: TrailName,
}

impl FileAnchor {
    pub fn new(path: impl Into<PathBuf>, trail: TrailName) -> Self {
        Self {
            path: path.into(),
            trail,
        }
    }

    fn stored(&self) -> Result<Vec<Checkpoint>, AuditError> {
        match load_checkpoint_file(&self.path) {
            Ok(all) => Ok(for_trail(all, self.trail.as_str())),
            Err(AuditError::Open { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }
}

impl CheckpointAnchor for FileAnchor {
    fn trail(&self) -> &TrailName {
        &self.trail
    }

    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(self.stored()?.pop())
    }

    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let io = |source| AuditError::Anchor {
            sequence: checkpoint.sequence,
            source,
        };
        // Only ever forward: a retried or re-anchored checkpoint is not appended twice.
        let head = self.stored()?.pop();
        if head.is_some_and(|h| h.sequence >= checkpoint.sequence) {
            return Ok(());
        }
        let mut line = to_json_line(checkpoint)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// The checkpoints of `trail`, in the order given.
pub fn for_trail(checkpoints: Vec<Checkpoint>, trail: &str) -> Vec<Checkpoint> {
    checkpoints
        .into_iter()
        .filter(|c| c.trail == trail)
        .collect()
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

    fn trail() -> TrailName {
        "replica-0".parse().unwrap()
    }

    fn checkpoint() -> Checkpoint {
        let time = Timestamp::parse("2024-05-01T10:00:00Z").unwrap();
        let link = Link {
            trail: "replica-0",
            sequence: 7,
            hash: &"ab".repeat(32),
            prev: &"cd".repeat(32),
        };
        Checkpoint::sign(link, time, &key(1)).unwrap()
    }

    #[test]
    fn signature_and_digest_cover_every_signed_field() {
        let public = key(1).verifying_key();
        assert!(checkpoint().signature_valid(&public));
        let tampered: [fn(&mut Checkpoint); 6] = [
            |c| c.sequence += 1,
            |c| c.hash = "cd".repeat(32),
            |c| c.prev = "ab".repeat(32),
            |c| c.trail = "replica-1".into(),
            |c| c.trail = "replica-0\n7".into(),
            |c| c.time = Timestamp::parse("2024-05-01T10:00:01Z").unwrap(),
        ];
        for edit in tampered {
            let mut c = checkpoint();
            edit(&mut c);
            assert!(!c.signature_valid(&public), "{c:?}");
            assert_ne!(c.digest(), checkpoint().digest(), "{c:?}");
        }
        for bad_signature in ["00".repeat(64), "not hex".into(), String::new()] {
            let mut c = checkpoint();
            c.signature = bad_signature;
            assert!(!c.signature_valid(&public), "{c:?}");
        }
        // keyId is a hint for picking the public key, not a claim: it is not signed.
        let mut hint = checkpoint();
        hint.key_id = "elsewhere".into();
        assert!(hint.signature_valid(&public));
        assert!(!checkpoint().signature_valid(&key(2).verifying_key()));
    }

    #[test]
    fn trail_names_are_annotation_key_safe() {
        let long = "a".repeat(TrailName::MAX_LEN);
        for good in [
            "a",
            "replica-0",
            "kubejit-controller-0.r2",
            "A_b",
            long.as_str(),
        ] {
            assert_eq!(good.parse::<TrailName>().unwrap().as_str(), good);
        }
        let too_long = "a".repeat(TrailName::MAX_LEN + 1);
        for bad in ["", "-a", "a-", "a b", "a/b", "a\nb", "é", too_long.as_str()] {
            assert!(bad.parse::<TrailName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_anchor_round_trips_and_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.jsonl");
        let anchor = FileAnchor::new(&path, trail());
        assert_eq!(anchor.head().unwrap(), None);
        anchor.anchor(&checkpoint()).unwrap();
        anchor.anchor(&checkpoint()).unwrap();
        let other = FileAnchor::new(&path, "replica-1".parse().unwrap());
        assert_eq!(other.head().unwrap(), None, "another trail's entry");
        let loaded = load_checkpoint_file(&path).unwrap();
        assert_eq!(
            loaded,
            vec![checkpoint()],
            "a repeated checkpoint is stored once"
        );
        assert_eq!(anchor.head().unwrap(), Some(checkpoint()));
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
