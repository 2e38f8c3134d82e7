//! kubejit's cluster-side install (`deploy/`), embedded so an installed binary can print or apply it
//! without a checkout: `kubejit manifests install | kubectl apply -f -`.

/// Every file of `deploy/kustomization.yaml`, in its order (a test keeps the two in step).
pub const MANIFESTS: [(&str, &str); 9] = [
    (
        "namespace.yaml",
        include_str!("../../../deploy/namespace.yaml"),
    ),
    (
        "crds/accesspolicies.kubejit.dev.yaml",
        include_str!("../../../deploy/crds/accesspolicies.kubejit.dev.yaml"),
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
        let deployment = MANIFESTS
            .iter()
            .find(|(name, _)| *name == "controller/deployment.yaml")
            .map(|(_, text)| *text)
            .unwrap_or_default();
        let value: serde_yaml::Value = serde_yaml::from_str(deployment).unwrap();
        let args = &value["spec"]["template"]["spec"]["containers"][0]["args"];
        let args: Vec<&str> = args
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(serde_yaml::Value::as_str)
            .collect();
        assert!(args.contains(&"--http-addr=0.0.0.0:9090"), "{args:?}");
    }
}
