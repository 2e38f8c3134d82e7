//! Benchmarks for `kubejit credential` (not timed tests; run with `cargo bench -p kubejit --bench credential`):
//! (a) cache-hit whole-process latency, of `kubejit credential` and of the thin `kubejit-credential`, next
//! to `kubectl version --client` as a process start-up yardstick, (b) cold issuance — key, CSR, approval
//! by a test approver, signing, verified certificate — on the local control plane, (c) `kubectl get
//! pods` through the thin plugin and through `kubejit credential` (cache hits) next to the same kubectl
//! with the same certificate embedded in its kubeconfig, interleaved, with each overhead as a ratio of
//! medians.
//! Prints medians and p90s; set KUBEJIT_BENCH_HIT_RUNS / KUBEJIT_BENCH_COLD_RUNS /
//! KUBEJIT_BENCH_KUBECTL_RUNS to change the run counts (200, 20 and 60 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/approver.rs"]
mod approver;
#[path = "support/figures.rs"]
mod figures;

use kubejit_testenv::BoundedOutput;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use figures::{report, runs, time};
use kubejit_testenv::{shared, unique_namespace};

/// How wide the label column of a figure is.
const LABEL: usize = 48;
const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");

/// Which executable serves the plugin: the full binary's subcommand or the thin one.
#[derive(Clone, Copy)]
enum Plugin {
    Full,
    Thin,
}

impl Plugin {
    fn command(self) -> &'static str {
        match self {
            Plugin::Full => env!("CARGO_BIN_EXE_kubejit"),
            Plugin::Thin => env!("CARGO_BIN_EXE_kubejit-credential"),
        }
    }

    /// The plugin's arguments, as a kubeconfig's exec stanza lists them.
    fn args(self, config: &Path, cache: &Path, incident: &str) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Plugin::Full => vec!["credential".into()],
            Plugin::Thin => Vec::new(),
        };
        args.push("--kubeconfig".into());
        args.push(config.to_string_lossy().into_owned());
        args.extend(
            [
                "--context",
                "alice",
                "--group",
                "oncall-debuggers",
                "--incident",
            ]
            .map(String::from),
        );
        args.push(incident.to_owned());
        args.push("--cache-dir".into());
        args.push(cache.to_string_lossy().into_owned());
        args
    }
}

fn plugin(which: Plugin, config: &Path, cache: &Path, incident: &str, exec_info: &str) -> Command {
    let mut cmd = Command::new(which.command());
    cmd.env("KUBERNETES_EXEC_INFO", exec_info)
        .args(which.args(config, cache, incident));
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
                Plugin::Full,
                &config,
                &dir.path().join(format!("cold-{i}")),
                &incident,
                &exec_info,
            ))
        })
        .collect();
    report(
        "cold issuance (whole process, local apiserver)",
        LABEL,
        cold,
    );

    let cache: PathBuf = dir.path().join("cold-0");
    let hit_runs = runs("KUBEJIT_BENCH_HIT_RUNS", 200);
    let (mut hits, mut thin_hits) = (Vec::new(), Vec::new());
    for _ in 0..hit_runs {
        hits.push(time(plugin(
            Plugin::Full,
            &config,
            &cache,
            &incident,
            &exec_info,
        )));
        thin_hits.push(time(plugin(
            Plugin::Thin,
            &config,
            &cache,
            &incident,
            &exec_info,
        )));
    }
    report("kubejit credential, cache hit (whole process)", LABEL, hits);
    report(
        "kubejit-credential, cache hit (whole process)",
        LABEL,
        thin_hits,
    );

    let yardstick: Vec<Duration> = (0..hit_runs)
        .map(|_| {
            let mut cmd = Command::new(cp.binaries().kubectl());
            cmd.args(["version", "--client"]);
            time(cmd)
        })
        .collect();
    report("kubectl version --client (yardstick)", LABEL, yardstick);
    kubectl_overhead(cp, dir.path(), &config, &cache, &incident, &exec_info);
    println!(
        "\nfor hyperfine: KUBERNETES_EXEC_INFO='{exec_info}' {}",
        format_cmd(&plugin(
            Plugin::Thin,
            &config,
            &cache,
            &incident,
            &exec_info
        ))
    );
}

/// `kubectl get pods` with the plugin as its exec credential (a cache hit each time) and with the
/// very certificate the plugin hands out embedded in the kubeconfig, runs interleaved so both see
/// the same machine load.
fn kubectl_overhead(
    cp: &kubejit_testenv::ControlPlane,
    dir: &Path,
    config: &Path,
    cache: &Path,
    incident: &str,
    exec_info: &str,
) {
    let ns = unique_namespace("bench-pods");
    cp.admin(&["create", "namespace", &ns]).unwrap();
    // A Role of its own: `view` is an aggregated ClusterRole, empty until the aggregation
    // controller (not run by the test control plane) fills it.
    for args in [
        [
            "create",
            "role",
            "bench-pods",
            "--verb=list,get",
            "--resource=pods",
            "-n",
            &ns,
        ],
        [
            "create",
            "rolebinding",
            "bench-pods",
            "--role=bench-pods",
            "--user=alice",
            "-n",
            &ns,
        ],
    ] {
        let out = cp.admin(&args).unwrap();
        assert!(out.success, "{}", out.stderr);
    }
    let hit = plugin(Plugin::Full, config, cache, incident, exec_info)
        .output_bounded()
        .unwrap();
    let cred: serde_json::Value = serde_json::from_slice(&hit.stdout).unwrap();
    let b64 = |pem: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(pem)
    };
    let user = |auth: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "bench",
            "clusters": [{"name": "bench", "cluster": {
                "server": cp.server(), "certificate-authority-data": b64(cp.ca_pem())}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench", "namespace": ns}}],
            "users": [{"name": "bench", "user": auth}],
        })
    };
    let exec = |which: Plugin| {
        user(serde_json::json!({"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": which.command(),
            "args": which.args(config, cache, incident), "provideClusterInfo": true,
            "interactiveMode": "Never"}}))
    };
    let (with_full, with_thin) = (exec(Plugin::Full), exec(Plugin::Thin));
    let status = &cred["status"];
    let with_cert = user(serde_json::json!({
        "client-certificate-data": b64(status["clientCertificateData"].as_str().unwrap()),
        "client-key-data": b64(status["clientKeyData"].as_str().unwrap()),
    }));
    let kubectl = |kubeconfig: &serde_json::Value, name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, kubeconfig.to_string()).unwrap();
        let mut cmd = Command::new(cp.binaries().kubectl());
        cmd.args(["get", "pods", "--kubeconfig"]).arg(path);
        cmd
    };
    // The apiserver's authorizer learns of the new RoleBinding from a watch: wait until it has.
    let allowed = (0..100).any(|_| {
        let ok = kubectl(&with_cert, "cert.kubeconfig")
            .output_bounded()
            .is_ok_and(|o| o.status.success());
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(allowed, "the view RoleBinding never took effect");
    // Three variants per round, the order rotating so none always runs first (a warmer cache).
    let variants = [
        (&with_thin, "thin.kubeconfig"),
        (&with_full, "full.kubeconfig"),
        (&with_cert, "cert.kubeconfig"),
    ];
    let mut runs_of: [Vec<Duration>; 3] = Default::default();
    for round in 0..runs("KUBEJIT_BENCH_KUBECTL_RUNS", 60) {
        for k in 0..3 {
            let i = (round + k) % 3;
            let (config, name) = variants[i];
            runs_of[i].push(time(kubectl(config, name)));
        }
    }
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let [thin_runs, full_runs, cert_runs] = runs_of;
    let (t, f, c) = (median(&thin_runs), median(&full_runs), median(&cert_runs));
    report(
        "kubectl get pods, kubejit-credential (hit)",
        LABEL,
        thin_runs,
    );
    report(
        "kubectl get pods, kubejit credential (hit)",
        LABEL,
        full_runs,
    );
    report(
        "kubectl get pods, embedded client certificate",
        LABEL,
        cert_runs,
    );
    let overhead = |p: Duration| (p.as_secs_f64() / c.as_secs_f64() - 1.0) * 100.0;
    println!(
        "exec plugin overhead over the embedded-certificate median: kubejit-credential {:+.1}%, \
         kubejit credential {:+.1}%",
        overhead(t),
        overhead(f)
    );
}

fn format_cmd(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "))
}
