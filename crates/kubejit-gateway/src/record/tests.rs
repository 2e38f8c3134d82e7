//! Recorder and player tests: file safety (mode, no overwrite, no symlink, no traversal), crash
//! safety, the hash, lossless text, and replay timing computed without waiting.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::play::{Event, Reader, Step, pause};
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn header() -> Header {
    Header {
        command: Some("exec -n payments checkout-api -t -- sh".to_owned()),
        title: Some("carol@checkout-api".to_owned()),
        ..Header::new(120, 40, 1_764_147_300)
    }
}

fn events(path: &std::path::Path) -> (Header, Vec<Event>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let (header, mut reader) = Reader::open(file).unwrap();
    let mut all = Vec::new();
    while let Some(e) = reader.next_event().unwrap() {
        all.push(e);
    }
    (header, all)
}

#[test]
fn a_session_is_recorded_with_mode_0600_and_its_hash_is_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "s-1", &header(), InputPolicy::Skip).unwrap();
    rec.output(ms(10), b"$ ").unwrap();
    assert!(!rec.input(ms(500), b"secret\r").unwrap());
    rec.resize(ms(700), 100, 30).unwrap();
    rec.output(ms(1200), b"\x1b[31mred\x1b[0m\r\n").unwrap();
    rec.tick(ms(2500)).unwrap();
    let done = rec.finish(ms(1300)).unwrap();
    assert_eq!(done.file_name, "s-1.cast");
    assert_eq!(done.audit_ref().file, "s-1.cast");
    assert_eq!(done.audit_ref().sha256, done.sha256);
    let meta = std::fs::metadata(&done.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&done.path).unwrap();
    assert_eq!(done.file_bytes, bytes.len() as u64);
    assert_eq!(done.sha256, hex::encode(Sha256::digest(&bytes)));
    // The same digest the coreutils tool prints, when it is installed.
    if let Ok(out) = std::process::Command::new("sha256sum")
        .arg(&done.path)
        .output()
    {
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            printed.split_whitespace().next(),
            Some(done.sha256.as_str())
        );
    }
    assert_eq!((done.output_bytes, done.input_bytes), (2 + 14, 0));
    let (h, all) = events(&done.path);
    assert_eq!(h, header());
    let steps: Vec<Step> = all.into_iter().map(|e| e.step).collect();
    assert_eq!(
        steps,
        [
            Step::Output("$ ".into()),
            Step::Resize {
                width: 100,
                height: 30
            },
            Step::Output("\u{1b}[31mred\u{1b}[0m\r\n".into()),
        ]
    );
    assert!(!String::from_utf8(bytes).unwrap().contains("secret"));
}

#[test]
fn input_is_recorded_only_when_the_policy_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "s-in", &header(), InputPolicy::Record).unwrap();
    assert!(rec.input(ms(5), b"ls\r").unwrap());
    let done = rec.finish(ms(6)).unwrap();
    assert_eq!(done.input_bytes, 3);
    let (_, all) = events(&done.path);
    assert_eq!(all[0].step, Step::Input("ls\r".into()));
}

/// An attacker who can write to the recording directory plants the session's file name, or a symlink
/// at it pointing elsewhere: the recorder refuses both and touches neither.
#[test]
fn an_existing_file_or_symlink_is_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("s-link.cast")).unwrap();
    std::fs::write(dir.path().join("s-old.cast"), b"old").unwrap();
    for id in ["s-link", "s-old"] {
        let err = Recorder::create(dir.path(), id, &header(), InputPolicy::Skip).unwrap_err();
        assert!(matches!(err, RecordError::Create { .. }), "{err:?}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert_eq!(
        std::fs::read(dir.path().join("s-old.cast")).unwrap(),
        b"old"
    );
}

#[test]
fn a_session_id_cannot_leave_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(129);
    for id in [
        "",
        "..",
        "../x",
        "a/b",
        ".hidden",
        "a b",
        "é",
        "a\0b",
        long.as_str(),
    ] {
        let err = Recorder::create(dir.path(), id, &header(), InputPolicy::Skip).unwrap_err();
        assert!(
            matches!(err, RecordError::SessionId { .. }),
            "{id:?}: {err:?}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The gateway dies mid-session (the recorder is dropped without `finish`): what was written is a
/// valid recording up to its last event.
#[test]
fn a_crash_mid_session_leaves_a_valid_recording() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "s-crash", &header(), InputPolicy::Skip).unwrap();
    rec.output(ms(1), b"one\r\n").unwrap();
    rec.output(
        ms(2),
        "half a char: \u{20ac}".as_bytes().split_last().unwrap().1,
    )
    .unwrap();
    rec.stderr(ms(3), b"oops\n").unwrap();
    drop(rec);
    let (_, all) = events(&dir.path().join("s-crash.cast"));
    let steps: Vec<Step> = all.into_iter().map(|e| e.step).collect();
    assert_eq!(
        steps,
        [
            Step::Output("one\r\n".into()),
            Step::Output("half a char: ".into()),
            Step::Stderr("oops\n".into()),
        ]
    );
}

#[test]
fn time_never_goes_back_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "s-t", &header(), InputPolicy::Skip).unwrap();
    rec.output(ms(2000), b"a").unwrap();
    rec.output(ms(1000), b"b").unwrap();
    let done = rec.finish(ms(0)).unwrap();
    let (_, all) = events(&done.path);
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [2.0, 2.0]);
}

fn replayed(file: &str, pace: &Pace) -> (Vec<u8>, Vec<u8>, Vec<Duration>) {
    let (mut out, mut err, mut pauses) = (Vec::new(), Vec::new(), Vec::new());
    replay(file.as_bytes(), pace, &mut out, &mut err, |d| {
        pauses.push(d)
    })
    .unwrap();
    (out, err, pauses)
}

const FILE: &str = concat!(
    r#"{"version":2,"width":80,"height":24,"timestamp":0}"#,
    "\n",
    "[0.5, \"o\", \"a\"]\n",
    "[10.5, \"e\", \"b\"]\n",
    "[11.0, \"i\", \"x\"]\n",
    "\n",
    "[11.5, \"r\", \"90x30\"]\n",
    "[12.5, \"o\", \"\\u001b[1mc\"]\n",
);

#[test]
fn replay_writes_output_and_stderr_apart_with_paced_pauses() {
    let (out, err, pauses) = replayed(
        FILE,
        &Pace {
            speed: 1.0,
            idle_limit: None,
        },
    );
    assert_eq!(out, b"a\x1b[1mc");
    assert_eq!(err, b"b");
    let secs: Vec<f64> = pauses.iter().map(Duration::as_secs_f64).collect();
    assert_eq!(secs, [0.5, 10.0, 0.5, 0.5, 1.0]);
    let fast = Pace {
        speed: 2.0,
        idle_limit: Some(Duration::from_secs(2)),
    };
    let (out2, _, pauses) = replayed(FILE, &fast);
    assert_eq!(out2, out);
    let secs: Vec<f64> = pauses.iter().map(Duration::as_secs_f64).collect();
    assert_eq!(secs, [0.25, 1.0, 0.25, 0.25, 0.5]);
}

#[test]
fn malformed_recordings_name_their_line() {
    let head = r#"{"version":2,"width":80,"height":24,"timestamp":0}"#;
    let cases = [
        (String::new(), 1, "empty"),
        ("not json\n".to_owned(), 1, "header"),
        (
            r#"{"version":1,"width":80,"height":24,"timestamp":0}"#.to_owned(),
            1,
            "version",
        ),
        (
            r#"{"version":2,"width":0,"height":24,"timestamp":0}"#.to_owned(),
            1,
            "size",
        ),
        (
            format!("{head}\n[1.0, \"o\", \"a\"]\n[0.5, \"o\", \"b\"]\n"),
            3,
            "back",
        ),
        (format!("{head}\n[1.0, \"o\"]\n"), 2, "event"),
        (format!("{head}\n\n[-1, \"o\", \"a\"]\n"), 3, "duration"),
        (
            format!("{head}\n[1, \"z\", \"a\"]\n"),
            2,
            "unknown event code",
        ),
        (format!("{head}\n[1, \"r\", \"80\"]\n"), 2, "COLSxROWS"),
        (format!("{head}\n[1, \"o\", \"a\"]\n{{\"torn"), 3, "event"),
    ];
    for (file, line, word) in cases {
        let pace = Pace {
            speed: 1.0,
            idle_limit: None,
        };
        let err = replay(
            file.as_bytes(),
            &pace,
            &mut Vec::new(),
            &mut Vec::new(),
            |_| {},
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, RecordError::Malformed { line: l, .. } if l == line)
                && text.contains(word),
            "{file:?}: {text}"
        );
    }
}

#[test]
fn pauses_cap_at_the_idle_limit_then_scale() {
    let pace = Pace {
        speed: 4.0,
        idle_limit: Some(Duration::from_secs(1)),
    };
    assert_eq!(pause(100.0, &pace), Duration::from_millis(250));
    assert_eq!(pause(0.4, &pace), Duration::from_millis(100));
    assert_eq!(pause(-1.0, &pace), Duration::ZERO);
}

proptest! {
    /// Whatever bytes the pod writes, in whatever chunks: played back, the output is exactly the
    /// bytes as UTF-8 (invalid sequences as U+FFFD, counted), and the file's hash is its SHA-256.
    #[test]
    fn any_bytes_in_any_chunks_replay_as_their_text(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::create(dir.path(), "s-p", &header(), InputPolicy::Skip).unwrap();
        for (i, chunk) in chunks.iter().enumerate() {
            rec.output(ms(i as u64), chunk).unwrap();
        }
        let done = rec.finish(ms(99)).unwrap();
        let all: Vec<u8> = chunks.concat();
        let file = std::fs::read_to_string(&done.path).unwrap();
        let (out, _, _) = replayed(&file, &Pace { speed: 1e9, idle_limit: None });
        prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8_lossy(&all));
        prop_assert_eq!(done.output_bytes, all.len() as u64);
        prop_assert_eq!(done.replaced_bytes == 0, std::str::from_utf8(&all).is_ok());
        prop_assert_eq!(done.sha256, hex::encode(Sha256::digest(file.as_bytes())));
    }
}

proptest! {
    /// A recording is untrusted input to the player: any bytes after a valid header give events or a
    /// line-numbered error, never a panic.
    #[test]
    fn any_file_plays_or_fails_with_a_line(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut file = br#"{"version":2,"width":80,"height":24,"timestamp":0}"#.to_vec();
        file.push(b'\n');
        file.extend_from_slice(&body);
        let pace = Pace { speed: 1.0, idle_limit: Some(Duration::ZERO) };
        match replay(file.as_slice(), &pace, &mut Vec::new(), &mut Vec::new(), |_| {}) {
            Ok(()) => {}
            Err(RecordError::Malformed { line, .. }) => prop_assert!(line >= 2),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
