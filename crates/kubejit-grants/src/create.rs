//! `kubejit grant`: policy check, audit record, then one RoleBinding create.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef as K8sRoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kubejit_audit::EventKind;
use kubejit_core::{
    GrantAction, GrantPlan, GrantRequest, NamespaceName, Reason, RoleRef, Subjects, Ttl,
    decide_grant,
};
use kubejit_kube::{GrantView, keys};
use time::OffsetDateTime;

use crate::audit_record::allowed_event;
use crate::{Error, Session, grant_name, policies};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

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
        .record(allowed_event(
            &view,
            &plan,
            EventKind::GrantCreated,
            &session.requester.username,
            now,
        ))
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
    let incident = plan.incident.as_ref().map(|i| i.as_str().to_owned());
    let mut annotations = BTreeMap::from([
        (keys::EXPIRES_AT.to_owned(), plan.expires_at_annotation()),
        (keys::GRANTED_BY.to_owned(), granted_by.to_owned()),
    ]);
    if let Some(incident) = &incident {
        annotations.insert(keys::INCIDENT.to_owned(), incident.clone());
    }
    if let Some(reason) = reason {
        annotations.insert(keys::REASON.to_owned(), reason.to_owned());
    }
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(grant_name(incident.as_deref(), plan.role.name.as_str())),
            namespace: Some(plan.namespace.to_string()),
            labels: Some(BTreeMap::from([(
                keys::MANAGED_BY.to_owned(),
                keys::MANAGER.to_owned(),
            )])),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        role_ref: K8sRoleRef {
            api_group: Some(RBAC_GROUP.to_owned()),
            kind: plan.role.kind.as_str().to_owned(),
            name: plan.role.name.to_string(),
        },
        subjects: Some(subjects(&plan.subjects)),
    }
}

fn subjects(subjects: &Subjects) -> Vec<Subject> {
    let subject = |kind: &str, name: &str| Subject {
        api_group: Some(RBAC_GROUP.to_owned()),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: None,
    };
    let users = subjects.users.iter().map(|u| subject("User", u.as_str()));
    let groups = subjects.groups.iter().map(|g| subject("Group", g.as_str()));
    users.chain(groups).collect()
}
