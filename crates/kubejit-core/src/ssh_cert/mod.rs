//! OpenSSH user-certificate rules for the gateway: a pure decision over parsed certificate facts.
//!
//! The gateway parses the certificate (russh / `ssh-key`), turns it into [`CertFacts`] and asks
//! [`decide_cert`]; every rule of docs/gateway.md is a branch here with its own table test, so no rule
//! depends on SSH plumbing to be checked. Fail closed: anything kubejit does not understand refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::names::{GroupName, NameError};
use crate::subject::UserName;

/// The certificate extension whose value lists the person's Kubernetes groups, comma-separated.
/// It is signed by the CA like every other field, so the client cannot choose it.
pub const GROUPS_EXTENSION: &str = "groups@kubejit.dev";
/// Critical options kubejit understands; any other one refuses the certificate (PROTOCOL.certkeys:
/// a server that does not recognise a critical option must refuse the certificate).
pub const FORCE_COMMAND: &str = "force-command";
pub const SOURCE_ADDRESS: &str = "source-address";
pub const PERMIT_PTY: &str = "permit-pty";
pub const PERMIT_PORT_FORWARDING: &str = "permit-port-forwarding";

/// Whether the certificate vouches for a user or a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    User,
    Host,
}

/// What the gateway read from a presented certificate. `ca_fingerprint` is the SHA-256 fingerprint
/// (`SHA256:…`) of the key that signed it and `signature_valid` whether that signature verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub kind: CertKind,
    pub key_id: String,
    pub serial: u64,
    pub principals: Vec<String>,
    /// Unix seconds; OpenSSH's "forever" is `u64::MAX`.
    pub valid_after: u64,
    pub valid_before: u64,
    pub critical_options: BTreeMap<String, String>,
    pub extensions: BTreeMap<String, String>,
    pub ca_fingerprint: String,
    pub signature_valid: bool,
}

/// The gateway's certificate policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPolicy {
    /// SHA-256 fingerprints (`SHA256:…`) of the trusted user CAs.
    pub trusted_cas: BTreeSet<String>,
    /// The longest certificate lifetime (valid_before − valid_after) accepted, in seconds.
    pub max_lifetime_secs: u64,
    /// Extra groups per user name, from the gateway's own configuration.
    pub user_groups: BTreeMap<String, Vec<String>>,
}

/// Who is logging in, from where, and when (unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub user: &'a str,
    pub peer: IpAddr,
    pub now: u64,
}

/// An accepted certificate: what the session needs, and nothing the client chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub user: UserName,
    pub groups: Vec<GroupName>,
    pub force_command: Option<String>,
    pub permit_pty: bool,
    pub permit_port_forwarding: bool,
    /// Unix seconds at which the certificate, and so every session it opened, ends.
    pub valid_before: u64,
    pub key_id: String,
    pub serial: u64,
    pub ca_fingerprint: String,
}

/// Why a certificate was refused. Logged and audited precisely; the client only hears "denied".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    #[error("a host certificate was presented as a user certificate")]
    HostCertificate,
    #[error("certificate signed by an untrusted CA {fingerprint}")]
    UntrustedCa { fingerprint: String },
    #[error("certificate signature does not verify")]
    BadSignature,
    #[error("certificate is not valid yet (valid after {valid_after}, now {now})")]
    NotYetValid { valid_after: u64, now: u64 },
    #[error("certificate expired (valid before {valid_before}, now {now})")]
    Expired { valid_before: u64, now: u64 },
    #[error("certificate lifetime {lifetime}s exceeds the cap of {cap}s")]
    LifetimeTooLong { lifetime: u64, cap: u64 },
    #[error("certificate has no principals")]
    NoPrincipals,
    #[error("certificate has an empty principal")]
    EmptyPrincipal,
    #[error("login name is not one of the certificate's principals")]
    LoginNotAPrincipal,
    #[error("certificate carries unknown critical option {name}")]
    UnknownCriticalOption { name: String },
    #[error("certificate source-address {value} is not a list of addresses or CIDR blocks")]
    BadSourceAddress { value: String },
    #[error("peer address {peer} is outside the certificate's source-address")]
    SourceAddressMismatch { peer: IpAddr },
    #[error("login name is not a usable Kubernetes user")]
    User(#[source] NameError),
    #[error("group from the certificate or mapping is not usable")]
    Group(#[source] NameError),
}

impl CertRefusal {
    /// A stable label for metrics and audit (`auth_failures_total{reason=…}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::HostCertificate => "host_certificate",
            Self::UntrustedCa { .. } => "untrusted_ca",
            Self::BadSignature => "bad_signature",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::Expired { .. } => "expired",
            Self::LifetimeTooLong { .. } => "lifetime_too_long",
            Self::NoPrincipals => "no_principals",
            Self::EmptyPrincipal => "empty_principal",
            Self::LoginNotAPrincipal => "login_not_a_principal",
            Self::UnknownCriticalOption { .. } => "unknown_critical_option",
            Self::BadSourceAddress { .. } => "bad_source_address",
            Self::SourceAddressMismatch { .. } => "source_address_mismatch",
            Self::User(_) => "bad_user",
            Self::Group(_) => "bad_group",
        }
    }
}

/// Decides whether `cert` admits `login` under `policy`. The order puts the checks that need no
/// trust in the certificate's contents (type, CA, signature) before reading those contents.
pub fn decide_cert(
    cert: &CertFacts,
    policy: &CertPolicy,
    login: Login<'_>,
) -> Result<Admitted, CertRefusal> {
    match cert.kind {
        CertKind::User => {}
        CertKind::Host => return Err(CertRefusal::HostCertificate),
    }
    if !policy.trusted_cas.contains(&cert.ca_fingerprint) {
        return Err(CertRefusal::UntrustedCa {
            fingerprint: cert.ca_fingerprint.clone(),
        });
    }
    if !cert.signature_valid {
        return Err(CertRefusal::BadSignature);
    }
    check_validity(cert, policy, login.now)?;
    check_principals(cert, login.user)?;
    check_critical_options(cert, login.peer)?;
    let user = UserName::parse(login.user).map_err(CertRefusal::User)?;
    let groups = groups(cert, policy, login.user)?;
    Ok(Admitted {
        user,
        groups,
        force_command: cert.critical_options.get(FORCE_COMMAND).cloned(),
        permit_pty: cert.extensions.contains_key(PERMIT_PTY),
        permit_port_forwarding: cert.extensions.contains_key(PERMIT_PORT_FORWARDING),
        valid_before: cert.valid_before,
        key_id: cert.key_id.clone(),
        serial: cert.serial,
        ca_fingerprint: cert.ca_fingerprint.clone(),
    })
}

fn check_validity(cert: &CertFacts, policy: &CertPolicy, now: u64) -> Result<(), CertRefusal> {
    if now < cert.valid_after {
        return Err(CertRefusal::NotYetValid {
            valid_after: cert.valid_after,
            now,
        });
    }
    if now >= cert.valid_before {
        return Err(CertRefusal::Expired {
            valid_before: cert.valid_before,
            now,
        });
    }
    // valid_after <= now < valid_before, so this cannot underflow; saturating anyway.
    let lifetime = cert.valid_before.saturating_sub(cert.valid_after);
    if lifetime > policy.max_lifetime_secs {
        return Err(CertRefusal::LifetimeTooLong {
            lifetime,
            cap: policy.max_lifetime_secs,
        });
    }
    Ok(())
}

fn check_principals(cert: &CertFacts, login: &str) -> Result<(), CertRefusal> {
    if cert.principals.is_empty() {
        return Err(CertRefusal::NoPrincipals);
    }
    if cert.principals.iter().any(String::is_empty) {
        return Err(CertRefusal::EmptyPrincipal);
    }
    if !cert.principals.iter().any(|p| p == login) {
        return Err(CertRefusal::LoginNotAPrincipal);
    }
    Ok(())
}

fn check_critical_options(cert: &CertFacts, peer: IpAddr) -> Result<(), CertRefusal> {
    for (name, value) in &cert.critical_options {
        match name.as_str() {
            FORCE_COMMAND => {}
            SOURCE_ADDRESS => {
                if !source_address_allows(value, peer)? {
                    return Err(CertRefusal::SourceAddressMismatch { peer });
                }
            }
            _ => {
                return Err(CertRefusal::UnknownCriticalOption {
                    name: crate::text::escape_bounded(name, 80),
                });
            }
        }
    }
    Ok(())
}

/// Groups from the signed extension plus the configured mapping; sorted, without duplicates.
fn groups(
    cert: &CertFacts,
    policy: &CertPolicy,
    user: &str,
) -> Result<Vec<GroupName>, CertRefusal> {
    let from_cert = cert
        .extensions
        .get(GROUPS_EXTENSION)
        .map(|v| v.split(',').collect::<Vec<_>>())
        .unwrap_or_default();
    let from_config = policy.user_groups.get(user).into_iter().flatten();
    let mut out = BTreeSet::new();
    for name in from_cert.into_iter().chain(from_config.map(String::as_str)) {
        out.insert(GroupName::parse(name).map_err(CertRefusal::Group)?);
    }
    Ok(out.into_iter().collect())
}

/// OpenSSH's `source-address`: a comma-separated list of addresses or CIDR blocks (no wildcards
/// or negation, as `addr_match_cidr_list` reads it). Unparseable refuses rather than guesses.
pub fn source_address_allows(value: &str, peer: IpAddr) -> Result<bool, CertRefusal> {
    let bad = || CertRefusal::BadSourceAddress {
        value: crate::text::escape_bounded(value, 80),
    };
    let mut allowed = false;
    for entry in value.split(',') {
        let (addr, bits) = match entry.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (entry, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        allowed |= cidr_contains(net, bits, peer).ok_or_else(bad)?;
    }
    Ok(allowed)
}

/// Whether `peer` is inside `net/bits`; `None` when the prefix length is out of range. An IPv4
/// peer seen as an IPv4-mapped IPv6 address is compared as IPv4.
fn cidr_contains(net: IpAddr, bits: Option<u8>, peer: IpAddr) -> Option<bool> {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        IpAddr::V4(_) => peer,
    };
    match (net, peer) {
        (IpAddr::V4(n), IpAddr::V4(p)) => {
            let bits = u32::from(bits.unwrap_or(32));
            let shift = 32u32.checked_sub(bits)?;
            // `bits` leading ones; a shift by the full width (a /0) is no mask at all.
            let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
            Some(u32::from(n) & mask == u32::from(p) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(p)) => {
            let bits = u32::from(bits.unwrap_or(128));
            let shift = 128u32.checked_sub(bits)?;
            let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
            Some(u128::from(n) & mask == u128::from(p) & mask)
        }
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => {
            // A prefix length beyond the family is still malformed.
            let max = if net.is_ipv4() { 32 } else { 128 };
            (u32::from(bits.unwrap_or(0)) <= max).then_some(false)
        }
    }
}

#[cfg(test)]
mod tests;
