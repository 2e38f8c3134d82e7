//! `kubejit sandbox` end to end: it comes up with the demo namespace, Role and kubejit's controller;
//! every command of the walkthrough it prints runs, as printed, with the outcome it announces; and
//! Ctrl-C leaves nothing behind.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubejit_testenv::BoundedOutput;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What a walkthrough line promises, read from its trailing `# comment`.
#[derive(Debug, PartialEq)]
enum Expect {
    /// No comment, or one that promises nothing checkable: exit 0.
    Success,
    /// `# Forbidden…`: a non-zero exit and the apiserver's `(Forbidden)`.
    Forbidden,
    /// `# … then Forbidden`: works now, and is Forbidden once the grant has expired.
    SuccessThenForbidden,
    /// `# shows TEXT …`: exit 0 and TEXT on stdout.
    Shows(String),
}

/// One step: a bash script (one printed line, or the port-forward/curl/kill lines together).
#[derive(Debug)]
struct Step {
    script: String,
    expect: Expect,
}

/// The printed walkthrough: the `export …` line every step runs after, the steps, and what the
/// cleanup checks need.
#[derive(Debug)]
struct Walkthrough {
    env: String,
    steps: Vec<Step>,
    server: String,
    dir: std::path::PathBuf,
}

/// Splits a printed command line into the command and what its `# comment` promises. Commands
/// contain no ` #` of their own (paths and URLs in the sandbox have none).
fn step(line: &str) -> Step {
    let (command, comment) = match line.split_once(" # ") {
        Some((command, comment)) => (command.trim(), comment.trim()),
        None => (line.trim(), ""),
    };
    let expect = if comment.starts_with("Forbidden") {
        Expect::Forbidden
    } else if comment.contains("then Forbidden") {
        Expect::SuccessThenForbidden
    } else if let Some(rest) = comment.strip_prefix("shows ") {
        Expect::Shows(rest.split_whitespace().next().unwrap().to_owned())
    } else {
        Expect::Success
    };
    Step {
        script: command.to_owned(),
        expect,
    }
}

/// Reads the walkthrough from the sandbox's stdout: commands are the lines indented by two spaces;
/// a line ending in `&` starts a background job that the script runs together with the following
/// lines up to its `kill %1`.
fn parse(lines: &[String]) -> Walkthrough {
    let commands: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .collect();
    let env = commands
        .iter()
        .find(|l| l.starts_with("export "))
        .expect("the walkthrough sets PATH and KUBECONFIG")
        .to_string();
    let mut steps: Vec<Step> = Vec::new();
    let mut job: Option<Vec<&str>> = None;
    for line in commands.into_iter().filter(|l| !l.starts_with("export ")) {
        let command = line.split_once(" # ").map_or(line, |(c, _)| c).trim();
        match job.as_mut() {
            Some(lines) => {
                lines.push(command);
                if command == "kill %1" {
                    steps.push(Step {
                        script: lines.join("\n"),
                        expect: Expect::Success,
                    });
                    job = None;
                }
            }
            None if command.ends_with('&') => job = Some(vec![command]),
            None => steps.push(step(line)),
        }
    }
    assert!(job.is_none(), "a background job without `kill %1`");
    let after = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}"))
            .trim()
            .to_owned()
    };
    let server = after("kubejit sandbox is running (API server https://")
        .trim_end_matches(").")
        .to_owned();
    let trail = std::path::PathBuf::from(after("kubejit's audit records:"));
    Walkthrough {
        env,
        steps,
        server,
        dir: trail.parent().unwrap().to_path_buf(),
    }
}

fn run(env: &str, script: &str) -> Output {
    Command::new("bash")
        .env_remove("KUBECONFIG")
        .args(["--noprofile", "--norc", "-c", &format!("{env}\n{script}")])
        .output_bounded()
        .unwrap()
}

fn forbidden(out: &Output) -> bool {
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("(Forbidden)")
}

/// Runs one step and checks the outcome its comment announces.
fn check(env: &str, step: &Step) {
    let out = run(env, &step.script);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let what = format!("{}\nstdout: {stdout}\nstderr: {stderr}", step.script);
    match &step.expect {
        Expect::Forbidden => assert!(forbidden(&out), "not Forbidden: {what}"),
        Expect::Success | Expect::SuccessThenForbidden => {
            assert!(out.status.success(), "failed: {what}");
        }
        Expect::Shows(text) => {
            assert!(out.status.success(), "failed: {what}");
            assert!(stdout.contains(text.as_str()), "no {text:?}: {what}");
        }
    }
    if step.script.contains("curl ") {
        assert!(stdout.contains("GET /ping HTTP/1.1\r\n"), "no echo: {what}");
    }
    if step.script.contains("audit verify ") {
        assert!(stdout.starts_with("OK"), "{what}");
    }
    if step.script.contains("audit report ") {
        assert!(
            stdout.contains("alice"),
            "alice's window is missing: {what}"
        );
        // carol's grant, recorded in irene's trail (the grant command's own --audit-log).
        assert!(
            stdout.contains("oncall-checkout"),
            "carol's grant is missing: {what}"
        );
    }
    if step.expect == Expect::SuccessThenForbidden {
        // The grant's expiry is the reaper's to enforce; this only bounds a hang, it measures nothing.
        let guard = Instant::now() + Duration::from_secs(300);
        loop {
            let out = run(env, &step.script);
            if !out.status.success() {
                assert!(forbidden(&out), "{out:?}");
                break;
            }
            assert!(Instant::now() < guard, "the grant never expired: {what}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[test]
fn walkthrough_lines_are_parsed_into_steps() {
    let lines: Vec<String> = [
        "kubejit sandbox is running (API server https://127.0.0.1:6443).",
        "  export PATH=/b:$PATH KUBECONFIG=/k",
        "  kubectl get pods -n p",
        "  kubectl port-forward -n p pod/x 18080:8080 &",
        "  curl -s http://127.0.0.1:18080/ping   # the pod echoes",
        "  kill %1                               # stops it",
        "  kubectl get secrets -n p              # Forbidden",
        "  KUBECONFIG=/c kubectl get pods   # works for a minute, then Forbidden",
        "  kubectl auth whoami   # shows kubejit:x among alice's groups",
        "kubejit's audit records:        /tmp/s/kubejit-audit.jsonl",
    ]
    .map(str::to_owned)
    .to_vec();
    let w = parse(&lines);
    assert_eq!(w.env, "export PATH=/b:$PATH KUBECONFIG=/k");
    assert_eq!(w.server, "127.0.0.1:6443");
    assert_eq!(w.dir, std::path::Path::new("/tmp/s"));
    let got: Vec<(&str, &Expect)> = w
        .steps
        .iter()
        .map(|s| (s.script.as_str(), &s.expect))
        .collect();
    assert_eq!(
        got,
        [
            ("kubectl get pods -n p", &Expect::Success),
            (
                "kubectl port-forward -n p pod/x 18080:8080 &\ncurl -s http://127.0.0.1:18080/ping\nkill %1",
                &Expect::Success
            ),
            ("kubectl get secrets -n p", &Expect::Forbidden),
            (
                "KUBECONFIG=/c kubectl get pods",
                &Expect::SuccessThenForbidden
            ),
            (
                "kubectl auth whoami",
                &Expect::Shows("kubejit:x".to_owned())
            ),
        ]
    );
}

/// One sandbox at a time: each starts a whole control plane.
static ONE_SANDBOX: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Ctrl-C, then the sandbox exits cleanly and its directory is gone.
fn interrupt(child: &mut std::process::Child, dir: &std::path::Path) {
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let status = kubejit_testenv::wait_within(child, Duration::from_secs(60))
        .expect("the sandbox did not exit within 60s of Ctrl-C; it was killed");
    assert!(
        status.success(),
        "sandbox exits cleanly on Ctrl-C: {status}"
    );
    assert!(!dir.exists(), "the sandbox's directory is removed");
}

/// `-o json` names the files the walkthrough uses: kubeconfigs, the audit trail and its public key.
#[test]
fn sandbox_json_names_the_walkthrough_files() {
    let _one = ONE_SANDBOX
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["sandbox", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let path = |v: &serde_json::Value| std::path::PathBuf::from(v.as_str().unwrap());
    for user in [
        "admin", "alice", "bob", "carol", "irene", "oscar", "mallory",
    ] {
        assert!(path(&info["kubeconfigs"][user]).exists(), "{user}: {info}");
    }
    assert_eq!(info["auditTrail"]["name"], "sandbox");
    // The trail is opened before the sandbox announces itself; whether its first record is anchored
    // yet is a race, so verifying it is left to the walkthrough test (whose verify comes last).
    assert!(path(&info["auditTrail"]["file"]).exists(), "{info}");
    let public_key = std::fs::read_to_string(path(&info["auditTrail"]["publicKey"])).unwrap();
    assert!(
        public_key.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{public_key}"
    );
    interrupt(&mut child, &path(&info["dir"]));
}

#[test]
fn sandbox_runs_the_walkthrough_as_printed_and_cleans_up_on_ctrl_c() {
    let _one = ONE_SANDBOX
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .arg("sandbox")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let last = line.starts_with("Press Ctrl-C");
        lines.push(line);
        if last {
            break;
        }
    }
    let walkthrough = parse(&lines);
    // Every kind of step is there: a test that ran none of them would pass.
    let count = |e: &Expect| walkthrough.steps.iter().filter(|s| &s.expect == e).count();
    assert!(count(&Expect::Forbidden) >= 3, "{walkthrough:?}");
    // irene's grant to carol's group, then carol's own request that oscar approves.
    assert_eq!(count(&Expect::SuccessThenForbidden), 2, "{walkthrough:?}");
    // alice over the SSH gateway: pods, logs and exec, each checked for its output.
    let over_ssh = walkthrough
        .steps
        .iter()
        .filter(|s| s.script.starts_with("ssh ") && matches!(s.expect, Expect::Shows(_)))
        .count();
    assert_eq!(over_ssh, 3, "{walkthrough:?}");
    for kind in [
        "kubeconfig add-user",
        "auth whoami",
        "curl ",
        " grant ",
        " request ",
        " approve ",
        "audit verify",
        "audit report",
    ] {
        assert!(
            walkthrough.steps.iter().any(|s| s.script.contains(kind)),
            "no {kind:?} step: {walkthrough:?}"
        );
    }
    for step in &walkthrough.steps {
        check(&walkthrough.env, step);
    }

    let Walkthrough { dir, server, .. } = walkthrough;
    assert!(dir.exists() && TcpStream::connect(&server).is_ok());
    // What Ctrl-C in the terminal sends.
    interrupt(&mut child, &dir);
    // The apiserver is gone (its port no longer answers) — give the kernel a moment to release it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&server).is_ok() {
        assert!(
            Instant::now() < deadline,
            "kube-apiserver still listening on {server} after teardown"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
