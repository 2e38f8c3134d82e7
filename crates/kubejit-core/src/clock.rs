//! The controllers' clock: "now" behind a trait, so expiry, backoff and checkpoint logic is tested at
//! exact instants (deadline − 1 s, deadline, deadline + 1 s) instead of against the wall clock.

use time::OffsetDateTime;

/// Source of "now" (UTC). Shared between tasks as `Arc<dyn Clock>`.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock tests move by hand; clones share one time.
#[cfg(any(test, feature = "testutil"))]
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<OffsetDateTime>>);

#[cfg(any(test, feature = "testutil"))]
impl ManualClock {
    /// Starts at 2024-05-01T10:00:00Z.
    pub fn new() -> Self {
        Self::at(time::macros::datetime!(2024-05-01 10:00:00 UTC))
    }

    pub fn at(start: OffsetDateTime) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(start)))
    }

    /// Moves the clock by `seconds` (either way); saturates at the ends of representable time.
    pub fn advance(&self, seconds: i64) {
        let mut now = self.lock();
        *now = now.saturating_add(time::Duration::seconds(seconds));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(any(test, feature = "testutil"))]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "testutil"))]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new();
        let other = clock.clone();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        other.advance(61);
        assert_eq!(clock.now() - start, time::Duration::seconds(61));
    }

    #[test]
    fn the_system_clock_is_utc() {
        assert!(SystemClock.now().offset().is_utc());
    }
}
