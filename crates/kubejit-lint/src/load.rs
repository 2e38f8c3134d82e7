//! Offline input: manifests (files, directories, stdin) as kubectl reads them — multi-document
//! YAML or JSON, `List` kinds, duplicate keys refused — with each document's and each rule's line.
//! Unknown kinds are ignored; a malformed document is an error, never skipped.

use std::path::Path;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use serde_json::Value;
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

use crate::audit_policy::AuditPolicy;
use crate::error::LintError;
use crate::inventory::{Inventory, Located, Origin};
use crate::yaml_doc::{Doc, Lines};

const RBAC_V1: &str = "rbac.authorization.k8s.io/v1";
const ADMISSION_V1: &str = "admissionregistration.k8s.io/v1";

/// Duplicate keys refused; the parser's budget scaled to the input (a cluster's worth of RBAC is
/// tens of thousands of documents), while alias expansion keeps the default caps that stop
/// "billion laughs" input.
fn options(len: usize) -> serde_saphyr::Options {
    let scaled = |floor: usize, per_byte: usize| floor.max(len.saturating_mul(per_byte));
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: scaled(1_024, 1),
            max_nodes: scaled(250_000, 2),
            max_events: scaled(1_000_000, 4),
            max_total_scalar_bytes: scaled(64 << 20, 1),
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// The parser's message without its source snippet (the file and line say where) or its hint
/// about parser options, which are not the user's to set.
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(first)
        .to_owned()
}

/// Reads a file, or every `*.yaml`, `*.yml` and `*.json` under a directory (sorted, recursive).
pub fn load_path(path: &Path, inv: &mut Inventory) -> Vec<LintError> {
    if path.is_dir() {
        let mut files = Vec::new();
        if let Err(error) = collect(path, &mut files) {
            return vec![error];
        }
        files.sort();
        return files.iter().flat_map(|f| load_file(f, inv)).collect();
    }
    load_file(path, inv)
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), LintError> {
    let read = |source| LintError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
    Ok(())
}

fn load_file(path: &Path, inv: &mut Inventory) -> Vec<LintError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_text(&text, &path.display().to_string(), inv),
        Err(source) => vec![LintError::Read {
            path: path.to_owned(),
            source,
        }],
    }
}

/// Adds the RBAC objects of one YAML/JSON stream, named `file` in findings and errors.
pub fn load_text(text: &str, file: &str, inv: &mut Inventory) -> Vec<LintError> {
    inv.offline = true;
    // One pass: each document's value, its line, and the lines of its rules (and List items).
    let docs: Vec<Spanned<Doc>> =
        match serde_saphyr::from_multiple_with_options(text, options(text.len())) {
            Ok(docs) => docs,
            Err(error) => {
                return vec![LintError::Yaml {
                    file: file.to_owned(),
                    message: yaml_message(&error),
                }];
            }
        };
    let mut errors = Vec::new();
    for doc in docs.into_iter().filter(|d| !d.value.value.is_null()) {
        let line = doc.referenced.line();
        let Doc { value, lines } = doc.value;
        if let Err(error) = add_document(value, file, line, &lines, inv) {
            errors.push(error);
        }
    }
    errors
}

fn add_document(
    doc: Value,
    file: &str,
    line: u64,
    lines: &Lines,
    inv: &mut Inventory,
) -> Result<(), LintError> {
    let err = |message: String| LintError::Document {
        file: file.to_owned(),
        line,
        message,
    };
    let Value::Object(map) = &doc else {
        return Err(err("a document must be a mapping".to_owned()));
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version.is_empty() || kind.is_empty() {
        return Err(err("apiVersion and kind are required".to_owned()));
    }
    if kind.ends_with("List") && map.contains_key("items") {
        let Some(Value::Array(items)) = map.get("items") else {
            return Err(err(format!("{kind}.items must be a list")));
        };
        for (i, item) in items.iter().enumerate() {
            let (item_line, item_lines) = lines
                .items
                .get(i)
                .map(|(l, r)| {
                    (
                        *l,
                        Lines {
                            rules: r.clone(),
                            items: Vec::new(),
                        },
                    )
                })
                .unwrap_or((line, Lines::default()));
            add_document(item.clone(), file, item_line, &item_lines, inv)?;
        }
        return Ok(());
    }
    if api_version == ADMISSION_V1 && kind.starts_with("ValidatingAdmissionPolicy") {
        return add_admission(doc, &kind, file, line, inv).map_err(err);
    }
    let is_rbac = api_version.starts_with("rbac.authorization.k8s.io/");
    let rbac_kind = matches!(
        kind.as_str(),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
    );
    if !is_rbac || !rbac_kind {
        return Ok(());
    }
    if api_version != RBAC_V1 {
        return Err(err(format!("{api_version} is not served; use {RBAC_V1}")));
    }
    check_fields(map, &kind).map_err(err)?;
    let origin = Origin {
        file: Some(file.to_owned()),
        line,
        rule_lines: lines.rules.clone(),
    };
    let bad = |e: serde_json::Error| err(format!("invalid {kind}: {e}"));
    match kind.as_str() {
        "Role" => {
            let role: Role = serde_json::from_value(doc).map_err(bad)?;
            need_namespace(&kind, role.metadata.namespace.as_deref()).map_err(err)?;
            inv.roles.push(Located {
                object: role,
                origin,
            });
        }
        "ClusterRole" => {
            let role: ClusterRole = serde_json::from_value(doc).map_err(bad)?;
            inv.cluster_roles.push(Located {
                object: role,
                origin,
            });
        }
        "RoleBinding" => {
            let b: RoleBinding = serde_json::from_value(doc).map_err(bad)?;
            need_namespace(&kind, b.metadata.namespace.as_deref()).map_err(err)?;
            check_binding(
                &b.role_ref.kind,
                &["Role", "ClusterRole"],
                b.subjects.as_deref(),
            )
            .map_err(err)?;
            inv.role_bindings.push(Located { object: b, origin });
        }
        _ => {
            let b: ClusterRoleBinding = serde_json::from_value(doc).map_err(bad)?;
            check_binding(&b.role_ref.kind, &["ClusterRole"], b.subjects.as_deref())
                .map_err(err)?;
            inv.cluster_role_bindings
                .push(Located { object: b, origin });
        }
    }
    Ok(())
}

fn add_admission(
    doc: Value,
    kind: &str,
    file: &str,
    line: u64,
    inv: &mut Inventory,
) -> Result<(), String> {
    let origin = Origin {
        file: Some(file.to_owned()),
        line,
        rule_lines: Vec::new(),
    };
    let bad = |e: serde_json::Error| format!("invalid {kind}: {e}");
    match kind {
        "ValidatingAdmissionPolicy" => inv.admission_policies.push(Located {
            object: serde_json::from_value(doc).map_err(bad)?,
            origin,
        }),
        "ValidatingAdmissionPolicyBinding" => inv.admission_bindings.push(Located {
            object: serde_json::from_value(doc).map_err(bad)?,
            origin,
        }),
        _ => {}
    }
    Ok(())
}

/// Unknown top-level fields: kubectl's strict field validation refuses them, and a misspelt
/// `rules` read as "no rules" would hide what the author meant.
fn check_fields(map: &serde_json::Map<String, Value>, kind: &str) -> Result<(), String> {
    let known: &[&str] = match kind {
        "Role" => &["apiVersion", "kind", "metadata", "rules"],
        "ClusterRole" => &["apiVersion", "kind", "metadata", "rules", "aggregationRule"],
        _ => &["apiVersion", "kind", "metadata", "roleRef", "subjects"],
    };
    let has_name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !has_name {
        return Err(format!("{kind} has no metadata.name"));
    }
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("unknown field {key:?} in {kind}")),
        None => Ok(()),
    }
}

/// kubectl would put an object without a namespace in the current context's namespace, which a
/// manifest check cannot know.
fn need_namespace(kind: &str, namespace: Option<&str>) -> Result<(), String> {
    match namespace {
        Some(ns) if !ns.is_empty() => Ok(()),
        _ => Err(format!(
            "{kind} has no metadata.namespace (kubectl would use the current context's)"
        )),
    }
}

fn check_binding(
    role_kind: &str,
    allowed: &[&str],
    subjects: Option<&[Subject]>,
) -> Result<(), String> {
    if !allowed.contains(&role_kind) {
        return Err(format!(
            "roleRef.kind {role_kind:?} is not one of {}",
            allowed.join(", ")
        ));
    }
    for s in subjects.unwrap_or_default() {
        match s.kind.as_str() {
            "User" | "Group" => {}
            "ServiceAccount" if s.namespace.as_deref().is_some_and(|n| !n.is_empty()) => {}
            "ServiceAccount" => {
                return Err(format!(
                    "ServiceAccount subject {:?} has no namespace",
                    s.name
                ));
            }
            other => return Err(format!("unknown subject kind {other:?}")),
        }
    }
    Ok(())
}

/// Reads an `audit.k8s.io/v1` `Policy` (the file given to the apiserver's `--audit-policy-file`).
pub fn load_audit_policy(text: &str, file: &str) -> Result<Located<AuditPolicy>, LintError> {
    let err = |line: u64, message: String| LintError::Document {
        file: file.to_owned(),
        line,
        message,
    };
    let doc: Spanned<Doc> = serde_saphyr::from_str_with_options(text, options(text.len()))
        .map_err(|e| LintError::Yaml {
            file: file.to_owned(),
            message: yaml_message(&e),
        })?;
    let line = doc.referenced.line().max(1);
    let Doc { value, lines } = doc.value;
    let kind = value.get("kind").and_then(Value::as_str);
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    if kind != Some("Policy") || api_version != Some("audit.k8s.io/v1") {
        return Err(err(
            line,
            "expected apiVersion audit.k8s.io/v1, kind Policy".to_owned(),
        ));
    }
    let policy: AuditPolicy = serde_json::from_value(value)
        .map_err(|e| err(line, format!("invalid audit policy: {e}")))?;
    Ok(Located {
        object: policy,
        origin: Origin {
            file: Some(file.to_owned()),
            line,
            rule_lines: lines.rules,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn load(text: &str) -> (Inventory, Vec<String>) {
        let mut inv = Inventory::default();
        let errors = load_text(text, "m.yaml", &mut inv);
        (inv, errors.iter().map(ToString::to_string).collect())
    }

    const ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}\nrules: []\n";

    /// Everything kubectl would refuse, or read differently, is an error naming file and line.
    #[test]
    fn malformed_documents_are_errors_never_skipped() {
        let cases = [
            (format!("{ROLE}rules: []\n"), "duplicate mapping key"),
            ("- a\n- b\n".to_owned(), "must be a mapping"),
            ("metadata: {name: x}\n".to_owned(), "apiVersion and kind are required"),
            (ROLE.replace("/v1", "/v1beta1"), "is not served"),
            (format!("{ROLE}rule: []\n"), "unknown field \"rule\""),
            (ROLE.replace(", namespace: ns", ""), "no metadata.namespace"),
            (ROLE.replace("name: r, ", ""), "no metadata.name"),
            ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: ns}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: Robot, name: x}]\n".to_owned(), "unknown subject kind"),
            ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: ns}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: x}]\n".to_owned(), "has no namespace"),
            ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n".to_owned(), "is not one of ClusterRole"),
            ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}\nrules: [{verbs: get}]\n".to_owned(), "invalid Role"),
            ("apiVersion: v1\nkind: List\nitems: {a: b}\n".to_owned(), "items must be a list"),
            ("key: [unclosed\n".to_owned(), "not valid YAML"),
        ];
        for (text, want) in cases {
            let (inv, errors) = load(&text);
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert!(errors[0].contains(want), "{text}: {errors:?}");
            assert!(errors[0].starts_with("m.yaml"), "{errors:?}");
            assert!(
                inv.roles.is_empty()
                    && inv.role_bindings.is_empty()
                    && inv.cluster_role_bindings.is_empty()
            );
        }
    }

    /// YAML 1.1 reads `n` as false, as kubectl's YAML reader does: the namespace is then not a
    /// string, and the document an error (the apiserver would refuse it too).
    #[test]
    fn yaml_1_1_booleans_are_not_names() {
        let (_, errors) = load(&ROLE.replace("namespace: ns", "namespace: n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn lists_json_and_unknown_kinds() {
        let text = format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\nrules: not-a-list\n---\n\
             apiVersion: v1\nkind: List\nitems:\n- {}\n---\n{{\"apiVersion\": \"rbac.authorization.k8s.io/v1\", \"kind\": \"ClusterRole\", \"metadata\": {{\"name\": \"j\"}}}}\n---\n",
            "{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: r, namespace: ns}, rules: []}"
        );
        let (inv, errors) = load(&text);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(inv.roles.len(), 1);
        assert_eq!(inv.roles[0].origin.line, 10);
        assert_eq!(inv.cluster_roles.len(), 1);
        assert_eq!(inv.cluster_roles[0].origin.line, 12);
    }

    #[test]
    fn rule_lines_are_the_lines_of_the_rules() {
        let text = format!("# comment\n{ROLE}").replace(
            "rules: []\n",
            "rules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n\n- {apiGroups: [\"\"], resources: [x], verbs: [get]}\n",
        );
        let (inv, errors) = load(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(inv.roles[0].origin.line, 2);
        assert_eq!(inv.roles[0].origin.rule_lines, [6, 10]);
    }

    /// "Billion laughs": nested aliases that expand to more nodes than any input holds are an
    /// error, not an out-of-memory kill.
    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let (_, errors) = load(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    proptest::proptest! {
        /// Untrusted manifests never panic the loader: they load or are errors.
        #[test]
        fn arbitrary_input_never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }

        #[test]
        fn arbitrary_rbac_shaped_input_never_panics(body in "[a-z:\\[\\]{}, \\n\"*/-]{0,120}") {
            let _ = load(&format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r, namespace: ns}}\n{body}"));
        }
    }
}
