//! `kubejit-credential`: the exec credential plugin's cache hit in a small executable. Everything
//! else (a miss, a stale entry, `--key`, help, any error) is handed to `kubejit credential`.
//!
//! Why a second binary: a hit is one process start, and the full `kubejit` (31 MiB, every command)
//! spends most of a hit starting up (docs/benchmarks.md, credential plugin). This one links only the
//! shared argument parser and the cache read. It parses with the very clap types `kubejit credential`
//! uses ([`kubejit_credential::args`]), so both pick the same cache entry and refuse the same input;
//! it never prints an error of its own making except when `kubejit` cannot be found.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kubejit_credential::args::{CredentialArgs, GlobalArgs};
use kubejit_credential::{ExecInfo, cached_credential};

/// `kubejit credential`'s arguments with kubejit's global flags, as the full binary sees them.
#[derive(Debug, Parser)]
#[command(name = "kubejit-credential", version)]
struct Cli {
    #[command(flatten)]
    _global: GlobalArgs,
    #[command(flatten)]
    credential: CredentialArgs,
}

/// The names the full binary goes by (`kubectl-jit` when installed as a kubectl plugin only).
const FULL_NAMES: [&str; 2] = ["kubejit", "kubectl-jit"];

fn main() -> ExitCode {
    let Some(json) = cache_hit() else {
        return hand_over();
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{json}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: failed to write the ExecCredential: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The ExecCredential JSON when this invocation is a plain cache hit; `None` for anything else,
/// every error included: the full binary then decides, and words the error, as it always does.
fn cache_hit() -> Option<String> {
    let cli = Cli::try_parse().ok()?;
    if cli.credential.key.is_some() {
        return None;
    }
    let info = ExecInfo::from_env().ok()?;
    let request = cli.credential.request().ok()?;
    cached_credential(&request, &info).ok()??.to_json().ok()
}

/// Replaces this process with `kubejit credential <our arguments>`: same pid, environment and
/// stdin/stdout/stderr, so kubectl cannot tell the difference.
fn hand_over() -> ExitCode {
    let Some(full) = full_binary() else {
        let here = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        eprintln!(
            "error: kubejit-credential answers cache hits only and hands everything else to \
             `kubejit credential`, but found no kubejit in {} or on PATH; install kubejit in the \
             same directory as kubejit-credential",
            here.display()
        );
        return ExitCode::FAILURE;
    };
    let error = std::process::Command::new(&full)
        .arg("credential")
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!(
        "error: failed to run {} credential: {error}",
        full.display()
    );
    ExitCode::FAILURE
}

/// `kubejit` beside this executable first (the two are installed together), then on PATH. Relative
/// and empty PATH entries are skipped: they name the current directory, which is not an install.
fn full_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside
        .into_iter()
        .chain(std::env::split_paths(&path).filter(|dir| dir.is_absolute()))
        .flat_map(|dir| FULL_NAMES.map(|name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
