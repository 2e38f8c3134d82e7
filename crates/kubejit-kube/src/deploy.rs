//! kubejit's cluster-side install (`deploy/`), embedded so an installed binary can print or apply it
//! without a checkout: `kubejit manifests install | kubectl apply -f -`.

/// Every file of `deploy/kustomization.yaml`, in its order (a test keeps the two in step).
pub const MANIFESTS: [(&str, &str); 12] = [
    (
        "namespace.yaml",
        include_str!("../../../deploy/namespace.yaml"),
    ),
    (
        "crds/accesspolicies.kubejit.dev.yaml",
        include_str!("../../../deploy/crds/accesspolicies.kubejit.dev.yaml"),
    ),
    (
        "crds/accessrequests.kubejit.dev.yaml",
        include_str!("../../../deploy/crds/accessrequests.kubejit.dev.yaml"),
    ),
    (
        "crds/accessapprovals.kubejit.dev.yaml",
        include_str!("../../../deploy/crds/accessapprovals.kubejit.dev.yaml"),
    ),
    (
        "rbac/controller.yaml",
        include_str!("../../../deploy/rbac/controller.yaml"),
    ),
    (
        "rbac/requester.yaml",
        include_str!("../../../deploy/rbac/requester.yaml"),
    ),
    (
        "rbac/approver.yaml",
        include_str!("../../../deploy/rbac/approver.yaml"),
    ),
    (
        "admission/no-self-approval.yaml",
        include_str!("../../../deploy/admission/no-self-approval.yaml"),
    ),
    (
        "rbac/granters.yaml",
        include_str!("../../../deploy/rbac/granters.yaml"),
    ),
    (
        "admission/grant-annotations.yaml",
        include_str!("../../../deploy/admission/grant-annotations.yaml"),
    ),
    (
        "admission/requests.yaml",
        include_str!("../../../deploy/admission/requests.yaml"),
    ),
    (
        "controller/deployment.yaml",
        include_str!("../../../deploy/controller/deployment.yaml"),
    ),
];

/// All of `deploy/` as one multi-document YAML stream.
pub fn install_yaml() -> String {
    MANIFESTS
        .iter()
        .map(|(name, text)| format!("---\n# deploy/{name}\n{}\n", text.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_match_the_kustomization() {
        let kustomization = include_str!("../../../deploy/kustomization.yaml");
        let listed: Vec<&str> = kustomization
            .lines()
            .filter_map(|l| l.strip_prefix("- "))
            .map(str::trim)
            .collect();
        let embedded: Vec<&str> = MANIFESTS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            listed, embedded,
            "update deploy.rs when deploy/kustomization.yaml changes"
        );
    }

    /// The binary serves metrics on loopback by default; the Deployment must opt into all interfaces,
    /// or neither Prometheus nor the kubelet's probes reach the pod.
    #[test]
    fn the_deployment_serves_metrics_on_the_pod_network() {
        let value = deployment();
        let args = &value["spec"]["template"]["spec"]["containers"][0]["args"];
        let args: Vec<&str> = args
            .as_array()
            .unwrap()
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert!(args.contains(&"--http-addr=0.0.0.0:9090"), "{args:?}");
    }

    fn deployment() -> serde_json::Value {
        let text = MANIFESTS
            .iter()
            .find(|(name, _)| *name == "controller/deployment.yaml")
            .map(|(_, text)| *text)
            .unwrap_or_default();
        serde_saphyr::from_str(text).unwrap()
    }

    fn manifest(name: &str) -> &'static str {
        MANIFESTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .unwrap_or_default()
    }

    /// `[a, b]` or `['a', 'b']` → the names.
    fn names(list: &str) -> Vec<String> {
        list.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|n| n.trim().trim_matches('\'').to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// The grantable roles are listed twice: the controller's `bind` rule (what it can grant) and
    /// the admission policies' scope (what only it may write). Listed in one and not the other, a
    /// role is either not grantable or not fenced: this keeps them equal.
    #[test]
    fn the_controller_binds_exactly_the_roles_admission_fences() {
        let rbac: Vec<&str> = manifest("rbac/controller.yaml").lines().collect();
        let bindable: Vec<Vec<String>> = rbac
            .windows(2)
            .filter(|w| w[1].trim() == "verbs: [bind]")
            .filter_map(|w| w[0].trim().strip_prefix("resourceNames: "))
            .map(names)
            .collect();
        assert_eq!(bindable.len(), 1, "one bind rule in the controller's RBAC");
        let fenced: Vec<Vec<String>> = manifest("admission/grant-annotations.yaml")
            .lines()
            .filter_map(|l| l.split_once("o.roleRef.name in ").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once(']').map(|(list, _)| format!("{list}]")))
            .map(|list| names(&list))
            .collect();
        assert_eq!(
            fenced.len(),
            2,
            "both grant admission policies name the grantable roles"
        );
        for list in &fenced {
            assert_eq!(list, &bindable[0]);
        }
    }

    /// Granters ask; they hold no write on bindings and no `bind` (issue 9).
    #[test]
    fn granters_cannot_write_bindings_or_bind() {
        let lines: Vec<&str> = manifest("rbac/granters.yaml").lines().collect();
        for rule in lines.windows(2) {
            let verbs = names(rule[1].trim().strip_prefix("verbs: ").unwrap_or_default());
            assert!(!verbs.contains(&"bind".to_owned()), "{rule:?}");
            if rule[0].contains("rolebindings") {
                assert_eq!(verbs, ["get", "list", "watch"], "{rule:?}");
            }
        }
    }

    const DOCKERFILE: &str = include_str!("../../../deploy/image/Dockerfile");

    /// `:latest` would run whatever was pushed last against manifests written for this version.
    #[test]
    fn the_deployment_pins_the_workspace_version() {
        let image = &deployment()["spec"]["template"]["spec"]["containers"][0]["image"];
        let want = format!("ghcr.io/kubejit/kubejit:{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(image.as_str(), Some(want.as_str()));
        let command = format!("docker build -f deploy/image/Dockerfile -t {want} .");
        let docs = include_str!("../../../docs/controller.md");
        for (name, text) in [
            ("deploy/image/Dockerfile", DOCKERFILE),
            ("docs/controller.md", docs),
        ] {
            assert!(text.contains(&command), "{name} must show `{command}`");
        }
        let rust = format!("ARG RUST_VERSION={}\n", env!("CARGO_PKG_RUST_VERSION"));
        assert!(
            DOCKERFILE.contains(&rust),
            "the image builds with the workspace's rust-version"
        );
    }

    /// Non-root (checked by the kubelet, so numeric and equal to the image's USER), read-only root
    /// filesystem, no privilege escalation, no capabilities, the runtime's seccomp profile.
    #[test]
    fn the_deployment_and_the_image_are_locked_down() {
        let pod = &deployment()["spec"]["template"]["spec"];
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
        assert_eq!(
            security["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault")
        );
        let (uid, gid) = (&security["runAsUser"], &security["runAsGroup"]);
        let (uid, gid) = (uid.as_u64().unwrap(), gid.as_u64().unwrap());
        assert!(uid != 0 && gid != 0, "{uid}:{gid}");
        let user = format!("\nUSER {uid}:{gid}\n");
        assert!(DOCKERFILE.contains(&user), "the image runs as{user}");
        let container = &pod["containers"][0]["securityContext"];
        assert_eq!(container["allowPrivilegeEscalation"].as_bool(), Some(false));
        assert_eq!(container["readOnlyRootFilesystem"].as_bool(), Some(true));
        let drop: Vec<&str> = container["capabilities"]["drop"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert_eq!(drop, ["ALL"]);
        assert!(
            container["capabilities"]["add"].is_null(),
            "no capability added back"
        );
        let last_stage = DOCKERFILE.rsplit("\nFROM ").next().unwrap_or_default();
        assert!(
            last_stage.starts_with("gcr.io/distroless/static-debian12:nonroot\n"),
            "the image holds the binary and CA roots only: {last_stage}"
        );
        assert!(DOCKERFILE.contains("cargo build --release --locked -p kubejit"));
    }
}
