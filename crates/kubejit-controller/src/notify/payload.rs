//! What a notification says: the JSON body POSTed to a policy's webhook (docs/requests.md,
//! "Notifications").

use kubejit_core::request::{IdentitySpec, Phase, PhaseReason};
use kubejit_core::{RoleRefSpec, SubjectsSpec};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// One AccessRequest phase change, as the reconciler knows it. The notifier adds `kind` and
/// `deliveryId`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub phase: Phase,
    /// `None` on the first phase the controller records.
    pub previous_phase: Option<Phase>,
    /// The stable machine reason of the new phase (`AwaitingApproval`, `DeniedByApprover`, …).
    #[serde(serialize_with = "phase_reason")]
    pub phase_reason: PhaseReason,
    pub request: RequestRef,
    pub requester: IdentitySpec,
    /// Who receives the access (absent: the requester's user alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<SubjectsSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleRefSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificate_groups: Vec<String>,
    pub incident: Option<String>,
    /// The requester's reason.
    pub reason: String,
    /// Usernames whose approvals counted.
    pub approvers: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the phase changed.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// Which AccessRequest (the uid tells a re-created request from the old one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

fn phase_reason<S: Serializer>(reason: &PhaseReason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(reason.as_str())
}

/// The body on the wire: the notification between `kind` and `deliveryId`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    kind: &'static str,
    #[serde(flatten)]
    notification: &'a Notification,
    delivery_id: &'a str,
}

/// The exact bytes sent and signed; serialized once per delivery so every retry carries the same body.
pub(super) fn body(
    notification: &Notification,
    delivery_id: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Body {
        kind: "accessRequest",
        notification,
        delivery_id,
    })
}

#[cfg(test)]
pub(super) fn sample() -> Notification {
    Notification {
        phase: Phase::Pending,
        previous_phase: None,
        phase_reason: PhaseReason::AwaitingApproval,
        request: RequestRef {
            namespace: "payments".into(),
            name: "carol-checkout".into(),
            uid: "6f1c-uid".into(),
        },
        requester: IdentitySpec {
            username: "carol".into(),
            groups: vec!["oncall-checkout".into()],
        },
        subjects: None,
        role: Some(RoleRefSpec {
            kind: kubejit_core::RoleKind::ClusterRole,
            name: "oncall-debug".into(),
        }),
        certificate_groups: vec![],
        incident: Some("INC-12345".into()),
        reason: "checkout latency".into(),
        approvers: vec![],
        expires_at: None,
        time: time::macros::datetime!(2030-01-02 10:00:00 UTC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_every_documented_field() {
        let body: serde_json::Value =
            serde_json::from_slice(&body(&sample(), "d-1").unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "kind": "accessRequest", "phase": "Pending", "previousPhase": null,
                "phaseReason": "AwaitingApproval",
                "request": {"namespace": "payments", "name": "carol-checkout", "uid": "6f1c-uid"},
                "requester": {"username": "carol", "groups": ["oncall-checkout"]},
                "role": {"kind": "ClusterRole", "name": "oncall-debug"},
                "incident": "INC-12345", "reason": "checkout latency", "approvers": [],
                "expiresAt": null, "time": "2030-01-02T10:00:00Z", "deliveryId": "d-1"
            })
        );
    }
}
