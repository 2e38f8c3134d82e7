//! What the reaper has seen of each binding of one kind: for the gauges, for recording
//! created/extended grants once, and for warning about a malformed value once per resourceVersion.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Metrics;

/// `(namespace, name)`; namespace is `None` for ClusterRoleBindings.
pub(crate) type Key = (Option<String>, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Pending,
    Overdue,
    Malformed,
    /// The watch saw an overdue binding disappear before our delete's answer (which may be lost) and
    /// wrote its `grantExpired` record; kept so the answer, if it comes, does not write it again.
    RecordedGone,
}

#[derive(Debug, Clone)]
struct Entry {
    uid: Option<String>,
    /// The expires-at value last recorded (created/extended) or, when malformed, the resourceVersion warned about.
    seen: String,
    state: State,
}

/// Whether a well-formed grant is new to us, extended, or already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    New,
    Changed,
    Same,
}

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compares with what was last recorded for `key` (a new uid is a new grant).
    pub(crate) fn seen(&self, key: &Key, uid: Option<&str>, value: &str) -> Seen {
        match self.lock().get(key) {
            Some(e) if e.uid.as_deref() == uid && e.state != State::Malformed => {
                if e.seen == value {
                    Seen::Same
                } else {
                    Seen::Changed
                }
            }
            Some(_) | None => Seen::New,
        }
    }

    /// Records the current state of `key` and keeps the gauges in step.
    pub(crate) fn set(
        &self,
        m: &Metrics,
        key: Key,
        uid: Option<String>,
        seen: String,
        state: State,
    ) {
        let old = self.lock().insert(key, Entry { uid, seen, state });
        adjust(m, old.map(|e| e.state), Some(state));
    }

    /// Whether `resource_version` of a malformed binding has not been warned about yet.
    pub(crate) fn first_malformed(&self, key: &Key, resource_version: &str) -> bool {
        self.lock()
            .get(key)
            .is_none_or(|e| e.state != State::Malformed || e.seen != resource_version)
    }

    /// The watch saw `key` disappear. If we were expiring it, claims its `grantExpired` record (true)
    /// and keeps a marker, so [`Self::finish_expired`] does not write it again; otherwise forgets it.
    pub(crate) fn claim_gone(&self, m: &Metrics, key: &Key) -> bool {
        let mut entries = self.lock();
        match entries.get_mut(key) {
            Some(e) if e.state == State::Overdue => {
                e.state = State::RecordedGone;
                adjust(m, Some(State::Overdue), Some(State::RecordedGone));
                true
            }
            Some(_) | None => {
                let old = entries.remove(key);
                adjust(m, old.map(|e| e.state), None);
                false
            }
        }
    }

    /// Our delete of `key` succeeded: forgets it, and says whether its `grantExpired` record is still
    /// ours to write (false when the watch already wrote it).
    pub(crate) fn finish_expired(&self, m: &Metrics, key: &Key) -> bool {
        let old = self.lock().remove(key).map(|e| e.state);
        adjust(m, old, None);
        old != Some(State::RecordedGone)
    }

    /// The binding is gone or no longer a grant.
    pub(crate) fn forget(&self, m: &Metrics, key: &Key) {
        let old = self.lock().remove(key);
        adjust(m, old.map(|e| e.state), None);
    }

    /// After a re-list: drops entries for bindings that disappeared while the watch was down.
    pub(crate) fn retain(&self, m: &Metrics, mut alive: impl FnMut(&Key) -> bool) {
        let mut gone = Vec::new();
        self.lock().retain(|k, e| {
            let keep = alive(k);
            if !keep {
                gone.push(e.state);
            }
            keep
        });
        for state in gone {
            adjust(m, Some(state), None);
        }
    }
}

fn adjust(m: &Metrics, old: Option<State>, new: Option<State>) {
    if old == new {
        return;
    }
    for (state, delta) in [(old, -1), (new, 1)] {
        match state {
            Some(State::Pending) => {
                m.tracked.inc_by(delta);
            }
            Some(State::Overdue) => {
                m.tracked.inc_by(delta);
                m.overdue.inc_by(delta);
            }
            Some(State::Malformed) => {
                m.malformed.inc_by(delta);
            }
            Some(State::RecordedGone) | None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        (Some("ns".into()), name.into())
    }

    #[test]
    fn gauges_follow_state_changes() {
        let m = Metrics::default();
        let t = Tracker::default();
        t.set(&m, key("a"), Some("u".into()), "v1".into(), State::Pending);
        t.set(
            &m,
            key("b"),
            Some("u2".into()),
            "7".into(),
            State::Malformed,
        );
        assert_eq!(
            (m.tracked.get(), m.overdue.get(), m.malformed.get()),
            (1, 0, 1)
        );
        t.set(&m, key("a"), Some("u".into()), "v1".into(), State::Overdue);
        assert_eq!((m.tracked.get(), m.overdue.get()), (1, 1));
        t.forget(&m, &key("a"));
        t.retain(&m, |_| false);
        assert_eq!(
            (m.tracked.get(), m.overdue.get(), m.malformed.get()),
            (0, 0, 0)
        );
    }

    #[test]
    fn grants_are_new_then_same_then_changed() {
        let m = Metrics::default();
        let t = Tracker::default();
        assert_eq!(t.seen(&key("a"), Some("u"), "v1"), Seen::New);
        t.set(&m, key("a"), Some("u".into()), "v1".into(), State::Pending);
        assert_eq!(t.seen(&key("a"), Some("u"), "v1"), Seen::Same);
        assert_eq!(t.seen(&key("a"), Some("u"), "v2"), Seen::Changed);
        assert_eq!(
            t.seen(&key("a"), Some("other"), "v1"),
            Seen::New,
            "recreated under the same name"
        );
    }

    #[test]
    fn a_grant_expired_record_is_written_once_whoever_sees_the_deletion_first() {
        let m = Metrics::default();
        let t = Tracker::default();
        let overdue = |t: &Tracker| {
            t.set(&m, key("a"), Some("u".into()), "v".into(), State::Overdue);
        };
        // The delete's answer first: it writes the record; the watch's event then finds nothing.
        overdue(&t);
        assert!(t.finish_expired(&m, &key("a")));
        assert!(!t.claim_gone(&m, &key("a")));
        // The watch first (the answer is slow, or lost): it writes; a late answer does not.
        overdue(&t);
        assert!(t.claim_gone(&m, &key("a")));
        assert_eq!((m.tracked.get(), m.overdue.get()), (0, 0));
        assert!(!t.finish_expired(&m, &key("a")));
        // A pending grant deleted by someone else is not an expiry.
        t.set(&m, key("b"), Some("u".into()), "v".into(), State::Pending);
        assert!(!t.claim_gone(&m, &key("b")));
        assert_eq!((m.tracked.get(), m.overdue.get()), (0, 0));
        // A recreated binding of the same name is new, whatever marker its predecessor left.
        overdue(&t);
        assert!(t.claim_gone(&m, &key("a")));
        assert_eq!(t.seen(&key("a"), Some("u2"), "v"), Seen::New);
    }

    #[test]
    fn malformed_warns_once_per_resource_version() {
        let m = Metrics::default();
        let t = Tracker::default();
        assert!(t.first_malformed(&key("a"), "7"));
        t.set(&m, key("a"), None, "7".into(), State::Malformed);
        assert!(!t.first_malformed(&key("a"), "7"));
        assert!(t.first_malformed(&key("a"), "8"));
    }
}
