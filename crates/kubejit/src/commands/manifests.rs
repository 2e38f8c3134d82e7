//! `kubejit manifests …`: prints the objects kubejit relies on, ready for `kubectl apply -f -`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use kubejit_core::OncallRole;
use kubejit_kube::{OutputFormat, oncall_role_manifests, render};

use crate::cli::OncallRoleArgs;

pub fn oncall_role(args: &OncallRoleArgs) -> anyhow::Result<ExitCode> {
    let spec = OncallRole {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        groups: args.groups.clone(),
        ephemeral_containers: args.ephemeral_containers,
    };
    print!("{}", oncall_role_text(&spec, args.output)?);
    std::io::stdout()
        .flush()
        .context("failed to write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// The rendered Role + RoleBinding; also used by the sandbox.
pub fn oncall_role_text(spec: &OncallRole, output: OutputFormat) -> anyhow::Result<String> {
    let (role, binding) = oncall_role_manifests(spec);
    let objects = [
        serde_json::to_value(&role)?,
        serde_json::to_value(&binding)?,
    ];
    Ok(render(&objects, output)?)
}
