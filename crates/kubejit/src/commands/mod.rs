//! Thin command implementations: each turns parsed arguments into library calls and output.

mod completions;
mod manifests;
mod sandbox;

use std::process::ExitCode;

use crate::cli::{Cli, Command, ManifestsCommand};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Manifests(ManifestsCommand::OncallRole(args)) => manifests::oncall_role(&args),
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Completions(args) => completions::run(&args),
    }
}
