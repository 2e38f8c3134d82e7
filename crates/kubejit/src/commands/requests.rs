//! `kubejit request`, `requests`, `withdraw`, `approve` and `deny`: ask for access through an
//! AccessRequest (and wait for it), list or watch them, withdraw one, and record a decision as an
//! AccessApproval.
//!
//! The requester is whoever the apiserver says you are (SelfSubjectReview), which is also what
//! admission checks; the decision is the controller's, under AccessPolicy (docs/requests.md).

use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use kubejit_core::request::Phase;
use kubejit_core::request::{AccessRequestSpec, ApprovalDecision, CERTIFICATE_REQUEST_NAMESPACE};
use kubejit_core::{
    GroupName, NamespaceName, ObjectName, Reason, RoleKind, RoleRefSpec, SubjectsSpec, UserName,
};
use kubejit_kube::OutputFormat;
use kubejit_kube::request::{self, AccessRequest, Settled};

use crate::cli::{ClientArgs, RoleKindArg};
use crate::exit;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("access").required(true).args(["role", "certificate_groups"])))]
pub struct RequestArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Namespace the access is for (default: the kubeconfig context's; certificate requests always
    /// go to kubejit-system).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: Option<NamespaceName>,
    /// Role to ask for, bound in the namespace.
    #[arg(long, env = "KUBEJIT_REQUEST_ROLE", value_parser = parse_role)]
    pub role: Option<ObjectName>,
    /// Whether --role names a namespaced Role or a ClusterRole.
    #[arg(long, env = "KUBEJIT_REQUEST_ROLE_KIND", value_enum, default_value_t = RoleKindArg::Role)]
    pub role_kind: RoleKindArg,
    /// Ask for a short-lived client certificate carrying this group instead (repeat for several).
    #[arg(long = "certificate-group", env = "KUBEJIT_REQUEST_CERTIFICATE_GROUP", value_delimiter = ',', value_parser = GroupName::parse)]
    pub certificate_groups: Vec<GroupName>,
    /// Group the access is for (repeat for several; default: you alone).
    #[arg(short, long = "group", env = "KUBEJIT_REQUEST_GROUP", value_delimiter = ',', value_parser = GroupName::parse)]
    pub groups: Vec<GroupName>,
    /// User the access is for (repeat for several; default: you alone). Not split on commas.
    #[arg(short, long = "user", env = "KUBEJIT_REQUEST_USER", value_parser = UserName::parse)]
    pub users: Vec<UserName>,
    #[command(flatten)]
    pub term: crate::cli::TermArgs,
    /// Why the access is needed (mandatory: approvers and auditors read it).
    #[arg(long, env = "KUBEJIT_REASON", value_parser = Reason::parse)]
    pub reason: Reason,
    /// Name of the AccessRequest (default: generated from the role).
    #[arg(long, env = "KUBEJIT_REQUEST_NAME", value_parser = parse_name)]
    pub name: Option<ObjectName>,
    /// Wait until the request is Active (exit 0) or refused (Denied or TimedOut: exit 4); progress
    /// goes to stderr.
    #[arg(long, env = "KUBEJIT_WAIT")]
    pub wait: bool,
    /// With --wait: how long to wait for kubejit's controller and approvers (exit 3 after it; the
    /// request stays open).
    // Not `requires = "wait"`: the variable is shared with `kubejit grant`, and an exported
    // KUBEJIT_WAIT_TIMEOUT must not turn a plain `kubejit request` into a usage error.
    #[arg(long, env = "KUBEJIT_WAIT_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub wait_timeout: std::time::Duration,
}

fn parse_role(s: &str) -> Result<ObjectName, kubejit_core::NameError> {
    ObjectName::parse_as("role name", s)
}

fn parse_name(s: &str) -> Result<ObjectName, kubejit_core::NameError> {
    ObjectName::parse_as("request name", s)
}

#[derive(Debug, Args)]
pub struct RequestsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Namespace to list (default: the kubeconfig context's namespace).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", conflicts_with = "all_namespaces", value_parser = NamespaceName::parse)]
    pub namespace: Option<NamespaceName>,
    /// Every namespace.
    #[arg(short = 'A', long, env = "KUBEJIT_ALL_NAMESPACES")]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short, long, env = "KUBEJIT_OUTPUT", default_value = "table",
          value_parser = crate::cli::output_formats(&request::REQUESTS_FORMATS))]
    pub output: OutputFormat,
    /// After the list, print a row (with -o json: a line) whenever a request changes, until Ctrl-C.
    #[arg(short, long, env = "KUBEJIT_WATCH")]
    pub watch: bool,
}

/// The one AccessRequest a command acts on (`withdraw`, `approve`, `deny`).
#[derive(Debug, Args)]
pub struct RequestRefArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The AccessRequest's name (see `kubejit requests`).
    #[arg(env = "KUBEJIT_REQUEST", value_parser = parse_name)]
    pub request: ObjectName,
    /// Namespace of the request (default: the kubeconfig context's namespace).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: Option<NamespaceName>,
}

impl RequestRefArgs {
    /// The request's namespace: as given, else the kubeconfig context's.
    fn namespace_in(&self, client: &kube::Client) -> String {
        self.namespace.as_ref().map_or_else(
            || client.default_namespace().to_owned(),
            |ns| ns.as_str().to_owned(),
        )
    }
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    pub target: RequestRefArgs,
    /// Why, for the requester and the record.
    #[arg(long, env = "KUBEJIT_COMMENT", value_parser = Reason::parse)]
    pub comment: Option<Reason>,
}

/// `kubejit approve` / `kubejit deny`: whether the decision counts (listed approver, not the
/// requester, not a subject) is the controller's call under the policy.
pub async fn decide(args: DecideArgs, decision: ApprovalDecision) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.target.client.options()).await?;
    let namespace = args.target.namespace_in(&client);
    let comment = args.comment.as_ref().map(|c| c.as_str().to_owned());
    let approval = request::decide(
        &client,
        &namespace,
        args.target.request.as_str(),
        decision,
        comment,
    )
    .await?;
    let verb = match decision {
        ApprovalDecision::Approve => "approved",
        ApprovalDecision::Deny => "denied",
    };
    println!(
        "{verb} {namespace}/{} as {} (recorded as AccessApproval {}); the policy decides whether it counts",
        args.target.request,
        approval.spec.approver.username,
        approval.metadata.name.as_deref().unwrap_or_default(),
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn request(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let requester = request::identity(&client).await?;
    let certificate = !args.certificate_groups.is_empty();
    let namespace = match (&args.namespace, certificate) {
        (_, true) => CERTIFICATE_REQUEST_NAMESPACE.to_owned(),
        (Some(ns), false) => ns.as_str().to_owned(),
        (None, false) => client.default_namespace().to_owned(),
    };
    let named = !args.users.is_empty() || !args.groups.is_empty();
    let spec = AccessRequestSpec {
        requester,
        subjects: named.then(|| SubjectsSpec {
            users: args.users.iter().map(|u| u.as_str().to_owned()).collect(),
            groups: args.groups.iter().map(|g| g.as_str().to_owned()).collect(),
        }),
        role: args.role.as_ref().map(|name| RoleRefSpec {
            kind: match args.role_kind {
                RoleKindArg::Role => RoleKind::Role,
                RoleKindArg::ClusterRole => RoleKind::ClusterRole,
            },
            name: name.as_str().to_owned(),
        }),
        certificate_groups: args
            .certificate_groups
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        ttl: args.term.ttl.map(kubejit_core::Ttl::as_go_duration),
        incident: args.term.incident.as_ref().map(|i| i.as_str().to_owned()),
        reason: args.reason.as_str().to_owned(),
    };
    let prefix = args.role.as_ref().map_or("certificate", ObjectName::as_str);
    let object = request::new_request(
        &namespace,
        args.name.as_ref().map(ObjectName::as_str),
        prefix,
        spec,
    );
    let created = request::create(&client, &object).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    println!(
        "requested {namespace}/{name} as {}: waiting for kubejit's controller and, if the policy says \
         so, approvers (kubejit requests -n {namespace})",
        created.spec.requester.username,
    );
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    wait(&client, &namespace, &name, args.wait_timeout).await
}

/// `kubejit request --wait`: follows the request as `kubejit grant` does, with the same exit codes.
async fn wait(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let shown = humantime::format_duration(timeout);
    eprintln!("waiting up to {shown} for AccessRequest {namespace}/{name} to be settled");
    let follow = request::wait_settled(client, namespace, name, |r| {
        eprintln!("AccessRequest {namespace}/{name}: {}", phase_text(r));
    });
    let Ok(settled) = tokio::time::timeout(timeout, follow).await else {
        eprintln!(
            "error: AccessRequest {namespace}/{name} was not settled within {shown}; it stays open \
             (kubejit requests -n {namespace}; kubejit withdraw {name} -n {namespace})"
        );
        return Ok(ExitCode::from(exit::CREDENTIAL_TIMEOUT));
    };
    Ok(match settled? {
        Settled::Active(active) => {
            println!("{}", active_text(&active));
            ExitCode::SUCCESS
        }
        Settled::Ended(ended) => {
            eprintln!(
                "error: AccessRequest {namespace}/{name} is {}",
                phase_text(&ended)
            );
            ExitCode::from(ended_code(&ended))
        }
    })
}

/// What an Active request gives, from its own status (a requester may not read RoleBindings).
fn active_text(active: &AccessRequest) -> String {
    let status = active.status.clone().unwrap_or_default();
    let namespace = active.metadata.namespace.as_deref().unwrap_or_default();
    let until = status
        .expires_at
        .map_or_else(|| "?".to_owned(), kubejit_core::format_expires_at);
    let access = match (&active.spec.role, &status.binding) {
        (Some(role), Some(binding)) => format!(
            "{}/{} in {namespace} (RoleBinding {binding})",
            role.kind.as_str(),
            role.name
        ),
        (Some(role), None) => format!("{}/{} in {namespace}", role.kind.as_str(), role.name),
        (None, _) => format!(
            "certificates for {}",
            active.spec.certificate_groups.join(",")
        ),
    };
    kubejit_core::text::escape(&format!("granted {access} until {until}")).into_owned()
}

/// A refusal (Denied, TimedOut) is docs/cli.md's "denied", as for `kubejit grant`; a request that
/// ended otherwise (withdrawn, revoked or expired meanwhile) is a failure.
pub(crate) fn ended_code(ended: &AccessRequest) -> u8 {
    match ended.status.as_ref().and_then(|s| s.phase) {
        Some(Phase::Denied | Phase::TimedOut) => exit::CREDENTIAL_DENIED,
        Some(
            Phase::Pending
            | Phase::Approved
            | Phase::Active
            | Phase::Expired
            | Phase::Withdrawn
            | Phase::Revoked,
        )
        | None => exit::FAILURE,
    }
}

/// "Denied (NotAllowed): <message>", escaped for the terminal.
pub(crate) fn phase_text(request: &AccessRequest) -> String {
    let status = request.status.clone().unwrap_or_default();
    let mut text = status
        .phase
        .map_or("not yet seen by the controller", Phase::as_str)
        .to_owned();
    if let Some(reason) = status.reason {
        text.push_str(&format!(" ({})", kubejit_core::text::escape(&reason)));
    }
    if let Some(message) = status.message {
        text.push_str(&format!(": {}", kubejit_core::text::escape(&message)));
    }
    text
}

/// `kubejit withdraw`: deletes the request (on its uid); the controller revokes what it granted,
/// records `accessWithdrawn` and lets it go. Admission lets only the requester do it.
pub async fn withdraw(args: RequestRefArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let namespace = args.namespace_in(&client);
    let found = request::get(&client, &namespace, args.request.as_str()).await?;
    let was = phase_text(&found);
    request::withdraw(&client, &found).await?;
    println!(
        "withdrew AccessRequest {namespace}/{} (it was {was}); kubejit's controller removes any access \
         it granted and records accessWithdrawn",
        args.request
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn list(args: RequestsArgs) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let namespace = match (args.all_namespaces, &args.namespace) {
        (true, _) => None,
        (false, Some(ns)) => Some(ns.as_str().to_owned()),
        (false, None) => Some(client.default_namespace().to_owned()),
    };
    if args.watch {
        return watch(&client, namespace.as_deref(), &args).await;
    }
    let requests = request::list(&client, namespace.as_deref()).await?;
    print!(
        "{}",
        request::render_requests(&requests, args.output, args.all_namespaces)?
    );
    Ok(ExitCode::SUCCESS)
}

/// `kubejit requests --watch`: the list, then what changes, until Ctrl-C or until stdout fails (the
/// reader went away).
async fn watch(
    client: &kube::Client,
    namespace: Option<&str>,
    args: &RequestsArgs,
) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut printer = request::WatchPrinter::new(args.output, args.all_namespaces)?;
    let mut failed: Option<anyhow::Error> = None;
    request::watch(client, namespace, |batch| {
        let printed = printer
            .print(batch)
            .map_err(anyhow::Error::from)
            .and_then(|text| {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                // A reader of a pipe sees each change as it happens.
                out.flush()?;
                Ok(())
            });
        match printed {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                failed = Some(error);
                ControlFlow::Break(())
            }
        }
    })
    .await?;
    match failed {
        Some(error) => Err(error.context("failed to print the watched AccessRequests")),
        None => Ok(ExitCode::SUCCESS),
    }
}
