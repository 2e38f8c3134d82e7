//! Well-known annotation keys that core decisions read; the kube glue re-exports them.

/// RFC 3339 deadline after which a grant's binding is deleted.
pub const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";

/// Incident reference on a CSR or a grant binding.
pub const INCIDENT: &str = "debugging.kubernetes.io/incident";

/// The PIV attestation chain of a CSR's key (attestation certificate, then the device f9
/// certificate, as PEM), read by the approver under `keys: hardware`.
pub const KEY_ATTESTATION: &str = "kubejit.dev/key-attestation";
