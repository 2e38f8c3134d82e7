//! Runs the real upstream kubectl as a given identity and captures what it printed.

use std::path::Path;
use std::process::Command;

use crate::Error;

/// What one kubectl invocation printed.
#[derive(Debug, Clone)]
pub struct KubectlOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlOutput {
    /// True when the apiserver refused the request as unauthorized (RBAC said no).
    pub fn is_forbidden(&self) -> bool {
        !self.success && (self.stderr.contains("Forbidden") || self.stderr.contains("forbidden"))
    }

    pub(crate) fn into_result(self, args: &[&str]) -> Result<Self, Error> {
        if self.success {
            Ok(self)
        } else {
            Err(Error::Kubectl {
                args: args.join(" "),
                status: self
                    .code
                    .map_or_else(|| "killed".to_owned(), |c| format!("exit {c}")),
                stderr: self.stderr,
            })
        }
    }
}

/// A kubectl command bound to one kubeconfig, isolated from the caller's environment.
pub(crate) fn command(kubectl: &Path, kubeconfig: &Path) -> Command {
    let mut cmd = Command::new(kubectl);
    cmd.env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig);
    cmd
}

pub(crate) fn run(
    mut cmd: Command,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<KubectlOutput, Error> {
    cmd.args(args);
    let out = crate::output_within(&mut cmd, stdin.map(str::as_bytes), crate::COMMAND_BOUND)?;
    Ok(KubectlOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
