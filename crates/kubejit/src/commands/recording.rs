//! `kubejit recording play|verify`: replay a gateway session recording in the terminal, or check a
//! recording against the SHA-256 its `sessionEnded` audit record vouches for.

use std::io::{BufReader, Read};
use std::process::ExitCode;

use anyhow::Context;
use kubejit_gateway::record::{Pace, replay};
use sha2::{Digest, Sha256};

use crate::cli::{RecordingPlayArgs, RecordingVerifyArgs};

/// Replays the recording with its timing: output to stdout, a non-PTY exec's stderr to stderr.
pub fn play(args: &RecordingPlayArgs) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("failed to open recording {}", args.file.display()))?;
    let pace = Pace {
        speed: args.speed,
        idle_limit: args.idle_limit,
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    replay(
        BufReader::new(file),
        &pace,
        &mut stdout.lock(),
        &mut stderr.lock(),
        std::thread::sleep,
    )
    .with_context(|| format!("failed to play {}", args.file.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Hashes the file and compares it with `--sha256` (the `sessionEnded` record's `recordingSha256`).
pub fn verify(args: &RecordingVerifyArgs) -> anyhow::Result<ExitCode> {
    let mut file = std::fs::File::open(&args.file)
        .with_context(|| format!("failed to open recording {}", args.file.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("failed to read recording {}", args.file.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let actual = hex::encode(hasher.finalize());
    if actual == args.sha256 {
        println!("OK {} sha256 {actual}", args.file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!(
            "recording {} does not match: its sha256 is {actual}, the audit record says {}",
            args.file.display(),
            args.sha256
        )
    }
}
