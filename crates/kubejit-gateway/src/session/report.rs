//! The one place a session's facts leave the gateway: metrics, the log, and the audit trail
//! (`sessionStarted`, `sessionCommand`, `sessionEnded`, `sessionRefused`). Starting a session or a
//! command is gated on its record (kubejit's rule: a failed audit write blocks the action); an end
//! or a refusal already happened and is recorded afterwards (spooled if the trail is down).

use std::net::SocketAddr;
use std::sync::Arc;

use kubejit_audit::{
    AuditEvent, Auditor, SessionAction, SessionCertificate, SessionCommand, SessionEnded,
    SessionRefused, SessionStarted, SessionUser, Timestamp,
};
use kubejit_core::ssh_cert::{Admitted, CertRefusal};

use crate::metrics::Metrics;

/// The actor name on the gateway's own records.
pub const GATEWAY_NAME: &str = "kubejit-gateway";

/// Reports session facts.
#[derive(Debug, Clone)]
pub struct Reporter {
    metrics: Metrics,
    audit: Arc<Auditor>,
}

/// A login that was refused, for the record.
#[derive(Debug)]
pub struct Refusal<'a> {
    pub connection: &'a str,
    pub peer: Option<SocketAddr>,
    pub login: &'a str,
    /// Stable label (`untrusted_ca`, …): the metric label, and camelCased the record's reason.
    pub label: &'a str,
    pub detail: String,
    pub key_id: Option<String>,
    pub ca_fingerprint: Option<String>,
}

impl Reporter {
    pub fn new(metrics: Metrics, audit: Arc<Auditor>) -> Self {
        Self { metrics, audit }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A login that was refused; the client only heard "Permission denied".
    pub fn refused(&self, r: Refusal<'_>) {
        self.metrics.auth_failure(r.label);
        tracing::warn!(
            peer = ?r.peer,
            user = %kubejit_core::text::escape_bounded(r.login, 80),
            reason = %r.detail,
            label = r.label,
            "ssh login refused"
        );
        let event = AuditEvent::SessionRefused(SessionRefused {
            gateway: GATEWAY_NAME.to_owned(),
            connection_id: r.connection.to_owned(),
            login: r.login.to_owned(),
            source_address: address(r.peer),
            reason: camel(r.label),
            detail: r.detail,
            key_id: r.key_id,
            ca_fingerprint: r.ca_fingerprint,
        });
        self.after(event.at(Timestamp::now()));
    }

    pub fn refused_cert(
        &self,
        connection: &str,
        peer: Option<SocketAddr>,
        login: &str,
        refusal: &CertRefusal,
        key_id: &str,
        ca: &str,
    ) {
        self.refused(Refusal {
            connection,
            peer,
            login,
            label: refusal.metric_label(),
            detail: error_chain(refusal),
            key_id: Some(key_id.to_owned()),
            ca_fingerprint: Some(ca.to_owned()),
        });
    }

    /// Records the session's start; `Err` means it was not recorded and must not start.
    pub fn started(
        &self,
        session: &str,
        who: &Admitted,
        peer: Option<SocketAddr>,
    ) -> Result<(), String> {
        let event = AuditEvent::SessionStarted(SessionStarted {
            session_id: session.to_owned(),
            who: session_user(who),
            certificate: SessionCertificate {
                key_id: who.key_id.clone(),
                serial: who.serial,
                ca_fingerprint: who.ca_fingerprint.clone(),
            },
            source_address: address(peer),
        });
        self.audit
            .record(event.once(Timestamp::now(), session))
            .map_err(|e| error_chain(&e))?;
        self.metrics.session_started();
        tracing::info!(session, user = %who.user.as_str(), key_id = %kubejit_core::text::escape_bounded(&who.key_id, 120), serial = who.serial, ca = %who.ca_fingerprint, peer = ?peer, "session started");
        Ok(())
    }

    /// Records a command before it runs; `Err` means it must not run.
    pub fn command(
        &self,
        session: &str,
        who: &SessionUser,
        namespace: &str,
        action: SessionAction,
    ) -> Result<(), String> {
        tracing::info!(session, user = %who.user, namespace, action = action.as_str(), "session command");
        let event = AuditEvent::SessionCommand(SessionCommand {
            session_id: session.to_owned(),
            who: who.clone(),
            namespace: namespace.to_owned(),
            action,
        });
        self.audit
            .record(event.at(Timestamp::now()))
            .map(|_| ())
            .map_err(|e| error_chain(&e))
    }

    pub fn ended(&self, ended: SessionEnded) {
        self.metrics
            .session_ended(ended.bytes_in.saturating_add(ended.bytes_out));
        tracing::info!(session = %ended.session_id, user = %ended.who.user, reason = ended.reason.as_str(), message = %ended.message, "session ended");
        let key = ended.session_id.clone();
        self.after(AuditEvent::SessionEnded(ended).once(Timestamp::now(), &key));
    }

    fn after(&self, event: kubejit_audit::Stamped) {
        match self.audit.record_after(event) {
            kubejit_audit::After::Recorded(_) => {}
            other => tracing::warn!(outcome = ?other, "session record not in the trail yet"),
        }
    }
}

/// The person as the audit records name them.
pub fn session_user(who: &Admitted) -> SessionUser {
    SessionUser {
        user: who.user.as_str().to_owned(),
        groups: who.groups.iter().map(|g| g.as_str().to_owned()).collect(),
    }
}

fn address(peer: Option<SocketAddr>) -> String {
    peer.map(|p| p.to_string()).unwrap_or_default()
}

/// `untrusted_ca` → `untrustedCa`.
fn camel(label: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in label.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The error and its sources, `: `-joined, for one log field.
pub use kubejit_core::text::error_chain;

#[cfg(test)]
mod tests {
    #[test]
    fn labels_become_record_reasons() {
        assert_eq!(super::camel("untrusted_ca"), "untrustedCa");
        assert_eq!(super::camel("login_not_a_principal"), "loginNotAPrincipal");
        assert_eq!(super::camel("expired"), "expired");
    }
}
