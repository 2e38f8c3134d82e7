//! The sandbox's SSH gateway: an SSH CA and a certificate for alice made with `ssh-keygen`, the
//! gateway in this process (impersonating as the sandbox admin, writing the sandbox's trail), and
//! the walkthrough's `ssh` lines. Without `ssh-keygen` on PATH the sandbox runs without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::Context as _;
use kubejit_testenv::ControlPlane;

/// A running sandbox gateway and the files alice's `ssh` needs.
pub(crate) struct SandboxGateway {
    port: u16,
    dir: PathBuf,
}

fn keygen(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ssh-keygen")
        .args(args)
        .output()
        .context("failed to run ssh-keygen")?;
    anyhow::ensure!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("sandbox path is not UTF-8")
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
    keygen(&[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "sandbox-user-ca",
        "-f",
        path(&ca)?,
    ])?;
    keygen(&[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "alice",
        "-f",
        path(&key)?,
    ])?;
    let groups = format!("extension:groups@kubejit.dev={group}");
    let alice_pub = dir.join("alice.pub");
    keygen(&[
        "-q",
        "-s",
        path(&ca)?,
        "-I",
        "alice@sandbox",
        "-n",
        "alice",
        "-V",
        "-1m:+8h",
        "-O",
        &groups,
        path(&alice_pub)?,
    ])?;
    let config = kubejit_gateway::GatewayConfig {
        listen: "127.0.0.1:0".to_owned(),
        host_key: dir.join("host_key"),
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
    };
    let gateway =
        kubejit_gateway::Gateway::bind(&config, kubejit_gateway::Metrics::new(), audit).await?;
    let port = gateway.local_addr()?.port();
    let host = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(dir.join("host_key"))
        .output()?;
    let known = format!(
        "[127.0.0.1]:{port} {}",
        String::from_utf8_lossy(&host.stdout)
    );
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
