//! The controller process itself: it starts with exactly deploy/'s RBAC, refuses to start without
//! it (naming what is missing), serves health and metrics, and hands leadership over on shutdown.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::shared;
use support::{http_get, install_kubejit, start_controller};

#[test]
fn starts_with_deploy_rbac_and_serves_health_and_metrics() {
    let cp = shared();
    let ctl = start_controller(cp, &["--lease-name", "health-test"]);
    assert_eq!(http_get(ctl.http_port, "/healthz").as_deref(), Some("ok\n"));
    let lease = cp.admin(&[
        "get",
        "lease",
        "health-test",
        "-n",
        "kubejit-system",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut holder = lease.map(|o| o.stdout).unwrap_or_default();
    while holder.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        holder = cp
            .admin(&[
                "get",
                "lease",
                "health-test",
                "-n",
                "kubejit-system",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ])
            .map(|o| o.stdout)
            .unwrap_or_default();
    }
    assert!(
        !holder.is_empty(),
        "the controller takes the Lease: {}",
        ctl.log_text()
    );
    let status = ctl.stop();
    assert!(status.success(), "clean exit on SIGTERM");
}

#[test]
fn refuses_to_start_without_its_permissions() {
    let cp = shared();
    install_kubejit(cp);
    // mallory has no RBAC at all: the controller must name what it lacks and exit non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .arg("controller")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig("mallory").unwrap())
        .args(["--http-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mallory lacks permissions kubejit needs"),
        "{stderr}"
    );
    assert!(stderr.contains("leases"), "{stderr}");
    assert!(stderr.contains("apply the RBAC in deploy/"), "{stderr}");
}
