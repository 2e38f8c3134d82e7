//! Tests for the fail-open path: primary, spool, memory, backoff and exactly-once replay.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::{Actor, AuditRecord, ChainConfig, ChainedFileSink, EventKind, FileAnchor};

use kubejit_core::ManualClock;

/// An in-memory sink that fails while `down`, or after `budget` more writes; `knows_ids` makes it
/// answer `find_recorded` like a trail file does (otherwise it behaves like a stream).
#[derive(Default)]
struct Memory {
    records: Mutex<Vec<Stamped>>,
    down: AtomicBool,
    budget: Mutex<Option<usize>>,
    calls: AtomicUsize,
    knows_ids: bool,
}

impl Memory {
    fn ids(&self) -> Vec<String> {
        let records = self.records.lock().unwrap();
        records.iter().map(|e| e.event_id().to_owned()).collect()
    }
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl AuditSink for Memory {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut budget = self.budget.lock().unwrap();
        let exhausted = budget.is_some_and(|b| b == 0);
        if self.down.load(Ordering::SeqCst) || exhausted {
            return Err(AuditError::Write {
                target: "memory".into(),
                source: std::io::Error::other("down"),
            });
        }
        if let Some(b) = budget.as_mut() {
            *b -= 1;
        }
        let mut records = self.records.lock().unwrap();
        records.push(event.clone());
        Ok(Recorded {
            sequence: records.len() as u64,
            event_id: event.event_id().to_owned(),
            hash: None,
            checkpoint: None,
        })
    }

    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        if !self.knows_ids {
            return Ok(HashSet::new());
        }
        Ok(self.ids().into_iter().filter(|i| ids.contains(i)).collect())
    }
}

fn event(clock: &ManualClock, name: &str) -> Stamped {
    let mut e = AuditRecord::blank(
        EventKind::GrantExpired,
        Actor::controller("test"),
        Timestamp::new(clock.now()),
    );
    e.subject = Some(name.to_owned());
    e.stamped()
}

fn auditor(primary: &Arc<Memory>, spool: Option<Spool>, clock: &ManualClock) -> Auditor {
    let primary: Arc<dyn AuditSink> = Arc::clone(primary) as Arc<dyn AuditSink>;
    Auditor::new(primary, spool, Arc::new(clock.clone()))
}

#[test]
fn with_the_primary_up_a_record_after_goes_straight_to_it() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let memory = Arc::new(Memory::default());
    let a = auditor(&memory, Some(Spool::new(dir.path().join("s"))), &clock);
    let e = event(&clock, "alice");
    assert!(matches!(a.record_after(e.clone()), After::Recorded(_)));
    assert_eq!(memory.ids(), vec![e.event_id().to_owned()]);
    assert_eq!(a.pending(), 0);
    assert!(a.replay_due().is_none());
}

#[test]
fn a_down_primary_spools_then_replays_with_backoff_in_order() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let memory = Arc::new(Memory::default());
    let spool = Spool::new(dir.path().join("s"));
    let a = auditor(&memory, Some(spool.clone()), &clock);
    memory.set_down(true);
    let first = event(&clock, "a");
    let after = a.record_after(first.clone());
    assert!(
        matches!(
            after,
            After::Spooled {
                primary_error: Some(_)
            }
        ),
        "{after:?}"
    );
    // The primary is backing off: the next record is spooled without trying it.
    clock.advance(0);
    let second = event(&clock, "b");
    let calls = memory.calls.load(Ordering::SeqCst);
    let after = a.record_after(second.clone());
    assert!(
        matches!(
            after,
            After::Spooled {
                primary_error: None
            }
        ),
        "{after:?}"
    );
    assert_eq!(memory.calls.load(Ordering::SeqCst), calls);
    assert_eq!(spool.read().unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(a.pending(), 2);

    // Not due one second before the backoff ends; due at it; still down: counted and kept.
    assert!(a.replay_due().is_none());
    clock.advance(1);
    let r = a.replay_due().unwrap();
    assert!(
        r.error.is_some() && r.replayed == 0 && r.pending == 2,
        "{r:?}"
    );
    // The backoff doubled: 2 s now.
    clock.advance(1);
    assert!(a.replay_due().is_none());
    memory.set_down(false);
    // While records wait, a new one queues behind them even though the primary is up.
    let third = event(&clock, "c");
    assert!(matches!(
        a.record_after(third.clone()),
        After::Spooled {
            primary_error: None
        }
    ));
    clock.advance(1);
    let r = a.replay_due().unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!((r.replayed, r.duplicates, r.pending), (3, 0, 0));
    assert_eq!(
        memory.ids(),
        vec![
            first.event_id().to_owned(),
            second.event_id().to_owned(),
            third.event_id().to_owned()
        ]
    );
    assert!(spool.read().unwrap().is_empty());
    assert!(a.replay_due().is_none(), "nothing left to replay");
    // Recovered: straight to the primary again.
    assert!(matches!(
        a.record_after(event(&clock, "d")),
        After::Recorded(_)
    ));
}

#[test]
fn a_replay_interrupted_before_the_spool_is_cleared_writes_nothing_twice() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let trail = dir.path().join("trail.jsonl");
    let (sink, _) = ChainedFileSink::open(
        &trail,
        ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        Box::new(FileAnchor::new(
            dir.path().join("anchors"),
            "trail".parse().unwrap(),
        )),
        ChainConfig {
            every_records: 2,
            every: Duration::from_secs(3600),
        },
        Box::new(clock.clone()),
    )
    .unwrap();
    let sink = Arc::new(sink);
    let spool = Spool::beside(&trail);
    let events: Vec<Stamped> = (0..3).map(|n| event(&clock, &format!("u{n}"))).collect();
    for e in &events {
        spool.append(e).unwrap();
    }
    // The "crashed" run replayed the first two into the trail, then died before clearing the spool.
    sink.record(events[0].clone()).unwrap();
    sink.record(events[1].clone()).unwrap();
    // The restarted run finds the spool and replays what is missing, once.
    let a = Auditor::new(
        Arc::clone(&sink) as Arc<dyn AuditSink>,
        Some(spool.clone()),
        Arc::new(clock.clone()),
    );
    assert_eq!(a.pending(), 3);
    let r = a.replay_due().unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!((r.replayed, r.duplicates, r.pending), (1, 2, 0));
    let text = std::fs::read_to_string(&trail).unwrap();
    for e in &events {
        assert_eq!(
            text.matches(e.event_id()).count(),
            1,
            "{}",
            e.event_id().to_owned()
        );
    }
    assert!(spool.read().unwrap().is_empty());
}

#[test]
fn a_stream_primary_failing_mid_replay_gets_no_duplicates_from_this_process() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let memory = Arc::new(Memory::default());
    let a = auditor(&memory, Some(Spool::new(dir.path().join("s"))), &clock);
    memory.set_down(true);
    let events: Vec<Stamped> = (0..3).map(|n| event(&clock, &format!("u{n}"))).collect();
    for e in &events {
        a.record_after(e.clone());
    }
    memory.set_down(false);
    *memory.budget.lock().unwrap() = Some(1);
    clock.advance(1);
    let r = a.replay_due().unwrap();
    assert!(
        r.error.is_some() && r.replayed == 1 && r.pending == 3,
        "{r:?}"
    );
    *memory.budget.lock().unwrap() = None;
    clock.advance(2);
    let r = a.replay_due().unwrap();
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!((r.replayed, r.duplicates), (2, 1));
    let want: Vec<String> = events.iter().map(|e| e.event_id().to_owned()).collect();
    assert_eq!(memory.ids(), want);
}

#[test]
fn without_a_usable_spool_records_are_held_in_memory_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    // A spool whose directory does not exist cannot take a record.
    let broken = Spool::new(dir.path().join("missing").join("s"));
    for spool in [None, Some(broken)] {
        let clock = ManualClock::new();
        let memory = Arc::new(Memory {
            knows_ids: true,
            ..Memory::default()
        });
        let has_spool = spool.is_some();
        let a = auditor(&memory, spool, &clock);
        memory.set_down(true);
        let e = event(&clock, "a");
        match a.record_after(e.clone()) {
            After::Held {
                primary_error: Some(_),
                spool_error,
            } => assert_eq!(spool_error.is_some(), has_spool),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.pending(), 1);
        memory.set_down(false);
        clock.advance(1);
        let r = a.replay_due().unwrap();
        assert!(
            r.error.is_none() && r.replayed == 1 && r.pending == 0,
            "{r:?}"
        );
        assert_eq!(memory.ids(), vec![e.event_id().to_owned()]);
    }
}

#[test]
fn a_spool_left_by_an_earlier_run_is_pending_at_start() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let spool = Spool::new(dir.path().join("s"));
    spool.append(&event(&clock, "a")).unwrap();
    let memory = Arc::new(Memory::default());
    let a = auditor(&memory, Some(spool), &clock);
    assert_eq!(a.pending(), 1);
    assert_eq!(a.replay_due().unwrap().replayed, 1);
    assert_eq!(a.pending(), 0);
}

#[test]
fn a_record_that_gates_an_action_fails_when_the_primary_does() {
    let (clock, dir) = (ManualClock::new(), tempfile::tempdir().unwrap());
    let memory = Arc::new(Memory::default());
    let spool = Spool::new(dir.path().join("s"));
    let a = auditor(&memory, Some(spool.clone()), &clock);
    memory.set_down(true);
    assert!(a.record(event(&clock, "a")).is_err());
    assert!(spool.read().unwrap().is_empty(), "never spooled");
    assert_eq!(a.pending(), 0);
}
