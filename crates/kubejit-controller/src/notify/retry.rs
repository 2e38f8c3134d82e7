//! When to try a delivery again: exponential backoff with jitter, and which answers deserve a retry.

use std::time::Duration;

/// How a delivery is retried and bounded; [`RetryPolicy::default`] is what the controller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// One attempt: connect, TLS, send, and the response head.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts over about half a minute of backoff (1 s, 2 s, 4 s, 8 s, 16 s before jitter):
    /// long enough to ride out a receiver's restart, short enough that a queue behind it moves.
    fn default() -> Self {
        Self {
            attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), with "equal jitter": half of the
    /// exponential step is fixed, the other half scaled by `jitter` in [0, 1], so that many
    /// controllers retrying one receiver do not fall into step.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let step = self
            .base_delay
            .saturating_mul(1_u32 << exp)
            .min(self.max_delay);
        let half = step / 2;
        // NaN would make mul_f64 panic; a jitter source must never take the worker down.
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        half + half.mul_f64(jitter)
    }
}

/// What one attempt's HTTP status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// 429 or 5xx: the receiver may take it later.
    Retry,
    /// Any other status (4xx, a redirect, which is not followed): retrying sends the same bytes
    /// and gets the same answer.
    Rejected,
}

pub fn classify(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        429 | 500..=599 => Answer::Retry,
        _ => Answer::Rejected,
    }
}

/// A jitter factor in [0, 1] from the system RNG (0.5 if it is unavailable: jitter is a courtesy).
pub(super) fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte) {
        Ok(()) => f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        let s = Duration::from_secs;
        for (attempt, step) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (40, 30)] {
            assert_eq!(
                p.delay(attempt, 0.0),
                s(step) / 2,
                "attempt {attempt}, no jitter"
            );
            assert_eq!(
                p.delay(attempt, 1.0),
                s(step),
                "attempt {attempt}, full jitter"
            );
            let mid = p.delay(attempt, 0.5);
            assert!(
                mid > s(step) / 2 && mid < s(step),
                "attempt {attempt}: {mid:?}"
            );
        }
        assert_eq!(p.delay(0, 1.0), s(1), "attempt 0 is treated as the first");
        assert_eq!(p.delay(3, 7.0), s(4), "jitter is clamped");
        assert_eq!(
            p.delay(3, f64::NAN),
            s(3),
            "NaN jitter never panics: half of it"
        );
        assert_eq!(p.delay(3, f64::INFINITY), s(3));
    }

    #[test]
    fn statuses() {
        for (status, want) in [
            (200, Answer::Delivered),
            (204, Answer::Delivered),
            (301, Answer::Rejected),
            (400, Answer::Rejected),
            (401, Answer::Rejected),
            (404, Answer::Rejected),
            (408, Answer::Rejected),
            (429, Answer::Retry),
            (500, Answer::Retry),
            (502, Answer::Retry),
            (503, Answer::Retry),
            (599, Answer::Retry),
            (600, Answer::Rejected),
        ] {
            assert_eq!(classify(status), want, "{status}");
        }
    }

    #[test]
    fn jitter_is_a_fraction() {
        for _ in 0..100 {
            assert!((0.0..=1.0).contains(&jitter()));
        }
    }
}
