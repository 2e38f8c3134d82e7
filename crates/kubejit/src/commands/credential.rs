//! `kubejit credential`: the kubectl exec credential plugin. Runs before the async runtime exists so
//! that a cache hit costs a file read, not a runtime start.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use kubejit_core::{GroupName, Incident, Reason, Ttl};
use kubejit_credential::token::Pkcs11Uri;
use kubejit_credential::{
    CredentialError, CredentialRequest, ExecInfo, get_credential, get_token_certificate,
    read_attestation,
};

use crate::exit;

#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Kubeconfig holding the asking context (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "KUBEJIT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The asking context: your everyday identity, which may only request certificates (default: current).
    #[arg(long, env = "KUBEJIT_CONTEXT")]
    pub context: Option<String>,
    /// Group the certificate should carry (repeat for several). `system:` groups are refused.
    #[arg(short, long = "group", env = "KUBEJIT_GROUP", value_delimiter = ',', value_parser = GroupName::parse)]
    pub groups: Vec<GroupName>,
    /// Certificate lifetime, at least 10m (the Kubernetes CSR floor).
    #[arg(long, env = "KUBEJIT_TTL", default_value = "15m", value_parser = parse_certificate_ttl)]
    pub ttl: Ttl,
    /// Incident reference recorded on the request (e.g. INC-12345).
    #[arg(long, env = "KUBEJIT_INCIDENT", value_parser = Incident::parse)]
    pub incident: Option<Incident>,
    /// Why you need access, recorded on the request for approvers and the audit trail.
    #[arg(long, env = "KUBEJIT_REASON", value_parser = Reason::parse)]
    pub reason: Option<Reason>,
    /// Where keys and certificates are cached (default: $XDG_CACHE_HOME/kubejit/credentials).
    #[arg(long, env = "KUBEJIT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// How long to wait for a decision (and for a concurrent invocation) before giving up.
    #[arg(long, env = "KUBEJIT_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Sign with a key held in a PKCS#11 token (RFC 7512 URI, see `kubejit keys generate`) instead of
    /// a fresh local key. kubectl cannot use a key it cannot read, so this prints the issued
    /// certificate (PEM), not an ExecCredential, and caches nothing.
    #[arg(long, env = "KUBEJIT_KEY", value_parser = crate::commands::keys::Pkcs11UriParser)]
    pub key: Option<Pkcs11Uri>,
    /// With --key: the key's PIV attestation chain, a PEM file holding the slot's attestation
    /// certificate then the device's f9 certificate (`yubico-piv-tool -a attest -s 9a` and
    /// `-a read-certificate -s f9`), sent with the CSR for AccessPolicies with `keys: hardware`.
    #[arg(long, env = "KUBEJIT_KEY_ATTESTATION", requires = "key")]
    pub attestation: Option<PathBuf>,
}

pub(crate) fn parse_certificate_ttl(s: &str) -> Result<Ttl, kubejit_core::TtlError> {
    Ttl::parse(s)?.check_certificate_min()
}

/// $XDG_CACHE_HOME/kubejit/credentials, else ~/.cache/kubejit/credentials.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("kubejit").join("credentials"))
}

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
    let cache_dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache_dir().ok_or(CredentialError::NoCacheDir)?,
    };
    let request = CredentialRequest {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        groups: args.groups.clone(),
        ttl: args.ttl,
        incident: args.incident.clone(),
        reason: args.reason.as_ref().map(Reason::to_string),
        cache_dir,
        timeout: args.timeout,
        key_attestation: args
            .attestation
            .as_deref()
            .map(read_attestation)
            .transpose()?,
    };
    match &args.key {
        None => get_credential(&request, &info)?.to_json(),
        Some(uri) => {
            let key = uri.open_key()?;
            let issued = get_token_certificate(&request, &key, &info)?;
            Ok(issued.certificate_pem.trim_end().to_owned())
        }
    }
}
