//! The `kubejit` binary (also `kubectl jit`): parses the command line and hands off to a command.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.global.verbose);
    // The credential plugin answers cache hits without an async runtime; it builds one only on a miss.
    if let cli::Command::Credential(args) = &cli.command {
        return commands::credential::run(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // The whole chain once, outermost first: each layer adds context, none repeats its source.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    };
    // Dropping a runtime waits for every blocking task; a stuck one (a write to a hung disk) must
    // not keep the process alive after its work is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// Diagnostics go to stderr only: stdout belongs to command output (and to ExecCredential JSON).
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,kubejit=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBEJIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for people: logs shipped from a pod or captured in a file stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
