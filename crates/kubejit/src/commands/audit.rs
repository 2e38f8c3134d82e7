//! `kubejit audit verify|report|keygen`: check the trail, answer "who did what", make signing keys.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use kubejit_audit::report::{self, Scope};
use kubejit_audit::{
    Checkpoint, for_trail, load_checkpoint_file, verify_file, verifying_key_from_pem,
};

use kubejit_kube::audit_trail::ANCHOR_NAMESPACE;
use kubejit_kube::{OutputError, OutputFormat};

use crate::cli::{AuditKeygenArgs, AuditReportArgs, AuditVerifyArgs};

pub async fn verify(args: &AuditVerifyArgs) -> anyhow::Result<ExitCode> {
    let pem = std::fs::read_to_string(&args.public_key)
        .with_context(|| format!("failed to read public key {}", args.public_key.display()))?;
    let key = verifying_key_from_pem(&pem).with_context(|| {
        format!(
            "{} is not an Ed25519 public key PEM",
            args.public_key.display()
        )
    })?;
    let checkpoints = load_checkpoints(args).await?;
    let report = verify_file(&args.file, checkpoints.as_deref(), &key)
        .with_context(|| format!("failed to read {}", args.file.display()))?;
    println!("{report}");
    if checkpoints.is_none() {
        eprintln!(
            "note: no --checkpoints given; truncation after the last in-file checkpoint cannot be detected"
        );
    }
    Ok(ExitCode::from(report.exit_code()))
}

async fn load_checkpoints(args: &AuditVerifyArgs) -> anyhow::Result<Option<Vec<Checkpoint>>> {
    match (args.checkpoints.as_deref(), &args.trail) {
        (None, _) => Ok(None),
        (Some("from-cluster"), Some(trail)) => {
            let client = kubejit_kube::build_client(&args.client.options()).await?;
            let history = kubejit_kube::audit_anchor::load(client, ANCHOR_NAMESPACE, trail).await?;
            Ok(Some(history))
        }
        (Some("from-cluster"), None) => anyhow::bail!("--checkpoints from-cluster needs --trail"),
        (Some(path), trail) => {
            let all = load_checkpoint_file(std::path::Path::new(path))
                .with_context(|| format!("failed to read checkpoints {path}"))?;
            let name = match trail {
                Some(trail) => trail.to_string(),
                None => {
                    let mut names = all.iter().map(|c| c.trail.as_str());
                    let first = names.next().unwrap_or_default().to_owned();
                    if names.any(|n| n != first) {
                        anyhow::bail!("{path} holds checkpoints of several trails: give --trail");
                    }
                    first
                }
            };
            Ok(Some(for_trail(all, &name)))
        }
    }
}

pub fn report(args: &AuditReportArgs) -> anyhow::Result<ExitCode> {
    let scope = match (&args.incident, &args.user) {
        (Some(incident), _) => Scope::Incident(incident.clone()),
        (None, Some(user)) => Scope::User {
            user: user.clone(),
            since: args.since,
            until: args.until,
        },
        (None, None) => anyhow::bail!("give --incident or --user"),
    };
    let log = File::open(&args.apiserver_log).with_context(|| {
        format!(
            "failed to open the kube-apiserver audit log {}",
            args.apiserver_log.display()
        )
    })?;
    let trails = args
        .trail
        .iter()
        .map(|path| {
            File::open(path)
                .map(BufReader::new)
                .with_context(|| format!("failed to open the kubejit trail {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let built = report::build(&scope, trails, log)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.output {
        OutputFormat::Table => report::table(&built, &mut out)?,
        OutputFormat::Json => report::json(&built, &mut out)?,
        OutputFormat::Markdown => report::markdown(&built, &mut out)?,
        // The CLI offers only REPORT_FORMATS.
        other @ (OutputFormat::Wide
        | OutputFormat::Yaml
        | OutputFormat::Text
        | OutputFormat::Sarif) => {
            return Err(OutputError::Unsupported(other).into());
        }
    }
    out.flush().context("failed to write the report")?;
    Ok(ExitCode::SUCCESS)
}

pub fn keygen(args: &AuditKeygenArgs) -> anyhow::Result<ExitCode> {
    print!("{}", write_signing_key(&args.out)?);
    Ok(ExitCode::SUCCESS)
}

/// Generates an Ed25519 checkpoint-signing key, writes the private half to `out` (a new 0600 file;
/// an existing one is never overwritten) and returns the public key PEM. The sandbox uses it too.
pub fn write_signing_key(out: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .context("failed to generate an Ed25519 key")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("failed to create {} (it must not exist yet)", out.display()))?;
    file.write_all(key.serialize_pem().as_bytes())
        .with_context(|| format!("failed to write {}", out.display()))?;
    Ok(key.public_key_pem())
}
