//! Approver throughput (issue 3 §6): 500 CSRs created at once, time until all are decided. Reports
//! figures; asserts only correctness. Run alone, in release mode:
//! `cargo test --release -p kubejit --test approver -- --ignored --nocapture approver_throughput`

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::{Csr, setup};

const COUNT: usize = 500;
const WORKERS: usize = 16;

#[test]
#[ignore = "benchmark: run explicitly, see the module docs"]
fn approver_throughput() {
    let (cp, ctl) = setup();
    cp.apply("apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {name: approver-test-bench}\nspec:\n  requesters: {groups: [approver-test-benchers]}\n  certificateGroups: [approver-test:bench]\n  maxTTL: 30m\n  incident: {required: false}\n  approval: {mode: Auto}\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let user = "approver-test-bencher";
    let label = format!("{}-bench-{}-", crate::fixture::PREFIX, std::process::id());
    let docs: Vec<Value> = (0..COUNT)
        .map(|_| {
            let mut doc = Csr::new("bench", user, "approver-test:bench").to_json();
            doc["metadata"]["labels"] =
                serde_json::json!({"approver-test-bench": std::process::id().to_string()});
            doc
        })
        .collect();
    // WORKERS kubectl processes, each creating its share from one List: creation is as concurrent
    // as the apiserver allows.
    let started = Instant::now();
    std::thread::scope(|s| {
        for chunk in docs.chunks(COUNT.div_ceil(WORKERS)) {
            s.spawn(move || {
                let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": chunk});
                let file = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(file.path(), list.to_string()).unwrap();
                let path = file.path().to_str().unwrap();
                let out = cp
                    .admin(&[
                        "create",
                        "-f",
                        path,
                        "--as",
                        user,
                        "--as-group",
                        "approver-test-benchers",
                        "--as-group",
                        crate::fixture::REQUESTERS,
                        "-o",
                        "name",
                    ])
                    .unwrap();
                assert!(out.success, "{}", out.stderr);
            });
        }
    });
    let created = started.elapsed();
    let (decided, approved) = wait_all_decided(cp, &label, ctl);
    let total = started.elapsed();
    assert_eq!(approved, COUNT, "every bench CSR is approved");
    let rss = peak_rss_kib(ctl.pid());
    println!(
        "approver benchmark: {COUNT} CSRs created in {created:.2?}; all decided {total:.2?} after the first create \
         ({:.0} decisions/s end to end; last decision seen {decided:.2?}); controller peak RSS {} MiB",
        COUNT as f64 / total.as_secs_f64(),
        rss / 1024
    );
}

/// Polls (admin list) until every labelled CSR has a decision; (elapsed, approved count).
fn wait_all_decided(
    cp: &kubejit_testenv::ControlPlane,
    label: &str,
    ctl: &crate::support::ControllerProcess,
) -> (Duration, usize) {
    let start = Instant::now();
    let done = crate::support::poll(Duration::from_secs(60), || {
        let out = cp.admin(&["get", "csr", "-o", "json"]).unwrap();
        let list: Value = serde_json::from_str(&out.stdout).unwrap();
        let items: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(label))
            })
            .collect();
        let decided: Vec<&Value> = items
            .iter()
            .copied()
            .filter_map(|c| crate::fixture::decision_of(c).map(|_| c))
            .collect();
        let approved = decided
            .iter()
            .filter(|c| crate::fixture::decision_of(c).is_some_and(|d| d.0 == "Approved"))
            .count();
        (items.len() == COUNT && decided.len() == COUNT).then_some(approved)
    });
    let Some(approved) = done else {
        let tail: Vec<String> = ctl
            .log_text()
            .lines()
            .rev()
            .take(30)
            .map(str::to_owned)
            .collect();
        panic!(
            "not all {COUNT} CSRs decided within 60 s; controller log tail: {}",
            tail.join("\n")
        );
    };
    (start.elapsed(), approved)
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
