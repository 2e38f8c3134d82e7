//! The watch that ends a session when access ends: at the certificate's `valid_before`, the
//! maximum session length, the idle timeout, or as soon as a re-check (SelfSubjectAccessReview, as
//! the person, every `recheck_interval`) says a permission in use is gone. Warns a minute before
//! a known deadline and tells the user why the session ended.

use std::sync::Arc;
use std::time::Duration;

use russh::server::Handle;
use russh::{ChannelId, Disconnect};
use tokio_util::sync::CancellationToken;

use super::live::{Live, unix_now};
use crate::config::Limits;
use crate::kube::PersonClient;

/// What the watch needs to know about one admitted connection.
#[derive(Debug)]
pub struct Watch {
    pub handle: Handle,
    pub person: PersonClient,
    pub live: Arc<Live>,
    pub limits: Limits,
    pub valid_before: u64,
    pub started: u64,
    pub user: String,
    /// Cancelled when the connection ends on its own.
    pub done: CancellationToken,
}

/// Runs until the connection ends or the watch cuts it; returns why it ended.
pub async fn watch(w: Watch) -> String {
    let session_end = w.started.saturating_add(w.limits.max_session.as_secs());
    let (deadline, deadline_why) = if w.valid_before <= session_end {
        (w.valid_before, "your certificate expired")
    } else {
        (session_end, "the maximum session length was reached")
    };
    let mut warned = false;
    loop {
        let now = unix_now();
        if now >= deadline {
            return cut(&w, deadline_why).await;
        }
        let left = deadline.saturating_sub(now);
        let terminals = w.live.terminals();
        // Warn once a command is running that can show it (before that, nobody would see it).
        if !warned && left <= w.limits.warn_before.as_secs() && !terminals.is_empty() {
            warned = true;
            let msg = format!("kubejit: this session ends in {left}s ({deadline_why} then)");
            tell(&w.handle, &terminals, &msg).await;
        }
        if w.live.idle_secs() >= w.limits.idle_timeout.as_secs() {
            return cut(&w, "the session was idle too long").await;
        }
        for perm in w.live.permissions() {
            match w.person.allowed(&perm).await {
                Ok(true) => {}
                Ok(false) => {
                    let why = format!("your Kubernetes access ended ({perm} is no longer allowed)");
                    return cut(&w, &why).await;
                }
                Err(e) => {
                    // Fail closed: without a fresh answer the session may not go on.
                    tracing::warn!(error = %e, user = %w.user, "permission re-check failed");
                    return cut(&w, "your Kubernetes access could not be re-checked").await;
                }
            }
        }
        let until_deadline = Duration::from_millis(millis_until(deadline));
        let nap = w.limits.recheck_interval.min(until_deadline);
        tokio::select! {
            () = w.done.cancelled() => return "the client closed the connection".to_owned(),
            () = tokio::time::sleep(nap.max(Duration::from_millis(50))) => {}
        }
    }
}

/// Milliseconds from now until the start of unix second `deadline`.
fn millis_until(deadline: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let target = u128::from(deadline).saturating_mul(1000);
    u64::try_from(target.saturating_sub(now)).unwrap_or(u64::MAX)
}

async fn tell(handle: &Handle, channels: &[ChannelId], msg: &str) {
    for ch in channels {
        let _ = handle
            .extended_data(*ch, 1, format!("\r\n{msg}\r\n").into_bytes())
            .await;
    }
}

async fn cut(w: &Watch, why: &str) -> String {
    tell(
        &w.handle,
        &w.live.terminals(),
        &format!("kubejit: session ended: {why}"),
    )
    .await;
    let _ = w
        .handle
        .disconnect(
            Disconnect::ByApplication,
            format!("kubejit: session ended: {why}"),
            String::new(),
        )
        .await;
    why.to_owned()
}
