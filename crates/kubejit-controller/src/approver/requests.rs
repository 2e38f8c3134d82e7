//! The certificate AccessRequests and their AccessApprovals (reflectors in kubejit-system), read when a
//! Manual CSR is decided; each change re-reconciles the requester's pending CSRs, so an approval
//! takes effect at once. Only read here: request status is the request reconciler's to write.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kubejit_core::request::{CERTIFICATE_REQUEST_NAMESPACE, CandidateRequest};
use kubejit_kube::{AccessApproval, AccessRequest};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Metrics;
use super::facts::is_decided;

/// Which pending CSRs a change concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// A list (re)started: every pending CSR.
    All,
    /// Requests or approvals of this requester changed.
    User(String),
}

/// Read side of the two reflectors.
#[derive(Clone)]
pub struct RequestCache {
    requests: Store<AccessRequest>,
    approvals: Store<AccessApproval>,
}

impl std::fmt::Debug for RequestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCache").finish_non_exhaustive()
    }
}

impl RequestCache {
    /// `username`'s requests that validate, each with the approvals naming its uid. A malformed
    /// request is skipped: it can never approve anything (the reconciler denies it).
    pub fn candidates(&self, username: &str) -> Vec<CandidateRequest> {
        let approvals = self.approvals.state();
        self.requests
            .state()
            .iter()
            .filter(|r| r.spec.requester.username == username)
            .filter(|r| r.metadata.namespace.as_deref() == Some(CERTIFICATE_REQUEST_NAMESPACE))
            .filter_map(|r| {
                let facts = r.facts().ok()?;
                let approvals = approvals
                    .iter()
                    .filter(|a| a.spec.request_uid == facts.uid)
                    .map(|a| a.facts())
                    .collect();
                Some(CandidateRequest {
                    name: r.metadata.name.clone().unwrap_or_default(),
                    recorded: r.recorded(false),
                    facts,
                    approvals,
                })
            })
            .collect()
    }

    /// The requester of the request an approval names, if that request is known.
    fn requester_of(&self, approval: &AccessApproval) -> Option<String> {
        let key = ObjectRef::new(&approval.spec.request).within(CERTIFICATE_REQUEST_NAMESPACE);
        self.requests
            .get(&key)
            .filter(|r| r.metadata.uid.as_deref() == Some(approval.spec.request_uid.as_str()))
            .map(|r| r.spec.requester.username.clone())
    }
}

/// Starts both watches; returns the cache and the stream of changes. The task ends at `term`.
pub fn watch(
    client: &kube::Client,
    metrics: Metrics,
    term: CancellationToken,
) -> (RequestCache, mpsc::UnboundedReceiver<Touched>) {
    let (requests, request_writer) = reflector::store();
    let (approvals, approval_writer) = reflector::store();
    let cache = RequestCache {
        requests,
        approvals,
    };
    let ns = CERTIFICATE_REQUEST_NAMESPACE;
    let request_stream = watcher::watcher(
        Api::<AccessRequest>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(request_writer);
    let approval_stream = watcher::watcher(
        Api::<AccessApproval>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(approval_writer);
    let (tx, rx) = mpsc::unbounded_channel();
    let forwarding = forward(
        cache.clone(),
        request_stream,
        approval_stream,
        tx,
        metrics,
        term,
    );
    tokio::spawn(forwarding.instrument(tracing::info_span!("access_request_watch")));
    (cache, rx)
}

/// Turns watch events (after the cache holds them) into [`Touched`] until `term`.
async fn forward(
    cache: RequestCache,
    requests: impl Stream<Item = Result<WatchEvent<AccessRequest>, watcher::Error>>,
    approvals: impl Stream<Item = Result<WatchEvent<AccessApproval>, watcher::Error>>,
    tx: mpsc::UnboundedSender<Touched>,
    metrics: Metrics,
    term: CancellationToken,
) {
    let mut requests = std::pin::pin!(requests);
    let mut approvals = std::pin::pin!(approvals);
    loop {
        let touched = tokio::select! {
            () = term.cancelled() => return,
            Some(event) = requests.next() => match event {
                Ok(WatchEvent::InitDone) => Some(Touched::All),
                Ok(WatchEvent::Apply(r) | WatchEvent::Delete(r)) => {
                    Some(Touched::User(r.spec.requester.username))
                }
                Ok(WatchEvent::Init | WatchEvent::InitApply(_)) => None,
                Err(error) => watch_failed(&metrics, "request_watch", &error),
            },
            Some(event) = approvals.next() => match event {
                Ok(WatchEvent::InitDone) => Some(Touched::All),
                Ok(WatchEvent::Apply(a) | WatchEvent::Delete(a)) => {
                    cache.requester_of(&a).map(Touched::User)
                }
                Ok(WatchEvent::Init | WatchEvent::InitApply(_)) => None,
                Err(error) => watch_failed(&metrics, "approval_watch", &error),
            },
            else => return,
        };
        if let Some(touched) = touched
            && tx.send(touched).is_err()
        {
            return;
        }
    }
}

fn watch_failed(metrics: &Metrics, label: &'static str, error: &watcher::Error) -> Option<Touched> {
    metrics.error(label);
    tracing::warn!(%error, watch = label, "AccessRequest watch failed; retrying with backoff");
    None
}

/// The pending CSRs each change concerns, from the CSR controller's own cache.
pub fn csrs_to_reconcile(
    touched: mpsc::UnboundedReceiver<Touched>,
    csrs: Store<CertificateSigningRequest>,
) -> impl Stream<Item = ObjectRef<CertificateSigningRequest>> + Send + 'static {
    futures::stream::unfold(
        touched,
        |mut rx| async move { rx.recv().await.map(|t| (t, rx)) },
    )
    .flat_map(move |touched| futures::stream::iter(pending_of(&csrs.state(), &touched)))
}

fn pending_of(
    csrs: &[Arc<CertificateSigningRequest>],
    touched: &Touched,
) -> Vec<ObjectRef<CertificateSigningRequest>> {
    csrs.iter()
        .filter(|csr| !is_decided(csr))
        .filter(|csr| match touched {
            Touched::All => true,
            Touched::User(user) => csr.spec.username.as_deref() == Some(user.as_str()),
        })
        .map(|csr| ObjectRef::from_obj(&**csr))
        .collect()
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn csr(name: &str, user: &str, decided: bool) -> Arc<CertificateSigningRequest> {
        let mut csr = CertificateSigningRequest {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        csr.spec.username = Some(user.to_owned());
        if decided {
            csr.status = Some(
                k8s_openapi::api::certificates::v1::CertificateSigningRequestStatus {
                    conditions: Some(vec![
                        k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition {
                            type_: "Approved".to_owned(),
                            status: "True".to_owned(),
                            ..Default::default()
                        },
                    ]),
                    certificate: None,
                },
            );
        }
        Arc::new(csr)
    }

    #[test]
    fn a_change_reaches_only_the_requesters_pending_csrs() {
        let csrs = [
            csr("carol-1", "carol", false),
            csr("carol-2", "carol", true),
            csr("dave-1", "dave", false),
        ];
        let names = |t: &Touched| -> Vec<String> {
            pending_of(&csrs, t).into_iter().map(|r| r.name).collect()
        };
        assert_eq!(names(&Touched::User("carol".into())), ["carol-1"]);
        assert_eq!(
            names(&Touched::User("mallory".into())),
            Vec::<String>::new()
        );
        assert_eq!(names(&Touched::All), ["carol-1", "dave-1"]);
    }
}
