//! The sandbox's SSH gateway: an SSH CA and a certificate for alice made with `ssh-keygen`, the
//! gateway in this process (impersonating as the sandbox admin, writing the sandbox's trail), and
//! the walkthrough's `ssh` lines. Without `ssh-keygen` on PATH the sandbox runs without it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use kubejit_testenv::{ControlPlane, known_hosts_line, new_ssh_key, sign_user_key};

/// A running sandbox gateway and the files alice's `ssh` needs.
pub(crate) struct SandboxGateway {
    port: u16,
    dir: PathBuf,
}

/// Makes the CA and alice's certificate (group `group`), starts the gateway until `shutdown`.
pub(crate) async fn start(
    cp: &ControlPlane,
    group: &str,
    audit: Arc<kubejit_audit::Auditor>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<SandboxGateway>> {
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        eprintln!("[sandbox] no ssh-keygen on PATH: the SSH gateway is not started");
        return Ok(None);
    }
    let dir = cp.dir().join("gateway");
    std::fs::create_dir_all(dir.join("recordings"))?;
    let (ca, key) = (dir.join("ca"), dir.join("alice"));
    new_ssh_key(&ca, Some("sandbox-user-ca"))?;
    new_ssh_key(&key, Some("alice"))?;
    let groups = format!("extension:groups@kubejit.dev={group}");
    let alice_pub = dir.join("alice.pub");
    sign_user_key(
        &ca,
        &alice_pub,
        "alice@sandbox",
        "alice",
        "-1m:+8h",
        &["-O", &groups],
    )?;
    let config = kubejit_gateway::GatewayConfig {
        listen: "127.0.0.1:0".to_owned(),
        host_key: dir.join("host_key"),
        host_cert: None,
        trusted_ca_files: vec![dir.join("ca.pub")],
        max_cert_lifetime: std::time::Duration::from_secs(12 * 3600),
        user_groups: Default::default(),
        limits: kubejit_gateway::Limits::default(),
        recordings: dir.join("recordings"),
        record_input: false,
        client: kubejit_kube::ClientOptions {
            kubeconfig: Some(cp.admin_kubeconfig().to_owned()),
            context: None,
        },
        port_forward: kubejit_gateway::ForwardOffer::Auto,
    };
    let gateway =
        kubejit_gateway::Gateway::bind(&config, kubejit_gateway::Metrics::new(), audit).await?;
    let port = gateway.local_addr()?.port();
    let known = known_hosts_line(&dir.join("host_key"), port)?;
    std::fs::write(dir.join("known_hosts"), known)?;
    tokio::spawn(async move {
        if let Err(error) = gateway.run(shutdown.cancelled_owned()).await {
            eprintln!("kubejit sandbox: the SSH gateway stopped: {error}");
        }
    });
    eprintln!("[sandbox] SSH gateway on 127.0.0.1:{port}");
    Ok(Some(SandboxGateway { port, dir }))
}

impl SandboxGateway {
    /// The walkthrough's gateway steps: alice over `ssh`, as herself.
    pub(crate) fn steps(&self, ns: &str) -> Vec<String> {
        let d = |name: &str| self.dir.join(name).display().to_string();
        let ssh = format!(
            "ssh -F /dev/null -p {} -i {} -o CertificateFile={} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile={} alice@127.0.0.1",
            self.port,
            d("alice"),
            d("alice-cert.pub"),
            d("known_hosts"),
        );
        vec![
            String::new(),
            "alice can also come in over SSH, with a certificate from the sandbox's SSH CA (kubejit gateway,".to_owned(),
            "docs/gateway.md); the apiserver sees her, and every exec is recorded:".to_owned(),
            String::new(),
            format!("  {ssh} pods -n {ns}   # shows checkout-api"),
            format!("  {ssh} logs -n {ns} checkout-api   # shows 2026-11-26T09:14:03Z"),
            format!("  {ssh} exec -n {ns} checkout-api -- echo hi-over-ssh   # shows hi-over-ssh"),
        ]
    }
}
