//! The command grammar a session accepts (`ssh gw pods -n NS`, …), parsed once into typed,
//! validated values: names are Kubernetes names before any request is built from them.

use kubejit_core::names::{NameError, NamespaceName, ObjectName};

/// The usage text `ssh gw help` prints.
pub const USAGE: &str = "\
kubejit gateway: your Kubernetes access, as you, over ssh

  ssh GW pods -n NAMESPACE
  ssh GW logs -n NAMESPACE POD [-c CONTAINER] [-f] [--tail N]
  ssh GW exec -n NAMESPACE POD [-c CONTAINER] -- COMMAND [ARG...]   (ssh -t for a terminal)
  ssh -N -L LOCAL_PORT:POD.NAMESPACE:PORT GW                       (port-forward)
  ssh GW help

Arguments are split like a POSIX shell splits words (quotes and backslashes); nothing is expanded.
";

/// One validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Pods {
        namespace: NamespaceName,
    },
    Logs {
        namespace: NamespaceName,
        pod: ObjectName,
        container: Option<ObjectName>,
        follow: bool,
        tail: Option<i64>,
    },
    Exec {
        namespace: NamespaceName,
        pod: ObjectName,
        container: Option<ObjectName>,
        command: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no command given and no shell here; try `help`")]
    Empty,
    #[error("unknown command {0:?}; try `help`")]
    Unknown(String),
    #[error("unbalanced quote or trailing backslash")]
    Quote,
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("--tail wants a non-negative number")]
    Tail,
    #[error(transparent)]
    Name(#[from] NameError),
}

const LOGS_USAGE: &str = "logs -n NAMESPACE POD [-c CONTAINER] [-f] [--tail N]";
const EXEC_USAGE: &str = "exec -n NAMESPACE POD [-c CONTAINER] -- COMMAND [ARG...]";
const PODS_USAGE: &str = "pods -n NAMESPACE";

/// Parses an SSH `exec` request line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let words = split_words(line)?;
    let Some((verb, rest)) = words.split_first() else {
        return Err(CommandError::Empty);
    };
    match verb.as_str() {
        "help" if rest.is_empty() => Ok(Command::Help),
        "help" => Err(CommandError::Usage("help")),
        "pods" => pods(rest),
        "logs" => logs(rest),
        "exec" => exec(rest),
        other => Err(CommandError::Unknown(kubejit_core::text::escape_bounded(
            other, 40,
        ))),
    }
}

/// Flags shared by the pod commands, and the positional words left over.
#[derive(Default)]
struct Flags {
    namespace: Option<String>,
    container: Option<String>,
    follow: bool,
    tail: Option<String>,
    positional: Vec<String>,
}

fn flags(words: &[String], allow_logs: bool, usage: &'static str) -> Result<Flags, CommandError> {
    let mut f = Flags::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let mut value = || it.next().cloned().ok_or(CommandError::Usage(usage));
        match w.as_str() {
            "-n" | "--namespace" if f.namespace.is_none() => f.namespace = Some(value()?),
            "-c" | "--container" if f.container.is_none() && usage != PODS_USAGE => {
                f.container = Some(value()?)
            }
            "-f" | "--follow" if allow_logs && !f.follow => f.follow = true,
            "--tail" if allow_logs && f.tail.is_none() => f.tail = Some(value()?),
            s if s.starts_with('-') => return Err(CommandError::Usage(usage)),
            _ => f.positional.push(w.clone()),
        }
    }
    Ok(f)
}

fn namespace(f: &Flags, usage: &'static str) -> Result<NamespaceName, CommandError> {
    let ns = f.namespace.as_deref().ok_or(CommandError::Usage(usage))?;
    Ok(NamespaceName::parse(ns)?)
}

fn pod_and_container(
    f: &Flags,
    usage: &'static str,
) -> Result<(ObjectName, Option<ObjectName>), CommandError> {
    let [pod] = f.positional.as_slice() else {
        return Err(CommandError::Usage(usage));
    };
    let container = match &f.container {
        Some(c) => Some(ObjectName::parse_as("container name", c)?),
        None => None,
    };
    Ok((ObjectName::parse_as("pod name", pod)?, container))
}

fn pods(words: &[String]) -> Result<Command, CommandError> {
    let f = flags(words, false, PODS_USAGE)?;
    if !f.positional.is_empty() {
        return Err(CommandError::Usage(PODS_USAGE));
    }
    Ok(Command::Pods {
        namespace: namespace(&f, PODS_USAGE)?,
    })
}

fn logs(words: &[String]) -> Result<Command, CommandError> {
    let f = flags(words, true, LOGS_USAGE)?;
    let namespace = namespace(&f, LOGS_USAGE)?;
    let (pod, container) = pod_and_container(&f, LOGS_USAGE)?;
    let tail = match &f.tail {
        Some(t) => Some(
            t.parse::<u32>()
                .map(i64::from)
                .map_err(|_| CommandError::Tail)?,
        ),
        None => None,
    };
    Ok(Command::Logs {
        namespace,
        pod,
        container,
        follow: f.follow,
        tail,
    })
}

fn exec(words: &[String]) -> Result<Command, CommandError> {
    let split = words
        .iter()
        .position(|w| w == "--")
        .ok_or(CommandError::Usage(EXEC_USAGE))?;
    let (head, tail) = words.split_at(split);
    let command: Vec<String> = tail.iter().skip(1).cloned().collect();
    if command.is_empty() {
        return Err(CommandError::Usage(EXEC_USAGE));
    }
    let f = flags(head, false, EXEC_USAGE)?;
    let namespace = namespace(&f, EXEC_USAGE)?;
    let (pod, container) = pod_and_container(&f, EXEC_USAGE)?;
    Ok(Command::Exec {
        namespace,
        pod,
        container,
        command,
    })
}

/// POSIX-shell-like word splitting: whitespace separates, single quotes are literal, double
/// quotes allow `\"` and `\\`, a backslash outside quotes escapes the next character. Nothing is
/// expanded. An unbalanced quote is refused rather than guessed.
pub fn split_words(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(CommandError::Quote),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(CommandError::Quote),
                        },
                        Some(c) => w.push(c),
                        None => return Err(CommandError::Quote),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(CommandError::Quote),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests;
