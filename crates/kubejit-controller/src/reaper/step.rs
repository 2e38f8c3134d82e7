//! What one reconcile does with a binding, mapped from the pure expiry decision; and its requeue.

use std::time::Duration;

use kube::runtime::controller::Action;
use kubejit_core::{ExpiryDecision, ExpiryError, decide_expiry_value};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// No expires-at: not a grant. Never touched, whatever its name.
    Ignore,
    /// Malformed expires-at: warn once per resourceVersion, never delete, never poll.
    Warn { value: String, reason: ExpiryError },
    /// Not due yet: come back exactly at the deadline.
    Wait {
        deadline: OffsetDateTime,
        until: Duration,
    },
    /// Due: record and delete.
    Expire { deadline: OffsetDateTime },
}

/// From the binding's `expires-at` value (`None`: it has none).
pub(crate) fn step(expires_at: Option<&str>, now: OffsetDateTime) -> Step {
    match decide_expiry_value(expires_at, now) {
        ExpiryDecision::NotManaged => Step::Ignore,
        ExpiryDecision::Malformed { value, reason } => Step::Warn { value, reason },
        ExpiryDecision::Keep {
            deadline,
            requeue_after,
        } => Step::Wait {
            deadline,
            until: requeue_after,
        },
        ExpiryDecision::Delete { deadline, .. } => Step::Expire { deadline },
    }
}

/// The longest timer a pending grant gets. A deadline years away (up to 9999-12-31) would be a
/// requeue of ~8000 years: kube-runtime clamps what it hands tokio's timer wheel today (a too-far
/// `Instant` used to panic there, kube-rs#1772), but the reaper must not depend on that, and a daily
/// re-decision also notices wall-clock corrections. Waking early is harmless: the decision is
/// recomputed from the annotation and `now`.
pub(crate) const MAX_REQUEUE: Duration = Duration::from_secs(24 * 3600);

/// Only a pending grant is requeued on a timer; everything else waits for a change to the object
/// (an edited annotation, or the deletion we just made).
pub(crate) fn action(step: &Step) -> Action {
    match step {
        Step::Wait { until, .. } => Action::requeue((*until).min(MAX_REQUEUE)),
        Step::Ignore | Step::Warn { .. } | Step::Expire { .. } => Action::await_change(),
    }
}

/// Stable machine reason of a malformed value, for audit and events.
pub(crate) fn malformed_reason(reason: &ExpiryError) -> &'static str {
    match reason {
        ExpiryError::MissingZone { .. } => "expiresAtMissingZone",
        ExpiryError::Unparseable { .. } => "expiresAtUnparseable",
        ExpiryError::YearOutOfRange { .. } => "expiresAtYearOutOfRange",
        ExpiryError::OutOfRange { .. } => "expiresAtOutOfRange",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::macros::datetime;

    use super::*;

    const DEADLINE: OffsetDateTime = datetime!(2030-01-02 15:04:05 UTC);

    fn annotated(value: &str) -> Option<&str> {
        Some(value)
    }

    #[test]
    fn one_second_before_the_deadline_requeues_exactly_at_it() {
        let now = DEADLINE - time::Duration::seconds(1);
        let s = step(annotated("2030-01-02T15:04:05Z"), now);
        assert_eq!(
            s,
            Step::Wait {
                deadline: DEADLINE,
                until: Duration::from_secs(1)
            }
        );
        assert_eq!(action(&s), Action::requeue(Duration::from_secs(1)));
    }

    #[test]
    fn at_the_deadline_expires() {
        let s = step(annotated("2030-01-02T15:04:05Z"), DEADLINE);
        assert_eq!(s, Step::Expire { deadline: DEADLINE });
        assert_eq!(action(&s), Action::await_change());
    }

    #[test]
    fn one_second_after_the_deadline_expires() {
        let now = DEADLINE + time::Duration::seconds(1);
        let s = step(annotated("2030-01-02T17:04:05+02:00"), now);
        assert_eq!(s, Step::Expire { deadline: DEADLINE });
    }

    #[test]
    fn far_future_deadlines_requeue_within_a_day() {
        for value in ["9999-12-31T23:59:59Z", "2031-01-02T15:04:05Z"] {
            let s = step(annotated(value), DEADLINE);
            assert!(matches!(s, Step::Wait { .. }), "{value}: {s:?}");
            assert_eq!(action(&s), Action::requeue(MAX_REQUEUE), "{value}");
        }
    }

    #[test]
    fn bindings_without_the_annotation_are_ignored_and_not_requeued() {
        let mut other = BTreeMap::new();
        other.insert(
            "jit-looking-name".to_owned(),
            "2000-01-01T00:00:00Z".to_owned(),
        );
        let s = step(
            other
                .get(kubejit_core::annotations::EXPIRES_AT)
                .map(String::as_str),
            DEADLINE,
        );
        assert_eq!(s, Step::Ignore);
        assert_eq!(action(&s), Action::await_change());
    }

    #[test]
    fn malformed_values_warn_and_are_never_requeued() {
        let cases = [
            ("2030-01-02T15:04:05", "expiresAtMissingZone"),
            ("tomorrow", "expiresAtUnparseable"),
            ("", "expiresAtUnparseable"),
            ("1970-01-01T00:00:00Z", "expiresAtYearOutOfRange"),
            ("9999-12-31T23:59:59-23:59", "expiresAtOutOfRange"),
            ("2030-01-02t15:04:05z", "expiresAtUnparseable"),
        ];
        for (value, want) in cases {
            let s = step(annotated(value), DEADLINE);
            let Step::Warn { reason, .. } = &s else {
                panic!("{value:?} should be malformed, got {s:?}");
            };
            assert_eq!(malformed_reason(reason), want, "{value:?}");
            assert_eq!(action(&s), Action::await_change(), "{value:?}");
        }
    }
}
