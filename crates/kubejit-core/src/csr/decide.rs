//! The pure CSR approval decision: deny unless every rule holds under one AccessPolicy.
//!
//! Order: request-wide checks first (signer, requester, PKCS#10, subject, usages, expiration), then each
//! certificate-issuing policy whose requesters match, sorted by name. One policy must allow everything
//! (groups, TTL, incident) on its own: mixing the groups of one policy with the TTL of another would grant
//! what no policy author wrote. If several allow, an Auto policy wins over a Manual one, then the first by
//! name. If none allows, the denial comes from the policy that got furthest through its checks.

use std::collections::BTreeSet;

use super::attestation::{AttestationError, Attested};
use super::decision::{Allowed, CsrFacts, Decision, DenyReason, KUBE_APISERVER_CLIENT_SIGNER};
use super::key_attestation::{KeyTrust, parse_annotation};
use super::request::{RequestError, RequestedSubject, parse_request};
use crate::incident::IncidentViolation;
use crate::names::{GroupName, NameError};
use crate::policy::{Approval, KeyRequirement, NamedPolicy};
use crate::subject::{RequesterMatch, SYSTEM_PREFIX};
use crate::ttl::{CERTIFICATE_MIN_TTL, Ttl};

const CLIENT_AUTH: &str = "client auth";
const OPTIONAL_USAGES: [&str; 2] = ["digital signature", "key encipherment"];

/// A denial before it becomes a [`Decision`].
#[derive(Debug)]
struct Denial {
    reason: DenyReason,
    message: String,
}

fn deny(reason: DenyReason, message: impl Into<String>) -> Denial {
    Denial {
        reason,
        message: message.into(),
    }
}

/// What the request-wide checks established.
#[derive(Debug)]
struct CheckedRequest {
    common_name: String,
    groups: BTreeSet<GroupName>,
    expiration_seconds: u64,
    /// The key attestation, read once: `None` without the annotation; verified against the vendor
    /// roots, the CSR key and `now`, but not yet against a policy's PIN/touch requirement.
    attestation: Option<Result<Attested, AttestationError>>,
}

/// Decides one CSR at Unix time `now`. `controller_identity` is the username the controller runs as
/// (e.g. `system:serviceaccount:kubejit-system:kubejit-controller`); `keys` holds the vendor roots a
/// key attestation must chain to. `now` only judges the attestation certificates' validity: the
/// signer sets the issued certificate's validity, and `expirationSeconds` is checked as a duration.
pub fn decide(
    csr: &CsrFacts,
    policies: &[NamedPolicy],
    controller_identity: &str,
    keys: &KeyTrust,
    now: i64,
) -> Decision {
    let checked = match check_request(csr, controller_identity, keys, now) {
        Ok(checked) => checked,
        Err(denial) => {
            return Decision::Deny {
                reason: denial.reason,
                message: denial.message,
            };
        }
    };
    match decide_by_policy(csr, &checked, policies) {
        Ok(decision) => decision,
        Err(denial) => Decision::Deny {
            reason: denial.reason,
            message: denial.message,
        },
    }
}

fn check_request(
    csr: &CsrFacts,
    controller_identity: &str,
    keys: &KeyTrust,
    now: i64,
) -> Result<CheckedRequest, Denial> {
    if csr.signer_name != KUBE_APISERVER_CLIENT_SIGNER {
        let msg = format!(
            "signer {:?} is not {KUBE_APISERVER_CLIENT_SIGNER}; kubejit decides nothing else",
            csr.signer_name
        );
        return Err(deny(DenyReason::WrongSigner, msg));
    }
    if csr.username == controller_identity {
        let msg = format!(
            "requester {} is the kubejit controller itself, which never approves its own request",
            csr.username
        );
        return Err(deny(DenyReason::SelfRequest, msg));
    }
    if csr.username.starts_with(SYSTEM_PREFIX) {
        let msg = format!(
            "requester {} is a system identity; kubejit issues certificates to people only",
            csr.username
        );
        return Err(deny(DenyReason::SystemRequester, msg));
    }
    let request = parse_request(&csr.request).map_err(request_denial)?;
    let subject = request.subject;
    check_common_name(&subject, &csr.username)?;
    let groups = check_groups(&subject.organizations)?;
    check_usages(&csr.usages)?;
    let expiration_seconds = check_expiration(csr.expiration_seconds)?;
    let attestation = check_attestation(
        csr.key_attestation.as_deref(),
        &request.public_key_info,
        keys,
        now,
    )?;
    Ok(CheckedRequest {
        common_name: subject.common_name,
        groups,
        expiration_seconds,
        attestation,
    })
}

/// A malformed annotation is denied whatever the policy (fail closed on requester input); a
/// well-formed chain is verified here, once, and judged by each policy that requires a hardware key.
fn check_attestation(
    annotation: Option<&str>,
    csr_spki: &[u8],
    keys: &KeyTrust,
    now: i64,
) -> Result<Option<Result<Attested, AttestationError>>, Denial> {
    let Some(value) = annotation else {
        return Ok(None);
    };
    let chain = parse_annotation(value).map_err(|e| {
        let msg = format!("annotation {}: {e}", crate::annotations::KEY_ATTESTATION);
        deny(DenyReason::KeyAttestationMalformed, msg)
    })?;
    Ok(Some(keys.verify_chain(&chain, csr_spki, now)))
}

fn request_denial(error: RequestError) -> Denial {
    let reason = match &error {
        RequestError::TooLarge { .. }
        | RequestError::Pem(_)
        | RequestError::Der { .. }
        | RequestError::Version { .. }
        | RequestError::KeyEncoding { .. } => DenyReason::MalformedRequest,
        RequestError::UnsupportedKey { .. } => DenyReason::UnsupportedKey,
        RequestError::Signature => DenyReason::InvalidSignature,
        RequestError::ExtensionsRequested | RequestError::Attribute { .. } => {
            DenyReason::ExtensionsRequested
        }
        RequestError::Subject(_) => DenyReason::SubjectNotAllowed,
    };
    deny(reason, error.to_string())
}

fn check_common_name(subject: &RequestedSubject, username: &str) -> Result<(), Denial> {
    if subject.common_name != username {
        let msg = format!(
            "certificate CN {:?} differs from the requester {username:?}; request CN={username}",
            subject.common_name
        );
        return Err(deny(DenyReason::CommonNameMismatch, msg));
    }
    Ok(())
}

fn check_groups(organizations: &[String]) -> Result<BTreeSet<GroupName>, Denial> {
    organizations
        .iter()
        .map(|o| {
            GroupName::parse(o).map_err(|e| match e {
                NameError::Reserved { .. } => deny(
                    DenyReason::SystemGroup,
                    format!(
                        "certificate group {o:?} is a system group; kubejit never issues those"
                    ),
                ),
                NameError::Empty { .. }
                | NameError::TooLong { .. }
                | NameError::InvalidCharacters { .. }
                | NameError::Unprintable { .. } => deny(
                    DenyReason::SubjectNotAllowed,
                    format!("certificate group (O) is not usable: {e}"),
                ),
            })
        })
        .collect()
}

fn check_usages(usages: &[String]) -> Result<(), Denial> {
    let mut seen = BTreeSet::new();
    for usage in usages {
        if usage != CLIENT_AUTH && !OPTIONAL_USAGES.contains(&usage.as_str()) {
            return Err(deny(
                DenyReason::UsagesNotAllowed,
                format!(
                    "usage {usage:?} is not allowed; request only \"client auth\" (optionally \"digital signature\", \"key encipherment\")"
                ),
            ));
        }
        if !seen.insert(usage.as_str()) {
            return Err(deny(
                DenyReason::UsagesNotAllowed,
                format!("usage {usage:?} is listed twice"),
            ));
        }
    }
    if !seen.contains(CLIENT_AUTH) {
        return Err(deny(
            DenyReason::UsagesNotAllowed,
            "usages must include \"client auth\"",
        ));
    }
    Ok(())
}

fn check_expiration(expiration_seconds: Option<i32>) -> Result<u64, Denial> {
    let Some(secs) = expiration_seconds else {
        return Err(deny(
            DenyReason::ExpirationMissing,
            "spec.expirationSeconds is missing; request an explicit lifetime (e.g. --ttl 30m)",
        ));
    };
    match u64::try_from(secs) {
        Ok(secs) if secs >= CERTIFICATE_MIN_TTL.as_secs() => Ok(secs),
        Ok(_) | Err(_) => Err(deny(
            DenyReason::ExpirationTooShort,
            format!(
                "spec.expirationSeconds {secs} is below the minimum {} s ({CERTIFICATE_MIN_TTL})",
                CERTIFICATE_MIN_TTL.as_secs()
            ),
        )),
    }
}

/// Which check a policy failed; a later stage means the request came closer to being allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Groups,
    Ttl,
    Incident,
    Keys,
}

fn decide_by_policy(
    csr: &CsrFacts,
    req: &CheckedRequest,
    policies: &[NamedPolicy],
) -> Result<Decision, Denial> {
    let requester = csr.requester();
    let mut sorted: Vec<&NamedPolicy> = policies
        .iter()
        .filter(|p| p.policy.issues_certificates())
        .collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut allowed = Vec::new();
    let mut closest: Option<(Stage, Denial)> = None;
    for policy in sorted {
        let Some(rule) = policy.policy.requesters.match_requester(&requester) else {
            continue;
        };
        match evaluate(policy, rule, req, csr.incident.as_deref()) {
            Ok(ok) => allowed.push((policy, ok)),
            Err((stage, denial)) => {
                if closest.as_ref().is_none_or(|(best, _)| stage > *best) {
                    closest = Some((stage, denial));
                }
            }
        }
    }
    if let Some(decision) = choose(allowed) {
        return Ok(decision);
    }
    Err(closest
        .map(|(_, denial)| denial)
        .unwrap_or_else(|| no_policy(csr)))
}

fn no_policy(csr: &CsrFacts) -> Denial {
    let msg = crate::policy::no_policy_lists("issuing certificates", &csr.username, &csr.groups);
    deny(DenyReason::NoMatchingPolicy, msg)
}

fn evaluate(
    policy: &NamedPolicy,
    rule: RequesterMatch,
    req: &CheckedRequest,
    incident: Option<&str>,
) -> Result<Allowed, (Stage, Denial)> {
    let p = &policy.policy;
    let why = format!("(matched {rule})");
    if let Some(group) = req
        .groups
        .iter()
        .find(|g| !p.certificate_groups.contains(*g))
    {
        let allowed: Vec<&str> = p.certificate_groups.iter().map(GroupName::as_str).collect();
        let msg = format!(
            "group {group} is not in certificateGroups [{}] of {} {why}",
            allowed.join(", "),
            policy.scope()
        );
        return Err((Stage::Groups, deny(DenyReason::GroupNotAllowed, msg)));
    }
    let ttl = match Ttl::from_secs(req.expiration_seconds) {
        Ok(ttl) if ttl <= p.max_ttl => ttl,
        Ok(_) | Err(_) => {
            let msg = format!(
                "expirationSeconds {} exceeds maxTTL {} of {}; ask for {} or less {why}",
                req.expiration_seconds,
                p.max_ttl,
                policy.scope(),
                p.max_ttl
            );
            return Err((Stage::Ttl, deny(DenyReason::TtlExceedsPolicy, msg)));
        }
    };
    let incident = p
        .incident
        .check(incident, &policy.scope())
        .map_err(|v| (Stage::Incident, incident_denial(&v, &why)))?;
    let hardware_key = check_key(p.keys, req.attestation.as_ref(), &policy.scope(), &why)
        .map_err(|denial| (Stage::Keys, denial))?;
    Ok(Allowed {
        policy: policy.name.clone(),
        rule,
        ttl,
        common_name: req.common_name.clone(),
        groups: req.groups.clone(),
        incident,
        hardware_key,
    })
}

/// The policy's `keys` rule against the attestation read once by [`check_attestation`].
fn check_key(
    rule: KeyRequirement,
    attestation: Option<&Result<Attested, AttestationError>>,
    scope: &str,
    why: &str,
) -> Result<Option<Attested>, Denial> {
    let touch = match rule {
        KeyRequirement::Any => return Ok(None),
        KeyRequirement::Hardware { touch } => touch,
    };
    let refuse = |reason, detail: &dyn std::fmt::Display| {
        let msg = format!("{scope} requires a hardware-attested key: {detail} {why}");
        deny(reason, msg)
    };
    let attested = match attestation {
        None => {
            let detail = format!(
                "the CSR has no {} annotation; attach the PIV attestation chain (kubejit credential --attestation FILE)",
                crate::annotations::KEY_ATTESTATION
            );
            return Err(refuse(DenyReason::KeyAttestationMissing, &detail));
        }
        Some(Err(error)) => return Err(refuse(attestation_reason(error), error)),
        Some(Ok(attested)) => attested,
    };
    attested
        .meets(true, touch)
        .map_err(|error| refuse(attestation_reason(&error), &error))?;
    Ok(Some(attested.clone()))
}

fn attestation_reason(error: &AttestationError) -> DenyReason {
    match error {
        AttestationError::Parse { .. }
        | AttestationError::NoRoots
        | AttestationError::UntrustedDevice
        | AttestationError::NotSignedByDevice
        | AttestationError::Algorithm { .. }
        | AttestationError::Validity { .. } => DenyReason::KeyAttestationUntrusted,
        AttestationError::OtherKey => DenyReason::KeyNotAttested,
        AttestationError::NoPolicy
        | AttestationError::UnknownPolicy(_)
        | AttestationError::NoPin
        | AttestationError::NoTouch => DenyReason::KeyPolicyTooWeak,
    }
}

fn incident_denial(violation: &IncidentViolation, why: &str) -> Denial {
    let reason = match violation {
        IncidentViolation::Missing { .. } => DenyReason::IncidentMissing,
        IncidentViolation::Invalid { .. } => DenyReason::IncidentInvalid,
        IncidentViolation::PatternMismatch { .. } => DenyReason::IncidentMismatch,
    };
    deny(reason, format!("{violation} {why}"))
}

/// Auto beats Manual (a policy that pre-authorised the request is enough); then the first by name.
fn choose(allowed: Vec<(&NamedPolicy, Allowed)>) -> Option<Decision> {
    let auto = allowed
        .iter()
        .position(|(p, _)| matches!(p.policy.approval, Approval::Auto));
    let (policy, allowed) = allowed.into_iter().nth(auto.unwrap_or(0))?;
    let summary = summary(&allowed);
    Some(match &policy.policy.approval {
        Approval::Auto => Decision::Approve {
            message: format!(
                "approved by {} (matched {}): {summary}",
                policy.scope(),
                allowed.rule
            ),
            allowed,
        },
        Approval::Manual { approvers, .. } => Decision::Pending {
            message: format!(
                "{} (matched {}) requires manual approval by {approvers}, by someone other than {}: {summary}",
                policy.scope(),
                allowed.rule,
                allowed.common_name
            ),
            approvers: approvers.clone(),
            allowed,
        },
    })
}

fn summary(allowed: &Allowed) -> String {
    let groups: Vec<&str> = allowed.groups.iter().map(GroupName::as_str).collect();
    let incident = allowed
        .incident
        .as_ref()
        .map_or_else(|| "none".to_owned(), ToString::to_string);
    let key = allowed
        .hardware_key
        .as_ref()
        .map_or_else(String::new, |k| format!(", hardware key ({k})"));
    format!(
        "CN {}, groups [{}], TTL {}, incident {incident}{key}",
        allowed.common_name,
        groups.join(", "),
        allowed.ttl
    )
}
