//! The committed CRDs in deploy/crds/ and the Rust types agree: names, scope, subresources, and every
//! field in both directions (a field only in Rust would be pruned by the apiserver; one only in the
//! schema would be ignored by kubejit).

use std::collections::BTreeSet;

use kube::Resource;
use serde_json::{Value, json};

use super::*;

const REQUEST_CRD: &str = include_str!("../../../../deploy/crds/accessrequests.kubejit.dev.yaml");
const APPROVAL_CRD: &str = include_str!("../../../../deploy/crds/accessapprovals.kubejit.dev.yaml");
const POLICY_CRD: &str = include_str!("../../../../deploy/crds/accesspolicies.kubejit.dev.yaml");

fn crd(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

/// Every property path in an OpenAPI schema ("spec.requester.username", "spec.subjects.users[]").
fn schema_paths(schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.insert(path.clone());
            schema_paths(v, &path, out);
        }
    }
    if schema["items"].is_object() {
        schema_paths(&schema["items"], &format!("{prefix}[]"), out);
    }
}

/// Every field path in a JSON value, with the same spelling.
fn value_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                value_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                value_paths(item, &format!("{prefix}[]"), out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn check<K: Resource<DynamicType = ()>>(text: &str, full: &Value) {
    let crd = crd(text);
    let spec = &crd["spec"];
    assert_eq!(spec["group"], K::group(&()).as_ref());
    assert_eq!(spec["names"]["kind"], K::kind(&()).as_ref());
    assert_eq!(spec["names"]["plural"], K::plural(&()).as_ref());
    assert_eq!(spec["scope"], "Namespaced");
    let version = &spec["versions"][0];
    assert_eq!(version["name"], K::version(&()).as_ref());
    let schema = &version["schema"]["openAPIV3Schema"];
    let mut want = BTreeSet::new();
    schema_paths(schema, "", &mut want);
    let mut got = BTreeSet::new();
    value_paths(full, "", &mut got);
    got.retain(|p| !p.starts_with("metadata") && p != "apiVersion" && p != "kind");
    assert_eq!(
        got, want,
        "Rust fields (left) and CRD schema (right) differ"
    );
    let columns = version["additionalPrinterColumns"].as_array().unwrap();
    for column in columns {
        let path = column["jsonPath"].as_str().unwrap().trim_start_matches('.');
        assert!(
            path.starts_with("metadata.") || want.contains(path),
            "printer column {path} names no field"
        );
    }
}

/// A request with every field set, round-tripped through the Rust types.
fn full_request() -> Value {
    let t = "2030-01-02T10:00:00Z";
    let value = json!({
        "metadata": {"name": "r", "namespace": "payments"},
        "spec": {
            "requester": {"username": "carol", "groups": ["engineers"]},
            "subjects": {"users": ["carol"], "groups": ["oncall"]},
            "role": {"kind": "ClusterRole", "name": "oncall-debug"},
            "certificateGroups": ["x"],
            "ttl": "1h", "incident": "INC-1", "reason": "why"
        },
        "status": {
            "phase": "Active", "reason": "Granted", "message": "m", "policy": "p", "rule": "r",
            "binding": "b", "approvedAt": t, "expiresAt": t,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Granted", "message": "m",
                            "lastTransitionTime": t}],
            "approvals": [{"name": "a", "approver": "oscar", "decision": "Approve", "counted": false,
                           "ignored": "Late", "at": t}]
        }
    });
    let typed: AccessRequest = serde_json::from_value(value).unwrap();
    serde_json::to_value(typed).unwrap()
}

#[test]
fn the_access_request_crd_matches_the_types() {
    check::<AccessRequest>(REQUEST_CRD, &full_request());
    let crd = crd(REQUEST_CRD);
    let version = &crd["spec"]["versions"][0];
    assert!(
        version["subresources"]["status"].is_object(),
        "status is a subresource, so a spec writer cannot set it"
    );
    let phases: Vec<&str> =
        version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["phase"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
    let ours: Vec<&str> = kubejit_core::request::Phase::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(phases, ours);
}

#[test]
fn the_access_approval_crd_matches_the_types() {
    let value = json!({
        "metadata": {"name": "a", "namespace": "payments"},
        "spec": {"request": "r", "requestUID": "u", "decision": "Deny", "comment": "c",
                 "approver": {"username": "oscar", "groups": ["kubejit-approvers"]}}
    });
    let typed: AccessApproval = serde_json::from_value(value).unwrap();
    check::<AccessApproval>(APPROVAL_CRD, &serde_json::to_value(typed).unwrap());
}

/// Both objects' specs are immutable by the schema itself, for every writer.
#[test]
fn specs_are_immutable_in_the_schema() {
    for text in [REQUEST_CRD, APPROVAL_CRD] {
        let crd = crd(text);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let rules: Vec<&str> = spec["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert!(rules.contains(&"self == oldSelf"), "{rules:?}");
    }
}

/// The policy CRD declares the approval fields core reads, at both levels.
#[test]
fn the_policy_crd_declares_the_approval_fields() {
    let crd = crd(POLICY_CRD);
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    for approval in [
        &spec["properties"]["approval"],
        &spec["properties"]["grants"]["items"]["properties"]["approval"],
    ] {
        let props = &approval["properties"];
        for field in ["mode", "approvers", "approvals", "approvalTimeout"] {
            assert!(props[field].is_object(), "{field} missing");
        }
    }
}

#[test]
fn facts_read_the_apiserver_timestamps() {
    let mut value = full_request();
    value["spec"]
        .as_object_mut()
        .unwrap()
        .remove("certificateGroups");
    value["metadata"]["uid"] = json!("u-1");
    value["metadata"]["creationTimestamp"] = json!("2030-01-02T10:00:00Z");
    let request: AccessRequest = serde_json::from_value(value).unwrap();
    let facts = request.facts().unwrap();
    assert_eq!(facts.uid, "u-1");
    assert_eq!(facts.created_at.unix_timestamp(), 1_893_578_400);
    assert!(!facts.deleting);
    let recorded = request.recorded(true);
    assert_eq!(recorded.phase, Some(kubejit_core::request::Phase::Active));
    assert!(recorded.approved_at.is_some());
}

/// A status the schema allows but kubejit cannot read makes only that status unknown; the object
/// (and so the list it is in) still reads.
#[test]
fn an_unreadable_status_does_not_fail_the_object() {
    let mut value = full_request();
    value["status"]["approvedAt"] = json!("2030-01-02 10:00:00");
    let request: AccessRequest = serde_json::from_value(value).unwrap();
    assert!(request.status.is_none());
    assert_eq!(request.spec.requester.username, "carol");
}

/// Every field of a full AccessPolicy spec (notify included) is in the policy CRD's schema and the
/// other way round: a field only in Rust would be pruned by the apiserver, one only in the schema
/// ignored by kubejit.
#[test]
fn the_policy_crd_matches_the_types() {
    let approval = json!({"mode": "Manual", "approvers": {"users": ["o"], "groups": ["g"]},
                          "approvals": 2, "approvalTimeout": "2h"});
    let value = json!({
        "requesters": {"users": ["a"], "groups": ["g"]},
        "certificateGroups": ["c"], "maxTTL": "1h", "defaultTTL": "30m",
        "incident": {"required": true, "pattern": "INC-.*", "maxLength": 10},
        "approval": approval,
        "keys": "hardwareWithTouch",
        "grants": [{"name": "debug", "roles": [{"kind": "Role", "name": "r"}], "namespaces": ["n"],
                    "subjects": {"users": ["a"], "groups": ["g"]}, "maxTTL": "1h", "defaultTTL": "1m",
                    "incident": {"required": false, "pattern": "x", "maxLength": 5},
                    "approval": approval}],
        "notify": {"webhook": {"url": "https://hooks.example.com/k",
                               "secretRef": {"name": "kubejit-webhook", "key": "hmac"}}}
    });
    let typed: kubejit_core::AccessPolicySpec = serde_json::from_value(value).unwrap();
    let mut got = BTreeSet::new();
    value_paths(&serde_json::to_value(typed).unwrap(), "spec", &mut got);
    let crd = crd(POLICY_CRD);
    let mut want = BTreeSet::new();
    schema_paths(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        "",
        &mut want,
    );
    want.remove("spec");
    assert_eq!(
        got, want,
        "Rust fields (left) and CRD schema (right) differ"
    );
}
