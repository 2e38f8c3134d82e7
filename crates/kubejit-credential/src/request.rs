//! The network half of a cache miss: who am I, file the CSR, watch it until it is decided.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kubejit_core::{KUBE_APISERVER_CLIENT_SIGNER, Ttl};
use kubejit_kube::keys;

use crate::CredentialError;
use crate::narrator::Narrator;

/// The certificate lifetime to ask for: `wanted`, shortened to fit the requester's approved
/// certificate-group AccessRequest when one covers the groups and ends sooner (see
/// [`kubejit_core::request::fit_certificate_ttl`]). Advice for a better first try, never a check:
/// when the requests cannot be read (no RBAC, no CRD, a network error) `wanted` is kept and the
/// approver decides as always.
pub(crate) async fn fit_to_request(
    client: &kube::Client,
    username: &str,
    groups: &[&str],
    incident: Option<&str>,
    wanted: Ttl,
) -> (Ttl, Option<String>) {
    use kubejit_core::request::{
        CERTIFICATE_REQUEST_NAMESPACE, RequestStatusView, fit_certificate_ttl,
    };
    use kubejit_kube::request::AccessRequest;
    let api: Api<AccessRequest> = Api::namespaced(client.clone(), CERTIFICATE_REQUEST_NAMESPACE);
    let Ok(listed) = api.list(&kube::api::ListParams::default()).await else {
        return (wanted, None);
    };
    let Ok(groups) = groups
        .iter()
        .map(|g| kubejit_core::GroupName::parse(g))
        .collect::<Result<std::collections::BTreeSet<_>, _>>()
    else {
        return (wanted, None);
    };
    let facts: Vec<_> = listed
        .items
        .iter()
        .filter_map(|r| Some((r.facts().ok()?, r.status.clone().unwrap_or_default())))
        .collect();
    let views: Vec<RequestStatusView<'_>> = facts
        .iter()
        .map(|(facts, status)| RequestStatusView {
            facts,
            phase: status.phase,
            expires_at: status.expires_at,
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let fitted = fit_certificate_ttl(wanted, username, &groups, incident, &views, now);
    let said = (fitted != wanted).then(|| {
        format!(
            "asking for {fitted} instead of {wanted}: that is what is left of your approved AccessRequest"
        )
    });
    (fitted, said)
}

/// Prefix of every CSR kubejit files (`generateName`).
pub const CSR_NAME_PREFIX: &str = "kubejit-";

/// The username the apiserver sees for the asking identity (the CN the certificate must carry).
pub(crate) async fn who_am_i(client: &kube::Client) -> Result<String, CredentialError> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(CredentialError::WhoAmI)?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|u| !u.is_empty())
        .ok_or(CredentialError::NoUsername)
}

/// What the CSR should say besides the PKCS#10 body.
#[derive(Debug)]
pub(crate) struct CsrMeta<'a> {
    pub ttl: Ttl,
    pub incident: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The `kubejit.dev/key-attestation` annotation (token keys only).
    pub key_attestation: Option<&'a str>,
}

pub(crate) fn csr_object(request_pem: &str, meta: &CsrMeta<'_>) -> CertificateSigningRequest {
    let mut annotations = BTreeMap::new();
    if let Some(incident) = meta.incident {
        annotations.insert(keys::INCIDENT.to_owned(), incident.to_owned());
    }
    if let Some(reason) = meta.reason {
        annotations.insert(keys::REASON.to_owned(), reason.to_owned());
    }
    if let Some(chain) = meta.key_attestation {
        annotations.insert(
            kubejit_core::annotations::KEY_ATTESTATION.to_owned(),
            chain.to_owned(),
        );
    }
    let labels = BTreeMap::from([(keys::MANAGED_BY.to_owned(), keys::MANAGER.to_owned())]);
    CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some(CSR_NAME_PREFIX.to_owned()),
            annotations: Some(annotations),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request_pem.as_bytes().to_vec()),
            signer_name: KUBE_APISERVER_CLIENT_SIGNER.to_owned(),
            usages: Some(vec!["client auth".to_owned()]),
            expiration_seconds: Some(meta.ttl.as_expiration_seconds()),
            ..CertificateSigningRequestSpec::default()
        },
        status: None,
    }
}

/// Creates the CSR and returns the name the apiserver generated.
pub(crate) async fn create_csr(
    client: &kube::Client,
    csr: &CertificateSigningRequest,
) -> Result<String, CredentialError> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let created = api
        .create(&PostParams::default(), csr)
        .await
        .map_err(CredentialError::CreateCsr)?;
    Ok(created.metadata.name.unwrap_or_default())
}

/// Where a CSR stands, read from its conditions and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pending,
    /// Approved, the signer has not written the certificate yet.
    Approved,
    Issued(Vec<u8>),
    Denied {
        reason: String,
        message: String,
    },
    Failed {
        reason: String,
        message: String,
    },
}

pub(crate) fn outcome(csr: &CertificateSigningRequest) -> Outcome {
    let status = csr.status.as_ref();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let active = |ty: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == ty && c.status == "True")
    };
    let explain = |c: &k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition| {
        (
            c.reason.clone().unwrap_or_else(|| "Unknown".to_owned()),
            c.message
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no reason given".to_owned()),
        )
    };
    if let Some(c) = active("Denied") {
        let (reason, message) = explain(c);
        return Outcome::Denied { reason, message };
    }
    if let Some(c) = active("Failed") {
        let (reason, message) = explain(c);
        return Outcome::Failed { reason, message };
    }
    match (
        active("Approved"),
        status.and_then(|s| s.certificate.as_ref()),
    ) {
        (Some(_), Some(cert)) if !cert.0.is_empty() => Outcome::Issued(cert.0.clone()),
        (Some(_), _) => Outcome::Approved,
        (None, _) => Outcome::Pending,
    }
}

/// Watches CSR `name` until it is issued, denied or failed, for at most `timeout`.
pub(crate) async fn wait_for_certificate(
    client: &kube::Client,
    name: &str,
    timeout: Duration,
    narrator: &Narrator,
) -> Result<Vec<u8>, CredentialError> {
    tokio::time::timeout(timeout, watch_decision(client, name, narrator))
        .await
        .unwrap_or_else(|_| {
            Err(CredentialError::Timeout {
                name: name.to_owned(),
                waited_secs: timeout.as_secs(),
            })
        })
}

async fn watch_decision(
    client: &kube::Client,
    name: &str,
    narrator: &Narrator,
) -> Result<Vec<u8>, CredentialError> {
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(api, config));
    let mut said_approved = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|source| CredentialError::WatchCsr {
            name: name.to_owned(),
            source,
        })?;
        let csr = match event {
            watcher::Event::Apply(csr) | watcher::Event::InitApply(csr) => csr,
            watcher::Event::Delete(_) => {
                return Err(CredentialError::CsrDeleted {
                    name: name.to_owned(),
                });
            }
            watcher::Event::Init | watcher::Event::InitDone => continue,
        };
        match outcome(&csr) {
            Outcome::Issued(cert) => return Ok(cert),
            Outcome::Denied { reason, message } => {
                return Err(CredentialError::Denied {
                    name: name.to_owned(),
                    reason,
                    message,
                });
            }
            Outcome::Failed { reason, message } => {
                return Err(CredentialError::SigningFailed {
                    name: name.to_owned(),
                    reason,
                    message,
                });
            }
            Outcome::Approved if !said_approved => {
                said_approved = true;
                narrator.say(&format!("{name} approved; waiting for the signer"));
            }
            Outcome::Approved | Outcome::Pending => {}
        }
    }
    Err(CredentialError::CsrDeleted {
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };

    use super::*;

    fn with(conditions: &[(&str, &str, &str)], cert: Option<&[u8]>) -> CertificateSigningRequest {
        let conditions = conditions
            .iter()
            .map(|(ty, status, msg)| CertificateSigningRequestCondition {
                type_: (*ty).into(),
                status: (*status).into(),
                reason: Some("Policy".into()),
                message: Some((*msg).into()),
                ..Default::default()
            })
            .collect();
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus {
                conditions: Some(conditions),
                certificate: cert.map(|c| ByteString(c.to_vec())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            outcome(&CertificateSigningRequest::default()),
            Outcome::Pending
        );
        assert_eq!(
            outcome(&with(&[("Approved", "True", "")], None)),
            Outcome::Approved
        );
        assert_eq!(
            outcome(&with(&[("Approved", "True", "")], Some(b""))),
            Outcome::Approved
        );
        assert_eq!(
            outcome(&with(&[("Approved", "True", "")], Some(b"C"))),
            Outcome::Issued(b"C".to_vec())
        );
        assert_eq!(
            outcome(&with(&[("Approved", "False", "")], Some(b"C"))),
            Outcome::Pending
        );
        let denied = with(
            &[(
                "Denied",
                "True",
                "incident 'foo' does not match ^INC-[0-9]+$",
            )],
            None,
        );
        assert_eq!(
            outcome(&denied),
            Outcome::Denied {
                reason: "Policy".into(),
                message: "incident 'foo' does not match ^INC-[0-9]+$".into()
            }
        );
        let failed = with(
            &[("Approved", "True", ""), ("Failed", "True", "bad key")],
            None,
        );
        assert!(matches!(outcome(&failed), Outcome::Failed { .. }));
    }

    #[test]
    fn csr_carries_signer_usage_ttl_and_annotations() {
        let meta = CsrMeta {
            ttl: Ttl::parse("15m").unwrap(),
            incident: Some("INC-1"),
            reason: Some("db down"),
            key_attestation: Some("chain"),
        };
        let csr = csr_object("PEM", &meta);
        assert_eq!(csr.metadata.generate_name.as_deref(), Some("kubejit-"));
        assert_eq!(csr.spec.signer_name, "kubernetes.io/kube-apiserver-client");
        assert_eq!(csr.spec.usages.unwrap(), ["client auth"]);
        assert_eq!(csr.spec.expiration_seconds, Some(900));
        let annotations = csr.metadata.annotations.unwrap();
        assert_eq!(annotations[keys::INCIDENT], "INC-1");
        assert_eq!(annotations[keys::REASON], "db down");
        assert_eq!(
            annotations[kubejit_core::annotations::KEY_ATTESTATION],
            "chain"
        );
    }
}
