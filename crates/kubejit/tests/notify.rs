//! Notification webhooks on the real control plane: the controller's ServiceAccount, with exactly
//! the RBAC in deploy/, reads a webhook's HMAC key from its Secret in kubejit-system (and sees a
//! rotation at once), cannot list Secrets or read them elsewhere, and a delivery signed with that
//! key reaches a local receiver (docs/requests.md, "Notifications").

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kubejit_controller::notify::{
    self, KeyError, Metrics, Notification, Notifier, NotifyConfig, Outcome, RequestRef, SecretKeys,
};
use kubejit_core::request::{IdentitySpec, Phase, PhaseReason};
use kubejit_core::{SecretKeyRef, WebhookSpec};
use kubejit_testenv::{CONTROLLER_SA, ControlPlane, shared, unique_namespace};
use secrecy::ExposeSecret;
use support::{assert_forbidden, install_kubejit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn controller_client(cp: &ControlPlane) -> kube::Client {
    kubejit_kube::build_client(&kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.kubeconfig(CONTROLLER_SA).unwrap()),
        context: None,
    })
    .await
    .unwrap()
}

/// A Secret with a unique name in kubejit-system holding `hmac: value`.
fn hook_secret(cp: &ControlPlane, value: &str) -> String {
    install_kubejit(cp);
    let name = unique_namespace("notify-hook");
    set_secret(cp, &name, value);
    name
}

fn set_secret(cp: &ControlPlane, name: &str, value: &str) {
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "kubejit-system"},
        "stringData": {"hmac": value},
    });
    cp.apply(&secret.to_string()).unwrap();
}

fn secret_ref(name: &str, key: &str) -> SecretKeyRef {
    webhook("https://hooks.example.com/", name, key).secret
}

fn webhook(url: &str, name: &str, key: &str) -> kubejit_core::Webhook {
    let spec = serde_json::json!({
        "requesters": {"users": ["carol"]}, "maxTTL": "1h", "approval": {"mode": "Auto"},
        "notify": {"webhook": WebhookSpec {
            url: url.to_owned(),
            secret_ref: kubejit_core::SecretKeyRefSpec { name: name.to_owned(), key: key.to_owned() },
        }},
    });
    let spec: kubejit_core::AccessPolicySpec = serde_json::from_value(spec).unwrap();
    kubejit_core::NamedPolicy::parse("notify-test", &spec)
        .unwrap()
        .policy
        .notify
        .unwrap()
}

#[test]
fn the_controller_reads_the_webhook_key_and_sees_a_rotation() {
    let cp = shared();
    let name = hook_secret(cp, "first-key");
    let rt = runtime();
    rt.block_on(async {
        let client = controller_client(cp).await;
        kubejit_kube::permissions::check(&client, &notify::required_permissions())
            .await
            .expect("deploy/rbac gives the controller what the notifier needs");
        let keys = SecretKeys::new(client);
        let key = keys.read(&secret_ref(&name, "hmac")).await.unwrap();
        assert_eq!(key.expose_secret(), b"first-key");
        set_secret(cp, &name, "second-key");
        let key = keys.read(&secret_ref(&name, "hmac")).await.unwrap();
        assert_eq!(key.expose_secret(), b"second-key", "no stale cache");
        match keys.read(&secret_ref(&name, "other")).await {
            Err(KeyError::MissingKey { .. }) => {}
            other => panic!("a missing key is MissingKey, got {:?}", other.map(|_| ())),
        }
        match keys
            .read(&secret_ref("notify-no-such-secret", "hmac"))
            .await
        {
            Err(KeyError::Read { source, .. }) => assert!(
                matches!(&source, kube::Error::Api(s) if s.code == 404),
                "{source}"
            ),
            other => panic!(
                "a missing Secret is a read error, got {:?}",
                other.map(|_| ())
            ),
        }
    });
}

/// `get` by name in kubejit-system only: no list, no watch, nothing in other namespaces.
#[test]
fn the_controller_cannot_list_secrets_or_read_them_elsewhere() {
    let cp = shared();
    install_kubejit(cp);
    let ns = unique_namespace("notify-other");
    cp.admin(&["create", "namespace", &ns]).unwrap();
    cp.admin(&[
        "create",
        "secret",
        "generic",
        "hook",
        "-n",
        &ns,
        "--from-literal=hmac=k",
    ])
    .unwrap();
    for args in [
        vec!["get", "secret", "hook", "-n", ns.as_str()],
        vec!["get", "secrets", "-n", "kubejit-system"],
        vec![
            "get",
            "secrets",
            "-n",
            "kubejit-system",
            "--watch-only",
            "--request-timeout=5s",
        ],
    ] {
        let out = cp.kubectl_as(CONTROLLER_SA, &args).unwrap();
        assert_forbidden(&out, CONTROLLER_SA, &args);
    }
}

/// The whole chain: the key from the cluster, a signed delivery, verified by the receiver's check.
#[test]
fn a_delivery_is_signed_with_the_key_from_the_cluster() {
    let cp = shared();
    let name = hook_secret(cp, "cluster-key");
    let rt = runtime();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed mid-request");
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if body.len() >= len {
                        socket
                            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                            .await
                            .unwrap();
                        return (head.to_owned(), body[..len].to_owned());
                    }
                }
            }
        });
        let client = controller_client(cp).await;
        let notifier = Notifier::start(
            client,
            NotifyConfig::default(),
            Metrics::default(),
            tokio_util::sync::CancellationToken::new(),
        );
        notifier.notify(&webhook(&url, &name, "hmac"), &notification());
        let (head, body) = tokio::time::timeout(Duration::from_secs(120), received)
            .await
            .expect("the receiver got a delivery")
            .unwrap();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no {name} in {head}"))
        };
        let (ts, sig) = (header("x-kubejit-timestamp"), header("x-kubejit-signature"));
        assert!(
            notify::verify(b"cluster-key", &ts, body.as_bytes(), &sig),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["phase"], "Approved");
        assert_eq!(body["deliveryId"], header("x-kubejit-delivery").as_str());
        tokio::time::timeout(Duration::from_secs(60), async {
            while notifier.metrics().count(Outcome::Delivered) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("counted as delivered");
    });
}

fn notification() -> Notification {
    Notification {
        phase: Phase::Approved,
        previous_phase: Some(Phase::Pending),
        phase_reason: PhaseReason::ApprovalsReceived,
        request: RequestRef {
            namespace: "payments".into(),
            name: "carol-checkout".into(),
            uid: "uid-1".into(),
        },
        requester: IdentitySpec {
            username: "carol".into(),
            groups: vec!["oncall-checkout".into()],
        },
        subjects: None,
        role: None,
        certificate_groups: vec!["payments-debug".into()],
        incident: Some("INC-1".into()),
        reason: "checkout latency".into(),
        approvers: vec!["oscar".into()],
        expires_at: None,
        time: time::OffsetDateTime::now_utc(),
    }
}

/// The CRD refuses what kubejit-core refuses: `kubectl apply` (server-side dry run) of a policy whose
/// webhook is plain http to a non-loopback host, or whose Secret key is not a data key.
#[test]
fn kubectl_apply_checks_the_webhook() {
    let cp = shared();
    install_kubejit(cp);
    let policy = |url: &str, key: &str| {
        serde_json::json!({
            "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessPolicy",
            "metadata": {"name": "notify-test-crd"},
            "spec": {"requesters": {"users": ["carol"]}, "maxTTL": "1h", "approval": {"mode": "Auto"},
                     "notify": {"webhook": {"url": url, "secretRef": {"name": "hook", "key": key}}}}
        })
        .to_string()
    };
    let dry_run = |manifest: String| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), manifest).unwrap();
        // The admin's refusals carry kubectl's stderr in the error.
        cp.admin(&[
            "apply",
            "--dry-run=server",
            "-f",
            file.path().to_str().unwrap(),
        ])
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    for url in [
        "https://hooks.example.com/k?token=t",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/h",
    ] {
        dry_run(policy(url, "hmac")).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    for (url, key, want) in [
        ("http://hooks.example.com/", "hmac", "must use https"),
        (
            "http://127.0.0.1.evil.example.com/",
            "hmac",
            "must use https",
        ),
        ("https://hooks.example.com/", "a/b", "secretRef.key"),
    ] {
        let refused = dry_run(policy(url, key)).expect_err(url);
        assert!(refused.contains(want), "{url} {key}: {refused}");
    }
}
