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
    let via_kubectl = support::run_ok(
        Command::new(binaries.kubectl())
            .env("PATH", path)
            .arg("jit")
            .args(args),
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
    let out = support::run_ok(
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .args(["manifests", "oncall-role"])
            .env("KUBEJIT_NAMESPACE", "ledger")
            .env("KUBEJIT_GROUP", "oncall-ledger")
            .env("KUBEJIT_OUTPUT", "json"),
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

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: { server: "https://prod.invalid:6443" }
users:
- name: alice
  user: { token: not-a-secret }
contexts:
- name: alice@prod
  context: { cluster: prod, user: alice }
current-context: alice@prod
"#;

/// Writes `text` as the file `name` in `dir`.
fn write_in(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `kubeconfig add-user` with neither --kubeconfig nor --context: `KUBECONFIG` lists the files.
fn add_user_from_listed(listed: &std::ffi::OsStr) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["kubeconfig", "add-user", "--name", "oncall"])
        .env("KUBECONFIG", listed)
        .env_remove("KUBEJIT_KUBECONFIG")
        .env_remove("KUBEJIT_CONTEXT")
        .output_bounded()
        .unwrap()
}

fn add_user_without_context(config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .args(["kubeconfig", "add-user", "--name", "oncall", "--kubeconfig"])
        .arg(config)
        .env_remove("KUBEJIT_CONTEXT")
        .output_bounded()
        .unwrap()
}

#[test]
fn add_user_defaults_to_the_current_context_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_in(&dir, "config", KUBECONFIG);
    let out = add_user_without_context(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("using the current context \"alice@prod\""),
        "{stderr}"
    );
    // The exec args as YAML list items, in order.
    let written = std::fs::read_to_string(&config).unwrap();
    let items: Vec<&str> = written.lines().map(str::trim).collect();
    let pinned = items
        .windows(2)
        .any(|w| w == ["- --context", "- alice@prod"]);
    assert!(
        pinned,
        "the plugin is pinned to the resolved context:\n{written}"
    );
}

#[test]
fn add_user_without_any_context_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let text = KUBECONFIG.replace("current-context: alice@prod\n", "");
    let config = write_in(&dir, "config", &text);
    let out = add_user_without_context(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no current context"), "{stderr}");
    assert!(stderr.contains("pass --context"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        text,
        "left untouched"
    );
}

#[test]
fn add_user_with_several_kubeconfig_files_passes_them_all_to_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_in(&dir, "first", "apiVersion: v1\nkind: Config\n");
    let second = write_in(&dir, "second", KUBECONFIG);
    let missing = dir.path().join("missing");
    let listed = std::env::join_paths([&missing, &first, &second]).unwrap();
    let out = add_user_from_listed(&listed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(&second).unwrap(), KUBECONFIG);
    let written = std::fs::read_to_string(&first).unwrap();
    // kubectl's --kubeconfig names one file, so the files that exist go to the plugin in its env.
    let existing = std::env::join_paths([
        first.canonicalize().unwrap(),
        second.canonicalize().unwrap(),
    ])
    .unwrap();
    let items: Vec<&str> = written.lines().map(str::trim).collect();
    assert!(items.contains(&"- name: KUBECONFIG"), "{written}");
    let value = format!("value: {}", existing.to_str().unwrap());
    assert!(items.contains(&value.as_str()), "{written}");
    assert!(!items.contains(&"- --kubeconfig"), "{written}");
}

/// kubectl skips a listed file only when it does not exist; one it cannot read is an error, so
/// kubejit must not quietly merge a different set of files.
#[test]
fn add_user_stops_on_a_listed_kubeconfig_it_cannot_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = write_in(&dir, "file", "");
    let second = write_in(&dir, "second", KUBECONFIG);
    let listed = std::env::join_paths([not_a_dir.join("config"), second.clone()]).unwrap();
    let out = add_user_from_listed(&listed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("failed to resolve kubeconfig"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&second).unwrap(), KUBECONFIG);
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

/// The exec stanza's `command` and its argument lines, as `add-user` ran from `binary` writes them.
fn add_user_via(
    binary: &std::path::Path,
    dir: &tempfile::TempDir,
    name: &str,
) -> (String, Vec<String>) {
    let config = write_in(dir, name, KUBECONFIG);
    let out = Command::new(binary)
        .args([
            "kubeconfig",
            "add-user",
            "--name",
            "oncall",
            "--context",
            "alice@prod",
        ])
        .arg("--kubeconfig")
        .arg(&config)
        .output_bounded()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&config).unwrap();
    let command = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("command: "))
        .unwrap()
        .trim_matches(['"', '\''])
        .to_owned();
    let items = written.lines().map(|l| l.trim().to_owned()).collect();
    (command, items)
}

/// Run as `kubectl jit` (a `kubectl-jit` symlink, as the README installs it), add-user finds the thin
/// `kubejit-credential` beside the real binary and writes it without the `credential` subcommand; a
/// kubejit with no kubejit-credential beside it writes itself and `credential`.
#[test]
fn add_user_writes_the_thin_plugin_when_it_is_installed_beside_kubejit() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("kubectl-jit");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kubejit"), &link).unwrap();
    let (command, items) = add_user_via(&link, &dir, "linked");
    let thin = std::path::Path::new(env!("CARGO_BIN_EXE_kubejit-credential"))
        .canonicalize()
        .unwrap();
    assert_eq!(command, thin.to_string_lossy());
    assert!(!items.iter().any(|l| l == "- credential"), "{items:?}");
    assert!(items.iter().any(|l| l == "- --context"), "{items:?}");

    let alone = dir.path().join("bin/kubejit");
    std::fs::create_dir_all(alone.parent().unwrap()).unwrap();
    // A hard link where the filesystem allows (the debug binary is large), else a copy.
    std::fs::hard_link(env!("CARGO_BIN_EXE_kubejit"), &alone)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_kubejit"), &alone).map(drop))
        .unwrap();
    let (command, items) = add_user_via(&alone, &dir, "alone");
    assert_eq!(command, alone.canonicalize().unwrap().to_string_lossy());
    assert!(items.iter().any(|l| l == "- credential"), "{items:?}");
}
