//! Benchmark (not a test; `#[ignore]`d): 10,000 grants across 100 namespaces expiring over about
//! 60 seconds, reaped by the release-built controller. Reports deletion lag after the deadline
//! (from the apiserver audit log), the controller's peak RSS and its API requests per deletion.
//!
//! cargo test --release -p kubejit --test reaper_bench -- --ignored --nocapture

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, PostParams};
use kubejit_testenv::{CONTROLLER_SA, shared, unique_namespace};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const NAMESPACES: usize = 100;
const GRANTS: usize = 10_000;
const SPREAD: Duration = Duration::from_secs(60);
/// Time allowed for creating every binding before the first deadline.
const SETUP: Duration = Duration::from_secs(150);

#[test]
#[ignore = "benchmark: run explicitly, in release mode"]
fn reap_10k_grants() {
    let cp = shared();
    let ctl = support::start_controller(cp, &["--controllers", "reaper", "--lease-name", "bench"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prefix = unique_namespace("bench");
    let base = OffsetDateTime::now_utc() + SETUP;
    let deadlines = rt.block_on(create_all(cp, &prefix, base));
    let created_at = OffsetDateTime::now_utc();
    eprintln!(
        "created {GRANTS} grants; first deadline in {:.1}s",
        (base - created_at).as_seconds_f64()
    );
    assert!(
        created_at < base,
        "setup overran the first deadline; raise SETUP"
    );

    let started = Instant::now();
    while rt.block_on(remaining(cp)) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "grants not reaped"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", ctl.pid())).unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned();
    std::thread::sleep(Duration::from_secs(2));
    report(cp.audit_log(), &deadlines, &hwm, &ctl.metrics());
}

async fn create_all(
    cp: &kubejit_testenv::ControlPlane,
    prefix: &str,
    base: OffsetDateTime,
) -> HashMap<String, OffsetDateTime> {
    let client = admin_client(cp).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    for i in 0..NAMESPACES {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("{prefix}-{i:02}")}}))
                .unwrap();
        nss.create(&PostParams::default(), &ns).await.unwrap();
    }
    let step = SPREAD.as_secs_f64() / GRANTS as f64;
    let items: Vec<(String, String, OffsetDateTime)> = (0..GRANTS)
        .map(|i| {
            let deadline = (base + Duration::from_secs_f64(step * i as f64))
                .replace_nanosecond(0)
                .unwrap();
            (
                format!("{prefix}-{:02}", i % NAMESPACES),
                format!("jit-bench-{i:05}"),
                deadline,
            )
        })
        .collect();
    futures::stream::iter(items.clone())
        .map(|(ns, name, deadline)| {
            let api: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
            async move {
                let rb: RoleBinding = serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"bench": "reaper"}, "annotations": {
                        "debugging.kubernetes.io/expires-at": kubejit_core::format_expires_at(deadline),
                        "debugging.kubernetes.io/incident": "INC-1"}},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-payments"}],
                }))
                .unwrap();
                api.create(&PostParams::default(), &rb).await.map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    items.into_iter().map(|(_, name, d)| (name, d)).collect()
}

async fn admin_client(cp: &kubejit_testenv::ControlPlane) -> kube::Client {
    kubejit_kube::build_client(&kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    })
    .await
    .unwrap()
}

async fn remaining(cp: &kubejit_testenv::ControlPlane) -> usize {
    let api: Api<RoleBinding> = Api::all(admin_client(cp).await);
    api.list_metadata(&ListParams::default().labels("bench=reaper"))
        .await
        .unwrap()
        .items
        .len()
}

/// Lag from each deletion's ResponseComplete in the apiserver audit log, and every request the
/// controller made while the benchmark ran.
fn report(
    audit_log: &std::path::Path,
    deadlines: &HashMap<String, OffsetDateTime>,
    hwm: &str,
    metrics: &str,
) {
    let text = std::fs::read_to_string(audit_log).unwrap();
    let mut lags = Vec::new();
    let mut requests: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if ev["user"]["username"] != CONTROLLER_SA || ev["stage"] != "ResponseComplete" {
            continue;
        }
        let resource = ev["objectRef"]["resource"].as_str().unwrap_or("-");
        *requests
            .entry(format!("{} {resource}", ev["verb"].as_str().unwrap_or("?")))
            .or_default() += 1;
        let name = ev["objectRef"]["name"].as_str().unwrap_or_default();
        let deleted = ev["verb"] == "delete" && ev["responseStatus"]["code"] == 200;
        if let (true, Some(deadline)) = (deleted, deadlines.get(name)) {
            let done =
                OffsetDateTime::parse(ev["stageTimestamp"].as_str().unwrap(), &Rfc3339).unwrap();
            lags.push((done - *deadline).as_seconds_f64());
        }
    }
    lags.sort_by(f64::total_cmp);
    let q = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    let deletes = lags.len();
    eprintln!("deletions: {deletes}");
    eprintln!(
        "lag after deadline: median {:.3}s p99 {:.3}s max {:.3}s",
        q(0.5),
        q(0.99),
        q(1.0)
    );
    eprintln!("controller peak RSS: {hwm}");
    let total: usize = requests.values().sum();
    eprintln!(
        "controller API requests: {total} ({:.2} per deletion)",
        total as f64 / deletes as f64
    );
    for (what, n) in &requests {
        eprintln!("  {what}: {n}");
    }
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("kubejit_reaper_deletion_lag_seconds"))
    {
        eprintln!("  {line}");
    }
    assert_eq!(deletes, GRANTS, "every grant was deleted by the controller");
}
