//! `kubejit grant`, `grants`, `revoke` and `extend`: thin wrappers over kubejit-grants.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kubejit_audit::AuditSink;
use kubejit_core::{Reason, RoleKind, RoleRef, Subjects};
use kubejit_grants::{GrantRow, ListScope, NewGrant, Revoked, Session};
use kubejit_kube::{AuditGuard, GrantView, OutputFormat};
use time::OffsetDateTime;

use crate::cli::{ExtendArgs, GrantArgs, GrantsArgs, RevokeArgs, RoleKindArg, SessionArgs};

/// The CLI records to `--audit-log` when given; otherwise the controller's trail is the record.
/// The guard seals the audit file (and anchors its last checkpoint) when the command is done.
async fn session(args: &SessionArgs) -> anyhow::Result<(Session, Option<AuditGuard>)> {
    let audit = &args.audit;
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let (sink, guard) = match audit.audit_log {
        Some(_) => {
            let (auditor, guard) =
                kubejit_kube::open_audit(&audit.options()?, client.clone()).await?;
            (Some(auditor as Arc<dyn AuditSink>), Some(guard))
        }
        None => (None, None),
    };
    Ok((Session::connect(client, sink).await?, guard))
}

async fn close(guard: Option<AuditGuard>) {
    if let Some(guard) = guard {
        guard.close().await;
    }
}

pub async fn grant(args: GrantArgs) -> anyhow::Result<ExitCode> {
    let (session, guard) = session(&args.session).await?;
    let kind = match args.role_kind {
        RoleKindArg::Role => RoleKind::Role,
        RoleKindArg::ClusterRole => RoleKind::ClusterRole,
    };
    let grant = NewGrant {
        namespace: args.namespace,
        role: RoleRef {
            kind,
            name: args.role,
        },
        subjects: Subjects {
            users: args.users.into_iter().collect(),
            groups: args.groups.into_iter().collect(),
        },
        ttl: args.term.ttl,
        incident: args.term.incident,
        reason: args.reason,
    };
    let created = kubejit_grants::create(&session, &grant, OffsetDateTime::now_utc()).await;
    close(guard).await;
    println!("granted {}", summary(&created?));
    Ok(ExitCode::SUCCESS)
}

pub async fn list(args: GrantsArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let scope = match (args.all_namespaces, args.namespace) {
        (true, _) => ListScope::All,
        (false, Some(ns)) => ListScope::Namespace(ns.as_str().to_owned()),
        (false, None) => ListScope::Namespace(client.default_namespace().to_owned()),
    };
    let rows: Vec<GrantRow> =
        kubejit_grants::list(&client, &scope, OffsetDateTime::now_utc()).await?;
    let format = args.output.unwrap_or(OutputFormat::Table);
    print!("{}", kubejit_grants::render_rows(&rows, format)?);
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let (session, guard) = session(&args.session).await?;
    let now = OffsetDateTime::now_utc();
    let reason = args.reason.as_ref().map(Reason::as_str);
    let revoked = if args.cluster {
        kubejit_grants::revoke::<ClusterRoleBinding>(&session, None, &args.grant, reason, now).await
    } else {
        let ns = args.namespace.as_ref().map_or_else(
            || session.client.default_namespace().to_owned(),
            |ns| ns.as_str().to_owned(),
        );
        kubejit_grants::revoke::<RoleBinding>(&session, Some(&ns), &args.grant, reason, now).await
    };
    close(guard).await;
    let revoked = revoked.with_context(|| format!("failed to revoke {}", args.grant))?;
    match revoked {
        Revoked::Deleted(view) => println!("revoked {}", summary(&view)),
        Revoked::AlreadyGone(view) => println!("already gone: {}", summary(&view)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn extend(args: ExtendArgs) -> anyhow::Result<ExitCode> {
    let (session, guard) = session(&args.session).await?;
    let now = OffsetDateTime::now_utc();
    let extended =
        kubejit_grants::extend(&session, &args.namespace, &args.grant, args.ttl, now).await;
    close(guard).await;
    println!("extended {}", summary(&extended?));
    Ok(ExitCode::SUCCESS)
}

fn summary(view: &GrantView) -> String {
    let place = view
        .namespace
        .as_deref()
        .map_or_else(|| "cluster-wide".to_owned(), |ns| format!("in {ns}"));
    format!(
        "{} {place} to {} until {} ({} {})",
        view.role,
        view.subjects_text(),
        view.expires_at.as_deref().unwrap_or("?"),
        view.kind,
        view.name
    )
}
