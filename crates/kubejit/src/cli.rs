//! clap types for every subcommand; parsing raw input into validated kubejit-core types happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use kubejit_core::{GroupName, NamespaceName, ObjectName};

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

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More diagnostics on stderr (-v, -vv). KUBEJIT_LOG takes a tracing filter for finer control.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print Kubernetes manifests kubejit relies on (pipe them to `kubectl apply -f -`).
    #[command(subcommand)]
    Manifests(ManifestsCommand),
    /// Run a local sandbox: a real control plane with an on-call Role to try kubejit on.
    Sandbox(SandboxArgs),
    /// Print a shell completion script, e.g. `kubejit completions bash > /etc/bash_completion.d/kubejit`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ManifestsCommand {
    /// The namespaced on-call debug Role and a RoleBinding of it to the on-call group(s).
    OncallRole(OncallRoleArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Yaml,
    Json,
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
    #[arg(short, long, env = "KUBEJIT_OUTPUT", value_enum, default_value_t = Output::Yaml)]
    pub output: Output,
}

fn parse_role_name(s: &str) -> Result<ObjectName, kubejit_core::NameError> {
    ObjectName::parse_as("role name", s)
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SandboxOutput {
    /// A walkthrough for people.
    Text,
    /// One JSON object (paths, server, users) for scripts, printed once the sandbox is ready.
    Json,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// How to announce the running sandbox on stdout.
    #[arg(short, long, env = "KUBEJIT_OUTPUT", value_enum, default_value_t = SandboxOutput::Text)]
    pub output: SandboxOutput,
    /// Namespace that gets the demo pods and the on-call Role.
    #[arg(long, env = "KUBEJIT_SANDBOX_NAMESPACE", default_value = "payments", value_parser = NamespaceName::parse)]
    pub namespace: NamespaceName,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
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
}
