//! `kubejit controller`: builds the client and audit sink, then runs the controllers until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use kubejit_controller::{Config, Controllers};
use kubejit_core::{Clock, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::cli::{ControllerArgs, ControllerName};

/// Flushing the audit trail (file fsync, checkpoint anchor write) after the controllers stopped.
const AUDIT_CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn run(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    let mut audit_args = args.audit.clone();
    if audit_args.audit_log.is_some() && audit_args.audit_trail.is_none() {
        // The controller's trail is always anchored in the cluster, under a name the operator chose
        // and that survives restarts: a name made up per process would let a truncated file restart
        // as a "new" trail unnoticed.
        let from_identity = args.holder_identity.as_deref().map(str::parse).transpose();
        audit_args.audit_trail = from_identity
            .context("--holder-identity is not a valid trail name: give --audit-trail")?;
        anyhow::ensure!(
            audit_args.audit_trail.is_some(),
            "--audit-log needs --audit-trail NAME (or --holder-identity): a name per replica, stable \
             across restarts (e.g. the StatefulSet pod name), under which its checkpoints are anchored"
        );
    }
    let keys = attestation_roots(args.attestation_roots.as_deref())?;
    // HTTP/2: the controller never upgrades a connection, and one multiplexed connection replaces one
    // per reconcile in flight (docs/benchmarks.md, round h-reaper-3).
    let client = if args.disable_http2 {
        kubejit_kube::build_client(&args.client.options()).await?
    } else {
        kubejit_kube::build_controller_client(&args.client.options()).await?
    };
    let (audit, guard) = kubejit_kube::open_audit(&audit_args.options()?, client.clone()).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let holder = args
        .holder_identity
        .clone()
        .unwrap_or_else(default_identity);
    let config = Config {
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        holder_identity: holder,
        lease_duration_secs: args.lease_duration.as_secs().max(2),
        lease_grace_secs: (args.lease_duration.as_secs() / 3).max(1),
        http_addr: args.http_addr,
        controllers: Controllers {
            approver: args.controllers.contains(&ControllerName::Approver),
            reaper: args.controllers.contains(&ControllerName::Reaper),
            requests: args.controllers.contains(&ControllerName::Requests),
        },
        keys,
        reaper_concurrency: args.reaper_concurrency,
    };
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    // Registered here, not inside the task: a SIGTERM before the task first runs is still caught.
    let signals = crate::commands::ShutdownSignals::install();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down: finishing in-flight work and releasing the leader lease");
        trigger.cancel();
    });
    let bound = kubejit_controller::shutdown::SHUTDOWN_BOUND;
    let run = kubejit_controller::run(client, config, audit, clock, shutdown.clone());
    // Shutdown is bounded from any state, including start-up calls to an unreachable apiserver:
    // after SIGTERM the process exits within SHUTDOWN_BOUND whatever is still pending.
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(bound).await;
    };
    let ran = tokio::select! {
        ran = run => ran,
        () = deadline => {
            tracing::warn!(?bound, "shutdown did not finish in time; exiting anyway");
            Ok(())
        }
    };
    // The audit flush anchors the last checkpoint in the cluster; it gets a bound of its own.
    if tokio::time::timeout(AUDIT_CLOSE_BOUND, guard.close())
        .await
        .is_err()
    {
        tracing::warn!(bound = ?AUDIT_CLOSE_BOUND, "closing the audit trail took too long; its last checkpoint may not be anchored");
    }
    ran.context("controller failed")?;
    Ok(ExitCode::SUCCESS)
}

fn default_identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// The vendor roots for `keys: hardware`, read once: a bundle that cannot be used stops the start
/// (a controller that silently trusts no root would deny every hardware key without saying why).
fn attestation_roots(path: Option<&std::path::Path>) -> anyhow::Result<kubejit_core::KeyTrust> {
    let Some(path) = path else {
        return Ok(kubejit_core::KeyTrust::none());
    };
    let bundle = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read --attestation-roots {}", path.display()))?;
    let keys = kubejit_core::KeyTrust::from_pem(&bundle)
        .with_context(|| format!("--attestation-roots {} is not usable", path.display()))?;
    tracing::info!(
        roots = keys.roots().len(),
        "hardware key attestation roots loaded"
    );
    Ok(keys)
}
