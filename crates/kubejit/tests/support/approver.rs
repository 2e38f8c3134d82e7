//! A stand-in approver for tests and benchmarks: watches CSRs as the cluster admin and approves (with
//! kube-rs or the real `kubectl certificate approve`) or denies the ones filed for one incident.
//! The real approver is kubejit's controller; these tests must not depend on it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kubejit_testenv::BoundedOutput;
use std::path::PathBuf;

use futures::StreamExt;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;

pub const INCIDENT: &str = "debugging.kubernetes.io/incident";

/// What the approver does with each pending CSR of its incident.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Approve through the approval subresource with kube-rs (fast; for benchmarks).
    Approve,
    /// Approve with the real `kubectl certificate approve`.
    ApproveWithKubectl { kubectl: PathBuf },
    /// Deny with this message, as a policy controller would.
    Deny(String),
}

/// Runs until dropped.
pub struct Approver {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Approver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts an approver for CSRs annotated with `incident`, as the admin of `admin_kubeconfig`.
/// Returns once its watch is established, so no CSR can slip past it.
pub fn start(admin_kubeconfig: PathBuf, incident: String, verdict: Verdict) -> Approver {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = kubejit_kube::build_client(&kubejit_kube::ClientOptions {
                kubeconfig: Some(admin_kubeconfig.clone()),
                context: None,
            })
            .await
            .unwrap();
            let api: Api<CertificateSigningRequest> = Api::all(client);
            tokio::select! {
                () = run(api, &admin_kubeconfig, &incident, &verdict, ready_tx) => {}
                _ = stop_rx => {}
            }
        });
    });
    ready_rx.recv().unwrap();
    Approver {
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

async fn run(
    api: Api<CertificateSigningRequest>,
    admin: &std::path::Path,
    incident: &str,
    verdict: &Verdict,
    ready: std::sync::mpsc::Sender<()>,
) {
    let mut events = std::pin::pin!(watcher(api.clone(), watcher::Config::default()));
    while let Some(event) = events.next().await {
        let csr = match event {
            Ok(watcher::Event::Apply(csr) | watcher::Event::InitApply(csr)) => csr,
            Ok(watcher::Event::InitDone) => {
                let _ = ready.send(());
                continue;
            }
            Ok(_) | Err(_) => continue,
        };
        let ours = csr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INCIDENT))
            .map(String::as_str)
            == Some(incident);
        let pending = csr
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_none_or(Vec::is_empty);
        if ours && pending {
            decide(&api, admin, csr.metadata.name.as_deref().unwrap(), verdict).await;
        }
    }
}

async fn decide(
    api: &Api<CertificateSigningRequest>,
    admin: &std::path::Path,
    name: &str,
    verdict: &Verdict,
) {
    let condition = |ty: &str, reason: &str, message: &str| {
        serde_json::json!({ "status": { "conditions": [
            { "type": ty, "status": "True", "reason": reason, "message": message }
        ]}})
    };
    let patch = match verdict {
        Verdict::Approve => condition("Approved", "TestApprover", "approved by the test approver"),
        Verdict::Deny(message) => condition("Denied", "PolicyDenied", message),
        Verdict::ApproveWithKubectl { kubectl } => {
            let out = std::process::Command::new(kubectl)
                .env_remove("KUBECONFIG")
                .arg("--kubeconfig")
                .arg(admin)
                .args(["certificate", "approve", name])
                .output_bounded()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
    };
    let _ = api
        .patch_approval(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}
