//! The approver test binary's shared pieces: one controller, the test policies, CSR builders, and
//! readers for conditions, Events and audit records.

use std::io::Write as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use kubejit_core::testutil::PivVendor;
use kubejit_testenv::{ControlPlane, KubectlOutput, shared};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ED25519};
use serde_json::{Value, json};

use crate::support::{ControllerProcess, install_kubejit, start_controller};

/// Every policy this binary creates starts with this, and so do its impersonated users and groups.
pub const PREFIX: &str = "approver-test";
pub const PAYMENTS_GROUP: &str = "approver-test:payments-debug";
pub const CHECKOUT_GROUP: &str = "approver-test:checkout-debug";
/// Allowed by the Manual policy too, so a request for [`CHECKOUT_GROUP`] alone does not cover it.
pub const CHECKOUT_READ_GROUP: &str = "approver-test:checkout-read";

const POLICIES: &str = r#"
apiVersion: kubejit.dev/v1alpha1
kind: AccessPolicy
metadata: {name: approver-test-auto}
spec:
  requesters: {users: [alice]}
  certificateGroups: ["approver-test:payments-debug"]
  maxTTL: 30m
  incident: {required: true, pattern: '^INC-[0-9]+$', maxLength: 32}
  approval: {mode: Auto}
---
apiVersion: kubejit.dev/v1alpha1
kind: AccessPolicy
metadata: {name: approver-test-manual}
spec:
  requesters: {users: [carol, oscar], groups: [approver-test-manual]}
  certificateGroups: ["approver-test:checkout-debug", "approver-test:checkout-read"]
  maxTTL: 1h
  incident: {required: false}
  # approver-test-manual: so a requester of that group may try to approve her own request.
  approval: {mode: Manual, approvers: {groups: [kubejit-approvers, approver-test-manual]}}
---
apiVersion: kubejit.dev/v1alpha1
kind: AccessPolicy
metadata: {name: approver-test-hardware}
spec:
  requesters: {users: [harriet]}
  certificateGroups: ["approver-test:hardware-debug"]
  maxTTL: 30m
  incident: {required: false}
  approval: {mode: Auto}
  keys: hardwareWithTouch
---
# The requester side is not the approver's business; these tests grant it directly.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: approver-test-requester}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [create, get, list, watch]
- apiGroups: [kubejit.dev]
  resources: [accessrequests]
  verbs: [create, get, list, watch, delete]
- apiGroups: [kubejit.dev]
  resources: [accessapprovals]
  verbs: [create, get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: approver-test-requester}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver-test-requester}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: carol}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: oscar}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: mallory}
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: approver-test-requesters}
"#;

/// Added to every impersonated identity, which is how it may create CSRs.
pub const REQUESTERS: &str = "approver-test-requesters";

/// The test environment's admin user (system:masters), for commands expected to fail.
const ADMIN: &str = "kubejit-testenv:admin";

/// The one controller of this binary, and a watchdog that stops it when the binary exits (a static
/// is never dropped): a shell reading our pipe, which closes when we die.
struct Running {
    ctl: ControllerProcess,
    _watchdog: (Child, ChildStdin),
    /// Holds the controller's --attestation-roots file.
    _roots: tempfile::TempDir,
}

/// The test's own PIV "vendor" (root → device f9 → attestation): its root is the controller's
/// `--attestation-roots`, as Yubico's root would be in production.
pub fn vendor() -> &'static PivVendor {
    static VENDOR: OnceLock<PivVendor> = OnceLock::new();
    VENDOR.get_or_init(|| {
        let now = unix_now();
        PivVendor::new(now - 3600, now + 365 * 86_400)
    })
}

pub fn unix_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

static CONTROLLER: OnceLock<Running> = OnceLock::new();

/// The control plane with kubejit installed, the test policies applied and the controller running.
pub fn setup() -> (&'static ControlPlane, &'static ControllerProcess) {
    let cp = shared();
    let running = CONTROLLER.get_or_init(|| {
        install_kubejit(cp);
        cp.apply(POLICIES).unwrap();
        let roots = tempfile::tempdir().unwrap();
        let roots_file = roots.path().join("roots.pem");
        std::fs::write(&roots_file, &vendor().root_pem).unwrap();
        let ctl = start_controller(
            cp,
            &[
                "--lease-name",
                "approver-test",
                "--controllers",
                "approver,requests",
                "--attestation-roots",
                roots_file.to_str().unwrap(),
            ],
        );
        let watchdog = watchdog(ctl.pid());
        Running {
            ctl,
            _watchdog: watchdog,
            _roots: roots,
        }
    });
    (cp, &running.ctl)
}

fn watchdog(pid: u32) -> (Child, ChildStdin) {
    let mut child = Command::new("sh")
        .args(["-c", &format!("read _ ; kill -TERM {pid} 2>/dev/null")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// A PKCS#10 request (Ed25519) as PEM.
pub fn request_pem(cn: &str, org: Option<&str>, ou: Option<&str>, san: Option<&str>) -> String {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params =
        CertificateParams::new(san.map(str::to_owned).into_iter().collect::<Vec<_>>()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(org) = org {
        dn.push(DnType::OrganizationName, org);
    }
    if let Some(ou) = ou {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    params.distinguished_name = dn;
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// A CertificateSigningRequest object.
#[derive(Debug, Clone)]
pub struct Csr {
    pub name: String,
    pub pem: String,
    pub usages: Vec<&'static str>,
    pub expiration: Option<u32>,
    pub incident: Option<String>,
    pub signer: &'static str,
    /// The `kubejit.dev/key-attestation` annotation.
    pub attestation: Option<String>,
}

impl Csr {
    /// A well-formed request for `cn` with one group, 20 minutes, client auth.
    pub fn new(name: &str, cn: &str, group: &str) -> Self {
        Self {
            name: unique(name),
            pem: request_pem(cn, Some(group), None, None),
            usages: vec!["client auth"],
            expiration: Some(1200),
            incident: None,
            signer: "kubernetes.io/kube-apiserver-client",
            attestation: None,
        }
    }

    pub fn incident(mut self, incident: &str) -> Self {
        self.incident = Some(incident.to_owned());
        self
    }

    pub fn to_json(&self) -> Value {
        let mut spec = json!({
            "request": base64::engine::general_purpose::STANDARD.encode(&self.pem),
            "signerName": self.signer,
            "usages": self.usages,
        });
        if let Some(secs) = self.expiration {
            spec["expirationSeconds"] = json!(secs);
        }
        let mut meta = json!({"name": self.name, "annotations": {}});
        if let Some(incident) = &self.incident {
            meta["annotations"]["debugging.kubernetes.io/incident"] = json!(incident);
        }
        if let Some(chain) = &self.attestation {
            meta["annotations"]["kubejit.dev/key-attestation"] = json!(chain);
        }
        json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
               "metadata": meta, "spec": spec})
    }
}

/// Who creates a CSR: a real test user (their own kubeconfig), or the admin impersonating someone.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    User(&'a str),
    Impersonating(&'a str, &'a str),
}

/// kubectl as the admin, returning a failure instead of an error.
pub fn admin_may_fail(cp: &ControlPlane, args: &[&str]) -> KubectlOutput {
    cp.kubectl_as(ADMIN, args).unwrap()
}

/// Creates the CSR through the real apiserver with the real kubectl.
pub fn create(cp: &ControlPlane, who: As<'_>, csr: &Csr) -> KubectlOutput {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(csr.to_json().to_string().as_bytes())
        .unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    match who {
        As::User(user) => cp.kubectl_as(user, &["create", "-f", &path]).unwrap(),
        As::Impersonating(user, group) => {
            let args = [
                "create",
                "-f",
                &path,
                "--as",
                user,
                "--as-group",
                group,
                "--as-group",
                REQUESTERS,
            ];
            cp.kubectl_as(ADMIN, &args).unwrap()
        }
    }
}

pub fn create_ok(cp: &ControlPlane, who: As<'_>, csr: &Csr) {
    let out = create(cp, who, csr);
    assert!(
        out.success,
        "creating {} as {who:?}: {}",
        csr.name, out.stderr
    );
}

pub fn unique(name: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{PREFIX}-{name}-{}-{n}", std::process::id())
}

pub fn get_csr(cp: &ControlPlane, name: &str) -> Value {
    let out = cp.admin(&["get", "csr", name, "-o", "json"]).unwrap();
    assert!(out.success, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// The first Approved/Denied condition: (type, reason, message).
pub fn decision_of(csr: &Value) -> Option<(String, String, String)> {
    let conds = csr["status"]["conditions"].as_array()?;
    conds
        .iter()
        .find(|c| c["type"] == "Approved" || c["type"] == "Denied")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("reason"), s("message"))
        })
}

/// How long the approver tests wait for a decision, an Event, an audit record or a certificate.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn wait_decided(cp: &ControlPlane, name: &str) -> (String, String, String) {
    crate::support::eventually(WAIT, &format!("a decision on {name}"), || {
        decision_of(&get_csr(cp, name))
    })
}

/// Events about an object (events.k8s.io, in `default` for cluster-scoped objects): (reason, note, type).
pub fn events_for(cp: &ControlPlane, name: &str) -> Vec<(String, String, String)> {
    let selector = format!("regarding.name={name}");
    let out = cp
        .admin(&[
            "get",
            "events.v1.events.k8s.io",
            "-A",
            "--field-selector",
            &selector,
            "-o",
            "json",
        ])
        .unwrap();
    assert!(out.success, "{}", out.stderr);
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("reason"), s("note"), s("type"))
        })
        .collect()
}

pub fn wait_event(cp: &ControlPlane, name: &str, reason: &str) -> (String, String, String) {
    crate::support::eventually(WAIT, &format!("a {reason} Event on {name}"), || {
        events_for(cp, name).into_iter().find(|e| e.0 == reason)
    })
}

/// The controller's audit records about one CSR.
pub fn audit_for(ctl: &ControllerProcess, name: &str) -> Vec<Value> {
    ctl.stdout_audit()
        .into_iter()
        .filter(|r| r["object"]["name"] == name)
        .collect()
}

pub fn wait_audit(ctl: &ControllerProcess, name: &str, kind: &str) -> Value {
    crate::support::eventually(WAIT, &format!("a {kind} audit record for {name}"), || {
        audit_for(ctl, name).into_iter().find(|r| r["kind"] == kind)
    })
}
