//! Writes kubeconfig files: one for the admin, one per test user, each with a static bearer token.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::json;

use crate::Error;

/// Writes a single-context kubeconfig. JSON is valid YAML, so kubectl and kube-rs both read it.
pub(crate) fn write_token_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    user: &str,
    token: &str,
) -> Result<PathBuf, Error> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "kubejit-testenv", "cluster": { "server": server, "certificate-authority-data": ca } }],
        "users": [{ "name": user, "user": { "token": token } }],
        "contexts": [{ "name": user, "context": { "cluster": "kubejit-testenv", "user": user } }],
        "current-context": user,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write_private(path, &text)?;
    Ok(path.to_path_buf())
}

/// Kubeconfigs carry bearer tokens: owner-only permissions.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}
