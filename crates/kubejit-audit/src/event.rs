//! The typed audit event: one variant per fact kubejit attests to, each with exactly the fields that
//! fact needs. Adding a fact or a field is a compile error until every writer fills it; the flat wire
//! record ([`AuditRecord`], `docs/audit.md`) is made from it in one place ([`AuditEvent::into_record`]).

use sha2::{Digest, Sha256};

use crate::access::{AccessApproved, AccessEnded, AccessRequested};
use crate::record::new_event_id;
use crate::session::{
    SessionCommand, SessionDetails, SessionEnded, SessionRefused, SessionStarted,
};
use crate::{
    Actor, AuditRecord, EventKind, ObjectRef, SCHEMA_VERSION, Stamped, Timestamp, Verdict,
};

/// One fact kubejit attests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// The approver decided a certificate request (`certificateApproved|Denied|Pending`).
    CertificateDecided(CertificateDecided),
    /// An issued certificate does not certify what kubejit approved: an alarm.
    CertificateMismatch(MismatchAlarm),
    GrantCreated(GrantChanged),
    GrantExtended(GrantChanged),
    GrantRevoked(GrantRevoked),
    GrantExpired(GrantExpired),
    /// A binding's expiry cannot be read, so the reaper will never delete it.
    GrantMalformed(GrantMalformed),
    /// The reaper saw a grant that kubejit's controller did not make (no AccessRequest owns it: a
    /// break-glass admin's, or one made by the CLI before AccessRequests). It still expires.
    ForeignGrant(GrantChanged),
    ControllerStarted(Lifecycle),
    LeadershipAcquired(Lifecycle),
    LeadershipLost(Lifecycle),
    /// The chained trail was refused on open; written to the fallback spool, never to the trail.
    TrailTruncated(TrailTruncated),
    /// The request controller saw a new AccessRequest.
    AccessRequested(AccessRequested),
    /// An AccessRequest got its approvals (or an Auto rule approved it).
    AccessApproved(AccessApproved),
    /// An AccessRequest was refused: by policy, as malformed, or by an approver.
    AccessDenied(AccessEnded),
    /// The requester deleted the request; whatever it granted was removed.
    AccessWithdrawn(AccessEnded),
    /// No quorum of approvals arrived within the rule's `approvalTimeout`.
    AccessTimedOut(AccessEnded),
    /// An approved request ended early: an approver's Deny, policy no longer allows it, its approvals
    /// were lost, or its binding was removed by someone else.
    AccessRevoked(AccessEnded),
    /// The SSH gateway opened a session (stamp with [`Self::once`], keyed by the session id).
    SessionStarted(SessionStarted),
    /// A command inside a gateway session (stamp with [`Self::at`]).
    SessionCommand(SessionCommand),
    /// A gateway session ended (stamp with [`Self::once`], keyed by the session id).
    SessionEnded(SessionEnded),
    /// The SSH gateway refused a login (stamp with [`Self::at`]).
    SessionRefused(SessionRefused),
}

/// The certificate signing request a certificate fact is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRef {
    pub name: String,
    pub uid: Option<String>,
}

/// The approver's decision on one CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDecided {
    /// The deciding controller.
    pub controller: String,
    pub csr: CsrRef,
    /// The requester, as the apiserver authenticated them.
    pub username: String,
    /// The approved groups; for a denial, the requester's groups.
    pub groups: Vec<String>,
    /// The validated incident when allowed; when denied, as typed (escaped and bounded).
    pub incident: Option<String>,
    pub outcome: CertificateOutcome,
    /// Stable machine reason: the CSR condition reason (`ApprovedByPolicy`, `TtlExceedsPolicy`, …).
    pub decision_reason: String,
    /// The decision's message as the requester sees it, escaped.
    pub message: String,
    /// The hardware key attestation, as the record's `keyAttestation` field says it.
    pub key_attestation: Option<String>,
}

/// What the approver decided, with what each answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateOutcome {
    /// Approved: the certificate ends at most `ttl_seconds` after the record's time.
    Approved { policy: String, ttl_seconds: u64 },
    /// Valid, left for a person to approve.
    Pending { policy: String, ttl_seconds: u64 },
    /// Denied; the lifetime the request asked for, if it asked.
    Denied { requested_ttl_seconds: Option<u64> },
}

/// An issued certificate that does not match what was approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MismatchAlarm {
    pub controller: String,
    pub csr: CsrRef,
    /// `spec.username`, absent on a CSR the apiserver did not fill.
    pub username: Option<String>,
    /// The approved groups, when the request still parses.
    pub groups: Vec<String>,
    pub incident: Option<String>,
    /// What the certificate got wrong.
    pub message: String,
}

/// A grant (RoleBinding or ClusterRoleBinding) as its binding says. Values read from annotations are
/// untrusted: build it with [`AuditedGrant::annotation`] and [`AuditedGrant::expiry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedGrant {
    /// The binding; its namespace is the grant's.
    pub binding: ObjectRef,
    /// `Role/oncall-debug` or `ClusterRole/view`.
    pub role: String,
    /// Every user and service account, one entry each.
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub incident: Option<String>,
    /// The justification typed with `kubejit grant --reason`.
    pub reason: Option<String>,
    /// The expiry annotation, when it parses.
    pub expires_at: Option<Timestamp>,
}

/// How a grant came to be created or extended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    /// By the CLI, allowed by `policy`, for `ttl_seconds` until `expires_at`.
    Policy {
        policy: String,
        ttl_seconds: u64,
        expires_at: Timestamp,
    },
    /// The reaper saw it appear or change (written by anyone).
    Observed,
    /// By the request controller, for the approved AccessRequest `request` (`namespace/name`), allowed
    /// by `policy`, approved by `approvers` (empty: an Auto rule).
    Request {
        request: String,
        approvers: Vec<String>,
        policy: String,
        ttl_seconds: u64,
        expires_at: Timestamp,
    },
}

/// `grantCreated` / `grantExtended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChanged {
    /// The requester (CLI) or the granter annotation (observed).
    pub actor: Actor,
    pub grant: AuditedGrant,
    pub source: GrantSource,
}

/// `kubejit revoke`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRevoked {
    /// Who ended it: kubejit's request controller (a withdrawn, denied or no longer allowed request),
    /// or, in trails written before AccessRequests, the person who ran `kubejit revoke`.
    pub actor: Actor,
    pub grant: AuditedGrant,
    /// `kubejit revoke --reason`; without it the record keeps the grant's own reason.
    pub reason: Option<String>,
}

/// The reaper deleted a grant at its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantExpired {
    pub controller: String,
    pub grant: AuditedGrant,
    pub deadline: Timestamp,
}

/// A binding whose expiry annotation cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantMalformed {
    pub controller: String,
    pub grant: AuditedGrant,
    /// Why, e.g. `expiresAtMissingZone`.
    pub problem: String,
}

/// A controller process's lifecycle fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    pub controller: String,
    /// The process's Kubernetes identity.
    pub identity: String,
}

/// A trail refused on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailTruncated {
    pub trail: String,
    /// Stable machine reason.
    pub reason: String,
    /// What was found, for people.
    pub detail: String,
}

/// The actor of records the audit library writes about itself.
const AUDIT_ACTOR: &str = "kubejit-audit";

impl AuditedGrant {
    /// The longest incident or reason annotation a record carries (the longest valid one).
    const SHOWN_MAX: usize = kubejit_core::reason::REASON_MAX;

    /// An annotation value read back from the apiserver: a cluster admin (who bypasses the
    /// admission policy) can put anything there. Valid values pass unchanged; anything else is
    /// escaped and cut.
    pub fn annotation(raw: Option<&str>) -> Option<String> {
        raw.map(|v| kubejit_core::text::escape_bounded(v, Self::SHOWN_MAX))
    }

    /// The expiry annotation, when it is a valid kubejit expiry.
    pub fn expiry(raw: Option<&str>) -> Option<Timestamp> {
        raw.and_then(|v| kubejit_core::parse_expires_at(v).ok())
            .map(Timestamp::new)
    }
}

impl AuditEvent {
    /// The wire `kind`.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::CertificateDecided(d) => match d.outcome {
                CertificateOutcome::Approved { .. } => EventKind::CertificateApproved,
                CertificateOutcome::Pending { .. } => EventKind::CertificatePending,
                CertificateOutcome::Denied { .. } => EventKind::CertificateDenied,
            },
            Self::CertificateMismatch(_) => EventKind::CertificateMismatch,
            Self::GrantCreated(_) => EventKind::GrantCreated,
            Self::GrantExtended(_) => EventKind::GrantExtended,
            Self::GrantRevoked(_) => EventKind::GrantRevoked,
            Self::GrantExpired(_) => EventKind::GrantExpired,
            Self::GrantMalformed(_) => EventKind::GrantMalformed,
            Self::ForeignGrant(_) => EventKind::ForeignGrant,
            Self::ControllerStarted(_) => EventKind::ControllerStarted,
            Self::LeadershipAcquired(_) => EventKind::LeadershipAcquired,
            Self::LeadershipLost(_) => EventKind::LeadershipLost,
            Self::TrailTruncated(_) => EventKind::TrailTruncated,
            Self::AccessRequested(_) => EventKind::AccessRequested,
            Self::AccessApproved(_) => EventKind::AccessApproved,
            Self::AccessDenied(_) => EventKind::AccessDenied,
            Self::AccessWithdrawn(_) => EventKind::AccessWithdrawn,
            Self::AccessTimedOut(_) => EventKind::AccessTimedOut,
            Self::AccessRevoked(_) => EventKind::AccessRevoked,
            Self::SessionStarted(_) => EventKind::SessionStarted,
            Self::SessionCommand(_) => EventKind::SessionCommand,
            Self::SessionEnded(_) => EventKind::SessionEnded,
            Self::SessionRefused(_) => EventKind::SessionRefused,
        }
    }

    /// Stamps a fact that happens at most once per `key` (e.g. an AccessRequest's uid) with an event
    /// id derived from the key and the fact's kind: the same fact recorded twice has one id, so a
    /// sink ([`crate::AuditSink::find_recorded`]) and the spool replay recognise the second copy.
    pub fn once(self, time: impl Into<Timestamp>, key: &str) -> Stamped {
        let id = Self::once_id(self.kind(), key);
        Stamped::new(self.into_record(time.into(), id))
    }

    /// The event id [`Self::once`] gives the fact `kind` about `key`: 128 bits of SHA-256, hex, like
    /// a fresh id.
    pub fn once_id(kind: EventKind, key: &str) -> String {
        let kind = serde_json::to_string(&kind).unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(b"kubejit-audit-once\0")
            .chain_update(kind.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.as_bytes())
            .finalize();
        hex::encode(&digest[..16])
    }

    /// Stamps the fact with when it happened and a fresh random id: what sinks take.
    pub fn at(self, time: impl Into<Timestamp>) -> Stamped {
        Stamped::new(self.into_record(time.into(), new_event_id()))
    }

    /// The flat wire record of this fact (`sequence` 0: the sink assigns it).
    pub fn into_record(self, time: Timestamp, event_id: String) -> AuditRecord {
        let kind = self.kind();
        let mut r = Fields::default();
        let actor = match self {
            Self::CertificateDecided(d) => d.fill(&mut r, time),
            Self::CertificateMismatch(m) => m.fill(&mut r),
            Self::GrantCreated(c) | Self::GrantExtended(c) => c.fill(&mut r),
            Self::ForeignGrant(c) => {
                let actor = c.fill(&mut r);
                r.decision_reason = Some("notMadeByKubejit".to_owned());
                actor
            }
            Self::GrantRevoked(g) => {
                let reason = g.reason.clone();
                g.grant.fill(&mut r);
                r.decision_reason = Some("revoked".to_owned());
                r.reason = reason.or(r.reason.take());
                g.actor
            }
            Self::GrantExpired(g) => {
                g.grant.fill(&mut r);
                r.decision_reason = Some("expired".to_owned());
                r.expires_at = Some(g.deadline);
                Actor::controller(g.controller)
            }
            Self::GrantMalformed(g) => {
                g.grant.fill(&mut r);
                r.decision_reason = Some(g.problem);
                Actor::controller(g.controller)
            }
            Self::ControllerStarted(l) | Self::LeadershipAcquired(l) | Self::LeadershipLost(l) => {
                r.subject = Some(l.identity);
                Actor::controller(l.controller)
            }
            Self::TrailTruncated(t) => {
                r.decision = Some(Verdict::Denied);
                r.decision_reason = Some(t.reason);
                r.reason = Some(t.detail);
                r.object = Some(object("AuditTrail", None, t.trail, None));
                Actor::controller(AUDIT_ACTOR)
            }
            Self::AccessRequested(a) => a.fill(&mut r),
            Self::AccessApproved(a) => a.fill(&mut r),
            Self::AccessDenied(a) | Self::AccessTimedOut(a) => a.fill(&mut r, Verdict::Denied),
            Self::AccessWithdrawn(a) | Self::AccessRevoked(a) => a.fill(&mut r, Verdict::Denied),
            Self::SessionStarted(s) => s.fill(&mut r),
            Self::SessionCommand(s) => s.fill(&mut r),
            Self::SessionEnded(s) => s.fill(&mut r),
            Self::SessionRefused(s) => s.fill(&mut r),
        };
        r.into_record(kind, actor, time, event_id)
    }
}

/// The record's optional fields while a fact fills them.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) subject: Option<String>,
    pub(crate) users: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) policy: Option<String>,
    pub(crate) incident: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) decision: Option<Verdict>,
    pub(crate) decision_reason: Option<String>,
    pub(crate) ttl_seconds: Option<u64>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) object: Option<ObjectRef>,
    pub(crate) approvers: Vec<String>,
    pub(crate) session: Option<SessionDetails>,
    pub(crate) key_attestation: Option<String>,
}

impl Fields {
    fn into_record(
        self,
        kind: EventKind,
        actor: Actor,
        time: Timestamp,
        event_id: String,
    ) -> AuditRecord {
        AuditRecord {
            schema_version: SCHEMA_VERSION,
            sequence: 0,
            time,
            event_id,
            kind,
            actor,
            subject: self.subject,
            users: self.users,
            groups: self.groups,
            namespace: self.namespace,
            role: self.role,
            policy: self.policy,
            incident: self.incident,
            reason: self.reason,
            decision: self.decision,
            decision_reason: self.decision_reason,
            ttl_seconds: self.ttl_seconds,
            expires_at: self.expires_at,
            object: self.object,
            approvers: self.approvers,
            session: self.session,
            key_attestation: self.key_attestation,
        }
    }
}

fn object(kind: &str, namespace: Option<String>, name: String, uid: Option<String>) -> ObjectRef {
    ObjectRef {
        kind: kind.to_owned(),
        namespace,
        name,
        uid,
    }
}

impl CsrRef {
    fn object(self) -> ObjectRef {
        object("CertificateSigningRequest", None, self.name, self.uid)
    }
}

impl CertificateDecided {
    fn fill(self, r: &mut Fields, time: Timestamp) -> Actor {
        r.subject = Some(self.username.clone());
        r.users = vec![self.username];
        r.groups = self.groups;
        r.incident = self.incident;
        r.reason = Some(self.message);
        r.decision_reason = Some(self.decision_reason);
        r.object = Some(self.csr.object());
        r.key_attestation = self.key_attestation;
        match self.outcome {
            CertificateOutcome::Approved {
                policy,
                ttl_seconds,
            } => {
                r.decision = Some(Verdict::Allowed);
                r.policy = Some(policy);
                r.ttl_seconds = Some(ttl_seconds);
                // Upper bound of notAfter: the signer starts counting when it signs, after this.
                r.expires_at = after(time, ttl_seconds);
            }
            CertificateOutcome::Pending {
                policy,
                ttl_seconds,
            } => {
                r.decision = Some(Verdict::Pending);
                r.policy = Some(policy);
                r.ttl_seconds = Some(ttl_seconds);
            }
            CertificateOutcome::Denied {
                requested_ttl_seconds,
            } => {
                r.decision = Some(Verdict::Denied);
                r.ttl_seconds = requested_ttl_seconds;
            }
        }
        Actor::controller(self.controller)
    }
}

/// `time + secs`; `None` only past the end of representable time.
fn after(start: Timestamp, secs: u64) -> Option<Timestamp> {
    let secs = i64::try_from(secs).ok()?;
    let end = start.get().checked_add(time::Duration::seconds(secs))?;
    Some(Timestamp::new(end))
}

impl MismatchAlarm {
    /// Stable `decisionReason` of a mismatch alarm.
    pub const REASON: &'static str = "CertificateMismatch";

    fn fill(self, r: &mut Fields) -> Actor {
        r.subject = self.username;
        r.groups = self.groups;
        r.incident = self.incident;
        r.decision_reason = Some(Self::REASON.to_owned());
        r.reason = Some(self.message);
        r.object = Some(self.csr.object());
        Actor::controller(self.controller)
    }
}

impl AuditedGrant {
    fn fill(self, r: &mut Fields) {
        // `subject` is for people; `users` keeps each name whole (a username may contain a comma).
        r.subject = (!self.users.is_empty()).then(|| self.users.join(","));
        r.users = self.users;
        r.groups = self.groups;
        r.namespace.clone_from(&self.binding.namespace);
        r.role = Some(self.role);
        r.incident = self.incident;
        r.reason = self.reason;
        r.expires_at = self.expires_at;
        r.object = Some(self.binding);
    }
}

impl GrantChanged {
    fn fill(self, r: &mut Fields) -> Actor {
        self.grant.fill(r);
        match self.source {
            GrantSource::Policy {
                policy,
                ttl_seconds,
                expires_at,
            } => {
                r.policy = Some(policy);
                r.decision = Some(Verdict::Allowed);
                r.decision_reason = Some("policyMatched".to_owned());
                r.ttl_seconds = Some(ttl_seconds);
                r.expires_at = Some(expires_at);
            }
            GrantSource::Observed => r.decision_reason = Some("observed".to_owned()),
            GrantSource::Request {
                request,
                approvers,
                policy,
                ttl_seconds,
                expires_at,
            } => {
                let by = crate::access::approved_by(&approvers);
                let via = format!("request {request}, {by}");
                // The justification stays first; the request and its approvers follow, for people.
                r.reason = Some(match r.reason.take() {
                    Some(reason) => format!("{reason} ({via})"),
                    None => via,
                });
                r.policy = Some(policy);
                r.decision = Some(Verdict::Allowed);
                r.decision_reason = Some("requestApproved".to_owned());
                r.approvers = approvers;
                r.ttl_seconds = Some(ttl_seconds);
                r.expires_at = Some(expires_at);
            }
        }
        self.actor
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
