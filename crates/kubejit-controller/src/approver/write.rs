//! The three effects of a decision, in order: the audit record (blocking), the approval condition
//! (conditional on the evaluated resourceVersion and uid), then the Event.

use std::sync::Arc;

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use kubejit_audit::{Actor, AuditEvent, ObjectRef, Timestamp};
use kubejit_core::{CsrFacts, Decision, GroupName};

use super::error::Error;
use super::outcome::{Outcome, machine_reason};
use super::state::Approver;

/// Writes the audit record; returns only once it is durable. An error blocks the decision.
pub async fn record_audit(
    app: &Approver,
    csr: &CertificateSigningRequest,
    facts: &CsrFacts,
    decision: &Decision,
) -> Result<(), Error> {
    write_audit(app, csr.name_any(), audit_event(app, csr, facts, decision)).await
}

/// Records `event` about CSR `name`; returns once it is durable.
pub async fn write_audit(app: &Approver, name: String, event: AuditEvent) -> Result<(), Error> {
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
    let outcome = Outcome::of(decision);
    let now = app.ctx.clock.now();
    let mut event = AuditEvent::new(
        outcome.audit_kind(),
        Actor::controller(&app.ctx.controller_name),
        now,
    );
    event.subject = Some(facts.username.clone());
    event.incident = facts.incident.clone();
    event.decision = Some(outcome.audit_decision());
    event.decision_reason = Some(machine_reason(decision).to_owned());
    event.reason = Some(decision.message().to_owned());
    event.ttl_seconds = facts.expiration_seconds.and_then(|s| u64::try_from(s).ok());
    event.object = Some(ObjectRef {
        kind: "CertificateSigningRequest".to_owned(),
        namespace: None,
        name: csr.name_any(),
        uid: csr.uid(),
    });
    match decision {
        Decision::Approve { allowed, .. } | Decision::Pending { allowed, .. } => {
            event.policy = Some(allowed.policy.as_str().to_owned());
            event.groups = allowed
                .groups
                .iter()
                .map(GroupName::as_str)
                .map(str::to_owned)
                .collect();
            event.ttl_seconds = Some(allowed.ttl.as_secs());
            event.expires_at = expires_at(now, allowed.ttl.as_secs(), outcome);
        }
        // A denied request's groups are the requester's, as the apiserver authenticated them.
        Decision::Deny { .. } => event.groups = facts.groups.clone(),
    }
    event
}

/// Upper bound of the certificate's notAfter: the signer starts counting when it signs, after this.
fn expires_at(now: Timestamp, ttl_secs: u64, outcome: Outcome) -> Option<Timestamp> {
    match outcome {
        Outcome::Approved => {
            let secs = i64::try_from(ttl_secs).ok()?;
            Some(Timestamp::new(now.get() + time::Duration::seconds(secs)))
        }
        Outcome::Denied | Outcome::Pending => None,
    }
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
    let body = approval_body(csr, type_, reason, decision.message())?;
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

/// Publishes the decision as an Event on the CSR. A failure is counted and logged but does not undo
/// or retry the decision, which is already written (and audited).
pub async fn publish_event(app: &Approver, csr: &CertificateSigningRequest, decision: &Decision) {
    let outcome = Outcome::of(decision);
    let type_ = match outcome {
        Outcome::Approved | Outcome::Pending => EventType::Normal,
        Outcome::Denied => EventType::Warning,
    };
    let event = Event {
        type_,
        reason: outcome.event_reason().to_owned(),
        note: Some(truncate(decision.message(), 1000)),
        action: "Decide".to_owned(),
        secondary: None,
    };
    if let Err(error) = app.recorder.publish(&event, &csr.object_ref(&())).await {
        app.ctx.approver.error("event_publish");
        tracing::warn!(%error, csr = %csr.name_any(), "failed to publish the decision Event");
    }
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
        end -= 1;
    }
    format!("{}...", &text[..end])
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
    fn event_notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long, 1000);
        assert!(cut.len() <= 1000 && cut.ends_with("..."));
    }
}
