//! The grant reaper as a library (`reaper::run` with a `Context` built here), on the real control
//! plane, with the time injected: a binding one second before its deadline is kept, one at its
//! deadline and one a second past it are deleted, and the kept one goes the moment the clock reaches
//! its deadline. No binary, no waiting for real deadlines.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kubejit_audit::{AuditError, AuditRecord, AuditSink, Auditor, EventKind, Recorded, Stamped};
use kubejit_core::{Clock, ManualClock};
use kubejit_kube::{ClientOptions, build_client, keys};
use kubejit_testenv::{shared, unique_namespace};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio_util::sync::CancellationToken;

const DEADLINE: OffsetDateTime = datetime!(2030-01-02 15:04:05 UTC);

/// Keeps every record in memory: the test reads what the reaper decided from its audit records.
#[derive(Default)]
struct MemorySink(Mutex<Vec<AuditRecord>>);

impl AuditSink for MemorySink {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        let mut records = self.0.lock().unwrap();
        records.push(event.record().clone());
        Ok(Recorded {
            sequence: records.len() as u64,
            event_id: event.event_id().to_owned(),
            hash: None,
            checkpoint: None,
        })
    }
}

impl MemorySink {
    /// The first record about binding `name` in `ns`.
    fn first_about(&self, ns: &str, name: &str) -> Option<AuditRecord> {
        self.about(ns, name).into_iter().next()
    }

    fn about(&self, ns: &str, name: &str) -> Vec<AuditRecord> {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter(|r| {
                r.object
                    .as_ref()
                    .is_some_and(|o| o.name == name && o.namespace.as_deref() == Some(ns))
            })
            .cloned()
            .collect()
    }
}

fn binding(ns: &str, name: &str, expires_at: OffsetDateTime) -> String {
    let value = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": name, "namespace": ns,
                      "annotations": { keys::INCIDENT: "INC-1", keys::EXPIRES_AT: value } },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-payments" }],
    })
    .to_string()
}

/// Polls `f` until it yields; the bound only stops a hang, it measures nothing.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let guard = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < guard, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bindings_expire_exactly_at_the_injected_deadline() {
    let cp = shared();
    let ns = unique_namespace("reaper-clock");
    cp.create_namespace(&ns).unwrap();
    let second = time::Duration::seconds(1);
    // The clock stands at DEADLINE: `early` is one second before its deadline, `due` at it, `late` past it.
    cp.apply(&binding(&ns, "early", DEADLINE + second)).unwrap();
    cp.apply(&binding(&ns, "due", DEADLINE)).unwrap();
    cp.apply(&binding(&ns, "late", DEADLINE - second)).unwrap();
    let client = build_client(&ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    })
    .await
    .unwrap();

    let clock = ManualClock::at(DEADLINE);
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let sink = Arc::new(MemorySink::default());
    let auditor = Arc::new(Auditor::new(sink.clone(), None, shared_clock.clone()));
    let mut registry = prometheus_client::registry::Registry::default();
    let ctx = kubejit_controller::Context::new(
        client.clone(),
        shared_clock,
        auditor,
        "kubejit-test".to_owned(),
        &mut registry,
    );
    let term = CancellationToken::new();
    let reaper = tokio::spawn(kubejit_controller::reaper::run(
        Arc::new(ctx),
        kubejit_controller::reaper::DEFAULT_CONCURRENCY,
        term.clone(),
    ));

    // What the reaper decided first about each binding, with the clock at DEADLINE.
    let first = |name: &'static str| {
        let sink = Arc::clone(&sink);
        let ns = ns.clone();
        async move { eventually(name, || sink.first_about(&ns, name)).await }
    };
    let early = first("early").await;
    // An admin's binding (no AccessRequest owns it): seen as a foreign grant, not yet expired.
    assert_eq!(early.kind, EventKind::ForeignGrant, "{early:?}");
    for name in ["due", "late"] {
        let record = first(name).await;
        assert_eq!(record.kind, EventKind::GrantExpired, "{name}: {record:?}");
        assert_eq!(
            record.time.get(),
            DEADLINE,
            "{name}: recorded at the clock's time"
        );
    }
    let bindings: Api<RoleBinding> = Api::namespaced(client, &ns);
    let names = |list: kube::core::ObjectList<RoleBinding>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|b| b.metadata.name)
            .collect()
    };
    let left = names(bindings.list(&Default::default()).await.unwrap());
    assert_eq!(
        left,
        ["early"],
        "one second before its deadline, a binding stays"
    );

    // The clock reaches `early`'s deadline: the reaper's requeue finds it due and deletes it.
    clock.advance(1);
    let expired = eventually("early expires", || {
        sink.about(&ns, "early")
            .into_iter()
            .find(|r| r.kind == EventKind::GrantExpired)
    })
    .await;
    assert_eq!(expired.time.get(), DEADLINE + second);
    let left = names(bindings.list(&Default::default()).await.unwrap());
    assert!(left.is_empty(), "{left:?}");

    term.cancel();
    reaper.await.unwrap();
}
