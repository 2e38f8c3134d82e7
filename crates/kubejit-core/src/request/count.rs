//! Counting approvals: who may approve a request, and when enough distinct people have.
//!
//! Order-independent by construction: approvals are sorted by (time, name) before anything is decided,
//! so the controller reaches the same verdict whatever order its cache lists them in.

use std::collections::BTreeSet;
use std::fmt;

use time::OffsetDateTime;

use super::facts::{ApprovalFacts, RequestFacts};
use super::spec::{ApprovalDecision, ApprovalRecord};
use crate::subject::{Requester, Subjects};

/// Why an approval did not count. Stable strings: they appear in status and audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApprovalIgnored {
    /// It names another request (or an earlier request of the same name).
    OtherRequest,
    /// The approver is not listed by the rule that allowed the request (or the rule is Auto).
    NotAnApprover,
    /// Nobody approves their own request.
    Requester,
    /// Nobody approves access they would receive themselves (by user or by group).
    Subject,
    /// The same person approved already; one person counts once.
    Duplicate,
    /// An Approve that arrived at or after the approval timeout.
    Late,
}

impl ApprovalIgnored {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtherRequest => "OtherRequest",
            Self::NotAnApprover => "NotAnApprover",
            Self::Requester => "Requester",
            Self::Subject => "Subject",
            Self::Duplicate => "Duplicate",
            Self::Late => "Late",
        }
    }
}

impl fmt::Display for ApprovalIgnored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may decide and how many approvals are needed, from the rule that allowed the request.
#[derive(Debug, Clone, Copy)]
pub struct Quorum<'a> {
    /// `None` for an Auto rule: nobody's approval is needed or counted.
    pub approvers: Option<&'a Subjects>,
    pub required: u32,
    /// Approvals created at or after this instant do not count (the request timed out).
    pub deadline: Option<OffsetDateTime>,
}

/// The result of counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Distinct usernames whose approval counted, in the order they counted.
    pub approved_by: Vec<String>,
    /// When the `required`-th distinct approval arrived.
    pub quorum_at: Option<OffsetDateTime>,
    /// The first listed approver's Deny, if any.
    pub denied: Option<(String, OffsetDateTime)>,
    /// Every approval for the record, counted or not.
    pub records: Vec<ApprovalRecord>,
}

/// Counts `approvals` of `request` under `quorum`.
pub fn tally(request: &RequestFacts, quorum: Quorum<'_>, approvals: &[ApprovalFacts]) -> Tally {
    let mut sorted: Vec<&ApprovalFacts> = approvals.iter().collect();
    sorted.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    let mut seen = BTreeSet::new();
    let mut out = Tally {
        approved_by: Vec::new(),
        quorum_at: None,
        denied: None,
        records: Vec::new(),
    };
    for approval in sorted {
        let ignored = judge(request, quorum, approval, &seen);
        let user = &approval.approver.username;
        if ignored.is_none() {
            match approval.decision {
                ApprovalDecision::Approve => {
                    seen.insert(user.clone());
                    out.approved_by.push(user.clone());
                    if out.quorum_at.is_none() && count_reached(out.approved_by.len(), quorum) {
                        out.quorum_at = Some(approval.created_at);
                    }
                }
                ApprovalDecision::Deny => {
                    if out.denied.is_none() {
                        out.denied = Some((user.clone(), approval.created_at));
                    }
                }
            }
        }
        out.records.push(ApprovalRecord {
            name: approval.name.clone(),
            approver: user.clone(),
            decision: approval.decision,
            counted: ignored.is_none(),
            ignored: ignored.map(|i| i.as_str().to_owned()).unwrap_or_default(),
            at: approval.created_at,
        });
    }
    out.records = bounded(out.records);
    out
}

/// The most approval records `status.approvals` holds (the CRD's `maxItems`).
pub const MAX_RECORDED_APPROVALS: usize = 64;

/// Keeps the record within the CRD's bound, so a flood of approvals can never make the status
/// unwritable: the ones that counted first, then the earliest others; in time order.
fn bounded(records: Vec<ApprovalRecord>) -> Vec<ApprovalRecord> {
    if records.len() <= MAX_RECORDED_APPROVALS {
        return records;
    }
    let (mut kept, others): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.counted);
    kept.truncate(MAX_RECORDED_APPROVALS);
    let room = MAX_RECORDED_APPROVALS.saturating_sub(kept.len());
    kept.extend(others.into_iter().take(room));
    kept.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
    kept
}

fn count_reached(count: usize, quorum: Quorum<'_>) -> bool {
    usize::try_from(quorum.required).is_ok_and(|required| required > 0 && count >= required)
}

/// Why one approval does not count, or `None` when it does. A Deny from a listed approver always
/// counts (refusing access is never a conflict of interest); an Approve must also come from someone
/// who gains nothing from it, once, before the deadline.
fn judge(
    request: &RequestFacts,
    quorum: Quorum<'_>,
    approval: &ApprovalFacts,
    seen: &BTreeSet<String>,
) -> Option<ApprovalIgnored> {
    if approval.request_uid != request.uid {
        return Some(ApprovalIgnored::OtherRequest);
    }
    let listed = quorum
        .approvers
        .is_some_and(|a| is_listed(a, &approval.approver));
    if !listed {
        return Some(ApprovalIgnored::NotAnApprover);
    }
    match approval.decision {
        // A Deny revokes whenever it comes; the lifecycle decides whether it still matters.
        ApprovalDecision::Deny => None,
        ApprovalDecision::Approve => {
            if quorum.deadline.is_some_and(|d| approval.created_at >= d) {
                Some(ApprovalIgnored::Late)
            } else if approval.approver.username == request.requester.username {
                Some(ApprovalIgnored::Requester)
            } else if is_listed(&request.subjects, &approval.approver) {
                Some(ApprovalIgnored::Subject)
            } else if seen.contains(&approval.approver.username) {
                Some(ApprovalIgnored::Duplicate)
            } else {
                None
            }
        }
    }
}

/// Whether `who` is among `subjects`, by exact username or any exact group.
fn is_listed(subjects: &Subjects, who: &Requester) -> bool {
    subjects.match_requester(who).is_some()
}
