//! `kubejit credential`: the kubectl exec credential plugin. Runs before the async runtime exists so
//! that a cache hit costs a file read, not a runtime start.

use std::io::Write;
use std::process::ExitCode;

pub use kubejit_credential::args::{CredentialArgs, default_cache_dir};
use kubejit_credential::{CredentialError, ExecInfo, get_credential, get_token_certificate};

use crate::exit;

/// Prints the ExecCredential on stdout (and nothing else there); errors go to stderr with an exit code.
pub fn run(args: &CredentialArgs) -> ExitCode {
    match credential(args) {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{json}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::from(exit::SUCCESS),
                Err(e) => report(
                    &anyhow::anyhow!(e).context("failed to write the ExecCredential"),
                    ExitCode::from(exit::FAILURE),
                ),
            }
        }
        Err(error) => {
            let code = match &error {
                CredentialError::Denied { .. } => ExitCode::from(exit::CREDENTIAL_DENIED),
                CredentialError::Timeout { .. } | CredentialError::LockTimeout { .. } => {
                    ExitCode::from(exit::CREDENTIAL_TIMEOUT)
                }
                _ => ExitCode::from(exit::FAILURE),
            };
            report(&anyhow::Error::new(error), code)
        }
    }
}

fn report(error: &anyhow::Error, code: ExitCode) -> ExitCode {
    eprintln!("error: {error:#}");
    code
}

fn credential(args: &CredentialArgs) -> Result<String, CredentialError> {
    let info = ExecInfo::from_env()?;
    let request = args.request()?;
    match &args.key {
        None => get_credential(&request, &info)?.to_json(),
        Some(uri) => {
            let key = uri.open_key()?;
            let issued = get_token_certificate(&request, &key, &info)?;
            Ok(issued.certificate_pem.trim_end().to_owned())
        }
    }
}
