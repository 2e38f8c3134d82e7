//! A UTC instant that serializes as RFC 3339, so every record's time has one unambiguous spelling.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::AuditError;

/// A point in time, normalised to UTC on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl From<OffsetDateTime> for Timestamp {
    fn from(time: OffsetDateTime) -> Self {
        Self::new(time)
    }
}

impl Timestamp {
    /// Wraps `time`, converting it to UTC so two equal instants always serialize identically.
    ///
    /// An instant with no UTC spelling (year 9999 with a negative offset: only a hand-built value,
    /// every parsed one goes through [`Timestamp::parse`]) is clamped to the nearest end of the range
    /// instead of panicking: a record with a clamped time beats a controller that crash-loops.
    pub fn new(time: OffsetDateTime) -> Self {
        Self(time.checked_to_offset(UtcOffset::UTC).unwrap_or_else(|| {
            if time.offset().is_negative() {
                PrimitiveDateTime::MAX.assume_utc()
            } else {
                PrimitiveDateTime::MIN.assume_utc()
            }
        }))
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Parses an RFC 3339 string with any offset; an instant outside the representable UTC range
    /// (e.g. `9999-12-31T23:59:59-23:59`) is an error, never a panic.
    pub fn parse(value: &str) -> Result<Self, AuditError> {
        let parsed =
            OffsetDateTime::parse(value, &Rfc3339).map_err(|source| AuditError::ParseTime {
                value: value.to_owned(),
                source,
            })?;
        parsed
            .checked_to_offset(UtcOffset::UTC)
            .map(Self)
            .ok_or_else(|| AuditError::TimeOutOfRange {
                value: value.to_owned(),
            })
    }

    /// The RFC 3339 spelling, e.g. `2024-05-01T10:00:00Z`.
    pub fn to_rfc3339(&self) -> Result<String, AuditError> {
        self.0.format(&Rfc3339).map_err(AuditError::FormatTime)
    }

    /// The wrapped UTC time.
    pub fn get(&self) -> OffsetDateTime {
        self.0
    }

    /// Whole seconds from `earlier` to `self`, zero if `earlier` is later. (Both are UTC within
    /// years ±9999, so the difference fits a `time::Duration`.)
    pub fn seconds_since(&self, earlier: Timestamp) -> u64 {
        u64::try_from((self.0 - earlier.0).whole_seconds()).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_rfc3339().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_offsets_to_utc() {
        let cases = [
            ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
            ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
            ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.5Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Timestamp::parse(input).unwrap().to_rfc3339().unwrap(),
                want,
                "{input}"
            );
        }
    }

    /// The attacker's line: an offset that pushes the instant past year 9999 used to panic inside
    /// `to_offset` (in `audit verify`, `audit report`, and any reader of a trail).
    #[test]
    fn edge_of_the_range_is_an_error_not_a_panic() {
        for value in ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00"] {
            assert!(
                matches!(
                    Timestamp::parse(value),
                    Err(AuditError::TimeOutOfRange { .. })
                ),
                "{value}"
            );
            let json = format!("\"{value}\"");
            assert!(serde_json::from_str::<Timestamp>(&json).is_err(), "{value}");
        }
        let late = time::macros::datetime!(9999-12-31 23:59:59 -23:59);
        assert_eq!(
            Timestamp::new(late).get(),
            PrimitiveDateTime::MAX.assume_utc()
        );
        assert!(Timestamp::parse("9999-12-31T23:59:59Z").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
        ) {
            if let Ok(t) = Timestamp::parse(&s) {
                let again = Timestamp::parse(&t.to_rfc3339().unwrap()).unwrap();
                proptest::prop_assert_eq!(again, t);
            }
        }
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2024-05-01 10:00:00").is_err());
    }
}
