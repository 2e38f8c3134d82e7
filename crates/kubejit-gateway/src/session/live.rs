//! What a connection's tasks share with its watch: the permissions in use, activity, bytes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use russh::ChannelId;

use crate::kube::Permission;

/// Seconds since the Unix epoch (certificates count in these).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A connection's running state, shared by its channel tasks and its watch.
#[derive(Debug, Default)]
pub struct Live {
    permissions: Mutex<HashMap<ChannelId, Permission>>,
    /// Session channels that can show a message on stderr.
    terminals: Mutex<Vec<ChannelId>>,
    last_activity: AtomicU64,
    bytes: AtomicU64,
}

impl Live {
    pub fn new() -> Self {
        let live = Self::default();
        live.touch();
        live
    }

    pub fn touch(&self) {
        self.last_activity.store(unix_now(), Ordering::Relaxed);
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.touch();
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn idle_secs(&self) -> u64 {
        unix_now().saturating_sub(self.last_activity.load(Ordering::Relaxed))
    }

    pub fn using(&self, channel: ChannelId, permission: Permission) {
        if let Ok(mut map) = self.permissions.lock() {
            map.insert(channel, permission);
        }
    }

    pub fn done(&self, channel: ChannelId) {
        if let Ok(mut map) = self.permissions.lock() {
            map.remove(&channel);
        }
        if let Ok(mut t) = self.terminals.lock() {
            t.retain(|c| *c != channel);
        }
    }

    pub fn permissions(&self) -> Vec<Permission> {
        self.permissions
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn terminal(&self, channel: ChannelId) {
        if let Ok(mut t) = self.terminals.lock() {
            t.push(channel);
        }
    }

    pub fn terminals(&self) -> Vec<ChannelId> {
        self.terminals.lock().map(|t| t.clone()).unwrap_or_default()
    }
}
