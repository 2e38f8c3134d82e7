//! `kubejit lint`: checks a live cluster or manifests for standing debug access and paths around
//! kubejit (docs/lint.md); the analysis is kubejit-lint's.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use kubejit_core::text::error_chain;
use kubejit_kube::OutputFormat;
use kubejit_lint::subject::SubjectRef;
use kubejit_lint::{Inventory, Settings, Severity, Suppressions};
use time::OffsetDateTime;

use crate::cli::{ClientArgs, output_formats};
use crate::exit;

/// What `kubejit lint` prints.
pub const LINT_FORMATS: [OutputFormat; 3] =
    [OutputFormat::Table, OutputFormat::Json, OutputFormat::Sarif];

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Manifests to lint instead of the cluster: a file, a directory (every *.yaml, *.yml, *.json
    /// below it) or `-` for stdin. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        env = "KUBEJIT_LINT_FILENAME",
        value_delimiter = ','
    )]
    pub filenames: Vec<String>,
    /// The apiserver's audit policy file (`--audit-policy-file`): adds rule KJL018.
    #[arg(long, env = "KUBEJIT_LINT_AUDIT_POLICY")]
    pub audit_policy: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, env = "KUBEJIT_LINT_OUTPUT", default_value = "table", value_parser = output_formats(&LINT_FORMATS))]
    pub output: OutputFormat,
    /// Exit with code 5 when a finding has at least this severity.
    #[arg(long, env = "KUBEJIT_LINT_FAIL_ON", default_value = "low", value_parser = clap::value_parser!(SeverityArg))]
    pub fail_on: SeverityArg,
    /// A suppressions file (format in docs/lint.md).
    #[arg(long, env = "KUBEJIT_LINT_SUPPRESSIONS")]
    pub suppressions: Option<PathBuf>,
    /// Also exempt this identity from every rule (kubejit's controller and gateway always are):
    /// User:NAME, Group:NAME or ServiceAccount:NAMESPACE/NAME. Repeatable.
    #[arg(long, env = "KUBEJIT_LINT_ALLOW_SUBJECT", value_delimiter = ',')]
    pub allow_subject: Vec<SubjectRef>,
    /// A break-glass identity that may hold cluster-admin or admin (KJL004). Repeatable.
    #[arg(long, env = "KUBEJIT_LINT_BREAK_GLASS", value_delimiter = ',')]
    pub break_glass: Vec<SubjectRef>,
    /// Another namespace where creating pods counts as privileged (KJL014), besides kube-system
    /// and kubejit-system. Repeatable.
    #[arg(long, env = "KUBEJIT_LINT_PRIVILEGED_NAMESPACE", value_delimiter = ',')]
    pub privileged_namespace: Vec<String>,
}

/// `--fail-on`'s value: a [`Severity`] parsed by clap.
#[derive(Debug, Clone, Copy)]
pub struct SeverityArg(pub Severity);

impl std::str::FromStr for SeverityArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

pub async fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let now = OffsetDateTime::now_utc();
    let Some(inventory) = inventory(&args).await? else {
        return Ok(ExitCode::from(exit::FAILURE));
    };
    let mut settings = Settings::default();
    settings.allowed.extend(args.allow_subject.iter().cloned());
    settings
        .break_glass
        .extend(args.break_glass.iter().cloned());
    settings
        .privileged_namespaces
        .extend(args.privileged_namespace.iter().cloned());
    let mut extra = Suppressions::default();
    if let Some(path) = &args.suppressions {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        extra.read_file(&text, &path.display().to_string(), now)?;
    }
    let outcome = kubejit_lint::run(&inventory, &settings, now, extra);
    // Streamed to stdout: the JSON of 30,000 objects is never held twice.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.output {
        OutputFormat::Json => kubejit_lint::report::json(&outcome, &mut stdout)
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n")),
        OutputFormat::Sarif => writeln!(stdout, "{:#}", kubejit_lint::report::sarif(&outcome)),
        // The CLI offers only LINT_FORMATS.
        OutputFormat::Table
        | OutputFormat::Wide
        | OutputFormat::Yaml
        | OutputFormat::Markdown
        | OutputFormat::Text => stdout.write_all(kubejit_lint::report::table(&outcome).as_bytes()),
    }
    .and_then(|()| stdout.flush());
    // A reader that stops early (`| head`) is not an error of the lint; the exit code still is.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("failed to write the findings");
        }
        Ok(()) | Err(_) => {}
    }
    let failing = outcome
        .findings
        .iter()
        .any(|f| f.severity >= args.fail_on.0);
    Ok(ExitCode::from(if failing {
        exit::LINT_FINDINGS
    } else {
        exit::SUCCESS
    }))
}

/// The objects to judge; `None` after printing why when an input is malformed (fail closed: a
/// document lint cannot read is never skipped).
async fn inventory(args: &LintArgs) -> anyhow::Result<Option<Inventory>> {
    let mut inv = if args.filenames.is_empty() {
        let client = kubejit_kube::build_client(&args.client.options()).await?;
        kubejit_lint::live::read(&client).await?
    } else {
        let mut inv = Inventory::default();
        let mut errors = Vec::new();
        for name in &args.filenames {
            if name == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("failed to read stdin")?;
                errors.extend(kubejit_lint::load::load_text(&text, "-", &mut inv));
            } else {
                errors.extend(kubejit_lint::load::load_path(name.as_ref(), &mut inv));
            }
        }
        if !errors.is_empty() {
            for error in &errors {
                eprintln!("error: {}", kubejit_core::text::escape(&error_chain(error)));
            }
            return Ok(None);
        }
        inv.aggregate();
        inv
    };
    if let Some(path) = &args.audit_policy {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        inv.audit_policy = Some(kubejit_lint::load::load_audit_policy(
            &text,
            &path.display().to_string(),
        )?);
    }
    Ok(Some(inv))
}
