//! Exponential backoff on an injected clock: when to try a failing sink again.

use std::time::Duration;

use crate::Timestamp;

/// First retry after [`Backoff::MIN`], doubling per failure up to [`Backoff::MAX`]; reset on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_delay: Duration,
    retry_at: Option<Timestamp>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_delay: Self::MIN,
            retry_at: None,
        }
    }
}

impl Backoff {
    pub const MIN: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(30);

    /// Whether an attempt may be made at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// An attempt at `now` failed: the next one waits, longer each time.
    pub fn failed(&mut self, now: Timestamp) {
        let delay = time::Duration::try_from(self.next_delay).unwrap_or(time::Duration::ZERO);
        // At the very end of the time range there is no later instant: retry at once.
        self.retry_at = now.get().checked_add(delay).map(Timestamp::new);
        self.next_delay = self.next_delay.saturating_mul(2).min(Self::MAX);
    }

    /// An attempt succeeded: the next failure starts from the shortest delay again.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        let start = Timestamp::parse("2024-05-01T10:00:00Z").unwrap();
        Timestamp::new(start.get() + time::Duration::seconds(seconds))
    }

    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_success() {
        let mut b = Backoff::default();
        assert!(b.due(at(0)));
        // (failure at, not due at deadline - 1s, due at deadline)
        let cases = [
            (0, 1),
            (1, 3),
            (3, 7),
            (7, 15),
            (15, 31),
            (31, 61),
            (61, 91),
        ];
        for (failed_at, retry_at) in cases {
            b.failed(at(failed_at));
            assert!(!b.due(at(retry_at - 1)), "failed at {failed_at}");
            assert!(b.due(at(retry_at)), "failed at {failed_at}");
            assert!(b.due(at(retry_at + 1)), "failed at {failed_at}");
        }
        b.succeeded();
        assert_eq!(b, Backoff::default());
        b.failed(at(100));
        assert!(!b.due(at(100)) && b.due(at(101)));
    }

    #[test]
    fn a_failure_at_the_end_of_time_retries_at_once() {
        let end = Timestamp::new(time::PrimitiveDateTime::MAX.assume_utc());
        let mut b = Backoff::default();
        b.failed(end);
        assert!(b.due(end));
    }
}
