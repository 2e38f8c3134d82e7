//! Defence in depth: does the certificate the signer issued certify exactly what kubejit approved?
//!
//! kubejit cannot revoke a certificate, but if the signer ever read a request differently from kubejit
//! (the class of bug strict parsing closes), the issued certificate would show it: another subject,
//! another key or other usages. This check compares them so the controller can raise the alarm.

use std::collections::BTreeSet;
use std::fmt;

use x509_parser::certificate::X509Certificate;
use x509_parser::pem::parse_x509_pem;

use super::request::{RequestedCertificate, parse_request};

/// How an issued certificate differs from what was approved; each entry is one human sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMismatch {
    pub problems: Vec<String>,
}

impl fmt::Display for CertificateMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

/// Checks `certificate` (`status.certificate`, PEM) against what kubejit reads from `request`
/// (`spec.request`, immutable, so the same reading as at approval). The first PEM block is the one a
/// client presents, so it is the one checked.
pub fn check_issued(request: &[u8], certificate: &[u8]) -> Result<(), CertificateMismatch> {
    let fail = |problem: String| CertificateMismatch {
        problems: vec![problem],
    };
    let approved = parse_request(request).map_err(|e| {
        fail(format!(
            "the approved request no longer passes kubejit's checks ({e}), so what was signed is unknown"
        ))
    })?;
    let (_, pem) = parse_x509_pem(certificate)
        .map_err(|e| fail(format!("the issued certificate is not PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(fail(format!(
            "the issued data is a {:?} block, not a CERTIFICATE",
            pem.label
        )));
    }
    let cert = pem
        .parse_x509()
        .map_err(|e| fail(format!("the issued certificate is not X.509: {e}")))?;
    let problems = differences(&approved, &cert);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CertificateMismatch { problems })
    }
}

fn differences(approved: &RequestedCertificate, cert: &X509Certificate<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let subject = cert.subject();
    let names: Vec<String> = subject
        .iter_common_name()
        .map(|a| {
            a.as_str()
                .map_or_else(|_| "<not a string>".to_owned(), str::to_owned)
        })
        .collect();
    if names != [approved.subject.common_name.as_str()] {
        problems.push(format!(
            "certificate CN is {names:?}, approved {:?}",
            approved.subject.common_name
        ));
    }
    let orgs: Vec<String> = subject
        .iter_organization()
        .map(|a| {
            a.as_str()
                .map_or_else(|_| "<not a string>".to_owned(), str::to_owned)
        })
        .collect();
    let want: BTreeSet<&str> = approved
        .subject
        .organizations
        .iter()
        .map(String::as_str)
        .collect();
    let got: BTreeSet<&str> = orgs.iter().map(String::as_str).collect();
    if got != want || orgs.len() != want.len() {
        problems.push(format!(
            "certificate groups (O) are {orgs:?}, approved {:?}",
            approved.subject.organizations
        ));
    }
    let attributes = subject.iter_attributes().count();
    if attributes != names.len().saturating_add(orgs.len()) {
        problems.push("certificate subject has attributes other than CN and O".to_owned());
    }
    if cert.public_key().raw != approved.public_key_info.as_slice() {
        problems.push("certificate public key differs from the approved request's key".to_owned());
    }
    problems.extend(usage_problems(cert));
    problems
}

/// Client authentication only: exactly the client-auth EKU, not a CA, no alternative names.
fn usage_problems(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let others = e.any
                || e.server_auth
                || e.code_signing
                || e.email_protection
                || e.time_stamping
                || e.ocsp_signing
                || !e.other.is_empty();
            if !e.client_auth || others {
                problems.push(format!(
                    "certificate extended key usage is not exactly client auth: {e:?}"
                ));
            }
        }
        Ok(None) => problems
            .push("certificate has no extended key usage, so it is valid for any purpose".into()),
        Err(e) => problems.push(format!("certificate extended key usage is unreadable: {e}")),
    }
    match cert.basic_constraints() {
        Ok(None) => {}
        Ok(Some(bc)) if !bc.value.ca => {}
        Ok(Some(_)) => problems.push("certificate is a CA certificate".to_owned()),
        Err(e) => problems.push(format!("certificate basic constraints are unreadable: {e}")),
    }
    match cert.subject_alternative_name() {
        Ok(None) => {}
        Ok(Some(_)) => problems.push("certificate carries subject alternative names".to_owned()),
        Err(e) => problems.push(format!(
            "certificate subject alternative names are unreadable: {e}"
        )),
    }
    problems
}

#[cfg(test)]
mod tests {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        PKCS_ED25519, SanType,
    };

    use super::*;
    use crate::testutil::{CsrParts, csr_der, pem, subject};

    /// A request for CN=alice O=oncall and its key.
    fn request() -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let der = CsrParts::new(&key, subject("alice", &["oncall"])).sign(&key);
        (pem("CERTIFICATE REQUEST", &der).into_bytes(), key)
    }

    /// What the Kubernetes signer issues: the subject, client auth, not a CA. `edit` changes it.
    fn issue(key: &KeyPair, edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "alice");
        dn.push(DnType::OrganizationName, "oncall");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.is_ca = IsCa::ExplicitNoCa;
        edit(&mut params);
        params.self_signed(key).unwrap().pem().into_bytes()
    }

    #[test]
    fn the_certificate_of_the_approved_request_matches() {
        let (request, key) = request();
        assert_eq!(check_issued(&request, &issue(&key, |_| {})), Ok(()));
    }

    #[test]
    fn every_difference_is_a_mismatch() {
        let (request, key) = request();
        let other_key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let dn = |cn: &str, orgs: &[&str]| {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, cn);
            for o in orgs {
                dn.push(DnType::OrganizationName, *o);
            }
            dn
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "another CN",
                issue(&key, |p| p.distinguished_name = dn("mallory", &["oncall"])),
                "CN",
            ),
            (
                "another group",
                issue(&key, |p| p.distinguished_name = dn("alice", &["admins"])),
                "groups",
            ),
            (
                "no group",
                issue(&key, |p| p.distinguished_name = dn("alice", &[])),
                "groups",
            ),
            (
                "an extra OU",
                issue(&key, |p| {
                    p.distinguished_name
                        .push(DnType::OrganizationalUnitName, "x")
                }),
                "other than CN and O",
            ),
            ("another key", issue(&other_key, |_| {}), "public key"),
            (
                "server auth too",
                issue(&key, |p| {
                    p.extended_key_usages
                        .push(ExtendedKeyUsagePurpose::ServerAuth)
                }),
                "extended key usage",
            ),
            (
                "no extended key usage",
                issue(&key, |p| p.extended_key_usages.clear()),
                "any purpose",
            ),
            (
                "a CA",
                issue(&key, |p| {
                    p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained)
                }),
                "CA",
            ),
            (
                "a SAN",
                issue(&key, |p| {
                    p.subject_alt_names = vec![SanType::DnsName("x.example".try_into().unwrap())]
                }),
                "alternative names",
            ),
            ("not PEM", b"garbage".to_vec(), "not PEM"),
        ];
        for (what, cert, fragment) in cases {
            let err = check_issued(&request, &cert).unwrap_err();
            assert!(err.to_string().contains(fragment), "{what}: {err}");
        }
    }

    #[test]
    fn a_request_kubejit_no_longer_accepts_is_a_mismatch() {
        // e.g. raw DER approved by an older kubejit: what the signer read is unknown.
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let raw = csr_der(subject("alice", &["oncall"]), &[]);
        let err = check_issued(&raw, &issue(&key, |_| {})).unwrap_err();
        assert!(err.to_string().contains("no longer passes"), "{err}");
    }
}
