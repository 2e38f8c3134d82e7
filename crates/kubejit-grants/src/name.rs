//! Binding names: readable, unique ones for new grants (`jit-<incident>-<role>-<random>`), and how a
//! binding is named in messages.

use kubejit_kube::Binding;
use rand::RngExt;

const MAX_LEN: usize = 63;
const SUFFIX_LEN: usize = 5;

/// `jit-inc-12345-oncall-debug-x7k2q`: lowercase, only `[a-z0-9-]`, at most 63 characters, so it
/// is a valid name for any object kind. The random suffix keeps repeated grants apart.
pub fn grant_name(incident: Option<&str>, role: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..SUFFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let mut stem = String::from("jit");
    for part in incident.into_iter().chain([role]) {
        let slug = slug(part);
        if !slug.is_empty() {
            stem.push('-');
            stem.push_str(&slug);
        }
    }
    stem.truncate(MAX_LEN - SUFFIX_LEN - 1);
    let stem = stem.trim_end_matches('-');
    format!("{stem}-{suffix}")
}

/// Lowercase alphanumerics; every other run of characters becomes one '-'.
fn slug(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// `RoleBinding ns/name` or `ClusterRoleBinding name`, as errors and results name a binding.
pub(crate) fn describe<B: Binding>(namespace: Option<&str>, name: &str) -> String {
    match (B::KIND, namespace) {
        ("RoleBinding", Some(ns)) => format!("RoleBinding {ns}/{name}"),
        (kind, _) => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_readable_and_valid() {
        let cases = [
            (
                Some("INC-12345"),
                "oncall-debug",
                "jit-inc-12345-oncall-debug-",
            ),
            (None, "oncall-debug", "jit-oncall-debug-"),
            (Some("PD #42: DB down!"), "view", "jit-pd-42-db-down-view-"),
            (Some("…"), "r", "jit-r-"),
        ];
        for (incident, role, prefix) in cases {
            let name = grant_name(incident, role);
            assert!(
                name.starts_with(prefix),
                "{name} should start with {prefix}"
            );
            assert_eq!(name.len(), prefix.len() + SUFFIX_LEN, "{name}");
        }
    }

    #[test]
    fn long_incidents_are_truncated_to_a_valid_name() {
        let name = grant_name(Some(&"x-".repeat(100)), "oncall-debug");
        assert!(name.len() <= MAX_LEN, "{name}");
        assert!(!name.contains("--"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn names_differ() {
        assert_ne!(grant_name(None, "r"), grant_name(None, "r"));
    }
}
