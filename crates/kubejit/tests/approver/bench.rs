//! Approver throughput (issue 12 §1): 2,000 CSRs created by a fast concurrent in-process creator (a
//! kube client, 64 creates in flight), decided by the release-built controller. Two references in the
//! same run: the apiserver's CSR write rate with no kubejit running (the same creator, before the
//! controller starts) and the creator's own rate while the controller decides. Decision latency is
//! create → Approved condition, both from the apiserver audit log. Reports figures; asserts only
//! correctness. Run alone, in release mode:
//! `cargo test --release -p kubejit --test approver -- --ignored --nocapture approver_throughput`
//!
//! `KUBEJIT_BENCH_CSR_RATE=<n>` paces the creator at n creates a second while the controller runs (an
//! offered load: latency below the controller's saturation rate is the time of one decision, not the
//! length of a queue); unset, it creates as fast as it can (the saturation throughput).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fixture::{Csr, setup};

const COUNT: usize = 2_000;
/// Creates in flight at once.
const CREATORS: usize = 64;
const USER: &str = "approver-test-bencher";
const GROUP: &str = "approver-test-benchers";

const CREATOR_RBAC: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: approver-test-bench-csr}\nrules:\n- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [create]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: approver-test-bench-csr}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver-test-bench-csr}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: approver-test-benchers}\n";

#[test]
#[ignore = "benchmark: run explicitly, see the module docs"]
fn approver_throughput() {
    let cp = kubejit_testenv::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(creator(cp));
    let run = std::process::id().to_string();

    // The bench requester may create CSRs before kubejit is installed (RBAC is evaluated either way).
    cp.apply(CREATOR_RBAC).unwrap();
    // Reference: the apiserver's CSR write rate with no kubejit running.
    let reference = docs("ref", &run);
    let took = rt.block_on(create_all(&client, reference, None));
    println!(
        "reference, no kubejit: {COUNT} CSRs created in {took:.2?} ({:.0}/s); load average {}",
        COUNT as f64 / took.as_secs_f64(),
        crate::support::load_average()
    );
    let api: Api<CertificateSigningRequest> = Api::all(admin(cp, &rt));
    let reference_prefix = format!("{}-ref-{run}-", crate::fixture::PREFIX);
    rt.block_on(delete_named(&api, &reference_prefix));
    let (cp, ctl) = setup();
    cp.apply("apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: approver-test-bench}\nspec:\n  requesters: {groups: [approver-test-benchers]}\n  certificateGroups: [approver-test:bench]\n  maxTTL: 30m\n  incident: {required: false}\n  approval: {mode: Auto}\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = crate::support::cpu_seconds(ctl.pid());
    let bench = docs("bench", &run);
    let names: Vec<String> = bench
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let rate = offered_rate();
    let took = rt.block_on(create_all(&client, bench, rate));
    println!(
        "creator with kubejit running ({}): {COUNT} CSRs created in {took:.2?} ({:.0}/s)",
        rate.map_or_else(|| "unpaced".to_owned(), |r| format!("paced at {r}/s")),
        COUNT as f64 / took.as_secs_f64()
    );
    let prefix = format!("{}-bench-{run}-", crate::fixture::PREFIX);
    let approved = rt.block_on(wait_all_decided(&api, &prefix, ctl));
    assert_eq!(approved, COUNT, "every bench CSR is approved");
    let cpu = crate::support::cpu_seconds(ctl.pid()) - cpu_before;
    std::thread::sleep(Duration::from_secs(1));
    report(cp.audit_log(), &names);
    steps(&ctl.metrics());
    println!(
        "controller: {cpu:.2}s CPU ({:.2} ms per decision), peak RSS {} MiB; load average {}",
        cpu * 1e3 / COUNT as f64,
        peak_rss_kib(ctl.pid()) / 1024,
        crate::support::load_average()
    );
}

fn docs(kind: &str, run: &str) -> Vec<Value> {
    let one = Csr::new("bench", USER, "approver-test:bench").to_json();
    (0..COUNT)
        .map(|i| {
            let mut doc = one.clone();
            let name = format!("{}-{kind}-{run}-{i:05}", crate::fixture::PREFIX);
            doc["metadata"]["name"] = Value::String(name);
            doc
        })
        .collect()
}

/// The admin's client impersonating the bench requester, as kubectl's `--as/--as-group` would.
async fn creator(cp: &kubejit_testenv::ControlPlane) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(cp.admin_kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.auth_info.impersonate = Some(USER.to_owned());
    config.auth_info.impersonate_groups = Some(vec![
        GROUP.to_owned(),
        crate::fixture::REQUESTERS.to_owned(),
        "system:authenticated".to_owned(),
    ]);
    kube::Client::try_from(config).unwrap()
}

fn admin(cp: &kubejit_testenv::ControlPlane, rt: &tokio::runtime::Runtime) -> kube::Client {
    rt.block_on(kubejit_kube::build_client(&kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    }))
    .unwrap()
}

/// The offered load, `KUBEJIT_BENCH_CSR_RATE` creates a second; `None`: as fast as possible.
fn offered_rate() -> Option<u32> {
    let rate = std::env::var("KUBEJIT_BENCH_CSR_RATE").ok()?;
    Some(
        rate.parse()
            .expect("KUBEJIT_BENCH_CSR_RATE is a whole number of creates a second"),
    )
}

/// Creates every CSR, at most [`CREATORS`] at once, the i-th no earlier than i / `rate` seconds
/// after the first; the time from the first create to the last answer.
async fn create_all(client: &kube::Client, docs: Vec<Value>, rate: Option<u32>) -> Duration {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let started = Instant::now();
    futures::stream::iter(docs.into_iter().enumerate())
        .map(|(i, doc)| {
            let api = api.clone();
            async move {
                if let Some(rate) = rate {
                    let due = Duration::from_secs_f64(i as f64 / f64::from(rate.max(1)));
                    tokio::time::sleep_until((started + due).into()).await;
                }
                let csr: CertificateSigningRequest = serde_json::from_value(doc).unwrap();
                api.create(&PostParams::default(), &csr).await.map(|_| ())
            }
        })
        .buffer_unordered(CREATORS)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    started.elapsed()
}

/// Deletes every CSR whose name starts with `prefix`, so the controller never sees them.
async fn delete_named(api: &Api<CertificateSigningRequest>, prefix: &str) {
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.starts_with(prefix))
        .collect();
    assert_eq!(names.len(), COUNT, "every reference CSR is listed");
    futures::stream::iter(names)
        .map(|name| {
            let api = api.clone();
            async move {
                api.delete(&name, &DeleteParams::default())
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(CREATORS)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
}

/// Lists (every 500 ms) until every CSR named with `prefix` has a decision; the approved count.
async fn wait_all_decided(
    api: &Api<CertificateSigningRequest>,
    prefix: &str,
    ctl: &crate::support::ControllerProcess,
) -> usize {
    let started = Instant::now();
    let mut seen = (0, 0);
    while started.elapsed() < Duration::from_secs(120) {
        let list = api.list(&ListParams::default()).await.unwrap();
        let ours: Vec<&CertificateSigningRequest> = list
            .items
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        let decided: Vec<&str> = ours
            .iter()
            .filter_map(|c| {
                c.status
                    .as_ref()?
                    .conditions
                    .as_ref()?
                    .iter()
                    .find(|c| c.type_ == "Approved" || c.type_ == "Denied")
                    .map(|c| c.type_.as_str())
            })
            .collect();
        seen = (ours.len(), decided.len());
        if ours.len() == COUNT && decided.len() == COUNT {
            return decided.iter().filter(|t| **t == "Approved").count();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let tail: Vec<String> = ctl
        .log_text()
        .lines()
        .rev()
        .take(30)
        .map(str::to_owned)
        .collect();
    panic!(
        "not all {COUNT} CSRs decided within 120 s (last seen: {} listed, {} decided); controller \
         log tail: {}",
        seen.0,
        seen.1,
        tail.join("\n")
    );
}

/// Decision latency and end-to-end rate from the apiserver audit log: each CSR's create and the
/// controller's approval (ResponseComplete stageTimestamps, one clock).
fn report(audit_log: &std::path::Path, names: &[String]) {
    let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let text = std::fs::read_to_string(audit_log).unwrap();
    let mut created: HashMap<String, OffsetDateTime> = HashMap::new();
    let mut approved: HashMap<String, OffsetDateTime> = HashMap::new();
    // When the apiserver received each approval: splits the latency into the controller's part
    // (watch delivery, queue, decision, audit record) and the apiserver's handling of the update.
    let mut sent: HashMap<String, OffsetDateTime> = HashMap::new();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let name = ev["objectRef"]["name"].as_str().unwrap_or_default();
        if ev["stage"] != "ResponseComplete"
            || !wanted.contains(name)
            || ev["responseStatus"]["code"]
                .as_u64()
                .is_none_or(|c| c >= 300)
        {
            continue;
        }
        let at = OffsetDateTime::parse(ev["stageTimestamp"].as_str().unwrap(), &Rfc3339).unwrap();
        match (ev["verb"].as_str(), ev["objectRef"]["subresource"].as_str()) {
            (Some("create"), None) => {
                created.insert(name.to_owned(), at);
            }
            (Some("update"), Some("approval")) => {
                approved.entry(name.to_owned()).or_insert(at);
                let received = ev["requestReceivedTimestamp"].as_str().unwrap();
                let received = OffsetDateTime::parse(received, &Rfc3339).unwrap();
                sent.entry(name.to_owned()).or_insert(received);
            }
            _ => {}
        }
    }
    let mut lags: Vec<f64> = approved
        .iter()
        .filter_map(|(n, a)| created.get(n).map(|c| (*a - *c).as_seconds_f64()))
        .collect();
    assert_eq!(
        lags.len(),
        COUNT,
        "the audit log has every create and approval"
    );
    lags.sort_by(f64::total_cmp);
    let q = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    let first = created.values().min().unwrap();
    let last = approved.values().max().unwrap();
    let span = (*last - *first).as_seconds_f64();
    println!(
        "decided: {COUNT} in {span:.2}s from the first create to the last approval ({:.0} decided/s end to end)",
        COUNT as f64 / span
    );
    println!(
        "create → Approved condition: median {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        q(0.5) * 1e3,
        q(0.99) * 1e3,
        q(1.0) * 1e3
    );
    let split = |from: &HashMap<String, OffsetDateTime>, to: &HashMap<String, OffsetDateTime>| {
        let mut v: Vec<f64> = to
            .iter()
            .filter_map(|(n, t)| from.get(n).map(|f| (*t - *f).as_seconds_f64() * 1e3))
            .collect();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
        format!("median {:.0} ms, p99 {:.0} ms", at(0.5), at(0.99))
    };
    println!(
        "  of which create → approval received by the apiserver: {}; inside the apiserver: {}",
        split(&created, &sent),
        split(&sent, &approved)
    );
}

/// VmHWM: the process's peak resident set, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Where a decision waits (the off-CPU profile): for each step of `kubejit_approver_decision_step_seconds`
/// the count, the mean and the bucket bound under which 99 % fall. The Event is not a step: it is
/// published off the slot.
fn steps(metrics: &str) {
    for step in ["audit", "approval", "slot"] {
        let label = format!("step=\"{step}\"");
        let value = |suffix: &str| -> Vec<(String, f64)> {
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("kubejit_approver_decision_step_seconds_{suffix}"))
                        && l.contains(&label)
                })
                .filter_map(|l| {
                    let (key, v) = l.rsplit_once(' ')?;
                    Some((key.to_owned(), v.parse().ok()?))
                })
                .collect()
        };
        let count = value("count").first().map_or(0.0, |(_, v)| *v);
        let sum = value("sum").first().map_or(0.0, |(_, v)| *v);
        let p99 = value("bucket")
            .into_iter()
            .find(|(_, v)| *v >= 0.99 * count)
            .and_then(|(key, _)| Some(key.split("le=\"").nth(1)?.split('"').next()?.to_owned()))
            .unwrap_or_default();
        println!(
            "step {step}: {count:.0} observed, mean {:.1} ms, p99 <= {p99} s",
            if count > 0.0 { sum * 1e3 / count } else { 0.0 }
        );
    }
}
