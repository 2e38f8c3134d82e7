//! The CSR approval controller: approves or denies `kubernetes.io/kube-apiserver-client` CSRs by policy.
//!
//! Watches only that signer's CSRs (field selector, re-checked in code), the AccessPolicies and the
//! certificate AccessRequests with their AccessApprovals. Each pending CSR is decided by the pure
//! `kubejit_core::decide`; a Manual policy's CSR is approved only under an approved AccessRequest of
//! its requester (`manual`). The decision is audited (blocking), then
//! written through the approval subresource with the resourceVersion that was evaluated, then
//! published as an Event off the reconcile's slot (`events`). Any error leaves the CSR undecided and retries it with backoff. Once the
//! signer issues a certificate for a CSR kubejit approved, the certificate is checked against the
//! approval (`issued`).

mod error;
mod events;
mod facts;
mod issued;
mod manual;
mod metrics;
mod outcome;
mod policies;
mod reconcile;
mod requests;
mod shared;
mod write;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller, Error as ControllerError};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kubejit_core::KUBE_APISERVER_CLIENT_SIGNER;
use kubejit_kube::{Needed, policy};
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use issued::MISMATCH_REASON;
pub use metrics::Metrics;
pub use outcome::{APPROVED_REASON, PENDING_REASON};

use shared::Approver;

/// Reconciles in flight at once: enough to keep the apiserver busy, bounded so a burst of CSRs does
/// not become a burst of memory. 128 was measured and decided fewer CSRs a second on the 2-core dev
/// VM (161–242/s against 283/s at 32; docs/benchmarks.md), so 32 stays.
const CONCURRENCY: u16 = 32;

/// What the approver needs from RBAC (mirrors deploy/rbac/controller.yaml).
pub fn required_permissions() -> Vec<Needed> {
    let certs = "certificates.k8s.io";
    vec![
        Needed::cluster("list", certs, "certificatesigningrequests"),
        Needed::cluster("watch", certs, "certificatesigningrequests"),
        Needed::cluster("update", certs, "certificatesigningrequests").subresource("approval"),
        Needed::cluster("approve", certs, "signers").named(KUBE_APISERVER_CLIENT_SIGNER),
        Needed::cluster("list", policy::GROUP, policy::PLURAL),
        Needed::cluster("watch", policy::GROUP, policy::PLURAL),
        Needed::cluster("list", policy::GROUP, "accessrequests"),
        Needed::cluster("watch", policy::GROUP, "accessrequests"),
        Needed::cluster("list", policy::GROUP, "accessapprovals"),
        Needed::cluster("watch", policy::GROUP, "accessapprovals"),
        Needed::cluster("create", "events.k8s.io", "events"),
        Needed::cluster("patch", "events.k8s.io", "events"),
    ]
}

/// Runs until `term` is cancelled, then lets in-flight reconciles finish their writes and returns.
pub async fn run(ctx: Arc<crate::Context>, term: CancellationToken) {
    let reporter = Reporter {
        controller: ctx.controller_name.clone(),
        instance: None,
    };
    let recorder = Recorder::new(ctx.client.clone(), reporter);
    let (tx, mut rx) = tokio::sync::watch::channel(None);
    let watcher_task = tokio::spawn(policies::watch_policies(
        ctx.client.clone(),
        recorder.clone(),
        ctx.approver.clone(),
        tx,
        term.clone(),
    ));
    // Manual CSRs are approved from AccessRequests; a change re-decides the requester's CSRs.
    let (request_cache, touched) = requests::watch(&ctx.client, ctx.approver.clone(), term.clone());
    // Deciding before the policies are loaded would deny everything for want of a policy.
    if policies::loaded(&mut rx, &term).await.is_some() {
        let app = Arc::new(Approver::new(ctx, recorder, rx.clone(), request_cache));
        decide_until(app, policies::changes(rx), touched, term).await;
    }
    if let Err(error) = watcher_task.await {
        tracing::warn!(%error, "AccessPolicy watcher task failed");
    }
}

async fn decide_until(
    app: Arc<Approver>,
    policy_changes: impl futures::Stream<Item = ()> + Send + 'static,
    touched: tokio::sync::mpsc::UnboundedReceiver<requests::Touched>,
    term: CancellationToken,
) {
    // Only kubejit's signer is even listed; reconcile checks the signer again.
    let config = watcher::Config::default()
        .fields(&format!("spec.signerName={KUBE_APISERVER_CLIENT_SIGNER}"));
    let api = Api::<CertificateSigningRequest>::all(app.ctx.client.clone());
    let metrics = app.ctx.approver.clone();
    tracing::info!("CSR approver started");
    let controller = Controller::new(api, config);
    let request_changes = requests::csrs_to_reconcile(touched, controller.store());
    let controller = controller
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
        .reconcile_all_on(policy_changes)
        .reconcile_on(request_changes)
        .graceful_shutdown_on(term.clone().cancelled_owned());
    let store = controller.store();
    let work = controller
        .run(reconcile::reconcile, reconcile::error_policy, app)
        .for_each(|result| {
            if let Err(ControllerError::QueueError(error)) = result {
                metrics.error("csr_watch");
                tracing::warn!(%error, "CSR watch failed; retrying with backoff");
            }
            std::future::ready(())
        });
    crate::shutdown::drain("approver", &term, &store, work).await;
    tracing::info!("CSR approver stopped");
}
