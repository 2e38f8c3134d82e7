//! The three effects of a decision, in order: the audit record (blocking), the approval condition
//! (conditional on the evaluated resourceVersion and uid), then the Event (queued, see `events`).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType};
use kubejit_audit::{AuditEvent, CertificateDecided, CertificateOutcome, CsrRef, Stamped};
use kubejit_core::{Allowed, CsrFacts, Decision, DenyReason, text};

use super::error::Error;
use super::outcome::{Outcome, machine_reason};
use super::shared::Approver;

/// Writes the audit record unless the trail already holds it; returns only once it is durable. An
/// error blocks the decision.
///
/// A decision is one fact per CSR (a pending one, one per message), so its event id is derived from
/// the CSR's uid: a controller killed between the record and the condition, restarted, and deciding
/// the same CSR again, or one re-deciding after a 409, finds its first record instead of writing a
/// second one (the chaos test in `crates/kubejit/tests/chaos/` found the restarts doing that).
pub async fn record_audit(
    app: &Approver,
    csr: &CertificateSigningRequest,
    facts: &CsrFacts,
    decision: &Decision,
) -> Result<(), Error> {
    let event = audit_event(app, csr, facts, decision);
    let now = app.ctx.clock.now();
    let stamped = match once_key(csr.uid().as_deref(), decision) {
        Some(key) => event.once(now, &key),
        // No uid, no stable key: a fresh id. (Such a CSR cannot be approved: the approval carries
        // the uid as its precondition.)
        None => event.at(now),
    };
    record_once(app, csr.name_any(), stamped).await
}

/// What makes a decision one fact: the CSR (its uid), and for a pending one also what it waits for.
pub(crate) fn once_key(uid: Option<&str>, decision: &Decision) -> Option<String> {
    let uid = uid.filter(|u| !u.is_empty())?;
    Some(match decision {
        Decision::Approve { .. } | Decision::Deny { .. } => uid.to_owned(),
        Decision::Pending { message, .. } => format!("{uid}\n{message}"),
    })
}

/// Looks `event` up in the trail and records it unless it is there, in one trip to the blocking
/// pool (the lookup is the sink's in-memory index once the trail has been read; the record waits
/// for its fsync, shared with whatever else is being recorded). When the trail cannot say whether
/// it holds the record, the record is written (again): a duplicate is better than a decision
/// without its record.
async fn record_once(app: &Approver, name: String, event: Stamped) -> Result<(), Error> {
    let auditor = Arc::clone(&app.ctx.audit);
    let write = move || {
        let id = event.event_id().to_owned();
        let ids: HashSet<String> = [id.clone()].into();
        let found = auditor.primary().find_recorded(&ids);
        if found.is_ok_and(|found| found.contains(&id)) {
            return Ok(());
        }
        auditor.record(event).map(|_| ())
    };
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|source| Error::AuditTask {
            name: name.clone(),
            source,
        })?
        .map_err(|source| Error::RecordAudit { name, source })
}

/// Records `event` about CSR `name`; returns once it is durable.
pub async fn write_audit(app: &Approver, name: String, event: Stamped) -> Result<(), Error> {
    let sink = Arc::clone(&app.ctx.audit);
    // Sinks do blocking I/O (write + fsync): keep it off the async workers.
    tokio::task::spawn_blocking(move || sink.record(event))
        .await
        .map_err(|source| Error::AuditTask {
            name: name.clone(),
            source,
        })?
        .map(|_| ())
        .map_err(|source| Error::RecordAudit { name, source })
}

fn audit_event(
    app: &Approver,
    csr: &CertificateSigningRequest,
    facts: &CsrFacts,
    decision: &Decision,
) -> AuditEvent {
    let groups = |allowed: &Allowed| {
        allowed
            .groups
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect()
    };
    let (outcome, groups) = match decision {
        Decision::Approve { allowed, .. } => {
            let outcome = CertificateOutcome::Approved {
                policy: allowed.policy.as_str().to_owned(),
                ttl_seconds: allowed.ttl.as_secs(),
            };
            (outcome, groups(allowed))
        }
        Decision::Pending { allowed, .. } => {
            let outcome = CertificateOutcome::Pending {
                policy: allowed.policy.as_str().to_owned(),
                ttl_seconds: allowed.ttl.as_secs(),
            };
            (outcome, groups(allowed))
        }
        // A denied request's groups are the requester's, as the apiserver authenticated them.
        Decision::Deny { .. } => {
            let requested = facts.expiration_seconds.and_then(|s| u64::try_from(s).ok());
            let outcome = CertificateOutcome::Denied {
                requested_ttl_seconds: requested,
            };
            (outcome, facts.groups.clone())
        }
    };
    AuditEvent::CertificateDecided(CertificateDecided {
        controller: app.ctx.controller_name.clone(),
        csr: CsrRef {
            name: csr.name_any(),
            uid: csr.uid(),
        },
        username: facts.username.clone(),
        groups,
        incident: recorded_incident(facts, decision),
        outcome,
        decision_reason: machine_reason(decision).to_owned(),
        message: shown_message(decision),
        key_attestation: recorded_key(decision),
    })
}

/// The record's `keyAttestation`: what a verified attestation says when a `keys: hardware` policy
/// allowed the request, the reason when the key was why it was denied, else nothing.
fn recorded_key(decision: &Decision) -> Option<String> {
    match decision {
        Decision::Approve { allowed, .. } | Decision::Pending { allowed, .. } => allowed
            .hardware_key
            .as_ref()
            .map(|k| format!("verified: {k}")),
        Decision::Deny { reason, .. } => match reason {
            DenyReason::KeyAttestationMalformed
            | DenyReason::KeyAttestationMissing
            | DenyReason::KeyAttestationUntrusted
            | DenyReason::KeyNotAttested
            | DenyReason::KeyPolicyTooWeak => Some(format!("refused: {reason}")),
            DenyReason::WrongSigner
            | DenyReason::SelfRequest
            | DenyReason::SystemRequester
            | DenyReason::MalformedRequest
            | DenyReason::UnsupportedKey
            | DenyReason::InvalidSignature
            | DenyReason::ExtensionsRequested
            | DenyReason::SubjectNotAllowed
            | DenyReason::CommonNameMismatch
            | DenyReason::SystemGroup
            | DenyReason::UsagesNotAllowed
            | DenyReason::ExpirationMissing
            | DenyReason::ExpirationTooShort
            | DenyReason::NoMatchingPolicy
            | DenyReason::GroupNotAllowed
            | DenyReason::TtlExceedsPolicy
            | DenyReason::IncidentMissing
            | DenyReason::IncidentInvalid
            | DenyReason::IncidentMismatch
            | DenyReason::TtlExceedsRequest => None,
        },
    }
}

/// The longest unvalidated incident kept in an audit record (escaped, with a cut marker).
const RAW_INCIDENT_MAX: usize = 256;

/// The incident a record names: the policy-validated one when allowed; when denied, whatever the
/// requester typed (it may be why it was denied), escaped and bounded so it can neither forge a
/// reader's view nor bloat the trail.
fn recorded_incident(facts: &CsrFacts, decision: &Decision) -> Option<String> {
    match decision {
        Decision::Approve { allowed, .. } | Decision::Pending { allowed, .. } => {
            allowed.incident.as_ref().map(|i| i.as_str().to_owned())
        }
        Decision::Deny { .. } => facts
            .incident
            .as_deref()
            .map(|raw| text::escape_bounded(raw, RAW_INCIDENT_MAX)),
    }
}

/// A decision's message as people see it (condition, Event, audit): decision messages quote the
/// requester's username and CSR fields, which nobody validated, so they are escaped here, once.
fn shown_message(decision: &Decision) -> String {
    text::escape(decision.message()).into_owned()
}

/// Adds the Approved or Denied condition through the approval subresource. The body carries the
/// uid and resourceVersion we evaluated: if the CSR changed or was replaced, the apiserver answers
/// 409 and nothing is approved.
pub async fn write_condition(
    api: &Api<CertificateSigningRequest>,
    csr: &CertificateSigningRequest,
    decision: &Decision,
) -> Result<(), Error> {
    let name = csr.name_any();
    let (type_, reason) = match decision {
        Decision::Approve { .. } => ("Approved", machine_reason(decision)),
        Decision::Deny { reason, .. } => ("Denied", reason.as_str()),
        Decision::Pending { .. } => return Ok(()),
    };
    let body = approval_body(csr, type_, reason, &shown_message(decision))?;
    api.replace_subresource("approval", &name, &PostParams::default(), &body)
        .await
        .map(|_: CertificateSigningRequest| ())
        .map_err(|source| Error::WriteApproval {
            name,
            condition: type_,
            source,
        })
}

fn approval_body(
    csr: &CertificateSigningRequest,
    type_: &str,
    reason: &str,
    message: &str,
) -> Result<CertificateSigningRequest, Error> {
    let name = csr.name_any();
    let missing = |field| Error::MissingMetadata {
        name: name.clone(),
        field,
    };
    let metadata = ObjectMeta {
        name: Some(name.clone()),
        uid: Some(csr.uid().ok_or_else(|| missing("uid"))?),
        resource_version: Some(
            csr.resource_version()
                .ok_or_else(|| missing("resourceVersion"))?,
        ),
        ..ObjectMeta::default()
    };
    let mut conditions = csr
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    conditions.push(CertificateSigningRequestCondition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    });
    Ok(CertificateSigningRequest {
        metadata,
        spec: csr.spec.clone(),
        status: Some(CertificateSigningRequestStatus {
            conditions: Some(conditions),
            certificate: None,
        }),
    })
}

/// Queues the decision's Event on the CSR (published off this reconcile's slot, see `events`). A
/// failure is counted and logged but does not undo or retry the decision, which is already written
/// (and audited).
pub fn publish_event(app: &Approver, csr: &CertificateSigningRequest, decision: &Decision) {
    let outcome = Outcome::of(decision);
    let type_ = match outcome {
        Outcome::Approved | Outcome::Pending => EventType::Normal,
        Outcome::Denied => EventType::Warning,
    };
    let event = Event {
        type_,
        reason: outcome.event_reason().to_owned(),
        note: Some(truncate(&shown_message(decision), 1000)),
        action: "Decide".to_owned(),
        secondary: None,
    };
    app.events.send(event, csr, &csr.name_any());
}

/// Seconds from the CSR's creation to now (the decision was just written).
pub fn latency_secs(csr: &CertificateSigningRequest) -> Option<f64> {
    let created = csr.metadata.creation_timestamp.as_ref()?;
    let elapsed = jiff::Timestamp::now().duration_since(created.0);
    Some(elapsed.as_secs_f64().max(0.0))
}

/// Events carry at most 1 kB of note; cut on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}...", text.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn pending_csr() -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = Some("req".to_owned());
        csr.metadata.uid = Some("uid-1".to_owned());
        csr.metadata.resource_version = Some("42".to_owned());
        csr.spec.request = ByteString(b"pem".to_vec());
        csr
    }

    #[test]
    fn the_approval_body_is_conditional_on_what_was_evaluated() {
        let body = approval_body(&pending_csr(), "Denied", "TtlExceedsPolicy", "too long").unwrap();
        assert_eq!(body.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(body.metadata.resource_version.as_deref(), Some("42"));
        let conds = body.status.unwrap().conditions.unwrap();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].type_, "Denied");
        assert_eq!(conds[0].status, "True");
        assert_eq!(conds[0].reason.as_deref(), Some("TtlExceedsPolicy"));
        assert_eq!(conds[0].message.as_deref(), Some("too long"));
    }

    #[test]
    fn no_approval_without_a_resource_version_or_uid() {
        let mut csr = pending_csr();
        csr.metadata.resource_version = None;
        let err = approval_body(&csr, "Approved", "ApprovedByPolicy", "ok").unwrap_err();
        assert!(matches!(
            err,
            Error::MissingMetadata {
                field: "resourceVersion",
                ..
            }
        ));
        let mut csr = pending_csr();
        csr.metadata.uid = None;
        let err = approval_body(&csr, "Approved", "ApprovedByPolicy", "ok").unwrap_err();
        assert!(matches!(err, Error::MissingMetadata { field: "uid", .. }));
    }

    #[test]
    fn a_denied_requests_raw_incident_is_recorded_escaped_and_bounded() {
        let deny = |message: &str| Decision::Deny {
            reason: kubejit_core::DenyReason::IncidentInvalid,
            message: message.to_owned(),
        };
        let facts = |incident: &str| CsrFacts {
            username: "mallory".to_owned(),
            groups: Vec::new(),
            uid: None,
            usages: Vec::new(),
            expiration_seconds: None,
            signer_name: String::new(),
            incident: Some(incident.to_owned()),
            key_attestation: None,
            request: Vec::new(),
        };
        let spoof = "INC-1\u{202e}4321-CNI";
        assert_eq!(
            recorded_incident(&facts(spoof), &deny("x")).as_deref(),
            Some("INC-1\\u{202e}4321-CNI")
        );
        let flood = format!("\u{1b}[2J{}", "A".repeat(100_000));
        let kept = recorded_incident(&facts(&flood), &deny("x")).unwrap();
        assert!(kept.chars().count() <= RAW_INCIDENT_MAX, "{}", kept.len());
        assert!(kept.starts_with("\\u{1b}[2J") && kept.ends_with("more characters]"));
        let message = shown_message(&deny("certificate CN \"a\u{202e}b\" differs"));
        assert_eq!(message, "certificate CN \"a\\u{202e}b\" differs");
    }

    #[test]
    fn event_notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long, 1000);
        assert!(cut.len() <= 1000 && cut.ends_with("..."));
    }

    /// A decision as the approver makes it, for `cn` asking for `group` under one policy `mode`.
    fn decided(group: &str, manual: bool) -> Decision {
        use kubejit_core::testutil::{csr_pem, policy, subject};
        let approval = match manual {
            true => serde_json::json!({"mode": "Manual", "approvers": {"users": ["oscar"]}}),
            false => serde_json::json!({"mode": "Auto"}),
        };
        let policy = policy(
            "p",
            serde_json::json!({"requesters": {"users": ["alice"]},
                "certificateGroups": ["debug"], "maxTTL": "1h",
                "incident": {"required": false}, "approval": approval}),
        );
        let facts = CsrFacts {
            username: "alice".to_owned(),
            groups: Vec::new(),
            uid: Some("uid-1".to_owned()),
            usages: vec!["client auth".to_owned()],
            expiration_seconds: Some(1800),
            signer_name: kubejit_core::KUBE_APISERVER_CLIENT_SIGNER.to_owned(),
            incident: None,
            key_attestation: None,
            request: csr_pem(subject("alice", &[group]), &[]),
        };
        let keys = kubejit_core::KeyTrust::none();
        kubejit_core::decide(&facts, &[policy], "controller", &keys, 0)
    }

    /// One fact per CSR: the same decision about the same CSR has one key (a restarted controller
    /// finds its record), another CSR another; a pending decision per message; no uid, no key.
    #[test]
    fn a_decision_is_keyed_by_the_csr_uid() {
        let approve = decided("debug", false);
        let deny = decided("root", false);
        let pending = decided("debug", true);
        assert!(matches!(approve, Decision::Approve { .. }), "{approve:?}");
        assert!(matches!(deny, Decision::Deny { .. }), "{deny:?}");
        let Decision::Pending { ref message, .. } = pending else {
            panic!("{pending:?}")
        };
        let cases: [(Option<&str>, &Decision, Option<String>); 7] = [
            (Some("uid-1"), &approve, Some("uid-1".to_owned())),
            (Some("uid-2"), &approve, Some("uid-2".to_owned())),
            (Some("uid-1"), &deny, Some("uid-1".to_owned())),
            (Some("uid-1"), &pending, Some(format!("uid-1\n{message}"))),
            (None, &approve, None),
            (Some(""), &deny, None),
            (None, &pending, None),
        ];
        for (uid, decision, want) in cases {
            assert_eq!(once_key(uid, decision), want, "{uid:?} {decision:?}");
        }
    }
}
