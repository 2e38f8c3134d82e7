//! `kubejit recording play|verify` on recordings written by the gateway's recorder: the bytes played
//! are the bytes recorded, stderr stays stderr, a malformed file names its line, and verify checks
//! the hash the audit record vouches for.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::time::Duration;

use kubejit_gateway::record::{Header, InputPolicy, Recorder};

fn kubejit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(args)
        .output()
        .unwrap()
}

/// A recorded session with a long idle stretch, a resize, typed input and stderr.
fn recording(dir: &std::path::Path) -> kubejit_gateway::record::Finished {
    let header = Header {
        command: Some("exec -n payments checkout-api -- sh".to_owned()),
        ..Header::new(80, 24, 1_764_147_300)
    };
    let mut rec = Recorder::create(dir, "s-play", &header, InputPolicy::Record).unwrap();
    rec.output(Duration::from_millis(100), b"$ ").unwrap();
    rec.input(Duration::from_millis(200), b"ls\r").unwrap();
    rec.resize(Duration::from_secs(1), 132, 43).unwrap();
    // An hour of nothing: --idle-limit is what makes this test finish.
    rec.output(
        Duration::from_secs(3600),
        "caf\u{e9} \x1b[1mbold\x1b[0m\r\n".as_bytes(),
    )
    .unwrap();
    rec.stderr(Duration::from_secs(3601), b"warning\n").unwrap();
    rec.finish(Duration::from_secs(3602)).unwrap()
}

#[test]
fn play_replays_the_recorded_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let done = recording(dir.path());
    let path = done.path.to_str().unwrap();
    let out = kubejit(&[
        "recording",
        "play",
        path,
        "--speed",
        "1000",
        "--idle-limit",
        "0.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, "$ caf\u{e9} \x1b[1mbold\x1b[0m\r\n".as_bytes());
    assert_eq!(out.stderr, b"warning\n");
}

#[test]
fn play_names_the_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    let done = recording(dir.path());
    let mut text = std::fs::read_to_string(&done.path).unwrap();
    text.push_str("[3603.0, \"o\"]\n");
    let bad = dir.path().join("bad.cast");
    std::fs::write(&bad, text).unwrap();
    let out = kubejit(&[
        "recording",
        "play",
        bad.to_str().unwrap(),
        "--idle-limit",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 7") && stderr.contains("malformed"),
        "{stderr}"
    );
    // What came before the bad line was played.
    assert!(String::from_utf8_lossy(&out.stdout).contains("bold"));
}

#[test]
fn bad_pace_flags_are_usage_errors() {
    for args in [
        ["--speed", "0"],
        ["--speed", "NaN"],
        ["--idle-limit", "-1"],
        ["--speed", "fast"],
    ] {
        let out = kubejit(&["recording", "play", "x.cast", args[0], args[1]]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn verify_checks_the_audited_hash() {
    let dir = tempfile::tempdir().unwrap();
    let done = recording(dir.path());
    let path = done.path.to_str().unwrap();
    let ok = kubejit(&[
        "recording",
        "verify",
        path,
        "--sha256",
        &done.sha256.to_uppercase(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // One byte changed after the fact: the audit record no longer vouches for it.
    let mut bytes = std::fs::read(&done.path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(&done.path, bytes).unwrap();
    let bad = kubejit(&["recording", "verify", path, "--sha256", &done.sha256]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not match"));
    let short = kubejit(&["recording", "verify", path, "--sha256", "abc"]);
    assert_eq!(short.status.code(), Some(2));
}
