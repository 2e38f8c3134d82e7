//! What a connection's tasks share with its watch: the permissions in use, activity, bytes, the
//! last exit status, and the session's recording.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use russh::ChannelId;

use crate::kube::Permission;
use crate::record::{Finished, Header, InputPolicy, Recorder};

/// Seconds since the Unix epoch (certificates count in these).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where and how a session is recorded.
#[derive(Debug, Clone)]
pub struct RecordingPolicy {
    pub dir: PathBuf,
    pub input: InputPolicy,
}

/// A connection's running state, shared by its channel tasks and its watch.
#[derive(Debug)]
pub struct Live {
    started: Instant,
    permissions: Mutex<HashMap<ChannelId, Permission>>,
    /// Session channels that can show a message on stderr.
    terminals: Mutex<Vec<ChannelId>>,
    last_activity: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    exit_status: Mutex<Option<u32>>,
    recorder: Mutex<Option<Recorder>>,
    /// Set when recording could not continue: the session's exec stops (recording is not optional).
    record_failed: Mutex<Option<String>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        let live = Self {
            started: Instant::now(),
            permissions: Mutex::default(),
            terminals: Mutex::default(),
            last_activity: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            exit_status: Mutex::default(),
            recorder: Mutex::default(),
            record_failed: Mutex::default(),
        };
        live.touch();
        live
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn touch(&self) {
        self.last_activity.store(unix_now(), Ordering::Relaxed);
    }

    pub fn add_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
        self.touch();
    }

    pub fn add_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
        self.touch();
    }

    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes_in.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
        )
    }

    pub fn idle_secs(&self) -> u64 {
        unix_now().saturating_sub(self.last_activity.load(Ordering::Relaxed))
    }

    pub fn using(&self, channel: ChannelId, permission: Permission) {
        lock(&self.permissions).insert(channel, permission);
    }

    pub fn done(&self, channel: ChannelId) {
        lock(&self.permissions).remove(&channel);
        lock(&self.terminals).retain(|c| *c != channel);
    }

    pub fn permissions(&self) -> Vec<Permission> {
        lock(&self.permissions).values().cloned().collect()
    }

    pub fn terminal(&self, channel: ChannelId) {
        lock(&self.terminals).push(channel);
    }

    pub fn terminals(&self) -> Vec<ChannelId> {
        lock(&self.terminals).clone()
    }

    pub fn set_exit_status(&self, code: u32) {
        *lock(&self.exit_status) = Some(code);
    }

    pub fn exit_status(&self) -> Option<u32> {
        *lock(&self.exit_status)
    }

    /// Opens the session's recording (once; later execs of the same connection share it).
    pub fn start_recording(
        &self,
        policy: &RecordingPolicy,
        session: &str,
        size: (u16, u16),
        command: &str,
    ) -> Result<(), String> {
        let mut rec = lock(&self.recorder);
        if rec.is_some() {
            return Ok(());
        }
        let timestamp = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        let mut header = Header::new(size.0, size.1, timestamp);
        header.command = Some(command.to_owned());
        let recorder = Recorder::create(&policy.dir, session, &header, policy.input)
            .map_err(|e| super::report::error_chain(&e))?;
        *rec = Some(recorder);
        Ok(())
    }

    /// Runs `f` on the recording, if there is one; a failure is remembered (and logged once).
    pub fn record(
        &self,
        f: impl FnOnce(&mut Recorder, Duration) -> Result<(), crate::record::RecordError>,
    ) {
        let at = self.elapsed();
        let mut rec = lock(&self.recorder);
        if let Some(r) = rec.as_mut()
            && let Err(e) = f(r, at)
        {
            let msg = super::report::error_chain(&e);
            tracing::error!(error = %msg, "recording failed");
            *lock(&self.record_failed) = Some(msg);
        }
    }

    pub fn record_failed(&self) -> Option<String> {
        lock(&self.record_failed).clone()
    }

    /// Closes the recording; its hash goes into `sessionEnded`.
    pub fn finish_recording(&self) -> Option<Finished> {
        let at = self.elapsed();
        let rec = lock(&self.recorder).take()?;
        match rec.finish(at) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(error = %super::report::error_chain(&e), "failed to finish the recording");
                None
            }
        }
    }
}
