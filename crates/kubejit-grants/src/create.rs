//! `kubejit grant`: policy check, audit record, then one RoleBinding create.

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, PostParams};
use kubejit_core::{
    GrantAction, GrantPlan, GrantRequest, NamespaceName, Reason, RoleRef, Subjects, Ttl,
    decide_grant,
};
use kubejit_kube::{GrantBinding, GrantView};
use time::OffsetDateTime;

use crate::audit::{self, Change};
use crate::{Error, Session, grant_name, policies};

/// What the user asked for, already validated by the CLI.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub namespace: NamespaceName,
    pub role: RoleRef,
    pub subjects: Subjects,
    /// `None`: the policy rule's `defaultTTL`.
    pub ttl: Option<Ttl>,
    pub incident: Option<String>,
    pub reason: Option<Reason>,
}

/// Checks policy, records `grantCreated`, creates the binding. A refusal writes nothing.
pub async fn create(
    session: &Session,
    grant: &NewGrant,
    now: OffsetDateTime,
) -> Result<GrantView, Error> {
    let policies = policies::load(&session.client).await?;
    let request = GrantRequest {
        requester: session.requester.clone(),
        namespace: grant.namespace.clone(),
        role: grant.role.clone(),
        subjects: grant.subjects.clone(),
        ttl: grant.ttl,
        incident: grant.incident.clone(),
        action: GrantAction::Create,
    };
    let plan = decide_grant(&request, &policies, now).map_err(Error::Refused)?;
    let reason = grant.reason.as_ref().map(Reason::as_str);
    let binding = build(&plan, &session.requester.username, reason);
    let view = GrantView::of(&binding);
    session
        .record(
            audit::allowed(&view, &plan, &session.requester.username, Change::Created),
            now,
        )
        .await?;
    let api: Api<RoleBinding> = Api::namespaced(session.client.clone(), plan.namespace.as_str());
    let created = api
        .create(&PostParams::default(), &binding)
        .await
        .map_err(|source| Error::Create {
            what: format!("RoleBinding {}/{}", plan.namespace, view.name),
            source,
        })?;
    Ok(GrantView::of(&created))
}

/// The RoleBinding for an allowed plan: managed-by label, expiry, incident, granter and reason.
pub(crate) fn build(plan: &GrantPlan, granted_by: &str, reason: Option<&str>) -> RoleBinding {
    let incident = plan.incident.as_ref().map(|i| i.as_str());
    kubejit_kube::grant_binding(&GrantBinding {
        name: grant_name(incident, plan.role.name.as_str()),
        namespace: &plan.namespace,
        role: &plan.role,
        subjects: &plan.subjects,
        expires_at: plan.expires_at,
        incident,
        granted_by,
        reason,
    })
}
