//! Time-to-live values parsed from human durations ("30m", "2h") and the limits that apply to them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The Kubernetes CSR API refuses `expirationSeconds` below 10 minutes, so no certificate TTL may be shorter.
pub const CERTIFICATE_MIN_TTL: Ttl = Ttl(Duration::from_secs(600));

/// No single TTL may exceed one year: anything longer is a typo, and "temporary" must stay temporary.
pub const ABSOLUTE_MAX_TTL: Ttl = Ttl(Duration::from_secs(366 * 24 * 3600));

/// Why a TTL was rejected; each message says what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    #[error(
        "TTL {input:?} is not a duration: {reason}; write it like \"30m\", \"2h\" or \"1h 30m\""
    )]
    Unparseable { input: String, reason: String },
    #[error("TTL must be longer than zero; write it like \"30m\"")]
    Zero,
    #[error("TTL {input:?} is not a whole number of seconds; round it to seconds")]
    SubSecond { input: String },
    #[error("TTL {ttl} is longer than the absolute maximum {max}; ask for less")]
    AboveAbsoluteMax { ttl: Ttl, max: Ttl },
    #[error("TTL {ttl} is shorter than the Kubernetes CSR minimum {min}; ask for at least {min}")]
    BelowCertificateMin { ttl: Ttl, min: Ttl },
    #[error("TTL {ttl} exceeds the maximum {max} allowed by {limit}; ask for {max} or less")]
    AboveLimit { ttl: Ttl, max: Ttl, limit: String },
}

/// A positive, whole-second duration of at most [`ABSOLUTE_MAX_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(Duration);

impl Ttl {
    /// Parses a human duration. Whole seconds only: both `expirationSeconds` and the RFC 3339
    /// `expires-at` annotation have one-second resolution, so "1500ms" would silently change meaning.
    pub fn parse(input: &str) -> Result<Self, TtlError> {
        let duration =
            humantime::parse_duration(input.trim()).map_err(|e| TtlError::Unparseable {
                input: input.to_owned(),
                reason: e.to_string(),
            })?;
        if duration.subsec_nanos() != 0 {
            return Err(TtlError::SubSecond {
                input: input.to_owned(),
            });
        }
        Self::from_secs(duration.as_secs())
    }

    /// Builds a TTL from seconds, e.g. from a CSR's `expirationSeconds`.
    pub fn from_secs(secs: u64) -> Result<Self, TtlError> {
        if secs == 0 {
            return Err(TtlError::Zero);
        }
        let ttl = Self(Duration::from_secs(secs));
        if ttl > ABSOLUTE_MAX_TTL {
            return Err(TtlError::AboveAbsoluteMax {
                ttl,
                max: ABSOLUTE_MAX_TTL,
            });
        }
        Ok(ttl)
    }

    /// For core's own constants, which a test passes through [`Ttl::from_secs`]; never for input.
    pub(crate) const fn constant(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Whole seconds as the duration spelling the AccessRequest CRD accepts (`^([0-9]+(h|m|s))+$`,
    /// what Go's `time.ParseDuration` reads): `1h30m`, `720h`, `8s`. Not [`Display`](fmt::Display),
    /// which says `30days` or `1h 30m`, for people.
    pub fn as_go_duration(self) -> String {
        let secs = self.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut out = String::new();
        for (value, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
        if out.is_empty() {
            out.push_str("0s");
        }
        out
    }

    /// The value for a CSR's `expirationSeconds` (i32 in the Kubernetes API; always fits: max is one year).
    pub fn as_expiration_seconds(self) -> i32 {
        i32::try_from(self.as_secs()).unwrap_or(i32::MAX)
    }

    /// Certificates may not be shorter than the CSR API floor of 10 minutes.
    pub fn check_certificate_min(self) -> Result<Self, TtlError> {
        if self < CERTIFICATE_MIN_TTL {
            return Err(TtlError::BelowCertificateMin {
                ttl: self,
                min: CERTIFICATE_MIN_TTL,
            });
        }
        Ok(self)
    }

    /// Enforces a cap; `limit` names where the cap comes from ("policy payments-oncall").
    pub fn check_at_most(self, max: Ttl, limit: &str) -> Result<Self, TtlError> {
        if self > max {
            return Err(TtlError::AboveLimit {
                ttl: self,
                max,
                limit: limit.to_owned(),
            });
        }
        Ok(self)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // humantime prints "1h 30m"; the same string parses back to the same value.
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for Ttl {
    type Err = TtlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_durations_are_what_the_request_crd_accepts() {
        let cases = [
            ("720h", "720h"),
            ("30days", "720h"),
            ("1h 30m", "1h30m"),
            ("8s", "8s"),
            ("90m", "1h30m"),
            ("1h 1s", "1h1s"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Ttl::parse(input).unwrap().as_go_duration(),
                expected,
                "{input}"
            );
        }
    }

    proptest! {
        #[test]
        fn go_durations_match_the_crd_pattern_and_keep_the_seconds(secs in 1u64..366 * 24 * 3600) {
            let go = Ttl::from_secs(secs).unwrap().as_go_duration();
            let pattern = regex_lite_match(&go);
            prop_assert!(pattern, "{go}");
            prop_assert_eq!(Ttl::parse(&go).unwrap().as_secs(), secs);
        }
    }

    /// `^([0-9]+(h|m|s))+$` without a regex dependency.
    fn regex_lite_match(s: &str) -> bool {
        let mut digits = 0;
        for c in s.chars() {
            match c {
                '0'..='9' => digits += 1,
                'h' | 'm' | 's' if digits > 0 => digits = 0,
                _ => return false,
            }
        }
        !s.is_empty() && digits == 0
    }

    #[test]
    fn parses_human_durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("30m", Some(1800)),
            ("2h", Some(7200)),
            ("1h 30m", Some(5400)),
            ("10s", Some(10)),
            (" 15m ", Some(900)),
            ("366d", Some(366 * 86400)),
            ("367d", None),
            ("0s", None),
            ("", None),
            ("1500ms", None),
            ("10", None),
            ("-5m", None),
            ("forever", None),
        ];
        for (input, want) in cases {
            assert_eq!(Ttl::parse(input).ok().map(Ttl::as_secs), *want, "{input:?}");
        }
    }

    #[test]
    fn errors_say_which_rule() {
        assert_eq!(Ttl::parse("0s"), Err(TtlError::Zero));
        assert!(matches!(
            Ttl::parse("1500ms"),
            Err(TtlError::SubSecond { .. })
        ));
        assert!(matches!(
            Ttl::parse("soon"),
            Err(TtlError::Unparseable { .. })
        ));
        assert!(matches!(
            Ttl::parse("400d"),
            Err(TtlError::AboveAbsoluteMax { .. })
        ));
    }

    #[test]
    fn certificate_floor_is_ten_minutes() {
        let floor = Ttl::parse("10m").unwrap();
        assert_eq!(floor.check_certificate_min(), Ok(floor));
        let below = Ttl::from_secs(599).unwrap();
        assert!(matches!(
            below.check_certificate_min(),
            Err(TtlError::BelowCertificateMin { .. })
        ));
    }

    #[test]
    fn cap_names_its_source() {
        let max = Ttl::parse("1h").unwrap();
        assert!(
            Ttl::parse("1h")
                .unwrap()
                .check_at_most(max, "policy p")
                .is_ok()
        );
        let err = Ttl::parse("61m")
            .unwrap()
            .check_at_most(max, "policy p")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "TTL 1h 1m exceeds the maximum 1h allowed by policy p; ask for 1h or less"
        );
    }

    #[test]
    fn serde_uses_the_human_string() {
        let ttl: Ttl = serde_json::from_str("\"90m\"").unwrap();
        assert_eq!(ttl.as_secs(), 5400);
        assert_eq!(serde_json::to_string(&ttl).unwrap(), "\"1h 30m\"");
        assert!(serde_json::from_str::<Ttl>("\"0s\"").is_err());
        assert!(serde_json::from_str::<Ttl>("5400").is_err());
    }

    #[test]
    fn expiration_seconds_fit_i32() {
        assert_eq!(ABSOLUTE_MAX_TTL.as_expiration_seconds(), 366 * 86400);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Ttl::parse(&s);
        }

        /// Near-valid durations with huge numbers and every unit: an error (overflow, too long), never
        /// a panic; whatever is accepted is within the absolute maximum and prints back to itself.
        #[test]
        fn huge_durations_never_panic(
            s in "[0-9]{1,30}(ns|us|ms|s|m|h|d|w|M|y)( ?[0-9]{1,30}(ns|s|m|h|d|w|M|y)){0,3}"
        ) {
            if let Ok(ttl) = Ttl::parse(&s) {
                prop_assert!(ttl <= ABSOLUTE_MAX_TTL);
                prop_assert_eq!(Ttl::parse(&ttl.to_string()), Ok(ttl));
            }
        }

        #[test]
        fn display_round_trips(secs in 1u64..=366 * 86400) {
            let ttl = Ttl::from_secs(secs).unwrap();
            prop_assert_eq!(Ttl::parse(&ttl.to_string()), Ok(ttl));
        }
    }
}
