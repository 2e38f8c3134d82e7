//! The controller process itself: it starts with exactly deploy/'s RBAC, refuses to start without
//! it (naming what is missing), serves health and metrics, and hands leadership over on shutdown.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::BoundedOutput;
use kubejit_testenv::shared;
use std::time::Duration;

use support::{eventually, http_get, install_kubejit, spawn_controller, start_controller};

#[test]
fn starts_with_deploy_rbac_and_serves_health_and_metrics() {
    let cp = shared();
    let ctl = start_controller(cp, &["--lease-name", "health-test"]);
    assert_eq!(http_get(ctl.http_port, "/healthz").as_deref(), Some("ok\n"));
    let holder = eventually(
        Duration::from_secs(20),
        "the controller to take its Lease",
        || lease_holder(cp, "health-test"),
    );
    assert!(!holder.is_empty(), "{}", ctl.log_text());
    let (status, log) = ctl.stop();
    assert!(status.success(), "clean exit on SIGTERM: {log}");
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
        .output_bounded()
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

/// The controller's client speaks HTTP/2 to the real apiserver (ALPN): one multiplexed connection
/// instead of one per request in flight. Every other client keeps HTTP/1.1, which exec, port-forward
/// and WebSocket upgrades need.
#[test]
fn the_controller_client_speaks_http2_and_the_others_http1() {
    let cp = shared();
    let options = kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let controller = kubejit_kube::build_controller_client(&options)
            .await
            .unwrap();
        let cli = kubejit_kube::build_client(&options).await.unwrap();
        for (client, want) in [
            (controller, http::Version::HTTP_2),
            (cli, http::Version::HTTP_11),
        ] {
            let request = http::Request::get("/version")
                .body(kube::client::Body::empty())
                .unwrap();
            let response = client.send(request).await.unwrap();
            assert_eq!(response.status(), http::StatusCode::OK);
            assert_eq!(response.version(), want);
        }
    });
}

fn lease_holder(cp: &kubejit_testenv::ControlPlane, lease: &str) -> Option<String> {
    let jsonpath = "jsonpath={.spec.holderIdentity}";
    let out = cp
        .admin(&[
            "get",
            "lease",
            lease,
            "-n",
            "kubejit-system",
            "-o",
            jsonpath,
        ])
        .ok()?;
    (!out.stdout.is_empty()).then_some(out.stdout)
}

/// Two replicas, one Lease: exactly one leads; when it stops, the standby takes over.
#[test]
fn standby_replica_takes_over_when_the_leader_stops() {
    let cp = shared();
    let args = |who: &'static str| {
        [
            "--lease-name",
            "failover-test",
            "--holder-identity",
            who,
            "--controllers",
            "reaper",
        ]
    };
    let a = start_controller(cp, &args("replica-a"));
    let first = eventually(Duration::from_secs(20), "a leader", || {
        lease_holder(cp, "failover-test")
    });
    assert_eq!(first, "replica-a");
    let b = start_controller(cp, &args("replica-b"));
    // b is ready (serving health) but must not take the Lease while a renews it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        lease_holder(cp, "failover-test").as_deref(),
        Some("replica-a")
    );
    let (status, log) = a.stop();
    assert!(status.success(), "{log}");
    eventually(Duration::from_secs(30), "replica-b to take over", || {
        (lease_holder(cp, "failover-test").as_deref() == Some("replica-b")).then_some(())
    });
    let (status, log) = b.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("leading=true"),
        "replica-b led after the handover: {log}"
    );
}

/// SIGTERM at many points of start-up and of the first term of leadership: the controller always
/// exits (cleanly, or by the signal's default action before its handler is installed), never hangs.
/// The support code's bounded wait turns a hang into a failure with the controller's log.
#[test]
fn sigterm_at_any_point_of_start_up_or_leadership_ends_the_process() {
    let cp = shared();
    install_kubejit(cp);
    let after_spawn_ms = [0u64, 5, 20, 50, 100, 200, 350, 500, 800, 1200, 2000];
    for (i, delay) in after_spawn_ms.iter().enumerate() {
        let lease = format!("sigterm-spawn-{i}");
        let mut ctl = spawn_controller(cp, &["--lease-name", &lease]);
        std::thread::sleep(Duration::from_millis(*delay));
        assert_exits(&mut ctl, &format!("{delay} ms after spawn"));
    }
    // The instant a term starts: the log line that says so, then 0-50 ms more.
    for (i, delay) in [0u64, 1, 5, 20, 50].iter().enumerate() {
        let lease = format!("sigterm-lead-{i}");
        let mut ctl = spawn_controller(cp, &["--lease-name", &lease]);
        eventually(Duration::from_secs(30), "leadership", || {
            ctl.log_text().contains("leading=true").then_some(())
        });
        std::thread::sleep(Duration::from_millis(*delay));
        assert_exits(&mut ctl, &format!("{delay} ms after leading"));
    }
}

fn assert_exits(ctl: &mut support::ControllerProcess, when: &str) {
    use std::os::unix::process::ExitStatusExt;
    let status = ctl.terminate_within().unwrap_or_else(|| {
        panic!(
            "SIGTERM {when}: no exit within {:?}; log:\n{}",
            support::SHUTDOWN_DEADLINE,
            ctl.log_text()
        )
    });
    assert!(
        status.success() || status.signal() == Some(15),
        "SIGTERM {when}: {status}; log:\n{}",
        ctl.log_text()
    );
}
