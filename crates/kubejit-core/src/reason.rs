//! The free-text reason a person gives for access ("debugging checkout latency"): recorded in the
//! binding, the CSR and the audit trail, and shown to whoever reviews them, so it must read as written.

use std::fmt;

use serde::Serialize;

use crate::text;

/// Long enough for a sentence, short enough that a reason cannot bury a table or an Event.
pub const REASON_MAX: usize = 256;

/// Why a reason was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("reason must not be empty; say in a few words why the access is needed")]
    Empty,
    #[error("reason is {len} characters, more than {max}; link the ticket instead")]
    TooLong { len: usize, max: usize },
    #[error(
        "reason \"{shown}\" contains {character}, a control or invisible formatting character \
         (bidi override, zero-width space…) that could make it read differently; type it plainly"
    )]
    Deceptive { shown: String, character: String },
    #[error("reason \"{shown}\" must not start or end with whitespace")]
    Untrimmed { shown: String },
}

/// A reason that displays exactly as it reads: non-empty, at most [`REASON_MAX`] characters, no
/// control or format characters, no surrounding whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Reason(String);

impl Reason {
    pub fn parse(value: &str) -> Result<Self, ReasonError> {
        if value.is_empty() {
            return Err(ReasonError::Empty);
        }
        let len = value.chars().count();
        if len > REASON_MAX {
            return Err(ReasonError::TooLong {
                len,
                max: REASON_MAX,
            });
        }
        if let Some(c) = text::first_deceptive(value) {
            return Err(ReasonError::Deceptive {
                shown: text::escape_bounded(value, 64),
                character: text::escape(&c.to_string()).into_owned(),
            });
        }
        if value.trim() != value {
            return Err(ReasonError::Untrimmed {
                shown: text::escape_bounded(value, 64),
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Reason {
    type Err = ReasonError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reasons() {
        let ok = [
            "debugging checkout latency",
            "INC-1: pods OOM",
            "réparer le cache",
            "a",
        ];
        for input in ok {
            assert_eq!(
                Reason::parse(input).map(|r| r.to_string()),
                Ok(input.to_owned())
            );
        }
        let long = "x".repeat(REASON_MAX + 1);
        let refused: &[(&str, &str)] = &[
            ("", "empty"),
            (&long, "more than 256"),
            ("fix\u{202e}gnp.exe", "\\u{202e}"),
            ("zero\u{200b}width", "\\u{200b}"),
            ("isolate\u{2066}x\u{2069}", "\\u{2066}"),
            ("bom\u{feff}", "\\u{feff}"),
            ("line\nbreak", "\\u{a}"),
            ("esc\u{1b}[2J", "\\u{1b}"),
            ("csi\u{9b}2J", "\\u{9b}"),
            ("sep\u{2028}x", "\\u{2028}"),
            (" padded", "whitespace"),
        ];
        for (input, fragment) in refused {
            let err = Reason::parse(input).unwrap_err().to_string();
            assert!(err.contains(fragment), "{input:?}: {err}");
            assert!(!err.chars().any(text::is_deceptive), "{err:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_reasons_are_plain(s in any::<String>()) {
            match Reason::parse(&s) {
                Ok(r) => {
                    prop_assert!(!r.as_str().chars().any(text::is_deceptive));
                    prop_assert_eq!(Reason::parse(&r.to_string()), Ok(r));
                }
                Err(e) => prop_assert!(!e.to_string().chars().any(text::is_deceptive)),
            }
        }
    }
}
