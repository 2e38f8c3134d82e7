//! Offline input: manifests (files, directories, stdin) as kubectl reads them — multi-document
//! YAML or JSON, `List` kinds, duplicate keys refused — with each document's and each rule's line.
//! Unknown kinds are ignored; a malformed document is an error, never skipped.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use serde_json::Value;
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

use kubejit_kube::policy::{self, AccessPolicyResource};

use crate::audit_policy::AuditPolicy;
use crate::check_kubejit::CONTROLLER;
use crate::error::LintError;
use crate::inventory::{Inventory, Located, Origin};
use crate::yaml_doc::{Doc, Lines};
use crate::yaml_fast;

const RBAC_V1: &str = "rbac.authorization.k8s.io/v1";
const ADMISSION_V1: &str = "admissionregistration.k8s.io/v1";

/// Duplicate keys refused; the parser's budget scaled to the input (a cluster's worth of RBAC is
/// tens of thousands of documents), while alias expansion keeps the default caps that stop
/// "billion laughs" input.
pub(crate) fn options(len: usize) -> serde_saphyr::Options {
    options_share(len, 1)
}

/// [`options`] for one of `parts` pieces of a stream of `len` bytes: each scaled budget divided
/// by `parts`, so the pieces together never get more than the whole stream would.
fn options_share(len: usize, parts: usize) -> serde_saphyr::Options {
    let caps = caps_share(len, parts);
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: caps.documents,
            max_nodes: caps.nodes,
            max_events: caps.events,
            max_total_scalar_bytes: caps.scalar_bytes,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// The scaled parts of [`options_share`]'s budget, which the fast reader keeps well inside.
pub(crate) fn caps_share(len: usize, parts: usize) -> yaml_fast::Caps {
    let parts = parts.max(1);
    let scaled = |floor: usize, per_byte: usize| floor.max(len.saturating_mul(per_byte)) / parts;
    yaml_fast::Caps {
        documents: scaled(1_024, 1),
        nodes: scaled(250_000, 2),
        events: scaled(1_000_000, 4),
        scalar_bytes: scaled(64 << 20, 1),
        comment_bytes: serde_saphyr::Budget::default().max_total_comment_bytes / parts,
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

/// Streams at least this large are parsed in pieces, one per core.
const PARALLEL_MIN: usize = 1 << 20;

/// Adds the RBAC objects of one YAML/JSON stream, named `file` in findings and errors.
///
/// A large stream is cut into pieces at document markers and the pieces are read in parallel;
/// if any piece fails to parse, the whole stream is parsed again in one pass, so errors are
/// exactly those of the one-pass reader.
pub fn load_text(text: &str, file: &str, inv: &mut Inventory) -> Vec<LintError> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    load_split(text, file, inv, cores, PARALLEL_MIN)
}

/// [`load_text`] in up to `parts` pieces when the stream has at least `min_len` bytes.
fn load_split(
    text: &str,
    file: &str,
    inv: &mut Inventory,
    parts: usize,
    min_len: usize,
) -> Vec<LintError> {
    inv.offline = true;
    let pieces = split_documents(text, parts, min_len);
    if pieces.len() > 1 {
        let n = pieces.len();
        let read: Vec<Option<(Inventory, Vec<LintError>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|&(offset, piece)| {
                    scope.spawn(move || {
                        let docs = parse(
                            piece,
                            options_share(text.len(), n),
                            caps_share(text.len(), n),
                        )
                        .ok()?;
                        let mut part = Inventory::default();
                        let errors = add_documents(docs, offset, file, &mut part);
                        Some((part, errors))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        if read.iter().all(Option::is_some) {
            let mut errors = Vec::new();
            for (part, errs) in read.into_iter().flatten() {
                merge(inv, part);
                errors.extend(errs);
            }
            return errors;
        }
    }
    match parse(text, options(text.len()), caps_share(text.len(), 1)) {
        Ok(docs) => add_documents(docs, 0, file, inv),
        Err(error) => vec![LintError::Yaml {
            file: file.to_owned(),
            message: yaml_message(&error),
        }],
    }
}

/// One pass: each document's line and value, with the lines of its rules (and List items).
///
/// The common case is read by the fast reader; a stream it hands back is read by the full one,
/// so the values and errors are always the full reader's.
fn parse(
    text: &str,
    options: serde_saphyr::Options,
    caps: yaml_fast::Caps,
) -> Result<Vec<(u64, Doc)>, serde_saphyr::Error> {
    if let Some(docs) = yaml_fast::read(text, caps) {
        return Ok(docs);
    }
    parse_full(text, options)
}

/// [`parse`] with the full reader only.
pub(crate) fn parse_full(
    text: &str,
    options: serde_saphyr::Options,
) -> Result<Vec<(u64, Doc)>, serde_saphyr::Error> {
    let docs: Vec<Spanned<Doc>> = serde_saphyr::from_multiple_with_options(text, options)?;
    Ok(docs
        .into_iter()
        .map(|d| (d.referenced.line(), d.value))
        .collect())
}

/// Adds parsed documents whose lines are counted from `offset` lines into the stream.
fn add_documents(
    docs: Vec<(u64, Doc)>,
    offset: u64,
    file: &str,
    inv: &mut Inventory,
) -> Vec<LintError> {
    let mut errors = Vec::new();
    for (line, doc) in docs.into_iter().filter(|(_, d)| !d.value.is_null()) {
        let line = line + offset;
        let Doc { value, mut lines } = doc;
        if offset > 0 {
            lines.rules.iter_mut().for_each(|l| *l += offset);
            for (item, rules) in &mut lines.items {
                *item += offset;
                rules.iter_mut().for_each(|l| *l += offset);
            }
        }
        if let Err(error) = add_document(value, file, line, &lines, inv) {
            errors.push(error);
        }
    }
    errors
}

/// Appends `part` (a later piece of the same stream) to `inv`, keeping document order.
fn merge(inv: &mut Inventory, part: Inventory) {
    inv.roles.extend(part.roles);
    inv.cluster_roles.extend(part.cluster_roles);
    inv.role_bindings.extend(part.role_bindings);
    inv.cluster_role_bindings.extend(part.cluster_role_bindings);
    inv.admission_policies.extend(part.admission_policies);
    inv.admission_bindings.extend(part.admission_bindings);
    inv.access_policies.extend(part.access_policies);
    if part.controller.is_some() {
        inv.controller = part.controller;
    }
    if part.audit_policy.is_some() {
        inv.audit_policy = part.audit_policy;
    }
}

/// Cuts a stream into at most `parts` pieces, each (but the first) starting at a `---` document
/// marker at column 0, with the number of lines before each piece.
///
/// Exact by the YAML spec (1.2, rule 206 `c-forbidden`, used by `l-bare-document`): a line that
/// starts with `---` followed by a space, tab or line break is never document content, not even
/// inside a block scalar or a quoted scalar; it always starts a new document. Anchors and aliases
/// do not cross documents. Directives (`%`) and `...` end markers tie text to the next document,
/// so a stream containing any line starting with them, or one too small to gain, is one piece.
fn split_documents(text: &str, parts: usize, min_len: usize) -> Vec<(u64, &str)> {
    let directive_or_end = |t: &str| {
        t.starts_with('%') || t.contains("\n%") || t.starts_with("...") || t.contains("\n...")
    };
    if parts < 2 || text.len() < min_len || directive_or_end(text) {
        return vec![(0, text)];
    }
    let mut cuts = Vec::new();
    let mut from = 0;
    for k in 1..parts {
        let target = (text.len() / parts * k).max(from);
        let Some(rest) = text.get(target..).or_else(|| text.get(from..)) else {
            break;
        };
        let base = text.len() - rest.len();
        let Some(at) = marker_after(rest) else {
            break;
        };
        let cut = base + at;
        if cut > from {
            cuts.push(cut);
            from = cut;
        }
    }
    let mut pieces = Vec::new();
    let (mut start, mut offset) = (0, 0u64);
    for cut in cuts {
        let (Some(piece), Some(_)) = (text.get(start..cut), text.get(cut..)) else {
            return vec![(0, text)];
        };
        pieces.push((offset, piece));
        offset += piece.bytes().filter(|b| *b == b'\n').count() as u64;
        start = cut;
    }
    match text.get(start..) {
        Some(last) => pieces.push((offset, last)),
        None => return vec![(0, text)],
    }
    pieces
}

/// The byte index of the first `---` marker line that starts after a line break in `text`.
fn marker_after(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text.get(from..)?.find("\n---") {
        let at = from + found + 1;
        match text.as_bytes().get(at + 3) {
            None | Some(b' ' | b'\t' | b'\r' | b'\n') => return Some(at),
            Some(_) => from = at,
        }
    }
    None
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
    if kind == "AccessPolicy" && api_version.starts_with("kubejit.dev/") {
        return add_access_policy(doc, &api_version, file, line, inv).map_err(err);
    }
    if kind == "Deployment" && api_version == "apps/v1" {
        return add_deployment(doc, file, line, inv).map_err(err);
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

/// An AccessPolicy, read as strictly as its CRD: only the served version, no unknown fields (the
/// spec's types refuse them), a name.
fn add_access_policy(
    doc: Value,
    api_version: &str,
    file: &str,
    line: u64,
    inv: &mut Inventory,
) -> Result<(), String> {
    let served = format!("{}/{}", policy::GROUP, policy::VERSION);
    if api_version != served {
        return Err(format!("{api_version} is not served; use {served}"));
    }
    if let Value::Object(map) = &doc {
        let known = ["apiVersion", "kind", "metadata", "spec"];
        if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown field {key:?} in AccessPolicy"));
        }
    }
    let object: AccessPolicyResource =
        serde_json::from_value(doc).map_err(|e| format!("invalid AccessPolicy: {e}"))?;
    if object.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err("AccessPolicy has no metadata.name".to_owned());
    }
    inv.access_policies.push(Located {
        object,
        origin: origin(file, line),
    });
    Ok(())
}

/// kubejit's controller Deployment; every other Deployment is ignored, like other kinds.
fn add_deployment(doc: Value, file: &str, line: u64, inv: &mut Inventory) -> Result<(), String> {
    let meta = doc.get("metadata");
    let field = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str);
    if (field("namespace"), field("name")) != (Some(CONTROLLER.0), Some(CONTROLLER.1)) {
        return Ok(());
    }
    let object: Deployment =
        serde_json::from_value(doc).map_err(|e| format!("invalid Deployment: {e}"))?;
    inv.controller = Some(Located {
        object,
        origin: origin(file, line),
    });
    Ok(())
}

fn origin(file: &str, line: u64) -> Origin {
    Origin {
        file: Some(file.to_owned()),
        line,
        rule_lines: Vec::new(),
    }
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

    /// What each reading saw: every object's name and lines, and every error.
    fn summary(inv: &Inventory, errors: &[LintError]) -> String {
        let mut out = String::new();
        let mut add = |name: &Option<String>, o: &Origin| {
            out.push_str(&format!("{name:?} {} {:?}\n", o.line, o.rule_lines));
        };
        inv.roles
            .iter()
            .for_each(|r| add(&r.object.metadata.name, &r.origin));
        inv.cluster_roles
            .iter()
            .for_each(|r| add(&r.object.metadata.name, &r.origin));
        inv.role_bindings
            .iter()
            .for_each(|r| add(&r.object.metadata.name, &r.origin));
        inv.cluster_role_bindings
            .iter()
            .for_each(|r| add(&r.object.metadata.name, &r.origin));
        for e in errors {
            out.push_str(&format!("{e}\n"));
        }
        out
    }

    /// The parallel reading (pieces cut at `---` lines) sees exactly what one pass sees.
    fn same_in_pieces(text: &str) -> String {
        let mut whole = Inventory::default();
        let whole_errors = load_split(text, "m.yaml", &mut whole, 1, usize::MAX);
        let expected = summary(&whole, &whole_errors);
        for parts in [2, 3, 7] {
            let mut split = Inventory::default();
            let errors = load_split(text, "m.yaml", &mut split, parts, 0);
            assert_eq!(
                summary(&split, &errors),
                expected,
                "{parts} pieces of {text:?}"
            );
        }
        expected
    }

    fn role(i: usize) -> String {
        format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r{i}, namespace: ns}}\nrules:\n- {{apiGroups: [\"\"], resources: [pods], verbs: [get]}}\n- {{apiGroups: [\"\"], resources: [pods/exec], verbs: [create]}}\n"
        )
    }

    #[test]
    fn pieces_read_like_one_pass() {
        let roles: String = (0..12).map(role).collect();
        let seen = same_in_pieces(&roles);
        assert_eq!(seen.lines().count(), 12);
        assert!(seen.contains("Some(\"r11\") 79 [83, 84]"), "{seen}");
        // Markers inside block and quoted scalars, `---x` lines that are not markers, a List.
        let tricky = [
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    x\n---\n  b: c\n",
            "apiVersion: v1\nkind: ConfigMap\ndata: {a: \"x\n---\n\"}\n",
            "apiVersion: v1\nkind: ConfigMap\ndata: {a: 'x\n--- y\n'}\n",
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: x\n---x: 1\n",
            "%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\n",
            "apiVersion: v1\nkind: ConfigMap\n...\n---\napiVersion: v1\nkind: ConfigMap\n",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata: {name: li, namespace: ns}\n  rules:\n  - {apiGroups: [\"\"], resources: [pods], verbs: [get]}\n",
        ];
        for t in tricky {
            same_in_pieces(&format!("{roles}---\n{t}{roles}"));
        }
    }

    /// A refused document in a later piece is the same error, at the same line, as in one pass;
    /// an alias bomb in a piece is still stopped.
    #[test]
    fn pieces_keep_every_refusal() {
        let roles: String = (0..6).map(role).collect();
        let dup = format!("{roles}---\n{ROLE}rules: []\n{roles}");
        assert!(same_in_pieces(&dup).contains("duplicate mapping key"));
        let unknown = format!("{roles}---\n{ROLE}rule: []\n{roles}");
        assert!(same_in_pieces(&unknown).contains("unknown field"));
        let mut bomb = format!("{roles}---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        bomb.push_str(&roles);
        let seen = same_in_pieces(&bomb);
        assert_eq!(seen.lines().count(), 1, "{seen}");
        let yes = format!(
            "{roles}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: y, namespace: ns}}\nrules: [{{apiGroups: [\"\"], resources: [pods], verbs: [get], x: yes}}]\n"
        );
        same_in_pieces(&yes);
    }

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

    /// Plain scalars that YAML types as numbers or booleans stay so: kubectl sends them as JSON
    /// numbers and booleans, which the apiserver refuses for string fields. A typed reader must not
    /// turn them into text (the pin for deserializing without a `Value` tree).
    #[test]
    fn non_string_scalars_in_string_fields_are_errors() {
        let cases = [
            ROLE.replace("name: r,", "name: 123,"),
            ROLE.replace("name: r,", "name: true,"),
            ROLE.replace("rules: []", "rules: [{apiGroups: [\"\"], resources: [pods], verbs: [1]}]"),
            ROLE.replace("namespace: ns}", "namespace: ns, labels: {a: 1}}"),
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 7}\n".to_owned(),
        ];
        for text in cases {
            let (inv, errors) = load(&text);
            assert_eq!(errors.len(), 1, "{text}: {errors:?}");
            assert!(
                inv.roles.is_empty() && inv.cluster_role_bindings.is_empty(),
                "{text}"
            );
        }
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
