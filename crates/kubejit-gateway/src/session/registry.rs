//! Concurrent sessions per user: a slot is taken at admission and given back when the connection
//! ends (drop), so a crash of one task cannot leak a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Registry {
    counts: Mutex<HashMap<String, usize>>,
}

/// One user's open session; dropping it frees the slot.
#[derive(Debug)]
pub struct SessionSlot {
    registry: Arc<Registry>,
    user: String,
}

impl Registry {
    /// Takes a slot for `user` unless they already hold `max`.
    pub fn acquire(self: &Arc<Self>, user: &str, max: usize) -> Option<SessionSlot> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(user.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n = n.saturating_add(1);
        Some(SessionSlot {
            registry: Arc::clone(self),
            user: user.to_owned(),
        })
    }

    pub fn open(&self) -> usize {
        self.counts.lock().map(|c| c.values().sum()).unwrap_or(0)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.registry.counts.lock()
            && let Some(n) = counts.get_mut(&self.user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let r = Arc::new(Registry::default());
        let a1 = r.acquire("alice", 2).unwrap();
        let _a2 = r.acquire("alice", 2).unwrap();
        assert!(r.acquire("alice", 2).is_none());
        let _b = r.acquire("bob", 2).unwrap();
        drop(a1);
        assert!(r.acquire("alice", 2).is_some());
        assert_eq!(r.open(), 2);
    }
}
