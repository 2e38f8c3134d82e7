//! Command lines and config files of the control-plane components (see docs/testenv.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::pki::Pki;

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `token,user,uid,"group1,group2"` lines for `--token-auth-file`.
pub(crate) fn token_csv(tokens: &[(String, String, Vec<String>)]) -> String {
    tokens
        .iter()
        .map(|(user, token, groups)| format!("{token},{user},{user},\"{}\"\n", groups.join(",")))
        .collect()
}

pub(crate) fn etcd_args(dir: &Path, client: u16, peer: u16) -> Vec<String> {
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    vec![
        format!("--data-dir={}", p(&dir.join("etcd"))),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=default={peer_url}"),
        // A throwaway store: durability buys nothing and fsync dominates start-up on slow disks.
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

/// etcd's `/health` over plain HTTP on loopback.
pub(crate) fn etcd_healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

/// Metadata for every request except the control plane's own chatter: kubejit's audit report joins
/// this log with its own trail, so users' requests must all be there.
pub(crate) fn audit_policy(quiet_users: &[&str]) -> String {
    let users = quiet_users
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [\"RequestReceived\"]\nrules:\n\
         - level: None\n  users: [{users}]\n\
         - level: None\n  nonResourceURLs: [\"/readyz*\", \"/livez*\", \"/healthz*\"]\n\
         - level: Metadata\n"
    )
}

pub(crate) fn apiserver_args(
    pki: &Pki,
    port: u16,
    etcd: u16,
    tokens: &Path,
    policy: &Path,
    audit_log: &Path,
) -> Vec<String> {
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd}"),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--tls-cert-file={}", p(&pki.apiserver_cert)),
        format!("--tls-private-key-file={}", p(&pki.apiserver_key)),
        format!("--client-ca-file={}", p(&pki.ca_cert)),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", p(&pki.service_account_pub)),
        format!(
            "--service-account-signing-key-file={}",
            p(&pki.service_account_key)
        ),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--authorization-mode=Node,RBAC".into(),
        // No service-account controller runs, so pods must not wait for a default ServiceAccount.
        "--disable-admission-plugins=ServiceAccount".into(),
        format!("--token-auth-file={}", p(tokens)),
        format!("--audit-policy-file={}", p(policy)),
        format!("--audit-log-path={}", p(audit_log)),
        "--audit-log-format=json".into(),
        "--kubelet-preferred-address-types=InternalIP,Hostname".into(),
        format!("--kubelet-certificate-authority={}", p(&pki.ca_cert)),
        format!(
            "--kubelet-client-certificate={}",
            p(&pki.kubelet_client_cert)
        ),
        format!("--kubelet-client-key={}", p(&pki.kubelet_client_key)),
        "--v=1".into(),
    ]
}

/// Only the CSR signing controller: kubejit's approver, not Kubernetes', decides what gets signed.
pub(crate) fn kcm_args(pki: &Pki, kubeconfig: &Path) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", p(kubeconfig)),
        "--controllers=csrsigning".into(),
        format!(
            "--cluster-signing-kube-apiserver-client-cert-file={}",
            p(&pki.ca_cert)
        ),
        format!(
            "--cluster-signing-kube-apiserver-client-key-file={}",
            p(&pki.ca_key)
        ),
        "--cluster-signing-duration=24h".into(),
        "--leader-elect=false".into(),
        "--secure-port=0".into(),
        "--v=1".into(),
    ]
}

const STAGES: [&str; 5] = [
    "node/fast/node-initialize.yaml",
    "node/heartbeat/node-heartbeat.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
];

/// A pod port that kwok forwards to a local port nothing listens on (1, privileged and unused), so a
/// port-forward to it fails the way a pod's closed port does.
pub const CLOSED_POD_PORT: u16 = 9999;

/// kwok's stages plus the debugging rules: exec runs locally, port-forward reaches the echo server
/// (except [`CLOSED_POD_PORT`]), logs come from a per-pod `Logs` object (CRD) or this default file.
pub(crate) fn kwok_config(
    stages: &Path,
    default_log: &Path,
    echo_port: u16,
) -> Result<String, Error> {
    let mut docs = Vec::new();
    for stage in STAGES {
        let path = stages.join(stage);
        docs.push(std::fs::read_to_string(&path).map_err(|_| Error::MissingBinary { path })?);
    }
    docs.push(
        "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata:\n  name: local-exec\n\
         spec:\n  execs:\n  - local: {}\n"
            .to_owned(),
    );
    docs.push(format!(
        "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterPortForward\nmetadata:\n  name: echo\n\
         spec:\n  forwards:\n  - target:\n      port: {echo_port}\n      address: 127.0.0.1\n\
         \x20 - ports: [{CLOSED_POD_PORT}]\n    target:\n      port: 1\n      address: 127.0.0.1\n"
    ));
    docs.push(format!(
        "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: default-logs\n\
         spec:\n  logs:\n  - logsFile: {}\n    follow: false\n",
        p(default_log)
    ));
    let _ = std::fs::write(default_log, "");
    Ok(docs.join("\n---\n"))
}

pub(crate) fn kwok_args(
    pki: &Pki,
    kubeconfig: &Path,
    config: &Path,
    node: &str,
    port: u16,
) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", p(kubeconfig)),
        format!("--config={}", p(config)),
        "--manage-all-nodes=true".into(),
        "--node-ip=127.0.0.1".into(),
        format!("--node-name={node}"),
        format!("--node-port={port}"),
        format!("--server-address=127.0.0.1:{port}"),
        format!("--tls-cert-file={}", p(&pki.node_cert)),
        format!("--tls-private-key-file={}", p(&pki.node_key)),
        "--enable-crds=Logs".into(),
        "--node-lease-duration-seconds=0".into(),
    ]
}
