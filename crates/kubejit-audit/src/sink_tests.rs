//! Tests for the sinks: resume, checkpoint cadence, anchoring and write failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::{
    Actor, AuditRecord, EventKind, FileAnchor, TrailName, load_checkpoint_file, verify_file,
};

use kubejit_core::ManualClock;

fn trail() -> TrailName {
    "trail".parse().unwrap()
}

/// An anchor that fails until told otherwise.
struct FlakyAnchor(Mutex<bool>, TrailName);

impl CheckpointAnchor for FlakyAnchor {
    fn trail(&self) -> &TrailName {
        &self.1
    }
    fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        Ok(None)
    }
    fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        match *self.0.lock().unwrap() {
            true => Err(AuditError::Anchor {
                sequence: checkpoint.sequence,
                source: std::io::Error::other("down"),
            }),
            false => Ok(()),
        }
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn event(n: u64) -> Stamped {
    record(n).stamped()
}

fn record(n: u64) -> AuditRecord {
    let mut e = AuditRecord::blank(
        EventKind::GrantCreated,
        Actor::controller("test"),
        Timestamp::now(),
    );
    e.subject = Some(format!("user-{n}"));
    e
}

fn open(dir: &Path, config: ChainConfig, clock: ManualClock) -> ChainedFileSink {
    let anchor = Box::new(FileAnchor::new(dir.join("anchors.jsonl"), trail()));
    ChainedFileSink::open(
        dir.join("trail.jsonl"),
        key(),
        anchor,
        config,
        Box::new(clock),
    )
    .unwrap()
    .0
}

fn every(records: u64, secs: u64) -> ChainConfig {
    ChainConfig {
        every_records: records,
        every: Duration::from_secs(secs),
    }
}

fn checkpointed(recorded: &Recorded) -> Option<u64> {
    match &recorded.checkpoint {
        Some(CheckpointOutcome::Anchored(c)) => Some(c.sequence),
        _ => None,
    }
}

#[test]
fn checkpoints_every_n_records() {
    let dir = tempfile::tempdir().unwrap();
    let sink = open(dir.path(), every(3, 3600), ManualClock::new());
    let got: Vec<(u64, Option<u64>)> = (0..7)
        .map(|n| sink.record(event(n)).unwrap())
        .map(|r| (r.sequence, checkpointed(&r)))
        .collect();
    // Each checkpoint line takes a sequence number itself: 1 2 3 [4] 5 6 7 [8] 9.
    let want = [
        (1, None),
        (2, None),
        (3, Some(3)),
        (5, None),
        (6, None),
        (7, Some(7)),
        (9, None),
    ];
    assert_eq!(got, want);
    assert_eq!(
        load_checkpoint_file(&dir.path().join("anchors.jsonl"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn checkpoints_every_t_seconds_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let sink = open(dir.path(), every(1000, 60), clock.clone());
    assert_eq!(checkpointed(&sink.record(event(1)).unwrap()), None);
    clock.advance(59);
    assert!(sink.tick().unwrap().is_none(), "deadline - 1s");
    clock.advance(1);
    assert!(
        matches!(sink.tick().unwrap(), Some(CheckpointOutcome::Anchored(c)) if c.sequence == 1),
        "deadline"
    );
    clock.advance(3600);
    assert!(sink.tick().unwrap().is_none(), "nothing new to seal");
    clock.advance(1);
    assert_eq!(
        checkpointed(&sink.record(event(2)).unwrap()),
        Some(3),
        "a record after the deadline seals"
    );
}

#[test]
fn resumes_the_chain_and_seals_an_unsealed_tail() {
    let dir = tempfile::tempdir().unwrap();
    let sink = open(dir.path(), every(1000, 3600), ManualClock::new());
    sink.record(event(1)).unwrap();
    let last = sink.record(event(2)).unwrap();
    drop(sink);
    let anchor = Box::new(FileAnchor::new(dir.path().join("anchors.jsonl"), trail()));
    let path = dir.path().join("trail.jsonl");
    let (sink, outcome) = ChainedFileSink::open(
        &path,
        key(),
        anchor,
        every(1000, 3600),
        Box::new(ManualClock::new()),
    )
    .unwrap();
    assert!(
        matches!(outcome, Some(CheckpointOutcome::Anchored(ref c)) if c.sequence == 2 && Some(&c.hash) == last.hash.as_ref())
    );
    assert_eq!(sink.record(event(3)).unwrap().sequence, 4);
    sink.seal_now().unwrap();
    let anchors = load_checkpoint_file(&dir.path().join("anchors.jsonl")).unwrap();
    let report = verify_file(&path, Some(&anchors), &key().verifying_key()).unwrap();
    assert!(
        matches!(report, crate::VerifyReport::Ok(ref ok) if ok.records == 5 && ok.sealed_through == 4),
        "{report}"
    );
}

#[test]
fn refuses_to_append_to_a_broken_tail() {
    let cases: [(&str, &[u8]); 3] = [
        ("partial line", b"{\"sequence\":1"),
        ("not sealed", b"{\"sequence\":1}\n"),
        ("garbage", b"\n\n"),
    ];
    for (name, content) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("trail.jsonl"), content).unwrap();
        let anchor = Box::new(FileAnchor::new(dir.path().join("anchors.jsonl"), trail()));
        let path = dir.path().join("trail.jsonl");
        let err = ChainedFileSink::open(
            &path,
            key(),
            anchor,
            every(3, 60),
            Box::new(ManualClock::new()),
        )
        .unwrap_err();
        assert!(
            matches!(err, AuditError::BrokenTail { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn resumes_after_a_record_longer_than_the_tail_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let sink = open(dir.path(), every(1000, 3600), ManualClock::new());
    let mut big = record(1);
    big.reason = Some("x".repeat(200_000));
    sink.record(event(0)).unwrap();
    sink.record(big.stamped()).unwrap();
    drop(sink);
    let sink = open(dir.path(), every(1000, 3600), ManualClock::new());
    // Reopening sealed records 1-2 with checkpoint 3.
    assert_eq!(sink.record(event(2)).unwrap().sequence, 4);
}

#[test]
fn anchor_failure_keeps_the_record_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = Arc::new(FlakyAnchor(Mutex::new(true), trail()));
    struct Shared(Arc<FlakyAnchor>);
    impl CheckpointAnchor for Shared {
        fn trail(&self) -> &TrailName {
            self.0.trail()
        }
        fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
            self.0.head()
        }
        fn anchor(&self, c: &Checkpoint) -> Result<(), AuditError> {
            self.0.anchor(c)
        }
    }
    let path = dir.path().join("trail.jsonl");
    let boxed = Box::new(Shared(anchor.clone()));
    let (sink, _) = ChainedFileSink::open(
        &path,
        key(),
        boxed,
        every(1, 3600),
        Box::new(ManualClock::new()),
    )
    .unwrap();
    let first = sink.record(event(1)).unwrap();
    assert!(matches!(
        first.checkpoint,
        Some(CheckpointOutcome::AnchorFailed { .. })
    ));
    *anchor.0.lock().unwrap() = false;
    let retried = sink.tick().unwrap();
    assert!(
        matches!(retried, Some(CheckpointOutcome::Anchored(ref c)) if c.sequence == 1),
        "{retried:?}"
    );
    assert!(sink.tick().unwrap().is_none());
}

#[test]
#[cfg(target_os = "linux")]
fn failed_write_is_an_error_and_poisons_when_it_cannot_roll_back() {
    let anchor = Box::new(FileAnchor::new("/dev/null", trail()));
    let opened = ChainedFileSink::open(
        "/dev/full",
        key(),
        anchor,
        every(1000, 60),
        Box::new(ManualClock::new()),
    );
    let (sink, _) = opened.unwrap();
    assert!(matches!(
        sink.record(event(1)).unwrap_err(),
        AuditError::Write { .. }
    ));
    assert!(matches!(
        sink.record(event(2)).unwrap_err(),
        AuditError::Poisoned { .. }
    ));
}

#[test]
fn writer_sink_numbers_events_and_reports_failures() {
    let sink = WriterSink::new(Vec::new(), "memory");
    assert_eq!(sink.record(event(1)).unwrap().sequence, 1);
    assert_eq!(sink.record(event(2)).unwrap().sequence, 2);
    let out = sink.state.into_inner().unwrap().0;
    let lines: Vec<AuditRecord> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]);

    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let failing = WriterSink::new(Failing, "failing");
    assert!(matches!(
        failing.record(event(1)).unwrap_err(),
        AuditError::Write { .. }
    ));
}

#[test]
fn sinks_are_shareable_trait_objects() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn AuditSink>();
    assert_send_sync::<ChainedFileSink>();
    assert_send_sync::<StdoutSink>();
}

/// A restarted writer asks whether a fact is already in its trail (the approver does so for every
/// decision): records of the earlier process are found, and so are records appended after the
/// first question (the index the first scan builds follows the appends); other ids are not.
#[test]
fn find_recorded_sees_earlier_runs_and_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let sink = open(dir.path(), every(2, 3600), ManualClock::new());
    let before = sink.record(event(1)).unwrap().event_id;
    drop(sink);
    let sink = open(dir.path(), every(2, 3600), ManualClock::new());
    let ask = |ids: &[&str]| {
        let ids: HashSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let mut found: Vec<String> = sink.find_recorded(&ids).unwrap().into_iter().collect();
        found.sort();
        found
    };
    assert_eq!(ask(&[&before, "not-recorded"]), vec![before.clone()]);
    let after = sink.record(event(2)).unwrap().event_id;
    let mut both = vec![before.clone(), after.clone()];
    both.sort();
    assert_eq!(ask(&[&before, &after, "not-recorded"]), both);
}

/// Group commit: writers racing each other (and the count-based checkpoints between them) each get a
/// distinct sequence, every acknowledged record is in the file, and the whole trail still verifies.
#[test]
fn concurrent_writers_share_fsyncs_and_the_chain_still_verifies() {
    const THREADS: u64 = 8;
    const EACH: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(open(dir.path(), every(25, 3600), ManualClock::new()));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|n| sink.record(event(t * EACH + n)).unwrap())
                    .map(|r| (r.sequence, r.event_id))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acknowledged: Vec<(u64, String)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let sequences: std::collections::BTreeSet<u64> = acknowledged.iter().map(|(s, _)| *s).collect();
    assert_eq!(sequences.len() as u64, THREADS * EACH);
    sink.seal_now().unwrap();
    let ids: HashSet<String> = acknowledged.into_iter().map(|(_, id)| id).collect();
    assert_eq!(sink.find_recorded(&ids).unwrap(), ids);
    let path = dir.path().join("trail.jsonl");
    let anchors = load_checkpoint_file(&dir.path().join("anchors.jsonl")).unwrap();
    let report = verify_file(&path, Some(&anchors), &key().verifying_key()).unwrap();
    assert!(
        matches!(report, crate::VerifyReport::Ok(ref ok) if ok.records >= THREADS * EACH),
        "{report}"
    );
}
