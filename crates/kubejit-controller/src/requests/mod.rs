//! The request controller: acts on AccessRequests by policy (docs/requests.md).
//!
//! Watches AccessRequests, the AccessApprovals that name them, the AccessPolicies (a change
//! re-checks every request) and the RoleBindings it owns. Each request is decided by the pure
//! `kubejit_core::request::decide_request`, then, in this order:
//!
//! 1. a finalizer is put on the request before anything can be granted (so a withdrawal is seen);
//! 2. the verdict is written to `status`, conditional on the resourceVersion that was decided on,
//!    so `approvedAt` is on record before any access exists;
//! 3. the facts that status makes true are recorded (below); `accessApproved` gates the grant like
//!    a certificate approval (no record in the primary sink, no access);
//! 4. the action: create the request's RoleBinding (owned by the request, deterministic name,
//!    adopted after a crash only if this request owns it), or delete it with a uid precondition;
//!    certificate requests only move through the states here, the CSR approver acts on them;
//! 5. requeue at the next deadline (approval timeout or expiry). The reaper deletes the binding at
//!    its `expires-at`, and the request goes `Expired`.
//!
//! An ended request releases its finalizer once its facts are recorded and its access is gone; an
//! ended request without it is done and not looked at again (so a restart does not search the trail
//! for every request that ever ended).
//!
//! **Each fact is recorded exactly once across restarts.** Which facts are due is derived from the
//! status the controller wrote, never from memory: any phase → `accessRequested`; an `approvedAt` →
//! `accessApproved`; a terminal phase → `accessDenied`/`accessWithdrawn`/`accessTimedOut`/
//! `accessRevoked` (an `Expired` request's end is the reaper's `grantExpired`); a RoleBinding created
//! → `grantCreated`. Each carries an event id derived from the request's uid and the fact, and is
//! written only if the trail does not hold that id yet. A crash after the status write and before
//! the record: the restarted controller reads the status, finds the id missing and writes it. A crash
//! after the record: it finds the id and writes nothing. A record kept in the spool and written again
//! meanwhile is dropped by the replay, which skips ids the trail holds. (A sink that cannot look
//! ids up, such as stdout, may repeat a fact after a restart; it never loses one.)
//!
//! Notifications attach at [`notice::phase_changed`], called once per written phase change.

mod act;
mod error;
mod metrics;
mod notice;
mod reconcile;
mod record;
mod shared;
mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller, Error as ControllerError};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kubejit_kube::policy::{self, AccessPolicyResource};
use kubejit_kube::request::{AccessApproval, AccessRequest};
use kubejit_kube::{Needed, keys};
use tokio_util::sync::CancellationToken;

pub use act::{FINALIZER, binding_name};
pub use error::Error;
pub use metrics::Metrics;

use shared::Requests;

const CONCURRENCY: u16 = 16;

/// What the request controller needs from RBAC (mirrors deploy/rbac/controller.yaml).
pub fn required_permissions() -> Vec<Needed> {
    let group = policy::GROUP;
    let mut needed = Vec::new();
    for verb in ["get", "list", "watch", "update", "patch"] {
        needed.push(Needed::cluster(verb, group, "accessrequests"));
    }
    needed.push(Needed::cluster("update", group, "accessrequests").subresource("status"));
    for verb in ["list", "watch"] {
        needed.push(Needed::cluster(verb, group, "accessapprovals"));
        needed.push(Needed::cluster(verb, group, policy::PLURAL));
    }
    let rbac = "rbac.authorization.k8s.io";
    for verb in ["get", "list", "watch", "create", "delete"] {
        needed.push(Needed::cluster(verb, rbac, "rolebindings"));
    }
    needed.push(Needed::cluster("bind", rbac, "clusterroles").named("oncall-debug"));
    needed.push(Needed::cluster("create", "events.k8s.io", "events"));
    needed.push(Needed::cluster("patch", "events.k8s.io", "events"));
    needed
}

/// Runs until `term` is cancelled, then lets in-flight reconciles finish their writes and returns.
pub async fn run(ctx: Arc<crate::Context>, term: CancellationToken) {
    let reporter = Reporter {
        controller: ctx.controller_name.clone(),
        instance: None,
    };
    let recorder = Recorder::new(ctx.client.clone(), reporter);
    let (policies, policy_writer) = reflector::store::<AccessPolicyResource>();
    let policy_changes = reflector::reflector(
        policy_writer,
        watcher(
            Api::<AccessPolicyResource>::all(ctx.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff(),
    )
    .touched_objects()
    .filter_map(|event| std::future::ready(event.ok().map(|_| ())));
    let (approvals, approval_writer) = reflector::store::<AccessApproval>();
    let approval_changes = reflector::reflector(
        approval_writer,
        watcher(
            Api::<AccessApproval>::all(ctx.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff(),
    )
    .touched_objects()
    .map_ok(|approval: AccessApproval| {
        let namespace = approval.metadata.namespace.clone().unwrap_or_default();
        ObjectRef::<AccessRequest>::new(&approval.spec.request).within(&namespace)
    });
    let requests = Api::<AccessRequest>::all(ctx.client.clone());
    let bindings = Api::<RoleBinding>::all(ctx.client.clone());
    let managed = format!("{}={}", keys::MANAGED_BY, keys::MANAGER);
    let metrics = ctx.requests.clone();
    let r = Arc::new(Requests::new(ctx, recorder, policies, approvals));
    let controller = Controller::new(requests, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
        .owns(bindings, watcher::Config::default().labels(&managed))
        .reconcile_on(approval_changes.filter_map(|e| std::future::ready(e.ok())))
        .reconcile_all_on(policy_changes)
        .graceful_shutdown_on(term.clone().cancelled_owned());
    let store = controller.store();
    tracing::info!("AccessRequest controller started");
    let work = controller
        .run(reconcile::reconcile, reconcile::error_policy, r)
        .for_each(|result| {
            if let Err(ControllerError::QueueError(error)) = result {
                metrics.error("request_watch");
                tracing::warn!(%error, "AccessRequest watch failed; retrying with backoff");
            }
            std::future::ready(())
        });
    crate::shutdown::drain("requests", &term, &store, work).await;
    tracing::info!("AccessRequest controller stopped");
}
