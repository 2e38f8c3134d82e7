//! Validated Kubernetes names, parsed once at the edge so the rest of kubejit can trust them.

use std::fmt;

use serde::Serialize;

use crate::text;

/// Why a name was rejected; the message names the rule so the user can fix the input. `value` is the
/// input escaped and shortened for display ([`shown`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} \"{value}\" is longer than {max} characters")]
    TooLong {
        kind: &'static str,
        value: String,
        max: usize,
    },
    #[error(
        "{kind} \"{value}\" is not a valid Kubernetes name: use lowercase letters, digits and '-'{dots}, \
         starting and ending with a letter or digit"
    )]
    InvalidCharacters {
        kind: &'static str,
        value: String,
        dots: &'static str,
    },
    #[error("{kind} \"{value}\" is reserved for Kubernetes system identities (prefix \"system:\")")]
    Reserved { kind: &'static str, value: String },
    #[error(
        "{kind} \"{value}\" must not contain control or invisible formatting characters (bidi \
         overrides, zero-width spaces…) or whitespace at either end"
    )]
    Unprintable { kind: &'static str, value: String },
}

/// A namespace name: an RFC 1123 DNS label (at most 63 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NamespaceName(String);

/// The name of a namespaced or cluster object such as a Role: an RFC 1123 DNS subdomain (at most 253).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ObjectName(String);

/// A user-defined RBAC group. Kubernetes accepts any string, but kubejit refuses `system:` groups
/// (granting those is never a debugging need) and strings that would be invisible or misleading in logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GroupName(String);

/// The rejected input as messages quote it: escaped ([`text::escape`]) and at most 80 characters.
pub(crate) fn shown(value: &str) -> String {
    text::escape_bounded(value, 80)
}

/// Whether a free-form name (user, group) would display as something it is not.
pub(crate) fn is_unprintable(value: &str) -> bool {
    value.trim() != value || text::first_deceptive(value).is_some()
}

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;
const GROUP_MAX: usize = 256;

fn is_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns_label(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    is_alnum(first) && is_alnum(last) && s.chars().all(|c| is_alnum(c) || c == '-')
}

fn check_len(kind: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if value.len() > max {
        return Err(NameError::TooLong {
            kind,
            value: shown(value),
            max,
        });
    }
    Ok(())
}

impl NamespaceName {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        const KIND: &str = "namespace";
        check_len(KIND, value, LABEL_MAX)?;
        if !is_dns_label(value) {
            return Err(NameError::InvalidCharacters {
                kind: KIND,
                value: shown(value),
                dots: "",
            });
        }
        Ok(Self(value.to_owned()))
    }
}

impl ObjectName {
    /// Parses an object name; `kind` says what the name is for in error messages ("role name", …).
    pub fn parse_as(kind: &'static str, value: &str) -> Result<Self, NameError> {
        check_len(kind, value, SUBDOMAIN_MAX)?;
        if !value.split('.').all(is_dns_label) {
            return Err(NameError::InvalidCharacters {
                kind,
                value: shown(value),
                dots: " and '.'",
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn parse(value: &str) -> Result<Self, NameError> {
        Self::parse_as("name", value)
    }
}

impl GroupName {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        const KIND: &str = "group";
        check_len(KIND, value, GROUP_MAX)?;
        if is_unprintable(value) {
            return Err(NameError::Unprintable {
                kind: KIND,
                value: shown(value),
            });
        }
        if value.starts_with("system:") {
            return Err(NameError::Reserved {
                kind: KIND,
                value: shown(value),
            });
        }
        Ok(Self(value.to_owned()))
    }
}

macro_rules! string_newtype {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $t {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    )*};
}
string_newtype!(NamespaceName, ObjectName, GroupName);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn namespace_names() {
        let cases: &[(&str, bool)] = &[
            ("payments", true),
            ("a", true),
            ("a-1", true),
            ("9lives", true),
            ("", false),
            ("-a", false),
            ("a-", false),
            ("Payments", false),
            ("pay.ments", false),
            ("pay_ments", false),
            ("pay ments", false),
            (&"a".repeat(63), true),
            (&"a".repeat(64), false),
        ];
        for (input, ok) in cases {
            assert_eq!(NamespaceName::parse(input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn object_names_allow_dots() {
        assert!(ObjectName::parse("oncall-debug").is_ok());
        assert!(ObjectName::parse("kubejit.dev.oncall").is_ok());
        assert!(ObjectName::parse("a..b").is_err());
        assert!(ObjectName::parse(".a").is_err());
        assert!(ObjectName::parse(&"a".repeat(254)).is_err());
    }

    #[test]
    fn groups_refuse_system_and_invisible_characters() {
        assert!(GroupName::parse("oncall-payments").is_ok());
        assert!(GroupName::parse("team:payments/oncall").is_ok());
        assert!(matches!(
            GroupName::parse("system:masters"),
            Err(NameError::Reserved { .. })
        ));
        assert!(matches!(
            GroupName::parse(" oncall"),
            Err(NameError::Unprintable { .. })
        ));
        assert!(matches!(
            GroupName::parse("on\ncall"),
            Err(NameError::Unprintable { .. })
        ));
        assert!(matches!(GroupName::parse(""), Err(NameError::Empty { .. })));
        for spoof in [
            "oncall\u{202e}",
            "on\u{200b}call",
            "\u{feff}oncall",
            "oncall\u{2066}",
        ] {
            let err = GroupName::parse(spoof).unwrap_err();
            assert!(matches!(err, NameError::Unprintable { .. }), "{spoof:?}");
            assert!(!err.to_string().chars().any(text::is_deceptive), "{err}");
        }
    }

    #[test]
    fn errors_name_the_rule() {
        let err = NamespaceName::parse("Pay_ments").unwrap_err().to_string();
        assert!(err.contains("lowercase letters, digits and '-'"), "{err}");
    }

    proptest! {
        #[test]
        fn accepted_namespaces_are_dns_labels(s in "\\PC{0,70}") {
            if let Ok(n) = NamespaceName::parse(&s) {
                prop_assert!(n.as_str().len() <= 63);
                prop_assert!(n.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!n.as_str().starts_with('-') && !n.as_str().ends_with('-'));
            }
        }

        #[test]
        fn generated_labels_are_accepted(s in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
            prop_assert!(NamespaceName::parse(&s).is_ok());
        }
    }
}
