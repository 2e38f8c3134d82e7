//! The on-disk line format of the hash chain: how a record is sealed and how a sealed line is checked.
//!
//! A sealed line is the record's JSON object with two fields appended by the writer:
//! `…,"prevHash":"<hex>","hash":"<hex>"}`. `hash` is SHA-256 over the exact bytes of the line without the
//! `,"hash":"…"` part (i.e. ending in `"prevHash":"<hex>"}`). Hashing the bytes as written, rather than a
//! re-serialization, means the verifier never depends on serde producing identical output across
//! versions, and a record with fields unknown to an older verifier still verifies.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Checkpoint, Timestamp, record::SCHEMA_VERSION};

/// `prevHash` of the first record in a trail.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_KEY: &[u8] = br#","hash":""#;
/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = HASH_KEY.len() + 64 + 2;

/// A checkpoint as it appears inside the trail.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckpointRecord<'a> {
    pub schema_version: u32,
    pub sequence: u64,
    pub time: Timestamp,
    pub checkpoint: &'a Checkpoint,
}

impl<'a> CheckpointRecord<'a> {
    pub(crate) fn new(sequence: u64, checkpoint: &'a Checkpoint) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            sequence,
            time: checkpoint.time,
            checkpoint,
        }
    }
}

/// The fields the chain logic reads from any sealed line; everything else is covered by the hash only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineHead {
    pub sequence: u64,
    pub prev_hash: String,
    pub checkpoint: Option<Checkpoint>,
}

/// A line whose own hash checked out.
#[derive(Debug)]
pub(crate) struct OpenedLine {
    pub head: LineHead,
    pub hash: String,
}

/// Why a line is not a valid sealed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    MissingHash,
    HashMismatch { stated: String, computed: String },
    NotARecord(String),
}

/// Appends `prevHash` and `hash` to the JSON object `record`; returns the newline-terminated line and
/// its hash.
pub(crate) fn seal(mut record: Vec<u8>, prev_hash: &str) -> (Vec<u8>, String) {
    record.pop(); // the object's closing brace; serde_json always ends an object with it
    record.extend_from_slice(br#","prevHash":""#);
    record.extend_from_slice(prev_hash.as_bytes());
    record.extend_from_slice(b"\"}");
    let hash = hex::encode(Sha256::digest(&record));
    record.pop();
    record.extend_from_slice(HASH_KEY);
    record.extend_from_slice(hash.as_bytes());
    record.extend_from_slice(b"\"}\n");
    (record, hash)
}

/// Checks a line (without its newline) and reads its head.
pub(crate) fn open_line(line: &[u8]) -> Result<OpenedLine, LineError> {
    let split = line
        .len()
        .checked_sub(HASH_SUFFIX_LEN)
        .ok_or(LineError::MissingHash)?;
    let (body, suffix) = line.split_at(split);
    if !suffix.starts_with(HASH_KEY) || !suffix.ends_with(b"\"}") {
        return Err(LineError::MissingHash);
    }
    let stated = &suffix[HASH_KEY.len()..HASH_KEY.len() + 64];
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(b"}");
    let computed = hex::encode(hasher.finalize());
    if computed.as_bytes() != stated {
        let stated = String::from_utf8_lossy(stated).into_owned();
        return Err(LineError::HashMismatch { stated, computed });
    }
    let head: LineHead =
        serde_json::from_slice(line).map_err(|e| LineError::NotARecord(e.to_string()))?;
    Ok(OpenedLine {
        head,
        hash: computed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> (Vec<u8>, String) {
        seal(
            br#"{"sequence":1,"kind":"grantCreated"}"#.to_vec(),
            GENESIS_HASH,
        )
    }

    #[test]
    fn sealed_line_opens_with_its_hash() {
        let (line, hash) = sealed();
        assert_eq!(line.last(), Some(&b'\n'));
        let opened = open_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(opened.hash, hash);
        assert_eq!(opened.head.sequence, 1);
        assert_eq!(opened.head.prev_hash, GENESIS_HASH);
    }

    #[test]
    fn broken_lines_are_classified() {
        let (line, _) = sealed();
        let line = &line[..line.len() - 1];
        let edited = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("grantCreated", "grantRevoked");
        type Case<'a> = (&'a [u8], fn(&LineError) -> bool);
        let cases: [Case; 4] = [
            (b"", |e| *e == LineError::MissingHash),
            (&line[..line.len() - 1], |e| *e == LineError::MissingHash),
            (edited.as_bytes(), |e| {
                matches!(e, LineError::HashMismatch { .. })
            }),
            (line.strip_prefix(b"{").unwrap(), |e| {
                matches!(e, LineError::HashMismatch { .. })
            }),
        ];
        for (input, want) in cases {
            let err = open_line(input).unwrap_err();
            assert!(want(&err), "{err:?} for {}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn valid_hash_over_non_record_is_rejected() {
        let (line, _) = seal(br#"{"unrelated":true}"#.to_vec(), GENESIS_HASH);
        let err = open_line(&line[..line.len() - 1]).unwrap_err();
        assert!(matches!(err, LineError::NotARecord(_)), "{err:?}");
    }
}
