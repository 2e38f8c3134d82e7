//! `kubejit request`, `requests`, `approve` and `deny`: ask for access through an AccessRequest, list
//! them, and record a decision as an AccessApproval.
//!
//! The requester is whoever the apiserver says you are (SelfSubjectReview), which is also what
//! admission checks; the decision is the controller's, under AccessPolicy (docs/requests.md).

use std::process::ExitCode;

use clap::{ArgGroup, Args};
use kubejit_core::request::{AccessRequestSpec, ApprovalDecision, CERTIFICATE_REQUEST_NAMESPACE};
use kubejit_core::{
    GroupName, NamespaceName, ObjectName, Reason, RoleKind, RoleRefSpec, SubjectsSpec, UserName,
};
use kubejit_kube::OutputFormat;
use kubejit_kube::request;

use crate::cli::{ClientArgs, RoleKindArg};

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
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The AccessRequest's name (see `kubejit requests`).
    #[arg(env = "KUBEJIT_REQUEST", value_parser = parse_name)]
    pub request: ObjectName,
    /// Namespace of the request (default: the kubeconfig context's namespace).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: Option<NamespaceName>,
    /// Why, for the requester and the record.
    #[arg(long, env = "KUBEJIT_COMMENT", value_parser = Reason::parse)]
    pub comment: Option<Reason>,
}

/// `kubejit approve` / `kubejit deny`: whether the decision counts (listed approver, not the
/// requester, not a subject) is the controller's call under the policy.
pub async fn decide(args: DecideArgs, decision: ApprovalDecision) -> anyhow::Result<ExitCode> {
    let client = kubejit_kube::build_client(&args.client.options()).await?;
    let namespace = args.namespace.as_ref().map_or_else(
        || client.default_namespace().to_owned(),
        |ns| ns.as_str().to_owned(),
    );
    let comment = args.comment.as_ref().map(|c| c.as_str().to_owned());
    let approval = request::decide(
        &client,
        &namespace,
        args.request.as_str(),
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
        args.request,
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
    println!(
        "requested {}/{} as {}: waiting for kubejit's controller and, if the policy says so, approvers \
         (kubejit requests -n {namespace})",
        namespace,
        created.metadata.name.as_deref().unwrap_or_default(),
        created.spec.requester.username,
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
    let requests = request::list(&client, namespace.as_deref()).await?;
    print!(
        "{}",
        request::render_requests(&requests, args.output, args.all_namespaces)?
    );
    Ok(ExitCode::SUCCESS)
}
