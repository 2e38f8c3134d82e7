//! The watch that ends a session when access ends: at the certificate's `valid_before`, the
//! maximum session length, the idle timeout, or as soon as a re-check (SelfSubjectAccessReview, as
//! the person, every `recheck_interval`) says a permission in use is gone. Warns a minute before
//! a known deadline and tells the user why the session ended.

use std::sync::Arc;
use std::time::Duration;

use kubejit_audit::SessionEndReason;
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
    /// Cancelled when the gateway shuts down.
    pub shutdown: CancellationToken,
    /// Bumped when a binding is deleted: re-check now.
    pub nudge: tokio::sync::watch::Receiver<u64>,
    /// The fingerprint of the CA that signed the session's certificate.
    pub ca: String,
    /// The user CAs trusted now: the session ends when `ca` leaves the set.
    pub cas: tokio::sync::watch::Receiver<crate::trust::CaSet>,
}

const CA_REVOKED: &str =
    "the certificate authority that signed your certificate is no longer trusted";

/// How often the watch wakes at least: the recording's sync tick.
const TICK: Duration = Duration::from_secs(1);

/// Runs until the connection ends or the watch cuts it; returns why it ended and what the user was
/// told.
pub async fn watch(w: Watch) -> (SessionEndReason, String) {
    let session_end = w.started.saturating_add(w.limits.max_session.as_secs());
    let (deadline, deadline_reason, deadline_why) = if w.valid_before <= session_end {
        (
            w.valid_before,
            SessionEndReason::CertificateExpired,
            "your certificate expired",
        )
    } else {
        (
            session_end,
            SessionEndReason::MaxSessionLength,
            "the maximum session length was reached",
        )
    };
    let mut warned = false;
    let mut next_check = tokio::time::Instant::now();
    let mut nudge = w.nudge.clone();
    nudge.mark_unchanged();
    let mut nudge_alive = true;
    let mut cas = w.cas.clone();
    let mut cas_alive = true;
    loop {
        w.live.record(|r, at| r.tick(at));
        if !cas.borrow_and_update().contains(&w.ca) {
            return cut(&w, SessionEndReason::AccessEnded, CA_REVOKED).await;
        }
        let now = unix_now();
        if now >= deadline {
            return cut(&w, deadline_reason, deadline_why).await;
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
            return cut(
                &w,
                SessionEndReason::IdleTimeout,
                "the session was idle too long",
            )
            .await;
        }
        if let Some(e) = w.live.record_failed() {
            let why = format!("the session could not be recorded ({e})");
            return cut(&w, SessionEndReason::Error, &why).await;
        }
        if tokio::time::Instant::now() >= next_check {
            next_check = tokio::time::Instant::now() + w.limits.recheck_interval;
            if let Some((reason, why)) = recheck(&w).await {
                return cut(&w, reason, &why).await;
            }
        }
        let until_deadline = Duration::from_millis(millis_until(deadline));
        let nap = TICK.min(until_deadline).max(Duration::from_millis(50));
        tokio::select! {
            () = w.done.cancelled() => return ended_by_client(&w),
            changed = nudge.changed(), if nudge_alive => {
                match changed {
                    Ok(()) => {
                        nudge.mark_unchanged();
                        next_check = tokio::time::Instant::now();
                    }
                    // The gateway is going away; the interval still applies.
                    Err(_) => nudge_alive = false,
                }
            }
            changed = cas.changed(), if cas_alive => {
                // Judged at the top of the loop; a closed sender means the gateway is going away.
                if changed.is_err() {
                    cas_alive = false;
                }
            }
            () = w.shutdown.cancelled() => {
                return cut(&w, SessionEndReason::GatewayShutdown, "the gateway is shutting down; reconnect in a moment").await;
            }
            () = tokio::time::sleep(nap) => {}
        }
    }
}

/// Asks the apiserver, as the person, about every permission in use.
async fn recheck(w: &Watch) -> Option<(SessionEndReason, String)> {
    for perm in w.live.permissions() {
        match w.person.allowed(&perm).await {
            Ok(true) => {}
            Ok(false) => {
                let why = format!("your Kubernetes access ended ({perm} is no longer allowed)");
                return Some((SessionEndReason::AccessEnded, why));
            }
            Err(e) => {
                // Fail closed: without a fresh answer the session may not go on.
                tracing::warn!(error = %e, user = %w.user, "permission re-check failed");
                let why = "your Kubernetes access could not be re-checked".to_owned();
                return Some((SessionEndReason::AccessEnded, why));
            }
        }
    }
    None
}

fn ended_by_client(w: &Watch) -> (SessionEndReason, String) {
    match w.live.exit_status() {
        Some(code) => (
            SessionEndReason::CommandFinished,
            format!("the command exited with status {code}"),
        ),
        None => (
            SessionEndReason::ClientClosed,
            "the client closed the connection".to_owned(),
        ),
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

async fn cut(w: &Watch, reason: SessionEndReason, why: &str) -> (SessionEndReason, String) {
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
    (reason, why.to_owned())
}
