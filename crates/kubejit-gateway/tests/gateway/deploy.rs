//! `deploy/gateway/`: impersonation is constrained to named users and groups (checked in the file
//! and, applied, by the apiserver's own answer), and the pod is locked down.

use kubejit_testenv::shared;

fn file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/gateway")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn documents(name: &str) -> Vec<serde_json::Value> {
    file(name)
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn impersonation_is_limited_to_named_users_and_groups() {
    let docs = documents("rbac.yaml");
    let role = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "kubejit-gateway-impersonate")
        .unwrap();
    // The only other role reads bindings (to re-check sooner) and nothing else.
    for other in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" && d != &role)
    {
        for rule in other["rules"].as_array().unwrap() {
            assert_eq!(strings(&rule["verbs"]), ["list", "watch"], "{rule}");
            assert_eq!(
                strings(&rule["resources"]),
                ["rolebindings", "clusterrolebindings"]
            );
        }
    }
    for rule in role["rules"].as_array().unwrap() {
        assert_eq!(strings(&rule["verbs"]), ["impersonate"], "{rule}");
        let resources = strings(&rule["resources"]);
        assert!(
            resources.iter().all(|r| r == "users" || r == "groups"),
            "{rule}"
        );
        let names = strings(&rule["resourceNames"]);
        assert!(
            !names.is_empty(),
            "impersonation without resourceNames is anyone: {rule}"
        );
        assert!(
            names
                .iter()
                .all(|n| !n.contains('*') && !n.starts_with("system:")),
            "{rule}"
        );
    }

    // Applied, the apiserver agrees.
    let cp = shared();
    let _ = cp.admin(&["create", "namespace", "kubejit-system"]);
    let out = cp.apply(&file("rbac.yaml")).unwrap();
    assert!(out.success, "{}", out.stderr);
    let sa = "--as=system:serviceaccount:kubejit-system:kubejit-gateway";
    let can = |what: &str| {
        // `can-i` exits 1 for "no".
        cp.admin(&["auth", "can-i", "impersonate", what, sa])
            .is_ok_and(|out| out.stdout.trim() == "yes")
    };
    assert!(can("users/alice"));
    assert!(can("groups/oncall-payments"));
    assert!(!can("users/mallory"));
    assert!(!can("groups/system:masters"));
    assert!(!can("serviceaccounts/kube-system"));
    assert!(!can("uids/0"));
    let reads = |what: &str| {
        cp.admin(&["auth", "can-i", "get", what, sa])
            .is_ok_and(|out| out.stdout.trim() == "yes")
    };
    assert!(!reads("secrets"), "the gateway reads no secrets");
    assert!(!reads("pods"), "the gateway reads pods only as the person");
}

#[test]
fn the_gateway_pod_is_locked_down_and_its_host_key_private() {
    let deployment: serde_json::Value = serde_saphyr::from_str(&file("deployment.yaml")).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    let args = strings(&container["args"]);
    assert_eq!(args[0], "gateway");
    assert!(
        args.contains(&"--http-addr=0.0.0.0:9091".to_owned()),
        "{args:?}"
    );
    let host_key = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "host-key")
        .unwrap();
    assert_eq!(host_key["secret"]["defaultMode"], 0o400);
    let kustomization = file("kustomization.yaml");
    for name in [
        "rbac.yaml",
        "deployment.yaml",
        "service.yaml",
        "user_ca.pub",
        "ssh_host_ed25519_key",
    ] {
        assert!(kustomization.contains(name), "{name}");
    }
}

#[test]
fn the_host_cert_component_passes_the_mounted_certificate() {
    let component: serde_json::Value =
        serde_saphyr::from_str(&file("host-cert/kustomization.yaml")).unwrap();
    assert_eq!(component["kind"], "Component");
    let patch: serde_json::Value =
        serde_saphyr::from_str(component["patches"][0]["patch"].as_str().unwrap()).unwrap();
    let values: Vec<&serde_json::Value> = patch
        .as_array()
        .unwrap()
        .iter()
        .map(|op| &op["value"])
        .collect();
    let flag = values[0].as_str().unwrap();
    let mount = values[1]["mountPath"].as_str().unwrap();
    let file_name = component["secretGenerator"][0]["files"][0]
        .as_str()
        .unwrap();
    assert_eq!(flag, format!("--host-cert={mount}/{file_name}"));
    assert_eq!(
        values[2]["secret"]["secretName"],
        component["secretGenerator"][0]["name"]
    );
}
