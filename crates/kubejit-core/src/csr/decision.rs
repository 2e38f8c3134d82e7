//! What the CSR approver decided and why: the facts it read, the outcome, and stable machine reasons.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::attestation::Attested;
use crate::incident::Incident;
use crate::names::{GroupName, ObjectName};
use crate::subject::{Requester, RequesterMatch, Subjects};
use crate::ttl::Ttl;

/// The only signer kubejit approves for.
pub const KUBE_APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// Everything the decision reads from a CertificateSigningRequest, copied out by the kube glue.
/// `username`/`groups`/`uid` are set by the apiserver from the creator's credentials, so they are
/// trustworthy; `request`, `usages`, `expiration_seconds` and `incident` are chosen by the requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrFacts {
    pub username: String,
    pub groups: Vec<String>,
    pub uid: Option<String>,
    pub usages: Vec<String>,
    pub expiration_seconds: Option<i32>,
    pub signer_name: String,
    /// The `debugging.kubernetes.io/incident` annotation.
    pub incident: Option<String>,
    /// The `kubejit.dev/key-attestation` annotation (the PIV attestation chain), as written.
    pub key_attestation: Option<String>,
    /// `spec.request`, base64-decoded: the PEM PKCS#10 request (anything else is denied).
    pub request: Vec<u8>,
}

impl CsrFacts {
    pub fn requester(&self) -> Requester {
        Requester {
            username: self.username.clone(),
            groups: self.groups.clone(),
        }
    }
}

/// The approver's verdict on one CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every rule holds and the policy approves automatically.
    Approve {
        allowed: Allowed,
        message: String,
    },
    /// Every rule holds but the policy wants a person (one of `approvers`) to approve; leave it pending.
    Pending {
        allowed: Allowed,
        approvers: Subjects,
        message: String,
    },
    Deny {
        reason: DenyReason,
        message: String,
    },
}

impl Decision {
    /// Human explanation, suitable for the condition message, the Event and the CLI.
    pub fn message(&self) -> &str {
        match self {
            Self::Approve { message, .. }
            | Self::Pending { message, .. }
            | Self::Deny { message, .. } => message,
        }
    }

    /// Stable label for metrics and audit: "Approved", "Pending" or the deny reason.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Approve { .. } => "Approved",
            Self::Pending { .. } => "Pending",
            Self::Deny { reason, .. } => reason.as_str(),
        }
    }
}

/// What a policy allowed, with the policy and requester rule that allowed it (for Events and audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowed {
    pub policy: ObjectName,
    pub rule: RequesterMatch,
    pub ttl: Ttl,
    pub common_name: String,
    pub groups: BTreeSet<GroupName>,
    pub incident: Option<Incident>,
    /// The verified hardware attestation of the CSR's key, when the policy required one.
    pub hardware_key: Option<Attested>,
}

/// Machine-readable denial reasons: stable strings for the Denied condition's `reason`, metrics and audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DenyReason {
    /// `spec.signerName` is not kubernetes.io/kube-apiserver-client.
    WrongSigner,
    /// The requester is the controller itself: it must never approve its own request.
    SelfRequest,
    /// `spec.username` starts with `system:` (nodes, service accounts, …): kubejit serves people.
    SystemRequester,
    /// `spec.request` is not exactly one strict PEM `CERTIFICATE REQUEST` block holding canonical DER
    /// (raw DER, text around the block, two blocks, headers, BER, version, odd algorithm parameters, …).
    MalformedRequest,
    /// A well-formed request whose key type, size or curve, or signature algorithm, kubejit does not
    /// accept (it accepts Ed25519, ECDSA P-256/P-384 and RSA 2048–8192 bits).
    UnsupportedKey,
    /// The request's self-signature does not verify.
    InvalidSignature,
    /// The request carries attributes: an extension request (SANs, …) or anything else.
    ExtensionsRequested,
    /// The subject is not exactly one CN plus zero or more O, one attribute per RDN, no duplicates.
    SubjectNotAllowed,
    /// The CN differs from `spec.username`.
    CommonNameMismatch,
    /// An O is a `system:` group (or not a usable group name).
    SystemGroup,
    /// Usages other than client auth (+ digital signature, key encipherment), or client auth missing.
    UsagesNotAllowed,
    /// `spec.expirationSeconds` is absent: the lifetime would be the signer's default.
    ExpirationMissing,
    /// `spec.expirationSeconds` is below the 600 s API floor.
    ExpirationTooShort,
    /// No certificate-issuing policy lists the requester (user or any group).
    NoMatchingPolicy,
    /// A requested O is not in the matching policy's `certificateGroups`.
    GroupNotAllowed,
    /// `spec.expirationSeconds` exceeds the matching policy's `maxTTL`.
    TtlExceedsPolicy,
    /// The policy requires an incident reference and the annotation is absent.
    IncidentMissing,
    /// The incident annotation is empty, too long or contains control characters/edge whitespace.
    IncidentInvalid,
    /// The incident annotation does not match the policy's pattern.
    IncidentMismatch,
    /// Under a Manual policy: an approved AccessRequest covers the CSR, but `spec.expirationSeconds`
    /// would outlive it (a CSR's lifetime cannot be shortened on approval).
    TtlExceedsRequest,
    /// The `kubejit.dev/key-attestation` annotation is not exactly two strict PEM certificates
    /// (oversized, one or three blocks, the same certificate twice, text around them, …).
    KeyAttestationMalformed,
    /// The policy requires a hardware key (`keys: hardware`) and the CSR carries no attestation.
    KeyAttestationMissing,
    /// The attestation chain does not verify to a configured vendor root at this time (another root,
    /// a broken signature, an expired or not yet valid certificate, no roots configured).
    KeyAttestationUntrusted,
    /// The attestation is valid but attests another key than the CSR's.
    KeyNotAttested,
    /// The attested key's PIN or touch policy is below what the policy requires (or unreadable).
    KeyPolicyTooWeak,
}

impl DenyReason {
    pub const ALL: [DenyReason; 25] = [
        Self::WrongSigner,
        Self::SelfRequest,
        Self::SystemRequester,
        Self::MalformedRequest,
        Self::UnsupportedKey,
        Self::InvalidSignature,
        Self::ExtensionsRequested,
        Self::SubjectNotAllowed,
        Self::CommonNameMismatch,
        Self::SystemGroup,
        Self::UsagesNotAllowed,
        Self::ExpirationMissing,
        Self::ExpirationTooShort,
        Self::NoMatchingPolicy,
        Self::GroupNotAllowed,
        Self::TtlExceedsPolicy,
        Self::IncidentMissing,
        Self::IncidentInvalid,
        Self::IncidentMismatch,
        Self::TtlExceedsRequest,
        Self::KeyAttestationMalformed,
        Self::KeyAttestationMissing,
        Self::KeyAttestationUntrusted,
        Self::KeyNotAttested,
        Self::KeyPolicyTooWeak,
    ];

    /// Whether a different set of AccessPolicies could have turned this denial into something else
    /// (the approver confirms such a denial against a fresh LIST before it writes it; one about the
    /// request's own bytes costs no LIST, so a flood of malformed CSRs costs none either).
    /// Exhaustive on purpose: a new reason must be placed on one side.
    pub fn depends_on_policies(self) -> bool {
        match self {
            Self::NoMatchingPolicy
            | Self::GroupNotAllowed
            | Self::TtlExceedsPolicy
            | Self::IncidentMissing
            | Self::IncidentMismatch
            | Self::TtlExceedsRequest
            | Self::KeyAttestationMissing
            | Self::KeyAttestationUntrusted
            | Self::KeyNotAttested
            | Self::KeyPolicyTooWeak => true,
            Self::WrongSigner
            | Self::SelfRequest
            | Self::SystemRequester
            | Self::MalformedRequest
            | Self::UnsupportedKey
            | Self::InvalidSignature
            | Self::ExtensionsRequested
            | Self::SubjectNotAllowed
            | Self::CommonNameMismatch
            | Self::SystemGroup
            | Self::UsagesNotAllowed
            | Self::ExpirationMissing
            | Self::ExpirationTooShort
            | Self::IncidentInvalid
            | Self::KeyAttestationMalformed => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongSigner => "WrongSigner",
            Self::SelfRequest => "SelfRequest",
            Self::SystemRequester => "SystemRequester",
            Self::MalformedRequest => "MalformedRequest",
            Self::UnsupportedKey => "UnsupportedKey",
            Self::InvalidSignature => "InvalidSignature",
            Self::ExtensionsRequested => "ExtensionsRequested",
            Self::SubjectNotAllowed => "SubjectNotAllowed",
            Self::CommonNameMismatch => "CommonNameMismatch",
            Self::SystemGroup => "SystemGroup",
            Self::UsagesNotAllowed => "UsagesNotAllowed",
            Self::ExpirationMissing => "ExpirationMissing",
            Self::ExpirationTooShort => "ExpirationTooShort",
            Self::NoMatchingPolicy => "NoMatchingPolicy",
            Self::GroupNotAllowed => "GroupNotAllowed",
            Self::TtlExceedsPolicy => "TtlExceedsPolicy",
            Self::IncidentMissing => "IncidentMissing",
            Self::IncidentInvalid => "IncidentInvalid",
            Self::IncidentMismatch => "IncidentMismatch",
            Self::TtlExceedsRequest => "TtlExceedsRequest",
            Self::KeyAttestationMalformed => "KeyAttestationMalformed",
            Self::KeyAttestationMissing => "KeyAttestationMissing",
            Self::KeyAttestationUntrusted => "KeyAttestationUntrusted",
            Self::KeyNotAttested => "KeyNotAttested",
            Self::KeyPolicyTooWeak => "KeyPolicyTooWeak",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
