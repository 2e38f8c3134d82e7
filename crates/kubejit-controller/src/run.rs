//! Wires the controller process together: identity, permission self-check, metrics, leadership.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kubejit_audit::{AuditEvent, Auditor, Lifecycle};
use kubejit_core::Clock;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::leader::{LeaseConfig, lead};
use crate::notify::{self, Notifier, NotifyConfig};
use crate::{Context, Error, approver, reaper, requests};

/// Which controllers this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Controllers {
    pub approver: bool,
    pub reaper: bool,
    /// The AccessRequest controller.
    pub requests: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub lease_namespace: String,
    pub lease_name: String,
    /// Unique per replica (the pod name in-cluster).
    pub holder_identity: String,
    pub lease_duration_secs: u64,
    pub lease_grace_secs: u64,
    pub http_addr: SocketAddr,
    pub controllers: Controllers,
    /// Vendor roots a CSR's key attestation must chain to under `keys: hardware` (none: such
    /// policies deny every CSR).
    pub keys: kubejit_core::KeyTrust,
    /// Reconciles the reaper runs at once per binding kind (each holds one DELETE in flight and, with
    /// HTTP/1.1, one connection).
    pub reaper_concurrency: u16,
}

/// Runs until `shutdown` is cancelled. Refuses to start (with the missing permissions named) if the
/// identity lacks what the enabled controllers need. Records kept in `audit`'s spool (from an earlier
/// run or an outage) are replayed into its primary sink as soon as it takes them.
pub async fn run(
    client: kube::Client,
    config: Config,
    audit: Arc<Auditor>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let identity = kubejit_kube::whoami(&client).await.map_err(Error::WhoAmI)?;
    let mut needed = Vec::new();
    if config.controllers.approver {
        needed.extend(approver::required_permissions());
    }
    if config.controllers.reaper {
        needed.extend(reaper::required_permissions());
    }
    if config.controllers.requests {
        needed.extend(requests::required_permissions());
        needed.extend(notify::required_permissions());
    }
    needed.extend(kubejit_kube::permissions::lease_permissions(
        &config.lease_namespace,
        &config.lease_name,
    ));
    kubejit_kube::permissions::check(&client, &needed).await?;

    let mut registry = Registry::default();
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            clock,
            audit,
            identity.clone(),
            &mut registry,
        )
        .with_keys(config.keys.clone()),
    );
    // One notifier for the process (its deliveries may outlive a leadership term); stopped only
    // after the controllers drained, so the last phase changes they wrote are still sent.
    let notify_stop = CancellationToken::new();
    let notifier = config.controllers.requests.then(|| {
        Notifier::start(
            client.clone(),
            NotifyConfig::default(),
            notify::Metrics::register(&mut registry),
            notify_stop.clone(),
        )
    });
    let ready = Arc::new(AtomicBool::new(false));
    let http = crate::http::serve(
        config.http_addr,
        Arc::new(registry),
        Arc::clone(&ready),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(%identity, addr = %config.http_addr, "kubejit controller started");
    // Stopped only after the last lifecycle fact, so its final pass covers everything.
    let replay_stop = CancellationToken::new();
    let replaying = tokio::spawn(crate::audit::replay(Arc::clone(&ctx), replay_stop.clone()));
    // Lifecycle facts are recorded in order, off the async workers, by one task.
    let (lifecycle, facts) = tokio::sync::mpsc::unbounded_channel();
    let recording = tokio::spawn(record_lifecycle(Arc::clone(&ctx), facts));
    let _ = lifecycle.send(AuditEvent::ControllerStarted);
    ready.store(true, Ordering::Relaxed);

    let lease = LeaseConfig {
        namespace: config.lease_namespace.clone(),
        name: config.lease_name.clone(),
        identity: config.holder_identity.clone(),
        duration_secs: config.lease_duration_secs,
        grace_secs: config.lease_grace_secs,
    };
    let on_change = |leading: bool| {
        tracing::info!(leading, holder = %config.holder_identity, "leadership changed");
        let _ = lifecycle.send(if leading {
            AuditEvent::LeadershipAcquired
        } else {
            AuditEvent::LeadershipLost
        });
    };
    let controllers = config.controllers;
    let reaper_concurrency = config.reaper_concurrency;
    let work = |term: CancellationToken| {
        let ctx = Arc::clone(&ctx);
        let notifier = notifier.clone();
        async move {
            let approve = async {
                if controllers.approver {
                    approver::run(Arc::clone(&ctx), term.clone()).await;
                }
            };
            let reap = async {
                if controllers.reaper {
                    reaper::run(Arc::clone(&ctx), reaper_concurrency, term.clone()).await;
                }
            };
            let decide = async {
                if let Some(notifier) = notifier {
                    requests::run(Arc::clone(&ctx), notifier, term.clone()).await;
                }
            };
            tokio::join!(approve, reap, decide);
        }
    };
    let led = lead(client, &lease, shutdown.clone(), on_change, work).await;
    shutdown.cancel();
    drop(lifecycle);
    // Each wait is bounded (the whole shutdown is, see shutdown::SHUTDOWN_BOUND): a trail that hangs
    // must not keep the process alive; records not written yet are in the spool or logged.
    let flush = std::time::Duration::from_secs(5);
    // The controllers have drained (lead returned): no phase change can be queued any more. The
    // notifier gets its own bounded drain, alongside the lifecycle flush rather than after it.
    notify_stop.cancel();
    let notified = async {
        if let Some(notifier) = &notifier {
            let bound = NotifyConfig::default().drain + std::time::Duration::from_secs(1);
            if tokio::time::timeout(bound, notifier.stopped())
                .await
                .is_err()
            {
                tracing::warn!(?bound, "the notifier did not stop in time; abandoning it");
            }
        }
    };
    let _ = tokio::join!(tokio::time::timeout(flush, recording), notified);
    replay_stop.cancel();
    let _ = tokio::time::timeout(flush, replaying).await;
    // Graceful shutdown waits for open connections (a scraper's keep-alive); do not let one hold
    // the process up.
    let abort = http.abort_handle();
    if tokio::time::timeout(std::time::Duration::from_secs(2), http)
        .await
        .is_err()
    {
        abort.abort();
    }
    led
}

/// Which lifecycle fact (`AuditEvent::ControllerStarted`, …); the process fills in who.
type LifecycleFact = fn(Lifecycle) -> AuditEvent;

/// Lifecycle facts are worth recording but never block anything: kept and replayed if the trail is
/// down, like every record of something already done.
async fn record_lifecycle(
    ctx: Arc<Context>,
    mut facts: tokio::sync::mpsc::UnboundedReceiver<LifecycleFact>,
) {
    while let Some(kind) = facts.recv().await {
        let fact = Lifecycle {
            controller: ctx.controller_name.clone(),
            identity: ctx.identity.clone(),
        };
        ctx.record_after(kind(fact).at(ctx.clock.now())).await;
    }
}
