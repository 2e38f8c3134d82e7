//! clap types for every subcommand; values with a syntax of their own are parsed here, once.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kubejit_core::{GroupName, NamespaceName, ObjectName, Reason, Ttl, UserName};
use kubejit_kube::OutputFormat;

/// `-o` that accepts exactly `formats`: every command shares kubejit-kube's [`OutputFormat`] and offers
/// the subset its renderer produces.
pub fn output_formats(formats: &[OutputFormat]) -> impl TypedValueParser<Value = OutputFormat> {
    let names = formats.iter().map(|f| PossibleValue::new(f.name()));
    PossibleValuesParser::new(names).try_map(|name| name.parse::<OutputFormat>())
}

/// What `kubejit audit report` prints.
pub const REPORT_FORMATS: [OutputFormat; 3] = [
    OutputFormat::Table,
    OutputFormat::Json,
    OutputFormat::Markdown,
];

/// What `kubejit sandbox` prints: a walkthrough (text) or one JSON object for scripts.
#[cfg(feature = "sandbox")]
pub const SANDBOX_FORMATS: [OutputFormat; 2] = [OutputFormat::Text, OutputFormat::Json];

#[derive(Debug, Parser)]
#[command(
    name = "kubejit",
    version,
    about = "Just-in-time, least-privilege, short-lived, audited debugging access to Kubernetes",
    long_about = "kubejit gives on-call engineers exactly the access an incident needs, for exactly as \
long as it needs it, and records every step.\n\nAuthenticate strongly, authorize narrowly, expire \
automatically, log everything.\n\nInstalled (or symlinked) as `kubectl-jit` on PATH, it also works as `kubectl jit`.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Shared with the thin `kubejit-credential` binary, which must parse exactly as `kubejit credential`.
pub use kubejit_credential::args::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print Kubernetes manifests kubejit relies on (pipe them to `kubectl apply -f -`).
    #[command(subcommand)]
    Manifests(ManifestsCommand),
    /// Run a local sandbox: a real control plane with an on-call Role to try kubejit on.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Run kubejit's controllers (CSR approver, grant expiry, AccessRequests) with leader election and metrics.
    Controller(Box<ControllerArgs>),
    /// Run the just-in-time SSH gateway: OpenSSH user certificates in, Kubernetes access as the
    /// person out, cut when the access ends (docs/gateway.md).
    Gateway(Box<GatewayArgs>),
    /// Verify the tamper-evident audit trail, or report who did what under an incident.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Replay an SSH gateway session recording, or check one against its audit record's SHA-256.
    #[command(subcommand)]
    Recording(RecordingCommand),
    /// Grant a role to users or groups for a limited time: an AccessRequest for them, waited on
    /// until kubejit's controller has made the RoleBinding (which deletes itself) or refused.
    Grant(Box<GrantArgs>),
    /// List grants with their subjects, role, incident and time left.
    Grants(GrantsArgs),
    /// End a grant early: withdraw its AccessRequest (yours) or record a denial (as an approver).
    Revoke(Box<RevokeArgs>),
    /// Grants are no longer extended in place; this says how to ask for a new one.
    Extend(Box<ExtendArgs>),
    /// Ask for access through an AccessRequest: a role in a namespace, or certificate groups.
    Request(Box<crate::commands::requests::RequestArgs>),
    /// List AccessRequests with their requester, access, TTL, incident and phase.
    Requests(crate::commands::requests::RequestsArgs),
    /// Withdraw your AccessRequest (only its requester may): kubejit's controller removes the access it gave.
    Withdraw(crate::commands::requests::RequestRefArgs),
    /// Approve an AccessRequest (recorded as an AccessApproval in your name).
    Approve(crate::commands::requests::DecideArgs),
    /// Deny an AccessRequest, or revoke one already approved (an AccessApproval in your name).
    Deny(crate::commands::requests::DecideArgs),
    /// Print a shell completion script, e.g. `kubejit completions bash > /etc/bash_completion.d/kubejit`.
    Completions(CompletionsArgs),
    /// kubectl exec credential plugin: a short-lived client certificate for the requested groups.
    Credential(kubejit_credential::args::CredentialArgs),
    /// Edit kubeconfig files (add the exec-plugin user so nobody hand-writes it).
    #[command(subcommand)]
    Kubeconfig(crate::commands::kubeconfig::KubeconfigCommand),
    /// Hardware-backed keys: create or show a non-extractable key inside a PKCS#11 token.
    #[command(subcommand)]
    Keys(crate::commands::keys::KeysCommand),
    /// Local mTLS proxy for a token-held key: kubectl → 127.0.0.1 (local CA) → apiserver (token key).
    Proxy(Box<crate::commands::proxy::ProxyArgs>),
    /// Check the cluster (or manifests, -f) for standing debug access and paths around kubejit.
    Lint(Box<crate::commands::lint::LintArgs>),
}

/// Which cluster and identity to talk to; defaults follow kubectl ($KUBECONFIG, in-cluster).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Path to the kubeconfig file.
    #[arg(long, env = "KUBEJIT_KUBECONFIG", global = true)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, env = "KUBEJIT_CONTEXT", global = true)]
    pub context: Option<String>,
}

impl ClientArgs {
    pub fn options(&self) -> kubejit_kube::ClientOptions {
        kubejit_kube::ClientOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

impl AuditArgs {
    /// The audit front door's options; an audit log needs its signing key.
    pub fn options(&self) -> anyhow::Result<kubejit_kube::AuditOptions> {
        let file = match &self.audit_log {
            None => None,
            Some(log) => {
                let signing_key = self.audit_signing_key.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "--audit-log needs --audit-signing-key (an Ed25519 PKCS#8 PEM key)"
                    )
                })?;
                Some(kubejit_kube::TrailOptions {
                    log: log.clone(),
                    signing_key,
                    name: self.audit_trail.clone(),
                    checkpoints: self.audit_checkpoints.clone(),
                    chain: kubejit_audit::ChainConfig {
                        every_records: self.audit_checkpoint_every,
                        every: self.audit_checkpoint_interval,
                    },
                })
            }
        };
        Ok(kubejit_kube::AuditOptions {
            file,
            spool: self.audit_spool.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ControllerName {
    /// Approves or denies kube-apiserver-client CSRs by AccessPolicy.
    Approver,
    /// Deletes kubejit grants (RoleBindings) the moment they expire.
    Reaper,
    /// Acts on AccessRequests by policy: approves, grants, revokes, times out.
    Requests,
}

/// Where audit records go and how the chained file is sealed.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Append-only, hash-chained audit file. Without it, records go to stdout (one JSON line each).
    #[arg(long, env = "KUBEJIT_AUDIT_LOG")]
    pub audit_log: Option<std::path::PathBuf>,
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints of the audit file; required with --audit-log.
    #[arg(long, env = "KUBEJIT_AUDIT_SIGNING_KEY", requires = "audit_log")]
    pub audit_signing_key: Option<std::path::PathBuf>,
    /// Name of this writer's trail: its checkpoints are signed with it and anchored in the cluster under
    /// it. One per replica, stable across restarts (e.g. the StatefulSet pod name). A name whose anchored
    /// trail the file does not continue is refused; after such a refusal, start a new trail by giving a
    /// new, never used name. Required by `kubejit controller --audit-log`; without it the CLI does not
    /// anchor in the cluster.
    #[arg(long, env = "KUBEJIT_AUDIT_TRAIL", requires = "audit_log", value_parser = parse_trail)]
    pub audit_trail: Option<kubejit_audit::TrailName>,
    /// Also anchor checkpoints in this file (besides the cluster).
    #[arg(long, env = "KUBEJIT_AUDIT_CHECKPOINTS")]
    pub audit_checkpoints: Option<std::path::PathBuf>,
    /// Seal a signed checkpoint every N records …
    #[arg(long, env = "KUBEJIT_AUDIT_CHECKPOINT_EVERY", default_value_t = 100)]
    pub audit_checkpoint_every: u64,
    /// … or after this long, whichever comes first.
    #[arg(long, env = "KUBEJIT_AUDIT_CHECKPOINT_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub audit_checkpoint_interval: std::time::Duration,
    /// Fallback file (JSON lines) for records of actions already taken, such as a deletion at a grant's
    /// deadline, while the audit trail cannot take them; replayed into the trail once it can.
    /// Default: `<audit-log>.spool`; without --audit-log, kept in memory.
    #[arg(long, env = "KUBEJIT_AUDIT_SPOOL")]
    pub audit_spool: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    /// Controllers to run.
    #[arg(long, env = "KUBEJIT_CONTROLLERS", value_enum, value_delimiter = ',', default_values_t = [ControllerName::Approver, ControllerName::Reaper, ControllerName::Requests])]
    pub controllers: Vec<ControllerName>,
    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "KUBEJIT_LEASE_NAMESPACE",
        default_value = "kubejit-system"
    )]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, env = "KUBEJIT_LEASE_NAME", default_value = "kubejit-controller")]
    pub lease_name: String,
    /// This replica's identity in the Lease (defaults to $POD_NAME, else host name and pid).
    #[arg(long, env = "KUBEJIT_HOLDER_IDENTITY")]
    pub holder_identity: Option<String>,
    /// How long a leader keeps the Lease without renewing it.
    #[arg(long, env = "KUBEJIT_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: std::time::Duration,
    /// Address of /metrics, /healthz and /readyz. Loopback by default: metrics are not for everyone;
    /// a Deployment that is scraped opts into 0.0.0.0:9090.
    #[arg(long, env = "KUBEJIT_HTTP_ADDR", default_value = "127.0.0.1:9090")]
    pub http_addr: std::net::SocketAddr,
    /// PEM bundle of the vendor root CAs that hardware key attestations must chain to (e.g.
    /// Yubico's PIV root), for AccessPolicies with `keys: hardware`. Without it such policies deny
    /// every CSR. Read once at start; a malformed bundle stops the controller.
    #[arg(long, env = "KUBEJIT_ATTESTATION_ROOTS")]
    pub attestation_roots: Option<std::path::PathBuf>,
    /// Expired grants the reaper deletes at once, per binding kind (each holds one DELETE in flight;
    /// with --disable-http2, one apiserver connection too). More drains a burst of deadlines in fewer
    /// round trips; fewer holds less memory.
    #[arg(long, env = "KUBEJIT_REAPER_CONCURRENCY", default_value_t = kubejit_controller::reaper::DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub reaper_concurrency: u16,
    /// Speak HTTP/1.1 to the apiserver (one connection per request in flight) instead of HTTP/2 on
    /// one connection: for a proxy or load balancer in front of the apiserver that mishandles HTTP/2
    /// (client-go's DISABLE_HTTP2).
    #[arg(long, env = "KUBEJIT_DISABLE_HTTP2", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub disable_http2: bool,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    /// Directory for session recordings (asciicast v2, `<session id>.cast`, mode 0600). Every
    /// exec is recorded; a session that cannot be recorded does not run.
    #[arg(long, env = "KUBEJIT_GATEWAY_RECORDING_DIR")]
    pub recording_dir: std::path::PathBuf,
    /// Record the user's keystrokes too (off by default: input can carry passwords).
    #[arg(long, env = "KUBEJIT_GATEWAY_RECORD_INPUT")]
    pub record_input: bool,
    /// Address the SSH server listens on.
    #[arg(long, env = "KUBEJIT_GATEWAY_LISTEN", default_value = "0.0.0.0:2222")]
    pub listen: std::net::SocketAddr,
    /// The gateway's host key (OpenSSH private key, mode 0600); generated there if missing.
    #[arg(long, env = "KUBEJIT_GATEWAY_HOST_KEY")]
    pub host_key: std::path::PathBuf,
    /// An OpenSSH host certificate for that host key (`ssh-keygen -s CA -h`), for clients that
    /// trust the host CA (`@cert-authority` in known_hosts). It must certify the host key: the
    /// gateway does not start otherwise.
    #[arg(long, env = "KUBEJIT_GATEWAY_HOST_CERT")]
    pub host_cert: Option<std::path::PathBuf>,
    /// File of trusted user-CA public keys, one OpenSSH public key a line (repeat, or
    /// comma-separate). CAs are matched by SHA-256 fingerprint.
    #[arg(
        long,
        env = "KUBEJIT_GATEWAY_TRUSTED_CA",
        required = true,
        value_delimiter = ','
    )]
    pub trusted_ca: Vec<std::path::PathBuf>,
    /// Longest certificate lifetime accepted (valid_before - valid_after).
    #[arg(long, env = "KUBEJIT_GATEWAY_MAX_CERT_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration)]
    pub max_cert_lifetime: std::time::Duration,
    /// Extra group for a user, as USER=GROUP (repeat); added to the certificate's
    /// groups@kubejit.dev extension.
    #[arg(long, env = "KUBEJIT_GATEWAY_USER_GROUP", value_delimiter = ',')]
    pub user_group: Vec<String>,
    /// How often a running command's Kubernetes permission is asked again.
    #[arg(long, env = "KUBEJIT_GATEWAY_RECHECK_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub recheck_interval: std::time::Duration,
    /// A session with no traffic this long is ended.
    #[arg(long, env = "KUBEJIT_GATEWAY_IDLE_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// The longest a session lasts, whatever the certificate says.
    #[arg(long, env = "KUBEJIT_GATEWAY_MAX_SESSION", default_value = "8h", value_parser = humantime::parse_duration)]
    pub max_session: std::time::Duration,
    /// Concurrent sessions one user may hold.
    #[arg(
        long,
        env = "KUBEJIT_GATEWAY_MAX_SESSIONS_PER_USER",
        default_value_t = 4
    )]
    pub max_sessions_per_user: usize,
    /// Address of /metrics and /healthz (loopback unless asked).
    #[arg(long, env = "KUBEJIT_HTTP_ADDR", default_value = "127.0.0.1:9091")]
    pub http_addr: std::net::SocketAddr,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RoleKindArg {
    Role,
    ClusterRole,
}

/// How long access lasts and what it is for: the same flags on `kubejit grant` and `kubejit request`.
#[derive(Debug, Args)]
pub struct TermArgs {
    /// How long the access lasts (for a request: once approved), e.g. 30m or 2h (default: the
    /// policy's defaultTTL).
    #[arg(long, env = "KUBEJIT_TTL", value_parser = Ttl::parse)]
    pub ttl: Option<Ttl>,
    /// Incident reference the access is for, e.g. INC-12345.
    #[arg(long, env = "KUBEJIT_INCIDENT", value_parser = kubejit_core::Incident::parse)]
    pub incident: Option<kubejit_core::Incident>,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Namespace of the grant (its RoleBinding).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: NamespaceName,
    /// Role to grant.
    #[arg(long, env = "KUBEJIT_GRANT_ROLE", default_value = kubejit_core::role::DEFAULT_ROLE_NAME, value_parser = parse_role_name)]
    pub role: ObjectName,
    /// Whether --role names a namespaced Role or a ClusterRole.
    #[arg(long, env = "KUBEJIT_GRANT_ROLE_KIND", value_enum, default_value_t = RoleKindArg::Role)]
    pub role_kind: RoleKindArg,
    /// Group to grant to (repeat for several).
    #[arg(short, long = "group", env = "KUBEJIT_GRANT_GROUP", value_delimiter = ',', value_parser = GroupName::parse)]
    pub groups: Vec<GroupName>,
    /// User to grant to (repeat for several). Not split on commas: a Kubernetes username may contain one.
    #[arg(short, long = "user", env = "KUBEJIT_GRANT_USER", value_parser = UserName::parse)]
    pub users: Vec<UserName>,
    #[command(flatten)]
    pub term: TermArgs,
    /// Why the access is needed (recorded in the request, the binding and the audit trail;
    /// default: "kubejit grant").
    #[arg(long, env = "KUBEJIT_REASON", value_parser = Reason::parse)]
    pub reason: Option<Reason>,
    /// How long to wait for kubejit's controller (and approvers, if the policy wants them); the
    /// request stays open afterwards.
    #[arg(long, env = "KUBEJIT_WAIT_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub wait_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct GrantsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Namespace to list (default: the kubeconfig context's namespace).
    #[arg(
        short,
        long,
        env = "KUBEJIT_NAMESPACE",
        conflicts_with = "all_namespaces",
        value_parser = NamespaceName::parse
    )]
    pub namespace: Option<NamespaceName>,
    /// Every namespace, and ClusterRoleBinding grants.
    #[arg(short = 'A', long, env = "KUBEJIT_ALL_NAMESPACES")]
    pub all_namespaces: bool,
    /// Output format (default: a table).
    #[arg(short, long, env = "KUBEJIT_OUTPUT", value_parser = output_formats(&kubejit_grants::LIST_FORMATS))]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The grant's binding name (see `kubejit grants`).
    #[arg(env = "KUBEJIT_GRANT")]
    pub grant: String,
    /// Namespace of the grant (default: the kubeconfig context's namespace).
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", conflicts_with = "cluster", value_parser = NamespaceName::parse)]
    pub namespace: Option<NamespaceName>,
    /// The grant is a ClusterRoleBinding.
    #[arg(long, env = "KUBEJIT_CLUSTER")]
    pub cluster: bool,
    /// Why the access ends early (the denial's comment, when you are not the requester).
    #[arg(long, env = "KUBEJIT_REASON", value_parser = Reason::parse)]
    pub reason: Option<Reason>,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The grant's RoleBinding name (see `kubejit grants`).
    #[arg(env = "KUBEJIT_GRANT")]
    pub grant: String,
    /// Namespace of the grant.
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: NamespaceName,
    /// New lifetime from now (default: the policy's defaultTTL); capped by the policy.
    #[arg(long, env = "KUBEJIT_TTL", value_parser = Ttl::parse)]
    pub ttl: Option<Ttl>,
}

#[derive(Debug, Subcommand)]
pub enum ManifestsCommand {
    /// The namespaced on-call debug Role and a RoleBinding of it to the on-call group(s).
    OncallRole(OncallRoleArgs),
    /// kubejit's cluster-side install (CRD, RBAC, admission policies, controller Deployment): the
    /// contents of deploy/, for `kubejit manifests install | kubectl apply -f -`.
    Install,
}

#[derive(Debug, Args)]
pub struct OncallRoleArgs {
    /// Namespace the on-call engineers may debug.
    #[arg(short, long, env = "KUBEJIT_NAMESPACE", value_parser = NamespaceName::parse)]
    pub namespace: NamespaceName,
    /// Group bound to the Role (repeat for several). `system:` groups are refused.
    #[arg(short, long = "group", env = "KUBEJIT_GROUP", value_delimiter = ',', required = true, value_parser = GroupName::parse)]
    pub groups: Vec<GroupName>,
    /// Also allow adding ephemeral debug containers (`kubectl debug`).
    #[arg(long, env = "KUBEJIT_EPHEMERAL_CONTAINERS")]
    pub ephemeral_containers: bool,
    /// Name of the Role and RoleBinding.
    #[arg(long, env = "KUBEJIT_ROLE_NAME", default_value = kubejit_core::role::DEFAULT_ROLE_NAME, value_parser = parse_role_name)]
    pub name: ObjectName,
    /// Output format.
    #[arg(short, long, env = "KUBEJIT_OUTPUT", default_value_t = OutputFormat::Yaml,
          value_parser = output_formats(&OutputFormat::OBJECTS))]
    pub output: OutputFormat,
}

fn parse_role_name(s: &str) -> Result<ObjectName, kubejit_core::NameError> {
    ObjectName::parse_as("role name", s)
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// How to announce the running sandbox on stdout: a walkthrough for people (text), or one JSON
    /// object (paths, server, users) for scripts, printed once the sandbox is ready.
    #[arg(short, long, env = "KUBEJIT_OUTPUT", default_value_t = OutputFormat::Text,
          value_parser = output_formats(&SANDBOX_FORMATS))]
    pub output: OutputFormat,
    /// Namespace that gets the demo pods and the on-call Role.
    #[arg(long, env = "KUBEJIT_SANDBOX_NAMESPACE", default_value = "payments", value_parser = NamespaceName::parse)]
    pub namespace: NamespaceName,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    #[arg(env = "KUBEJIT_SHELL")]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `request --wait` is bounded like `grant`; `requests --watch` and `withdraw` parse.
    #[test]
    fn request_wait_watch_and_withdraw() {
        let base = [
            "kubejit", "request", "-n", "p", "--role", "r", "--reason", "x",
        ];
        let Command::Request(args) = Cli::try_parse_from(base).unwrap().command else {
            panic!("not a request");
        };
        assert!(!args.wait);
        assert_eq!(args.wait_timeout, std::time::Duration::from_secs(120));
        let waiting = [&base[..], &["--wait", "--wait-timeout", "30s"]].concat();
        let Command::Request(args) = Cli::try_parse_from(waiting).unwrap().command else {
            panic!("not a request");
        };
        assert!(args.wait);
        assert_eq!(args.wait_timeout, std::time::Duration::from_secs(30));
        let Command::Requests(args) =
            Cli::try_parse_from(["kubejit", "requests", "-A", "-w", "-o", "json"])
                .unwrap()
                .command
        else {
            panic!("not requests");
        };
        assert!(args.watch && args.all_namespaces);
        let Command::Withdraw(args) = Cli::try_parse_from(["kubejit", "withdraw", "r1", "-n", "p"])
            .unwrap()
            .command
        else {
            panic!("not withdraw");
        };
        assert_eq!(args.request.as_str(), "r1");
        assert!(Cli::try_parse_from(["kubejit", "withdraw", "Not_A_Name"]).is_err());
    }

    /// Every argument of every subcommand, with its command path (global ones once per command).
    fn all_arguments(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((path.to_owned(), arg.clone()));
        }
        for sub in command.get_subcommands() {
            // clap's generated `help` subcommand is not ours.
            if sub.get_name() != "help" {
                all_arguments(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
    }

    /// README and docs/cli.md promise a `KUBEJIT_*` variable for every flag; a new flag without one
    /// fails here.
    #[test]
    fn every_argument_has_a_kubejit_variable() {
        let mut command = Cli::command();
        command.build();
        let mut args = Vec::new();
        all_arguments(&command, "kubejit", &mut args);
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, arg)| !matches!(arg.get_id().as_str(), "help" | "version"))
            .filter(|(_, arg)| {
                arg.get_env()
                    .and_then(|v| v.to_str())
                    .is_none_or(|v| !v.starts_with("KUBEJIT_"))
            })
            .map(|(path, arg)| format!("{path} {}", arg.get_id()))
            .collect();
        assert!(
            args.len() > 50,
            "the walk found only {} arguments",
            args.len()
        );
        assert_eq!(missing, Vec::<String>::new());
    }

    #[test]
    fn since_and_until_are_parsed_by_clap() {
        let parse = |args: &[&str]| {
            let mut full = vec!["kubejit", "audit", "report", "--apiserver-log", "a.log"];
            full.extend_from_slice(args);
            Cli::try_parse_from(full)
        };
        let cli = parse(&["--user", "alice", "--since", "2026-11-26T09:00:00Z"]).unwrap();
        let Command::Audit(AuditCommand::Report(report)) = cli.command else {
            panic!("not a report");
        };
        assert_eq!(
            report.since.map(|t| t.to_string()).as_deref(),
            Some("2026-11-26T09:00:00Z")
        );
        let err = parse(&["--user", "alice", "--until", "11:00"]).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    /// `kubejit grant -n p -g g` followed by `extra`.
    fn grant(extra: &[&str]) -> Result<Cli, clap::Error> {
        let args = ["kubejit", "grant", "-n", "p", "-g", "g"];
        Cli::try_parse_from(args.iter().chain(extra))
    }

    /// The spelling docs/grants.md shows; `ClusterRole` (the Kubernetes kind) is not a value clap knows.
    #[test]
    fn role_kind_is_spelled_cluster_role() {
        let parse = |kind: &str| grant(&["--role", "view", "--role-kind", kind]);
        let Command::Grant(args) = parse("cluster-role").unwrap().command else {
            panic!("not a grant");
        };
        assert_eq!(args.role_kind, RoleKindArg::ClusterRole);
        let Command::Grant(args) = parse("role").unwrap().command else {
            panic!("not a grant");
        };
        assert_eq!(args.role_kind, RoleKindArg::Role);
        let err = parse("Clusterrole").unwrap_err();
        assert!(err.to_string().contains("cluster-role"), "{err}");
    }

    /// `grants` and `revoke` take the namespace as Kubernetes would: anything else is a usage error,
    /// before any request is built from it.
    #[test]
    fn grants_and_revoke_refuse_a_namespace_kubernetes_would_not_accept() {
        for args in [
            &["kubejit", "grants", "-n", "pay\u{202e}ments"][..],
            &["kubejit", "grants", "-n", "../kube-system"],
            &["kubejit", "revoke", "jit-x", "-n", "Payments"],
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert!(
                err.to_string().contains("not a valid Kubernetes name"),
                "{args:?}: {err}"
            );
        }
        let cli = Cli::try_parse_from(["kubejit", "revoke", "jit-x", "-n", "payments"]).unwrap();
        let Command::Revoke(args) = cli.command else {
            panic!("not a revoke");
        };
        assert_eq!(
            args.namespace.as_ref().map(NamespaceName::as_str),
            Some("payments")
        );
    }

    #[test]
    fn bad_namespace_is_a_clear_error() {
        let err = Cli::try_parse_from([
            "kubejit",
            "manifests",
            "oncall-role",
            "-n",
            "Pay_ments",
            "-g",
            "x",
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("not a valid Kubernetes name"),
            "{err}"
        );
    }

    #[test]
    fn metrics_listen_on_loopback_unless_asked() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["kubejit", "controller"];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Controller(c) => c.http_addr,
                other => panic!("{other:?}"),
            }
        };
        assert!(parse(&[]).ip().is_loopback());
        assert_eq!(
            parse(&["--http-addr", "0.0.0.0:9090"]).to_string(),
            "0.0.0.0:9090"
        );
    }

    #[test]
    fn system_group_is_refused() {
        let err = Cli::try_parse_from([
            "kubejit",
            "manifests",
            "oncall-role",
            "-n",
            "p",
            "-g",
            "system:masters",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    /// A username may contain a comma: `--user a,b` is the one user `a,b`, never two.
    #[test]
    fn a_user_with_a_comma_is_one_user() {
        let cli = Cli::try_parse_from([
            "kubejit", "grant", "-n", "p", "--user", "a,b", "--user", "carol",
        ])
        .unwrap();
        let Command::Grant(args) = cli.command else {
            panic!("not a grant");
        };
        let users: Vec<&str> = args.users.iter().map(UserName::as_str).collect();
        assert_eq!(users, ["a,b", "carol"]);
    }

    #[test]
    fn spoofing_reasons_are_refused() {
        let err = grant(&["--reason", "ok\u{202e}"]).unwrap_err();
        assert!(err.to_string().contains("bidi override"), "{err}");
    }
}

/// An RFC 3339 instant, read as the kube-apiserver audit log writes it.
fn parse_instant(value: &str) -> Result<kubejit_audit::Timestamp, String> {
    kubejit_audit::Timestamp::parse(value)
        .map_err(|e| format!("{e} (RFC 3339, e.g. 2026-11-26T09:00:00Z)"))
}

fn parse_trail(value: &str) -> Result<kubejit_audit::TrailName, String> {
    value
        .parse()
        .map_err(|e: kubejit_audit::AuditError| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a hash-chained audit file: OK, or the first broken record and why (exit code says which).
    Verify(AuditVerifyArgs),
    /// Join kubejit's trail with the kube-apiserver audit log: who had what access, and every request
    /// they made while it was live (and what was denied).
    Report(AuditReportArgs),
    /// Generate an Ed25519 checkpoint-signing key (private key to a 0600 file, public key on stdout).
    Keygen(AuditKeygenArgs),
}

#[derive(Debug, Subcommand)]
pub enum RecordingCommand {
    /// Replay a recording (asciicast v2) in the terminal with its timing.
    Play(RecordingPlayArgs),
    /// Check a recording against the SHA-256 its `sessionEnded` audit record holds.
    Verify(RecordingVerifyArgs),
}

#[derive(Debug, Args)]
pub struct RecordingPlayArgs {
    /// The recording (`<session id>.cast`).
    #[arg(env = "KUBEJIT_RECORDING")]
    pub file: std::path::PathBuf,
    /// Playback speed factor: 2 plays twice as fast, 0.5 half as fast.
    #[arg(long, env = "KUBEJIT_PLAY_SPEED", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Longest pause, in seconds (e.g. 2 or 0.5): longer idle stretches are cut to it.
    #[arg(long, env = "KUBEJIT_PLAY_IDLE_LIMIT", value_parser = parse_idle_limit)]
    pub idle_limit: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct RecordingVerifyArgs {
    /// The recording (`<session id>.cast`).
    #[arg(env = "KUBEJIT_RECORDING")]
    pub file: std::path::PathBuf,
    /// The `recordingSha256` of the session's `sessionEnded` audit record (64 hex digits).
    #[arg(long, env = "KUBEJIT_RECORDING_SHA256", value_parser = parse_sha256)]
    pub sha256: String,
}

/// A finite factor above 0 (and not absurdly small, so a pause cannot overflow).
fn parse_speed(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.001 => Ok(v),
        _ => Err(format!(
            "{raw:?} is not a speed factor (a number of at least 0.001, e.g. 2 or 0.5)"
        )),
    }
}

/// Seconds, a finite number of at least 0.
fn parse_idle_limit(raw: &str) -> Result<std::time::Duration, String> {
    raw.parse::<f64>()
        .ok()
        .and_then(|v| std::time::Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| format!("{raw:?} is not a number of seconds (e.g. 2 or 0.5)"))
}

/// 64 hex digits, lowercased (what `sha256sum` prints).
fn parse_sha256(raw: &str) -> Result<String, String> {
    if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err("a SHA-256 is 64 hex digits".to_owned())
    }
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The audit file written by `kubejit controller --audit-log`.
    #[arg(env = "KUBEJIT_AUDIT_LOG")]
    pub file: std::path::PathBuf,
    /// Public key (PEM) matching the controller's --audit-signing-key.
    #[arg(long, env = "KUBEJIT_AUDIT_PUBLIC_KEY")]
    pub public_key: std::path::PathBuf,
    /// Checkpoints kept outside the file: `from-cluster` (the ConfigMap anchor) or a checkpoint file.
    /// Without them, truncation after the last in-file checkpoint cannot be detected.
    #[arg(long, env = "KUBEJIT_AUDIT_CHECKPOINTS")]
    pub checkpoints: Option<String>,
    /// Name of the trail (the writer's --audit-trail). Required with `--checkpoints from-cluster`; with a
    /// checkpoint file, selects that trail's checkpoints.
    #[arg(long, env = "KUBEJIT_AUDIT_TRAIL", value_parser = parse_trail,
          required_if_eq("checkpoints", "from-cluster"))]
    pub trail: Option<kubejit_audit::TrailName>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["incident", "user"])))]
pub struct AuditReportArgs {
    /// Report on the identities granted access for this incident (needs --trail).
    #[arg(long, env = "KUBEJIT_INCIDENT", requires = "trail")]
    pub incident: Option<String>,
    /// Report on one user instead.
    #[arg(long, env = "KUBEJIT_USER")]
    pub user: Option<String>,
    /// With --user: from this instant (RFC 3339, e.g. 2026-11-26T09:00:00Z).
    #[arg(long, env = "KUBEJIT_SINCE", requires = "user", value_parser = parse_instant)]
    pub since: Option<kubejit_audit::Timestamp>,
    /// With --user: until this instant (RFC 3339, e.g. 2026-11-26T11:00:00Z).
    #[arg(long, env = "KUBEJIT_UNTIL", requires = "user", value_parser = parse_instant)]
    pub until: Option<kubejit_audit::Timestamp>,
    /// kubejit's audit trail (JSON lines, chained or not). Give it once per trail (the controller's,
    /// and the file each `kubejit grant --audit-log` wrote); their records are merged by time.
    #[arg(long, env = "KUBEJIT_AUDIT_LOG")]
    pub trail: Vec<std::path::PathBuf>,
    /// The kube-apiserver audit log (`--audit-log-path`, JSON lines). Streamed, never loaded whole.
    #[arg(long, env = "KUBEJIT_APISERVER_AUDIT_LOG")]
    pub apiserver_log: std::path::PathBuf,
    #[arg(short, long, env = "KUBEJIT_OUTPUT", default_value_t = OutputFormat::Table,
          value_parser = output_formats(&REPORT_FORMATS))]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct AuditKeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600). Refuses to overwrite.
    #[arg(long, env = "KUBEJIT_AUDIT_KEY_OUT")]
    pub out: std::path::PathBuf,
}
