//! `kubejit grant`, `grants`, `revoke` and `extend`: grants are made by kubejit's controller under
//! AccessRequests; these commands ask, wait, list and withdraw (docs/grants.md).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::Api;
use kubejit_core::request::{AccessRequestSpec, ApprovalDecision, IdentitySpec};
use kubejit_core::{Reason, RoleKind, RoleRefSpec, SubjectsSpec, Ttl};
use kubejit_grants::{GrantRow, ListScope};
use kubejit_kube::request::{self, AccessRequest, Settled};
use kubejit_kube::{GrantView, OutputFormat};
use time::OffsetDateTime;

use crate::cli::{ExtendArgs, GrantArgs, GrantsArgs, RevokeArgs, RoleKindArg};
use crate::commands::requests::{ended_code, phase_text};
use crate::exit;

/// The reason a request made by `kubejit grant` carries when none is given.
const DEFAULT_REASON: &str = "kubejit grant";

/// Creates an AccessRequest for the subjects and waits (bounded) until the controller made the
/// binding or settled the request otherwise. The records are the controller's.
pub async fn grant(args: GrantArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let namespace = args.namespace.as_str().to_owned();
    let requester = request::identity(&client).await?;
    let object = request::new_request(&namespace, None, args.role.as_str(), spec(&args, requester));
    let created = request::create(&client, &object).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let timeout = humantime::format_duration(args.wait_timeout);
    eprintln!("requested {namespace}/{name}; waiting up to {timeout} for kubejit's controller");
    let wait = request::wait_settled(&client, &namespace, &name, |r| {
        eprintln!("AccessRequest {namespace}/{name}: {}", phase_text(r));
    });
    let Ok(settled) = tokio::time::timeout(args.wait_timeout, wait).await else {
        eprintln!(
            "error: AccessRequest {namespace}/{name} was not settled within {timeout}; it stays open \
             (kubejit requests -n {namespace}; withdraw it with kubectl delete accessrequest {name} -n {namespace})"
        );
        return Ok(ExitCode::from(exit::CREDENTIAL_TIMEOUT));
    };
    match settled? {
        Settled::Active(active) => granted(&client, &namespace, active).await,
        Settled::Ended(ended) => Ok(refused(&ended)),
    }
}

/// Prints the binding an Active request names, as `kubejit grant` always has.
async fn granted(
    client: &kube::Client,
    namespace: &str,
    active: AccessRequest,
) -> anyhow::Result<ExitCode> {
    let binding = active
        .status
        .and_then(|s| s.binding)
        .context("the request is Active but names no binding")?;
    let api: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    let rb = api
        .get(&binding)
        .await
        .with_context(|| format!("failed to read RoleBinding {namespace}/{binding}"))?;
    println!("granted {}", summary(&GrantView::of(&rb)));
    Ok(ExitCode::SUCCESS)
}

/// Says why a request ended without access; a refusal (Denied, TimedOut) is docs/cli.md's "denied".
fn refused(ended: &AccessRequest) -> ExitCode {
    let name = ended.metadata.name.as_deref().unwrap_or_default();
    let namespace = ended.metadata.namespace.as_deref().unwrap_or_default();
    eprintln!(
        "error: grant refused: AccessRequest {namespace}/{name} is {}",
        phase_text(ended)
    );
    ExitCode::from(ended_code(ended))
}

/// The request `kubejit grant` makes: the requester as the apiserver knows them (admission checks
/// it), the subjects, role, TTL, incident and reason as given.
fn spec(args: &GrantArgs, requester: IdentitySpec) -> AccessRequestSpec {
    let named = !args.users.is_empty() || !args.groups.is_empty();
    AccessRequestSpec {
        requester,
        subjects: named.then(|| SubjectsSpec {
            users: args.users.iter().map(|u| u.as_str().to_owned()).collect(),
            groups: args.groups.iter().map(|g| g.as_str().to_owned()).collect(),
        }),
        role: Some(RoleRefSpec {
            kind: match args.role_kind {
                RoleKindArg::Role => RoleKind::Role,
                RoleKindArg::ClusterRole => RoleKind::ClusterRole,
            },
            name: args.role.as_str().to_owned(),
        }),
        certificate_groups: Vec::new(),
        ttl: args.term.ttl.map(Ttl::as_go_duration),
        incident: args.term.incident.as_ref().map(|i| i.as_str().to_owned()),
        reason: args
            .reason
            .as_ref()
            .map_or(DEFAULT_REASON, Reason::as_str)
            .to_owned(),
    }
}

pub async fn list(args: GrantsArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let scope = match (args.all_namespaces, args.namespace) {
        (true, _) => ListScope::All,
        (false, Some(ns)) => ListScope::Namespace(ns.as_str().to_owned()),
        (false, None) => ListScope::Namespace(client.default_namespace().to_owned()),
    };
    let now = OffsetDateTime::now_utc();
    let format = args.output.unwrap_or(OutputFormat::Table);
    let wide = match format {
        OutputFormat::Table => false,
        OutputFormat::Wide => true,
        OutputFormat::Json
        | OutputFormat::Yaml
        | OutputFormat::Markdown
        | OutputFormat::Text
        | OutputFormat::Sarif => {
            let rows: Vec<GrantRow> = kubejit_grants::list(&client, &scope, now).await?;
            print!("{}", kubejit_grants::render_rows(&rows, format)?);
            return Ok(ExitCode::SUCCESS);
        }
    };
    // Tables stream: each page is printed while the next is fetched.
    let mut table = kubejit_grants::TablePages::new(wide);
    let mut out = std::io::stdout().lock();
    let mut written = Ok(());
    kubejit_grants::list_pages(&client, &scope, now, |rows| {
        if written.is_ok() {
            written = out
                .write_all(table.page(&rows).as_bytes())
                .and_then(|()| out.flush());
        }
    })
    .await?;
    written
        .and_then(|()| out.write_all(table.finish().as_bytes()))
        .context("failed to write the grants table")?;
    Ok(ExitCode::SUCCESS)
}

/// Ends a grant early through its AccessRequest: the requester withdraws it (deletes it), anyone
/// else records a denial, which revokes it if the policy lists them as an approver. A binding no
/// request owns (made before AccessRequests, or by an admin) is not kubejit's to remove early.
pub async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let (view, owner) = if args.cluster {
        let api: Api<ClusterRoleBinding> = Api::all(client.clone());
        let crb = api
            .get(&args.grant)
            .await
            .with_context(|| format!("failed to read ClusterRoleBinding {}", args.grant))?;
        (GrantView::of(&crb), None)
    } else {
        let ns = args.namespace.as_ref().map_or_else(
            || client.default_namespace().to_owned(),
            |ns| ns.as_str().to_owned(),
        );
        let api: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
        let rb = api
            .get(&args.grant)
            .await
            .with_context(|| format!("failed to read RoleBinding {ns}/{}", args.grant))?;
        let owner = owning_request(&rb).map(|name| (ns, name));
        (GrantView::of(&rb), owner)
    };
    let Some((namespace, name)) = owner else {
        anyhow::bail!(
            "{} {} was not made through an AccessRequest (a grant from before AccessRequests, or an \
             admin's); it ends at its expires-at, or a cluster admin deletes it",
            view.kind,
            view.name
        );
    };
    let owner = request::get(&client, &namespace, &name).await?;
    let me = request::identity(&client).await?;
    if owner.spec.requester.username == me.username {
        request::withdraw(&client, &owner).await?;
        println!(
            "withdrew AccessRequest {namespace}/{name}; kubejit's controller removes {}",
            summary(&view)
        );
    } else {
        let comment = args.reason.as_ref().map(|r| r.as_str().to_owned());
        request::decide(&client, &namespace, &name, ApprovalDecision::Deny, comment).await?;
        println!(
            "recorded your denial of AccessRequest {namespace}/{name}; it revokes {} if the policy \
             lists you as an approver",
            summary(&view)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The AccessRequest that controls a binding, if any.
fn owning_request(rb: &RoleBinding) -> Option<String> {
    rb.metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.kind == "AccessRequest" && o.controller == Some(true))
        .map(|o| o.name.clone())
}

/// Extending in place would need write access to bindings, which people no longer hold.
pub async fn extend(args: ExtendArgs) -> anyhow::Result<ExitCode> {
    let ttl = args
        .ttl
        .map_or_else(|| "<ttl>".to_owned(), |t| t.to_string());
    anyhow::bail!(
        "grants are no longer extended in place: ask for a new one (kubejit grant -n {} … --ttl {ttl}, \
         or kubejit request); {} ends at its deadline or with kubejit revoke",
        args.namespace,
        args.grant
    )
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
