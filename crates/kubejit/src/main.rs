//! The `kubejit` binary (also `kubectl jit`): parses the command line and hands off to a command.

mod cli;
mod commands;
#[cfg(test)]
mod docs_examples;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_tracing(cli.global.verbose);
    // The credential plugin answers cache hits without an async runtime; it builds one only on a miss.
    if let cli::Command::Credential(args) = &cli.command {
        return commands::credential::run(args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads(&cli.command))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // The whole chain once, outermost first: each layer adds context, none repeats its source.
            eprintln!("error: {}", shown(&format!("{error:#}")));
            ExitCode::from(exit::FAILURE)
        }
    };
    // Dropping a runtime waits for every blocking task; a stuck one (a write to a hung disk) must
    // not keep the process alive after its work is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// Threads for blocking work. The controller's blocking work is audit writes, which its sinks
/// serialize (the chained file appends one at a time and shares one fsync among the records that
/// arrive together): a burst of expiries (hundreds share each whole second) would otherwise start a
/// thread per record, each only waiting for the sink's lock, and the allocator arenas those threads
/// leave behind kept the controller's memory up. A write slower than
/// its wait carries on in the background either way (docs/controller.md).
fn blocking_threads(command: &cli::Command) -> usize {
    const CONTROLLER: usize = 8;
    const DEFAULT: usize = 512;
    match command {
        cli::Command::Controller(_) => CONTROLLER,
        _ => DEFAULT,
    }
}

/// clap quotes a rejected value back verbatim. A value carrying a bidi override, a zero-width
/// character or an escape sequence must not rearrange the user's terminal, so those characters are
/// shown escaped (`\u{202e}`); help and version output are printed by clap as usual.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    eprint!("{}", shown(&error.render().to_string()));
    // clap's usage errors exit 2 (`exit::USAGE`, checked by a test); no other outcome uses it.
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(exit::USAGE))
}

/// `text` with control and format characters other than newlines escaped as `\u{…}`: error
/// messages quote names and values from the command line and the apiserver.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| match c != '\n' && kubejit_core::text::is_deceptive(c) {
            true => format!("\\u{{{:x}}}", u32::from(c)),
            false => c.to_string(),
        })
        .collect()
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
