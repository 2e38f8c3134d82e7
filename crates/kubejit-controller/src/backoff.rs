//! Per-object exponential backoff after failed reconciles, kept in memory for one leadership term.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Object uid → consecutive failures.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Forgets the failures of an object that reconciled (or is no longer ours).
    pub(crate) fn succeeded(&self, uid: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }

    /// Counts one more failure: 250 ms, 500 ms, 1 s, … capped at 60 s.
    pub(crate) fn next(&self, uid: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(uid.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_250ms_up_to_60s_and_restarts_after_success() {
        let b = Backoff::default();
        let ms = |n| Duration::from_millis(n);
        // (failure number, delay)
        let cases = [
            (1, ms(250)),
            (2, ms(500)),
            (3, ms(1_000)),
            (8, ms(32_000)),
            (9, ms(60_000)),
            (40, ms(60_000)),
        ];
        let mut failures = 0;
        for (nth, want) in cases {
            let mut got = Duration::ZERO;
            while failures < nth {
                got = b.next("a");
                failures += 1;
            }
            assert_eq!(got, want, "failure {nth}");
        }
        assert_eq!(b.next("b"), ms(250), "another object has its own count");
        b.succeeded("a");
        assert_eq!(b.next("a"), ms(250), "a success restarts the count");
    }
}
