//! `kubejit extend`: re-checks the grant against policy and replaces it conditionally.

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, PostParams};
use kubejit_core::{
    GrantAction, GrantRequest, GroupName, NamespaceName, ObjectName, RoleKind, RoleRef, Subjects,
    Ttl, UserName, decide_grant, parse_expires_at,
};
use kubejit_kube::{GrantView, keys};
use time::OffsetDateTime;

use crate::audit::{self, Change};
use crate::name::describe;
use crate::{Error, Session, policies};

/// Moves a RoleBinding grant's deadline to `now + ttl`, within the policy cap (the same rule
/// `grant` uses, re-checked with the binding's role, subjects and incident).
pub async fn extend(
    session: &Session,
    namespace: &NamespaceName,
    name: &str,
    ttl: Option<Ttl>,
    now: OffsetDateTime,
) -> Result<GrantView, Error> {
    let what = describe::<RoleBinding>(Some(namespace.as_str()), name);
    let api: Api<RoleBinding> = Api::namespaced(session.client.clone(), namespace.as_str());
    let mut binding = api.get(name).await.map_err(|source| Error::Get {
        what: what.clone(),
        source,
    })?;
    let view = GrantView::of(&binding);
    let request = request_for(session, namespace, &view, ttl, &what)?;
    let policies = policies::load(&session.client).await?;
    let plan = decide_grant(&request, &policies, now).map_err(Error::Refused)?;
    let annotations = binding.metadata.annotations.get_or_insert_default();
    annotations.insert(keys::EXPIRES_AT.to_owned(), plan.expires_at_annotation());
    annotations.insert(
        keys::GRANTED_BY.to_owned(),
        session.requester.username.clone(),
    );
    binding.metadata.managed_fields = None;
    let extended = GrantView::of(&binding);
    let user = &session.requester.username;
    session
        .record(
            audit::allowed(&extended, &plan, user, Change::Extended),
            now,
        )
        .await?;
    // `binding` still carries the resourceVersion we read: the replace is conditional.
    match api.replace(name, &PostParams::default(), &binding).await {
        Ok(updated) => Ok(GrantView::of(&updated)),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Changed { what }),
        Err(source) => Err(Error::Update { what, source }),
    }
}

/// The extend request for an existing grant: its own role, subjects and incident.
fn request_for(
    session: &Session,
    namespace: &NamespaceName,
    view: &GrantView,
    ttl: Option<Ttl>,
    what: &str,
) -> Result<GrantRequest, Error> {
    let Some(value) = view.expires_at.as_deref() else {
        return Err(Error::NotAGrant {
            what: what.to_owned(),
        });
    };
    let malformed = |reason: String| Error::Malformed {
        what: what.to_owned(),
        reason,
    };
    let current_deadline = parse_expires_at(value).map_err(|e| malformed(e.to_string()))?;
    Ok(GrantRequest {
        requester: session.requester.clone(),
        namespace: namespace.clone(),
        role: role_of(view).map_err(malformed)?,
        subjects: subjects_of(view, what)?,
        ttl,
        incident: view.incident.clone(),
        action: GrantAction::Extend { current_deadline },
    })
}

fn role_of(view: &GrantView) -> Result<RoleRef, String> {
    let (kind, name) = view.role.split_once('/').unwrap_or_default();
    let kind = match kind {
        "Role" => RoleKind::Role,
        "ClusterRole" => RoleKind::ClusterRole,
        other => return Err(format!("roleRef kind {other:?} is not Role or ClusterRole")),
    };
    let name = ObjectName::parse_as("role name", name).map_err(|e| e.to_string())?;
    Ok(RoleRef { kind, name })
}

fn subjects_of(view: &GrantView, what: &str) -> Result<Subjects, Error> {
    let uncheckable = |subject: &str| Error::UncheckableSubject {
        what: what.to_owned(),
        subject: subject.to_owned(),
    };
    if let Some(sa) = view.service_accounts.first() {
        return Err(uncheckable(sa));
    }
    let mut subjects = Subjects::default();
    for u in &view.users {
        subjects
            .users
            .insert(UserName::parse(u).map_err(|_| uncheckable(u))?);
    }
    for g in &view.groups {
        subjects
            .groups
            .insert(GroupName::parse(g).map_err(|_| uncheckable(g))?);
    }
    Ok(subjects)
}
