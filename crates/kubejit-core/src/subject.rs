//! Who is asking (the authenticated requester) and who may be named in a policy (users and groups).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::names::{GroupName, NameError, is_unprintable, shown};

/// Kubernetes reserves the `system:` prefix for its own identities (nodes, service accounts, masters).
pub const SYSTEM_PREFIX: &str = "system:";

const USER_MAX: usize = 256;

/// A human user name as it appears in a policy or a certificate CN.
///
/// `system:` names, service accounts (`system:serviceaccount:…`) included, are refused: kubejit issues
/// credentials to people. A service account already has revocable tokens; a certificate in its name
/// would outlive the deletion of the account and could not be revoked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        const KIND: &str = "user";
        if value.is_empty() {
            return Err(NameError::Empty { kind: KIND });
        }
        if value.len() > USER_MAX {
            return Err(NameError::TooLong {
                kind: KIND,
                value: shown(value),
                max: USER_MAX,
            });
        }
        if is_unprintable(value) {
            return Err(NameError::Unprintable {
                kind: KIND,
                value: shown(value),
            });
        }
        if value.starts_with(SYSTEM_PREFIX) {
            return Err(NameError::Reserved {
                kind: KIND,
                value: shown(value),
            });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of users and groups, matched by exact string equality (no prefixes, no wildcards).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subjects {
    pub users: BTreeSet<UserName>,
    pub groups: BTreeSet<GroupName>,
}

impl Subjects {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// How `requester` matches this set, preferring the user entry (the most specific) and then the
    /// first group in sorted order, so explanations are stable.
    pub fn match_requester(&self, requester: &Requester) -> Option<RequesterMatch> {
        if let Some(user) = self.users.iter().find(|u| u.as_str() == requester.username) {
            return Some(RequesterMatch::User(user.clone()));
        }
        self.groups
            .iter()
            .find(|g| requester.groups.iter().any(|rg| rg == g.as_str()))
            .map(|g| RequesterMatch::Group(g.clone()))
    }

    /// Whether every subject in `wanted` is also in `self`.
    pub fn contains_all(&self, wanted: &Subjects) -> bool {
        wanted.users.is_subset(&self.users) && wanted.groups.is_subset(&self.groups)
    }
}

impl fmt::Display for Subjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users = self.users.iter().map(|u| format!("user {u}"));
        let groups = self.groups.iter().map(|g| format!("group {g}"));
        let all: Vec<String> = users.chain(groups).collect();
        f.write_str(&all.join(", "))
    }
}

/// The authenticated identity behind a request, exactly as the apiserver reported it (CSR
/// `spec.username`/`spec.groups`, or a SelfSubjectReview for the CLI). Unvalidated on purpose: these
/// strings are facts to compare, not input to trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requester {
    pub username: String,
    pub groups: Vec<String>,
}

/// Which entry of a policy's `requesters` let the requester in; part of every explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RequesterMatch {
    User(UserName),
    Group(GroupName),
}

impl fmt::Display for RequesterMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(u) => write!(f, "requester user {u}"),
            Self::Group(g) => write!(f, "requester group {g}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(users: &[&str], groups: &[&str]) -> Subjects {
        Subjects {
            users: users.iter().map(|u| UserName::parse(u).unwrap()).collect(),
            groups: groups
                .iter()
                .map(|g| GroupName::parse(g).unwrap())
                .collect(),
        }
    }

    fn requester(user: &str, groups: &[&str]) -> Requester {
        Requester {
            username: user.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn user_names() {
        let cases: &[(&str, bool)] = &[
            ("alice", true),
            ("alice@example.com", true),
            ("oidc:alice", true),
            ("", false),
            (" alice", false),
            ("al\tice", false),
            ("alice\u{202e}", false),
            ("al\u{200b}ice", false),
            ("a,b", true),
            ("system:admin", false),
            ("system:serviceaccount:kubejit:controller", false),
            (&"a".repeat(257), false),
        ];
        for (input, ok) in cases {
            assert_eq!(UserName::parse(input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn matching_is_exact_and_prefers_users() {
        let s = subjects(&["alice"], &["oncall", "sre"]);
        let m = |u, g: &[&str]| s.match_requester(&requester(u, g)).map(|m| m.to_string());
        assert_eq!(
            m("alice", &["sre"]).as_deref(),
            Some("requester user alice")
        );
        assert_eq!(
            m("bob", &["sre", "oncall"]).as_deref(),
            Some("requester group oncall")
        );
        assert_eq!(m("Alice", &[]), None);
        assert_eq!(m("bob", &["oncall-x", "ONCALL"]), None);
    }

    #[test]
    fn contains_all_is_a_subset_check() {
        let s = subjects(&["alice"], &["oncall", "sre"]);
        assert!(s.contains_all(&subjects(&[], &["sre"])));
        assert!(s.contains_all(&subjects(&["alice"], &["oncall", "sre"])));
        assert!(!s.contains_all(&subjects(&["bob"], &[])));
        assert!(!s.contains_all(&subjects(&[], &["dev"])));
    }
}
