//! Attacker's tests for reopening a trail: a truncated, replaced, swapped or orphaned file is refused
//! (nothing appended, a `trailTruncated` record spooled); an honest restart resumes and re-anchors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;

use super::*;
use crate::{Actor, AuditRecord, EventKind, Stamped, spool_path};
use crate::{
    AuditError, AuditSink, ChainConfig, ChainedFileSink, CheckpointAnchor, FileAnchor, TrailName,
    VerifyReport, for_trail, load_checkpoint_file, verify_file,
};
use kubejit_core::SystemClock;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

fn name(trail: &str) -> TrailName {
    trail.parse().unwrap()
}

/// A trail directory: the trail file and the (shared) checkpoint anchor file.
struct Dir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        Self { _tmp: tmp, root }
    }
    fn file(&self, trail: &str) -> PathBuf {
        self.root.join(format!("{trail}.jsonl"))
    }
    fn anchors(&self) -> PathBuf {
        self.root.join("anchors.jsonl")
    }
    fn open(&self, file: &Path, trail: &str) -> Result<ChainedFileSink, AuditError> {
        let anchor = Box::new(FileAnchor::new(self.anchors(), name(trail)));
        let config = ChainConfig {
            every_records: 2,
            every: Duration::from_secs(3600),
        };
        ChainedFileSink::open(file, key(), anchor, config, Box::new(SystemClock)).map(|(s, _)| s)
    }
    /// Writes `n` events to `trail`'s file (checkpoint every 2 records) and closes it sealed.
    fn write(&self, trail: &str, n: u64) {
        let sink = self.open(&self.file(trail), trail).unwrap();
        for i in 0..n {
            let mut event = AuditRecord::blank(
                EventKind::GrantCreated,
                Actor::controller("test"),
                Timestamp::now(),
            );
            event.subject = Some(format!("user-{i}"));
            sink.record(event.stamped()).unwrap();
        }
        sink.seal_now().unwrap();
    }
    fn verify(&self, trail: &str) -> VerifyReport {
        let anchors = for_trail(load_checkpoint_file(&self.anchors()).unwrap(), trail);
        verify_file(&self.file(trail), Some(&anchors), &key().verifying_key()).unwrap()
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A record with no fields but its kind, from a controller named `test`.
fn lifecycle(kind: EventKind) -> Stamped {
    AuditRecord::blank(kind, Actor::controller("test"), Timestamp::now()).stamped()
}

fn spooled(path: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(spool_path(path))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A resumed trail takes a new record and seal, verifies against the anchor, and spooled nothing.
fn continues_and_verifies(dir: &Dir, sink: ChainedFileSink, file: &Path) {
    sink.record(lifecycle(EventKind::LeadershipAcquired))
        .unwrap();
    sink.seal_now().unwrap();
    drop(sink);
    assert!(
        matches!(dir.verify("a"), VerifyReport::Ok(_)),
        "{}",
        dir.verify("a")
    );
    assert!(spooled(file).is_empty());
}

#[test]
fn every_way_of_not_continuing_the_anchored_trail_is_refused_and_spooled() {
    type Tamper = fn(&Dir, &Path);
    let cases: [(&str, Tamper, &str); 7] = [
        (
            "last event and checkpoint cut",
            |_, f| std::fs::write(f, lines(f)[..lines(f).len() - 2].concat()).unwrap(),
            "fileBehindAnchor",
        ),
        (
            "only the last checkpoint line cut",
            |_, f| std::fs::write(f, lines(f)[..lines(f).len() - 1].concat()).unwrap(),
            "fileBehindAnchor",
        ),
        (
            "truncated to zero",
            |_, f| std::fs::write(f, "").unwrap(),
            "fileBehindAnchor",
        ),
        (
            "replaced by a longer trail of the same name and key",
            |_, f| {
                let fork = Dir::new();
                fork.write("a", 9);
                std::fs::copy(fork.file("a"), f).unwrap();
            },
            "fileDiffersFromAnchor",
        ),
        (
            "replaced by another trail's file",
            |d, f| {
                d.write("b", 6);
                std::fs::copy(d.file("b"), f).unwrap();
            },
            "fileOfAnotherTrail",
        ),
        (
            "anchor entry deleted",
            |d, _| std::fs::write(d.anchors(), "").unwrap(),
            "anchorMissing",
        ),
        (
            "a record after the anchored checkpoint edited and the tail kept",
            |_, f| {
                let mut l = lines(f);
                let n = l.len();
                l[n - 2] = l[n - 2].replace("user-", "user_");
                std::fs::write(f, l.concat()).unwrap();
            },
            "brokenChain",
        ),
    ];
    for (what, tamper, reason) in cases {
        let dir = Dir::new();
        dir.write("a", 5);
        let file = dir.file("a");
        // The anchor must lag for the "edited after the anchored checkpoint" case: drop its newest.
        if reason == "brokenChain" {
            let anchored = lines(&dir.anchors());
            std::fs::write(dir.anchors(), anchored[..anchored.len() - 1].concat()).unwrap();
        }
        tamper(&dir, &file);
        let before = std::fs::read(&file).unwrap();
        let err = dir.open(&file, "a").unwrap_err();
        let AuditError::TrailRefused { reason: why, .. } = &err else {
            panic!("{what}: {err:?}")
        };
        assert!(
            err.to_string().contains("--audit-trail"),
            "{what}: the error names the fix: {err}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{what}: nothing appended"
        );
        let spool = spooled(&file);
        assert_eq!(spool.len(), 1, "{what}");
        assert_eq!(spool[0].kind, EventKind::TrailTruncated, "{what}");
        assert_eq!(
            spool[0].decision_reason.as_deref(),
            Some(reason),
            "{what}: {why}"
        );
        assert_eq!(spool[0].object.as_ref().unwrap().name, "a", "{what}");
        assert!(
            dir.open(&file, "a").is_err(),
            "{what}: refused again on retry"
        );
    }
}

#[test]
fn a_new_explicitly_named_trail_starts_after_a_refusal() {
    let dir = Dir::new();
    dir.write("a", 5);
    let file = dir.file("a");
    std::fs::write(&file, lines(&file)[..3].concat()).unwrap();
    assert!(dir.open(&file, "a").is_err());
    // Same name, file moved aside: still refused (the anchor knows trail "a" had more).
    std::fs::rename(&file, dir.root.join("a.truncated")).unwrap();
    assert!(matches!(
        dir.open(&file, "a").unwrap_err(),
        AuditError::TrailRefused { .. }
    ));
    // A new name on a fresh file starts a new chain; the old trail's anchor entry is untouched.
    std::fs::remove_file(&file).unwrap();
    let sink = dir.open(&dir.file("a2"), "a2").unwrap();
    sink.record(lifecycle(EventKind::ControllerStarted))
        .unwrap();
    sink.seal_now().unwrap();
    drop(sink);
    assert!(
        matches!(dir.verify("a2"), VerifyReport::Ok(_)),
        "{}",
        dir.verify("a2")
    );
    let a = for_trail(load_checkpoint_file(&dir.anchors()).unwrap(), "a");
    assert_eq!(
        a.last().unwrap().sequence,
        7,
        "trail a's anchor still says how far it went"
    );
}

#[test]
fn honest_restarts_resume_and_re_anchor_what_the_anchor_lacks() {
    let dir = Dir::new();
    dir.write("a", 5);
    let file = dir.file("a");
    // The last run stopped before its newest two checkpoints landed.
    let anchored = lines(&dir.anchors());
    std::fs::write(dir.anchors(), anchored[..anchored.len() - 2].concat()).unwrap();
    assert_eq!(
        failure_of(&dir.verify("a")),
        Some(crate::Failure::AnchorRolledBack),
        "verify notices the anchor is behind the file"
    );
    let sink = dir.open(&file, "a").unwrap();
    assert_eq!(lines(&dir.anchors()).len(), anchored.len(), "re-anchored");
    continues_and_verifies(&dir, sink, &file);
}

/// Chaos run seed 2902851271044914872: SIGKILL landed after the trail's first checkpoint reached the
/// file and before it reached the anchor; every restart was then refused (`anchorMissing`) for good.
#[test]
fn a_kill_between_the_first_checkpoint_and_its_anchoring_resumes_and_re_anchors() {
    let dir = Dir::new();
    dir.write("a", 1);
    let file = dir.file("a");
    let checkpoints = lines(&file)
        .iter()
        .filter(|l| l.contains("\"checkpoint\":{"))
        .count();
    assert_eq!(
        checkpoints, 1,
        "the case needs exactly the first checkpoint"
    );
    std::fs::write(dir.anchors(), "").unwrap(); // the anchoring never happened
    let sink = dir.open(&file, "a").unwrap();
    assert_eq!(lines(&dir.anchors()).len(), 1, "re-anchored");
    continues_and_verifies(&dir, sink, &file);
}

#[test]
fn a_crash_before_the_first_checkpoint_resumes_and_seals() {
    let dir = Dir::new();
    let file = dir.file("a");
    let anchor = Box::new(FileAnchor::new(dir.anchors(), name("a")));
    let config = ChainConfig {
        every_records: 1000,
        every: Duration::from_secs(3600),
    };
    let (sink, _) =
        ChainedFileSink::open(&file, key(), anchor, config, Box::new(SystemClock)).unwrap();
    sink.record(lifecycle(EventKind::ControllerStarted))
        .unwrap();
    drop(sink); // no checkpoint, nothing anchored
    let sink = dir.open(&file, "a").unwrap();
    drop(sink);
    assert!(
        matches!(dir.verify("a"), VerifyReport::Ok(_)),
        "{}",
        dir.verify("a")
    );
}

#[test]
fn two_replicas_anchors_coexist_and_each_trail_verifies() {
    let dir = Dir::new();
    dir.write("replica-a", 3);
    dir.write("replica-b", 4);
    dir.write("replica-a", 2);
    for trail in ["replica-a", "replica-b"] {
        assert!(
            matches!(dir.verify(trail), VerifyReport::Ok(_)),
            "{trail}: {}",
            dir.verify(trail)
        );
    }
    // Replica b's file opened under replica a's name is refused, not adopted.
    let err = dir.open(&dir.file("replica-b"), "replica-a").unwrap_err();
    assert!(err.to_string().contains("replica-b"), "{err}");
    let anchor = FileAnchor::new(dir.anchors(), name("replica-b"));
    assert_eq!(anchor.head().unwrap().unwrap().trail, "replica-b");
}

fn failure_of(report: &VerifyReport) -> Option<crate::Failure> {
    match report {
        VerifyReport::Ok(_) => None,
        VerifyReport::Broken(b) => Some(b.failure),
    }
}

#[test]
fn without_an_anchor_a_reopened_trail_links_to_its_newest_checkpoint() {
    let dir = Dir::new();
    let file = dir.file("cli");
    let config = ChainConfig {
        every_records: 1,
        every: Duration::from_secs(3600),
    };
    for round in 0..3 {
        let anchor = Box::new(crate::Unanchored(name("cli")));
        let (sink, _) =
            ChainedFileSink::open(&file, key(), anchor, config, Box::new(SystemClock)).unwrap();
        let mut event = AuditRecord::blank(
            EventKind::GrantCreated,
            Actor::user("irene"),
            Timestamp::now(),
        );
        event.subject = Some(format!("round-{round}"));
        sink.record(event.stamped()).unwrap();
    }
    let report = verify_file(&file, None, &key().verifying_key()).unwrap();
    assert!(matches!(report, VerifyReport::Ok(_)), "{report}");
    // Still not someone else's file.
    let err = ChainedFileSink::open(
        &file,
        key(),
        Box::new(crate::Unanchored(name("other"))),
        config,
        Box::new(SystemClock),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::TrailRefused { .. }), "{err:?}");
}
