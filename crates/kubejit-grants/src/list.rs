//! `kubejit grants`: every binding that carries the expires-at annotation, with its time left.

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::ListParams;
use kubejit_core::{ExpiryDecision, decide_expiry};
use kubejit_kube::{Binding, GrantView, keys};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;

/// Which bindings to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// RoleBindings in one namespace.
    Namespace(String),
    /// RoleBindings in every namespace and ClusterRoleBindings.
    All,
}

/// Where a grant stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GrantStatus {
    Active,
    /// Past its deadline but still present: the reaper is down or behind.
    Expired,
    /// The annotation cannot be parsed: the reaper never deletes it.
    Malformed,
}

/// One listed grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRow {
    #[serde(flatten)]
    pub grant: GrantView,
    pub status: GrantStatus,
    /// Positive: seconds left; negative: seconds overdue; absent when malformed.
    pub seconds_left: Option<i64>,
}

impl GrantRow {
    /// Classifies `grant` at `now` with the same decision the reaper uses.
    pub fn at(grant: GrantView, now: OffsetDateTime) -> Self {
        let annotations = grant
            .expires_at
            .iter()
            .map(|v| (keys::EXPIRES_AT.to_owned(), v.clone()))
            .collect();
        let (status, seconds_left) = match decide_expiry(&annotations, now) {
            ExpiryDecision::Keep { deadline, .. } => {
                (GrantStatus::Active, Some((deadline - now).whole_seconds()))
            }
            ExpiryDecision::Delete { deadline, .. } => {
                (GrantStatus::Expired, Some((deadline - now).whole_seconds()))
            }
            ExpiryDecision::Malformed { .. } | ExpiryDecision::NotManaged => {
                (GrantStatus::Malformed, None)
            }
        };
        Self {
            grant,
            status,
            seconds_left,
        }
    }
}

/// Bindings asked of the apiserver per request: the first page is shown while the next is fetched,
/// and memory holds one page, not every binding of the cluster.
pub const PAGE_SIZE: u32 = 500;

/// Lists grants: RoleBindings before ClusterRoleBindings, in the apiserver's order (by namespace,
/// then name), each page sorted by namespace and name.
pub async fn list(
    client: &kube::Client,
    scope: &ListScope,
    now: OffsetDateTime,
) -> Result<Vec<GrantRow>, Error> {
    let mut rows = Vec::new();
    list_pages(client, scope, now, |page| rows.extend(page)).await?;
    Ok(rows)
}

/// Hands each page of grants to `each` as soon as it arrives, in [`list`]'s order.
pub async fn list_pages(
    client: &kube::Client,
    scope: &ListScope,
    now: OffsetDateTime,
    mut each: impl FnMut(Vec<GrantRow>),
) -> Result<(), Error> {
    match scope {
        ListScope::Namespace(ns) => pages_of::<RoleBinding>(client, Some(ns), now, &mut each).await,
        ListScope::All => {
            pages_of::<RoleBinding>(client, None, now, &mut each).await?;
            pages_of::<ClusterRoleBinding>(client, None, now, &mut each).await
        }
    }
}

async fn pages_of<B: Binding>(
    client: &kube::Client,
    namespace: Option<&str>,
    now: OffsetDateTime,
    each: &mut impl FnMut(Vec<GrantRow>),
) -> Result<(), Error> {
    let api = B::api(client.clone(), namespace);
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let list = api.list(&params).await.map_err(Error::List)?;
        let mut rows: Vec<GrantRow> = list
            .items
            .iter()
            .map(GrantView::of)
            .filter(|v| v.expires_at.is_some())
            .map(|v| GrantRow::at(v, now))
            .collect();
        rows.sort_by(|a, b| {
            (&a.grant.namespace, &a.grant.name).cmp(&(&b.grant.namespace, &b.grant.name))
        });
        each(rows);
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            Some(_) | None => return Ok(()),
        }
    }
}
