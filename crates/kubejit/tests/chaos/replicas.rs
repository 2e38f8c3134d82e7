//! Controller replicas of one chaos run: each a real `kubejit controller` process with its own,
//! stable trail (file + `--audit-trail` name), resumed by every restart as docs/audit.md says a
//! restarted replica does; killed with SIGKILL, started again, stopped with SIGTERM at the end.

use std::path::{Path, PathBuf};

use kubejit_testenv::ControlPlane;

use crate::support::{ControllerProcess, spawn_controller, spawn_controller_with};

/// What every replica of a run shares: the Lease, the checkpoint-signing key, and the kubeconfig
/// (the controller ServiceAccount's unless a test routes it through a proxy).
pub struct Shared {
    pub lease: String,
    pub key: PathBuf,
    pub kubeconfig: Option<PathBuf>,
}

pub struct Replica {
    /// `--holder-identity` and `--audit-trail`: stable across restarts.
    pub name: String,
    pub trail: PathBuf,
    proc: Option<ControllerProcess>,
    /// Each finished process's log, in order.
    pub logs: Vec<String>,
    /// Processes that exited without being told to (any status): never expected.
    pub unexpected_exits: Vec<String>,
    pub starts: usize,
}

impl Replica {
    pub fn new(name: String, dir: &Path) -> Self {
        let trail = dir.join(format!("{name}.jsonl"));
        Self {
            name,
            trail,
            proc: None,
            logs: Vec::new(),
            unexpected_exits: Vec::new(),
            starts: 0,
        }
    }

    pub fn running(&self) -> bool {
        self.proc.is_some()
    }

    /// Starts a process without waiting for it to be ready: the next kill may land mid-start-up.
    pub fn start(&mut self, cp: &ControlPlane, shared: &Shared) {
        assert!(self.proc.is_none(), "{} already runs", self.name);
        let trail = self.trail.to_str().unwrap().to_owned();
        let key = shared.key.to_str().unwrap().to_owned();
        let args = [
            "--lease-name",
            &shared.lease,
            "--holder-identity",
            &self.name,
            "--controllers",
            "approver,reaper,requests",
            "--audit-log",
            &trail,
            "--audit-trail",
            &self.name,
            "--audit-signing-key",
            &key,
            // Checkpoints (and their anchor writes) often, so kills land around them too.
            "--audit-checkpoint-every",
            "5",
        ];
        self.proc = Some(match &shared.kubeconfig {
            Some(kubeconfig) => spawn_controller_with(cp, kubeconfig, &args),
            None => spawn_controller(cp, &args),
        });
        self.starts += 1;
    }

    /// SIGKILL. A process found already dead is an unexpected exit.
    pub fn kill(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            if let Some(status) = proc.exited() {
                self.unexpected(&proc, &status.to_string());
            } else {
                proc.kill();
            }
            self.logs.push(proc.log_text());
        }
    }

    /// SIGTERM and wait: the graceful end (seals the trail and anchors its last checkpoint).
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            if let Some(status) = proc.exited() {
                self.unexpected(&proc, &status.to_string());
                self.logs.push(proc.log_text());
                return;
            }
            let (status, log) = proc.stop();
            if !status.success() {
                self.unexpected_exits
                    .push(format!("{}: SIGTERM exit {status}; log:\n{log}", self.name));
            }
            self.logs.push(log);
        }
    }

    /// A process that died on its own since the last look (checked while the run goes on).
    pub fn check_alive(&mut self) {
        let dead = self.proc.as_mut().and_then(ControllerProcess::exited);
        if let Some(status) = dead {
            let proc = self.proc.take().unwrap();
            self.unexpected(&proc, &status.to_string());
            self.logs.push(proc.log_text());
        }
    }

    fn unexpected(&mut self, proc: &ControllerProcess, status: &str) {
        let log = proc.log_text();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        self.unexpected_exits.push(format!(
            "{} exited on its own ({status}); log ends:\n{}",
            self.name,
            tail.join("\n")
        ));
    }

    /// Every log line that mentions a panic (a contained one is logged as "... panicked (...)").
    pub fn panics(&self) -> Vec<String> {
        self.logs
            .iter()
            .flat_map(|l| l.lines())
            .filter(|l| l.contains("panicked"))
            .map(|l| format!("{}: {l}", self.name))
            .collect()
    }
}
