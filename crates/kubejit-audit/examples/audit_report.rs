//! The incident report's benchmark driver (docs/audit.md, Benchmarks): the library behind
//! `kubejit audit report`, without the binary, plus scan statistics on stderr. People use
//! `kubejit audit report`, whose flags differ (`-o`, `--apiserver-log`).
//!
//! Usage: `audit_report [--user U [--since T] [--until T] | --incident INC --trail FILE...]
//!         [--format table|json|markdown] <apiserver-audit.log>`

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

use kubejit_audit::Timestamp;
use kubejit_audit::report::{self, Scope};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut user, mut since, mut until, mut incident) = (None, None, None, None);
    let mut trails = Vec::new();
    let (mut format, mut log) = ("table".to_owned(), None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--user" => user = Some(value()?),
            "--since" => since = Some(Timestamp::parse(&value()?)?),
            "--until" => until = Some(Timestamp::parse(&value()?)?),
            "--incident" => incident = Some(value()?),
            "--trail" => trails.push(BufReader::new(File::open(value()?)?)),
            "--format" => format = value()?,
            _ => log = Some(arg),
        }
    }
    let scope = match (incident, user) {
        (Some(incident), None) => Scope::Incident(incident),
        (None, Some(user)) => Scope::User { user, since, until },
        _ => return Err("give exactly one of --incident or --user".into()),
    };
    let log = File::open(log.ok_or("missing apiserver audit log path")?)?;
    let built = report::build(&scope, trails, log)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    match format.as_str() {
        "json" => report::json(&built, &mut out)?,
        "markdown" => report::markdown(&built, &mut out)?,
        _ => report::table(&built, &mut out)?,
    }
    out.flush()?;
    eprintln!(
        "scanned {} bytes, parsed {} candidate lines, {} rows",
        built.stats.bytes, built.stats.parsed, built.stats.rows
    );
    Ok(())
}
