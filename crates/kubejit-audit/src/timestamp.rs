//! A UTC instant that serializes as RFC 3339, so every record's time has one unambiguous spelling.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::AuditError;

/// A point in time, normalised to UTC on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Wraps `time`, converting it to UTC so two equal instants always serialize identically.
    pub fn new(time: OffsetDateTime) -> Self {
        Self(time.to_offset(UtcOffset::UTC))
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Parses an RFC 3339 string with any offset.
    pub fn parse(value: &str) -> Result<Self, AuditError> {
        OffsetDateTime::parse(value, &Rfc3339)
            .map(Self::new)
            .map_err(|source| AuditError::ParseTime {
                value: value.to_owned(),
                source,
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

    /// Whole seconds from `earlier` to `self`, zero if `earlier` is later.
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

    #[test]
    fn rejects_non_rfc3339() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2024-05-01 10:00:00").is_err());
    }
}
