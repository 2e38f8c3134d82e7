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

/// The longest value quoted back in an error: annotations can hold 256 KiB, messages should not.
const SHOWN_MAX: usize = 64;

/// Why an `expires-at` value cannot be trusted. Such a binding is never deleted. `value` is the
/// annotation escaped and shortened for display (see [`crate::text::escape_bounded`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("expires-at \"{value}\" has no time zone; write it in UTC like 2030-01-02T15:04:05Z")]
    MissingZone { value: String },
    #[error(
        "expires-at \"{value}\" is not an RFC 3339 timestamp ({reason}); write it like 2030-01-02T15:04:05Z"
    )]
    Unparseable { value: String, reason: String },
    #[error(
        "expires-at \"{value}\" has year {year}, outside {MIN_YEAR}..={MAX_YEAR}; fix the timestamp"
    )]
    YearOutOfRange { value: String, year: i32 },
    #[error(
        "expires-at \"{value}\" is not a representable instant in UTC (after year {MAX_YEAR}); fix the timestamp"
    )]
    OutOfRange { value: String },
}

/// Parses an RFC 3339 deadline. A zone is required ('Z' or an explicit offset such as +02:00): a
/// zone-less time means different instants on different machines. The result is in UTC.
///
/// Only the strict form that both Go's `time.Parse(time.RFC3339, …)` (what Kubernetes and CEL's
/// `timestamp()` use) and the `time` crate read identically is accepted:
/// `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)`, upper-case `T` and `Z`, seconds 00-59. Go refuses
/// lower-case `t`/`z`, a space separator and second 60; it reads a `,` fraction and more than nine
/// digits, which `time` does not. Where the two could disagree the value is malformed (never deleted).
/// Every conversion is checked: an offset that pushes the instant past year 9999 is an error, not a panic.
pub fn parse_expires_at(value: &str) -> Result<OffsetDateTime, ExpiryError> {
    let shown = || crate::text::escape_bounded(value, SHOWN_MAX);
    if let Err(reason) = strict_shape(value.as_bytes()) {
        return Err(if lacks_zone(value) {
            ExpiryError::MissingZone { value: shown() }
        } else {
            ExpiryError::Unparseable {
                value: shown(),
                reason: reason.to_owned(),
            }
        });
    }
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|e| ExpiryError::Unparseable {
        value: shown(),
        reason: e.to_string(),
    })?;
    let utc = parsed
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| ExpiryError::OutOfRange { value: shown() })?;
    let year = utc.year();
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(ExpiryError::YearOutOfRange {
            value: shown(),
            year,
        });
    }
    Ok(utc)
}

/// Checks the byte shape `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)` with seconds below 60 and offset
/// hours below 24; the calendar (month length, leap years) is left to the parser.
fn strict_shape(b: &[u8]) -> Result<(), &'static str> {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let head = b.get(..SHAPE.len()).ok_or("too short")?;
    for (&got, &want) in head.iter().zip(SHAPE) {
        let ok = match want {
            b'd' => got.is_ascii_digit(),
            _ => got == want,
        };
        if !ok {
            return Err("expected the shape YYYY-MM-DDThh:mm:ssZ");
        }
    }
    if head.get(17) > Some(&b'5') {
        return Err("seconds must be 00-59");
    }
    let mut rest = b.get(SHAPE.len()..).unwrap_or_default();
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let digits = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return Err("a fraction of a second needs 1 to 9 digits");
        }
        rest = after_dot.get(digits..).unwrap_or_default();
    }
    match rest {
        b"Z" => Ok(()),
        [sign, h1, h2, b':', m1, m2]
            if matches!(sign, b'+' | b'-')
                && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1, *h2) <= (b'2', b'3')
                && *m1 <= b'5' =>
        {
            Ok(())
        }
        _ => Err("expected 'Z' or an offset like +02:00 after the time"),
    }
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

/// Formats a deadline the way kubejit writes the annotation: UTC, whole seconds, 'Z'. A deadline
/// with no UTC spelling (only a hand-built value at the very edge of the range) prints as the
/// nearest one that has, rather than panicking.
pub fn format_expires_at(deadline: OffsetDateTime) -> String {
    let utc = deadline
        .checked_to_offset(UtcOffset::UTC)
        .unwrap_or_else(|| {
            // A negative offset moves the instant later: the overflow is past the end of the range.
            if deadline.offset().is_negative() {
                time::PrimitiveDateTime::MAX.assume_utc()
            } else {
                time::PrimitiveDateTime::MIN.assume_utc()
            }
        });
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
    decide_expiry_value(annotations.get(EXPIRES_AT).map(String::as_str), now)
}

/// [`decide_expiry`] from the `expires-at` value alone (`None`: the binding has no such annotation),
/// for callers that keep the value without the rest of the annotations.
pub fn decide_expiry_value(value: Option<&str>, now: OffsetDateTime) -> ExpiryDecision {
    let Some(value) = value else {
        return ExpiryDecision::NotManaged;
    };
    let deadline = match parse_expires_at(value) {
        Ok(deadline) => deadline,
        Err(reason) => {
            return ExpiryDecision::Malformed {
                value: value.to_owned(),
                reason,
            };
        }
    };
    if now >= deadline {
        ExpiryDecision::Delete {
            deadline,
            overdue_by: span(deadline, now),
        }
    } else {
        ExpiryDecision::Keep {
            deadline,
            requeue_after: span(now, deadline),
        }
    }
}

/// `later - earlier`, zero if negative, computed with checked integer steps: no input can make it
/// panic (parsed deadlines are UTC within years 2000..=9999, so nothing saturates in practice).
fn span(earlier: OffsetDateTime, later: OffsetDateTime) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let nanos = later
        .unix_timestamp_nanos()
        .checked_sub(earlier.unix_timestamp_nanos())
        .and_then(|n| u128::try_from(n).ok())
        .unwrap_or(0);
    let secs = nanos.checked_div(NANOS_PER_SEC).unwrap_or(0);
    let subsec = nanos.checked_rem(NANOS_PER_SEC).unwrap_or(0);
    Duration::new(
        u64::try_from(secs).unwrap_or(u64::MAX),
        u32::try_from(subsec).unwrap_or(0),
    )
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
        let other = BTreeMap::from([(crate::annotations::INCIDENT.to_owned(), "INC-1".to_owned())]);
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

    /// The attacker's values: the edge of the time range with an offset that pushes the instant past
    /// year 9999 used to panic inside `to_offset` and crash-loop the controller.
    #[test]
    fn edge_of_the_range_is_malformed_not_a_panic() {
        let out_of_range = [
            "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T12:00:00.999999999-12:00",
        ];
        for input in out_of_range {
            assert!(
                matches!(parse_expires_at(input), Err(ExpiryError::OutOfRange { .. })),
                "{input:?}"
            );
            let decision = decide_expiry(&annotations(input), DEADLINE);
            assert!(
                matches!(decision, ExpiryDecision::Malformed { .. }),
                "{input:?}"
            );
        }
        assert!(matches!(
            parse_expires_at("0000-01-01T00:00:00+23:59"),
            Err(ExpiryError::YearOutOfRange { year: -1, .. })
        ));
        assert_eq!(
            parse_expires_at("9999-12-31T23:59:59+00:00"),
            Ok(datetime!(9999-12-31 23:59:59 UTC))
        );
    }

    /// Go's RFC 3339 reader (Kubernetes, CEL `timestamp()`) and the `time` crate disagree on these:
    /// refused, so the reaper never acts on a deadline the admission policy read differently.
    #[test]
    fn spellings_go_and_time_could_read_differently_are_refused() {
        let disputed = [
            "2030-01-02t15:04:05Z",
            "2030-01-02 15:04:05Z",
            "2030-01-02T15:04:05z",
            "2030-06-30T23:59:60Z",
            "2030-01-02T15:04:05,5Z",
            "2030-01-02T15:04:05.1234567890Z",
            "2030-01-02T15:04:05.Z",
            "2030-01-02T15:04:05+24:00",
            "2030-01-02T15:04:05+02:60",
            "2030-01-02T15:04:05+0200",
            "2030-01-02T15:04:05+02",
            "2030-01-02T15:04:05Z ",
            "2030-01-02T15:04:05Z\n",
            "+2030-01-02T15:04:05Z",
            "２０３０-01-02T15:04:05Z",
        ];
        for input in disputed {
            assert!(
                matches!(
                    parse_expires_at(input),
                    Err(ExpiryError::Unparseable { .. })
                ),
                "{input:?}: {:?}",
                parse_expires_at(input)
            );
        }
        assert_eq!(
            parse_expires_at("2030-01-02T15:04:05.123456789Z").map(|t| t.nanosecond()),
            Ok(123_456_789)
        );
    }

    #[test]
    fn messages_quote_the_value_escaped_and_short() {
        let hostile = format!("\u{202e}{}", "9".repeat(10_000));
        let message = parse_expires_at(&hostile).unwrap_err().to_string();
        assert!(message.contains("\\u{202e}"), "{message}");
        assert!(message.len() < 400, "{message}");
        assert!(!message.chars().any(crate::text::is_deceptive));
    }

    #[test]
    fn formatting_never_panics_at_the_edges() {
        let late = datetime!(9999-12-31 23:59:59 -23:59);
        assert_eq!(format_expires_at(late), "9999-12-31T23:59:59Z");
        let early = datetime!(-9999-01-01 00:00:00 +23:59);
        assert!(format_expires_at(early).starts_with("-9999-01-01"));
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

        /// Structured near-valid values at the top of the range, with every offset: never a panic,
        /// and whatever is accepted is UTC and in range.
        #[test]
        fn edge_offsets_never_panic(
            year in 9990i32..=9999,
            day in 28u8..=31,
            hour in 0u8..=24,
            sign in prop::sample::select(vec!['+', '-']),
            oh in 0u8..=25,
            om in 0u8..=60,
            frac in prop::option::of("[0-9]{1,10}"),
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let s = format!("{year:04}-12-{day:02}T{hour:02}:59:59{frac}{sign}{oh:02}:{om:02}");
            if let Ok(t) = parse_expires_at(&s) {
                prop_assert!((MIN_YEAR..=MAX_YEAR).contains(&t.year()));
                prop_assert_eq!(t.offset(), UtcOffset::UTC);
                prop_assert_eq!(parse_expires_at(&format_expires_at(t)), Ok(t.replace_nanosecond(0).unwrap()));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = decide_expiry(&annotations(&s), DEADLINE);
        }

        #[test]
        fn format_round_trips(secs in 946_684_800i64..253_402_300_799) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            prop_assert_eq!(parse_expires_at(&format_expires_at(t)), Ok(t));
        }
    }
}
