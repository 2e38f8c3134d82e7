//! Grant expiry: parse the `expires-at` annotation and decide keep-until or delete, given `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::annotations::EXPIRES_AT;

/// Deadlines before this year are certainly mistakes (kubejit did not exist), and RFC 3339 years stop
/// at 9999; both bounds keep arithmetic on deadlines far from overflow.
const MIN_YEAR: i32 = 2000;
const MAX_YEAR: i32 = 9999;

/// Why an `expires-at` value cannot be trusted. Such a binding is never deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expires-at {value:?} has no time zone; write it in UTC like 2030-01-02T15:04:05Z")]
    MissingZone { value: String },
    #[error(
        "expires-at {value:?} is not an RFC 3339 timestamp ({reason}); write it like 2030-01-02T15:04:05Z"
    )]
    Unparseable { value: String, reason: String },
    #[error(
        "expires-at {value:?} has year {year}, outside {MIN_YEAR}..={MAX_YEAR}; fix the timestamp"
    )]
    YearOutOfRange { value: String, year: i32 },
}

/// Parses an RFC 3339 deadline. A zone is required ('Z' or an explicit offset such as +02:00): a
/// zone-less time means different instants on different machines. The result is in UTC.
pub fn parse_expires_at(value: &str) -> Result<OffsetDateTime, ExpiryError> {
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|e| {
        if lacks_zone(value) {
            ExpiryError::MissingZone {
                value: value.to_owned(),
            }
        } else {
            ExpiryError::Unparseable {
                value: value.to_owned(),
                reason: e.to_string(),
            }
        }
    })?;
    let utc = parsed.to_offset(UtcOffset::UTC);
    let year = utc.year();
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(ExpiryError::YearOutOfRange {
            value: value.to_owned(),
            year,
        });
    }
    Ok(utc)
}

/// Only used to pick a clearer message: a `YYYY-MM-DDThh:mm:ss…` value with no 'Z', '+' or '-' after the 'T'.
fn lacks_zone(value: &str) -> bool {
    let (Some(date), Some(sep), Some(time)) = (value.get(..10), value.get(10..11), value.get(11..))
    else {
        return false;
    };
    date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && matches!(sep, "T" | "t" | " ")
        && !time.contains(['Z', 'z', '+', '-'])
}

/// Formats a deadline the way kubejit writes the annotation: UTC, whole seconds, 'Z'.
pub fn format_expires_at(deadline: OffsetDateTime) -> String {
    let utc = deadline.to_offset(UtcOffset::UTC);
    let (y, mo, d) = (utc.year(), u8::from(utc.month()), utc.day());
    let (h, mi, s) = (utc.hour(), utc.minute(), utc.second());
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// What the expiry controller should do with one binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryDecision {
    /// No `expires-at` annotation: not a kubejit grant. Never touch it, whatever its name.
    NotManaged,
    /// The annotation is present but untrustworthy: never delete; warn (Event, metric, audit) and do
    /// not requeue on a timer (a fix to the annotation triggers a new reconcile).
    Malformed { value: String, reason: ExpiryError },
    /// Not yet due: requeue exactly at the deadline.
    Keep {
        deadline: OffsetDateTime,
        requeue_after: Duration,
    },
    /// Due (at or after the deadline): delete, with preconditions.
    Delete {
        deadline: OffsetDateTime,
        overdue_by: Duration,
    },
}

/// Decides from a binding's annotations. At exactly the deadline the grant is over: Delete.
pub fn decide_expiry(
    annotations: &BTreeMap<String, String>,
    now: OffsetDateTime,
) -> ExpiryDecision {
    let Some(value) = annotations.get(EXPIRES_AT) else {
        return ExpiryDecision::NotManaged;
    };
    let deadline = match parse_expires_at(value) {
        Ok(deadline) => deadline,
        Err(reason) => {
            return ExpiryDecision::Malformed {
                value: value.clone(),
                reason,
            };
        }
    };
    if now >= deadline {
        ExpiryDecision::Delete {
            deadline,
            overdue_by: (now - deadline).unsigned_abs(),
        }
    } else {
        ExpiryDecision::Keep {
            deadline,
            requeue_after: (deadline - now).unsigned_abs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn annotations(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(EXPIRES_AT.to_owned(), value.to_owned())])
    }

    const DEADLINE: OffsetDateTime = datetime!(2030-01-02 15:04:05 UTC);

    #[test]
    fn around_the_deadline() {
        let a = annotations("2030-01-02T15:04:05Z");
        let second = time::Duration::SECOND;
        assert_eq!(
            decide_expiry(&a, DEADLINE - second),
            ExpiryDecision::Keep {
                deadline: DEADLINE,
                requeue_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            decide_expiry(&a, DEADLINE),
            ExpiryDecision::Delete {
                deadline: DEADLINE,
                overdue_by: Duration::ZERO
            }
        );
        assert_eq!(
            decide_expiry(&a, DEADLINE + second),
            ExpiryDecision::Delete {
                deadline: DEADLINE,
                overdue_by: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn sub_second_remainders_are_kept_exactly() {
        let a = annotations("2030-01-02T15:04:05Z");
        let now = DEADLINE - time::Duration::milliseconds(250);
        assert_eq!(
            decide_expiry(&a, now),
            ExpiryDecision::Keep {
                deadline: DEADLINE,
                requeue_after: Duration::from_millis(250)
            }
        );
    }

    #[test]
    fn missing_annotation_is_never_managed() {
        let other = BTreeMap::from([(
            "debugging.kubernetes.io/incident".to_owned(),
            "INC-1".to_owned(),
        )]);
        assert_eq!(decide_expiry(&other, DEADLINE), ExpiryDecision::NotManaged);
        assert_eq!(
            decide_expiry(&BTreeMap::new(), DEADLINE),
            ExpiryDecision::NotManaged
        );
    }

    #[test]
    fn timestamp_table() {
        let ok: &[(&str, OffsetDateTime)] = &[
            ("2030-01-02T15:04:05Z", DEADLINE),
            ("2030-01-02T16:04:05+01:00", DEADLINE),
            ("2030-01-02T10:04:05-05:00", DEADLINE),
            ("2030-01-02T15:04:05.000Z", DEADLINE),
            ("2000-01-01T00:00:00Z", datetime!(2000-01-01 0:00 UTC)),
            ("9999-12-31T23:59:59Z", datetime!(9999-12-31 23:59:59 UTC)),
        ];
        for (input, want) in ok {
            assert_eq!(parse_expires_at(input).as_ref(), Ok(want), "{input:?}");
        }
        let missing_zone = ["2030-01-02T15:04:05", "2030-01-02T15:04:05.5"];
        for input in missing_zone {
            assert!(
                matches!(
                    parse_expires_at(input),
                    Err(ExpiryError::MissingZone { .. })
                ),
                "{input:?}"
            );
        }
        let garbage = [
            "",
            "tomorrow",
            "2030-01-02",
            "2030-13-02T15:04:05Z",
            "2030-01-02T25:04:05Z",
            " 2030-01-02T15:04:05Z",
            "1735689600",
        ];
        for input in garbage {
            assert!(
                matches!(
                    parse_expires_at(input),
                    Err(ExpiryError::Unparseable { .. })
                ),
                "{input:?}"
            );
        }
        let absurd = [
            "1999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
        ];
        for input in absurd {
            assert!(parse_expires_at(input).is_err(), "{input:?}");
        }
        assert!(matches!(
            parse_expires_at("1999-12-31T23:59:59Z"),
            Err(ExpiryError::YearOutOfRange { year: 1999, .. })
        ));
    }

    #[test]
    fn malformed_is_never_deleted() {
        for value in ["2020-01-02T15:04:05", "garbage", "1970-01-01T00:00:00Z"] {
            let decision = decide_expiry(&annotations(value), DEADLINE);
            assert!(
                matches!(decision, ExpiryDecision::Malformed { .. }),
                "{value:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn formatting_is_utc_whole_seconds() {
        let t = datetime!(2030-01-02 16:04:05.9 +01:00);
        assert_eq!(format_expires_at(t), "2030-01-02T15:04:05Z");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = decide_expiry(&annotations(&s), DEADLINE);
        }

        #[test]
        fn near_misses_never_panic(s in "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
            if let Ok(t) = parse_expires_at(&s) {
                prop_assert!((MIN_YEAR..=MAX_YEAR).contains(&t.year()));
                prop_assert_eq!(t.offset(), UtcOffset::UTC);
            }
        }

        #[test]
        fn format_round_trips(secs in 946_684_800i64..253_402_300_799) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            prop_assert_eq!(parse_expires_at(&format_expires_at(t)), Ok(t));
        }
    }
}
