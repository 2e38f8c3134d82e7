//! Kubeconfig editing: the exec stanza kubectl needs, other entries untouched, recursion detected.

#![allow(clippy::unwrap_used)]

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

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
        env: vec![],
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
    let path = tmp.path().join("config");
    assert_eq!(d.write().unwrap(), vec![path.clone()]);
    let v: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
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
fn detects_a_context_that_is_the_thin_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = doc(&tmp);
    let thin = ExecUser {
        command: PathBuf::from("/usr/local/bin/kubejit-credential"),
        args: vec!["--context".into(), "alice@prod".into()],
        ..stanza()
    };
    d.add_exec_user(&thin).unwrap();
    assert!(d.uses_kubejit_exec("alice-oncall").unwrap());
    assert!(!d.uses_kubejit_exec("alice@prod").unwrap());
}

#[test]
fn paths_follow_kubectls_precedence() {
    let env = |v: &str| Some(OsString::from(v));
    let p = |v: &str| PathBuf::from(v);
    let home = env("/home/a");
    let cases: [(Option<&Path>, Option<OsString>, Vec<PathBuf>); 5] = [
        (Some(Path::new("/x/y")), env("/k/1:/k/2"), vec![p("/x/y")]),
        (None, env("/k/1:/k/2"), vec![p("/k/1"), p("/k/2")]),
        (None, env(":/k/1::/k/2:/k/1:"), vec![p("/k/1"), p("/k/2")]),
        (None, env(""), vec![p("/home/a/.kube/config")]),
        (None, None, vec![p("/home/a/.kube/config")]),
    ];
    for (explicit, kubeconfig, want) in cases {
        assert_eq!(
            paths_from(explicit, kubeconfig.clone(), home.clone()),
            want,
            "{explicit:?} {kubeconfig:?}"
        );
    }
}

/// Two files as `KUBECONFIG=first:second`: the second holds alice's everyday identity, the first a
/// cluster of the same name that shadows it and a context of its own.
const FIRST: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: { server: "https://shadowing:6443" }
- name: dev
  cluster: { server: "https://dev:6443" }
contexts:
- name: dev
  context: { cluster: dev, user: alice }
"#;

fn two_files(tmp: &tempfile::TempDir, first: &str, second: &str) -> Vec<PathBuf> {
    let paths = vec![tmp.path().join("first"), tmp.path().join("second")];
    std::fs::write(&paths[0], first).unwrap();
    std::fs::write(&paths[1], second).unwrap();
    for path in &paths {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    paths
}

#[test]
fn several_files_read_as_one_first_file_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = two_files(&tmp, FIRST, BASE);
    let d = KubeconfigDoc::load(&paths).unwrap();
    // current-context comes from the first file that sets it: here the second.
    assert_eq!(d.context_name(None).unwrap(), "alice@prod");
    // A cluster named in both files is the first file's.
    assert_eq!(
        d.context_server("alice@prod").unwrap(),
        "https://shadowing:6443"
    );
    assert_eq!(d.context_server("dev").unwrap(), "https://dev:6443");
    // The first file that sets current-context wins over a later one.
    let first = format!("{FIRST}current-context: dev\n");
    let d = KubeconfigDoc::load(&two_files(&tmp, &first, BASE)).unwrap();
    assert_eq!(d.context_name(None).unwrap(), "dev");
}

#[test]
fn several_files_new_entries_go_to_the_first_existing_ones_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = two_files(&tmp, FIRST, BASE);
    let mut d = KubeconfigDoc::load(&paths).unwrap();
    d.add_exec_user(&stanza()).unwrap();
    assert_eq!(
        d.write().unwrap(),
        vec![paths[0].clone()],
        "new entries: first file"
    );
    assert_eq!(
        std::fs::read_to_string(&paths[1]).unwrap(),
        BASE,
        "second untouched"
    );
    let first: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    assert_eq!(first["users"][0]["name"], "alice-oncall");
    assert_eq!(first["contexts"][1]["name"], "alice-oncall");
    assert_eq!(first["contexts"][1]["context"]["namespace"], "payments");
    assert_eq!(
        first["clusters"].as_array().unwrap().len(),
        2,
        "the rest kept"
    );

    // Both entries now exist only in the second file: they are edited there, the first is untouched.
    let second_with_user = {
        let mut d = KubeconfigDoc::read(&paths[1]).unwrap();
        d.add_exec_user(&stanza()).unwrap();
        d.write().unwrap();
        std::fs::read_to_string(&paths[1]).unwrap()
    };
    let paths = two_files(&tmp, FIRST, &second_with_user);
    let mut d = KubeconfigDoc::load(&paths).unwrap();
    let mut changed = stanza();
    changed.args.push("--ttl=30m".into());
    d.add_exec_user(&changed).unwrap();
    assert_eq!(
        d.write().unwrap(),
        vec![paths[1].clone()],
        "edited where they are"
    );
    let second: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&paths[1]).unwrap()).unwrap();
    let oncall = second["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice-oncall");
    assert_eq!(oncall.unwrap()["user"]["exec"]["args"][3], "--ttl=30m");
    let first = std::fs::read_to_string(&paths[0]).unwrap();
    assert!(
        !first.contains("--ttl=30m"),
        "the user was not copied into the first file"
    );
    for path in &paths {
        assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o777, 0o600);
    }
}

#[test]
fn missing_files_are_skipped_as_kubectl_skips_them() {
    let tmp = tempfile::tempdir().unwrap();
    let present = tmp.path().join("config");
    std::fs::write(&present, BASE).unwrap();
    let missing = tmp.path().join("missing");
    let d = KubeconfigDoc::load(&[missing.clone(), present.clone()]).unwrap();
    assert_eq!(d.paths(), vec![present]);
    let err = KubeconfigDoc::load(&[missing]).unwrap_err();
    assert!(
        matches!(err, CredentialError::ReadKubeconfig { .. }),
        "{err:?}"
    );
}

#[test]
fn exec_env_is_written_as_kubectl_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = doc(&tmp);
    let mut with_env = stanza();
    with_env.env = vec![("KUBECONFIG".into(), "/a:/b".into())];
    d.add_exec_user(&with_env).unwrap();
    d.write().unwrap();
    let v: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(tmp.path().join("config")).unwrap())
            .unwrap();
    let env = &v["users"][1]["user"]["exec"]["env"];
    assert_eq!(
        env,
        &serde_json::json!([{ "name": "KUBECONFIG", "value": "/a:/b" }])
    );
}
