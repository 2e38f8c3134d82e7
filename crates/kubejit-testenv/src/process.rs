//! Child processes in their own process groups, stopped on drop, with a reaper as a safety net.
//!
//! A test binary keeps its shared control plane in a `static`, which Rust never drops, and a test
//! may abort. So every process group is also registered with a tiny reaper shell that reads our
//! pipe: when our process exits for any reason the pipe closes and the reaper kills the groups and
//! removes the temporary directory. Nothing outlives the test binary or the sandbox.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::Error;

// POSIX sh (dash on Debian): `kill -s SIG -- -PGID` is the portable spelling for a process group.
const REAPER: &str = r#"
groups=""
dir="$1"
while read -r line; do
  case "$line" in
    clear) groups="" ;;
    *) groups="$groups $line" ;;
  esac
done
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
sleep 2
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
[ -n "$dir" ] && rm -rf -- "$dir"
"#;

/// Kills registered process groups and removes a directory once our process is gone.
#[derive(Debug)]
pub(crate) struct Reaper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Reaper {
    pub(crate) fn start(dir: &Path) -> Result<Self, Error> {
        let mut child = Command::new("sh")
            .args(["-c", REAPER, "kubejit-reaper"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a Ctrl-C in the sandbox's terminal must not kill the safety net.
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                component: "reaper".into(),
                source,
            })?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    fn send(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            // Best effort: if the reaper is gone there is nothing better to do than clean up ourselves.
            let _ = writeln!(stdin, "{line}");
        }
    }

    pub(crate) fn register(&mut self, pgid: u32) {
        self.send(&pgid.to_string());
    }

    /// Orderly shutdown already happened: tell the reaper to forget the groups, then let it exit.
    pub(crate) fn disarm(&mut self) {
        self.send("clear");
        self.stdin = None;
        let _ = self.child.wait();
    }
}

/// One running component.
#[derive(Debug)]
pub(crate) struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    pub(crate) fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        dir: &Path,
        reaper: &mut Reaper,
    ) -> Result<Self, Error> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(|source| Error::Write {
            path: log.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| Error::Write {
            path: log.clone(),
            source,
        })?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                component: name.to_owned(),
                source,
            })?;
        reaper.register(child.id());
        tracing::debug!(component = name, pid = child.id(), "started");
        Ok(Self {
            name: name.to_owned(),
            log,
            child,
        })
    }

    /// Fails with the log's tail if the process has already exited.
    pub(crate) fn check_alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(Error::Exited {
                component: self.name.clone(),
                status: status.to_string(),
                log: self.log.clone(),
                tail: log_tail(&self.log),
            }),
            Ok(None) | Err(_) => Ok(()),
        }
    }

    /// SIGTERM to the whole group, then SIGKILL after a grace period.
    pub(crate) fn stop(&mut self, grace: Duration) {
        let pgid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = killpg(pgid, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Children of the component (kwok's exec'd commands) may linger in the group.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The last lines of a component's log, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
