//! Time wins over audit, on the real control plane: with the audit trail refusing every write, an
//! expired grant is still deleted; its `grantExpired` record waits in the spool (with a metric and a
//! Warning Event) and lands in the trail exactly once when the trail takes writes again.
//!
//! The controller runs in-process (the library, as the controller ServiceAccount with deploy/'s RBAC)
//! so the test can switch its audit trail off and on.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use grant_support::{admin_binding, audit_records, binding_exists, namespace_with_role};
use kubejit_audit::{
    AuditError, AuditRecord, AuditSink, Auditor, ChainConfig, ChainedFileSink, FileAnchor,
    Recorded, SigningKey, Spool, Stamped,
};
use kubejit_core::{Clock, SystemClock};
use serde_json::{Value, json};
use support::{eventually, http_get, install_kubejit};
use tokio_util::sync::CancellationToken;

const BOUND: Duration = Duration::from_secs(90);
const EXPIRES_AT: &str = kubejit_core::annotations::EXPIRES_AT;

/// The controller's trail, switched off and on by the test.
struct Switchable {
    trail: Arc<ChainedFileSink>,
    down: AtomicBool,
}

impl AuditSink for Switchable {
    fn record(&self, event: Stamped) -> Result<Recorded, AuditError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AuditError::Write {
                target: "the test's audit trail".to_owned(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC
            });
        }
        self.trail.record(event)
    }

    fn find_recorded(&self, ids: &HashSet<String>) -> Result<HashSet<String>, AuditError> {
        self.trail.find_recorded(ids)
    }
}

fn records(path: &Path, kind: &str, binding: &str) -> Vec<Value> {
    audit_records(path)
        .into_iter()
        .filter(|r| r["kind"] == kind && r["object"]["name"] == binding)
        .collect()
}

fn metric(port: u16, name: &str) -> f64 {
    let text = http_get(port, "/metrics").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn warning_events(cp: &kubejit_testenv::ControlPlane, ns: &str, binding: &str) -> Vec<Value> {
    let out = cp
        .admin(&["get", "events", "-n", ns, "-o", "json"])
        .unwrap();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "AuditRecordDeferred" && e["involvedObject"]["name"] == binding)
        .cloned()
        .collect()
}

#[test]
fn an_expired_grant_is_deleted_while_the_audit_trail_is_down_and_recorded_once_it_is_back() {
    let cp = kubejit_testenv::shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "outage");
    let dir = tempfile::tempdir().unwrap();
    let trail_path = dir.path().join("trail.jsonl");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (trail, _) = ChainedFileSink::open(
        &trail_path,
        SigningKey::from_bytes(&[9; 32]),
        Box::new(FileAnchor::new(
            dir.path().join("anchors.jsonl"),
            "outage".parse().unwrap(),
        )),
        ChainConfig::default(),
        Box::new(SystemClock),
    )
    .unwrap();
    let trail = Arc::new(trail);
    let switchable = Arc::new(Switchable {
        trail: Arc::clone(&trail),
        down: AtomicBool::new(true),
    });
    let spool = Spool::beside(&trail_path);
    let auditor = Arc::new(Auditor::new(
        Arc::clone(&switchable) as Arc<dyn AuditSink>,
        Some(spool.clone()),
        Arc::clone(&clock),
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let shutdown = CancellationToken::new();
    let controller = runtime.spawn({
        let (shutdown, kubeconfig) = (
            shutdown.clone(),
            cp.kubeconfig(kubejit_testenv::CONTROLLER_SA).unwrap(),
        );
        async move {
            let options = kubejit_kube::ClientOptions {
                kubeconfig: Some(kubeconfig),
                context: None,
            };
            let client = kubejit_kube::build_client(&options).await.unwrap();
            let config = kubejit_controller::Config {
                lease_namespace: "kubejit-system".to_owned(),
                lease_name: "audit-outage-test".to_owned(),
                holder_identity: "audit-outage-test".to_owned(),
                lease_duration_secs: 15,
                lease_grace_secs: 5,
                http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                controllers: kubejit_controller::Controllers {
                    approver: false,
                    reaper: true,
                    requests: false,
                },
                keys: kubejit_core::KeyTrust::none(),
                reaper_concurrency: kubejit_controller::reaper::DEFAULT_CONCURRENCY,
            };
            kubejit_controller::run(client, config, auditor, clock, shutdown).await
        }
    });

    // Leading (its lifecycle records are already being spooled), then a grant that expires in a few
    // seconds, made while the trail refuses every write.
    eventually(BOUND, "the controller to lead", || {
        let holder = cp.admin(&[
            "get",
            "lease",
            "-n",
            "kubejit-system",
            "audit-outage-test",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        holder
            .is_ok_and(|out| out.stdout.trim() == "audit-outage-test")
            .then_some(())
    });
    let name = "outage-grant";
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
    let expires_at = kubejit_core::format_expires_at(deadline);
    admin_binding(
        cp,
        &ns,
        name,
        "oncall-payments",
        json!({ EXPIRES_AT: expires_at }),
    );
    eventually(BOUND, "the expired grant to be deleted", || {
        (!binding_exists(cp, &ns, name)).then_some(())
    });

    // Deleted, not recorded in the trail: kept in the spool, counted, and announced.
    assert!(records(&trail_path, "grantExpired", name).is_empty());
    // The record is written after the delete, so it may follow it by a moment.
    let spooled = eventually(BOUND, "the grantExpired record in the spool", || {
        let found: Vec<AuditRecord> = spool
            .read()
            .unwrap()
            .iter()
            .map(|e| e.record().clone())
            .filter(|e| e.kind == kubejit_audit::EventKind::GrantExpired)
            .filter(|e| e.object.as_ref().is_some_and(|o| o.name == name))
            .collect();
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let expired_id = spooled[0].event_id.clone();
    // Counted just after the write; the gauge says what still waits.
    for metric_name in [
        "kubejit_audit_spooled_records_total",
        "kubejit_audit_write_failures_total",
        "kubejit_audit_pending_records",
    ] {
        eventually(BOUND, metric_name, || {
            (metric(port, metric_name) >= 1.0).then_some(())
        });
    }
    eventually(
        BOUND,
        "a Warning Event about the deferred grantExpired record",
        || {
            warning_events(cp, &ns, name)
                .iter()
                .any(|w| {
                    w["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("grantExpired") && m.contains("spool"))
                })
                .then_some(())
        },
    );

    // The trail is back: the record lands there, once, and the spool empties.
    switchable.down.store(false, Ordering::SeqCst);
    eventually(BOUND, "the spool to be replayed into the trail", || {
        let replayed = !records(&trail_path, "grantExpired", name).is_empty();
        (replayed && spool.read().unwrap().is_empty()).then_some(())
    });
    let expired = records(&trail_path, "grantExpired", name);
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["eventId"], expired_id.as_str());
    assert_eq!(expired[0]["expiresAt"], expires_at.as_str());
    // Seen before its deadline or not (that is timing), never recorded twice.
    assert!(records(&trail_path, "grantCreated", name).len() <= 1);
    let ids: Vec<Value> = audit_records(&trail_path)
        .into_iter()
        .filter_map(|r| r.get("eventId").cloned())
        .collect();
    let unique: HashSet<String> = ids.iter().map(Value::to_string).collect();
    assert_eq!(unique.len(), ids.len(), "no record is in the trail twice");
    eventually(BOUND, "the pending gauge to drop to zero", || {
        (metric(port, "kubejit_audit_pending_records") == 0.0).then_some(())
    });
    eventually(BOUND, "replayed records to be counted", || {
        (metric(port, "kubejit_audit_replayed_records_total") >= 1.0).then_some(())
    });

    shutdown.cancel();
    runtime
        .block_on(async { tokio::time::timeout(BOUND, controller).await })
        .expect("the controller stops")
        .unwrap()
        .unwrap();
    trail.seal_now().unwrap();
    let report = kubejit_audit::verify_file(
        &trail_path,
        None,
        &SigningKey::from_bytes(&[9; 32]).verifying_key(),
    )
    .unwrap();
    assert_eq!(report.exit_code(), 0, "{report}");
}
