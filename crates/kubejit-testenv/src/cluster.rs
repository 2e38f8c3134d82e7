//! Starts and stops the control plane: etcd → kube-apiserver → kube-controller-manager → kwok.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::binaries::Binaries;
use crate::kubeconfig::{write_private, write_token_kubeconfig};
use crate::kubectl::{self, KubectlOutput};
use crate::pki::Pki;
use crate::ports::free_port;
use crate::process::{Proc, Reaper, log_tail};
use crate::workloads::EchoServer;
use crate::{Error, config};

/// A user the apiserver authenticates by static token, with the groups it asserts.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub groups: Vec<String>,
}

impl TestUser {
    pub fn new(name: &str, groups: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// Whether start-up narrates itself on stderr (the sandbox does; tests stay quiet unless failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Quiet,
    Stderr,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub users: Vec<TestUser>,
    pub node_name: String,
    pub progress: Progress,
}

impl Default for Options {
    /// Users every kubejit test can rely on: two on-call engineers of `oncall-payments`, one of
    /// another team, and one with no groups at all.
    fn default() -> Self {
        Self {
            users: vec![
                TestUser::new("alice", &["oncall-payments"]),
                TestUser::new("bob", &["oncall-payments"]),
                TestUser::new("carol", &["oncall-checkout"]),
                TestUser::new("mallory", &[]),
                // An incident commander who may create grants, and a manual CSR approver.
                TestUser::new("irene", &["kubejit-granters"]),
                TestUser::new("oscar", &["kubejit-approvers"]),
                // kubejit's controller, authenticated exactly as its in-cluster ServiceAccount would be.
                TestUser::new(
                    CONTROLLER_SA,
                    &[
                        "system:serviceaccounts",
                        "system:serviceaccounts:kubejit-system",
                    ],
                ),
            ],
            node_name: "kwok-node-0".to_owned(),
            progress: Progress::Quiet,
        }
    }
}

/// The username of kubejit's controller ServiceAccount (deploy/rbac/controller.yaml).
pub const CONTROLLER_SA: &str = "system:serviceaccount:kubejit-system:kubejit-controller";

/// Internal identities of the control plane's own components; excluded from the audit log.
const ADMIN: &str = "kubejit-testenv:admin";
const KCM: &str = "kubejit-testenv:kube-controller-manager";
const KWOK: &str = "kubejit-testenv:kwok";

/// A running control plane. Dropping it stops every process and removes its files.
#[derive(Debug)]
pub struct ControlPlane {
    binaries: Binaries,
    // Field order matters on drop: processes stop (in `Drop`) before the directory disappears.
    // Behind mutexes so that a shared (`&'static`) control plane can restart a component.
    procs: Mutex<Vec<Proc>>,
    reaper: Mutex<Reaper>,
    /// The kube-apiserver's and etcd's command lines and etcd's client port, for restarts.
    api_args: Vec<String>,
    etcd_args: Vec<String>,
    etcd_client: u16,
    server: String,
    pki: Pki,
    kubeconfigs: BTreeMap<String, PathBuf>,
    admin_kubeconfig: PathBuf,
    audit_log: PathBuf,
    node_name: String,
    logs_dir: PathBuf,
    echo: EchoServer,
    progress: Progress,
    dir: tempfile::TempDir,
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ControlPlane {
    /// Starts a fresh control plane from already-built binaries and waits until a pod can run.
    pub fn start(binaries: Binaries, options: Options) -> Result<Self, Error> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("kubejit-testenv-")
            .tempdir()
            .map_err(Error::TempDir)?;
        let reaper = Reaper::start(dir.path())?;
        let pki = Pki::generate(dir.path(), &options.node_name)?;
        let logs_dir = dir.path().join("pod-logs");
        std::fs::create_dir_all(&logs_dir).map_err(|source| Error::Write {
            path: logs_dir.clone(),
            source,
        })?;
        let echo = EchoServer::start()?;
        let api_port = free_port()?;
        let server = format!("https://127.0.0.1:{api_port}");

        let mut tokens = vec![
            (ADMIN.to_owned(), token(), vec!["system:masters".to_owned()]),
            (KCM.to_owned(), token(), vec!["system:masters".to_owned()]),
            (KWOK.to_owned(), token(), vec!["system:masters".to_owned()]),
        ];
        tokens.extend(
            options
                .users
                .iter()
                .map(|u| (u.name.clone(), token(), u.groups.clone())),
        );
        let mut kubeconfigs = BTreeMap::new();
        for (user, tok, _) in &tokens {
            let file = format!("{}.kubeconfig", user.replace(':', "-"));
            let path =
                write_token_kubeconfig(&dir.path().join(file), &server, &pki.ca_pem, user, tok)?;
            kubeconfigs.insert(user.clone(), path);
        }
        let admin_kubeconfig = kubeconfigs.get(ADMIN).cloned().unwrap_or_default();
        let token_file = dir.path().join("tokens.csv");
        write_private(&token_file, &config::token_csv(&tokens))?;
        let audit_log = dir.path().join("kube-apiserver-audit.log");

        let mut cp = Self {
            binaries,
            procs: Mutex::new(Vec::new()),
            reaper: Mutex::new(reaper),
            api_args: Vec::new(),
            etcd_args: Vec::new(),
            etcd_client: 0,
            server,
            pki,
            kubeconfigs,
            admin_kubeconfig,
            audit_log,
            node_name: options.node_name,
            logs_dir,
            echo,
            progress: options.progress,
            dir,
        };
        cp.boot(api_port, &token_file)?;
        cp.say(&format!(
            "control plane ready in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        Ok(cp)
    }
}

impl ControlPlane {
    fn say(&self, msg: &str) {
        if self.progress == Progress::Stderr {
            eprintln!("[testenv] {msg}");
        }
    }

    fn spawn(&self, name: &str, bin: &str, args: &[String]) -> Result<(), Error> {
        let program = self.binaries.require(bin)?;
        self.say(&format!("starting {name}"));
        let mut reaper = lock(&self.reaper);
        let proc = Proc::spawn(name, &program, args, self.dir.path(), &mut reaper)?;
        lock(&self.procs).push(proc);
        Ok(())
    }

    /// Polls `ready` until it holds, failing early (with the log tail) if the component exits.
    fn wait_for(
        &self,
        component: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Self) -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            for p in lock(&self.procs).iter_mut() {
                p.check_alive()?;
            }
            if ready(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = lock(&self.procs)
                    .iter()
                    .find(|p| p.name == component)
                    .map(|p| p.log.clone())
                    .unwrap_or_default();
                return Err(Error::NotReady {
                    component: component.to_owned(),
                    seconds: timeout.as_secs(),
                    tail: log_tail(&log),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn boot(&mut self, api_port: u16, token_file: &Path) -> Result<(), Error> {
        let (etcd_client, etcd_peer) = (free_port()?, free_port()?);
        let etcd_args = config::etcd_args(self.dir.path(), etcd_client, etcd_peer);
        self.spawn("etcd", "etcd", &etcd_args)?;
        (self.etcd_args, self.etcd_client) = (etcd_args, etcd_client);
        self.wait_for_etcd()?;

        let policy = self.dir.path().join("audit-policy.yaml");
        std::fs::write(&policy, config::audit_policy(&[KCM, KWOK])).map_err(|source| {
            Error::Write {
                path: policy.clone(),
                source,
            }
        })?;
        let api_args = config::apiserver_args(
            &self.pki,
            api_port,
            etcd_client,
            token_file,
            &policy,
            &self.audit_log,
        );
        self.spawn("kube-apiserver", "kube-apiserver", &api_args)?;
        self.api_args = api_args;
        self.wait_for_apiserver()?;

        let kcm_args = config::kcm_args(&self.pki, &self.kubeconfig_path(KCM)?);
        self.spawn(
            "kube-controller-manager",
            "kube-controller-manager",
            &kcm_args,
        )?;

        self.install_kwok_crds()?;
        let node_port = free_port()?;
        let kwok_config = self.dir.path().join("kwok.yaml");
        let stages = self.binaries.dir().join("kwok-stages");
        let text = config::kwok_config(
            &stages,
            &self.logs_dir.join("default.log"),
            self.echo.port(),
        )?;
        std::fs::write(&kwok_config, text).map_err(|source| Error::Write {
            path: kwok_config.clone(),
            source,
        })?;
        let kwok_args = config::kwok_args(
            &self.pki,
            &self.kubeconfig_path(KWOK)?,
            &kwok_config,
            &self.node_name,
            node_port,
        );
        self.spawn("kwok", "kwok", &kwok_args)?;
        self.apply(&crate::workloads::node_manifest(&self.node_name))?;
        self.say("waiting for the kwok node to become Ready");
        self.wait_for("kwok", Duration::from_secs(90), |cp| {
            let jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
            cp.kubectl_as(ADMIN, &["get", "node", &cp.node_name, "-o", jsonpath])
                .is_ok_and(|o| o.stdout.trim() == "True")
        })
    }

    fn wait_for_etcd(&self) -> Result<(), Error> {
        self.wait_for("etcd", Duration::from_secs(60), |cp| {
            config::etcd_healthy(cp.etcd_client)
        })
    }

    fn wait_for_apiserver(&self) -> Result<(), Error> {
        self.wait_for("kube-apiserver", Duration::from_secs(180), |cp| {
            cp.kubectl_as(ADMIN, &["get", "--raw", "/readyz"])
                .is_ok_and(|o| o.success)
        })
    }

    fn install_kwok_crds(&self) -> Result<(), Error> {
        let crd = self
            .binaries
            .dir()
            .join("kwok-crds")
            .join("kwok.x-k8s.io_logs.yaml");
        let crd = crd.to_string_lossy().into_owned();
        self.admin(&["apply", "-f", &crd])?;
        self.admin(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/logs.kwok.x-k8s.io",
        ])?;
        Ok(())
    }

    fn kubeconfig_path(&self, user: &str) -> Result<PathBuf, Error> {
        self.kubeconfigs
            .get(user)
            .cloned()
            .ok_or_else(|| Error::UnknownUser(user.to_owned()))
    }
}

/// Accessors and helpers that tests and the sandbox use.
impl ControlPlane {
    /// `https://127.0.0.1:<port>` of the kube-apiserver.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// PEM of the CA that signs client certificates (and CSRs) and the serving certificates.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    pub fn ca_cert_path(&self) -> &Path {
        &self.pki.ca_cert
    }

    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The kubeconfig of a test user from [`Options::users`].
    pub fn kubeconfig(&self, user: &str) -> Result<PathBuf, Error> {
        self.kubeconfig_path(user)
    }

    /// The kube-apiserver's real audit log (`audit.k8s.io/v1` JSON lines).
    pub fn audit_log(&self) -> &Path {
        &self.audit_log
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Port of the local TCP echo server that the kwok node forwards pod ports to.
    pub fn echo_port(&self) -> u16 {
        self.echo.port()
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// The environment's private working directory (logs of every component live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn logs_dir(&self) -> &Path {
        &self.logs_dir
    }

    /// Runs the real kubectl as `user`; a non-zero exit is returned, not an error.
    pub fn kubectl_as(&self, user: &str, args: &[&str]) -> Result<KubectlOutput, Error> {
        let cmd = kubectl::command(&self.binaries.kubectl(), &self.kubeconfig_path(user)?);
        kubectl::run(cmd, args, None)
    }

    /// Runs kubectl as the cluster admin and fails on a non-zero exit.
    pub fn admin(&self, args: &[&str]) -> Result<KubectlOutput, Error> {
        self.kubectl_as(ADMIN, args)?.into_result(args)
    }

    /// `kubectl apply -f -` as the admin.
    pub fn apply(&self, manifest: &str) -> Result<KubectlOutput, Error> {
        let cmd = kubectl::command(&self.binaries.kubectl(), &self.admin_kubeconfig);
        let args = ["apply", "-f", "-"];
        kubectl::run(cmd, &args, Some(manifest))?.into_result(&args)
    }

    /// Stops every component (kwok first, etcd last) and removes the environment's files.
    pub fn stop(self) {
        drop(self);
    }
}

/// Restarting components mid-flow (chaos tests).
impl ControlPlane {
    /// Stops the kube-apiserver (SIGTERM, SIGKILL after 5 s) and starts it again with the same flags,
    /// port, certificates and etcd, then waits until it is ready. Clients see connection errors and
    /// broken watches in between, as in a real apiserver restart. The previous run's log is kept as
    /// `kube-apiserver.<n>.log`; the audit log continues in the same file.
    pub fn restart_apiserver(&self) -> Result<(), Error> {
        self.restart("kube-apiserver", &self.api_args, Duration::ZERO)?;
        self.wait_for_apiserver()
    }

    /// Stops etcd, keeps it down for `down`, and starts it again on the same ports and data, then
    /// waits until it is healthy. Meanwhile the apiserver stays up and its requests fail or time out.
    pub fn restart_etcd(&self, down: Duration) -> Result<(), Error> {
        self.restart("etcd", &self.etcd_args, down)?;
        self.wait_for_etcd()
    }

    /// Stops component `name`, waits `down`, and starts it again with `args`; its previous log is kept
    /// as `<name>.<n>.log`.
    fn restart(&self, name: &str, args: &[String], down: Duration) -> Result<(), Error> {
        let restart = {
            let mut procs = lock(&self.procs);
            let Some(index) = procs.iter().position(|p| p.name == name) else {
                return Err(Error::UnknownComponent(name.to_owned()));
            };
            let mut old = procs.remove(index);
            old.stop(Duration::from_secs(5));
            let n = (1..)
                .find(|n| !self.dir.path().join(format!("{name}.{n}.log")).exists())
                .unwrap_or(0);
            let kept = self.dir.path().join(format!("{name}.{n}.log"));
            std::fs::rename(&old.log, &kept).map_err(|source| Error::Write {
                path: kept.clone(),
                source,
            })?;
            n
        };
        self.say(&format!("restarting {name} (restart {restart})"));
        std::thread::sleep(down);
        self.spawn(name, name, args)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the list as it was: keep using it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let procs = self
            .procs
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in procs.iter_mut().rev() {
            p.stop(Duration::from_secs(5));
        }
        procs.clear();
        self.reaper
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .disarm();
        self.say("control plane stopped");
    }
}
