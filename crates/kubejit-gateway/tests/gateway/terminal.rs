//! Interactive exec through a real terminal: `ssh -tt` on a pseudo-terminal the test owns, the
//! pod's shell sees that terminal's size, and a resize (stty + SIGWINCH, as a terminal emulator
//! does) reaches the pod.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubejit_testenv::shared;
use nix::pty::{Winsize, openpty};

use crate::support::*;

/// Output seen on the terminal so far, read by a background thread.
fn reader(mut master: std::fs::File) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

fn seen_text(seen: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
}

/// Polls until the terminal showed `want`, nudging with `nudge` (bounded, generous).
fn wait_for(seen: &Mutex<Vec<u8>>, want: &str, mut nudge: impl FnMut()) {
    let start = Instant::now();
    while !seen_text(seen).contains(want) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "terminal never showed {want:?}: {:?}",
            seen_text(seen)
        );
        nudge();
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn interactive_exec_sees_the_terminal_size_and_its_resize() {
    let cp = shared();
    let group = "oncall-tty";
    let ns = namespace(cp, "gw-tty", "", Some(group));
    let c = member("u-tty", group, &[]);
    let size = Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).unwrap();
    let slave_path =
        std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
    let script = "'stty size; while read x; do stty size; done; exit 0'";
    let mut child = ssh_command(
        &c,
        "u-tty",
        &["-tt"],
        &["exec", "-n", &ns, "api", "--", "sh", "-c", script],
    )
    .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
    .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
    .stderr(Stdio::from(pty.slave))
    .spawn()
    .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let seen = reader(master.try_clone().unwrap());

    // The gateway sends the size as the exec's first frame, but kwok applies it just after the
    // command has started, so the first `stty size` can print `0 0` (CI, and `kubectl exec -it`
    // directly shows the same): each newline prints the size again.
    wait_for(&seen, "24 80", || {
        let _ = master.write_all(b"\n");
    });
    let stty = std::process::Command::new("stty")
        .arg("-F")
        .arg(&slave_path)
        .args(["rows", "30", "cols", "100"])
        .status()
        .unwrap();
    assert!(stty.success());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    wait_for(&seen, "30 100", || {
        let _ = master.write_all(b"\n");
    });
    // Ctrl-D ends `read`; the shell exits 0 and so does ssh.
    master.write_all(b"\x04").unwrap();
    let status = kubejit_testenv::wait_within(&mut child, Duration::from_secs(60))
        .expect("ssh did not exit");
    assert_eq!(status.code(), Some(0), "{}", seen_text(&seen));
}
