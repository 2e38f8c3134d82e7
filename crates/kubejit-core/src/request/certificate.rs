//! Which AccessRequest, if any, lets the controller approve a CSR that a Manual policy allows: the
//! same requester, every group covered, the same incident, approved now, and a certificate that
//! ends no later than the request.
//!
//! Nothing here trusts a request's `status` (the request reconciler may lag): each candidate is
//! judged afresh with [`decide_request`] from its spec, its approvals and the policies.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::facts::{ApprovalFacts, RequestFacts, Target};
use super::lifecycle::{Recorded, decide_request};
use super::spec::Phase;
use crate::names::{GroupName, ObjectName};
use crate::policy::NamedPolicy;
use crate::subject::Requester;
use crate::ttl::CERTIFICATE_MIN_TTL;
use crate::ttl::Ttl;

/// The signer counts `expirationSeconds` from when it signs, a moment after the approval: a
/// certificate may ask for at most the request's remaining time less this.
pub const SIGNING_MARGIN_SECS: u64 = 60;

/// A CSR that passed every certificate rule under a Manual policy and waits for a person.
#[derive(Debug, Clone, Copy)]
pub struct PendingCertificate<'a> {
    /// `spec.username` and `spec.groups`: set by the apiserver from the CSR creator's credentials.
    pub requester: &'a Requester,
    /// The groups (O) the certificate would carry.
    pub groups: &'a BTreeSet<GroupName>,
    /// `spec.expirationSeconds`, already checked to be at least the API floor.
    pub expiration_seconds: u64,
    /// The `debugging.kubernetes.io/incident` annotation, as written.
    pub incident: Option<&'a str>,
}

/// One AccessRequest as the approver read it, with the approvals that name its uid.
#[derive(Debug, Clone)]
pub struct CandidateRequest {
    /// `metadata.name`, for messages and the record.
    pub name: String,
    pub facts: RequestFacts,
    /// What status says; a lagging status is harmless (terminal phases still end the request).
    pub recorded: Recorded,
    pub approvals: Vec<ApprovalFacts>,
}

/// What the CSR's approval should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateVerdict {
    /// Approve: `request` is approved now and covers the CSR; the certificate ends before it does.
    Approve {
        request: String,
        policy: ObjectName,
        approved_by: Vec<String>,
        expires_at: OffsetDateTime,
    },
    /// An approved request covers the CSR but ends sooner than the certificate would: deny (a
    /// CSR's lifetime cannot be shortened on approval) and say what to ask for.
    OutlivesRequest { message: String },
    /// No approved request covers it (yet): leave it pending.
    Awaiting { message: String },
}

/// Why one candidate does not approve the CSR, ordered by how close it came.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Miss {
    Groups(String),
    Incident(String),
    NotApproved(String),
}

/// Judges `csr` against the requester's AccessRequests. Pure and order-independent: candidates are
/// tried by name, and the first that approves wins.
pub fn judge_certificate(
    csr: PendingCertificate<'_>,
    requests: &[CandidateRequest],
    policies: &[NamedPolicy],
    now: OffsetDateTime,
) -> CertificateVerdict {
    let mut sorted: Vec<&CandidateRequest> = requests
        .iter()
        .filter(|r| same_requester(&r.facts.requester, csr.requester))
        .collect();
    sorted.sort_by(|a, b| (&a.name, &a.facts.uid).cmp(&(&b.name, &b.facts.uid)));
    let mut closest: Option<Miss> = None;
    let mut outlived: Option<(u64, String)> = None;
    for request in sorted {
        match judge_one(csr, request, policies, now) {
            Ok(Ok(approve)) => return approve,
            Ok(Err((remaining, message))) => {
                if outlived.as_ref().is_none_or(|(best, _)| remaining > *best) {
                    outlived = Some((remaining, message));
                }
            }
            Err(miss) => {
                if closest.as_ref().is_none_or(|best| miss > *best) {
                    closest = Some(miss);
                }
            }
        }
    }
    if let Some((_, message)) = outlived {
        return CertificateVerdict::OutlivesRequest { message };
    }
    CertificateVerdict::Awaiting {
        message: awaiting(csr, closest),
    }
}

/// The outcome for one candidate: approve, outlived (remaining seconds, message), or a miss.
type One = Result<Result<CertificateVerdict, (u64, String)>, Miss>;

fn judge_one(
    csr: PendingCertificate<'_>,
    request: &CandidateRequest,
    policies: &[NamedPolicy],
    now: OffsetDateTime,
) -> One {
    let name = &request.name;
    let Target::Certificate { groups } = &request.facts.target else {
        return Err(Miss::Groups(format!(
            "AccessRequest {name} asks for a role, not certificate groups"
        )));
    };
    if let Some(missing) = csr.groups.difference(groups).next() {
        return Err(Miss::Groups(format!(
            "AccessRequest {name} does not cover group {missing}"
        )));
    }
    if request.facts.incident.as_deref() != csr.incident {
        return Err(Miss::Incident(format!(
            "AccessRequest {name} is for incident {}, the CSR for {}",
            shown(request.facts.incident.as_deref()),
            shown(csr.incident)
        )));
    }
    let verdict = decide_request(
        &request.facts,
        policies,
        &request.approvals,
        request.recorded,
        now,
    );
    let live = matches!(verdict.phase, Phase::Approved | Phase::Active);
    let (Some(expires_at), Some(authorized), true) = (verdict.expires_at, verdict.authorized, live)
    else {
        return Err(Miss::NotApproved(format!(
            "AccessRequest {name} is {}: {}",
            verdict.phase, verdict.message
        )));
    };
    let left = expires_at
        .unix_timestamp()
        .saturating_sub(now.unix_timestamp());
    let remaining = u64::try_from(left)
        .unwrap_or(0)
        .saturating_sub(SIGNING_MARGIN_SECS);
    if csr.expiration_seconds > remaining {
        let floor = CERTIFICATE_MIN_TTL.as_secs();
        let fix = if remaining >= floor {
            format!("ask for expirationSeconds {remaining} or less")
        } else {
            format!(
                "too little is left for a certificate (the minimum is {floor} s); request access again"
            )
        };
        let message = format!(
            "expirationSeconds {} outlives AccessRequest {name}, which ends at {expires_at} ({left} s from now, less {SIGNING_MARGIN_SECS} s for signing); {fix}",
            csr.expiration_seconds
        );
        return Ok(Err((remaining, message)));
    }
    let approved_by = verdict
        .approvals
        .iter()
        .filter(|a| a.counted)
        .map(|a| a.approver.clone())
        .collect();
    Ok(Ok(CertificateVerdict::Approve {
        request: name.clone(),
        policy: authorized.policy,
        approved_by,
        expires_at,
    }))
}

/// The requester as the apiserver authenticated the CSR's creator and the request's creator: the
/// same user with the same groups (in any order). A request made under other groups was judged by
/// other policy rules, so it does not vouch for this CSR.
fn same_requester(request: &Requester, csr: &Requester) -> bool {
    let set = |g: &[String]| g.iter().cloned().collect::<BTreeSet<String>>();
    request.username == csr.username && set(&request.groups) == set(&csr.groups)
}

fn shown(incident: Option<&str>) -> String {
    incident.map_or_else(|| "none".to_owned(), |i| format!("{i:?}"))
}

fn awaiting(csr: PendingCertificate<'_>, closest: Option<Miss>) -> String {
    let groups: Vec<&str> = csr.groups.iter().map(GroupName::as_str).collect();
    let why = match closest {
        None => format!("{} has none", csr.requester.username),
        Some(Miss::Groups(m) | Miss::Incident(m) | Miss::NotApproved(m)) => m,
    };
    format!(
        "awaiting an approved AccessRequest ({why}); create one with `kubejit request --certificate-group {}` and have an approver approve it",
        groups.join(",")
    )
}

/// A certificate-group request as its `status` shows it to the requester's credential plugin.
#[derive(Debug, Clone, Copy)]
pub struct RequestStatusView<'a> {
    pub facts: &'a RequestFacts,
    pub phase: Option<Phase>,
    pub expires_at: Option<OffsetDateTime>,
}

/// The certificate lifetime the credential plugin should ask for: `wanted`, shortened to what is
/// left (less [`SIGNING_MARGIN_SECS`]) of the longest-lived Approved or Active certificate-group
/// request of `username` that covers `groups` under `incident`, so that the approver does not deny
/// the CSR as `TtlExceedsRequest` (a CSR cannot be shortened once filed).
///
/// Advice only, read from `status`: the approver judges afresh. `wanted` is kept when no such
/// request exists (an `Auto` policy needs none; a request not yet approved may be by the time the
/// CSR is judged) or when too little is left for a certificate (the approver then says so).
pub fn fit_certificate_ttl(
    wanted: Ttl,
    username: &str,
    groups: &BTreeSet<GroupName>,
    incident: Option<&str>,
    requests: &[RequestStatusView<'_>],
    now: OffsetDateTime,
) -> Ttl {
    let covers = |r: &&RequestStatusView<'_>| {
        let Target::Certificate { groups: covered } = &r.facts.target else {
            return false;
        };
        r.facts.requester.username == username
            && !r.facts.deleting
            && groups.is_subset(covered)
            && r.facts.incident.as_deref() == incident
            && matches!(r.phase, Some(Phase::Approved | Phase::Active))
    };
    let remaining = requests
        .iter()
        .filter(covers)
        .filter_map(|r| r.expires_at)
        .map(|end| end.unix_timestamp().saturating_sub(now.unix_timestamp()))
        .max()
        .and_then(|left| u64::try_from(left).ok())
        .map(|left| left.saturating_sub(SIGNING_MARGIN_SECS));
    match remaining {
        Some(left) if left < wanted.as_secs() && left >= CERTIFICATE_MIN_TTL.as_secs() => {
            Ttl::from_secs(left).unwrap_or(wanted)
        }
        _ => wanted,
    }
}
