//! Helpers shared by kubejit's integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use kubejit_testenv::KubectlOutput;

/// Runs the kubejit binary under test.
pub fn kubejit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(args)
        .output()
        .unwrap()
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
        let _ = self.child.wait();
        err
    }
}
