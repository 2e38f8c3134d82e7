//! The anchor's bounded history of one trail's checkpoints: what a well-formed history is, and how a
//! writer moves it forward without ever moving it back or overwriting another writer's chain.
//!
//! An anchor keeps the last [`HISTORY_LEN`] checkpoints of a trail, oldest first. Each names its
//! predecessor's [`Checkpoint::digest`] in `prev`, so the window is a chain that only the signing key can
//! extend; a window that is cut, reordered, mixed with another trail's or rolled back to an older
//! window either breaks a link or is older than the checkpoints in the file (which the verifier reports).

use ed25519_dalek::VerifyingKey;

use crate::{Checkpoint, Failure};

/// Checkpoints kept per trail in the anchor. About 450 bytes each as JSON, so one trail's entry is
/// under 4 KiB and a ConfigMap's 256 KiB annotation budget holds some 60 trails. The window only has
/// to reach back to the checkpoints a verifier compares with the file; older ones stay in the file,
/// chained and signed.
pub const HISTORY_LEN: usize = 8;

/// Why an anchored history is not one trail's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFault {
    pub failure: Failure,
    pub detail: String,
}

fn fault(failure: Failure, detail: String) -> Result<(), HistoryFault> {
    Err(HistoryFault { failure, detail })
}

/// Checks that `history` (oldest first) is signed by `key`, belongs to one trail (`trail` when given),
/// has strictly growing sequences and links each checkpoint to its predecessor.
pub fn check_history(
    history: &[Checkpoint],
    trail: Option<&str>,
    key: &VerifyingKey,
) -> Result<(), HistoryFault> {
    let expected = trail.or(history.first().map(|c| c.trail.as_str()));
    for (index, checkpoint) in history.iter().enumerate() {
        let at = format!(
            "anchored checkpoint {} (sequence {})",
            index + 1,
            checkpoint.sequence
        );
        if !checkpoint.signature_valid(key) {
            return fault(
                Failure::BadCheckpointSignature,
                format!("{at} has an invalid signature"),
            );
        }
        if Some(checkpoint.trail.as_str()) != expected {
            let detail = format!(
                "{at} belongs to trail {:?}, not {:?}",
                checkpoint.trail,
                expected.unwrap_or_default()
            );
            return fault(Failure::AnchorHistoryBroken, detail);
        }
        let Some(before) = index.checked_sub(1).and_then(|i| history.get(i)) else {
            continue;
        };
        if checkpoint.sequence <= before.sequence {
            let detail = format!(
                "{at} does not follow sequence {}: the history was reordered or mixed",
                before.sequence
            );
            return fault(Failure::AnchorHistoryBroken, detail);
        }
        if checkpoint.prev != before.digest() {
            let detail = format!(
                "{at} does not link to the checkpoint before it (sequence {}): the history was cut or spliced",
                before.sequence
            );
            return fault(Failure::AnchorHistoryBroken, detail);
        }
    }
    Ok(())
}

/// What a writer should do with a stored history, given its own chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// Store this window (the newest [`HISTORY_LEN`] of the writer's chain).
    Write(Vec<Checkpoint>),
    /// The stored history already ends at the writer's newest checkpoint.
    Current,
    /// The stored head is not in the writer's chain: another writer uses this trail name, or the entry
    /// was rolled back further than the writer remembers. Never overwritten.
    Conflict(String),
}

/// Decides how to move `stored` (the anchor's window, oldest first) forward to `ours` (the writer's
/// chain, oldest first). Only ever forward: the stored head must be one of ours, older than our newest.
pub fn advance(stored: &[Checkpoint], ours: &[Checkpoint]) -> Advance {
    let Some(newest) = ours.last() else {
        return Advance::Current;
    };
    let window = || ours[ours.len().saturating_sub(HISTORY_LEN)..].to_vec();
    let Some(head) = stored.last() else {
        return Advance::Write(window());
    };
    let head_digest = head.digest();
    match ours.iter().rposition(|c| c.digest() == head_digest) {
        Some(i) if i + 1 == ours.len() => Advance::Current,
        Some(_) => Advance::Write(window()),
        None => Advance::Conflict(format!(
            "the anchor's newest checkpoint (sequence {}) is not one this writer signed (its newest is \
             sequence {}): another writer uses trail {:?}, or the entry was replaced",
            head.sequence, newest.sequence, head.trail
        )),
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::checkpoint::Link;
    use crate::{GENESIS_HASH, Timestamp};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    /// A chain of `n` checkpoints of `trail`, covering sequences 10, 20, …
    fn chain(trail: &str, n: u64) -> Vec<Checkpoint> {
        let mut out: Vec<Checkpoint> = Vec::new();
        for i in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_owned(), Checkpoint::digest);
            let hash = format!("{i:064x}");
            let link = Link {
                trail,
                sequence: i * 10,
                hash: &hash,
                prev: &prev,
            };
            let time = Timestamp::parse("2024-05-01T10:00:00Z").unwrap();
            out.push(Checkpoint::sign(link, time, &key()).unwrap());
        }
        out
    }

    fn failure(history: &[Checkpoint]) -> Option<Failure> {
        check_history(history, Some("a"), &key().verifying_key())
            .err()
            .map(|f| f.failure)
    }

    #[test]
    fn a_chain_is_accepted_and_every_splice_is_not() {
        let good = chain("a", 5);
        assert_eq!(failure(&good), None);
        assert_eq!(failure(&good[2..]), None, "a window of the chain");
        assert_eq!(failure(&[]), None);
        let mut forged = good.clone();
        forged[4].signature = "00".repeat(64);
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        let mut mixed = good.clone();
        mixed[3] = chain("b", 4)[3].clone();
        let mut replayed = good.clone();
        replayed.push(good[1].clone());
        // (name, history, expected failure)
        let cases: [(&str, Vec<Checkpoint>, Failure); 6] = [
            (
                "middle removed",
                [&good[..2], &good[3..]].concat(),
                Failure::AnchorHistoryBroken,
            ),
            ("reordered", swapped, Failure::AnchorHistoryBroken),
            (
                "another trail's checkpoint",
                mixed,
                Failure::AnchorHistoryBroken,
            ),
            (
                "older checkpoint appended",
                replayed,
                Failure::AnchorHistoryBroken,
            ),
            (
                "another trail entirely",
                chain("b", 3),
                Failure::AnchorHistoryBroken,
            ),
            ("forged signature", forged, Failure::BadCheckpointSignature),
        ];
        for (name, history, want) in cases {
            assert_eq!(failure(&history), Some(want), "{name}");
        }
    }

    #[test]
    fn writers_only_move_forward_along_their_own_chain() {
        let ours = chain("a", 12);
        let window = ours[12 - HISTORY_LEN..].to_vec();
        let cases: [(&str, Vec<Checkpoint>, Advance); 5] = [
            ("empty entry", vec![], Advance::Write(window.clone())),
            ("behind", ours[..3].to_vec(), Advance::Write(window.clone())),
            (
                "rolled back to an older window",
                ours[..1].to_vec(),
                Advance::Write(window.clone()),
            ),
            ("current", window.clone(), Advance::Current),
            (
                "other writer",
                chain("a2", 13),
                Advance::Conflict(String::new()),
            ),
        ];
        for (name, stored, want) in cases {
            let got = advance(&stored, &ours);
            match (&got, &want) {
                (Advance::Conflict(why), Advance::Conflict(_)) => {
                    assert!(why.contains("another writer"), "{name}: {why}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
        // A stored head newer than anything this writer signed (say, a second replica that was
        // misconfigured with this trail name and got further) is never overwritten with an older one.
        let ahead = chain("a", 14);
        assert!(matches!(advance(&ahead, &ours), Advance::Conflict(_)));
        assert_eq!(advance(&window, &[]), Advance::Current);
    }
}
