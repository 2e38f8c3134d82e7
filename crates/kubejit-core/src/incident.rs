//! Incident references (e.g. "INC-12345") and the per-policy rule they must satisfy.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::Serialize;

use crate::text;

/// Hard ceiling for any incident reference, whatever a policy says: it lands in annotations, audit
/// records and terminal output, where a kilobyte of text would be a nuisance or an attack.
pub const INCIDENT_ABSOLUTE_MAX: usize = 128;

/// Length limit a policy gets when it does not set one.
pub const INCIDENT_DEFAULT_MAX: usize = 64;

/// How much of an unusable value a message quotes back.
const SHOWN: usize = 48;

/// Compiled-pattern budget: policy authors are trusted, but a pathological regex must not eat memory.
const PATTERN_SIZE_LIMIT: usize = 64 * 1024;

/// Why an incident reference is unusable regardless of policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("incident reference must not be empty; pass one like --incident INC-12345")]
    Empty,
    #[error(
        "incident reference is {len} characters, more than {max}; use the ticket id, not its title"
    )]
    TooLong { len: usize, max: usize },
    #[error(
        "incident reference \"{value}\" must not contain control or invisible formatting characters \
         (bidi overrides, zero-width spaces…) or whitespace at either end"
    )]
    Unprintable { value: String },
}

/// A syntactically sane incident reference: non-empty, at most [`INCIDENT_ABSOLUTE_MAX`] characters,
/// no control or format characters ([`crate::text::is_deceptive`]: `INC-1\u{202e}` must not display as
/// something else), no leading or trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Incident(String);

impl Incident {
    pub fn parse(value: &str) -> Result<Self, IncidentError> {
        Self::parse_with_max(value, INCIDENT_ABSOLUTE_MAX)
    }

    fn parse_with_max(value: &str, max: usize) -> Result<Self, IncidentError> {
        if value.is_empty() {
            return Err(IncidentError::Empty);
        }
        let len = value.chars().count();
        if len > max {
            return Err(IncidentError::TooLong { len, max });
        }
        if value.trim() != value || text::first_deceptive(value).is_some() {
            return Err(IncidentError::Unprintable {
                value: text::escape_bounded(value, SHOWN),
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A policy's incident pattern. It must match the WHOLE reference (it is compiled as `^(?:pattern)$`):
/// an unanchored `INC-[0-9]+` accepting "notINC-1really" would be a policy hole nobody meant.
#[derive(Debug, Clone)]
pub struct IncidentPattern {
    source: String,
    regex: Regex,
}

/// A policy's pattern failed to compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("incident pattern {pattern:?} is not a valid regular expression: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl IncidentPattern {
    pub fn new(source: &str) -> Result<Self, PatternError> {
        let regex = RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| PatternError {
                pattern: source.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            source: source.to_owned(),
            regex,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, incident: &Incident) -> bool {
        self.regex.is_match(incident.as_str())
    }
}

impl PartialEq for IncidentPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for IncidentPattern {}

/// What a policy demands of the incident reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRule {
    pub required: bool,
    pub pattern: Option<IncidentPattern>,
    pub max_length: usize,
}

impl Default for IncidentRule {
    /// Fail closed: an incident is required unless a policy explicitly says otherwise.
    fn default() -> Self {
        Self {
            required: true,
            pattern: None,
            max_length: INCIDENT_DEFAULT_MAX,
        }
    }
}

/// How a supplied (or missing) incident reference violates a rule. Messages name the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentViolation {
    #[error("an incident reference is required by {scope}; pass one like --incident INC-12345")]
    Missing { scope: String },
    #[error("incident reference \"{value}\" is not acceptable to {scope}: {source}")]
    Invalid {
        value: String,
        scope: String,
        #[source]
        source: IncidentError,
    },
    #[error("incident reference '{value}' does not match {pattern} required by {scope}")]
    PatternMismatch {
        value: String,
        pattern: String,
        scope: String,
    },
}

impl IncidentRule {
    /// Checks a raw incident value. `scope` names the rule's owner in messages ("policy payments-oncall").
    /// A value supplied where none is required must still be valid: it ends up in audit records.
    pub fn check(
        &self,
        value: Option<&str>,
        scope: &str,
    ) -> Result<Option<Incident>, IncidentViolation> {
        let Some(raw) = value else {
            return if self.required {
                Err(IncidentViolation::Missing {
                    scope: scope.to_owned(),
                })
            } else {
                Ok(None)
            };
        };
        let max = self.max_length.min(INCIDENT_ABSOLUTE_MAX);
        let incident =
            Incident::parse_with_max(raw, max).map_err(|source| IncidentViolation::Invalid {
                value: printable(raw),
                scope: scope.to_owned(),
                source,
            })?;
        match &self.pattern {
            Some(pattern) if !pattern.is_match(&incident) => {
                Err(IncidentViolation::PatternMismatch {
                    value: raw.to_owned(),
                    pattern: pattern.as_str().to_owned(),
                    scope: scope.to_owned(),
                })
            }
            Some(_) | None => Ok(Some(incident)),
        }
    }
}

/// Untrusted text goes into messages escaped and shortened, so a hostile annotation can neither
/// flood logs nor rearrange what a terminal shows.
fn printable(raw: &str) -> String {
    text::escape_bounded(raw, SHOWN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(required: bool, pattern: Option<&str>, max_length: usize) -> IncidentRule {
        IncidentRule {
            required,
            pattern: pattern.map(|p| IncidentPattern::new(p).unwrap()),
            max_length,
        }
    }

    #[test]
    fn incident_syntax() {
        let cases: &[(&str, bool)] = &[
            ("INC-12345", true),
            ("PD 42", true),
            ("", false),
            (" INC-1", false),
            ("INC-1 ", false),
            ("INC-1\n", false),
            ("INC\u{7}1", false),
            ("INC-1\u{202e}", false),
            ("INC-\u{202e}1-\u{202c}", false),
            ("INC\u{200b}-1", false),
            ("\u{feff}INC-1", false),
            ("INC-1\u{2066}", false),
            ("INC-1\u{85}", false),
            ("INC-1\u{2028}", false),
            ("INC-1\u{ad}", false),
            (&"x".repeat(128), true),
            (&"x".repeat(129), false),
        ];
        for (input, ok) in cases {
            assert_eq!(Incident::parse(input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn rule_outcomes() {
        let strict = rule(true, Some("INC-[0-9]+"), 12);
        let scope = "policy payments-oncall";
        assert_eq!(
            strict
                .check(Some("INC-1"), scope)
                .unwrap()
                .unwrap()
                .as_str(),
            "INC-1"
        );
        assert!(matches!(
            strict.check(None, scope),
            Err(IncidentViolation::Missing { .. })
        ));
        assert!(matches!(
            strict.check(Some(""), scope),
            Err(IncidentViolation::Invalid { .. })
        ));
        assert!(matches!(
            strict.check(Some("INC-1234567890"), scope),
            Err(IncidentViolation::Invalid { .. })
        ));
        assert!(matches!(
            strict.check(Some("foo"), scope),
            Err(IncidentViolation::PatternMismatch { .. })
        ));
        let optional = rule(false, None, 64);
        assert_eq!(optional.check(None, scope), Ok(None));
        assert!(matches!(
            optional.check(Some(" x"), scope),
            Err(IncidentViolation::Invalid { .. })
        ));
    }

    #[test]
    fn pattern_must_match_whole_reference() {
        let r = rule(true, Some("INC-[0-9]+"), 64);
        assert!(r.check(Some("xINC-1"), "p").is_err());
        assert!(r.check(Some("INC-1x"), "p").is_err());
        let alternation = rule(true, Some("INC-1|PD-2"), 64);
        assert!(alternation.check(Some("INC-1"), "p").is_ok());
        assert!(alternation.check(Some("INC-1PD-2"), "p").is_err());
    }

    #[test]
    fn mismatch_message_is_precise() {
        let r = rule(true, Some("^INC-[0-9]+$"), 64);
        let err = r.check(Some("foo"), "policy payments-oncall").unwrap_err();
        assert_eq!(
            err.to_string(),
            "incident reference 'foo' does not match ^INC-[0-9]+$ required by policy payments-oncall"
        );
    }

    #[test]
    fn absolute_max_overrides_policy() {
        let r = rule(true, None, 10_000);
        assert!(r.check(Some(&"x".repeat(129)), "p").is_err());
    }

    #[test]
    fn refusals_show_the_value_escaped() {
        let r = rule(true, None, 64);
        let err = r
            .check(Some("INC-1\u{202e}4321"), "p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("INC-1\\u{202e}4321"), "{err}");
        assert!(!err.chars().any(text::is_deceptive), "{err:?}");
        let long = format!("\u{202e}{}", "x".repeat(500));
        let err = r.check(Some(&long), "p").unwrap_err().to_string();
        assert!(err.len() < 400, "{err}");
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(IncidentPattern::new("INC-[").is_err());
        assert!(IncidentPattern::new("(a{1000}){1000}").is_err());
    }

    #[test]
    fn default_rule_requires_an_incident() {
        assert!(IncidentRule::default().required);
    }

    proptest! {
        #[test]
        fn check_never_panics(s in "\\PC{0,200}|[\\x00-\\x1f ]{0,5}") {
            let r = rule(true, Some("INC-[0-9]+"), 64);
            if let Ok(Some(i)) = r.check(Some(&s), "p") {
                prop_assert!(i.as_str().starts_with("INC-"));
                prop_assert!(i.as_str().chars().count() <= 64);
            }
        }

        /// Any string: accepted incidents are plain and re-parse to themselves; refusals are plain too.
        #[test]
        fn accepted_incidents_are_plain(s in any::<String>()) {
            match Incident::parse(&s) {
                Ok(i) => {
                    prop_assert!(!i.as_str().chars().any(text::is_deceptive));
                    prop_assert_eq!(Incident::parse(&i.to_string()), Ok(i));
                }
                Err(e) => prop_assert!(!e.to_string().chars().any(text::is_deceptive)),
            }
        }
    }
}
