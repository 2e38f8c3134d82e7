//! The load a chaos run puts on the controller, from its own thread with in-process clients (no
//! kubectl processes, which would eat the shared cores): carol's AccessRequests under an Auto rule
//! with TTLs of a few seconds, and CSRs that an Auto policy approves (alice, `chaos:auto`), that no
//! policy allows (alice, `chaos:forbidden`) and that a Manual policy holds (bob, `chaos:manual`).
//! What each CSR must end as is in its name; the checks list the cluster, not this thread's notes,
//! so an object whose create answer was lost in an outage is judged too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::Api;
use kube::api::PostParams;
use kubejit_kube::AccessRequest;
use kubejit_testenv::ControlPlane;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ED25519};
use serde_json::json;

/// What a CSR of the workload must end as, and the word in its name that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// alice, `chaos:auto`: the Auto policy approves it.
    Approved,
    /// alice, `chaos:forbidden`: no policy allows it.
    Denied,
    /// bob, `chaos:manual`: the Manual policy allows it only under an approved AccessRequest, and
    /// there is none.
    Pending,
}

impl Expect {
    pub const ALL: [Self; 3] = [Self::Approved, Self::Denied, Self::Pending];

    pub fn word(self) -> &'static str {
        match self {
            Self::Approved => "auto",
            Self::Denied => "forbidden",
            Self::Pending => "manual",
        }
    }

    fn who(self) -> (&'static str, &'static str) {
        match self {
            Self::Approved => ("alice", "chaos:auto"),
            Self::Denied => ("alice", "chaos:forbidden"),
            Self::Pending => ("bob", "chaos:manual"),
        }
    }

    /// The expectation a CSR name of run `prefix` carries.
    pub fn of(prefix: &str, name: &str) -> Option<Self> {
        let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
        Self::ALL
            .into_iter()
            .find(|e| rest.starts_with(&format!("{}-", e.word())))
    }
}

/// The cluster-wide CSR policies and the RBAC that lets alice, bob and carol ask.
pub fn install_policies(cp: &ControlPlane) {
    let policy = |name: &str, user: &str, group: &str, approval: serde_json::Value| {
        json!({"apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessPolicy",
               "metadata": {"name": name},
               "spec": {"requesters": {"users": [user]}, "certificateGroups": [group],
                        "maxTTL": "30m", "incident": {"required": false}, "approval": approval}})
    };
    let subjects: Vec<serde_json::Value> = ["alice", "bob", "carol"]
        .iter()
        .map(|u| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}))
        .collect();
    for doc in [
        policy(
            "chaos-csr-auto",
            "alice",
            "chaos:auto",
            json!({"mode": "Auto"}),
        ),
        policy(
            "chaos-csr-manual",
            "bob",
            "chaos:manual",
            json!({"mode": "Manual", "approvers": {"groups": ["kubejit-approvers"]}}),
        ),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "chaos-requesters"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "kubejit-requester"},
               "subjects": subjects}),
    ] {
        cp.apply(&doc.to_string()).unwrap();
    }
}

/// The running workload; [`Workload::stop`] ends it and says how much it did.
pub struct Workload {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Counts>,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub requests: usize,
    pub csrs: usize,
    /// Creates the apiserver did not confirm (it was down, or restarting).
    pub failed: usize,
}

struct Clients {
    carol: kube::Client,
    alice: kube::Client,
    bob: kube::Client,
}

impl Workload {
    /// Starts creating objects for run `prefix` in namespace `ns`, paced and chosen by `seed`.
    pub fn start(cp: &'static ControlPlane, prefix: String, ns: String, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run(cp, &prefix, &ns, seed, &flag))
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Counts {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

async fn client(cp: &ControlPlane, user: &str) -> kube::Client {
    kubejit_kube::build_client(&kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.kubeconfig(user).unwrap()),
        context: None,
    })
    .await
    .unwrap()
}

async fn run(cp: &ControlPlane, prefix: &str, ns: &str, seed: u64, stop: &AtomicBool) -> Counts {
    let clients = Clients {
        carol: client(cp, "carol").await,
        alice: client(cp, "alice").await,
        bob: client(cp, "bob").await,
    };
    let carol = kubejit_kube::request::identity(&clients.carol)
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counts = Counts::default();
    let n = AtomicUsize::new(0);
    while !stop.load(Ordering::SeqCst) {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let roll = rng.random_range(0..10u8);
        let ok = if roll < 4 {
            counts.requests += 1;
            let ttl = rng.random_range(3..=10u8);
            let request = access_request(ns, &format!("{prefix}-req-{i}"), &carol, ttl);
            let api: Api<AccessRequest> = Api::namespaced(clients.carol.clone(), ns);
            api.create(&PostParams::default(), &request).await.is_ok()
        } else {
            counts.csrs += 1;
            let expect = match roll {
                4..=6 => Expect::Approved,
                7 => Expect::Denied,
                _ => Expect::Pending,
            };
            let as_user = match expect {
                Expect::Approved | Expect::Denied => &clients.alice,
                Expect::Pending => &clients.bob,
            };
            let csr = csr(&format!("{prefix}-{}-{i}", expect.word()), expect);
            let api: Api<CertificateSigningRequest> = Api::all(as_user.clone());
            api.create(&PostParams::default(), &csr).await.is_ok()
        };
        if !ok {
            counts.failed += 1;
        }
        let pause = rng.random_range(150..450u64);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    counts
}

fn access_request(
    ns: &str,
    name: &str,
    requester: &kubejit_core::request::IdentitySpec,
    ttl_seconds: u8,
) -> AccessRequest {
    serde_json::from_value(json!({
        "apiVersion": "kubejit.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"requester": requester, "subjects": {"users": ["carol"]},
                 "role": {"kind": "Role", "name": "oncall-debug"},
                 "ttl": format!("{ttl_seconds}s"), "incident": "INC-7", "reason": "chaos run"},
    }))
    .unwrap()
}

fn csr(name: &str, expect: Expect) -> CertificateSigningRequest {
    let (user, group) = expect.who();
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, user);
    dn.push(DnType::OrganizationName, group);
    params.distinguished_name = dn;
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    serde_json::from_value(json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem),
                 "signerName": "kubernetes.io/kube-apiserver-client",
                 "usages": ["client auth"], "expirationSeconds": 600},
    }))
    .unwrap()
}
