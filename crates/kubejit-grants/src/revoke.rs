//! `kubejit revoke`: audit record, then a delete conditional on the uid and resourceVersion read.

use kube::api::{DeleteParams, Preconditions};
use kubejit_kube::{Binding, GrantView};
use time::OffsetDateTime;

use crate::name::describe;
use crate::{Error, Session, audit};

/// How a revoke ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    Deleted(GrantView),
    /// Someone (usually the reaper) deleted it between our read and our delete.
    AlreadyGone(GrantView),
}

/// Revokes a grant of kind `B` (`namespace` is ignored for ClusterRoleBindings).
pub async fn revoke<B: Binding>(
    session: &Session,
    namespace: Option<&str>,
    name: &str,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Revoked, Error> {
    let what = describe::<B>(namespace, name);
    let api = B::api(session.client.clone(), namespace);
    let binding = api.get(name).await.map_err(|source| Error::Get {
        what: what.clone(),
        source,
    })?;
    let view = GrantView::of(&binding);
    if view.expires_at.is_none() {
        return Err(Error::NotAGrant { what });
    }
    let event = audit::revoked(&view, &session.requester.username, reason);
    session.record(event, now).await?;
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: view.uid.clone(),
            resource_version: view.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(Revoked::Deleted(view)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Revoked::AlreadyGone(view)),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Changed { what }),
        Err(source) => Err(Error::Delete { what, source }),
    }
}
