//! `kubejit credential` as kubectl's exec plugin, on the real control plane with the real kubectl:
//! identity and groups, RBAC through the certificate group, denial, timeouts, one CSR for many calls,
//! certificate lifetime and the cache directory's permissions. `kubejit kubeconfig add-user` writes the
//! thin `kubejit-credential` (built beside kubejit), so kubectl goes through it and it hands misses to
//! `kubejit credential`; `Engineer::plugin` runs `kubejit credential` itself. CSRs are decided by a test approver
//! acting as the cluster admin (the kubejit controller is not involved).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/approver.rs"]
mod approver;

use kubejit_testenv::BoundedOutput;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use approver::Verdict;
use kubejit_testenv::{ControlPlane, PodSpec, shared, unique_namespace};
use support::kubejit;

const GROUP: &str = "oncall-debuggers";
const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");

/// The shipped requester ClusterRole, bound to `oncall-payments` (alice, bob) instead of the default
/// group; once per test binary (parallel client-side applies of one new object race to create it).
fn install_requester_rbac(cp: &ControlPlane) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subject = "  kind: Group\n  name: kubejit-requesters";
        let yaml = REQUESTER_RBAC.replace(subject, "  kind: Group\n  name: oncall-payments");
        assert_ne!(
            yaml, REQUESTER_RBAC,
            "the binding subject moved; update this test"
        );
        cp.apply(&yaml).unwrap();
    });
}

/// A private copy of `user`'s kubeconfig plus a cache dir, with an `<user>-oncall` exec context written by
/// `kubejit kubeconfig add-user`.
struct Engineer {
    dir: tempfile::TempDir,
    incident: String,
}

impl Engineer {
    fn new(user: &str, extra: &[&str]) -> Self {
        let cp = shared();
        install_requester_rbac(cp);
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(cp.kubeconfig(user).unwrap(), dir.path().join("config")).unwrap();
        let incident = format!("INC-{}", unique_namespace("c"));
        let config = dir.path().join("config");
        let cache = dir.path().join("cache");
        let mut args = vec![
            "kubeconfig",
            "add-user",
            "--kubeconfig",
            config.to_str().unwrap(),
            "--name",
            "oncall",
        ];
        args.extend([
            "--context",
            user,
            "--group",
            GROUP,
            "--incident",
            &incident,
            "--cache-dir",
            cache.to_str().unwrap(),
        ]);
        args.extend_from_slice(extra);
        let out = kubejit(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, incident }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The real kubectl with the exec-plugin context.
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(shared().binaries().kubectl())
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(self.config())
            .args(["--context", "oncall"])
            .args(args)
            .output_bounded()
            .unwrap()
    }

    /// The plugin run by hand (no KUBERNETES_EXEC_INFO), asking as `user`.
    fn plugin(&self, user: &str, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubejit"))
            .env_remove("KUBERNETES_EXEC_INFO")
            .arg("credential")
            .arg("--kubeconfig")
            .arg(self.config())
            .args([
                "--context",
                user,
                "--group",
                GROUP,
                "--incident",
                &self.incident,
            ])
            .arg("--cache-dir")
            .arg(self.cache())
            .args(extra)
            .output_bounded()
            .unwrap()
    }

    fn approver(&self, verdict: Verdict) -> approver::Approver {
        approver::start(
            shared().admin_kubeconfig().to_path_buf(),
            self.incident.clone(),
            verdict,
        )
    }

    /// CSRs filed for this engineer's incident, as (requester, name).
    fn csrs(&self) -> Vec<(String, String)> {
        let out = shared().admin(&["get", "csr", "-o", "json"]).unwrap();
        let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|csr| {
                csr["metadata"]["annotations"][approver::INCIDENT] == self.incident.as_str()
            })
            .map(|csr| {
                (
                    csr["spec"]["username"].as_str().unwrap().to_owned(),
                    csr["metadata"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace with a Running pod and the on-call Role (from `kubejit manifests`) bound to `GROUP`.
fn namespace_for_group() -> String {
    let cp = shared();
    let ns = unique_namespace("payments");
    cp.create_namespace(&ns).unwrap();
    cp.create_running_pod(&PodSpec {
        namespace: &ns,
        name: "api",
        log: "ok\n",
        ports: &[],
    })
    .unwrap();
    let manifests = kubejit(&[
        "manifests",
        "oncall-role",
        "--namespace",
        &ns,
        "--group",
        GROUP,
    ]);
    assert!(manifests.status.success(), "{}", stderr(&manifests));
    cp.apply(&stdout(&manifests)).unwrap();
    ns
}

#[test]
fn kubectl_through_the_plugin_is_the_engineer_with_the_group() {
    let cp = shared();
    let ns = namespace_for_group();
    let other = namespace_for_group_less();
    let engineer = Engineer::new("alice", &[]);
    let _approver = engineer.approver(Verdict::ApproveWithKubectl {
        kubectl: cp.binaries().kubectl(),
    });

    let whoami = engineer.kubectl(&["auth", "whoami", "-o", "json"]);
    assert!(whoami.status.success(), "{}", stderr(&whoami));
    let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], "alice");
    let groups = review["status"]["userInfo"]["groups"].as_array().unwrap();
    assert!(groups.contains(&GROUP.into()), "{groups:?}");
    // The certificate carries only what was asked: not alice's token groups.
    assert!(!groups.contains(&"oncall-payments".into()), "{groups:?}");

    let pods = engineer.kubectl(&["get", "pods", "-n", &ns, "-o", "name"]);
    assert!(pods.status.success(), "{}", stderr(&pods));
    assert_eq!(stdout(&pods).trim(), "pod/api");
    let exec = engineer.kubectl(&["exec", "-n", &ns, "api", "--", "echo", "hi"]);
    assert!(exec.status.success(), "{}", stderr(&exec));
    assert_eq!(stdout(&exec), "hi\n");

    let forbidden = engineer.kubectl(&["get", "pods", "-n", &other]);
    assert!(!forbidden.status.success());
    assert!(
        stderr(&forbidden).contains("forbidden") && stderr(&forbidden).contains("User \"alice\""),
        "{}",
        stderr(&forbidden)
    );
    let csrs = engineer.csrs();
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert_eq!(
        csrs[0].0, "alice",
        "the CSR is filed by the asking identity"
    );
}

/// `add-user` writes the thin `kubejit-credential` (cargo builds it beside kubejit). kubectl through
/// it: a miss is handed to `kubejit credential`, which files the CSR; the next call is a hit the thin
/// binary serves by itself (proven with a copy that has no kubejit to hand over to), byte for byte
/// what `kubejit credential` prints for the same invocation.
#[test]
fn kubectl_through_the_thin_plugin_on_a_miss_and_on_a_hit() {
    let engineer = Engineer::new("alice", &[]);
    let view = Command::new(shared().binaries().kubectl())
        .env_remove("KUBECONFIG")
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(engineer.config())
        .output_bounded()
        .unwrap();
    let config: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    let user = config["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "oncall")
        .unwrap();
    let exec = &user["user"]["exec"];
    let command = exec["command"].as_str().unwrap();
    assert!(command.ends_with("/kubejit-credential"), "{exec}");
    let args: Vec<String> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        args[0], "--kubeconfig",
        "no `credential` subcommand: {args:?}"
    );

    let _approver = engineer.approver(Verdict::Approve);
    for call in ["miss", "hit"] {
        let whoami = engineer.kubectl(&["auth", "whoami", "-o", "json"]);
        assert!(whoami.status.success(), "{call}: {}", stderr(&whoami));
        let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
        assert_eq!(review["status"]["userInfo"]["username"], "alice");
        let groups = review["status"]["userInfo"]["groups"].as_array().unwrap();
        assert!(groups.contains(&GROUP.into()), "{call}: {groups:?}");
        assert_eq!(engineer.csrs().len(), 1, "{call}: one CSR in all");
    }

    let exec_info = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
        "spec": { "interactive": false, "cluster": { "server": shared().server() } }
    })
    .to_string();
    let alone = engineer.dir.path().join("alone/kubejit-credential");
    std::fs::create_dir_all(alone.parent().unwrap()).unwrap();
    std::fs::copy(command, &alone).unwrap();
    let run = |program: &Path, prefix: &[&str]| {
        Command::new(program)
            .env("KUBERNETES_EXEC_INFO", &exec_info)
            .env("PATH", "/nonexistent")
            .args(prefix)
            .args(&args)
            .output_bounded()
            .unwrap()
    };
    let thin = run(&alone, &[]);
    let full = run(Path::new(env!("CARGO_BIN_EXE_kubejit")), &["credential"]);
    assert!(thin.status.success(), "{}", stderr(&thin));
    assert!(thin.stderr.is_empty(), "a hit is silent: {}", stderr(&thin));
    assert!(full.status.success(), "{}", stderr(&full));
    assert_eq!(stdout(&thin), stdout(&full));
    let cred: serde_json::Value =
        serde_json::from_slice(&thin.stdout).expect("stdout is one JSON document");
    assert_eq!(cred["kind"], "ExecCredential");
    assert_eq!(stdout(&thin).lines().count(), 1);
    assert_eq!(engineer.csrs().len(), 1);
}

/// A namespace where `GROUP` has no Role.
fn namespace_for_group_less() -> String {
    let cp = shared();
    let ns = unique_namespace("checkout");
    cp.create_namespace(&ns).unwrap();
    ns
}

#[test]
fn denial_exits_non_zero_with_the_reason() {
    let engineer = Engineer::new("alice", &[]);
    let reason =
        "incident reference 'foo' does not match ^INC-[0-9]+$ required by policy payments-oncall";
    let _approver = engineer.approver(Verdict::Deny(reason.to_owned()));
    let out = engineer.plugin("alice", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("denied: {reason}")),
        "{}",
        stderr(&out)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {}",
        stdout(&out)
    );

    let via_kubectl = engineer.kubectl(&["auth", "whoami"]);
    assert!(!via_kubectl.status.success());
    assert!(
        stderr(&via_kubectl).contains(reason),
        "{}",
        stderr(&via_kubectl)
    );
}

#[test]
fn no_decision_times_out() {
    let engineer = Engineer::new("bob", &[]);
    let out = engineer.plugin("bob", &["--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no decision on CertificateSigningRequest kubejit-")
            && stderr(&out).contains("approved AccessRequest for its groups")
            && stderr(&out).contains("kubejit request --certificate-group"),
        "{}",
        stderr(&out)
    );
    assert_eq!(engineer.csrs().len(), 1);
}

#[test]
fn ten_concurrent_kubectl_calls_file_one_csr_and_later_calls_none() {
    let engineer = Engineer::new("alice", &[]);
    let _approver = engineer.approver(Verdict::Approve);
    let results: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| s.spawn(|| engineer.kubectl(&["auth", "whoami", "-o", "name"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &results {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let csrs = engineer.csrs();
    assert_eq!(csrs.len(), 1, "{csrs:?}");
    assert_eq!(csrs[0].0, "alice");

    let again = engineer.kubectl(&["auth", "whoami"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        engineer.csrs().len(),
        1,
        "a call within the TTL must not file another CSR"
    );
}

#[test]
fn certificate_lifetime_matches_the_ttl_and_stdout_is_only_the_credential() {
    let engineer = Engineer::new("bob", &[]);
    let _approver = engineer.approver(Verdict::Approve);
    let out = engineer.plugin("bob", &["--ttl", "20m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let now = kubejit_credential::now_unix();
    let cred: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(cred["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(cred["kind"], "ExecCredential");
    let status = cred["status"].as_object().unwrap();
    let mut fields: Vec<&str> = status.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "clientCertificateData",
            "clientKeyData",
            "expirationTimestamp"
        ]
    );
    assert!(
        status["clientKeyData"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );

    let pem = status["clientCertificateData"].as_str().unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = parsed.parse_x509().unwrap();
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    assert!(
        (not_after - now - 1200).abs() <= 30,
        "NotAfter − now = {}s, want ≈ 1200s",
        not_after - now
    );
    assert!(
        (now - not_before - 300).abs() <= 30,
        "signer backdates NotBefore 5 min: {}s",
        now - not_before
    );
    // 25 minutes of validity: expirationTimestamp is NotAfter − 10% = NotAfter − 150 s.
    assert_eq!(
        status["expirationTimestamp"],
        kubejit_credential::rfc3339(not_after - 150)
    );

    // A cache hit gives the same certificate, without another CSR.
    let hit = engineer.plugin("bob", &["--ttl", "20m"]);
    assert!(hit.status.success(), "{}", stderr(&hit));
    assert_eq!(hit.stdout, out.stdout);
    assert!(
        hit.stderr.is_empty(),
        "a cache hit is silent: {}",
        stderr(&hit)
    );
    assert_eq!(engineer.csrs().len(), 1);
    assert_cache_is_private(&engineer.cache());
}

fn assert_cache_is_private(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().mode() & 0o777,
            0o600,
            "{}",
            entry.path().display()
        );
    }
}

#[test]
fn world_writable_cache_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let engineer = Engineer::new("alice", &[]);
    std::fs::create_dir(engineer.cache()).unwrap();
    std::fs::set_permissions(engineer.cache(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = engineer.plugin("alice", &[]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains(&format!("chmod 700 {}", engineer.cache().display())),
        "{msg}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        engineer.csrs().is_empty(),
        "nothing may be requested into an unsafe cache"
    );
}

#[test]
fn identity_without_the_requester_role_cannot_ask() {
    let engineer = Engineer::new("mallory", &[]);
    let out = engineer.plugin("mallory", &["--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("kubejit-requester ClusterRole") && msg.contains("forbidden"),
        "{msg}"
    );
}

#[test]
fn ttl_below_the_csr_floor_is_refused() {
    let out = kubejit(&["credential", "--ttl", "5m", "--group", GROUP]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("shorter than the Kubernetes CSR minimum"),
        "{}",
        stderr(&out)
    );
}

/// `KUBECONFIG` listing two files, as many engineers have: add-user (without `--context`) takes the
/// current context from the merged view, writes the new user and context to the first file only, and
/// kubectl through the plugin — which reads the same merged view — is alice with the group.
#[test]
fn kubeconfig_spread_over_two_files_is_merged_as_kubectl_merges_it() {
    let cp = shared();
    install_requester_rbac(cp);
    let ns = namespace_for_group();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::write(&first, "apiVersion: v1\nkind: Config\npreferences: {}\n").unwrap();
    let second = dir.path().join("second");
    std::fs::copy(cp.kubeconfig("alice").unwrap(), &second).unwrap();
    let second_before = std::fs::read(&second).unwrap();
    let kubeconfig = std::env::join_paths([&first, &second]).unwrap();
    let incident = format!("INC-{}", unique_namespace("m"));
    let cache = dir.path().join("cache");
    let add = Command::new(env!("CARGO_BIN_EXE_kubejit"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBEJIT_KUBECONFIG")
        .env_remove("KUBEJIT_CONTEXT")
        .args([
            "kubeconfig",
            "add-user",
            "--name",
            "oncall",
            "--group",
            GROUP,
        ])
        .args(["--incident", &incident, "--cache-dir"])
        .arg(&cache)
        .output_bounded()
        .unwrap();
    assert!(add.status.success(), "{}", stderr(&add));
    assert!(
        stderr(&add).contains("using the current context \"alice\""),
        "{}",
        stderr(&add)
    );
    assert_eq!(
        std::fs::read(&second).unwrap(),
        second_before,
        "second untouched"
    );
    let written = std::fs::read_to_string(&first).unwrap();
    assert!(written.contains("name: oncall"), "{written}");

    let _approver = approver::start(
        cp.admin_kubeconfig().to_path_buf(),
        incident,
        Verdict::ApproveWithKubectl {
            kubectl: cp.binaries().kubectl(),
        },
    );
    let pods = Command::new(cp.binaries().kubectl())
        .env("KUBECONFIG", &kubeconfig)
        .args([
            "--context",
            "oncall",
            "get",
            "pods",
            "-n",
            &ns,
            "-o",
            "name",
        ])
        .output_bounded()
        .unwrap();
    assert!(pods.status.success(), "{}", stderr(&pods));
    assert_eq!(stdout(&pods).trim(), "pod/api");
}
