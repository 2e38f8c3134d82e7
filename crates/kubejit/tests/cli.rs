//! The kubejit command line as users meet it: as `kubectl jit`, with completions, with clear errors.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kubejit_testenv::BoundedOutput;
use std::process::Command;

use support::kubejit;

#[test]
fn works_as_a_kubectl_plugin() {
    let binaries = kubejit_testenv::ensure_built().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubejit"),
        dir.path().join("kubectl-jit"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let args = [
        "manifests",
        "oncall-role",
        "-n",
        "payments",
        "-g",
        "oncall-payments",
    ];
    let via_kubectl = Command::new(binaries.kubectl())
        .env("PATH", path)
        .arg("jit")
        .args(args)
        .output_bounded()
        .unwrap();
    assert!(
        via_kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&via_kubectl.stderr)
    );
    assert_eq!(via_kubectl.stdout, kubejit(&args).stdout);
}

#[test]
fn json_output_is_one_kubectl_list() {
    let out = kubejit(&[
        "manifests",
        "oncall-role",
        "-n",
        "payments",
        "-g",
        "a",
        "-g",
        "b",
        "-o",
        "json",
    ]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "List");
    assert_eq!(doc["items"][0]["kind"], "Role");
    assert_eq!(doc["items"][1]["kind"], "RoleBinding");
    assert_eq!(doc["items"][1]["subjects"].as_array().unwrap().len(), 2);
}

#[test]
fn flags_read_kubejit_env_vars() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["manifests", "oncall-role"])
        .env("KUBEJIT_NAMESPACE", "ledger")
        .env("KUBEJIT_GROUP", "oncall-ledger")
        .env("KUBEJIT_OUTPUT", "json")
        .output_bounded()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["items"][0]["metadata"]["namespace"], "ledger");
    assert_eq!(doc["items"][1]["subjects"][0]["name"], "oncall-ledger");
}

#[test]
fn bad_input_is_a_clear_error_not_bad_yaml() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["-n", "Payments", "-g", "x"],
            "not a valid Kubernetes name",
        ),
        (
            &["-n", "payments", "-g", "system:masters"],
            "reserved for Kubernetes system identities",
        ),
        (
            &["-n", "payments", "-g", "x", "--name", "on call"],
            "role name \"on call\" is not a valid Kubernetes name",
        ),
        (&["-n", "payments"], "--group"),
    ];
    for (args, message) in cases {
        let mut full = vec!["manifests", "oncall-role"];
        full.extend_from_slice(args);
        let out = kubejit(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing on stdout for {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = kubejit(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("oncall-role"),
            "{shell} completions mention subcommands"
        );
    }
}

#[test]
fn manifests_install_prints_all_of_deploy() {
    let out = kubejit(&["manifests", "install"]);
    assert!(out.status.success());
    let yaml = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "CustomResourceDefinition",
        "ClusterRole",
        "ValidatingAdmissionPolicy",
        "Deployment",
    ] {
        assert!(yaml.contains(&format!("kind: {kind}")), "{kind} missing");
    }
    assert!(yaml.contains("# deploy/admission/grant-annotations.yaml"));
}

#[test]
fn audit_verify_refuses_a_line_too_long_to_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    let keygen = kubejit(&["audit", "keygen", "--out", key.to_str().unwrap()]);
    assert!(keygen.status.success());
    let public_key = dir.path().join("signing.pub");
    std::fs::write(&public_key, &keygen.stdout).unwrap();
    // 5 MiB without a newline: read whole, a file like this (or a larger one) exhausts memory.
    let trail = dir.path().join("trail.jsonl");
    std::fs::write(&trail, vec![b'{'; 5 * 1024 * 1024]).unwrap();
    let out = kubejit(&[
        "audit",
        "verify",
        trail.to_str().unwrap(),
        "--public-key",
        public_key.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 1 of the audit trail is longer than 4194304 bytes"),
        "{stderr}"
    );
}

/// `-v` is a counted flag; its variable takes the count. Debug lines come from the client's
/// libraries, which log at debug while connecting (here to a port nothing listens on).
#[test]
fn verbosity_comes_from_kubejit_verbose_too() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\n\
         clusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n\
         users: [{name: u, user: {token: x}}]\n\
         contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    )
    .unwrap();
    let run = |verbose: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .env_remove("KUBEJIT_LOG")
            .env("KUBEJIT_VERBOSE", verbose)
            .args(["grants", "--kubeconfig"])
            .arg(&kubeconfig)
            .output_bounded()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(!run("0").contains(" DEBUG "));
    assert!(run("2").contains(" DEBUG "));
}
