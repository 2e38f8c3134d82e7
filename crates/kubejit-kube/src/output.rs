//! Renders API objects for humans and scripts: YAML documents, or JSON that `kubectl apply -f` accepts.

use serde_json::{Value, json};

/// Every `-o`/`--output` format of the CLI: one enum, and each command accepts the subset it can
/// render (listed beside its renderer, e.g. [`OutputFormat::OBJECTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Columns for people.
    Table,
    /// Columns for people, with more of them.
    Wide,
    /// YAML documents.
    Yaml,
    /// JSON.
    Json,
    /// Markdown, for tickets and postmortems.
    Markdown,
    /// Prose for people.
    Text,
    /// SARIF 2.1.0, for code-scanning UIs (`kubejit lint`).
    Sarif,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 7] = [
        OutputFormat::Table,
        OutputFormat::Wide,
        OutputFormat::Yaml,
        OutputFormat::Json,
        OutputFormat::Markdown,
        OutputFormat::Text,
        OutputFormat::Sarif,
    ];

    /// What [`render`] produces: API objects that `kubectl apply -f -` accepts.
    pub const OBJECTS: [OutputFormat; 2] = [OutputFormat::Yaml, OutputFormat::Json];

    /// The `-o` value.
    pub const fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Wide => "wide",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Json => "json",
            OutputFormat::Markdown => "markdown",
            OutputFormat::Text => "text",
            OutputFormat::Sarif => "sarif",
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = OutputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| OutputError::UnknownFormat(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("failed to render YAML")]
    Yaml(#[source] serde_saphyr::SerializeError),
    #[error("failed to render JSON")]
    Json(#[source] serde_json::Error),
    #[error("unknown output format {0:?}")]
    UnknownFormat(String),
    /// A caller passed a format outside the renderer's list (the CLI offers only the listed ones).
    #[error("this command cannot print {0}")]
    Unsupported(OutputFormat),
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
        unsupported @ (OutputFormat::Table
        | OutputFormat::Wide
        | OutputFormat::Markdown
        | OutputFormat::Text
        | OutputFormat::Sarif) => Err(OutputError::Unsupported(unsupported)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_from_its_name() {
        for format in OutputFormat::ALL {
            assert_eq!(format.name().parse::<OutputFormat>().unwrap(), format);
        }
        assert!("YAML".parse::<OutputFormat>().is_err());
        assert!("".parse::<OutputFormat>().is_err());
    }

    #[test]
    fn render_refuses_formats_outside_its_list() {
        let objects = [json!({"kind": "ConfigMap"})];
        for format in OutputFormat::ALL {
            let rendered = render(&objects, format);
            assert_eq!(
                rendered.is_ok(),
                OutputFormat::OBJECTS.contains(&format),
                "{format}"
            );
        }
    }
}
