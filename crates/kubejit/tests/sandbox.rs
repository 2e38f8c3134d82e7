//! `kubejit sandbox` end to end: it comes up with the demo namespace and Role, the walkthrough's
//! commands work, and Ctrl-C leaves nothing behind.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubejit_testenv::BoundedOutput;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn kubectl(kubectl: &str, kubeconfig: &str, args: &[&str]) -> std::process::Output {
    Command::new(kubectl)
        .env_remove("KUBECONFIG")
        .args(["--kubeconfig", kubeconfig])
        .args(args)
        .output_bounded()
        .unwrap()
}

/// The walkthrough's port-forward step with the tool it names: `curl` (a fresh machine may lack `nc`).
fn curl_through_port_forward(k: &str, kubeconfig: &str) {
    let mut pf = Command::new(k)
        .env_remove("KUBECONFIG")
        .args(["--kubeconfig", kubeconfig])
        .args([
            "port-forward",
            "-n",
            "payments",
            "pod/checkout-api",
            ":8080",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(pf.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // Keep draining: kubectl prints a line per connection and dies of SIGPIPE if nobody reads.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("kubectl port-forward did not start: {line:?}"));
    let curl = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/ping")])
        .output_bounded()
        .expect("the walkthrough uses curl: install it (apt-get install curl)");
    let _ = pf.kill();
    let _ = kubejit_testenv::wait_within(&mut pf, Duration::from_secs(30));
    assert!(curl.status.success(), "curl failed: {curl:?}");
    let body = String::from_utf8_lossy(&curl.stdout);
    assert!(body.starts_with("GET /ping HTTP/1.1\r\n"), "{body:?}");
}

#[test]
fn sandbox_runs_the_walkthrough_and_cleans_up_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["sandbox", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let k = info["kubectl"].as_str().unwrap();
    let alice = info["kubeconfigs"]["alice"].as_str().unwrap();
    let mallory = info["kubeconfigs"]["mallory"].as_str().unwrap();

    let pods = kubectl(k, alice, &["get", "pods", "-n", "payments", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&pods.stdout),
        "pod/checkout-api\npod/ledger-worker\n"
    );
    let exec = kubectl(
        k,
        alice,
        &["exec", "-n", "payments", "checkout-api", "--", "echo", "hi"],
    );
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "hi\n");
    let logs = kubectl(k, alice, &["logs", "-n", "payments", "checkout-api"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("payment provider timeout"));
    curl_through_port_forward(k, alice);
    let denied = kubectl(k, mallory, &["get", "pods", "-n", "payments"]);
    assert!(String::from_utf8_lossy(&denied.stderr).contains("forbidden"));

    // Just in time, through the controller running inside the sandbox: irene grants carol's group
    // access for a few seconds; it works, then the reaper deletes the grant and it is Forbidden again.
    let carol = info["kubeconfigs"]["carol"].as_str().unwrap();
    let irene = info["kubeconfigs"]["irene"].as_str().unwrap();
    assert!(
        !kubectl(k, carol, &["get", "pods", "-n", "payments"])
            .status
            .success()
    );
    let grant = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env_remove("KUBECONFIG")
        .args([
            "grant",
            "-n",
            "payments",
            "--role",
            "oncall-debug",
            "--group",
            "oncall-checkout",
        ])
        .args(["--incident", "INC-1", "--ttl", "4s", "--kubeconfig", irene])
        .output_bounded()
        .unwrap();
    assert!(
        grant.status.success(),
        "{}",
        String::from_utf8_lossy(&grant.stderr)
    );
    assert!(
        kubectl(k, carol, &["get", "pods", "-n", "payments"])
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while kubectl(k, carol, &["get", "pods", "-n", "payments"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the sandbox's reaper did not delete the expired grant"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let dir = std::path::PathBuf::from(info["dir"].as_str().unwrap());
    let server = info["server"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .to_owned();
    assert!(dir.exists() && TcpStream::connect(&server).is_ok());

    // What Ctrl-C in the terminal sends.
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let status = kubejit_testenv::wait_within(&mut child, Duration::from_secs(60))
        .expect("the sandbox did not exit within 60s of Ctrl-C; it was killed");
    assert!(
        status.success(),
        "sandbox exits cleanly on Ctrl-C: {status}"
    );
    assert!(!dir.exists(), "the sandbox's directory is removed");
    // The apiserver is gone (its port no longer answers) — give the kernel a moment to release it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&server).is_ok() {
        assert!(
            Instant::now() < deadline,
            "kube-apiserver still listening on {server} after teardown"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
