//! [`Recorder`]: writes one session's asciicast v2 file as the session runs and hashes it as it goes.
//!
//! Every event is written straight to the file (no user-space buffer), so a gateway crash loses
//! nothing already recorded and the file is valid asciicast up to its last complete line; the file is
//! synced to disk a second of session time after the last sync (by the next event, or by the
//! session's periodic [`Recorder::tick`]), so a machine crash loses at most about a second.
//! The SHA-256 is computed over exactly the bytes written, so it equals `sha256sum` of the file.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::RecordError;
use super::asciicast::{Header, Utf8Stream, code, event_line};

/// Whether the user's keystrokes are recorded. Off unless the policy opts in: input can carry
/// passwords typed at a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPolicy {
    Skip,
    Record,
}

/// What a finished recording hands to the `sessionEnded` audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The file name (`<session id>.cast`), not a path.
    pub file_name: String,
    pub path: PathBuf,
    /// SHA-256 of the file, hex (what `sha256sum` prints).
    pub sha256: String,
    /// Size of the file.
    pub file_bytes: u64,
    /// Terminal bytes recorded: output (stdout and stderr) and input (0 unless input is recorded).
    pub output_bytes: u64,
    pub input_bytes: u64,
    /// Bytes that were not UTF-8 and were written as U+FFFD (see [`super::asciicast`]).
    pub replaced_bytes: u64,
}

impl Finished {
    /// The `recording` of the session's `sessionEnded` audit record.
    pub fn audit_ref(&self) -> kubejit_audit::RecordingRef {
        kubejit_audit::RecordingRef {
            file: self.file_name.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// One session's recording, open for writing.
#[derive(Debug)]
pub struct Recorder {
    file: File,
    path: PathBuf,
    file_name: String,
    hasher: Sha256,
    file_bytes: u64,
    input: InputPolicy,
    stdout: Utf8Stream,
    stderr: Utf8Stream,
    stdin: Utf8Stream,
    output_bytes: u64,
    input_bytes: u64,
    /// The latest event time written: later events never go back in time.
    last: Duration,
    last_sync: Duration,
    /// Bytes written since the last sync.
    dirty: bool,
}

/// The longest session id accepted as a file stem.
const MAX_ID: usize = 128;

/// A session id that can name a file in the recording directory: `[A-Za-z0-9_-]`, 1–128 characters,
/// so it can never be `..`, contain a `/`, or start with `.`.
fn file_name_for(session_id: &str) -> Result<String, RecordError> {
    let ok = !session_id.is_empty()
        && session_id.len() <= MAX_ID
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(format!("{session_id}.cast"))
    } else {
        Err(RecordError::SessionId {
            id: kubejit_core::text::escape_bounded(session_id, MAX_ID),
        })
    }
}

impl Recorder {
    /// Creates `dir/<session_id>.cast` with mode 0600 and writes the header. The file must not exist:
    /// `create_new` (O_CREAT|O_EXCL) never opens an existing file and never follows a symlink planted
    /// at that name, so a recording is never overwritten or redirected.
    pub fn create(
        dir: &Path,
        session_id: &str,
        header: &Header,
        input: InputPolicy,
    ) -> Result<Self, RecordError> {
        let file_name = file_name_for(session_id)?;
        let path = dir.join(&file_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| RecordError::Create {
                path: path.clone(),
                source,
            })?;
        let mut recorder = Self {
            file,
            path,
            file_name,
            hasher: Sha256::new(),
            file_bytes: 0,
            input,
            stdout: Utf8Stream::default(),
            stderr: Utf8Stream::default(),
            stdin: Utf8Stream::default(),
            output_bytes: 0,
            input_bytes: 0,
            last: Duration::ZERO,
            last_sync: Duration::ZERO,
            dirty: false,
        };
        let mut line = serde_json::to_vec(header).map_err(RecordError::Header)?;
        line.push(b'\n');
        recorder.write(&line)?;
        Ok(recorder)
    }

    /// Terminal output (a PTY's, or a non-PTY exec's stdout) at `at` since the session started.
    pub fn output(&mut self, at: Duration, bytes: &[u8]) -> Result<(), RecordError> {
        self.output_bytes += bytes.len() as u64;
        let text = self.stdout.push(bytes);
        self.event(at, code::OUTPUT, &text)
    }

    /// A non-PTY exec's stderr (event code `e`, see [`code::STDERR`]).
    pub fn stderr(&mut self, at: Duration, bytes: &[u8]) -> Result<(), RecordError> {
        self.output_bytes += bytes.len() as u64;
        let text = self.stderr.push(bytes);
        self.event(at, code::STDERR, &text)
    }

    /// The user's input; written only under [`InputPolicy::Record`]. Returns whether it was recorded.
    pub fn input(&mut self, at: Duration, bytes: &[u8]) -> Result<bool, RecordError> {
        match self.input {
            InputPolicy::Skip => Ok(false),
            InputPolicy::Record => {
                self.input_bytes += bytes.len() as u64;
                let text = self.stdin.push(bytes);
                self.event(at, code::INPUT, &text)?;
                Ok(true)
            }
        }
    }

    /// A window resize to `width` columns by `height` rows.
    pub fn resize(&mut self, at: Duration, width: u16, height: u16) -> Result<(), RecordError> {
        self.event(at, code::RESIZE, &format!("{width}x{height}"))
    }

    /// Writes what is still pending, syncs the file and returns its name, hash and counts.
    pub fn finish(mut self, at: Duration) -> Result<Finished, RecordError> {
        let out = self.stdout.finish();
        self.event(at, code::OUTPUT, &out)?;
        let err = self.stderr.finish();
        self.event(at, code::STDERR, &err)?;
        let typed = self.stdin.finish();
        self.event(at, code::INPUT, &typed)?;
        self.sync()?;
        Ok(Finished {
            file_name: self.file_name,
            path: self.path,
            sha256: hex::encode(self.hasher.finalize()),
            file_bytes: self.file_bytes,
            output_bytes: self.output_bytes,
            input_bytes: self.input_bytes,
            replaced_bytes: self.stdout.replaced + self.stderr.replaced + self.stdin.replaced,
        })
    }

    /// The recording's file name (`<session id>.cast`).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    fn event(&mut self, at: Duration, code: &str, text: &str) -> Result<(), RecordError> {
        if text.is_empty() && code != code::RESIZE {
            return Ok(());
        }
        self.last = self.last.max(at);
        let line = event_line(self.last, code, text);
        self.write(&line)?;
        self.tick(at)
    }

    /// Syncs what was written to disk if the last sync is a second or more before `at`. Events call
    /// it; the session also calls it on a timer, so an event followed by silence is on disk within
    /// about a second even if no event comes after it.
    pub fn tick(&mut self, at: Duration) -> Result<(), RecordError> {
        if self.dirty && at.saturating_sub(self.last_sync) >= Duration::from_secs(1) {
            self.last_sync = at;
            self.sync()?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        self.file
            .write_all(bytes)
            .map_err(|source| RecordError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.hasher.update(bytes);
        self.file_bytes += bytes.len() as u64;
        self.dirty = true;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), RecordError> {
        self.file.sync_data().map_err(|source| RecordError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.dirty = false;
        Ok(())
    }
}
