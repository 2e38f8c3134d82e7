//! Checks an issued certificate before trusting it: our key, exactly our subject, client auth, valid now.

use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519, OID_X509_COMMON_NAME,
    OID_X509_ORGANIZATION_NAME,
};
use x509_parser::prelude::X509Certificate;

/// What the certificate must say, from the request we made.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub public_key_raw: &'a [u8],
    pub common_name: &'a str,
    /// The requested groups; the certificate's O values must be exactly this set.
    pub groups: &'a [&'a str],
}

/// The validity window of a certificate that passed every check (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// Why a certificate is not trusted. Any of these means the signer or the CSR was tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("it is not a PEM certificate ({0})")]
    Parse(String),
    #[error("its public key is not our key")]
    WrongKey,
    #[error("its subject CN is {got:?}, we asked for {want:?}")]
    WrongCommonName { got: String, want: String },
    #[error("its groups (O) are {got:?}, we asked for {want:?}")]
    WrongGroups { got: Vec<String>, want: Vec<String> },
    #[error("its subject has an attribute other than CN and O ({oid})")]
    UnexpectedAttribute { oid: String },
    #[error("it is not valid for client authentication")]
    NotClientAuth,
    #[error("it is not valid before {not_before} (Unix time), now is {now}")]
    NotYetValid { not_before: i64, now: i64 },
    #[error("it expired at {not_after} (Unix time), now is {now}")]
    Expired { not_after: i64, now: i64 },
}

/// Verifies `cert_pem` against what we asked for at Unix time `now`.
pub fn verify_certificate(
    cert_pem: &[u8],
    expected: &Expected<'_>,
    now: i64,
) -> Result<Validity, VerifyError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem)
        .map_err(|e| VerifyError::Parse(e.to_string()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| VerifyError::Parse(e.to_string()))?;
    check_key(&cert, expected.public_key_raw)?;
    check_subject(&cert, expected)?;
    check_client_auth(&cert)?;
    check_validity(&cert, now)
}

fn check_key(cert: &X509Certificate<'_>, ours: &[u8]) -> Result<(), VerifyError> {
    // Ours is an Ed25519 key (32 bytes) or a token's ECDSA P-256 point (65 bytes); the algorithm
    // must be the one those bytes belong to, so equal bytes under another algorithm do not pass.
    let spki = cert.public_key();
    let algorithm = &spki.algorithm;
    let p256 = algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|curve| curve == OID_EC_P256);
    let kind_matches = match ours.len() {
        32 => algorithm.algorithm == OID_SIG_ED25519,
        65 => p256,
        _ => false,
    };
    if !kind_matches || spki.subject_public_key.data.as_ref() != ours {
        return Err(VerifyError::WrongKey);
    }
    Ok(())
}

fn check_subject(cert: &X509Certificate<'_>, expected: &Expected<'_>) -> Result<(), VerifyError> {
    let mut common_names = Vec::new();
    let mut groups = Vec::new();
    for attr in cert.subject().iter_attributes() {
        let value = attr
            .as_str()
            .map_err(|e| VerifyError::Parse(e.to_string()))?
            .to_owned();
        if *attr.attr_type() == OID_X509_COMMON_NAME {
            common_names.push(value);
        } else if *attr.attr_type() == OID_X509_ORGANIZATION_NAME {
            groups.push(value);
        } else {
            return Err(VerifyError::UnexpectedAttribute {
                oid: attr.attr_type().to_id_string(),
            });
        }
    }
    if common_names != [expected.common_name] {
        return Err(VerifyError::WrongCommonName {
            got: common_names.join(","),
            want: expected.common_name.to_owned(),
        });
    }
    let mut want: Vec<String> = expected.groups.iter().map(|g| (*g).to_owned()).collect();
    want.sort();
    groups.sort();
    if groups != want {
        return Err(VerifyError::WrongGroups { got: groups, want });
    }
    Ok(())
}

fn check_client_auth(cert: &X509Certificate<'_>) -> Result<(), VerifyError> {
    match cert.extended_key_usage() {
        Ok(Some(eku)) if eku.value.client_auth => Ok(()),
        Ok(_) | Err(_) => Err(VerifyError::NotClientAuth),
    }
}

fn check_validity(cert: &X509Certificate<'_>, now: i64) -> Result<Validity, VerifyError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now < not_before {
        return Err(VerifyError::NotYetValid { not_before, now });
    }
    if now >= not_after {
        return Err(VerifyError::Expired { not_after, now });
    }
    Ok(Validity {
        not_before,
        not_after,
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
