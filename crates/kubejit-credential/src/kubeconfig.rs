//! Kubeconfig reading and editing: find a context's server, and write the exec user stanza
//! (`kubejit kubeconfig add-user`) so that nobody has to hand-write it.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::{CredentialError, write_private_atomic};

/// The kubeconfig kubectl would use: an explicit path, else the first entry of `$KUBECONFIG`, else
/// `~/.kube/config`.
pub fn resolve_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let from_env = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()));
    from_env.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        PathBuf::from(home).join(".kube").join("config")
    })
}

/// A parsed kubeconfig (kept as YAML so that editing preserves everything we do not touch).
#[derive(Debug, Clone)]
pub struct KubeconfigDoc {
    pub path: PathBuf,
    doc: Value,
}

impl KubeconfigDoc {
    pub fn read(path: &Path) -> Result<Self, CredentialError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CredentialError::ReadKubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
        let doc =
            serde_yaml::from_str(&text).map_err(|source| CredentialError::ParseKubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Writes the document back atomically, owner-only (kubeconfigs hold credentials).
    pub fn write(&self) -> Result<(), CredentialError> {
        let text = serde_yaml::to_string(&self.doc).map_err(CredentialError::RenderKubeconfig)?;
        write_private_atomic(&self.path, text.as_bytes())
    }

    fn named(&self, list: &str, name: &str, field: &str) -> Option<&Value> {
        self.doc
            .get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?
            .get(field)
    }

    /// `context` or, when `None`, the current context's name (as kubectl chooses); the context must exist.
    pub fn context_name(&self, context: Option<&str>) -> Result<String, CredentialError> {
        let name = match context {
            Some(name) => name.to_owned(),
            None => self
                .doc
                .get("current-context")
                .and_then(Value::as_str)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| CredentialError::NoCurrentContext {
                    path: self.path.clone(),
                })?,
        };
        self.named("contexts", &name, "context")
            .map(|_| name.clone())
            .ok_or(CredentialError::NoSuchContext {
                path: self.path.clone(),
                context: name,
            })
    }

    fn context_field(&self, context: &str, field: &str) -> Result<String, CredentialError> {
        let ctx = self.named("contexts", context, "context").ok_or_else(|| {
            CredentialError::NoSuchContext {
                path: self.path.clone(),
                context: context.to_owned(),
            }
        })?;
        Ok(ctx
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// The API server URL of `context`'s cluster.
    pub fn context_server(&self, context: &str) -> Result<String, CredentialError> {
        let cluster = self.context_field(context, "cluster")?;
        self.named("clusters", &cluster, "cluster")
            .and_then(|c| c.get("server"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CredentialError::NoSuchCluster {
                path: self.path.clone(),
                context: context.to_owned(),
                cluster,
            })
    }

    /// True if `context`'s user is itself a `kubejit credential` exec plugin: asking with it would
    /// recurse into ourselves.
    pub fn uses_kubejit_exec(&self, context: &str) -> Result<bool, CredentialError> {
        let user = self.context_field(context, "user")?;
        let Some(exec) = self
            .named("users", &user, "user")
            .and_then(|u| u.get("exec"))
        else {
            return Ok(false);
        };
        let command = exec
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let first_arg = exec
            .get("args")
            .and_then(Value::as_sequence)
            .and_then(|a| a.first())
            .and_then(Value::as_str);
        Ok(command.contains("kubejit") && first_arg == Some("credential"))
    }

    /// Adds (or replaces) user `name` running `command args…` as an exec plugin, and a context `name`
    /// that pairs it with the asking context's cluster and namespace.
    pub fn add_exec_user(&mut self, stanza: &ExecUser) -> Result<(), CredentialError> {
        let cluster = self.context_field(&stanza.asking_context, "cluster")?;
        let namespace = self.context_field(&stanza.asking_context, "namespace")?;
        let mut context = Mapping::new();
        context.insert("cluster".into(), cluster.into());
        context.insert("user".into(), stanza.name.clone().into());
        if !namespace.is_empty() {
            context.insert("namespace".into(), namespace.into());
        }
        upsert(
            &mut self.doc,
            "users",
            &stanza.name,
            "user",
            stanza.user_value(),
        );
        upsert(
            &mut self.doc,
            "contexts",
            &stanza.name,
            "context",
            Value::Mapping(context),
        );
        Ok(())
    }
}

/// The exec user kubectl will run.
#[derive(Debug, Clone)]
pub struct ExecUser {
    /// Name of the new user and context.
    pub name: String,
    /// The everyday context whose identity files the CSRs (and whose cluster the new context uses).
    pub asking_context: String,
    /// Absolute path of the kubejit binary.
    pub command: PathBuf,
    /// Arguments after the command, starting with `credential`.
    pub args: Vec<String>,
}

impl ExecUser {
    fn user_value(&self) -> Value {
        let exec = serde_yaml::to_value(serde_json::json!({
            "apiVersion": crate::API_VERSION,
            "command": self.command.to_string_lossy(),
            "args": self.args,
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": true,
            "installHint": "kubejit is not installed: see https://github.com/kubejit/kubejit",
        }))
        .unwrap_or(Value::Null);
        let mut user = Mapping::new();
        user.insert("exec".into(), exec);
        Value::Mapping(user)
    }
}

/// Replaces the entry `name` in the list `list` (creating either as needed) with `{name, field: value}`.
fn upsert(doc: &mut Value, list: &str, name: &str, field: &str, value: Value) {
    if !doc.is_mapping() {
        *doc = Value::Mapping(Mapping::new());
    }
    let Some(map) = doc.as_mapping_mut() else {
        return;
    };
    let seq = map
        .entry(list.into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if !seq.is_sequence() {
        *seq = Value::Sequence(Vec::new());
    }
    let Some(items) = seq.as_sequence_mut() else {
        return;
    };
    items.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
    let mut entry = Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert(field.into(), value);
    items.push(Value::Mapping(entry));
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
