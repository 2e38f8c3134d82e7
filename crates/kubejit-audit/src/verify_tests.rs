//! Tests for the verifier: each tampering kind is made and detected with the right kind, plus a
//! fuzz-like property over random edits.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::{
    Actor, AuditRecord, AuditSink, ChainConfig, ChainedFileSink, EventKind, FileAnchor,
    MAX_LINE_BYTES, Timestamp, load_checkpoint_file,
};
use kubejit_core::SystemClock;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

/// A sealed trail of 8 events with a checkpoint every 3 records: lines 4, 8 and 11 are checkpoints.
fn trail() -> (Vec<String>, Vec<Checkpoint>) {
    let dir = tempfile::tempdir().unwrap();
    let anchor = Box::new(FileAnchor::new(
        dir.path().join("anchors.jsonl"),
        "trail".parse().unwrap(),
    ));
    let config = ChainConfig {
        every_records: 3,
        every: Duration::from_secs(3600),
    };
    let path = dir.path().join("trail.jsonl");
    let (sink, _) =
        ChainedFileSink::open(&path, key(), anchor, config, Box::new(SystemClock)).unwrap();
    for n in 1..=8 {
        let mut event = AuditRecord::blank(
            EventKind::GrantCreated,
            Actor::controller("test"),
            Timestamp::now(),
        );
        event.subject = Some(format!("user-{n}"));
        event.reason = Some("injection \"},\n{\"kind\":\"grantRevoked\u{1b}[2J\u{2028}".into());
        sink.record(event.stamped()).unwrap();
    }
    sink.seal_now().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let anchors = load_checkpoint_file(&dir.path().join("anchors.jsonl")).unwrap();
    (text.lines().map(str::to_owned).collect(), anchors)
}

fn join(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

fn run(bytes: &[u8], anchors: Option<&[Checkpoint]>) -> VerifyReport {
    verify(bytes, anchors, &key().verifying_key()).unwrap()
}

#[test]
fn a_huge_line_is_an_error_naming_its_line_and_the_limit() {
    let (lines, _) = trail();
    // A line with no newline at all, and one that ends but is over the limit, in the middle and at the
    // end of an otherwise intact trail.
    let huge = vec![b'x'; MAX_LINE_BYTES + 1];
    let mut ended = huge.clone();
    ended.push(b'\n');
    for (at, tail) in [(3, &ended), (lines.len(), &huge)] {
        let mut bytes = join(&lines[..at]);
        bytes.extend_from_slice(tail);
        bytes.extend_from_slice(&join(&lines[at..]));
        let err = verify(&bytes[..], None, &key().verifying_key()).unwrap_err();
        let line = u64::try_from(at + 1).unwrap();
        assert!(
            matches!(err, AuditError::LineTooLong { line: l, limit, .. } if l == line && limit == MAX_LINE_BYTES),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("line {line} ")) && message.contains("4194304 bytes"),
            "{message}"
        );
    }
    // Exactly at the limit is still read (and then judged as a record).
    let mut bytes = join(&lines);
    bytes.extend_from_slice(&vec![b'x'; MAX_LINE_BYTES]);
    bytes.push(b'\n');
    assert_eq!(
        failure(&run(&bytes, None)).map(|(f, _)| f),
        Some(Failure::EditedRecord)
    );
}

fn failure(report: &VerifyReport) -> Option<(Failure, u64)> {
    match report {
        VerifyReport::Ok(_) => None,
        VerifyReport::Broken(b) => Some((b.failure, b.line)),
    }
}

/// What an attacker with file access but no key can do: renumber and re-seal every line into a
/// consistent chain.
/// `resign` replaces checkpoints with ones signed by the attacker's own key.
fn rechain(lines: &[String], resign: Option<&SigningKey>) -> Vec<String> {
    let mut prev = crate::GENESIS_HASH.to_owned();
    let mut out = Vec::new();
    for (sequence, line) in (1u64..).zip(lines) {
        let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = value.as_object_mut().unwrap();
        object.insert("sequence".into(), sequence.into());
        object.remove("prevHash");
        object.remove("hash");
        if let (Some(attacker), Some(cp)) = (resign, object.get("checkpoint")) {
            let cp: Checkpoint = serde_json::from_value(cp.clone()).unwrap();
            let link = crate::Link {
                trail: &cp.trail,
                sequence: cp.sequence,
                hash: &prev,
                prev: &cp.prev,
            };
            let forged = Checkpoint::sign(link, cp.time, attacker).unwrap();
            object.insert("checkpoint".into(), serde_json::to_value(forged).unwrap());
        }
        let (sealed, hash) = chain::seal(serde_json::to_vec(&value).unwrap(), &prev);
        out.push(String::from_utf8(sealed).unwrap().trim_end().to_owned());
        prev = hash;
    }
    out
}

#[test]
fn intact_trail_verifies_with_and_without_anchors() {
    let (lines, anchors) = trail();
    assert_eq!(lines.len(), 11);
    for given in [None, Some(anchors.as_slice())] {
        let report = run(&join(&lines), given);
        let VerifyReport::Ok(ok) = &report else {
            panic!("{report}")
        };
        assert_eq!((ok.records, ok.sealed_through), (11, 10));
        assert_eq!(ok.anchored_through, given.map(|_| 10));
        assert_eq!(report.exit_code(), EXIT_OK);
    }
    assert!(
        run(b"", None).exit_code() == EXIT_OK,
        "an empty trail has nothing to break"
    );
}

#[test]
fn each_tampering_kind_is_detected() {
    let (lines, anchors) = trail();
    let a = Some(anchors.as_slice());
    let edit = |f: &dyn Fn(&mut Vec<String>)| {
        let mut l = lines.clone();
        f(&mut l);
        join(&l)
    };
    let mut partial = join(&lines);
    partial.truncate(partial.len() - 10);
    let mut bad_anchor = anchors.clone();
    bad_anchor[0].signature = "00".repeat(64);
    let own_key = SigningKey::from_bytes(&[9; 32]);
    let mut edited_rechained = lines.clone();
    edited_rechained[1] = edited_rechained[1].replace("user-2", "user-X");
    // (name, trail bytes, anchors, expected failure, expected line)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a [Checkpoint]>, Failure, u64);
    let cases: Vec<Case> = vec![
        (
            "edited byte",
            edit(&|l| l[4] = l[4].replace("user-4", "user-5")),
            a,
            Failure::EditedRecord,
            5,
        ),
        (
            "edited hash field",
            edit(&|l| l[2] = l[2].replace("\"hash\":\"", "\"hash\":\"0")),
            a,
            Failure::EditedRecord,
            3,
        ),
        (
            "deleted record",
            edit(&|l| drop(l.remove(4))),
            a,
            Failure::DeletedRecord,
            5,
        ),
        (
            "deleted first record",
            edit(&|l| drop(l.remove(0))),
            None,
            Failure::DeletedRecord,
            1,
        ),
        (
            "deleted and renumbered",
            edit(&|l| {
                l.remove(1);
                *l = rechain(l, None)
            }),
            a,
            Failure::RewrittenChain,
            3,
        ),
        (
            "deleted, renumbered, unsealed",
            edit(&|l| {
                l.remove(1);
                l.truncate(2);
                *l = rechain(l, None)
            }),
            None,
            Failure::RewrittenChain,
            2,
        ),
        (
            "swapped records",
            edit(&|l| l.swap(4, 5)),
            a,
            Failure::ReorderedRecords,
            5,
        ),
        (
            "record moved to the end",
            edit(&|l| {
                let r = l.remove(1);
                l.push(r)
            }),
            a,
            Failure::ReorderedRecords,
            2,
        ),
        (
            "duplicated record",
            edit(&|l| l.insert(3, l[2].clone())),
            a,
            Failure::ReorderedRecords,
            4,
        ),
        ("partial last line", partial, a, Failure::TruncatedTail, 11),
        (
            "cut before the last anchor",
            edit(&|l| l.truncate(8)),
            a,
            Failure::TruncatedTail,
            8,
        ),
        ("emptied file", Vec::new(), a, Failure::TruncatedTail, 0),
        (
            "rewritten, checkpoints kept",
            join(&rechain(&edited_rechained, None)),
            None,
            Failure::RewrittenChain,
            4,
        ),
        (
            "rewritten, checkpoints dropped",
            join(&rechain(&lines[..3], None)),
            None,
            Failure::RewrittenChain,
            3,
        ),
        (
            "rewritten, anchors disagree",
            join(&rechain(&edited_rechained[..3], None)),
            a,
            Failure::RewrittenChain,
            3,
        ),
        (
            "rewritten, re-signed",
            join(&rechain(&lines, Some(&own_key))),
            None,
            Failure::BadCheckpointSignature,
            4,
        ),
        (
            "anchor not signed by key",
            join(&lines),
            Some(bad_anchor.as_slice()),
            Failure::BadCheckpointSignature,
            0,
        ),
    ];
    for (name, bytes, anchors, want, line) in cases {
        let report = run(&bytes, anchors);
        assert_eq!(failure(&report), Some((want, line)), "{name}: {report}");
        assert_eq!(report.exit_code(), want.exit_code(), "{name}");
    }
}

#[test]
fn a_rolled_back_spliced_or_deleted_anchor_is_detected() {
    let (lines, anchors) = trail();
    assert_eq!(anchors.len(), 3, "checkpoints for 3, 7 and 10");
    let bytes = join(&lines);
    let mut resigned = anchors.clone();
    // The key holder signing a second, different checkpoint for a sequence (a fork of the history).
    resigned[2] = Checkpoint::sign(
        crate::Link {
            trail: &anchors[2].trail,
            sequence: anchors[2].sequence,
            hash: &anchors[2].hash,
            prev: &anchors[2].prev,
        },
        Timestamp::parse("2030-01-01T00:00:00Z").unwrap(),
        &key(),
    )
    .unwrap();
    let mut other_trail = anchors.clone();
    for c in &mut other_trail {
        c.trail = "someone-else".into();
    }
    // (name, anchored history, expected failure)
    let cases: [(&str, Vec<Checkpoint>, Failure); 7] = [
        (
            "rolled back one checkpoint",
            anchors[..2].to_vec(),
            Failure::AnchorRolledBack,
        ),
        (
            "rolled back to the first",
            anchors[..1].to_vec(),
            Failure::AnchorRolledBack,
        ),
        (
            "middle checkpoint removed",
            vec![anchors[0].clone(), anchors[2].clone()],
            Failure::AnchorHistoryBroken,
        ),
        (
            "reordered",
            vec![anchors[1].clone(), anchors[0].clone(), anchors[2].clone()],
            Failure::AnchorHistoryBroken,
        ),
        ("entry deleted", vec![], Failure::AnchorMissing),
        (
            "forked by the key holder",
            resigned,
            Failure::RewrittenChain,
        ),
        (
            "relabelled for another trail",
            other_trail,
            Failure::BadCheckpointSignature,
        ),
    ];
    for (name, history, want) in cases {
        let report = run(&bytes, Some(&history));
        assert_eq!(
            failure(&report).map(|f| f.0),
            Some(want),
            "{name}: {report}"
        );
        assert_eq!(report.exit_code(), want.exit_code(), "{name}");
    }
    // A window of the newest checkpoints (what the cluster keeps) is enough.
    assert!(matches!(
        run(&bytes, Some(&anchors[1..])),
        VerifyReport::Ok(_)
    ));
}

#[test]
fn in_file_checkpoints_form_one_chain() {
    let (lines, anchors) = trail();
    // The key holder re-signs the second checkpoint without its link to the first.
    let mut unlinked = lines.clone();
    let mut value: serde_json::Value = serde_json::from_str(&unlinked[7]).unwrap();
    let cp: Checkpoint = serde_json::from_value(value["checkpoint"].clone()).unwrap();
    let link = crate::Link {
        trail: &cp.trail,
        sequence: cp.sequence,
        hash: &cp.hash,
        prev: GENESIS_HASH,
    };
    let relinked = Checkpoint::sign(link, cp.time, &key()).unwrap();
    value["checkpoint"] = serde_json::to_value(relinked).unwrap();
    value.as_object_mut().unwrap().remove("hash");
    value.as_object_mut().unwrap().remove("prevHash");
    unlinked[7] = serde_json::to_string(&value).unwrap();
    // Re-seal from line 8 on, keeping every other line's bytes: a consistent chain again.
    let mut prev = chain::open_line(unlinked[6].as_bytes()).unwrap().hash;
    for line in &mut unlinked[7..] {
        let body = match line.find(",\"prevHash\":") {
            Some(at) => format!("{}}}", &line[..at]),
            None => line.clone(),
        };
        let (sealed, hash) = chain::seal(body.into_bytes(), &prev);
        *line = String::from_utf8(sealed).unwrap().trim_end().to_owned();
        prev = hash;
    }
    let report = run(&join(&unlinked), None);
    assert_eq!(
        failure(&report),
        Some((Failure::RewrittenChain, 8)),
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("does not follow the previous checkpoint"),
        "{report}"
    );
    assert!(matches!(
        run(&join(&lines), Some(&anchors)),
        VerifyReport::Ok(_)
    ));
}

#[test]
fn truncation_at_a_line_boundary_needs_the_anchor() {
    let (lines, anchors) = trail();
    let cut = join(&lines[..8]);
    assert!(
        matches!(run(&cut, None), VerifyReport::Ok(_)),
        "undetectable without an external copy"
    );
    assert_eq!(
        failure(&run(&cut, Some(&anchors))),
        Some((Failure::TruncatedTail, 8))
    );
}

#[test]
fn exit_codes_are_distinct_and_stable() {
    let all = [
        (Failure::EditedRecord, 10),
        (Failure::DeletedRecord, 11),
        (Failure::ReorderedRecords, 12),
        (Failure::TruncatedTail, 13),
        (Failure::RewrittenChain, 14),
        (Failure::BadCheckpointSignature, 15),
        (Failure::AnchorRolledBack, 16),
        (Failure::AnchorHistoryBroken, 17),
        (Failure::AnchorMissing, 18),
    ];
    for (failure, code) in all {
        assert_eq!(failure.exit_code(), code, "{}", failure.as_str());
    }
    assert_eq!(
        Failure::ALL.map(Failure::exit_code),
        all.map(|(_, code)| code)
    );
}

/// A new `Failure` must be added to this match, and so to `Failure::ALL` (the binary's exit-code table).
#[test]
fn all_lists_every_failure_once() {
    let position = |failure: Failure| match failure {
        Failure::EditedRecord => 0,
        Failure::DeletedRecord => 1,
        Failure::ReorderedRecords => 2,
        Failure::TruncatedTail => 3,
        Failure::RewrittenChain => 4,
        Failure::BadCheckpointSignature => 5,
        Failure::AnchorRolledBack => 6,
        Failure::AnchorHistoryBroken => 7,
        Failure::AnchorMissing => 8,
    };
    for (index, failure) in Failure::ALL.into_iter().enumerate() {
        assert_eq!(position(failure), index, "{}", failure.as_str());
    }
}

#[test]
fn injection_strings_stay_inside_one_record() {
    let (lines, _) = trail();
    for line in &lines[..3] {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["kind"], "grantCreated");
        assert!(
            value["reason"]
                .as_str()
                .unwrap()
                .contains("\u{1b}[2J\u{2028}")
        );
        assert!(!line.contains('\u{1b}') && !line.contains('\u{2028}'));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_single_byte_change_is_detected(pos in any::<prop::sample::Index>(), byte in any::<u8>(), insert in any::<bool>()) {
        let (lines, anchors) = trail();
        let mut bytes = join(&lines);
        let at = pos.index(bytes.len());
        prop_assume!(insert || bytes[at] != byte);
        if insert { bytes.insert(at, byte) } else { bytes[at] = byte }
        for given in [None, Some(anchors.as_slice())] {
            let report = run(&bytes, given);
            prop_assert!(matches!(report, VerifyReport::Broken(_)), "{}", report);
        }
    }

    #[test]
    fn random_edits_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..8)), 1..6)) {
        let (lines, anchors) = trail();
        let mut bytes = join(&lines);
        for (start, len, replacement) in edits {
            let start = start.index(bytes.len() + 1);
            let end = (start + len.index(16)).min(bytes.len());
            bytes.splice(start..end, replacement);
        }
        let _ = run(&bytes, Some(&anchors));
        let _ = run(&bytes, None);
    }
}
