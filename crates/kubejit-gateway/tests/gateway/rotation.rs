//! Trusted user CAs rotated without a restart, with real `ssh-keygen` CAs: a garbage CA file keeps
//! the previous set, a CA removed from the file stops new logins and ends its live sessions, a CA
//! added starts working.

use std::time::{Duration, Instant};

use crate::support::*;
use kubejit_testenv::shared;

/// How many CA reloads ended as `result` so far.
fn reloads(gw: &TestGateway, result: &str) -> u64 {
    let needle = format!("kubejit_gateway_ca_reloads_total{{result=\"{result}\"}} ");
    gw.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&needle).map(|n| n.trim().parse().unwrap()))
        .unwrap_or(0)
}

/// Waits (bounded) until `done` holds.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(90), "never: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn admitted(gw: &TestGateway, c: &Cert, login: &str) -> bool {
    let out = ssh_command_to(gw, c, login, &[], &["help"])
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn rotating_the_trusted_ca_file_applies_without_a_restart() {
    let cp = shared();
    let gw = &start_with(RECHECK, |_| None);
    let ca_file = gw.dir.path().join("ca.pub");
    let old = gw.ca();
    let new = gw.dir.path().join("new-ca");
    kubejit_testenv::new_ssh_key(&new, Some("new-ca")).unwrap();
    let group = "oncall-rot";
    let ns = namespace(cp, "gw-rot", "rot\n", Some(group));

    // A live session under the old CA.
    let live = member_by(&old, "u-rot", group, "-1m:+30m", &[]);
    let script = "'echo started; sleep 600'";
    let mut child = started(&mut ssh_command_to(
        gw,
        &live,
        "u-rot",
        &[],
        &["exec", "-n", &ns, "api", "--", "sh", "-c", script],
    ));

    // Garbage: the previous set stays, the live session goes on, the old CA still admits.
    let rejected = reloads(gw, "rejected");
    std::fs::write(&ca_file, "ssh-ed25519 not-a-key\n").unwrap();
    until("the garbage file is rejected", || {
        reloads(gw, "rejected") > rejected
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "session cut by garbage"
    );
    let by_old = member_by(&old, "u-rot2", group, "-1m:+30m", &[]);
    assert!(
        admitted(gw, &by_old, "u-rot2"),
        "garbage dropped the old CA"
    );
    let by_new = member_by(&new, "u-rot3", group, "-1m:+30m", &[]);
    assert!(!admitted(gw, &by_new, "u-rot3"), "new CA trusted too early");

    // Rotation: only the new CA. The live session under the old one ends and says why.
    let new_pub = std::fs::read_to_string(gw.dir.path().join("new-ca.pub")).unwrap();
    std::fs::write(&ca_file, &new_pub).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("is no longer trusted"), "{stderr}");
    until("the new CA admits", || admitted(gw, &by_new, "u-rot3"));
    assert!(
        !admitted(gw, &by_old, "u-rot2"),
        "the removed CA still admits"
    );
    until("the cut is recorded", || {
        gw.records().into_iter().any(|r| {
            r["kind"] == "sessionEnded"
                && r["subject"] == "u-rot"
                && r["decisionReason"] == "accessEnded"
        })
    });
}
