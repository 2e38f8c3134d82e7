//! Reads a CertificateSigningRequest into the pure `CsrFacts` the core decision takes.

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition,
};
use kubejit_core::{CsrFacts, annotations};

/// Copies what the decision needs; nothing is interpreted here.
pub fn facts(csr: &CertificateSigningRequest) -> CsrFacts {
    let spec = &csr.spec;
    CsrFacts {
        username: spec.username.clone().unwrap_or_default(),
        groups: spec.groups.clone().unwrap_or_default(),
        uid: spec.uid.clone(),
        usages: spec.usages.clone().unwrap_or_default(),
        expiration_seconds: spec.expiration_seconds,
        signer_name: spec.signer_name.clone(),
        incident: csr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::INCIDENT))
            .cloned(),
        key_attestation: csr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::KEY_ATTESTATION))
            .cloned(),
        request: spec.request.0.clone(),
    }
}

/// Approved or Denied already (by us, a person, or anyone): never touched again.
pub fn is_decided(csr: &CertificateSigningRequest) -> bool {
    has_condition(csr, |c| c.type_ == "Approved" || c.type_ == "Denied")
}

/// Whether any of the CSR's status conditions satisfies `pred`.
pub fn has_condition(
    csr: &CertificateSigningRequest,
    pred: impl Fn(&CertificateSigningRequestCondition) -> bool,
) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| conds.iter().any(pred))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };

    use super::*;

    fn with_condition(type_: &str) -> CertificateSigningRequest {
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus {
                conditions: Some(vec![CertificateSigningRequestCondition {
                    type_: type_.to_owned(),
                    status: "True".to_owned(),
                    ..Default::default()
                }]),
                certificate: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn decided_means_approved_or_denied() {
        assert!(is_decided(&with_condition("Approved")));
        assert!(is_decided(&with_condition("Denied")));
        assert!(!is_decided(&with_condition("Failed")));
        assert!(!is_decided(&CertificateSigningRequest::default()));
    }

    #[test]
    fn facts_copy_the_incident_annotation() {
        let mut csr = CertificateSigningRequest::default();
        csr.spec.username = Some("alice".to_owned());
        csr.metadata.annotations = Some(
            [(annotations::INCIDENT.to_owned(), "INC-1".to_owned())]
                .into_iter()
                .collect(),
        );
        let f = facts(&csr);
        assert_eq!(f.username, "alice");
        assert_eq!(f.incident.as_deref(), Some("INC-1"));
        assert_eq!(f.expiration_seconds, None);
    }
}
