//! Defence in depth after approval: the certificate the signer issued for a CSR kubejit approved must
//! certify exactly what kubejit approved (subject, public key, client-auth usage). If not, kubejit
//! cannot revoke it, but it raises the alarm: a `certificateMismatch` audit record, a Warning Event
//! `CertificateMismatch` and the `kubejit_approver_certificate_mismatches_total` counter.

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use kubejit_audit::{AuditEvent, CsrRef, MismatchAlarm, Stamped};
use kubejit_core::annotations;
use kubejit_core::csr::{CertificateMismatch, check_issued, parse_request};

use super::error::Error;
use super::outcome::APPROVED_REASON;
use super::shared::Approver;
use super::write::write_audit;

/// Event reason and audit `decisionReason` of the alarm.
pub const MISMATCH_REASON: &str = MismatchAlarm::REASON;

/// Checks a decided CSR's certificate once it is issued. Only CSRs kubejit approved are checked (a
/// person's approval of a Manual request is the person's call). Each CSR is checked once per
/// leadership term; an alarm is recorded (audit first, blocking and retried) before it is remembered,
/// so it is raised exactly once per term and never lost.
pub async fn check_certificate(
    app: &Approver,
    csr: &CertificateSigningRequest,
) -> Result<(), Error> {
    let Some(certificate) = csr.status.as_ref().and_then(|s| s.certificate.as_ref()) else {
        return Ok(());
    };
    let uid = csr.uid().unwrap_or_default();
    if !approved_by_kubejit(csr) || app.certificate_checked(&uid) {
        return Ok(());
    }
    if let Err(mismatch) = check_issued(&csr.spec.request.0, &certificate.0) {
        raise_alarm(app, csr, &mismatch).await?;
    }
    app.certificate_checked_now(&uid);
    Ok(())
}

/// An `Approved` condition with kubejit's own reason.
fn approved_by_kubejit(csr: &CertificateSigningRequest) -> bool {
    super::facts::has_condition(csr, |c| {
        c.type_ == "Approved" && c.reason.as_deref() == Some(APPROVED_REASON)
    })
}

async fn raise_alarm(
    app: &Approver,
    csr: &CertificateSigningRequest,
    mismatch: &CertificateMismatch,
) -> Result<(), Error> {
    let name = csr.name_any();
    let message = format!(
        "certificate issued for CSR {name} does not match what kubejit approved: {mismatch}"
    );
    write_audit(app, name.clone(), alarm_record(app, csr, &message)).await?;
    app.ctx.approver.certificate_mismatch();
    tracing::error!(csr = %name, %mismatch, "issued certificate does not match the approval");
    let event = Event {
        type_: EventType::Warning,
        reason: MISMATCH_REASON.to_owned(),
        note: Some(super::write::truncate(&message, 1000)),
        action: "VerifyCertificate".to_owned(),
        secondary: None,
    };
    if let Err(error) = app.recorder.publish(&event, &csr.object_ref(&())).await {
        app.ctx.approver.error("event_publish");
        tracing::warn!(%error, csr = %name, "failed to publish the CertificateMismatch Event");
    }
    Ok(())
}

fn alarm_record(app: &Approver, csr: &CertificateSigningRequest, message: &str) -> Stamped {
    let incident = csr.metadata.annotations.as_ref();
    AuditEvent::CertificateMismatch(MismatchAlarm {
        controller: app.ctx.controller_name.clone(),
        csr: CsrRef {
            name: csr.name_any(),
            uid: csr.uid(),
        },
        username: csr.spec.username.clone(),
        // The groups kubejit approved (when the request still reads; the message says when it does not).
        groups: parse_request(&csr.spec.request.0)
            .map(|r| r.subject.organizations)
            .unwrap_or_default(),
        incident: incident.and_then(|a| a.get(annotations::INCIDENT)).cloned(),
        message: message.to_owned(),
    })
    .at(app.ctx.clock.now())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };

    use super::*;

    fn with(type_: &str, reason: &str) -> CertificateSigningRequest {
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus {
                conditions: Some(vec![CertificateSigningRequestCondition {
                    type_: type_.to_owned(),
                    status: "True".to_owned(),
                    reason: Some(reason.to_owned()),
                    ..Default::default()
                }]),
                certificate: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_kubejit_approvals_are_checked() {
        assert!(approved_by_kubejit(&with("Approved", APPROVED_REASON)));
        // A person's `kubectl certificate approve` (reason KubectlApprove) is the person's call.
        assert!(!approved_by_kubejit(&with("Approved", "KubectlApprove")));
        assert!(!approved_by_kubejit(&with("Denied", APPROVED_REASON)));
        assert!(!approved_by_kubejit(&CertificateSigningRequest::default()));
    }
}
