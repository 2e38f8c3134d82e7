//! The plugin's command line (`kubejit credential` and the thin `kubejit-credential`), defined once so
//! both binaries read arguments and `KUBEJIT_*` variables identically and pick the same cache entry.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kubejit_core::{GroupName, Incident, Reason, Ttl};

use crate::token::Pkcs11Uri;
use crate::{CredentialError, CredentialRequest, read_attestation};

// kubejit's global flags. They live here, not in the binary, because the thin plugin binary must
// accept and refuse exactly what `kubejit credential` does, `-v` and `KUBEJIT_VERBOSE` included.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More diagnostics on stderr (-v, -vv). KUBEJIT_LOG takes a tracing filter for finer control.
    /// As a variable it takes the count: KUBEJIT_VERBOSE=2 is -vv.
    #[arg(short, long, global = true, env = "KUBEJIT_VERBOSE", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

// No `///` on these structs: clap would take it as the command's about text, replacing the
// `kubejit credential` subcommand's own.
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
    #[arg(long, env = "KUBEJIT_KEY", value_parser = Pkcs11UriParser)]
    pub key: Option<Pkcs11Uri>,
    /// With --key: the key's PIV attestation chain, a PEM file holding the slot's attestation
    /// certificate then the device's f9 certificate (`yubico-piv-tool -a attest -s 9a` and
    /// `-a read-certificate -s f9`), sent with the CSR for AccessPolicies with `keys: hardware`.
    #[arg(long, env = "KUBEJIT_KEY_ATTESTATION", requires = "key")]
    pub attestation: Option<PathBuf>,
}

impl CredentialArgs {
    /// The validated request. Reads the attestation file when one is named (only with `--key`).
    pub fn request(&self) -> Result<CredentialRequest, CredentialError> {
        let cache_dir = match &self.cache_dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir().ok_or(CredentialError::NoCacheDir)?,
        };
        Ok(CredentialRequest {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            groups: self.groups.clone(),
            ttl: self.ttl,
            incident: self.incident.clone(),
            reason: self.reason.as_ref().map(Reason::to_string),
            cache_dir,
            timeout: self.timeout,
            key_attestation: self
                .attestation
                .as_deref()
                .map(read_attestation)
                .transpose()?,
        })
    }
}

/// A TTL that a CSR may ask for: at least the API's 10-minute floor.
pub fn parse_certificate_ttl(s: &str) -> Result<Ttl, kubejit_core::TtlError> {
    Ttl::parse(s)?.check_certificate_min()
}

/// $XDG_CACHE_HOME/kubejit/credentials, else ~/.cache/kubejit/credentials.
pub fn default_cache_dir() -> Option<PathBuf> {
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

/// Parses a PKCS#11 URI without quoting it back: clap's usual "invalid value '…'" would print a
/// `pin-value` someone put in the URI, and the refusal exists to keep that PIN out of sight.
#[derive(Debug, Clone, Copy)]
pub struct Pkcs11UriParser;

impl clap::builder::TypedValueParser for Pkcs11UriParser {
    type Value = Pkcs11Uri;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Pkcs11Uri, clap::Error> {
        use clap::error::ErrorKind;
        let name = arg.map(|a| a.get_id().to_string()).unwrap_or_default();
        let refuse = |kind, why: String| {
            clap::Error::raw(kind, format!("invalid PKCS#11 URI for --{name}: {why}\n"))
                .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse(ErrorKind::InvalidUtf8, "not UTF-8".to_owned()))?;
        Pkcs11Uri::parse(text).map_err(|e| refuse(ErrorKind::ValueValidation, e.to_string()))
    }
}
