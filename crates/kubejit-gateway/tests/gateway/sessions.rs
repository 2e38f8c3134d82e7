//! Sessions as the person on the real control plane: commands allowed by a grant work, the same
//! user without one is refused by the apiserver, and sessions end when access ends.

use std::io::{Read, Write};
use std::time::Duration;

use kubejit_testenv::shared;

use crate::support::*;

const LOG: &str = "2026-11-30T09:15:41Z ERROR payment provider timeout order=8812\n";

#[test]
fn pods_and_logs_as_a_member_of_the_granted_group() {
    let cp = shared();
    let group = "oncall-logs";
    let ns = namespace(cp, "gw-logs", LOG, Some(group));
    let c = member("u-palaamot", group, &[]);

    let pods = ssh(&c, "u-palaamot", &["pods", "-n", &ns]);
    assert!(pods.status.success(), "{}", text(&pods.stderr));
    assert_eq!(text(&pods.stdout), "NAME\tSTATUS\napi\tRunning\n");

    let logs = ssh(&c, "u-palaamot", &["logs", "-n", &ns, "api"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    assert_eq!(text(&logs.stdout), LOG);
}

#[test]
fn without_a_grant_the_apiserver_refuses() {
    let cp = shared();
    let ns = namespace(cp, "gw-nogrant", LOG, None);
    let c = member("u-wagtar", "oncall-nobody", &[]);
    for args in [
        vec!["logs", "-n", &ns, "api"],
        vec!["pods", "-n", &ns],
        vec!["exec", "-n", &ns, "api", "--", "echo", "hi"],
    ] {
        let out = ssh(&c, "u-wagtar", &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("forbidden") && stderr.contains("\"u-wagtar\""),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn exec_without_a_terminal_keeps_stdout_stderr_and_exit_code() {
    let cp = shared();
    let group = "oncall-exec";
    let ns = namespace(cp, "gw-exec", LOG, Some(group));
    let c = member("u-ewatkssa", group, &[]);
    let out = ssh(
        &c,
        "u-ewatkssa",
        &[
            "exec",
            "-n",
            &ns,
            "api",
            "--",
            "sh",
            "-c",
            "'echo out; echo err >&2; exit 3'",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(text(&out.stdout), "out\n");
    assert!(stderr.starts_with("err\n"), "{stderr}");
    // kwok's node reports a failed command as an InternalError naming the exit status, not as
    // NonZeroExitCode (a kubelet's answer, mapped to the code in exit_code's unit test); like
    // kubectl, the gateway exits 1 and shows the apiserver's message.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exit status 3"), "{stderr}");
    let ok = ssh(&c, "u-ewatkssa", &["exec", "-n", &ns, "api", "--", "true"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));

    // The trail: the command, then the end with the recording's hash, which is the file's.
    let gw = gateway();
    let ended = wait_for_record(|r| {
        r["kind"] == "sessionEnded"
            && r["subject"] == "u-ewatkssa"
            && r["session"]["exitStatus"] == 1
    });
    let session = ended["session"]["id"].as_str().unwrap().to_owned();
    let command = gw
        .records()
        .into_iter()
        .find(|r| r["kind"] == "sessionCommand" && r["session"]["id"] == session.as_str())
        .expect("sessionCommand");
    assert_eq!(command["session"]["action"], "exec");
    assert!(
        command["session"]["command"]
            .as_str()
            .unwrap()
            .contains("echo err >&2"),
        "{command}"
    );
    let file = gw
        .dir
        .path()
        .join("recordings")
        .join(ended["session"]["recording"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    use sha2::Digest as _;
    assert_eq!(
        ended["session"]["recordingSha256"],
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let cast = String::from_utf8(bytes).unwrap();
    assert!(cast.contains(r#", "o", "out\n"]"#), "{cast}");
    assert!(cast.contains(r#", "e", "err\n"]"#), "{cast}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// `kubectl exec` (as the admin) of `script` in `ns`/api: its exit code.
fn kubectl_exec_code(ns: &str, script: &str) -> Option<i32> {
    let cp = shared();
    let mut cmd = std::process::Command::new(cp.binaries().kubectl());
    cmd.env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(cp.admin_kubeconfig())
        .args(["exec", "-n", ns, "api", "--", "sh", "-c", script]);
    kubejit_testenv::BoundedOutput::output_bounded(&mut cmd)
        .unwrap()
        .status
        .code()
}

#[test]
fn exit_codes_match_kubectl_exec() {
    // Whatever the node reports (kwok: InternalError for a failed command, so 1; a kubelet:
    // NonZeroExitCode with the code, mapped in exit_code's unit test), ssh exits as kubectl does.
    let cp = shared();
    let group = "oncall-codes";
    let ns = namespace(cp, "gw-codes", LOG, Some(group));
    let c = member("u-ecmke", group, &[]);
    for script in ["exit 0", "exit 3", "exit 1", "kill -9 $$"] {
        let quoted = format!("'{script}'");
        let gw = ssh(
            &c,
            "u-ecmke",
            &["exec", "-n", &ns, "api", "--", "sh", "-c", &quoted],
        );
        let kubectl = kubectl_exec_code(&ns, script);
        assert_eq!(
            gw.status.code(),
            kubectl,
            "{script}: ssh exited {:?}, kubectl {kubectl:?}: {}",
            gw.status.code(),
            text(&gw.stderr)
        );
    }
}

#[test]
fn refused_requests_say_why() {
    let c = cert("u-rrsw", &[]);
    let cases: &[(&[&str], &str)] = &[
        (&[], "no command given and no shell here"),
        (&["bash"], "unknown command"),
        (
            &["pods", "-n", "../kube-system"],
            "not a valid Kubernetes name",
        ),
        (
            &["pods", "-n", "payments", "--as", "admin"],
            "usage: pods -n NAMESPACE",
        ),
    ];
    for (args, want) in cases {
        let out = ssh(&c, "u-rrsw", args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// The first audit record matching `pred` (bounded wait: a session's end is recorded as it closes).
fn wait_for_record(pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        if let Some(r) = gateway().records().into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no such audit record"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn port_forward_moves_data_both_ways() {
    let cp = shared();
    let group = "oncall-pf";
    let ns = namespace(cp, "gw-pf", LOG, Some(group));
    let c = member("u-pfmdbw", group, &[]);
    let (mut child, conn) = forward_to_api(&c, "u-pfmdbw", &ns);
    let payload: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    echoes(conn, payload);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn port_forward_without_a_grant_is_refused() {
    let cp = shared();
    let ns = namespace(cp, "gw-pf-no", LOG, None);
    let c = member("u-pfwagir", "oncall-nobody", &[]);
    let port = free_port();
    let forward = format!("{port}:api.{ns}:8080");
    let mut child = ssh_command(&c, "u-pfwagir", &["-N", "-L", &forward], &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = connect_within(port, Duration::from_secs(60));
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = conn.write_all(b"hello");
    let mut buf = [0u8; 5];
    // The channel is refused: the local connection is closed without a byte back.
    assert!(matches!(conn.read(&mut buf), Ok(0) | Err(_)));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("open failed"), "{stderr}");
}

/// Runs `args` in the background; returns its output once it ends (bounded).
fn ended(cmd: &mut std::process::Command) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn losing_the_permission_mid_session_cuts_it_at_the_interval_recheck() {
    let cp = shared();
    let group = "oncall-cut";
    let ns = namespace(cp, "gw-cut", LOG, Some(group));
    let c = member("u-lpmscir", group, &[]);
    let mut cmd = ssh_command(
        &c,
        "u-lpmscir",
        &[],
        &[
            "exec",
            "-n",
            &ns,
            "api",
            "--",
            "sh",
            "-c",
            "'echo started; sleep 600'",
        ],
    );
    // The exec runs (the session holds the permission) before the permission goes.
    let child = started(&mut cmd);
    // The Role loses exec (no binding is deleted, so only the interval re-check can notice).
    let patch = r#"[{"op": "remove", "path": "/rules/2"}]"#;
    let edit = cp
        .admin(&[
            "patch",
            "role",
            "debug",
            "-n",
            &ns,
            "--type=json",
            "-p",
            patch,
        ])
        .unwrap();
    assert!(edit.success, "{}", edit.stderr);
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("your Kubernetes access ended"), "{stderr}");
    let ended = wait_for_record(|r| r["kind"] == "sessionEnded" && r["subject"] == "u-lpmscir");
    assert_eq!(ended["decisionReason"], "accessEnded");
}

#[test]
fn a_certificate_expiring_mid_session_cuts_the_session() {
    let cp = shared();
    let group = "oncall-certcut";
    let ns = namespace(cp, "gw-certcut", LOG, Some(group));
    let c = member_by(&gateway().ca(), "u-acemscts", group, "-1m:+15s", &[]);
    let valid_before = std::time::SystemTime::now() + Duration::from_secs(15);
    let mut cmd = ssh_command(
        &c,
        "u-acemscts",
        &[],
        &["exec", "-n", &ns, "api", "--", "sleep", "600"],
    );
    let out = ended(&mut cmd);
    let stderr = text(&out.stderr);
    assert!(
        std::time::SystemTime::now() + Duration::from_secs(2) >= valid_before,
        "ended early: {stderr}"
    );
    assert!(stderr.contains("this session ends in"), "{stderr}");
    assert!(stderr.contains("your certificate expired"), "{stderr}");
    let ended = wait_for_record(|r| r["kind"] == "sessionEnded" && r["subject"] == "u-acemscts");
    assert_eq!(ended["decisionReason"], "certificateExpired");
}

#[test]
fn deleting_the_binding_cuts_the_session_before_the_interval_recheck() {
    let cp = shared();
    let gw = slow_recheck_gateway();
    let group = "oncall-nudge";
    let ns = namespace(cp, "gw-nudge", LOG, Some(group));
    let c = member_by(&gw.ca(), "u-nudge", group, "-1m:+30m", &[]);
    let script = "'echo started; sleep 600'";
    let mut cmd = ssh_command_to(
        gw,
        &c,
        "u-nudge",
        &[],
        &["exec", "-n", &ns, "api", "--", "sh", "-c", script],
    );
    let child = started(&mut cmd);
    let del = cp
        .admin(&["delete", "rolebinding", "debug", "-n", &ns])
        .unwrap();
    assert!(del.success, "{}", del.stderr);
    // The interval re-check is an hour away; only the deletion watch can end this session now.
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("your Kubernetes access ended"), "{stderr}");
}
