//! Thin command implementations: each turns parsed arguments into library calls and output.

mod audit;
mod completions;
mod controller;
pub mod credential;
mod gateway;
mod grants;
pub mod keys;
pub mod kubeconfig;
pub mod lint;
mod manifests;
pub mod proxy;
mod recording;
pub mod requests;
#[cfg(feature = "sandbox")]
mod sandbox;
#[cfg(feature = "sandbox")]
mod sandbox_gateway;

use std::process::ExitCode;

use kubejit_core::request::ApprovalDecision;

use crate::cli::{AuditCommand, Cli, Command, ManifestsCommand, RecordingCommand};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Manifests(ManifestsCommand::OncallRole(args)) => manifests::oncall_role(&args),
        Command::Manifests(ManifestsCommand::Install) => {
            print!("{}", kubejit_kube::deploy::install_yaml());
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Controller(args) => controller::run(*args).await,
        Command::Gateway(args) => gateway::run(*args).await,
        Command::Audit(AuditCommand::Verify(args)) => audit::verify(&args).await,
        Command::Audit(AuditCommand::Report(args)) => audit::report(&args),
        Command::Audit(AuditCommand::Keygen(args)) => audit::keygen(&args),
        Command::Recording(RecordingCommand::Play(args)) => recording::play(&args),
        Command::Recording(RecordingCommand::Verify(args)) => recording::verify(&args),
        Command::Grant(args) => grants::grant(*args).await,
        Command::Grants(args) => grants::list(args).await,
        Command::Revoke(args) => grants::revoke(*args).await,
        Command::Extend(args) => grants::extend(*args).await,
        Command::Request(args) => requests::request(*args).await,
        Command::Requests(args) => requests::list(args).await,
        Command::Withdraw(args) => requests::withdraw(args).await,
        Command::Approve(args) => requests::decide(args, ApprovalDecision::Approve).await,
        Command::Deny(args) => requests::decide(args, ApprovalDecision::Deny).await,
        Command::Completions(args) => completions::run(&args),
        Command::Credential(args) => Ok(credential::run(&args)),
        Command::Kubeconfig(command) => kubeconfig::run(&command),
        Command::Keys(command) => keys::run(&command),
        Command::Proxy(args) => proxy::run(*args).await,
        Command::Lint(args) => lint::run(*args).await,
    }
}

/// Ctrl-C (SIGINT) and SIGTERM (what Kubernetes sends a pod), caught from the moment
/// [`ShutdownSignals::install`] returns: a signal that arrives before anyone awaits [`ShutdownSignals::wait`]
/// is kept, not lost to the default action (which would kill the process without its clean-up).
pub(crate) struct ShutdownSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Registers the handlers now (synchronously); call it before announcing readiness.
    pub(crate) fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves on the first SIGINT or SIGTERM since [`ShutdownSignals::install`].
    pub(crate) async fn wait(mut self) {
        async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = recv(self.interrupt.as_mut()) => {}
            () = recv(self.terminate.as_mut()) => {}
        }
    }
}
