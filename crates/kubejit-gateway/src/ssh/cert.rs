//! Reads a presented OpenSSH certificate into the facts the core rules judge.

use kubejit_core::ssh_cert::{CertFacts, CertKind};
use russh::keys::Certificate;
use russh::keys::HashAlg;
use russh::keys::ssh_key::certificate::CertType;

/// The facts of `cert`. The signature is checked again here (russh checked it too) so the decision
/// never depends on which layer ran first.
pub fn facts(cert: &Certificate) -> CertFacts {
    CertFacts {
        kind: match cert.cert_type() {
            CertType::User => CertKind::User,
            CertType::Host => CertKind::Host,
        },
        key_id: cert.key_id().to_owned(),
        serial: cert.serial(),
        principals: cert.valid_principals().to_vec(),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        critical_options: cert.critical_options().0.clone(),
        extensions: cert.extensions().0.clone(),
        ca_fingerprint: cert
            .signature_key()
            .fingerprint(HashAlg::Sha256)
            .to_string(),
        signature_valid: cert.verify_signature().is_ok(),
    }
}
