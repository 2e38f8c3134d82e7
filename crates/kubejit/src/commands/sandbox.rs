//! `kubejit sandbox`: a real local control plane with kubejit installed and running, until Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use kubejit_core::{GroupName, NamespaceName, ObjectName, OncallRole};
use kubejit_kube::{OutputError, OutputFormat};
use kubejit_testenv::{ControlPlane, Options, PodSpec, Progress, ensure_built};
use serde_json::json;

use crate::cli::SandboxArgs;
use crate::commands::manifests::oncall_role_text;

const GROUP: &str = "oncall-payments";
/// carol's group: no standing access; irene may grant to it, and carol may ask for herself.
const CHECKOUT_GROUP: &str = "oncall-checkout";
/// The AccessRequest carol files in the walkthrough (a fixed name, so oscar's command can name it).
const CAROL_REQUEST: &str = "carol-debug";
/// The group alice's short-lived certificates carry (the AccessPolicy `sandbox-certificates` allows it).
const CERT_GROUP: &str = "kubejit:payments-debug";
/// The sandbox's audit trail: its name (anchored in the cluster under it) and files in the sandbox dir.
const TRAIL: &str = "sandbox";
const TRAIL_FILE: &str = "kubejit-audit.jsonl";
/// The trail `kubejit grant` writes in the walkthrough: a second file (one writer per trail), signed
/// with the sandbox's key and not anchored (the CLI anchors only with `--audit-trail`).
const SIGNING_KEY_FILE: &str = "audit-signing.pem";
const PUBLIC_KEY_FILE: &str = "audit-signing.pub";
const PODS: [(&str, &str); 2] = [
    (
        "checkout-api",
        "2026-11-26T09:14:03Z INFO checkout-api listening on :8080\n2026-11-26T09:15:41Z ERROR payment provider timeout order=8812\n",
    ),
    (
        "ledger-worker",
        "2026-11-26T09:14:05Z INFO ledger-worker consuming topic=ledger\n2026-11-26T09:16:02Z WARN lag=1200 partition=3\n",
    ),
];

pub async fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    eprintln!(
        "kubejit sandbox: building the control plane if needed (a cold build takes 10-30 minutes), then starting it"
    );
    let namespace = args.namespace.clone();
    let cp = tokio::task::spawn_blocking(move || setup(&namespace))
        .await
        .context("sandbox set-up task failed")??;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (controller, audit, auditor) = start_controller(&cp, shutdown.clone()).await?;
    let gateway =
        crate::commands::sandbox_gateway::start(&cp, GROUP, auditor, shutdown.clone()).await?;
    // Caught before the walkthrough is printed: whoever reads it may press Ctrl-C at once.
    let signals = crate::commands::ShutdownSignals::install();
    announce(&cp, &args, gateway.as_ref())?;
    signals.wait().await;
    eprintln!("kubejit sandbox: stopping, removing every process and file it created");
    shutdown.cancel();
    if let Ok(Err(error)) = controller.await {
        eprintln!("kubejit sandbox: the controller stopped with an error: {error:#}");
    }
    // Seals the trail with a last signed checkpoint, as the controller does on SIGTERM.
    audit.close().await;
    tokio::task::spawn_blocking(move || cp.stop())
        .await
        .context("sandbox teardown task failed")?;
    Ok(ExitCode::SUCCESS)
}

fn setup(namespace: &NamespaceName) -> anyhow::Result<ControlPlane> {
    let binaries = ensure_built().context("failed to build the control plane")?;
    let options = Options {
        progress: Progress::Stderr,
        ..Options::default()
    };
    let cp = ControlPlane::start(binaries, options).context("failed to start the control plane")?;
    cp.create_namespace(namespace.as_str())?;
    for (name, log) in PODS {
        eprintln!("[sandbox] starting pod {namespace}/{name}");
        cp.create_running_pod(&PodSpec {
            namespace: namespace.as_str(),
            name,
            log,
            ports: &[8080],
        })?;
    }
    let role = OncallRole {
        name: ObjectName::parse(kubejit_core::role::DEFAULT_ROLE_NAME)?,
        namespace: namespace.clone(),
        groups: vec![GroupName::parse(GROUP)?],
        ephemeral_containers: false,
    };
    cp.apply(&oncall_role_text(&role, OutputFormat::Yaml)?)?;
    eprintln!("[sandbox] installing kubejit (deploy/) and the sandbox's AccessPolicies");
    cp.apply(&kubejit_kube::deploy::install_yaml())?;
    cp.admin(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/accesspolicies.kubejit.dev",
    ])?;
    cp.apply(&sandbox_policy(namespace.as_str()))?;
    cp.apply(&certificate_policy())?;
    cp.apply(&request_policy(namespace.as_str()))?;
    cp.apply(&requester_binding())?;
    cp.apply(&checkout_requester_binding(namespace.as_str()))?;
    Ok(cp)
}

fn announce(
    cp: &ControlPlane,
    args: &SandboxArgs,
    gateway: Option<&crate::commands::sandbox_gateway::SandboxGateway>,
) -> anyhow::Result<()> {
    let kubectl = cp.binaries().kubectl();
    let oncall = cp.kubeconfig("alice")?;
    let outsider = cp.kubeconfig("mallory")?;
    match args.output {
        OutputFormat::Json => {
            let doc = json!({
                "server": cp.server(),
                "namespace": args.namespace,
                "kubectl": kubectl,
                "kubeconfigs": {
                    "admin": cp.admin_kubeconfig(), "alice": oncall, "bob": cp.kubeconfig("bob")?,
                    "carol": cp.kubeconfig("carol")?, "irene": cp.kubeconfig("irene")?, "oscar": cp.kubeconfig("oscar")?,
                    "mallory": outsider,
                },
                "oncallGroup": GROUP,
                "certificateGroup": CERT_GROUP,
                "auditLog": cp.audit_log(),
                "auditTrail": { "name": TRAIL, "file": cp.dir().join(TRAIL_FILE),
                                "publicKey": cp.dir().join(PUBLIC_KEY_FILE) },
                "dir": cp.dir(),
            });
            println!("{doc}");
        }
        OutputFormat::Text => println!(
            "{}",
            walkthrough(cp, &args.namespace, &kubectl, &oncall, &outsider, gateway)
        ),
        // The CLI offers only SANDBOX_FORMATS.
        other @ (OutputFormat::Table
        | OutputFormat::Wide
        | OutputFormat::Yaml
        | OutputFormat::Markdown
        | OutputFormat::Sarif) => return Err(OutputError::Unsupported(other).into()),
    }
    Ok(())
}

fn walkthrough(
    cp: &ControlPlane,
    ns: &NamespaceName,
    kubectl: &Path,
    oncall: &Path,
    outsider: &Path,
    gateway: Option<&crate::commands::sandbox_gateway::SandboxGateway>,
) -> String {
    let bin = kubectl.parent().map(shown).unwrap_or_default();
    let kubejit = std::env::current_exe()
        .map(|p| shown(&p))
        .unwrap_or_else(|_| "kubejit".to_owned());
    // Built line by line: a `\` continuation in a Rust string would eat the commands' indentation.
    // Every indented line is a command that tests/sandbox.rs runs as printed; its `# comment` says
    // what it must do (`# Forbidden…`, `# … then Forbidden`, `# shows TEXT`).
    let mut lines = vec![
        String::new(),
        format!("kubejit sandbox is running (API server {}).", cp.server()),
        String::new(),
        format!("alice is an on-call engineer in group {GROUP}; the Role oncall-debug in namespace {ns} is bound to it."),
        "Try, in another terminal (the upstream kubectl 1.37 built for the sandbox comes first on PATH):".to_owned(),
        String::new(),
        format!("  export PATH={bin}:$PATH KUBECONFIG={}", shown(oncall)),
        "  kubectl auth whoami".to_owned(),
        format!("  kubectl get pods -n {ns}"),
        format!("  kubectl logs -n {ns} checkout-api"),
        format!("  kubectl exec -n {ns} checkout-api -- echo hi"),
        format!("  kubectl port-forward -n {ns} pod/checkout-api 18080:8080 &"),
        "  curl -s --retry 5 --retry-connrefused http://127.0.0.1:18080/ping   # the pod echoes the request (no curl? apt-get install curl)".to_owned(),
        "  kill %1                                                         # stops the port-forward".to_owned(),
        format!("  kubectl delete pod -n {ns} checkout-api                     # Forbidden: the Role does not write"),
        format!("  kubectl get secrets -n {ns}                                 # Forbidden"),
        format!("  kubectl auth can-i --list -n {ns}"),
    ];
    if let Some(gateway) = gateway {
        lines.extend(gateway.steps(ns.as_str()));
    }
    lines.extend(certificate_steps(cp, &kubejit));
    lines.extend(grant_steps(cp, ns, &kubejit, outsider));
    lines.extend(request_steps(cp, ns, &kubejit));
    lines.extend(audit_steps(cp, &kubejit));
    lines.extend([
        String::new(),
        format!(
            "The cluster admin's kubeconfig: {}",
            shown(cp.admin_kubeconfig())
        ),
        format!("The kube-apiserver audit log:   {}", shown(cp.audit_log())),
        format!(
            "kubejit's audit records:        {}",
            shown(&cp.dir().join(TRAIL_FILE))
        ),
        String::new(),
        "Press Ctrl-C to stop; everything the sandbox started and wrote is removed.".to_owned(),
    ]);
    lines.join("\n")
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn user_kubeconfig(cp: &ControlPlane, name: &str) -> String {
    cp.kubeconfig(name).map(|p| shown(&p)).unwrap_or_default()
}

/// alice's elevated identity: a kubeconfig user backed by `kubejit credential`.
fn certificate_steps(cp: &ControlPlane, kubejit: &str) -> Vec<String> {
    let cache = shown(&cp.dir().join("credentials"));
    vec![
        String::new(),
        "Short-lived certificates: alice's everyday identity may only ask. kubectl runs `kubejit credential`, which".to_owned(),
        format!("files a request for group {CERT_GROUP}; the AccessPolicy sandbox-certificates allows it, kubejit's"),
        "controller approves it and kube-controller-manager signs a certificate that lives 15 minutes:".to_owned(),
        String::new(),
        format!("  {kubejit} kubeconfig add-user --name alice-oncall --group {CERT_GROUP} --incident INC-1 --cache-dir {cache}"),
        format!("  kubectl --context alice-oncall auth whoami                     # shows {CERT_GROUP} among alice's groups"),
    ]
}

/// A grant by irene to carol's group, and mallory who gets nothing.
fn grant_steps(
    cp: &ControlPlane,
    ns: &NamespaceName,
    kubejit: &str,
    outsider: &Path,
) -> Vec<String> {
    let (irene, carol) = (user_kubeconfig(cp, "irene"), user_kubeconfig(cp, "carol"));
    vec![
        String::new(),
        "Just in time: the kubejit controller runs inside this sandbox. carol (oncall-checkout) has no access".to_owned(),
        "until irene, an incident commander, grants it: kubejit grant asks through an AccessRequest, the".to_owned(),
        "controller checks the policy and makes the binding, which deletes itself when it expires; the".to_owned(),
        "controller's trail records it:".to_owned(),
        String::new(),
        format!("  KUBECONFIG={irene} {kubejit} grant -n {ns} --role oncall-debug --group oncall-checkout --incident INC-1 --ttl 1m"),
        format!("  KUBECONFIG={carol} kubectl get pods -n {ns}   # works for a minute, then Forbidden"),
        format!("  KUBECONFIG={irene} {kubejit} grants -n {ns}"),
        String::new(),
        "mallory is in no on-call group and gets nothing:".to_owned(),
        String::new(),
        format!("  KUBECONFIG={} kubectl get pods -n {ns}   # Forbidden", shown(outsider)),
    ]
}

/// carol asks for herself, oscar approves, carol's access works and ends by itself.
fn request_steps(cp: &ControlPlane, ns: &NamespaceName, kubejit: &str) -> Vec<String> {
    let (carol, oscar) = (user_kubeconfig(cp, "carol"), user_kubeconfig(cp, "oscar"));
    let phase = |phase: &str| format!("--for=jsonpath='{{.status.phase}}'={phase}");
    vec![
        String::new(),
        "Asking and approving: carol may also ask for herself. The AccessPolicy sandbox-requests wants an approval".to_owned(),
        "from oscar (kubejit-approvers); carol cannot approve her own request. Once oscar approves, the controller".to_owned(),
        "makes the binding, and the reaper ends it when its minute is up:".to_owned(),
        String::new(),
        format!("  KUBECONFIG={carol} {kubejit} request -n {ns} --name {CAROL_REQUEST} --role oncall-debug --ttl 1m --incident INC-1 --reason \"checkout errors\""),
        format!("  KUBECONFIG={oscar} {kubejit} approve {CAROL_REQUEST} -n {ns} --comment \"matches INC-1\""),
        format!("  KUBECONFIG={carol} kubectl wait accessrequest/{CAROL_REQUEST} -n {ns} {}", phase("Active")),
        format!("  KUBECONFIG={carol} {kubejit} requests -n {ns}   # shows Active"),
        format!("  KUBECONFIG={carol} kubectl get pods -n {ns}   # works for a minute, then Forbidden"),
    ]
}

/// The trail kubejit's controller wrote during the walkthrough, verified against the cluster's anchor,
/// then joined with the kube-apiserver's log.
fn audit_steps(cp: &ControlPlane, kubejit: &str) -> Vec<String> {
    let trail = shown(&cp.dir().join(TRAIL_FILE));
    let public_key = shown(&cp.dir().join(PUBLIC_KEY_FILE));
    let admin = shown(cp.admin_kubeconfig());
    let apiserver_log = shown(cp.audit_log());
    vec![
        String::new(),
        "Audit: kubejit's controller writes a hash-chained trail; every record is sealed by a checkpoint signed"
            .to_owned(),
        "with a key the sandbox generated and anchored in the cluster (ConfigMap kubejit-system/kubejit-audit-checkpoints)."
            .to_owned(),
        "Verify it (as the admin, who may read the anchor), then ask who did what under INC-1 (the trail joined"
            .to_owned(),
        "with the kube-apiserver's audit log):".to_owned(),
        String::new(),
        format!(
            "  {kubejit} audit verify {trail} --public-key {public_key} --checkpoints from-cluster --trail {TRAIL} --kubeconfig {admin}"
        ),
        format!(
            "  {kubejit} audit report --incident INC-1 --trail {trail} --apiserver-log {apiserver_log}"
        ),
    ]
}

/// Lets incident commanders (irene) grant the on-call Role in the sandbox namespace to
/// `oncall-checkout` (carol) for up to 30 minutes under an `INC-<digits>` incident. Built from
/// core's typed spec (the CRD's mirror), so a misspelt field is a compile error, not a rejected apply.
fn sandbox_policy(namespace: &str) -> String {
    use kubejit_core::policy::{
        AccessPolicySpec, ApprovalMode, ApprovalSpec, GrantRuleSpec, IncidentSpec, RoleKind,
        RoleRefSpec, SubjectsSpec,
    };
    let groups = |group: &str| SubjectsSpec {
        users: Vec::new(),
        groups: vec![group.to_owned()],
    };
    let debug = GrantRuleSpec {
        name: "debug".to_owned(),
        roles: vec![RoleRefSpec {
            kind: RoleKind::Role,
            name: kubejit_core::role::DEFAULT_ROLE_NAME.to_owned(),
        }],
        namespaces: vec![namespace.to_owned()],
        subjects: groups(CHECKOUT_GROUP),
        max_ttl: "30m".to_owned(),
        default_ttl: None,
        incident: None,
        approval: None,
    };
    let spec = AccessPolicySpec {
        requesters: groups("kubejit-granters"),
        certificate_groups: Vec::new(),
        max_ttl: "1h".to_owned(),
        default_ttl: None,
        incident: IncidentSpec {
            pattern: Some("INC-[0-9]+".to_owned()),
            ..IncidentSpec::default()
        },
        approval: ApprovalSpec {
            mode: ApprovalMode::Auto,
            approvers: None,
            approvals: None,
            approval_timeout: None,
        },
        keys: None,
        grants: vec![debug],
        notify: None,
    };
    json!({
        "apiVersion": "kubejit.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": { "name": "sandbox" },
        "spec": spec,
    })
    .to_string()
}

/// Lets carol ask for the on-call Role in the sandbox namespace, for herself, for up to 30 minutes
/// under an `INC-<digits>` incident, once oscar approves.
fn request_policy(namespace: &str) -> String {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": { "name": "sandbox-requests" },
        "spec": {
            "requesters": { "groups": [CHECKOUT_GROUP] },
            "maxTTL": "1h",
            "incident": { "pattern": "INC-[0-9]+" },
            // Certificates: this policy allows none (it lists no certificateGroups).
            "approval": { "mode": "Auto" },
            "grants": [{
                "name": "self",
                "roles": [{ "kind": "Role", "name": kubejit_core::role::DEFAULT_ROLE_NAME }],
                "namespaces": [namespace],
                "subjects": { "users": ["carol"] },
                "maxTTL": "30m",
                "approval": { "mode": "Manual", "approvers": { "users": ["oscar"] } },
            }],
        },
    })
    .to_string()
}

/// Lets alice's group ask for certificates carrying [`CERT_GROUP`] (and nothing else) for up to an
/// hour under an `INC-<digits>` incident; the controller approves them.
fn certificate_policy() -> String {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": { "name": "sandbox-certificates" },
        "spec": {
            "requesters": { "groups": [GROUP] },
            "certificateGroups": [CERT_GROUP],
            "maxTTL": "1h",
            "incident": { "pattern": "^INC-[0-9]+$" },
            "approval": { "mode": "Auto" },
        },
    })
    .to_string()
}

/// The shipped `kubejit-requester` ClusterRole (deploy/rbac/requester.yaml, which binds it to
/// `kubejit-requesters`) also bound to alice's group, as an admin adapts it to their identity provider.
fn requester_binding() -> String {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": { "name": "kubejit-requesters-sandbox" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubejit-requester" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP }],
    })
    .to_string()
}

/// carol's group may ask (`kubejit-requester`) in the sandbox namespace only. oscar approves through
/// the shipped `kubejit-approver` binding of his group, kubejit-approvers (deploy/rbac/approver.yaml).
fn checkout_requester_binding(namespace: &str) -> String {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": "kubejit-requesters-checkout", "namespace": namespace },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubejit-requester" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CHECKOUT_GROUP }],
    })
    .to_string()
}

/// The audit flags the sandbox's controller runs with, as production's: a chained trail in the
/// sandbox dir named [`TRAIL`], anchored in the cluster, signed by a key generated here (its public
/// half beside it for `kubejit audit verify`). Every record is sealed at once: a walkthrough is short.
fn audit_options(dir: &Path) -> anyhow::Result<kubejit_kube::AuditOptions> {
    let key = dir.join(SIGNING_KEY_FILE);
    let public_key = crate::commands::audit::write_signing_key(&key)?;
    std::fs::write(dir.join(PUBLIC_KEY_FILE), public_key)
        .context("failed to write the sandbox's audit public key")?;
    Ok(kubejit_kube::AuditOptions {
        file: Some(kubejit_kube::TrailOptions {
            log: dir.join(TRAIL_FILE),
            signing_key: key,
            name: Some(TRAIL.parse().context("invalid sandbox trail name")?),
            checkpoints: None,
            chain: kubejit_audit::ChainConfig {
                every_records: 1,
                every: std::time::Duration::from_secs(60),
            },
        }),
        spool: None,
    })
}

/// kubejit's controllers (approver, reaper and AccessRequests) in this process, as the controller ServiceAccount,
/// writing the sandbox's audit trail; the guard seals it on shutdown.
async fn start_controller(
    cp: &ControlPlane,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<(
    tokio::task::JoinHandle<anyhow::Result<()>>,
    kubejit_kube::AuditGuard,
    std::sync::Arc<kubejit_audit::Auditor>,
)> {
    let options = kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.kubeconfig(kubejit_testenv::CONTROLLER_SA)?),
        context: None,
    };
    let client = kubejit_kube::build_client(&options).await?;
    let options = audit_options(cp.dir())?;
    let (audit, guard) = kubejit_kube::open_audit(&options, client.clone())
        .await
        .context("failed to open the sandbox's audit trail")?;
    let clock: std::sync::Arc<dyn kubejit_core::Clock> =
        std::sync::Arc::new(kubejit_core::SystemClock);
    let config = kubejit_controller::Config {
        lease_namespace: "kubejit-system".to_owned(),
        lease_name: "kubejit-controller".to_owned(),
        holder_identity: "sandbox".to_owned(),
        lease_duration_secs: 15,
        lease_grace_secs: 5,
        http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        controllers: kubejit_controller::Controllers {
            approver: true,
            reaper: true,
            requests: true,
        },
        keys: kubejit_core::KeyTrust::none(),
        reaper_concurrency: kubejit_controller::reaper::DEFAULT_CONCURRENCY,
    };
    let auditor = std::sync::Arc::clone(&audit);
    let task = tokio::spawn(async move {
        kubejit_controller::run(client, config, audit, clock, shutdown)
            .await
            .context("kubejit controller failed")
    });
    Ok((task, guard, auditor))
}
