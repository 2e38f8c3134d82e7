//! Benchmark of `kubejit proxy` (not a timed test; run with `cargo bench -p kubejit --bench proxy`):
//! whole-process `kubectl get pods` and `kubectl exec -- echo` latency through the proxy (token key in
//! SoftHSM2) next to the same commands with a direct client certificate, and port-forward throughput
//! both ways (bytes echoed by the kwok pod). Starts the local control plane, a SoftHSM2 token and a test
//! approver. KUBEJIT_BENCH_PROXY_RUNS sets the run count (30 by default), KUBEJIT_BENCH_PF_MIB the
//! port-forward volume (8 MiB).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/approver.rs"]
mod approver;
#[path = "support/figures.rs"]
mod figures;
#[path = "../tests/support/softhsm.rs"]
mod softhsm;

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use figures::{report, runs, time};
use kubejit_testenv::{PodSpec, shared, unique_namespace};

/// How wide the label column of a figure is.
const LABEL: usize = 44;
const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");
const GROUP: &str = "oncall-debuggers";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(shared().binaries().kubectl());
    cmd.env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args);
    cmd
}

/// MiB/s of `mib` MiB written through `kubectl port-forward` and echoed back by the pod.
fn port_forward_throughput(kubeconfig: &Path, ns: &str, mib: usize) -> f64 {
    let mut pf = kubectl(kubeconfig, &["port-forward", "-n", ns, "pod/api", ":8080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(pf.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let total = mib << 20;
    let mut writer = conn.try_clone().unwrap();
    let started = Instant::now();
    let send = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..total / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
    });
    let mut reader = conn;
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0;
    while got < total {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "port-forward closed after {got} bytes");
        got += n;
    }
    let took = started.elapsed();
    send.join().unwrap();
    let _ = pf.kill();
    let _ = pf.wait();
    mib as f64 / took.as_secs_f64()
}

fn main() {
    let cp = shared();
    let yaml = REQUESTER_RBAC.replace(
        "  kind: Group\n  name: kubejit-requesters",
        "  kind: Group\n  name: oncall-payments",
    );
    cp.apply(&yaml).unwrap();
    let ns = unique_namespace("bench-proxy");
    cp.create_namespace(&ns).unwrap();
    cp.create_running_pod(&PodSpec {
        namespace: &ns,
        name: "api",
        log: "ok\n",
        ports: &[8080],
    })
    .unwrap();
    let role = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args([
            "manifests",
            "oncall-role",
            "--namespace",
            &ns,
            "--group",
            GROUP,
        ])
        .output()
        .unwrap();
    cp.apply(&String::from_utf8_lossy(&role.stdout)).unwrap();

    let hsm = softhsm::SoftHsm::new("kubejit-bench");
    hsm.generate(1);
    let config = hsm.dir().join("config");
    std::fs::copy(cp.kubeconfig("alice").unwrap(), &config).unwrap();
    let incident = format!("INC-{}", unique_namespace("bp"));
    let _approver = approver::start(
        cp.admin_kubeconfig().to_path_buf(),
        incident.clone(),
        approver::Verdict::Approve,
    );
    let proxied = hsm.dir().join("proxy.kubeconfig");
    let mut proxy = hsm
        .command(&[
            "proxy",
            "--kubeconfig",
            config.to_str().unwrap(),
            "--context",
            "alice",
            "--group",
            GROUP,
            "--incident",
            &incident,
            "--key",
            &hsm.uri(1),
            "--write-kubeconfig",
            proxied.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !proxied.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "proxy did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let direct = cp.admin_kubeconfig().to_path_buf();
    let n = runs("KUBEJIT_BENCH_PROXY_RUNS", 30);
    let get = ["get", "pods", "-n", &ns];
    let exec = ["exec", "-n", &ns, "api", "--", "echo", "hi"];
    for (what, args) in [("get pods", &get[..]), ("exec -- echo", &exec[..])] {
        let d: Vec<_> = (0..n).map(|_| time(kubectl(&direct, args))).collect();
        report(
            &format!("kubectl {what}, direct client certificate"),
            LABEL,
            d,
        );
        let p: Vec<_> = (0..n).map(|_| time(kubectl(&proxied, args))).collect();
        report(&format!("kubectl {what}, through kubejit proxy"), LABEL, p);
    }
    let mib = runs("KUBEJIT_BENCH_PF_MIB", 8);
    println!(
        "port-forward echo {mib} MiB, direct client certificate: {:>8.1} MiB/s",
        port_forward_throughput(&direct, &ns, mib)
    );
    println!(
        "port-forward echo {mib} MiB, through kubejit proxy:     {:>8.1} MiB/s",
        port_forward_throughput(&proxied, &ns, mib)
    );
    let _ = proxy.kill();
    let _ = proxy.wait();
}
