//! Table tests for AccessPolicy validation: every malformed input fails with a named field.

use serde_json::{Value, json};

use super::*;
use crate::subject::{Subjects, UserName};
use crate::testutil::policy;

fn base() -> Value {
    json!({
        "requesters": {"groups": ["oncall-payments"], "users": ["alice"]},
        "certificateGroups": ["payments-debug"],
        "maxTTL": "1h",
        "defaultTTL": "30m",
        "incident": {"pattern": "INC-[0-9]+"},
        "approval": {"mode": "Auto"},
        "grants": [{
            "name": "debug",
            "roles": [{"kind": "Role", "name": "oncall-debug"}],
            "namespaces": ["payments"],
            "subjects": {"groups": ["oncall-payments"]},
            "maxTTL": "2h"
        }]
    })
}

fn with(path: &[&str], value: Value) -> Value {
    let mut spec = base();
    let mut cursor = &mut spec;
    for key in &path[..path.len() - 1] {
        cursor = match key.parse::<usize>() {
            Ok(i) => &mut cursor[i],
            Err(_) => &mut cursor[*key],
        };
    }
    let last = path[path.len() - 1];
    match value {
        Value::Null => {
            cursor.as_object_mut().unwrap().remove(last);
        }
        v => cursor[last] = v,
    }
    spec
}

fn parse(spec: Value) -> Result<NamedPolicy, String> {
    let spec: AccessPolicySpec = serde_json::from_value(spec).map_err(|e| format!("serde: {e}"))?;
    NamedPolicy::parse("payments-oncall", &spec).map_err(|e| e.to_string())
}

#[test]
fn valid_policy_parses_with_defaults() {
    let p = policy("payments-oncall", base());
    assert_eq!(p.policy.max_ttl.as_secs(), 3600);
    assert!(
        p.policy.incident.required,
        "incident is required unless a policy says otherwise"
    );
    assert_eq!(p.policy.incident.max_length, 64);
    assert_eq!(p.policy.approval, Approval::Auto);
    let rule = &p.policy.grants[0];
    assert_eq!(rule.max_ttl.as_secs(), 7200);
    assert_eq!(
        rule.incident, p.policy.incident,
        "grant rules inherit the policy incident rule"
    );
    assert!(p.policy.issues_certificates());
}

#[test]
fn malformed_policies_are_refused_with_the_field() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown field",
            with(&["maxTtl"], json!("1h")),
            "unknown field `maxTtl`",
        ),
        (
            "unknown nested field",
            with(&["incident", "regex"], json!("x")),
            "unknown field `regex`",
        ),
        (
            "no requesters",
            with(&["requesters"], json!({})),
            "spec.requesters: must list at least one",
        ),
        (
            "system group requester",
            with(&["requesters", "groups"], json!(["system:authenticated"])),
            "reserved",
        ),
        (
            "system user requester",
            with(&["requesters", "users"], json!(["system:admin"])),
            "reserved",
        ),
        (
            "system cert group",
            with(&["certificateGroups"], json!(["system:masters"])),
            "spec.certificateGroups[0]",
        ),
        (
            "duplicate cert group",
            with(&["certificateGroups"], json!(["a", "a"])),
            "listed twice",
        ),
        (
            "maxTTL below floor",
            with(&["maxTTL"], json!("9m")),
            "spec.maxTTL: TTL 9m is shorter",
        ),
        (
            "maxTTL garbage",
            with(&["maxTTL"], json!("forever")),
            "spec.maxTTL",
        ),
        (
            "maxTTL missing",
            with(&["maxTTL"], Value::Null),
            "missing field `maxTTL`",
        ),
        (
            "default above max",
            with(&["defaultTTL"], json!("2h")),
            "defaultTTL 2h is longer than maxTTL 1h",
        ),
        (
            "bad pattern",
            with(&["incident", "pattern"], json!("INC-[")),
            "spec.incident.pattern",
        ),
        (
            "zero maxLength",
            with(&["incident", "maxLength"], json!(0)),
            "maxLength must be between 1 and 128",
        ),
        (
            "huge maxLength",
            with(&["incident", "maxLength"], json!(500)),
            "maxLength",
        ),
        (
            "unknown mode",
            with(&["approval", "mode"], json!("Yolo")),
            "unknown variant `Yolo`",
        ),
        (
            "auto with approvers",
            with(&["approval", "approvers"], json!({"users": ["bob"]})),
            "only meaningful",
        ),
        (
            "manual without approvers",
            with(&["approval"], json!({"mode": "Manual"})),
            "needs approvers",
        ),
        (
            "manual with empty approvers",
            with(&["approval"], json!({"mode": "Manual", "approvers": {}})),
            "needs approvers",
        ),
        (
            "approval missing",
            with(&["approval"], Value::Null),
            "missing field `approval`",
        ),
        (
            "grant without roles",
            with(&["grants", "0", "roles"], json!([])),
            "spec.grants[0].roles: must list",
        ),
        (
            "grant bad role kind",
            with(
                &["grants", "0", "roles"],
                json!([{"kind": "Pod", "name": "x"}]),
            ),
            "Pod",
        ),
        (
            "grant bad namespace",
            with(&["grants", "0", "namespaces"], json!(["Pay"])),
            "spec.grants[0].namespaces[0]",
        ),
        (
            "grant no namespaces",
            with(&["grants", "0", "namespaces"], json!([])),
            "namespaces: must list",
        ),
        (
            "grant no subjects",
            with(&["grants", "0", "subjects"], json!({})),
            "spec.grants[0].subjects",
        ),
        (
            "grant zero ttl",
            with(&["grants", "0", "maxTTL"], json!("0s")),
            "spec.grants[0].maxTTL",
        ),
        (
            "grant default above max",
            with(&["grants", "0", "defaultTTL"], json!("3h")),
            "longer than maxTTL",
        ),
        (
            "auto with an approval count",
            with(&["approval", "approvals"], json!(2)),
            "spec.approval: approvals and approvalTimeout are only meaningful with mode Manual",
        ),
        (
            "zero approvals",
            with(
                &["approval"],
                json!({"mode": "Manual", "approvers": {"users": ["oscar"]}, "approvals": 0}),
            ),
            "spec.approval.approvals: approvals must be between 1 and 5",
        ),
        (
            "too many approvals",
            with(
                &["approval"],
                json!({"mode": "Manual", "approvers": {"users": ["oscar"]}, "approvals": 6}),
            ),
            "between 1 and 5",
        ),
        (
            "approval timeout above a week",
            with(
                &["approval"],
                json!({"mode": "Manual", "approvers": {"users": ["oscar"]}, "approvalTimeout": "200h"}),
            ),
            "spec.approval.approvalTimeout: approvalTimeout 8days 8h is longer",
        ),
        (
            "approval timeout garbage",
            with(
                &["approval"],
                json!({"mode": "Manual", "approvers": {"users": ["oscar"]}, "approvalTimeout": "soon"}),
            ),
            "spec.approval.approvalTimeout",
        ),
        (
            "grant rule manual without approvers",
            with(&["grants", "0", "approval"], json!({"mode": "Manual"})),
            "spec.grants[0].approval.approvers: mode Manual needs approvers",
        ),
        (
            "grant rule auto with timeout",
            with(
                &["grants", "0", "approval"],
                json!({"mode": "Auto", "approvalTimeout": "1h"}),
            ),
            "spec.grants[0].approval: approvals and approvalTimeout",
        ),
        (
            "webhook over plain http",
            with(
                &["notify"],
                json!({"webhook": {"url": "http://hooks.example.com/x", "secretRef": {"name": "hook", "key": "hmac"}}}),
            ),
            "spec.notify.webhook.url: must use https",
        ),
        (
            "webhook with credentials",
            with(
                &["notify"],
                json!({"webhook": {"url": "https://u:p@hooks.example.com/x", "secretRef": {"name": "hook", "key": "hmac"}}}),
            ),
            "spec.notify.webhook.url: must not carry credentials",
        ),
        (
            "webhook bad secret name",
            with(
                &["notify"],
                json!({"webhook": {"url": "https://hooks.example.com/x", "secretRef": {"name": "Hook Secret", "key": "hmac"}}}),
            ),
            "spec.notify.webhook.secretRef.name",
        ),
        (
            "webhook bad secret key",
            with(
                &["notify"],
                json!({"webhook": {"url": "https://hooks.example.com/x", "secretRef": {"name": "hook", "key": "a/b"}}}),
            ),
            "spec.notify.webhook.secretRef.key",
        ),
        (
            "webhook without secret",
            with(
                &["notify"],
                json!({"webhook": {"url": "https://hooks.example.com/x"}}),
            ),
            "missing field `secretRef`",
        ),
        (
            "webhook secret in another namespace",
            with(
                &["notify"],
                json!({"webhook": {"url": "https://hooks.example.com/x", "secretRef": {"name": "hook", "key": "hmac", "namespace": "payments"}}}),
            ),
            "unknown field `namespace`",
        ),
        (
            "notify without webhook",
            with(&["notify"], json!({})),
            "missing field `webhook`",
        ),
        (
            "grant bad rule name",
            with(&["grants", "0", "name"], json!("Debug Rule")),
            "spec.grants[0].name",
        ),
    ];
    for (what, spec, want) in cases {
        let err = parse(spec).expect_err(what);
        assert!(
            err.contains(want),
            "{what}: {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn duplicate_grant_rule_names_are_refused() {
    let mut spec = base();
    let rule = spec["grants"][0].clone();
    spec["grants"].as_array_mut().unwrap().push(rule);
    assert!(parse(spec).unwrap_err().contains("spec.grants[1].name"));
}

#[test]
fn grants_only_policy_issues_no_certificates() {
    let p = policy("grants-only", with(&["certificateGroups"], Value::Null));
    assert!(!p.policy.issues_certificates());
}

#[test]
fn grant_rules_may_be_shorter_than_the_csr_floor() {
    let p = policy("short", with(&["grants", "0", "maxTTL"], json!("5s")));
    assert_eq!(p.policy.grants[0].max_ttl.as_secs(), 5);
}

#[test]
fn manual_approval_keeps_approvers() {
    let p = policy(
        "m",
        with(
            &["approval"],
            json!({"mode": "Manual", "approvers": {"groups": ["sre-leads"]}}),
        ),
    );
    match p.policy.approval {
        Approval::Manual { approvers, .. } => assert_eq!(approvers.groups.len(), 1),
        Approval::Auto => panic!("expected manual"),
    }
}

/// Policies written before AccessRequests keep their meaning: a grant rule without `approval` is
/// Auto (a listed requester gets the grant alone, as with `kubejit grant`), and it does not inherit
/// the policy's certificate approval.
#[test]
fn grant_rules_without_approval_stay_auto() {
    let spec = with(
        &["approval"],
        json!({"mode": "Manual", "approvers": {"groups": ["sre-leads"]}}),
    );
    let p = policy("old", spec);
    assert_eq!(p.policy.grants[0].approval, Approval::Auto);
}

#[test]
fn manual_approval_defaults_to_one_approver_within_an_hour() {
    let rule = json!({"mode": "Manual", "approvers": {"users": ["oscar"]}});
    let p = policy("m", with(&["grants", "0", "approval"], rule));
    assert_eq!(
        p.policy.grants[0].approval,
        Approval::Manual {
            approvers: Subjects {
                users: [UserName::parse("oscar").unwrap()].into(),
                groups: Default::default(),
            },
            approvals: 1,
            timeout: crate::Ttl::parse("1h").unwrap(),
        }
    );
    let rule = json!({"mode": "Manual", "approvers": {"users": ["oscar", "olga"]},
                      "approvals": 2, "approvalTimeout": "168h"});
    let p = policy("m", with(&["grants", "0", "approval"], rule));
    match &p.policy.grants[0].approval {
        Approval::Manual {
            approvals, timeout, ..
        } => {
            assert_eq!(*approvals, 2);
            assert_eq!(*timeout, MAX_APPROVAL_TIMEOUT);
        }
        Approval::Auto => panic!("expected manual"),
    }
}

#[test]
fn approval_constants_are_valid_ttls() {
    for t in [DEFAULT_APPROVAL_TIMEOUT, MAX_APPROVAL_TIMEOUT] {
        assert_eq!(crate::Ttl::from_secs(t.as_secs()), Ok(t));
    }
}

#[test]
fn notify_webhook_parses() {
    assert_eq!(policy("p", base()).policy.notify, None);
    let hook = json!({"webhook": {"url": "https://hooks.example.com/kubejit?token=t",
                                  "secretRef": {"name": "kubejit-webhook", "key": "hmac"}}});
    let p = policy("p", with(&["notify"], hook));
    let webhook = p.policy.notify.unwrap();
    assert_eq!(
        webhook.url.as_str(),
        "https://hooks.example.com/kubejit?token=t"
    );
    assert_eq!(webhook.secret.name.as_str(), "kubejit-webhook");
    assert_eq!(webhook.secret.key, "hmac");
}

#[test]
fn policy_name_must_be_a_kubernetes_name() {
    let spec: AccessPolicySpec = serde_json::from_value(base()).unwrap();
    let err = NamedPolicy::parse("Not A Name", &spec).unwrap_err();
    assert_eq!(err.field, "metadata.name");
}

#[test]
fn spec_round_trips_through_serde() {
    let mut full = base();
    full["notify"] = json!({"webhook": {"url": "https://h.example.com/", "secretRef": {"name": "s", "key": "k"}}});
    let spec: AccessPolicySpec = serde_json::from_value(full).unwrap();
    let again: AccessPolicySpec =
        serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(spec, again);
}

mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::*;

    proptest! {
        /// Arbitrary strings anywhere in a spec either validate or fail with an error, never a panic,
        /// and whatever validates never carries a `system:` name.
        #[test]
        fn arbitrary_fields_never_panic(
            user in "\\PC{0,20}",
            group in "(system:)?\\PC{0,20}",
            ttl in "\\PC{0,8}",
            pattern in "\\PC{0,12}",
            max_length in any::<u32>(),
        ) {
            let spec = json!({
                "requesters": {"users": [user]},
                "certificateGroups": [group],
                "maxTTL": ttl,
                "incident": {"pattern": pattern, "maxLength": max_length},
                "approval": {"mode": "Auto"}
            });
            let spec: AccessPolicySpec = serde_json::from_value(spec).unwrap();
            if let Ok(p) = NamedPolicy::parse("fuzz", &spec) {
                prop_assert!(p.policy.certificate_groups.iter().all(|g| !g.as_str().starts_with("system:")));
                prop_assert!(p.policy.requesters.users.iter().all(|u| !u.as_str().starts_with("system:")));
                prop_assert!(p.policy.max_ttl.as_secs() >= 600);
            }
        }
    }
}
