//! Kubeconfig reading and editing: find a context's server, and write the exec user stanza
//! (`kubejit kubeconfig add-user`) so that nobody has to hand-write it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::yaml_tree::Yaml as Value;
use crate::{CredentialError, write_private_atomic};

/// The kubeconfig files kubectl would read, in precedence order: an explicit path alone, else every
/// entry of `$KUBECONFIG` (empty entries and repeats dropped), else `~/.kube/config`.
pub fn resolve_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
    paths_from(
        explicit,
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME"),
    )
}

/// `resolve_paths` with the environment passed in, so tests need not mutate the process's.
fn paths_from(
    explicit: Option<&Path>,
    kubeconfig: Option<OsString>,
    home: Option<OsString>,
) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for path in kubeconfig.iter().flat_map(std::env::split_paths) {
        if !path.as_os_str().is_empty() && !paths.contains(&path) {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        paths.push(
            PathBuf::from(home.unwrap_or_default())
                .join(".kube")
                .join("config"),
        );
    }
    paths
}

/// Several paths shown the way `$KUBECONFIG` lists them.
pub fn display_paths(paths: &[PathBuf]) -> PathBuf {
    std::env::join_paths(paths)
        .map(PathBuf::from)
        .unwrap_or_else(|_| paths.first().cloned().unwrap_or_default())
}

/// One kubeconfig file, kept as YAML so that editing preserves everything we do not touch.
#[derive(Debug, Clone)]
struct KubeconfigFile {
    path: PathBuf,
    doc: Value,
    dirty: bool,
}

/// The merged view of one or more kubeconfig files, read and edited by kubectl's rules: the first file
/// that names a cluster, user or context wins, and so does the first file that sets `current-context`;
/// an entry is edited in the file that holds it, and a new entry goes to the first file.
#[derive(Debug, Clone)]
pub struct KubeconfigDoc {
    files: Vec<KubeconfigFile>,
}

impl KubeconfigDoc {
    /// Reads one file, which must exist.
    pub fn read(path: &Path) -> Result<Self, CredentialError> {
        Ok(Self {
            files: vec![read_file(path)?],
        })
    }

    /// Reads the files `paths` lists, skipping those that do not exist as kubectl does; at least one
    /// must exist.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CredentialError> {
        let mut files = Vec::new();
        for path in paths {
            match read_file(path) {
                Ok(file) => files.push(file),
                Err(CredentialError::ReadKubeconfig { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        if files.is_empty() {
            return Err(CredentialError::ReadKubeconfig {
                path: display_paths(paths),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        Ok(Self { files })
    }

    /// The files read, in precedence order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    fn display_path(&self) -> PathBuf {
        display_paths(&self.paths())
    }

    /// Writes back, atomically and owner-only (kubeconfigs hold credentials), each file that was
    /// edited; returns their paths.
    pub fn write(&self) -> Result<Vec<PathBuf>, CredentialError> {
        let mut written = Vec::new();
        for file in self.files.iter().filter(|f| f.dirty) {
            let text =
                serde_saphyr::to_string(&file.doc).map_err(CredentialError::RenderKubeconfig)?;
            write_private_atomic(&file.path, text.as_bytes())?;
            written.push(file.path.clone());
        }
        Ok(written)
    }

    /// Index of the first file whose `list` has an entry `name`.
    fn holder(&self, list: &str, name: &str) -> Option<usize> {
        self.files
            .iter()
            .position(|f| entry(&f.doc, list, name).is_some())
    }

    fn named(&self, list: &str, name: &str, field: &str) -> Option<&Value> {
        let file = self.files.get(self.holder(list, name)?)?;
        entry(&file.doc, list, name)?.get(field)
    }

    /// `context` or, when `None`, the current context's name (as kubectl chooses); the context must exist.
    pub fn context_name(&self, context: Option<&str>) -> Result<String, CredentialError> {
        let name = match context {
            Some(name) => name.to_owned(),
            None => self
                .files
                .iter()
                .filter_map(|f| f.doc.get("current-context").and_then(Value::as_str))
                .find(|name| !name.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| CredentialError::NoCurrentContext {
                    path: self.display_path(),
                })?,
        };
        self.named("contexts", &name, "context")
            .map(|_| name.clone())
            .ok_or(CredentialError::NoSuchContext {
                path: self.display_path(),
                context: name,
            })
    }

    fn context_field(&self, context: &str, field: &str) -> Result<String, CredentialError> {
        let ctx = self.named("contexts", context, "context").ok_or_else(|| {
            CredentialError::NoSuchContext {
                path: self.display_path(),
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
                path: self.display_path(),
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
        // `kubejit credential …`, or the thin `kubejit-credential …` that hands misses to it.
        let thin = std::path::Path::new(command)
            .file_name()
            .is_some_and(|name| name == "kubejit-credential");
        Ok(thin || (command.contains("kubejit") && first_arg == Some("credential")))
    }

    /// Adds (or replaces) user `name` running `command args…` as an exec plugin, and a context `name`
    /// that pairs it with the asking context's cluster and namespace.
    pub fn add_exec_user(&mut self, stanza: &ExecUser) -> Result<(), CredentialError> {
        let cluster = self.context_field(&stanza.asking_context, "cluster")?;
        let namespace = self.context_field(&stanza.asking_context, "namespace")?;
        let mut context = vec![
            ("cluster".to_owned(), cluster.into()),
            ("user".to_owned(), stanza.name.clone().into()),
        ];
        if !namespace.is_empty() {
            context.push(("namespace".to_owned(), namespace.into()));
        }
        self.upsert("users", &stanza.name, "user", stanza.user_value());
        self.upsert("contexts", &stanza.name, "context", Value::Mapping(context));
        Ok(())
    }

    /// Adds (or replaces) user `name` and cluster `<name>-proxy` pointing at a `kubejit proxy` on
    /// loopback, whose local CA and client certificate are files in `dir` (the proxy rewrites them at
    /// each start, so the stanza survives restarts), and a context `name` with the asking context's
    /// namespace.
    pub fn add_proxy_user(&mut self, stanza: &ProxyUser) -> Result<(), CredentialError> {
        let namespace = self.context_field(&stanza.asking_context, "namespace")?;
        let cluster_name = format!("{}-proxy", stanza.name);
        let file = |name: &str| stanza.dir.join(name).to_string_lossy().into_owned();
        let cluster = Value::Mapping(vec![
            (
                "server".to_owned(),
                format!("https://{}", stanza.listen).into(),
            ),
            ("certificate-authority".to_owned(), file(PROXY_CA).into()),
        ]);
        let user = Value::Mapping(vec![
            (
                "client-certificate".to_owned(),
                file(PROXY_CLIENT_CERT).into(),
            ),
            ("client-key".to_owned(), file(PROXY_CLIENT_KEY).into()),
        ]);
        let mut context = vec![
            ("cluster".to_owned(), cluster_name.clone().into()),
            ("user".to_owned(), stanza.name.clone().into()),
        ];
        if !namespace.is_empty() {
            context.push(("namespace".to_owned(), namespace.into()));
        }
        self.upsert("clusters", &cluster_name, "cluster", cluster);
        self.upsert("users", &stanza.name, "user", user);
        self.upsert("contexts", &stanza.name, "context", Value::Mapping(context));
        Ok(())
    }

    /// Sets entry `name` of `list` in the file that holds it, else in the first file (as
    /// `kubectl config set-*` does).
    fn upsert(&mut self, list: &str, name: &str, field: &str, value: Value) {
        let index = self.holder(list, name).unwrap_or(0);
        if let Some(file) = self.files.get_mut(index) {
            upsert(&mut file.doc, list, name, field, value);
            file.dirty = true;
        }
    }
}

/// File names a `kubejit proxy --state-dir` writes and a proxy kubeconfig stanza reads.
pub const PROXY_CA: &str = "ca.crt";
pub const PROXY_CLIENT_CERT: &str = "client.crt";
pub const PROXY_CLIENT_KEY: &str = "client.key";

/// A kubeconfig user that reaches the cluster through `kubejit proxy`.
#[derive(Debug, Clone)]
pub struct ProxyUser {
    pub name: String,
    pub asking_context: String,
    /// The proxy's loopback address (a fixed port: the stanza names it).
    pub listen: std::net::SocketAddr,
    /// The proxy's state directory (absolute).
    pub dir: PathBuf,
}

/// The exec user kubectl will run.
#[derive(Debug, Clone)]
pub struct ExecUser {
    /// Name of the new user and context.
    pub name: String,
    /// The everyday context whose identity files the CSRs (and whose cluster the new context uses).
    pub asking_context: String,
    /// Absolute path of the kubejit binary, or of `kubejit-credential` installed beside it.
    pub command: PathBuf,
    /// Arguments after the command: starting with `credential` for `kubejit`, the same without it
    /// for the thin `kubejit-credential`.
    pub args: Vec<String>,
    /// Environment kubectl sets for the plugin (`KUBECONFIG` when the asking context spans files).
    pub env: Vec<(String, String)>,
}

impl ExecUser {
    fn user_value(&self) -> Value {
        let mut exec = serde_json::json!({
            "apiVersion": crate::API_VERSION,
            "command": self.command.to_string_lossy(),
            "args": self.args,
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": true,
            "installHint": "kubejit is not installed: see https://github.com/kubejit/kubejit",
        });
        if !self.env.is_empty() {
            let env = self
                .env
                .iter()
                .map(|(name, value)| serde_json::json!({ "name": name, "value": value }));
            exec["env"] = serde_json::Value::Array(env.collect());
        }
        Value::Mapping(vec![("exec".to_owned(), exec.into())])
    }
}

fn read_file(path: &Path) -> Result<KubeconfigFile, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialError::ReadKubeconfig {
        path: path.to_path_buf(),
        source,
    })?;
    let doc = serde_saphyr::from_str(&text).map_err(|source| CredentialError::ParseKubeconfig {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    Ok(KubeconfigFile {
        path: path.to_path_buf(),
        doc,
        dirty: false,
    })
}

/// The entry `name` of the list `list` (`clusters`, `users`, `contexts`).
fn entry<'a>(doc: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

/// Replaces the entry `name` in the list `list` (creating either as needed) with `{name, field: value}`.
fn upsert(doc: &mut Value, list: &str, name: &str, field: &str, value: Value) {
    if !matches!(doc, Value::Mapping(_)) {
        *doc = Value::Mapping(Vec::new());
    }
    let Some(seq) = doc.entry_or_insert(list, || Value::Sequence(Vec::new())) else {
        return;
    };
    if !matches!(seq, Value::Sequence(_)) {
        *seq = Value::Sequence(Vec::new());
    }
    let Value::Sequence(items) = seq else {
        return;
    };
    items.retain(|e| e.get("name").and_then(Value::as_str) != Some(name));
    items.push(Value::Mapping(vec![
        ("name".to_owned(), name.into()),
        (field.to_owned(), value),
    ]));
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
