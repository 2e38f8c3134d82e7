//! A set of things a controller already did this term, bounded so it cannot grow without limit.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// More entries than a cluster holds objects of one kind at once. When full the set is emptied:
/// forgetting costs one repeated check per object, never a wrong decision.
const MAX_ENTRIES: usize = 65_536;

#[derive(Debug)]
pub(crate) struct BoundedSet<T> {
    entries: Mutex<HashSet<T>>,
}

impl<T> Default for BoundedSet<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashSet::new()),
        }
    }
}

impl<T: Eq + Hash> BoundedSet<T> {
    pub(crate) fn contains<Q>(&self, entry: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(entry)
    }

    /// Remembers `entry`, first emptying the set if it is full.
    pub(crate) fn insert(&self, entry: T) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_full_then_starts_again() {
        let set = BoundedSet::default();
        assert!(!set.contains(&0));
        for n in 0..MAX_ENTRIES {
            set.insert(n);
        }
        assert!(set.contains(&0) && set.contains(&(MAX_ENTRIES - 1)));
        set.insert(MAX_ENTRIES);
        assert!(!set.contains(&0), "a full set is emptied");
        assert!(set.contains(&MAX_ENTRIES), "the new entry is kept");
    }
}
