//! `kubejit proxy`: lets kubectl use a certificate whose key stays in a PKCS#11 token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use kubejit_core::Reason;
use kubejit_credential::CredentialRequest;
use kubejit_credential::proxy::{ProxyOptions, run as run_proxy};

use crate::commands::credential::{CredentialArgs, default_cache_dir};

#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub credential: CredentialArgs,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, env = "KUBEJIT_PROXY_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig kubectl uses to reach the proxy (mode 0600; it holds the local
    /// client key, which is what keeps other local users out).
    #[arg(
        long,
        env = "KUBEJIT_PROXY_KUBECONFIG",
        required_unless_present = "state_dir"
    )]
    pub write_kubeconfig: Option<PathBuf>,
    /// Private directory for the local CA and client certificate/key as files (what
    /// `kubejit kubeconfig add-user --pkcs11` points kubectl at).
    #[arg(long, env = "KUBEJIT_PROXY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Also renew the certificate this often (e.g. 5m), not only shortly before it expires.
    #[arg(long, env = "KUBEJIT_PROXY_RENEW_EVERY", value_parser = humantime::parse_duration)]
    pub renew_every: Option<std::time::Duration>,
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let c = &args.credential;
    let uri = c
        .key
        .as_ref()
        .context("--key pkcs11:… is required: the proxy exists for keys kubectl cannot read")?;
    anyhow::ensure!(
        args.renew_every
            .is_none_or(|every| every >= std::time::Duration::from_secs(1)),
        "--renew-every must be at least 1s"
    );
    let key = Arc::new(uri.open_key()?);
    let request = CredentialRequest {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
        groups: c.groups.clone(),
        ttl: c.ttl,
        incident: c.incident.clone(),
        reason: c.reason.as_ref().map(Reason::to_string),
        cache_dir: c
            .cache_dir
            .clone()
            .or_else(default_cache_dir)
            .unwrap_or_default(),
        timeout: c.timeout,
        key_attestation: c
            .attestation
            .as_deref()
            .map(kubejit_credential::read_attestation)
            .transpose()?,
    };
    let options = ProxyOptions {
        request,
        listen: args.listen,
        kubeconfig_out: args.write_kubeconfig.clone(),
        state_dir: args.state_dir.clone(),
        renew_every: args.renew_every,
    };
    let ready = |bound: SocketAddr| println!("kubejit proxy listening on https://{bound}");
    let signals = crate::commands::ShutdownSignals::install();
    run_proxy(options, key, ready, signals.wait()).await?;
    Ok(ExitCode::SUCCESS)
}
