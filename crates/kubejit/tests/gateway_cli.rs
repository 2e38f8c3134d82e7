//! `kubejit gateway` as a process, with the real `ssh`: it creates its host key 0600, serves
//! `/metrics`, writes session records to its audit trail (stdout here), and on SIGTERM tells a
//! connected user why the session ends. No apiserver is needed for this: nothing here acts on pods
//! (the gateway's behaviour against a real control plane is crates/kubejit-gateway/tests/gateway).

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubejit_testenv::{new_ssh_key, sign_user_key, ssh_client};

fn free_port() -> u16 {
    kubejit_testenv::free_port().unwrap()
}

fn until(what: &str, mut probe: impl FnMut() -> bool) {
    let start = Instant::now();
    while !probe() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn ssh(dir: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = ssh_client(port, &dir.join("id"), Some(&dir.join("id-cert.pub")));
    cmd.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(extra)
    .arg("alice@127.0.0.1");
    cmd
}

#[test]
fn the_gateway_process_serves_metrics_and_tells_users_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = d.join("ca");
    new_ssh_key(&ca, None).unwrap();
    new_ssh_key(&d.join("id"), None).unwrap();
    sign_user_key(
        &ca,
        &d.join("id.pub"),
        "alice@test",
        "alice",
        "-1m:+1h",
        &[],
    )
    .unwrap();
    // The gateway reads its kubeconfig at start; this one points nowhere (no request is made).
    std::fs::write(
        d.join("kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n\
         current-context: c\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("recordings")).unwrap();
    let (ssh_port, http_port) = (free_port(), free_port());
    let trail = std::fs::File::create(d.join("trail.jsonl")).unwrap();
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .arg("gateway")
        .arg("--kubeconfig")
        .arg(d.join("kubeconfig"))
        .args(["--listen", &format!("127.0.0.1:{ssh_port}")])
        .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
        .arg("--host-key")
        .arg(d.join("host_key"))
        .arg("--trusted-ca")
        .arg(d.join("ca.pub"))
        .arg("--recording-dir")
        .arg(d.join("recordings"))
        .stdout(trail)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until("the gateway listens", || {
        TcpStream::connect(("127.0.0.1", ssh_port)).is_ok()
    });
    let mode = std::fs::metadata(d.join("host_key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let help = ssh(d, ssh_port, &[]).arg("help").output().unwrap();
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    let metrics = http_get(http_port, "/metrics");
    assert!(
        metrics.contains("kubejit_gateway_sessions_started_total 1"),
        "{metrics}"
    );

    let held = ssh(d, ssh_port, &["-N"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trail = || std::fs::read_to_string(d.join("trail.jsonl")).unwrap();
    until("the second session starts", || {
        trail().matches("\"kind\":\"sessionStarted\"").count() == 2
    });

    let kill = Command::new("kill")
        .args(["-TERM", &gateway.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = held.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the gateway is shutting down"), "{stderr}");
    let status = gateway.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let trail = trail();
    assert!(
        trail.contains("\"decisionReason\":\"gatewayShutdown\""),
        "{trail}"
    );
}
