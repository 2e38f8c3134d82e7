//! The one place a session's facts leave the gateway (started, command, ended, refused): the seam
//! where audit records and recordings are wired, so adding a fact touches only this file.

use std::net::SocketAddr;

use kubejit_core::ssh_cert::{Admitted, CertRefusal};

use crate::metrics::Metrics;

/// Reports session facts to the log and metrics (and, once wired, the audit trail).
#[derive(Debug, Clone)]
pub struct Reporter {
    metrics: Metrics,
}

impl Reporter {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A login that was refused; the client only heard "Permission denied".
    pub fn refused(&self, peer: Option<SocketAddr>, user: &str, reason: &str, label: &str) {
        self.metrics.auth_failure(label);
        tracing::warn!(
            peer = ?peer,
            user = %kubejit_core::text::escape_bounded(user, 80),
            reason = %reason,
            label,
            "ssh login refused"
        );
    }

    pub fn refused_cert(&self, peer: Option<SocketAddr>, user: &str, refusal: &CertRefusal) {
        self.refused(peer, user, &error_chain(refusal), refusal.metric_label());
    }

    pub fn started(&self, session: &str, who: &Admitted, peer: Option<SocketAddr>) {
        self.metrics.session_started();
        let groups: Vec<&str> = who.groups.iter().map(|g| g.as_str()).collect();
        tracing::info!(
            session,
            user = %who.user.as_str(),
            groups = ?groups,
            key_id = %kubejit_core::text::escape_bounded(&who.key_id, 120),
            serial = who.serial,
            ca = %who.ca_fingerprint,
            peer = ?peer,
            "session started"
        );
    }

    pub fn command(&self, session: &str, user: &str, what: &str) {
        tracing::info!(session, user, command = %kubejit_core::text::escape_bounded(what, 512), "session command");
    }

    pub fn ended(&self, session: &str, user: &str, why: &str, bytes: u64, seconds: u64) {
        self.metrics.session_ended(bytes);
        tracing::info!(session, user, why, bytes, seconds, "session ended");
    }
}

/// The error and its sources, `: `-joined, for one log field.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
