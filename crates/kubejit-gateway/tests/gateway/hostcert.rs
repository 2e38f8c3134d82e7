//! The gateway's host certificate: a client that trusts the host CA (`@cert-authority` in
//! known_hosts, strict checking) connects without knowing the host key; one that trusts another CA
//! does not; and a certificate for another key stops the gateway from starting.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubejit_gateway::{Gateway, GatewayConfig, GatewayError, Metrics};
use kubejit_testenv::{new_ssh_key, sign_user_key};

use crate::support::*;

/// A host CA made by `ssh-keygen` in `dir`, and its public line.
fn host_ca(dir: &Path, name: &str) -> (PathBuf, String) {
    let ca = dir.join(name);
    new_ssh_key(&ca, Some(name)).unwrap();
    let public = std::fs::read_to_string(ca.with_extension("pub")).unwrap();
    (ca, public.trim().to_owned())
}

struct CertGateway {
    gw: TestGateway,
    ca_line: String,
}

/// A gateway presenting a host certificate for its key, signed by a host CA.
fn cert_gateway() -> &'static CertGateway {
    static GW: OnceLock<CertGateway> = OnceLock::new();
    GW.get_or_init(|| {
        let mut line = String::new();
        let gw = start_with(RECHECK, |dir| {
            let (ca, public) = host_ca(dir, "host-ca");
            line = public;
            let key = dir.join("host_key");
            new_ssh_key(&key, None).unwrap();
            sign_user_key(
                &ca,
                &dir.join("host_key.pub"),
                "gateway",
                "127.0.0.1",
                "-1m:+1h",
                &["-h"],
            )
            .unwrap();
            Some(dir.join("host_key-cert.pub"))
        });
        CertGateway { gw, ca_line: line }
    })
}

/// `ssh … help` against `gw` with a known_hosts holding only `known`.
fn help_with_known_hosts(gw: &TestGateway, known: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, known).unwrap();
    // Signed by the user CA this gateway trusts (each test gateway has its own).
    let c = cert_by(&gw.ca(), "u-hostcert", "-1m:+30m", &[]);
    let mut cmd = kubejit_testenv::ssh_client(gw.port, &c.key, c.cert.as_deref());
    cmd.args([
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
    ])
    .arg("-o")
    .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
    .arg("u-hostcert@127.0.0.1")
    .arg("help");
    kubejit_testenv::BoundedOutput::output_bounded(&mut cmd).unwrap()
}

#[test]
fn a_client_trusting_the_host_ca_connects_with_strict_checking() {
    let cg = cert_gateway();
    let known = format!(
        "@cert-authority [127.0.0.1]:{} {}\n",
        cg.gw.port, cg.ca_line
    );
    let out = help_with_known_hosts(&cg.gw, &known);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ssh GW pods -n NAMESPACE"));
}

#[test]
fn a_client_trusting_another_host_ca_refuses_the_gateway() {
    let cg = cert_gateway();
    let dir = tempfile::tempdir().unwrap();
    let (_, other) = host_ca(dir.path(), "other-host-ca");
    let known = format!("@cert-authority [127.0.0.1]:{} {other}\n", cg.gw.port);
    let out = help_with_known_hosts(&cg.gw, &known);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("Host key verification failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_host_certificate_for_another_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = host_ca(dir.path(), "host-ca");
    new_ssh_key(&dir.path().join("host_key"), None).unwrap();
    new_ssh_key(&dir.path().join("other_key"), None).unwrap();
    let other_pub = dir.path().join("other_key.pub");
    sign_user_key(&ca, &other_pub, "gateway", "127.0.0.1", "-1m:+1h", &["-h"]).unwrap();
    // And a user certificate for the right key: not a host certificate.
    let user_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("host_key.pub"),
        user_dir.path().join("host_key.pub"),
    )
    .unwrap();
    let user_pub = user_dir.path().join("host_key.pub");
    sign_user_key(&ca, &user_pub, "gateway", "127.0.0.1", "-1m:+1h", &[]).unwrap();
    for (cert, says) in [
        (
            dir.path().join("other_key-cert.pub"),
            "not the gateway's host key",
        ),
        (
            user_dir.path().join("host_key-cert.pub"),
            "user certificate",
        ),
    ] {
        let config = GatewayConfig {
            host_key: dir.path().join("host_key"),
            host_cert: Some(cert),
            ..config_in(dir.path())
        };
        let err = bind(&config).unwrap_err();
        assert!(
            matches!(err, GatewayError::HostCertUnusable { .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains(says), "{message}");
        assert!(message.contains("ssh-keygen -s CA -h"), "{message}");
    }
}

/// A configuration that would start a gateway in `dir` (on the shared control plane).
fn config_in(dir: &Path) -> GatewayConfig {
    let cp = kubejit_testenv::shared();
    std::fs::write(
        dir.join("ca.pub"),
        std::fs::read(gateway().ca().with_extension("pub")).unwrap(),
    )
    .unwrap();
    GatewayConfig {
        listen: "127.0.0.1:0".into(),
        host_key: dir.join("host_key"),
        host_cert: None,
        trusted_ca_files: vec![dir.join("ca.pub")],
        max_cert_lifetime: std::time::Duration::from_secs(3600),
        user_groups: Default::default(),
        limits: Default::default(),
        recordings: dir.to_owned(),
        record_input: false,
        client: kubejit_kube::ClientOptions {
            kubeconfig: Some(cp.admin_kubeconfig().to_owned()),
            context: None,
        },
        port_forward: Default::default(),
    }
}

fn bind(config: &GatewayConfig) -> Result<Gateway, GatewayError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let audit = std::sync::Arc::new(kubejit_audit::Auditor::new(
        std::sync::Arc::new(kubejit_audit::WriterSink::new(std::io::sink(), "discarded")),
        None,
        std::sync::Arc::new(kubejit_core::SystemClock),
    ));
    rt.block_on(Gateway::bind(config, Metrics::new(), audit))
}
