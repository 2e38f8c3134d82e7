//! Renders API objects for humans and scripts: YAML documents, or JSON that `kubectl apply -f` accepts.

use serde_json::{Value, json};

/// Output formats shared by every command that prints objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Yaml,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("failed to render YAML")]
    Yaml(#[source] serde_saphyr::SerializeError),
    #[error("failed to render JSON")]
    Json(#[source] serde_json::Error),
}

/// Several objects: YAML as `---`-separated documents; JSON as one `v1 List` (a single document that
/// `kubectl apply -f -` understands), or the bare object when there is only one.
pub fn render(objects: &[Value], format: OutputFormat) -> Result<String, OutputError> {
    match format {
        OutputFormat::Yaml => {
            let mut out = String::new();
            for obj in objects {
                out.push_str("---\n");
                out.push_str(&serde_saphyr::to_string(obj).map_err(OutputError::Yaml)?);
            }
            Ok(out)
        }
        OutputFormat::Json => {
            let doc = match objects {
                [one] => one.clone(),
                many => json!({ "apiVersion": "v1", "kind": "List", "items": many }),
            };
            let mut out = serde_json::to_string_pretty(&doc).map_err(OutputError::Json)?;
            out.push('\n');
            Ok(out)
        }
    }
}
