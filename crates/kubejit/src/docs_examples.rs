//! Every command shown in README.md and docs/*.md is checked against the code, so a renamed or removed
//! subcommand, flag or value breaks this test instead of a reader.
//!
//! What counts as a command line:
//! - in a ```sh / ```bash / ```shell / ```console block: every line that is not blank and not a `# comment`;
//! - in a block without a language: a line starting with a `$ ` prompt, or whose first word is
//!   `kubejit`, `kubejit-credential`, `kubectl` or `cargo` (the rest of such blocks is program
//!   output or a diagram);
//! - ```yaml and ```json blocks hold no commands.
//!
//! How a line is read (a small shell reader, not a shell):
//! - a trailing `\` joins the next line; a `$ ` prompt is dropped; an unquoted `#` starts a comment;
//! - single and double quotes group words as in sh; `$VAR`, `~` and `$(…)` are left unexpanded
//!   (the values they stand in are paths, which clap takes as they are);
//! - `<name>` (unquoted) is a placeholder the reader fills in: it is checked as the value `x`;
//! - `|`, `||`, `&&`, `;` and `&` separate commands; `>`, `>>`, `<` and `2>` drop themselves and
//!   their file; leading `NAME=value` words are dropped, except `KUBEJIT_*` ones in front of
//!   kubejit, which clap would read and this test cannot set (an example uses the flag instead);
//! - `/usr/bin/time -v` in front of a command is dropped.
//!
//! What is checked, by the command's first word:
//! - `kubejit` (or a path ending in `/kubejit`) and `kubectl jit`: the words parse with [`Cli`]:
//!   subcommand and flags exist and every value passes its parser; `kubejit-credential` (the thin
//!   plugin binary, same clap types) parses as `kubejit credential`;
//! - `kubectl`: its `-f`/`-k` paths exist in the repository, and a resource `get` names that is not a
//!   built-in kind is a name of one of kubejit's CRDs (`deploy/crds/`);
//! - `cargo`: `-p` names a workspace crate, `--test`/`--bench` one of its test or bench targets, and
//!   the words after `cargo run --` parse as a `kubejit` command line;
//! - `target/release/examples/NAME`: a crate has that example;
//! - `hyperfine`: each quoted command it times is checked by these rules;
//! - `.ci/run`: every `KUBEJIT_*` variable in front of it is one the script reads; in front of
//!   `cargo`, every `KUBEJIT_*` variable is one the `--test`/`--bench` target's source reads;
//! - `openssl`: only what the notification docs use, `dgst -sha256 -hmac` (kubejit's webhook signature
//!   is HMAC-SHA256; a test in kubejit-controller runs that line) and `rand -hex`;
//! - `bash tools/…`: the script exists in the repository;
//! - `softhsm2-util`: only the flags the hardware-key docs use (`--init-token --free --label --pin
//!   --so-pin`, `--show-slots`, `--delete-token --token`), the way the tests initialise tokens;
//! - `ln`, `jq`, `printf`, `sed`, `chmod`, `mkdir`, `export`: plumbing with nothing of kubejit's in it;
//! - anything else fails until a rule is added here, or it is listed in [`SKIPPED`] with a reason.

use std::path::{Path, PathBuf};

use clap::Parser;

use crate::cli::Cli;

/// Commands this machine cannot check, each with why; every entry must still match a docs line.
const SKIPPED: &[(&str, &str)] = &[(
    "docker build",
    "needs a container engine, which the test machines lack; the Dockerfile it names is checked to exist",
)];

/// Kinds `kubectl get` may name in the docs besides kubejit's own CRD.
const BUILTIN_KINDS: &[&str] = &[
    "pods",
    "secrets",
    "csr",
    "certificatesigningrequests",
    "rolebindings",
    "clusterrolebindings",
    "roles",
    "clusterroles",
    "configmaps",
    "events",
    "leases",
    "namespaces",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command line found in a doc, with where it was found.
#[derive(Debug)]
struct Example {
    place: String,
    line: String,
}

/// Every command line of one markdown file, continuations joined.
fn examples(name: &str, text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            fence = match fence {
                None => Some(lang.trim().to_owned()),
                Some(_) => None,
            };
            continue;
        }
        let Some(lang) = fence.as_deref() else {
            continue;
        };
        let (start, mut line) = match pending.take() {
            Some((start, head)) => (start, format!("{head} {trimmed}")),
            None => (i + 1, trimmed.to_owned()),
        };
        if let Some(head) = line.strip_suffix('\\') {
            pending = Some((start, head.trim_end().to_owned()));
            continue;
        }
        if let Some(rest) = line.strip_prefix("$ ") {
            line = rest.to_owned();
        } else if !is_command(lang, &line) {
            continue;
        }
        out.push(Example {
            place: format!("{name}:{start}"),
            line,
        });
    }
    out
}

fn is_command(lang: &str, line: &str) -> bool {
    if line.is_empty() || line.starts_with('#') {
        return false;
    }
    match lang {
        "sh" | "bash" | "shell" | "console" => true,
        "" => matches!(
            line.split_whitespace().next(),
            Some("kubejit" | "kubejit-credential" | "kubectl" | "cargo")
        ),
        _ => false,
    }
}

/// A word as the shell would pass it, or an operator between commands.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    /// `|`, `||`, `&&`, `;`, `&`: the next command starts.
    Separator,
    /// `>`, `>>`, `<`, `2>`: the next word is a file, not an argument.
    Redirect,
}

/// Splits a line into words as sh would (see the module docs for what is and is not handled).
fn tokens(line: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = chars.peek() else {
            return Ok(out);
        };
        match c {
            '#' => return Ok(out),
            '|' | '&' | ';' => {
                chars.next();
                chars.next_if(|n| *n == c);
                out.push(Token::Separator);
            }
            '>' => {
                chars.next();
                chars.next_if(|n| *n == '>');
                out.push(Token::Redirect);
            }
            '<' => {
                chars.next();
                let name: String =
                    std::iter::from_fn(|| chars.next_if(|n| *n != '>' && !n.is_whitespace()))
                        .collect();
                match chars.next_if(|n| *n == '>') {
                    Some(_) if !name.is_empty() => out.push(Token::Word("x".to_owned())),
                    _ => {
                        out.push(Token::Redirect);
                        out.push(Token::Word(name));
                    }
                }
            }
            _ => out.push(word(&mut chars)?),
        }
    }
}

/// One word, quotes removed; `2>` (a digit right before `>`) is a redirect.
fn word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Token, String> {
    let mut w = String::new();
    while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"|&;<>".contains(*c)) {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => w.push(c),
                    None => return Err("unclosed '".to_owned()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => w.extend(chars.next()),
                    Some(c) => w.push(c),
                    None => return Err("unclosed \"".to_owned()),
                }
            },
            '\\' => w.extend(chars.next()),
            c => w.push(c),
        }
    }
    if chars.peek() == Some(&'>') && w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty() {
        chars.next();
        return Ok(Token::Redirect);
    }
    Ok(Token::Word(w))
}

/// The commands of a line, each as its words (redirections and their files removed).
fn commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut out = vec![Vec::new()];
    let mut tokens = tokens(line)?.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(w) => {
                if let Some(command) = out.last_mut() {
                    command.push(w);
                }
            }
            Token::Separator => out.push(Vec::new()),
            Token::Redirect => {
                tokens.next();
            }
        }
    }
    out.retain(|c| !c.is_empty());
    Ok(out)
}

/// Checks one command (its words); `Ok(Some(reason))` when it is skipped.
fn check(words: &[String]) -> Result<Option<&'static str>, String> {
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut kubejit_vars = Vec::new();
    while let Some(first) = words.first()
        && let Some((name, _)) = first.split_once('=')
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        if name.starts_with("KUBEJIT_") {
            kubejit_vars.push(name);
        }
        words.remove(0);
    }
    // `.ci/run` reads its own KUBEJIT_CI_* switches: each one shown must be one the script reads.
    if words.as_slice() == [".ci/run"] {
        let script = std::fs::read_to_string(repo().join(".ci/run")).map_err(|e| e.to_string())?;
        return match kubejit_vars.iter().find(|name| !script.contains(*name)) {
            Some(name) => Err(format!("{name}: .ci/run does not read it")),
            None => Ok(None),
        };
    }
    // Benchmarks read their own KUBEJIT_BENCH_* knobs: each one shown must be one the target reads.
    if words.first() == Some(&"cargo") && !kubejit_vars.is_empty() {
        let source = target_source(&words[1..])?;
        if let Some(name) = kubejit_vars.iter().find(|name| !source.contains(*name)) {
            return Err(format!("{name}: the cargo target shown does not read it"));
        }
        return check_cargo(&words[1..]).map(|()| None);
    }
    if let Some(name) = kubejit_vars.first() {
        return Err(format!(
            "{name}=…: show the flag instead (this test cannot set variables)"
        ));
    }
    if words.starts_with(&["/usr/bin/time", "-v"]) {
        words.drain(..2);
    }
    let joined = words.join(" ");
    if let Some((_, reason)) = SKIPPED
        .iter()
        .find(|(prefix, _)| joined.starts_with(prefix))
    {
        check_paths(&words, "-f")?;
        return Ok(Some(reason));
    }
    match words.as_slice() {
        [] => Ok(None),
        ["kubectl", "jit", rest @ ..] => parse_kubejit(rest).map(|()| None),
        [first, rest @ ..] if *first == "kubejit" || first.ends_with("/kubejit") => {
            parse_kubejit(rest).map(|()| None)
        }
        // The thin plugin binary parses with `kubejit credential`'s own clap types
        // (kubejit_credential::args), so its command line is checked as that subcommand's.
        [first, rest @ ..]
            if *first == "kubejit-credential" || first.ends_with("/kubejit-credential") =>
        {
            let args: Vec<&str> = std::iter::once("credential")
                .chain(rest.iter().copied())
                .collect();
            parse_kubejit(&args).map(|()| None)
        }
        ["kubectl", ..] => check_kubectl(&words).map(|()| None),
        ["cargo", rest @ ..] => check_cargo(rest).map(|()| None),
        [first, ..] if first.starts_with("target/release/examples/") => {
            example_exists(first.trim_start_matches("target/release/examples/")).map(|()| None)
        }
        ["hyperfine", rest @ ..] => {
            for timed in rest.iter().filter(|w| w.contains(' ')) {
                for command in commands(timed)? {
                    check(&command)?;
                }
            }
            Ok(None)
        }
        ["openssl", "dgst", "-sha256", "-hmac", _] | ["openssl", "rand", "-hex", _] => Ok(None),
        ["openssl", ..] => Err(format!(
            "`{joined}`: the docs show openssl only as `dgst -sha256 -hmac KEY` (kubejit's webhook \
             signature) or `rand -hex N`"
        )),
        ["ssh", rest @ ..] => check_ssh(rest).map(|()| None),
        ["bash", script, ..] if script.starts_with("tools/") => match repo().join(script).is_file()
        {
            true => Ok(None),
            false => Err(format!("{script} does not exist in the repository")),
        },
        ["softhsm2-util", rest @ ..] => check_softhsm(rest).map(|()| None),
        ["yubico-piv-tool", rest @ ..] => check_piv_tool(rest).map(|()| None),
        [
            "ln" | "jq" | "printf" | "sed" | "ssh-keygen" | "chmod" | "mkdir" | "export" | "cat",
            ..,
        ] => Ok(None),
        [first, ..] => Err(format!(
            "no rule for `{first}`: add one to docs_examples.rs"
        )),
    }
}

/// `ssh [OPTIONS] HOST [COMMAND…]` against the gateway: the command parses with the gateway's
/// grammar and every `-L` names a `POD.NAMESPACE:PORT` target.
fn check_ssh(args: &[&str]) -> Result<(), String> {
    const WITH_VALUE: &[&str] = &[
        "-B", "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
        "-p", "-Q", "-R", "-S", "-W", "-w",
    ];
    let mut words = args.iter();
    let mut host = None;
    while let Some(w) = words.next() {
        if WITH_VALUE.contains(w) {
            let value = words.next().ok_or(format!("ssh {w} wants a value"))?;
            if *w == "-L" {
                check_forward(value)?;
            }
        } else if !w.starts_with('-') {
            host = Some(*w);
            break;
        }
    }
    host.ok_or("ssh without a host")?;
    let command: Vec<&str> = words.copied().collect();
    if command.is_empty() {
        return Ok(());
    }
    kubejit_gateway::session::command::parse(&command.join(" "))
        .map(|_| ())
        .map_err(|e| format!("ssh {}: {e}", command.join(" ")))
}

fn check_forward(spec: &str) -> Result<(), String> {
    let mut parts = spec.rsplitn(3, ':');
    let (Some(port), Some(host), Some(_local)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("-L {spec}: expected LOCAL:POD.NAMESPACE:PORT"));
    };
    let port: u32 = port.parse().map_err(|_| format!("-L {spec}: bad port"))?;
    kubejit_gateway::session::parse_target(host, port)
        .map(|_| ())
        .map_err(|e| format!("-L {spec}: {e}"))
}

/// `yubico-piv-tool` as the hardware-keys guide uses it: an action the attestation needs
/// (`attest` a key slot, `read-certificate` of a slot or f9) and an output file.
fn check_piv_tool(words: &[&str]) -> Result<(), String> {
    const ACTIONS: &[&str] = &["attest", "read-certificate"];
    const SLOTS: &[&str] = &["9a", "9c", "9d", "9e", "f9"];
    let mut action = None;
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        let value = rest
            .next()
            .ok_or(format!("yubico-piv-tool {word} needs a value"))?;
        match *word {
            "-a" if ACTIONS.contains(value) => action = Some(*value),
            "-s" if SLOTS.contains(value) => {}
            "-o" => {}
            _ => {
                return Err(format!(
                    "yubico-piv-tool {word} {value}: not what the docs use"
                ));
            }
        }
    }
    action
        .map(|_| ())
        .ok_or("yubico-piv-tool without -a".to_owned())
}

/// The SoftHSM2 flags the docs may show, each with whether it takes a value.
fn check_softhsm(words: &[&str]) -> Result<(), String> {
    const FLAGS: &[(&str, bool)] = &[
        ("--init-token", false),
        ("--free", false),
        ("--show-slots", false),
        ("--delete-token", false),
        ("--label", true),
        ("--token", true),
        ("--pin", true),
        ("--so-pin", true),
    ];
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        match FLAGS.iter().find(|(flag, _)| flag == word) {
            Some((_, true)) if rest.next().is_none() => {
                return Err(format!("{word} needs a value"));
            }
            Some(_) => {}
            None => return Err(format!("softhsm2-util {word}: not a flag the docs use")),
        }
    }
    Ok(())
}

fn parse_kubejit(args: &[&str]) -> Result<(), String> {
    use clap::error::ErrorKind;
    match Cli::try_parse_from(std::iter::once("kubejit").chain(args.iter().copied())) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => Ok(()),
        Err(e) => Err(e.render().to_string()),
    }
}

/// The value after each `flag` names a file or directory of the repository (`-` is stdin).
fn check_paths(words: &[&str], flag: &str) -> Result<(), String> {
    for pair in words.windows(2) {
        if pair[0] == flag && pair[1] != "-" && !repo().join(pair[1]).exists() {
            return Err(format!("{} does not exist in the repository", pair[1]));
        }
    }
    Ok(())
}

fn check_kubectl(words: &[&str]) -> Result<(), String> {
    check_paths(words, "-f")?;
    check_paths(words, "-k")?;
    let Some(at) = words.iter().position(|w| *w == "get") else {
        return Ok(());
    };
    let mut crds = String::new();
    for entry in std::fs::read_dir(repo().join("deploy/crds")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        crds.push_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?);
        crds.push('\n');
    }
    // `kubectl get a,b,c` names several kinds; each must be known.
    let kinds = words
        .get(at + 1)
        .map(|k| k.split(','))
        .into_iter()
        .flatten();
    for kind in kinds {
        if !BUILTIN_KINDS.contains(&kind) && !crd_names(&crds).contains(&kind) {
            return Err(format!(
                "`kubectl get {kind}`: neither a built-in kind nor a name of kubejit's CRDs"
            ));
        }
    }
    Ok(())
}

/// `plural`, `singular`, `shortNames` and `categories` of the CRD, read from its YAML.
fn crd_names(crd: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in crd.lines().map(str::trim) {
        for key in ["plural:", "singular:", "shortNames:", "categories:"] {
            if let Some(value) = line.strip_prefix(key) {
                let list = value.trim().trim_start_matches('[').trim_end_matches(']');
                names.extend(list.split(',').map(|n| n.trim().trim_matches('"')));
            }
        }
    }
    names
}

fn check_cargo(words: &[&str]) -> Result<(), String> {
    if let Some(at) = words.iter().position(|w| *w == "--")
        && words.first() == Some(&"run")
    {
        return parse_kubejit(&words[at + 1..]);
    }
    let package = words.windows(2).find(|p| p[0] == "-p").map(|p| p[1]);
    let dir = repo().join("crates").join(package.unwrap_or("kubejit"));
    if !dir.join("Cargo.toml").exists() {
        return Err(format!("no workspace crate {}", dir.display()));
    }
    for (flag, sub) in [("--test", "tests"), ("--bench", "benches")] {
        if let Some(target) = words.windows(2).find(|p| p[0] == flag).map(|p| p[1])
            && !dir.join(sub).join(format!("{target}.rs")).exists()
            && !dir.join(sub).join(target).join("main.rs").exists()
        {
            return Err(format!("{} has no {sub}/{target}", dir.display()));
        }
    }
    Ok(())
}

/// The source of the `--test`/`--bench` target a cargo line names (every file of a directory target).
fn target_source(words: &[&str]) -> Result<String, String> {
    let package = words.windows(2).find(|p| p[0] == "-p").map(|p| p[1]);
    let dir = repo().join("crates").join(package.unwrap_or("kubejit"));
    let target = [("--test", "tests"), ("--bench", "benches")]
        .iter()
        .find_map(|(flag, sub)| {
            let name = words.windows(2).find(|p| p[0] == *flag)?[1];
            Some(dir.join(sub).join(name))
        })
        .ok_or("a KUBEJIT_* variable in front of cargo needs a --test or --bench target")?;
    let file = target.with_extension("rs");
    if file.exists() {
        return std::fs::read_to_string(file).map_err(|e| e.to_string());
    }
    let mut text = String::new();
    for entry in std::fs::read_dir(&target).map_err(|e| format!("{}: {e}", target.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        text.push_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    }
    Ok(text)
}

fn example_exists(name: &str) -> Result<(), String> {
    let crates = std::fs::read_dir(repo().join("crates")).map_err(|e| e.to_string())?;
    let found = crates.flatten().any(|c| {
        c.path()
            .join("examples")
            .join(format!("{name}.rs"))
            .exists()
    });
    match found {
        true => Ok(()),
        false => Err(format!("no crate has the example {name}")),
    }
}

// Tests: a panic is how a test fails.
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn docs() -> Vec<(String, String)> {
        let mut files = vec![repo().join("README.md")];
        let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
        files
            .into_iter()
            .map(|p| {
                let name = p.strip_prefix(repo()).unwrap().display().to_string();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect()
    }

    #[test]
    fn every_command_in_the_docs_matches_the_code() {
        let mut failures = Vec::new();
        let mut kubejit_lines = 0;
        let mut skipped = Vec::new();
        for (name, text) in docs() {
            for example in examples(&name, &text) {
                let result = commands(&example.line).and_then(|commands| {
                    commands.iter().try_fold(None, |skip, c| {
                        if c.iter()
                            .any(|w| w == "kubejit" || w.ends_with("/kubejit") || w == "jit")
                        {
                            kubejit_lines += 1;
                        }
                        Ok(check(c)?.or(skip))
                    })
                });
                match result {
                    Ok(Some(reason)) => {
                        eprintln!("skipped {}: {} ({reason})", example.place, example.line);
                        skipped.push(example.line.clone());
                    }
                    Ok(None) => {}
                    Err(e) => failures.push(format!("{}: {}\n  {e}", example.place, example.line)),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // The walk found the examples: far more than a handful of kubejit command lines exist.
        assert!(
            kubejit_lines > 25,
            "only {kubejit_lines} kubejit lines found"
        );
        for (prefix, _) in SKIPPED {
            assert!(
                skipped.iter().any(|l| l.starts_with(prefix)),
                "SKIPPED lists `{prefix}`, which no doc shows any more: remove it"
            );
        }
    }

    /// The reader itself: each rule of the module docs, on a line that exercises it.
    #[test]
    fn shell_lines_are_read_by_the_documented_rules() {
        let words = |line: &str| commands(line).unwrap();
        let s = |v: &[&str]| v.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            words(r#"kubejit grant --reason "checkout 500s" -n p   # why"#),
            [s(&[
                "kubejit",
                "grant",
                "--reason",
                "checkout 500s",
                "-n",
                "p"
            ])]
        );
        assert_eq!(
            words("kubejit extend <grant> -n payments"),
            [s(&["kubejit", "extend", "x", "-n", "payments"])]
        );
        assert_eq!(
            words("kubejit manifests install | kubectl apply -f -"),
            [
                s(&["kubejit", "manifests", "install"]),
                s(&["kubectl", "apply", "-f", "-"])
            ]
        );
        assert_eq!(
            words("kubejit audit keygen --out k.pem > k.pub 2>/dev/null"),
            [s(&["kubejit", "audit", "keygen", "--out", "k.pem"])]
        );
        assert_eq!(
            words("hyperfine 'kubejit --version'"),
            [s(&["hyperfine", "kubejit --version"])]
        );
        let found = examples(
            "t.md",
            "```sh\nkubejit grants \\\n  -A\n# note\n```\n```\n$ kubectl get ap\nNAME\n```\n",
        );
        let lines: Vec<&str> = found.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["kubejit grants -A", "kubectl get ap"]);
        assert_eq!(found[0].place, "t.md:2");
    }

    /// A renamed flag, a bad value, an unknown command and a missing file each fail the check.
    #[test]
    fn drift_is_caught() {
        let check_line = |line: &str| -> Result<(), String> {
            for c in commands(line)? {
                check(&c)?;
            }
            Ok(())
        };
        for good in [
            "kubejit grants -A -o wide",
            "KUBECONFIG=/k kubectl jit grants -A",
            "cargo run -- sandbox",
            "kubectl apply -f deploy/rbac/requester.yaml",
            "kubectl get accesspolicies",
            "kubejit --version",
            "/usr/local/bin/kubejit-credential --context alice@prod -g oncall --ttl 30m",
            "kubejit-credential --version",
            "ssh -t gw exec -n payments api -- sh",
            "ssh -N -L 18080:api.payments:8080 gw",
            "bash tools/softhsm/install.sh",
            "softhsm2-util --init-token --free --label kubejit --pin 1234 --so-pin 5678",
            "yubico-piv-tool -a attest -s 9a -o att.pem",
            "yubico-piv-tool -a read-certificate -s f9 -o f9.pem",
            "kubejit keys generate --pkcs11 'pkcs11:token=kubejit;id=%01?module-path=/m.so'",
            "KUBEJIT_BENCH_GRANTS=1000 cargo test --release -p kubejit --test reaper_bench -- --ignored",
            "printf '%s.%s' \"$T\" \"$(cat b)\" | openssl dgst -sha256 -hmac \"$KEY\" | sed 's/x/y/'",
        ] {
            assert_eq!(check_line(good), Ok(()), "{good}");
        }
        for bad in [
            "kubejit grants --all",
            "kubejit grant -n p --ttl soon",
            "kubejit grnat -n p",
            "kubejit-credential --ttl 5m",
            "kubejit-credential credential --context a",
            "KUBEJIT_TTL=1h kubejit grant -n p",
            "kubectl apply -f deploy/rbac/nope.yaml",
            "kubectl get accesspolicy-typo",
            "cargo test -p kubejit --test nope",
            "cargo run -- sandboxx",
            "KUBEJIT_BENCH_NOPE=1 cargo test --release -p kubejit --test reaper_bench -- --ignored",
            "KUBEJIT_BENCH_GRANTS=1 cargo test -p kubejit --test grants",
            "KUBEJIT_BENCH_GRANTS=1 cargo test -p kubejit",
            "make sandbox",
            "openssl dgst -sha1 -hmac k",
            "openssl dgst -sha256 -hmac",
            "ssh gw shell",
            "ssh gw pods -n Payments",
            "ssh -N -L 18080:api:8080 gw",
            "bash tools/nope.sh",
            "softhsm2-util --import key.pem",
            "yubico-piv-tool -a delete-certificate -s 9a",
            "yubico-piv-tool -a attest -s 82",
            "yubico-piv-tool -s 9a",
            "softhsm2-util --init-token --label",
            "kubejit keys generate --pkcs11 'pkcs11:token=k;id=%01;pin-value=1?module-path=/m.so'",
        ] {
            assert!(check_line(bad).is_err(), "{bad}");
        }
    }
}
