//! Benchmark (not a test; `#[ignore]`d): port-forward throughput through the gateway against
//! `kubectl port-forward` to the same pod in the same run, session set-up time (ssh connect to the
//! end of `pods` output), and the gateway's memory per idle session. Figures: docs/benchmarks.md.
//!
//! cargo test --release -p kubejit-gateway --test gateway bench -- --ignored --nocapture

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubejit_testenv::shared;

use crate::support::*;

const PAYLOAD: usize = 32 * 1024 * 1024;
const ROUNDS: usize = 5;

/// Pushes PAYLOAD bytes through `port` to the pod's echo server and reads them back; MB/s.
fn echo_throughput(port: u16) -> f64 {
    let conn =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("port {port}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut writer = conn.try_clone().unwrap();
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        let chunk = vec![0x5a_u8; 64 * 1024];
        for _ in 0..PAYLOAD / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
    });
    let mut reader = conn;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    while got < PAYLOAD {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "echo closed after {got} bytes");
        got += n;
    }
    sender.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    (PAYLOAD as f64 / 1e6) / secs
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
#[ignore = "benchmark: run explicitly"]
fn gateway_benchmarks() {
    let cp = shared();
    let group = "oncall-bench";
    let ns = namespace(cp, "gw-bench", "bench\n", Some(group));
    let c = member("u-bench", group, &[]);

    // Port-forward: kubectl (as the admin) and the gateway, to the same pod and port.
    let kport = free_port();
    let mut kubectl = Command::new(cp.binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(cp.admin_kubeconfig())
        .args([
            "port-forward",
            "-n",
            &ns,
            "pod/api",
            &format!("{kport}:8080"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(kubectl.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("Forwarding from"), "{first}");
    // kubectl writes a line per connection: keep reading, or it dies of SIGPIPE.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // Two tunnels: OpenSSH's default choice among what the gateway offers (aes128-gcm on AES
    // hardware, see `kubejit_gateway::ssh::ciphers`), and aes256-gcm.
    let tunnel_with = |opts: &[&str]| {
        let port = free_port();
        let forward = format!("{port}:api.{ns}:8080");
        let mut args = vec!["-N", "-L", &forward];
        args.extend_from_slice(opts);
        let child = ssh_command(&c, "u-bench", &args, &[])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        drop(connect_within(port, Duration::from_secs(60)));
        (port, child)
    };
    let (gport, mut tunnel) = tunnel_with(&[]);
    let (aport, mut aes_tunnel) = tunnel_with(&["-c", "aes256-gcm@openssh.com"]);
    let _warm = (
        echo_throughput(kport),
        echo_throughput(gport),
        echo_throughput(aport),
    );
    // Rounds alternate the three paths, so load from elsewhere on the machine hits all of them.
    let rounds: Vec<[f64; 3]> = (0..ROUNDS)
        .map(|_| {
            [
                echo_throughput(kport),
                echo_throughput(gport),
                echo_throughput(aport),
            ]
        })
        .collect();
    let median = |f: &dyn Fn(&[f64; 3]) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let kubectl_mbs = median(&|r| r[0]);
    let default_mbs = median(&|r| r[1]);
    let aes_mbs = median(&|r| r[2]);
    let default_ratio = median(&|r| r[1] / r[0]);
    let aes_ratio = median(&|r| r[2] / r[0]);
    println!(
        "port-forward echo, {} MiB each way, medians of {ROUNDS} rounds: kubectl {kubectl_mbs:.1} MB/s; \
         gateway, default cipher selection {default_mbs:.1} MB/s ({:.0}% of kubectl in the same round); \
         gateway aes256-gcm {aes_mbs:.1} MB/s ({:.0}%)",
        PAYLOAD >> 20,
        100.0 * default_ratio,
        100.0 * aes_ratio
    );
    for child in [&mut kubectl, &mut tunnel, &mut aes_tunnel] {
        let _ = child.kill();
        let _ = child.wait();
    }

    // Session set-up: ssh connect to the end of `pods` output (median of 9).
    let mut times: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            let out = ssh(&c, "u-bench", &["pods", "-n", &ns]);
            assert!(out.status.success());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "session set-up (ssh connect to pods output), median of 9: {:?}",
        times[4]
    );

    // Memory per idle session: RSS of this process (the gateway runs in it) around 20 `ssh -N`.
    // One user each: the test gateway allows 2 sessions per user.
    let certs: Vec<(String, Cert)> = (0..20)
        .map(|i| {
            let login = format!("u-idle-{i}");
            let c = cert(&login, &[]);
            (login, c)
        })
        .collect();
    let before = rss_kib();
    let mut held = Vec::new();
    for (login, c) in &certs {
        held.push(
            ssh_command(c, login, &["-N"], &[])
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let start = Instant::now();
    while gateway()
        .records()
        .iter()
        .filter(|r| {
            r["kind"] == "sessionStarted"
                && r["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("u-idle-"))
        })
        .count()
        < 20
    {
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib();
    println!(
        "memory per idle session: {} KiB (RSS {before} KiB -> {after} KiB for 20 sessions)",
        after.saturating_sub(before) / 20
    );
    for mut h in held {
        let _ = h.kill();
        let _ = h.wait();
    }
}
