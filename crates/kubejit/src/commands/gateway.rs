//! `kubejit gateway`: the just-in-time SSH gateway, with `/metrics`, until SIGTERM (then every
//! connected user is told the gateway is going away).

use std::process::ExitCode;

use anyhow::Context as _;
use kubejit_gateway::{Gateway, GatewayConfig, Limits, Metrics};
use tokio_util::sync::CancellationToken;

use crate::cli::GatewayArgs;

pub async fn run(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let config = GatewayConfig {
        listen: args.listen.to_string(),
        host_key: args.host_key,
        host_cert: args.host_cert,
        trusted_ca_files: args.trusted_ca,
        max_cert_lifetime: args.max_cert_lifetime,
        user_groups: user_groups(&args.user_group)?,
        limits: Limits {
            recheck_interval: args.recheck_interval,
            idle_timeout: args.idle_timeout,
            max_session: args.max_session,
            max_sessions_per_user: args.max_sessions_per_user,
            ..Limits::default()
        },
        recordings: args.recording_dir,
        record_input: args.record_input,
        client: args.client.options(),
        port_forward: kubejit_gateway::ForwardOffer::Auto,
    };
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let (audit, guard) = kubejit_kube::open_audit(&args.audit.options()?, client).await?;
    let metrics = Metrics::new();
    let gateway = Gateway::bind(&config, metrics.clone(), audit).await?;
    let http = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("failed to listen on {} for /metrics", args.http_addr))?;
    let shutdown = CancellationToken::new();
    let signals = crate::commands::ShutdownSignals::install();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down: telling connected users");
        trigger.cancel();
    });
    let metrics_task = tokio::spawn(kubejit_gateway::metrics::serve_metrics(
        http,
        metrics,
        shutdown.clone(),
    ));
    tracing::info!(listen = %gateway.local_addr()?, "gateway listening");
    gateway.run(shutdown.clone().cancelled_owned()).await?;
    shutdown.cancel();
    let _ = metrics_task.await;
    // Sessions record their end as they close; give them a moment, then seal the trail.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    if tokio::time::timeout(std::time::Duration::from_secs(5), guard.close())
        .await
        .is_err()
    {
        tracing::warn!(
            "closing the audit trail took too long; its last checkpoint may not be anchored"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `USER=GROUP` pairs into the mapping; a group is validated when a certificate uses it.
fn user_groups(
    pairs: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    for pair in pairs {
        let (user, group) = pair
            .split_once('=')
            .with_context(|| format!("--user-group {pair:?}: expected USER=GROUP"))?;
        kubejit_core::GroupName::parse(group)?;
        out.entry(user.to_owned())
            .or_default()
            .push(group.to_owned());
    }
    Ok(out)
}
