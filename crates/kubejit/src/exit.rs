//! Every exit code `kubejit` uses, in one place; `docs/cli.md` shows them and a test keeps the two equal.

/// The command did what was asked (for `audit verify`: the trail is intact).
pub const SUCCESS: u8 = 0;
/// Any other error: I/O, the apiserver, a file that cannot be read. The message on stderr says which.
pub const FAILURE: u8 = 1;
/// The command line was not understood. clap's own code for usage errors; nothing else uses it.
pub const USAGE: u8 = 2;
/// `kubejit credential`: nobody decided the certificate request within `--timeout` (or another
/// invocation held the lock that long). `kubejit grant` and `kubejit request --wait`: the
/// AccessRequest was not settled within `--wait-timeout`.
pub const CREDENTIAL_TIMEOUT: u8 = 3;
/// `kubejit credential`: an approver or policy denied the certificate request; `kubejit grant` and
/// `kubejit request --wait`: the AccessRequest was Denied or TimedOut. Not 2: a script must tell a denial from a mistyped flag.
pub const CREDENTIAL_DENIED: u8 = 4;
/// `kubejit lint`: a finding at or above `--fail-on` (malformed input is `FAILURE`).
pub const LINT_FINDINGS: u8 = 5;

/// A code, the stable name `docs/cli.md` gives it, and the command(s) that use it.
#[cfg(test)]
pub(crate) fn all() -> Vec<(u8, String)> {
    let mut codes = vec![
        (SUCCESS, "success".to_owned()),
        (FAILURE, "failure".to_owned()),
        (USAGE, "usage".to_owned()),
        (CREDENTIAL_TIMEOUT, "credentialTimeout".to_owned()),
        (CREDENTIAL_DENIED, "credentialDenied".to_owned()),
        (LINT_FINDINGS, "lintFindings".to_owned()),
    ];
    codes.extend(
        kubejit_audit::Failure::ALL
            .iter()
            .map(|f| (f.exit_code(), f.as_str().to_owned())),
    );
    codes
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `docs/cli.md`'s table, as (code, name) pairs: rows look like "| 4 | `credentialDenied` | … |".
    fn documented() -> Vec<(u8, String)> {
        include_str!("../../../docs/cli.md")
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
                let code = cells.next()?.parse().ok()?;
                let name = cells.next()?.trim_matches('`').to_owned();
                Some((code, name))
            })
            .collect()
    }

    #[test]
    fn docs_table_lists_every_exit_code_and_only_those() {
        assert_eq!(documented(), all());
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = all().into_iter().map(|(code, _)| code).collect();
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count, "{:?}", all());
    }

    /// The usage code is clap's: if clap ever changed it, the table (and scripts) would be wrong.
    #[test]
    fn usage_errors_exit_with_the_usage_code() {
        for args in [
            &["kubejit", "--no-such-flag"][..],
            &["kubejit", "grant", "-n", "Not_A_Namespace"],
            &[
                "kubejit",
                "audit",
                "report",
                "--user",
                "a",
                "--since",
                "yesterday",
            ],
        ] {
            let error = crate::cli::Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), i32::from(USAGE), "{args:?}");
        }
    }
}
