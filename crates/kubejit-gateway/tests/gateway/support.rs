//! The test gateway (in-process, on the shared control plane), certificates made by `ssh-keygen`,
//! and the `ssh` command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use kubejit_gateway::{ForwardOffer, Gateway, GatewayConfig, Limits, Metrics};
use kubejit_testenv::{
    BoundedOutput, ControlPlane, PodSpec, known_hosts_line, new_ssh_key, shared, sign_user_key,
    ssh_client, unique_namespace,
};

/// How often the test gateway re-checks permissions; tests wait in multiples of it.
pub const RECHECK: Duration = Duration::from_secs(1);

pub struct TestGateway {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub metrics: Metrics,
}

impl TestGateway {
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }
    /// The audit records written so far (one JSON object a line).
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// How many logins were refused for `reason` so far.
    pub fn refusals(&self, reason: &str) -> u64 {
        let needle = format!("kubejit_gateway_auth_failures_total{{reason=\"{reason}\"}} ");
        self.metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(&needle).map(|n| n.trim().parse().unwrap()))
            .unwrap_or(0)
    }
}

/// The gateway for this test binary, started once on a runtime of its own.
pub fn gateway() -> &'static TestGateway {
    static GW: OnceLock<TestGateway> = OnceLock::new();
    GW.get_or_init(|| start(RECHECK))
}

/// A second gateway whose interval re-check would take an hour: a session it cuts sooner was cut
/// by the binding-deletion watch.
pub fn slow_recheck_gateway() -> &'static TestGateway {
    static GW: OnceLock<TestGateway> = OnceLock::new();
    GW.get_or_init(|| start(Duration::from_secs(3600)))
}

fn start(recheck_interval: Duration) -> TestGateway {
    start_with(recheck_interval, |_| None)
}

/// A third gateway that offers the apiserver only `v4.channel.k8s.io` for port-forward, as an
/// apiserver that does not tunnel SPDY leaves it: the fallback stays proven.
pub fn v4_forward_gateway() -> &'static TestGateway {
    static GW: OnceLock<TestGateway> = OnceLock::new();
    GW.get_or_init(|| start_offering(RECHECK, |_| None, ForwardOffer::ChannelV4Only))
}

/// A gateway whose configuration directory `prepare` may fill first (before the host key exists);
/// it returns the host certificate to present, if any.
pub fn start_with(
    recheck_interval: Duration,
    prepare: impl FnOnce(&Path) -> Option<PathBuf>,
) -> TestGateway {
    start_offering(recheck_interval, prepare, ForwardOffer::Auto)
}

fn start_offering(
    recheck_interval: Duration,
    prepare: impl FnOnce(&Path) -> Option<PathBuf>,
    port_forward: ForwardOffer,
) -> TestGateway {
    {
        // RUST_LOG=kubejit_gateway=debug shows the gateway's log (refusal reasons, session ends).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cp = shared();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        new_ssh_key(&ca, Some("test-ca")).unwrap();
        std::fs::create_dir(dir.path().join("recordings")).unwrap();
        let host_cert = prepare(dir.path());
        let trail = std::fs::File::create(dir.path().join("audit.jsonl")).unwrap();
        let sink = kubejit_audit::WriterSink::new(trail, "test trail");
        let audit = std::sync::Arc::new(kubejit_audit::Auditor::new(
            std::sync::Arc::new(sink),
            None,
            std::sync::Arc::new(kubejit_core::SystemClock),
        ));
        let config = GatewayConfig {
            listen: "127.0.0.1:0".into(),
            host_key: dir.path().join("host_key"),
            host_cert,
            trusted_ca_files: vec![dir.path().join("ca.pub")],
            max_cert_lifetime: Duration::from_secs(3600),
            user_groups: [("mapped".to_owned(), vec!["mapped-group".to_owned()])].into(),
            limits: Limits {
                recheck_interval,
                max_sessions_per_user: 2,
                ..Limits::default()
            },
            recordings: dir.path().join("recordings"),
            record_input: false,
            client: kubejit_kube::ClientOptions {
                kubeconfig: Some(cp.admin_kubeconfig().to_owned()),
                context: None,
            },
            port_forward,
        };
        let metrics = Metrics::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let m = metrics.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let gw = Gateway::bind(&config, m, audit).await.unwrap();
                tx.send(gw.local_addr().unwrap().port()).unwrap();
                gw.run(std::future::pending()).await.unwrap();
            });
        });
        let port = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let line = known_hosts_line(&dir.path().join("host_key"), port).unwrap();
        std::fs::write(dir.path().join("known_hosts"), line).unwrap();
        TestGateway { port, dir, metrics }
    }
}

/// A user key and its certificate, made by `ssh-keygen -s`.
pub struct Cert {
    pub key: PathBuf,
    pub cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A new ed25519 key `id` (no passphrase) in a directory of its own.
fn fresh_key() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id");
    new_ssh_key(&key, None).unwrap();
    (dir, key)
}

/// Signs a fresh user key with `ca` (the test CA unless given): `-I id -n principals -V validity`
/// plus `extra` (`-O …`, `-h`).
pub fn cert_by(ca: &Path, principals: &str, validity: &str, extra: &[&str]) -> Cert {
    let (dir, key) = fresh_key();
    let pubkey = dir.path().join("id.pub");
    sign_user_key(ca, &pubkey, "test-key-id", principals, validity, extra).unwrap();
    Cert {
        key,
        cert: Some(dir.path().join("id-cert.pub")),
        _dir: dir,
    }
}

pub fn cert(principals: &str, extra: &[&str]) -> Cert {
    cert_by(&gateway().ca(), principals, "-1m:+30m", extra)
}

/// A key with no certificate at all.
pub fn plain_key() -> Cert {
    let (dir, key) = fresh_key();
    Cert {
        key,
        cert: None,
        _dir: dir,
    }
}

/// `ssh` to the gateway as `login` with `cert`, running `args`; `opts` go before the host.
pub fn ssh_command(cert: &Cert, login: &str, opts: &[&str], args: &[&str]) -> Command {
    ssh_command_to(gateway(), cert, login, opts, args)
}

/// [`ssh_command`] to a given test gateway.
pub fn ssh_command_to(
    gw: &TestGateway,
    cert: &Cert,
    login: &str,
    opts: &[&str],
    args: &[&str],
) -> Command {
    let mut cmd = ssh_client(gw.port, &cert.key, cert.cert.as_deref());
    cmd.args([
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
    ])
    .arg("-o")
    .arg(format!("UserKnownHostsFile={}", gw.known_hosts().display()))
    .args(["-o", "ConnectTimeout=30"])
    .args(opts)
    .arg(format!("{login}@127.0.0.1"))
    .args(args);
    cmd
}

pub fn ssh(cert: &Cert, login: &str, args: &[&str]) -> Output {
    ssh_command(cert, login, &[], args)
        .output_bounded()
        .unwrap()
}

/// A free local port for `ssh -L` (outside the kernel's ephemeral range: see the testenv's).
pub fn free_port() -> u16 {
    kubejit_testenv::free_port().unwrap()
}

/// A connection to local `port` once something listens there (within `bound`).
pub fn connect_within(port: u16, bound: Duration) -> TcpStream {
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            return s;
        }
        assert!(start.elapsed() < bound, "ssh -L never listened on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A namespace with a Running pod `api` (with `log`, port 8080), and — if `group` is given — a
/// Role for logs, exec and port-forward bound to that group.
pub fn namespace(cp: &ControlPlane, prefix: &str, log: &str, group: Option<&str>) -> String {
    let ns = unique_namespace(prefix);
    cp.create_namespace(&ns).unwrap();
    cp.create_running_pod(&PodSpec {
        namespace: &ns,
        name: "api",
        log,
        ports: &[8080],
    })
    .unwrap();
    if let Some(group) = group {
        grant(cp, &ns, group);
    }
    ns
}

pub fn grant(cp: &ControlPlane, ns: &str, group: &str) {
    let manifest = format!(
        r#"{{"apiVersion": "v1", "kind": "List", "items": [
  {{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {{"name": "debug", "namespace": "{ns}"}},
    "rules": [
      {{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}},
      {{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}},
      {{"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["get", "create"]}}]}},
  {{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
    "metadata": {{"name": "debug", "namespace": "{ns}"}},
    "roleRef": {{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "debug"}},
    "subjects": [{{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "{group}"}}]}}]}}"#
    );
    let out = cp.apply(&manifest).unwrap();
    assert!(out.success, "{}", out.stderr);
}

/// A certificate for `login` whose signed groups extension says `group`.
pub fn member(login: &str, group: &str, extra: &[&str]) -> Cert {
    member_by(&gateway().ca(), login, group, "-1m:+30m", extra)
}

/// [`member`] signed by `ca`, valid for `validity`.
pub fn member_by(ca: &Path, login: &str, group: &str, validity: &str, extra: &[&str]) -> Cert {
    let ext = format!("extension:groups@kubejit.dev={group}");
    let mut opts = vec!["-O", ext.as_str()];
    opts.extend_from_slice(extra);
    cert_by(ca, login, validity, &opts)
}

/// Spawns `cmd` (an `exec` whose script first prints `started`) and returns once it has.
pub fn started(cmd: &mut std::process::Command) -> std::process::Child {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"started\n");
    child
}

/// `ssh -N -L PORT:api.<ns>:8080` as `login`, and one connection to the forwarded local port.
pub fn forward_to_api(cert: &Cert, login: &str, ns: &str) -> (std::process::Child, TcpStream) {
    let port = free_port();
    let forward = format!("{port}:api.{ns}:8080");
    let child = ssh_command(
        cert,
        login,
        &["-N", "-o", "ExitOnForwardFailure=yes", "-L", &forward],
        &[],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let conn = connect_within(port, Duration::from_secs(60));
    (child, conn)
}

/// Sends `payload` through `conn` to the pod's echo server and checks it comes back whole.
pub fn echoes(mut conn: TcpStream, payload: Vec<u8>) {
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let writer = {
        let mut w = conn.try_clone().unwrap();
        let p = payload.clone();
        std::thread::spawn(move || w.write_all(&p).unwrap())
    };
    let mut echoed = vec![0u8; payload.len()];
    conn.read_exact(&mut echoed).unwrap();
    writer.join().unwrap();
    assert!(echoed == payload, "the echo through the pod differs");
}
