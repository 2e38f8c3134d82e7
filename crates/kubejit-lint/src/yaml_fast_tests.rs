//! Differential tests: wherever the fast reader takes a stream, it reads exactly what the full reader
//! reads (same values, same document and rule lines); where the full reader refuses, it hands back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::load::{caps_share, options, parse_full};
use crate::yaml_doc::Doc;
use crate::yaml_fast;

/// Whether the fast reader took `text`; panics if it read it differently from the full reader.
///
/// Empty documents are compared away: the loader skips them (the full reader drops a trailing one).
fn agree(text: &str) -> bool {
    let Some(fast) = yaml_fast::read(text, caps_share(text.len(), 1)) else {
        return false;
    };
    let present = |docs: Vec<(u64, Doc)>| -> Vec<(u64, Doc)> {
        docs.into_iter()
            .filter(|(_, d)| !d.value.is_null())
            .collect()
    };
    match parse_full(text, options(text.len())) {
        Ok(full) => assert_eq!(present(fast), present(full), "read differently: {text:?}"),
        Err(error) => panic!("fast reader took what the full reader refuses ({error}): {text:?}"),
    }
    true
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// Every manifest the project ships or tests with: the lint fixtures and the deploy tree.
#[test]
fn fixtures_and_deploy_manifests_read_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    yaml_files(&root.join("fixtures"), &mut files);
    yaml_files(&root.join("../../deploy"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    let mut taken = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if agree(&text) {
            taken += 1;
        }
        // The same documents with CRLF line ends and as one stream with a marker between.
        agree(&text.replace('\n', "\r\n"));
        agree(&format!("{text}\n---\n{text}"));
    }
    // The common path must be the fast one: every lint fixture is plain YAML.
    assert!(taken * 10 >= files.len() * 9, "{taken} of {}", files.len());
}

const ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n\n- {apiGroups: [\"\"], resources: [x], verbs: [get]}\n";

/// Scalars whose type YAML 1.1 and 1.2 readers argue about, and text that only looks like them.
const SCALARS: &[&str] = &[
    "yes",
    "Yes",
    "YES",
    "yEs",
    "no",
    "No",
    "on",
    "On",
    "off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "False",
    "~",
    "null",
    "Null",
    "NULL",
    "nULL",
    "",
    "0x10",
    "0X10",
    "0o17",
    "0O17",
    "0b101",
    "017",
    "08",
    "0",
    "-0",
    "+1",
    "-1",
    "1e3",
    "1E3",
    "1e+3",
    "1.5",
    ".5",
    "-.5",
    "+.5e-3",
    "5.",
    "1_000",
    "1__0",
    "_1",
    "1:30",
    "1:30:00",
    ".inf",
    "-.inf",
    "+.Inf",
    ".nan",
    "-.nan",
    ".NaN",
    "inf",
    "nan",
    "infinity",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1e999",
    "-1e999",
    "1.2.3",
    "v1.2",
    "2999-01-01T00:00:00Z",
    "2001-12-14",
    "0.",
    ".",
    "-",
    "+",
    "...",
    "---x",
    "=",
    "<<",
    "foo bar",
    "1 2",
    "0x",
    "0xG",
    "1e",
    "e3",
    "1,2",
    "1]",
    "a:b",
    "http://x",
    "#x",
    "a #b",
    "-1-",
    "+-1",
    "--1",
    "0x_1",
    "0b",
    "1.0e",
    "١٢",
    "１",
];

/// Each scalar plain, quoted and as a block scalar, as a value and as a key, in block and flow
/// context.
#[test]
fn scalars_read_the_same_in_every_style_and_place() {
    let mut taken = 0;
    for s in SCALARS {
        let styles = [
            (*s).to_owned(),
            format!("'{s}'"),
            format!("\"{s}\""),
            format!("|\n    {s}\n"),
            format!(">-\n    {s}\n"),
        ];
        for v in &styles {
            let texts = [
                format!("a: {v}\n"),
                format!("a:\n- {v}\n- x\n"),
                format!("{v}: a\n"),
                format!("{{a: {v}, b: c}}\n"),
                format!("[{v}, x]\n"),
                format!("{{{v}: a}}\n"),
                format!("---\n{v}\n---\na: b\n"),
                format!("a:\n  b: {v}\n  c: d\n"),
            ];
            for t in &texts {
                if agree(t) {
                    taken += 1;
                }
            }
        }
    }
    assert!(taken > SCALARS.len() * 20, "{taken}");
}

/// Structure: documents, markers inside scalars, comments, empty documents and values, flow and
/// block collections, CRLF, and every construct the fast reader hands back.
#[test]
fn structures_read_the_same() {
    let roles = format!("{ROLE}---\n{ROLE}");
    let cases: Vec<String> = vec![
        ROLE.to_owned(),
        roles.clone(),
        format!("---\n{roles}---\n"),
        format!("# c\n{ROLE}# d\n"),
        format!("{ROLE}...\n---\n{ROLE}"),
        format!("%YAML 1.1\n---\n{ROLE}"),
        format!("%TAG !e! tag:example.com:\n---\n{ROLE}"),
        format!("\u{feff}{ROLE}"),
        format!("{ROLE}---\n\u{feff}a: b\n"),
        ROLE.replace('\n', "\r\n"),
        ROLE.replace('\n', "\r"),
        format!("a: \"x\u{85}y\"\n{ROLE}"),
        format!("a: x\u{2028}y\n"),
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    x\n---\n  b: c\n".to_owned(),
        "apiVersion: v1\nkind: ConfigMap\ndata: {a: \"x\n---\n\"}\n".to_owned(),
        "apiVersion: v1\nkind: ConfigMap\ndata: {a: 'x\n--- y\n'}\n".to_owned(),
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: x\n---x: 1\n".to_owned(),
        "a: |+\n  x\n\n\nb: >\n  folded\n  text\n\n  more\nc: |2-\n    indented\n".to_owned(),
        "a: \"esc \\t \\u00e9 \\x41 \\\n  cont\"\nb: 'it''s'\n".to_owned(),
        "a:\nb: ~\nc: []\nd: {}\ne: [[], {}, [a, [b]]]\n".to_owned(),
        "- a\n- - b\n  - c\n- d: e\n  f: g\n".to_owned(),
        "? a\n: b\n? [c]\n: d\n".to_owned(),
        "{a, b: c, ? d}\n".to_owned(),
        "[a: b, c]\n".to_owned(),
        "a: b\na: c\n".to_owned(),
        "a: b\n'a': c\n".to_owned(),
        "a: &x b\nc: *x\n".to_owned(),
        "a: &x {b: c}\nd:\n  <<: *x\n  e: f\n".to_owned(),
        "a: !!str 1\n".to_owned(),
        "a: !foo b\n".to_owned(),
        "a: !!binary aGVsbG8=\n".to_owned(),
        "!!map {a: b}\n".to_owned(),
        "a:\tb\n".to_owned(),
        "a: b\t\n".to_owned(),
        "\ta: b\n".to_owned(),
        "a:\n\t- b\n".to_owned(),
        "a: b # c\n#d\n".to_owned(),
        "a: b#c\n".to_owned(),
        "a: 'multi\n  line'\nb: plain\n  folded\n  text\n".to_owned(),
        "a: \"unterminated\n".to_owned(),
        "key: [unclosed\n".to_owned(),
        "- a\nb: c\n".to_owned(),
        "a:\n  - b\n - c\n".to_owned(),
        "  a: b\n c: d\n".to_owned(),
        "a: b: c\n".to_owned(),
        "a: @b\n".to_owned(),
        "a: `b\n".to_owned(),
        "a: %b\n".to_owned(),
        "a: b\n...\n".to_owned(),
        "...\n".to_owned(),
        String::new(),
        "\n\n# only a comment\n".to_owned(),
        "---\n---\n".to_owned(),
        "--- a\n--- b\n".to_owned(),
        "--- |\n  x\n".to_owned(),
        "--- {a: b}\n".to_owned(),
        // Inputs on which other parsers panicked (libyaml-safer's issues 6 and 7).
        ">\n *".to_owned(),
        "a: ''|\n 0".to_owned(),
        "[!,".to_owned(),
        "a\n".to_owned(),
        "\"a\"\n".to_owned(),
        "1\n".to_owned(),
        format!("{}: v\n", "k".repeat(1100)),
        format!("a: {}\n", "v".repeat(5000)),
        format!("{}{}", "[".repeat(70), "]".repeat(70)),
        format!("{}a{}", "[".repeat(40), "]".repeat(40)),
        (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect(),
    ];
    for case in &cases {
        agree(case);
        agree(&case.replace('\n', "\r\n"));
    }
    // The plain ones among them are read by the fast reader, not handed back.
    let plain = [
        cases[0].as_str(),
        &cases[1],
        &cases[2],
        &cases[3],
        &cases[4],
        &cases[9],
        &cases[13],
        &cases[17],
        &cases[18],
        &cases[19],
        &cases[20],
        &cases[22],
    ];
    for case in plain {
        assert!(agree(case), "handed back: {case:?}");
        assert!(agree(&case.replace('\n', "\r\n")), "handed back: {case:?}");
    }
}

/// The common case (plain RBAC manifests, Lists, JSON) takes the fast path, with lines.
#[test]
fn plain_rbac_takes_the_fast_path() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata: {name: li, namespace: ns}\n  rules:\n  - {apiGroups: [\"\"], resources: [pods], verbs: [get]}\n";
    let json = "{\"apiVersion\": \"rbac.authorization.k8s.io/v1\", \"kind\": \"ClusterRole\", \"metadata\": {\"name\": \"j\"}}\n";
    for text in [ROLE, list, json] {
        assert!(agree(text), "{text}");
    }
    let docs = yaml_fast::read(ROLE, caps_share(ROLE.len(), 1)).unwrap();
    assert_eq!(docs[0].0, 1);
    assert_eq!(docs[0].1.lines.rules, [5, 9]);
}

proptest::proptest! {
    /// Arbitrary YAML-ish text: the fast reader hands back or reads exactly what the full reader
    /// reads.
    #[test]
    fn arbitrary_input_reads_the_same(text in "[a-z01.:\\[\\]{},'\"|>!&*#?~ \\n\\t-]{0,80}") {
        agree(&text);
    }

    #[test]
    fn arbitrary_scalars_read_the_same(s in "[a-zA-Z0-9.+_:eExXoObB~-]{0,12}") {
        agree(&format!("a: {s}\nb: [{s}, x]\n"));
    }
}
