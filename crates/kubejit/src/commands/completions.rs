//! `kubejit completions <shell>`: shell completion scripts generated from the clap definitions.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "kubejit",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
