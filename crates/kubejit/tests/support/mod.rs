//! Helpers shared by kubejit's integration tests, all in this one tree: this file (the binary, kubectl,
//! the controller process, and `poll`/`eventually`, the one polling loop), `grants.rs` (grant and reaper
//! tests), `approver_fixture.rs` (the CSR approver tests' CSRs and controller) and `approver.rs` (a
//! stand-in approver for tests that must not depend on kubejit's).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kubejit_testenv::BoundedOutput;
use std::process::{Command, Output};

use kubejit_testenv::KubectlOutput;

/// Runs the kubejit binary under test.
pub fn kubejit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(args)
        .output_bounded()
        .unwrap()
}

/// Runs the kubejit binary under test; it must succeed. Returns its stdout.
pub fn kubejit_stdout(args: &[&str]) -> String {
    let out = kubejit(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubejit {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A successful `kubectl get` table whose header has exactly the columns `header` (separated by
/// spaces); returns the lines after the header.
pub fn table_rows<'a>(out: &'a KubectlOutput, header: &str) -> std::str::Lines<'a> {
    assert!(out.success, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let got: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let want: Vec<&str> = header.split(' ').collect();
    assert_eq!(got, want, "{}", out.stdout);
    lines
}

/// The apiserver said no, to this user, for RBAC reasons — not some other failure.
pub fn assert_forbidden(out: &KubectlOutput, user: &str, args: &[&str]) {
    assert!(
        !out.success,
        "expected Forbidden for {user} {args:?}, but it succeeded: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("forbidden") && out.stderr.contains(&format!("User \"{user}\"")),
        "expected an RBAC Forbidden for {user} {args:?}, got: {}",
        out.stderr
    );
}

/// A running `kubectl port-forward` to `pod:remote` on an ephemeral local port.
pub struct PortForward {
    child: std::process::Child,
    /// The local port, once kubectl announced "Forwarding from 127.0.0.1:<port> -> <remote>".
    pub port: Option<u16>,
}

pub fn port_forward(
    cp: &kubejit_testenv::ControlPlane,
    user: &str,
    ns: &str,
    pod: &str,
    remote: u16,
) -> PortForward {
    use std::io::BufRead;
    let mut child = Command::new(cp.binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig(user).unwrap())
        .args([
            "port-forward",
            "-n",
            ns,
            &format!("pod/{pod}"),
            &format!(":{remote}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = stdout.read_line(&mut line);
    // Keep draining: kubectl prints a line per connection and dies of SIGPIPE if nobody reads.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok());
    PortForward { child, port }
}

impl PortForward {
    /// Stops kubectl and returns what it printed on stderr.
    pub fn stop(mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let _ = kubejit_testenv::wait_within(&mut self.child, std::time::Duration::from_secs(30));
        err
    }
}

/// Applies kubejit's cluster-side install (`kubectl apply -k deploy/`) once per test binary.
pub fn install_kubejit(cp: &kubejit_testenv::ControlPlane) {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
        cp.admin(&["apply", "-k", deploy]).unwrap();
        cp.admin(&[
            "wait",
            "--for=condition=Established",
            "crd/accesspolicies.kubejit.dev",
            "crd/accessrequests.kubejit.dev",
            "crd/accessapprovals.kubejit.dev",
        ])
        .unwrap();
        wait_for_grant_admission(cp);
        wait_for_request_admission(cp);
    });
}

/// Like [`wait_for_grant_admission`], for the AccessRequest policies: waits until a server-side dry
/// run of a request in someone else's name (by the admin, whom no exception covers) is refused by
/// kubejit-request-requester.
fn wait_for_request_admission(cp: &kubejit_testenv::ControlPlane) {
    let probe = serde_json::json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": "kubejit-admission-probe", "namespace": "kubejit-system"},
        "spec": {"requester": {"username": "nobody"}, "reason": "admission probe",
                 "role": {"kind": "ClusterRole", "name": "oncall-debug"}},
    })
    .to_string();
    wait_for_refusal(
        &probe,
        "the AccessRequest admission policy to be enforced",
        |args| {
            let refused = cp.admin(args).err()?.to_string();
            refused.contains("kubejit-request-requester").then_some(())
        },
    );
}

/// The apiserver loads admission policies through an informer, a moment after they are created:
/// a test that edits a grant right after the install could slip past the policy. Waits until a
/// server-side dry run of a malformed grant by the controller's own identity (the only one the
/// policy lets write grants, and one RBAC lets create bindings of oncall-debug) is refused by it.
fn wait_for_grant_admission(cp: &kubejit_testenv::ControlPlane) {
    let probe = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "kubejit-admission-probe", "namespace": "kubejit-system",
                     "annotations": {"debugging.kubernetes.io/expires-at": "not-a-time",
                                     "kubejit.dev/granted-by": kubejit_testenv::CONTROLLER_SA}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "oncall-debug"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "nobody"}],
    })
    .to_string();
    wait_for_refusal(
        &probe,
        "the grant admission policy to be enforced",
        |args| {
            let out = cp.kubectl_as(kubejit_testenv::CONTROLLER_SA, args).ok()?;
            out.stderr
                .contains("kubejit-grant-annotations")
                .then_some(())
        },
    );
}

/// Writes `probe` to a file and polls `refused` with the kubectl args of its server-side dry-run
/// create until it reports the refusal the caller waits for.
fn wait_for_refusal(probe: &str, what: &str, refused: impl Fn(&[&str]) -> Option<()>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.json");
    std::fs::write(&file, probe).unwrap();
    let args = ["create", "--dry-run=server", "-f", file.to_str().unwrap()];
    eventually(std::time::Duration::from_secs(60), what, || refused(&args));
}

/// How long a controller may take to exit after SIGTERM before a test calls it hung. The controller
/// bounds its own shutdown well below this (docs/controller.md); this only turns a hang into a failure.
pub const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// `kubejit controller` running as a real process with the controller ServiceAccount's identity
/// and exactly the RBAC in deploy/. Stopped with SIGTERM on drop.
pub struct ControllerProcess {
    child: std::process::Child,
    pub http_port: u16,
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start_controller(cp: &kubejit_testenv::ControlPlane, extra: &[&str]) -> ControllerProcess {
    let mut proc = spawn_controller(cp, extra);
    proc.wait_ready();
    proc
}

/// Starts `kubejit controller` without waiting for it to be ready (to signal it mid-start-up).
pub fn spawn_controller(cp: &kubejit_testenv::ControlPlane, extra: &[&str]) -> ControllerProcess {
    let kubeconfig = cp.kubeconfig(kubejit_testenv::CONTROLLER_SA).unwrap();
    spawn_controller_with(cp, &kubeconfig, extra)
}

/// [`spawn_controller`] with another kubeconfig (e.g. one that reaches the apiserver through a proxy).
pub fn spawn_controller_with(
    cp: &kubejit_testenv::ControlPlane,
    kubeconfig: &std::path::Path,
    extra: &[&str],
) -> ControllerProcess {
    install_kubejit(cp);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("controller.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .arg("controller")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "--http-addr",
            &format!("127.0.0.1:{port}"),
            "--lease-duration",
            "4s",
            "-v",
        ])
        .args(extra)
        .stdout(std::fs::File::create(dir.path().join("controller.stdout")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    ControllerProcess {
        child,
        http_port: port,
        log,
        _dir: dir,
    }
}

impl ControllerProcess {
    fn wait_ready(&mut self) {
        let ready = poll(std::time::Duration::from_secs(30), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "controller exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            http_get(self.http_port, "/readyz")
                .is_some_and(|b| b.starts_with("ok"))
                .then_some(())
        });
        assert!(ready.is_some(), "controller not ready: {}", self.log_text());
    }

    pub fn metrics(&self) -> String {
        http_get(self.http_port, "/metrics").unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Audit records the controller wrote to stdout (the default sink).
    pub fn stdout_audit(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self._dir.path().join("controller.stdout")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGTERM, then wait: the controller finishes in-flight work and releases its Lease. Returns the
    /// exit status and everything the controller logged.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = self.terminate();
        (status, self.log_text())
    }

    /// SIGTERM, then a bounded wait: a controller that does not exit within
    /// [`SHUTDOWN_DEADLINE`] is killed and the test fails with its log.
    fn terminate(&mut self) -> std::process::ExitStatus {
        self.terminate_within()
            .unwrap_or_else(|| panic!("{}", self.hung()))
    }

    /// SIGTERM and a bounded wait; `None` when the controller had to be killed.
    pub fn terminate_within(&mut self) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        kubejit_testenv::wait_within(&mut self.child, SHUTDOWN_DEADLINE)
    }

    fn hung(&self) -> String {
        format!(
            "the controller did not exit within {SHUTDOWN_DEADLINE:?} of SIGTERM and was killed; its log:\n{}",
            self.log_text()
        )
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) && self.terminate_within().is_none() {
            // A panic while already unwinding would abort the whole test binary: report instead.
            if std::thread::panicking() {
                eprintln!("{}", self.hung());
            } else {
                panic!("{}", self.hung());
            }
        }
    }
}

/// A plain HTTP/1.0 GET on loopback; `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// Polls `probe` every 50 ms until it yields a value or `bound` passes: the one polling loop of the
/// integration tests. Tests wait for outcomes with generous bounds; they never assert how fast
/// something happened. [`eventually`] is the variant that fails the test on timeout.
pub fn poll<T>(bound: std::time::Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Polls `probe` until it yields a value, panicking with `what` after `timeout`.
pub fn eventually<T>(
    timeout: std::time::Duration,
    what: &str,
    probe: impl FnMut() -> Option<T>,
) -> T {
    poll(timeout, probe).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Runs a command that must succeed, failing the test with its stderr otherwise.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output_bounded().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh namespace with one Running pod `api` (port 8080, log `log`) on the kwok node.
pub fn namespace_with_pod(cp: &kubejit_testenv::ControlPlane, prefix: &str, log: &str) -> String {
    let ns = kubejit_testenv::unique_namespace(prefix);
    cp.create_namespace(&ns).unwrap();
    let pod = kubejit_testenv::PodSpec {
        namespace: &ns,
        name: "api",
        log,
        ports: &[8080],
    };
    cp.create_running_pod(&pod).unwrap();
    ns
}
/// One controller for the whole test binary (a controller watches the whole cluster), started on
/// first use. A babysitter shell sends it SIGTERM once this test process is gone, since statics
/// are never dropped.
pub fn shared_controller(
    cp: &'static kubejit_testenv::ControlPlane,
    extra: &[&str],
) -> &'static ControllerProcess {
    static SHARED: std::sync::OnceLock<ControllerProcess> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let ctl = start_controller(cp, extra);
        let _ = Command::new("sh")
            .args([
                "-c",
                "while kill -0 \"$0\" 2>/dev/null; do sleep 0.5; done; kill -TERM \"$1\"",
                &std::process::id().to_string(),
                &ctl.child.id().to_string(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        ctl
    })
}

/// Waits (polling, with a generous bound) until `probe` holds; returns whether it did.
pub fn wait_until(bound: std::time::Duration, mut probe: impl FnMut() -> bool) -> bool {
    poll(bound, || probe().then_some(())).is_some()
}

impl ControllerProcess {
    /// Sends this controller SIGTERM once the test process is gone (statics are never dropped).
    pub fn babysit(&self) {
        let _ = Command::new("sh")
            .args([
                "-c",
                "while kill -0 \"$0\" 2>/dev/null; do sleep 0.5; done; kill -TERM \"$1\"",
                &std::process::id().to_string(),
                &self.child.id().to_string(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    /// SIGKILL, as the kernel's OOM killer or a node failure would: no handler runs. Returns the
    /// exit status, or `None` when the process had already exited on its own (then it is the status
    /// it exited with that [`Self::exited`] reports).
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return None;
        }
        let _ = self.child.kill();
        kubejit_testenv::wait_within(&mut self.child, SHUTDOWN_DEADLINE)
    }

    /// The exit status if the process has exited (on its own or killed), else `None`.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The controller's process id (for /proc measurements in benchmarks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Benchmarks' resource figures: CPU seconds (utime + stime) a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    ticks
        / String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(100.0)
}

/// The 1, 5 and 15 minute load averages, for a benchmark's conditions.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
