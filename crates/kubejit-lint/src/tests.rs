//! Each rule on its fixture (`fixtures/rules/kjlNNN.yaml`): the violation is found, the compliant
//! control is not; and the whole directory yields exactly `fixtures/expected.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use time::macros::datetime;

use crate::{Inventory, RuleId, Settings, Suppressions, load, run};

const NOW: time::OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The settings the fixtures are written for (also `crates/kubejit/tests/lint.rs`).
pub(crate) fn fixture_settings() -> Settings {
    let mut s = Settings::default();
    s.break_glass.push("User:kjl-breakglass".parse().unwrap());
    s
}

fn lint_path(path: &Path) -> crate::report::Outcome {
    let mut inv = Inventory::default();
    let errors = load::load_path(path, &mut inv);
    assert!(errors.is_empty(), "{errors:?}");
    inv.aggregate();
    run(&inv, &fixture_settings(), NOW, Suppressions::default())
}

fn names(f: &crate::Finding) -> Vec<String> {
    [&f.binding, &f.role]
        .into_iter()
        .flatten()
        .map(|o| o.name.clone())
        .collect()
}

#[test]
fn each_rule_finds_its_violation_and_not_its_control() {
    for rule in RuleId::ALL {
        if *rule == RuleId::AuditDropsDebug {
            continue; // fixtures/audit, below
        }
        let file = fixtures().join(format!("rules/{}.yaml", rule.id().to_lowercase()));
        let outcome = lint_path(&file);
        assert!(
            outcome.findings.iter().any(|f| f.rule == *rule),
            "{rule} not found in {}: {:#?}",
            file.display(),
            outcome.findings
        );
        for f in &outcome.findings {
            assert!(
                names(f).iter().any(|n| n.contains("-bad")),
                "{rule}: a finding about a compliant object: {f:#?}"
            );
        }
    }
}

#[test]
fn the_audit_policy_rule_finds_the_drop_and_not_the_control() {
    let check = |name: &str| {
        let path = fixtures().join("audit").join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let policy = load::load_audit_policy(&text, name).unwrap();
        crate::audit_policy::check(&policy)
    };
    let bad = check("kjl018-bad.yaml");
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(
        bad.iter()
            .all(|f| f.rule == RuleId::AuditDropsDebug && f.origin.line == 8)
    );
    assert_eq!(check("kjl018-ok.yaml"), []);
}

/// `fixtures/expected.txt` is the contract the real-cluster test checks live findings against.
#[test]
fn the_fixture_directory_yields_exactly_the_expected_findings() {
    let outcome = lint_path(&fixtures().join("rules"));
    let got: Vec<String> = outcome.findings.iter().map(crate::Finding::key).collect();
    let expected = std::fs::read_to_string(fixtures().join("expected.txt")).unwrap();
    let expected: Vec<&str> = expected.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(got, expected, "got:\n{}", got.join("\n"));
    assert_eq!(outcome.suppressed.len(), 1);
}

#[test]
fn offline_findings_point_at_the_rule_line() {
    let outcome = lint_path(&fixtures().join("rules/kjl012.yaml"));
    let f = &outcome.findings[0];
    assert_eq!(f.origin.line, 5, "{f:#?}");
    assert!(f.origin.file.as_deref().unwrap().ends_with("kjl012.yaml"));
}

#[test]
fn table_output_names_rule_subject_path_rule_line_and_fix() {
    let outcome = lint_path(&fixtures().join("rules/kjl012.yaml"));
    let table = crate::report::table(&outcome);
    let file = fixtures().join("rules/kjl012.yaml");
    let expected = format!(
        "HIGH      KJL012  User:kjl-alice  RoleBinding kjl-fixtures/kjl012-bad -> Role kjl-fixtures/kjl012-bad\n          \
         User:kjl-alice can create serviceaccount tokens\n          \
         rules[0]: {{apiGroups: [\"\"], resources: [serviceaccounts/token], verbs: [create]}}\n          \
         at {}:5\n          \
         fix: Remove serviceaccounts/token create: it mints tokens for any ServiceAccount in scope.\n\
         1 findings (0 critical, 1 high, 0 medium, 0 low), 0 suppressed\n",
        file.display()
    );
    assert_eq!(table, expected);
}

/// The SARIF 2.1.0 fields code-scanning UIs read.
#[test]
fn sarif_has_rules_results_levels_and_locations() {
    let outcome = lint_path(&fixtures().join("rules"));
    let sarif = crate::report::sarif(&outcome);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RuleId::ALL.len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), outcome.findings.len());
    for (result, finding) in results.iter().zip(&outcome.findings) {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert_eq!(result["ruleId"], finding.rule.id());
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let physical = &result["locations"][0]["physicalLocation"];
        assert!(
            physical["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with(".yaml")
        );
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}

/// A suppressions file covers exactly what it names; the finding moves to `suppressed`.
#[test]
fn a_suppressions_file_moves_the_named_finding() {
    let mut inv = Inventory::default();
    assert!(load::load_path(&fixtures().join("rules/kjl013.yaml"), &mut inv).is_empty());
    let mut extra = Suppressions::default();
    let text = "suppressions:\n- {rule: KJL013, binding: ClusterRoleBinding kjl013-bad, reason: node debugging team, expires: 2027-06-30}\n- {rule: KJL013, binding: ClusterRoleBinding other, reason: x, expires: 2027-06-30}\n";
    extra.read_file(text, "s.yaml", NOW).unwrap();
    let outcome = run(&inv, &fixture_settings(), NOW, extra);
    assert_eq!(outcome.findings, []);
    assert_eq!(outcome.suppressed.len(), 1);
    assert_eq!(outcome.suppressed[0].reason, "node debugging team");
}
