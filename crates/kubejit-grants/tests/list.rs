//! `kubejit_grants::list` against the real control plane, with the time injected: what a grant's
//! row says one second before its deadline, at it and one second after, without waiting and without
//! the binary.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubejit_grants::{GrantStatus, ListScope, list};
use kubejit_kube::{ClientOptions, build_client, keys};
use kubejit_testenv::{shared, unique_namespace};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const DEADLINE: OffsetDateTime = datetime!(2030-01-02 15:04:05 UTC);

fn binding(ns: &str, name: &str, expires_at: Option<&str>) -> String {
    let mut annotations = json!({ keys::INCIDENT: "INC-1" });
    if let Some(value) = expires_at {
        annotations[keys::EXPIRES_AT] = json!(value);
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": name, "namespace": ns, "annotations": annotations },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall-payments" }],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_at_deadline_minus_one_second_at_it_and_after() {
    let cp = shared();
    let ns = unique_namespace("grants-list");
    cp.create_namespace(&ns).unwrap();
    cp.apply(&binding(&ns, "jit-on-time", Some("2030-01-02T15:04:05Z")))
        .unwrap();
    cp.apply(&binding(&ns, "jit-garbage", Some("tomorrow")))
        .unwrap();
    cp.apply(&binding(&ns, "not-a-grant", None)).unwrap();
    let client = build_client(&ClientOptions {
        kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
        context: None,
    })
    .await
    .unwrap();
    let scope = ListScope::Namespace(ns.clone());

    let cases = [
        (-1, GrantStatus::Active, Some(1)),
        (0, GrantStatus::Expired, Some(0)),
        (1, GrantStatus::Expired, Some(-1)),
    ];
    for (offset, status, seconds_left) in cases {
        let now = DEADLINE + Duration::seconds(offset);
        let rows = list(&client, &scope, now).await.unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.grant.name.as_str()).collect();
        assert_eq!(
            names,
            ["jit-garbage", "jit-on-time"],
            "sorted; unannotated left out"
        );
        assert_eq!(rows[0].status, GrantStatus::Malformed);
        assert_eq!(rows[0].seconds_left, None);
        assert_eq!(
            (rows[1].status, rows[1].seconds_left),
            (status, seconds_left),
            "deadline {offset:+}s"
        );
    }
}
