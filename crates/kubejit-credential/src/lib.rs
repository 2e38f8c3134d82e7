//! kubejit's exec credential plugin: short-lived client certificates whose key never leaves this machine.
//!
//! kubectl runs `kubejit credential`; on a cache hit the answer comes from disk without touching the
//! network, otherwise the everyday identity files a CertificateSigningRequest and waits for a decision.

pub mod args;
mod cache;
mod error;
mod exec;
pub mod kubeconfig;
mod narrator;
mod pkcs10;
mod plugin;
pub mod proxy;
mod request;
mod secure_fs;
pub mod token;
mod verify;
mod yaml_tree;

pub use cache::{Cache, CacheKey, CacheLock, CachedCredential};
pub use error::CredentialError;
pub use exec::{API_VERSION, EXEC_INFO_ENV, ExecCluster, ExecCredential, ExecInfo};
pub use narrator::Narrator;
pub use pkcs10::LocalKey;
pub use pkcs10::{pem as pem_block, request_pem};
pub use plugin::{
    CredentialRequest, IssuedCertificate, cached_credential, get_credential, get_token_certificate,
    read_attestation, request_certificate,
};
pub use secure_fs::{check_private_dir, ensure_private_dir, write_private_atomic};
pub use verify::{Expected, Validity, VerifyError, verify_certificate};

/// The refresh margin never drops below one minute (clock skew between us and the apiserver)...
pub const MIN_REFRESH_MARGIN_SECS: i64 = 60;
/// ...and never exceeds five (a long certificate need not be dropped early).
pub const MAX_REFRESH_MARGIN_SECS: i64 = 300;

/// When kubectl must ask again and the cache stops answering: NotAfter minus 10% of the certificate's
/// lifetime, clamped to [1 min, 5 min]. For a 15-minute TTL (20 minutes of validity including the
/// signer's 5-minute backdate) that is NotAfter − 2 min.
pub fn refresh_at(validity: Validity) -> i64 {
    // Saturating: the times come from a certificate, and no value may panic.
    let lifetime = validity.not_after.saturating_sub(validity.not_before);
    let margin = (lifetime / 10).clamp(MIN_REFRESH_MARGIN_SECS, MAX_REFRESH_MARGIN_SECS);
    validity.not_after.saturating_sub(margin)
}

/// Unix seconds now (0 if the clock is before 1970, which no certificate would accept anyway).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// RFC 3339 UTC with second precision, as ExecCredential's `expirationTimestamp` wants.
pub fn rfc3339(unix: i64) -> String {
    let when =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    when.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_ten_percent_clamped() {
        let cases = [
            // (lifetime seconds, margin seconds)
            (15 * 60, 90),
            (20 * 60, 120),
            (5 * 60, 60),
            (10 * 3600, 300),
        ];
        for (lifetime, margin) in cases {
            let v = Validity {
                not_before: 1000,
                not_after: 1000 + lifetime,
            };
            assert_eq!(
                refresh_at(v),
                1000 + lifetime - margin,
                "lifetime {lifetime}"
            );
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_900_000_000), "2030-03-17T17:46:40Z");
    }

    proptest::proptest! {
        /// Validity comes from a certificate: no pair of times makes the refresh computation panic.
        #[test]
        fn refresh_at_never_panics(not_before in proptest::prelude::any::<i64>(), not_after in proptest::prelude::any::<i64>()) {
            let at = refresh_at(Validity { not_before, not_after });
            proptest::prop_assert!(at <= not_after);
        }
    }
}
