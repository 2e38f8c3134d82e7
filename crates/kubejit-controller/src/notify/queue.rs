//! The bounded queue between reconcilers and the delivery worker: pushing never waits, and when it
//! is full the oldest entry is dropped (a decision is never held up by a slow receiver, and the
//! newest state of a request is what matters most).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

#[derive(Debug)]
pub(super) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
}

impl<T> Queue<T> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
        }
    }

    /// Adds `item`; returns the entry dropped to make room, if any. Never waits on the worker (the
    /// lock is held only to move an element).
    pub(super) fn push(&self, item: T) -> Option<T> {
        let dropped = {
            // A panic elsewhere while holding the lock leaves a consistent VecDeque: keep going.
            let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = if items.len() >= self.capacity {
                items.pop_front()
            } else {
                None
            };
            items.push_back(item);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    pub(super) fn pop(&self) -> Option<T> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    pub(super) fn len(&self) -> usize {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Everything still queued, oldest first.
    pub(super) fn take_all(&self) -> Vec<T> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect()
    }

    /// Resolves after the next push (or at once if one happened since the last wait).
    pub(super) async fn pushed(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let q = Queue::new(3);
        for i in 1..=3 {
            assert_eq!(q.push(i), None);
        }
        assert_eq!(q.push(4), Some(1));
        assert_eq!(q.push(5), Some(2));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.take_all(), vec![4, 5]);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn capacity_zero_still_holds_one() {
        let q = Queue::new(0);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), Some(1));
    }
}
