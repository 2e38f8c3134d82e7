//! Validated AccessRequest and AccessApproval facts, parsed once from the objects the controller reads.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::spec::{AccessApprovalSpec, AccessRequestSpec, ApprovalDecision};
use crate::names::{GroupName, NameError, NamespaceName, ObjectName};
use crate::policy::{RoleRef, SubjectsSpec};
use crate::reason::{Reason, ReasonError};
use crate::subject::{Requester, Subjects, UserName};
use crate::ttl::{Ttl, TtlError};

/// Certificates are cluster-wide, so a certificate-group request has no natural namespace: it lives in
/// kubejit's own, where one RoleBinding lets approvers see every such request.
pub const CERTIFICATE_REQUEST_NAMESPACE: &str = "kubejit-system";

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A RoleBinding of this role in the request's namespace, for the request's subjects.
    Role {
        namespace: NamespaceName,
        role: RoleRef,
    },
    /// A short-lived client certificate for the requester, carrying at most these groups.
    Certificate { groups: BTreeSet<GroupName> },
}

/// An AccessRequest as the controller may trust it. `requester` was stamped by admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// `metadata.uid`: approvals name it, so they never carry over to a re-created request.
    pub uid: String,
    /// `metadata.creationTimestamp` (the apiserver's clock): the approval timeout counts from here.
    pub created_at: OffsetDateTime,
    pub requester: Requester,
    /// Who receives the access; the requester's user when the spec names nobody.
    pub subjects: Subjects,
    pub target: Target,
    /// `None`: the rule's defaultTTL.
    pub ttl: Option<Ttl>,
    /// Checked against the matching rule's incident rule, like a grant's.
    pub incident: Option<String>,
    pub reason: Reason,
    /// `metadata.deletionTimestamp` is set: the requester withdrew it.
    pub deleting: bool,
}

/// Why an AccessRequest's spec cannot be trusted. The request is Denied (reason Malformed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestSpecError {
    #[error("spec.role and spec.certificateGroups: name exactly one of them")]
    TargetCount,
    #[error("metadata.namespace: {0}")]
    Namespace(#[source] NameError),
    #[error("spec.role.name: {0}")]
    Role(#[source] NameError),
    #[error("spec.certificateGroups: {0}")]
    CertificateGroup(#[source] NameError),
    #[error(
        "certificate requests live in namespace {CERTIFICATE_REQUEST_NAMESPACE}, not {namespace}"
    )]
    CertificateNamespace { namespace: String },
    #[error("spec.subjects: a certificate is issued to the requester only; remove subjects")]
    CertificateSubjects,
    #[error("spec.subjects.users: {0}")]
    SubjectUser(#[source] NameError),
    #[error("spec.subjects.groups: {0}")]
    SubjectGroup(#[source] NameError),
    #[error(
        "spec.subjects is empty and the requester {0} cannot be a subject (system: identities are refused)"
    )]
    RequesterNotASubject(String),
    #[error("spec.ttl: {0}")]
    Ttl(#[source] TtlError),
    #[error("spec.reason: {0}")]
    Reason(#[source] ReasonError),
}

impl RequestFacts {
    /// Validates a request read from the cluster.
    pub fn parse(
        namespace: &str,
        uid: &str,
        created_at: OffsetDateTime,
        deleting: bool,
        spec: &AccessRequestSpec,
    ) -> Result<Self, RequestSpecError> {
        let requester = Requester {
            username: spec.requester.username.clone(),
            groups: spec.requester.groups.clone(),
        };
        let target = parse_target(namespace, spec)?;
        let subjects = parse_subjects(&target, &requester, spec.subjects.as_ref())?;
        let ttl = match &spec.ttl {
            Some(raw) => Some(Ttl::parse(raw).map_err(RequestSpecError::Ttl)?),
            None => None,
        };
        Ok(Self {
            uid: uid.to_owned(),
            created_at,
            requester,
            subjects,
            target,
            ttl,
            incident: spec.incident.clone(),
            reason: Reason::parse(&spec.reason).map_err(RequestSpecError::Reason)?,
            deleting,
        })
    }
}

fn parse_target(namespace: &str, spec: &AccessRequestSpec) -> Result<Target, RequestSpecError> {
    match (&spec.role, spec.certificate_groups.is_empty()) {
        (Some(role), true) => Ok(Target::Role {
            namespace: NamespaceName::parse(namespace).map_err(RequestSpecError::Namespace)?,
            role: RoleRef {
                kind: role.kind,
                name: ObjectName::parse_as("role name", &role.name)
                    .map_err(RequestSpecError::Role)?,
            },
        }),
        (None, false) => {
            if namespace != CERTIFICATE_REQUEST_NAMESPACE {
                return Err(RequestSpecError::CertificateNamespace {
                    namespace: namespace.to_owned(),
                });
            }
            let groups = spec
                .certificate_groups
                .iter()
                .map(|g| GroupName::parse(g))
                .collect::<Result<_, _>>()
                .map_err(RequestSpecError::CertificateGroup)?;
            Ok(Target::Certificate { groups })
        }
        (Some(_), false) | (None, true) => Err(RequestSpecError::TargetCount),
    }
}

fn parse_subjects(
    target: &Target,
    requester: &Requester,
    spec: Option<&SubjectsSpec>,
) -> Result<Subjects, RequestSpecError> {
    let named = spec.is_some_and(|s| !s.users.is_empty() || !s.groups.is_empty());
    if !named {
        let user = UserName::parse(&requester.username)
            .map_err(|_| RequestSpecError::RequesterNotASubject(requester.username.clone()))?;
        return Ok(Subjects {
            users: [user].into(),
            groups: BTreeSet::new(),
        });
    }
    match target {
        Target::Certificate { .. } => Err(RequestSpecError::CertificateSubjects),
        Target::Role { .. } => {
            let spec = spec.cloned().unwrap_or_default();
            let users = spec
                .users
                .iter()
                .map(|u| UserName::parse(u))
                .collect::<Result<_, _>>()
                .map_err(RequestSpecError::SubjectUser)?;
            let groups = spec
                .groups
                .iter()
                .map(|g| GroupName::parse(g))
                .collect::<Result<_, _>>()
                .map_err(RequestSpecError::SubjectGroup)?;
            Ok(Subjects { users, groups })
        }
    }
}

/// One AccessApproval. `approver` was stamped by admission; `created_at` is the apiserver's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalFacts {
    /// `metadata.name`, for the record.
    pub name: String,
    pub request_uid: String,
    pub approver: Requester,
    pub decision: ApprovalDecision,
    pub created_at: OffsetDateTime,
}

impl ApprovalFacts {
    pub fn new(name: &str, created_at: OffsetDateTime, spec: &AccessApprovalSpec) -> Self {
        Self {
            name: name.to_owned(),
            request_uid: spec.request_uid.clone(),
            approver: Requester {
                username: spec.approver.username.clone(),
                groups: spec.approver.groups.clone(),
            },
            decision: spec.decision,
            created_at,
        }
    }
}
