//! Benchmarks for `kubejit credential` (not timed tests; run with `cargo bench -p kubejit --bench credential`):
//! (a) cache-hit whole-process latency next to `kubectl version --client` as a process start-up yardstick,
//! (b) cold issuance — key, CSR, approval by a test approver, signing, verified certificate — on the local
//! control plane. Prints medians and p90s; set KUBEJIT_BENCH_HIT_RUNS / KUBEJIT_BENCH_COLD_RUNS to change
//! the run counts (200 and 20 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/approver.rs"]
mod approver;

use kubejit_testenv::BoundedOutput;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubejit_testenv::{shared, unique_namespace};

const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");

fn runs(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn time(mut cmd: Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output_bounded().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<48} runs {:>4}  median {:>8.2} ms  p90 {:>8.2} ms  min {:>8.2} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.9).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
    );
}

fn plugin(config: &Path, cache: &Path, incident: &str, exec_info: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubejit"));
    cmd.env("KUBERNETES_EXEC_INFO", exec_info)
        .arg("credential")
        .arg("--kubeconfig")
        .arg(config)
        .args([
            "--context",
            "alice",
            "--group",
            "oncall-debuggers",
            "--incident",
            incident,
        ])
        .arg("--cache-dir")
        .arg(cache);
    cmd
}

fn main() {
    let cp = shared();
    // The shipped requester role, bound to alice's group instead of the default one.
    let subject = "  kind: Group\n  name: kubejit-requesters";
    let yaml = REQUESTER_RBAC.replace(subject, "  kind: Group\n  name: oncall-payments");
    cp.apply(&yaml).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::copy(cp.kubeconfig("alice").unwrap(), &config).unwrap();
    let incident = format!("INC-{}", unique_namespace("bench"));
    // What kubectl passes with `provideClusterInfo: true` (non-interactive, as in scripts and CI).
    let exec_info = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "spec": { "interactive": false, "cluster": { "server": cp.server() } }
    })
    .to_string();
    let _approver = approver::start(
        cp.admin_kubeconfig().to_path_buf(),
        incident.clone(),
        approver::Verdict::Approve,
    );

    let cold: Vec<Duration> = (0..runs("KUBEJIT_BENCH_COLD_RUNS", 20))
        .map(|i| {
            time(plugin(
                &config,
                &dir.path().join(format!("cold-{i}")),
                &incident,
                &exec_info,
            ))
        })
        .collect();
    report("cold issuance (whole process, local apiserver)", cold);

    let cache: PathBuf = dir.path().join("cold-0");
    let hit_runs = runs("KUBEJIT_BENCH_HIT_RUNS", 200);
    let hits: Vec<Duration> = (0..hit_runs)
        .map(|_| time(plugin(&config, &cache, &incident, &exec_info)))
        .collect();
    report("kubejit credential, cache hit (whole process)", hits);

    let yardstick: Vec<Duration> = (0..hit_runs)
        .map(|_| {
            let mut cmd = Command::new(cp.binaries().kubectl());
            cmd.args(["version", "--client"]);
            time(cmd)
        })
        .collect();
    report("kubectl version --client (yardstick)", yardstick);
    println!(
        "\nfor hyperfine: KUBERNETES_EXEC_INFO='{exec_info}' {}",
        format_cmd(&plugin(&config, &cache, &incident, &exec_info))
    );
}

fn format_cmd(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "))
}
