//! Kubeconfig editing: the exec stanza kubectl needs, other entries untouched, recursion detected.

#![allow(clippy::unwrap_used)]

use super::*;

const BASE: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: { server: "https://prod:6443", certificate-authority-data: Q0E= }
users:
- name: alice
  user: { token: secret }
contexts:
- name: alice@prod
  context: { cluster: prod, user: alice, namespace: payments }
current-context: alice@prod
preferences: {}
"#;

fn doc(tmp: &tempfile::TempDir) -> KubeconfigDoc {
    let path = tmp.path().join("config");
    std::fs::write(&path, BASE).unwrap();
    KubeconfigDoc::read(&path).unwrap()
}

fn stanza() -> ExecUser {
    ExecUser {
        name: "alice-oncall".into(),
        asking_context: "alice@prod".into(),
        command: PathBuf::from("/usr/local/bin/kubejit"),
        args: vec!["credential".into(), "--context".into(), "alice@prod".into()],
    }
}

#[test]
fn finds_context_server_and_current_context() {
    let tmp = tempfile::tempdir().unwrap();
    let d = doc(&tmp);
    assert_eq!(d.context_name(None).unwrap(), "alice@prod");
    assert_eq!(d.context_server("alice@prod").unwrap(), "https://prod:6443");
    let err = d.context_name(Some("nope")).unwrap_err();
    assert!(
        err.to_string().contains("kubectl config get-contexts"),
        "{err}"
    );
}

#[test]
fn without_a_current_context_the_error_names_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    for current in ["", "current-context: \"\"\n"] {
        let path = tmp.path().join("config");
        let text = BASE.replace("current-context: alice@prod\n", current);
        assert_ne!(
            text, BASE,
            "BASE lost its current-context; update this test"
        );
        std::fs::write(&path, text).unwrap();
        let d = KubeconfigDoc::read(&path).unwrap();
        let err = d.context_name(None).unwrap_err();
        assert!(
            matches!(err, CredentialError::NoCurrentContext { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("pass --context"), "{message}");
        assert!(message.contains("kubectl config use-context"), "{message}");
        // An explicit context still works without a current one.
        assert_eq!(d.context_name(Some("alice@prod")).unwrap(), "alice@prod");
    }
}

#[test]
fn adds_exec_user_and_context_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = doc(&tmp);
    d.add_exec_user(&stanza()).unwrap();
    d.add_exec_user(&stanza()).unwrap(); // idempotent: replaced, not duplicated
    d.write().unwrap();
    let v: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&d.path).unwrap()).unwrap();
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    assert_eq!(v["users"][0]["user"]["token"], "secret");
    let exec = &v["users"][1]["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(exec["command"], "/usr/local/bin/kubejit");
    assert_eq!(exec["args"][0], "credential");
    assert_eq!(exec["interactiveMode"], "IfAvailable");
    assert_eq!(exec["provideClusterInfo"], true);
    let ctx = &v["contexts"][1];
    assert_eq!(ctx["name"], "alice-oncall");
    assert_eq!(ctx["context"]["cluster"], "prod");
    assert_eq!(ctx["context"]["user"], "alice-oncall");
    assert_eq!(ctx["context"]["namespace"], "payments");
    assert_eq!(v["current-context"], "alice@prod");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&d.path).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn detects_a_context_that_is_the_plugin_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = doc(&tmp);
    d.add_exec_user(&stanza()).unwrap();
    assert!(d.uses_kubejit_exec("alice-oncall").unwrap());
    assert!(!d.uses_kubejit_exec("alice@prod").unwrap());
}

#[test]
fn resolve_prefers_the_explicit_path() {
    assert_eq!(resolve_path(Some(Path::new("/x/y"))), PathBuf::from("/x/y"));
}
