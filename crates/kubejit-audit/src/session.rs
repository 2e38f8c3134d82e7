//! The SSH gateway's facts (`sessionStarted`, `sessionCommand`, `sessionEnded`, `sessionRefused`):
//! who came in with which certificate, what they ran, how and why the session ended (with the
//! recording's hash, so the chained trail vouches for the file), and every refused login.
//!
//! The gateway fills these structs (all fields public); strings that came from the client (login
//! name, certificate key id, command arguments) are escaped and bounded here, never trusted.
//! `sessionStarted`, `sessionEnded` happen once per session: stamp them with
//! [`crate::AuditEvent::once`] keyed by the session id. `sessionCommand` and `sessionRefused` can
//! repeat: stamp them with [`crate::AuditEvent::at`].

use serde::{Deserialize, Serialize};

use crate::event::Fields;
use crate::{Actor, ObjectRef, Verdict};

/// The longest client-chosen string a session record carries (escaped, then cut).
const SHOWN_MAX: usize = kubejit_core::reason::REASON_MAX;

/// The wire `session` object of a session record (`null` on every other record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// The gateway's id for the session (also the recording's file stem).
    pub id: String,
    /// The certificate's key id, escaped.
    pub key_id: Option<String>,
    /// The certificate's serial.
    pub serial: Option<u64>,
    /// SHA-256 fingerprint of the trusted CA that signed the certificate (`SHA256:…`).
    pub ca_fingerprint: Option<String>,
    /// The client's address, `ip:port`.
    pub source_address: Option<String>,
    /// `sessionCommand`: `exec`, `logs`, `portForward` or `pods`.
    pub action: Option<String>,
    /// `sessionCommand`: the command as the user gave it, escaped and bounded.
    pub command: Option<String>,
    /// `sessionEnded`: the exit status sent to the client, if one was.
    pub exit_status: Option<u32>,
    /// `sessionEnded`: bytes from the client / to the client.
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// `sessionEnded`: how long the session lasted, in milliseconds.
    pub duration_ms: Option<u64>,
    /// `sessionEnded`: the recording's file name, when the session was recorded.
    pub recording: Option<String>,
    /// `sessionEnded`: SHA-256 (hex) of the recording file as written.
    pub recording_sha256: Option<String>,
}

/// The person behind a session: the certificate's login name and the groups the gateway gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The Kubernetes username (the SSH login name the certificate allowed).
    pub user: String,
    pub groups: Vec<String>,
}

/// The certificate a session authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCertificate {
    /// As the CA wrote it (escaped on the record).
    pub key_id: String,
    pub serial: u64,
    /// `SHA256:…` of the trusted CA key that verified it.
    pub ca_fingerprint: String,
}

/// `sessionStarted`: a certificate was accepted and a session opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStarted {
    pub session_id: String,
    pub who: SessionUser,
    pub certificate: SessionCertificate,
    pub source_address: String,
}

/// What a session asked the gateway to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAction {
    /// `pods -n NS`.
    Pods,
    /// `logs -n NS POD [-c C] [-f] [--tail N]`.
    Logs {
        pod: String,
        container: Option<String>,
        follow: bool,
        tail: Option<u64>,
    },
    /// `exec -n NS POD [-c C] -- CMD…`, with or without a PTY.
    Exec {
        pod: String,
        container: Option<String>,
        tty: bool,
        command: Vec<String>,
    },
    /// `-L LOCAL:POD.NS:PORT`.
    PortForward { pod: String, port: u16 },
}

/// `sessionCommand`: one command (or forwarded port) inside a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCommand {
    pub session_id: String,
    pub who: SessionUser,
    pub namespace: String,
    pub action: SessionAction,
}

/// Why a session ended: a closed set, each with a stable wire name (`decisionReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEndReason {
    /// The client disconnected.
    ClientClosed,
    /// The command ran to its end.
    CommandFinished,
    /// The person lost the Kubernetes access in use (grant expired or revoked).
    AccessEnded,
    /// The certificate's `valid_before` passed.
    CertificateExpired,
    IdleTimeout,
    MaxSessionLength,
    GatewayShutdown,
    /// Something failed; the record's `reason` says what.
    Error,
}

impl SessionEndReason {
    /// Every reason, for tests and docs.
    pub const ALL: [Self; 8] = [
        Self::ClientClosed,
        Self::CommandFinished,
        Self::AccessEnded,
        Self::CertificateExpired,
        Self::IdleTimeout,
        Self::MaxSessionLength,
        Self::GatewayShutdown,
        Self::Error,
    ];

    /// The record's `decisionReason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClosed => "clientClosed",
            Self::CommandFinished => "commandFinished",
            Self::AccessEnded => "accessEnded",
            Self::CertificateExpired => "certificateExpired",
            Self::IdleTimeout => "idleTimeout",
            Self::MaxSessionLength => "maxSessionLength",
            Self::GatewayShutdown => "gatewayShutdown",
            Self::Error => "error",
        }
    }
}

/// A finished recording: its file name (not a path) and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRef {
    pub file: String,
    pub sha256: String,
}

/// `sessionEnded`: the session closed, for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnded {
    /// The gateway's name, e.g. `kubejit-gateway` (the record's actor).
    pub gateway: String,
    pub session_id: String,
    pub who: SessionUser,
    pub reason: SessionEndReason,
    /// What the user was told, for people.
    pub message: String,
    pub exit_status: Option<u32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: std::time::Duration,
    pub recording: Option<RecordingRef>,
}

/// `sessionRefused`: a login the gateway turned away. The client was told only "permission denied";
/// this record says exactly why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRefused {
    pub gateway: String,
    /// The connection's id (a refused login has no session).
    pub connection_id: String,
    /// The SSH login name the client tried (untrusted: escaped and bounded on the record).
    pub login: String,
    pub source_address: String,
    /// Stable machine reason, e.g. `certificateExpired`, `untrustedCa`, `loginNotInPrincipals`.
    pub reason: String,
    /// Details for people.
    pub detail: String,
    /// The presented certificate's key id and CA fingerprint, when it got that far.
    pub key_id: Option<String>,
    pub ca_fingerprint: Option<String>,
}

fn shown(text: &str) -> String {
    kubejit_core::text::escape_bounded(text, SHOWN_MAX)
}

impl SessionUser {
    /// The names came from a certificate the gateway accepted (so valid names pass unchanged); they
    /// are escaped anyway, so a gateway bug cannot put a terminal escape on the record.
    fn fill(self, r: &mut Fields) -> Actor {
        let user = shown(&self.user);
        r.subject = Some(user.clone());
        r.users = vec![user.clone()];
        r.groups = self.groups.iter().map(|g| shown(g)).collect();
        Actor::user(user)
    }
}

impl SessionStarted {
    pub(crate) fn fill(self, r: &mut Fields) -> Actor {
        r.decision = Some(Verdict::Allowed);
        r.decision_reason = Some("certificateAccepted".to_owned());
        r.session = Some(SessionDetails {
            id: self.session_id,
            key_id: Some(shown(&self.certificate.key_id)),
            serial: Some(self.certificate.serial),
            ca_fingerprint: Some(self.certificate.ca_fingerprint),
            source_address: Some(self.source_address),
            ..SessionDetails::default()
        });
        self.who.fill(r)
    }
}

/// Quotes an argument the way a shell would need it, so `["sh","-c","a b"]` reads back unambiguously.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

impl SessionAction {
    /// The `session.action` wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pods => "pods",
            Self::Logs { .. } => "logs",
            Self::Exec { .. } => "exec",
            Self::PortForward { .. } => "portForward",
        }
    }

    /// The pod it targets, and the command line as the user gave it (before escaping).
    fn describe(self, namespace: &str) -> (Option<String>, String) {
        let container = |c: &Option<String>| {
            c.as_ref()
                .map(|c| format!(" -c {}", quoted(c)))
                .unwrap_or_default()
        };
        match self {
            Self::Pods => (None, format!("pods -n {}", quoted(namespace))),
            Self::Logs {
                pod,
                container: c,
                follow,
                tail,
            } => {
                let mut line = format!(
                    "logs -n {} {}{}",
                    quoted(namespace),
                    quoted(&pod),
                    container(&c)
                );
                if follow {
                    line.push_str(" -f");
                }
                if let Some(n) = tail {
                    line.push_str(&format!(" --tail {n}"));
                }
                (Some(pod), line)
            }
            Self::Exec {
                pod,
                container: c,
                tty,
                command,
            } => {
                let args: Vec<String> = command.iter().map(|a| quoted(a)).collect();
                let tty = if tty { " -t" } else { "" };
                let line = format!(
                    "exec -n {} {}{}{tty} -- {}",
                    quoted(namespace),
                    quoted(&pod),
                    container(&c),
                    args.join(" ")
                );
                (Some(pod), line)
            }
            Self::PortForward { pod, port } => {
                let line = format!("port-forward {}.{}:{port}", quoted(&pod), quoted(namespace));
                (Some(pod), line)
            }
        }
    }
}

impl SessionCommand {
    pub(crate) fn fill(self, r: &mut Fields) -> Actor {
        let action = self.action.as_str();
        let (pod, line) = self.action.describe(&self.namespace);
        // Client-typed; the gateway validates names before it acts, maybe after it records.
        let namespace = shown(&self.namespace);
        r.object = pod.map(|name| ObjectRef {
            kind: "Pod".to_owned(),
            namespace: Some(namespace.clone()),
            name: shown(&name),
            uid: None,
        });
        r.namespace = Some(namespace);
        r.session = Some(SessionDetails {
            id: self.session_id,
            action: Some(action.to_owned()),
            command: Some(shown(&line)),
            ..SessionDetails::default()
        });
        self.who.fill(r)
    }
}

impl SessionEnded {
    pub(crate) fn fill(self, r: &mut Fields) -> Actor {
        let (recording, recording_sha256) = match self.recording {
            Some(rec) => (Some(rec.file), Some(rec.sha256)),
            None => (None, None),
        };
        r.decision_reason = Some(self.reason.as_str().to_owned());
        r.reason = Some(shown(&self.message));
        r.session = Some(SessionDetails {
            id: self.session_id,
            exit_status: self.exit_status,
            bytes_in: Some(self.bytes_in),
            bytes_out: Some(self.bytes_out),
            duration_ms: Some(u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)),
            recording,
            recording_sha256,
            ..SessionDetails::default()
        });
        self.who.fill(r);
        Actor::controller(self.gateway)
    }
}

impl SessionRefused {
    pub(crate) fn fill(self, r: &mut Fields) -> Actor {
        let login = shown(&self.login);
        r.subject = Some(login.clone());
        r.users = vec![login];
        r.decision = Some(Verdict::Denied);
        r.decision_reason = Some(self.reason);
        r.reason = Some(shown(&self.detail));
        r.session = Some(SessionDetails {
            id: self.connection_id,
            key_id: self.key_id.as_deref().map(shown),
            ca_fingerprint: self.ca_fingerprint,
            source_address: Some(self.source_address),
            ..SessionDetails::default()
        });
        Actor::controller(self.gateway)
    }
}
