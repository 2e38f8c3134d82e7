//! Running a command with a deadline: a hung child is killed (its whole process group) and reported
//! with what it printed, so no test and no sandbox step can wait forever.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::Error;

/// How long one command (kubectl, kubejit) may run in a test before it counts as hung. Generous: it
/// detects hangs, it does not measure speed.
pub const COMMAND_BOUND: Duration = Duration::from_secs(180);

const POLL: Duration = Duration::from_millis(20);

/// Runs `cmd` to completion with `stdin` (if any), like [`Command::output`], but gives up after
/// `bound`: the child's process group is killed and [`Error::TimedOut`] carries its output so far.
pub fn output_within(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    bound: Duration,
) -> Result<Output, Error> {
    let what = describe(cmd);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        // Its own group, so a timeout also ends whatever the child started (kubectl's plugins, shells).
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        component: what.clone(),
        source,
    })?;
    let writer = stdin.map(|bytes| {
        let bytes = bytes.to_vec();
        let pipe = child.stdin.take();
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                // A child that exits without reading its input is not our error.
                let _ = pipe.write_all(&bytes);
            }
        })
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_within(&mut child, bound);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(Error::TimedOut {
            what,
            seconds: bound.as_secs(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }),
    }
}

/// [`Command::output`] with [`COMMAND_BOUND`]: what tests call instead of `output()`.
pub trait BoundedOutput {
    fn output_bounded(&mut self) -> Result<Output, Error>;
}

impl BoundedOutput for Command {
    fn output_bounded(&mut self) -> Result<Output, Error> {
        output_within(self, None, COMMAND_BOUND)
    }
}

/// Waits for `child` until `bound`; on timeout kills its process group and reaps it, returning `None`.
pub fn wait_within(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) | Err(_) => {
                kill_group(child);
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group may not exist (the child was not spawned as a leader); then kill the child alone.
        if killpg(Pid::from_raw(pid), Signal::SIGKILL).is_err() {
            let _ = child.kill();
        }
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    })
}

fn collect(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_command_that_finishes_returns_its_output() {
        let out = output_within(
            Command::new("sh").args(["-c", "cat; echo err >&2"]),
            Some(b"in"),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_hung_command_and_its_children_are_killed_and_reported() {
        // The grandchild keeps stdout open: unless the whole group dies, reading would block forever.
        let err = output_within(
            Command::new("sh").args(["-c", "echo started; sleep 300 & wait"]),
            None,
            Duration::from_millis(300),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("did not finish within"), "{text}");
        assert!(text.contains("started"), "{text}");
    }
}
