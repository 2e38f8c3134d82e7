//! Errors of loading lint input; findings are not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("failed to read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not valid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}:{line}: {message}")]
    Document {
        file: String,
        line: u64,
        message: String,
    },
    #[error("failed to list {what}")]
    List {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read suppressions {file}: {message}")]
    Suppressions { file: String, message: String },
}
