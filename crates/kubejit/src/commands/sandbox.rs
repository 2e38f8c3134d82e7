//! `kubejit sandbox`: a real local control plane with an on-call Role, until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use kubejit_core::{GroupName, NamespaceName, ObjectName, OncallRole};
use kubejit_kube::{OutputError, OutputFormat};
use kubejit_testenv::{ControlPlane, Options, PodSpec, Progress, ensure_built};
use serde_json::json;

use crate::cli::SandboxArgs;
use crate::commands::manifests::oncall_role_text;

const GROUP: &str = "oncall-payments";
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
    let controller = start_controller(&cp, shutdown.clone()).await?;
    announce(&cp, &args)?;
    crate::commands::wait_for_shutdown().await;
    eprintln!("kubejit sandbox: stopping, removing every process and file it created");
    shutdown.cancel();
    if let Ok(Err(error)) = controller.await {
        eprintln!("kubejit sandbox: the controller stopped with an error: {error:#}");
    }
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
    eprintln!("[sandbox] installing kubejit (deploy/) and a sandbox AccessPolicy");
    cp.apply(&kubejit_kube::deploy::install_yaml())?;
    cp.admin(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/accesspolicies.kubejit.dev",
    ])?;
    cp.apply(&sandbox_policy(namespace.as_str()))?;
    Ok(cp)
}

fn announce(cp: &ControlPlane, args: &SandboxArgs) -> anyhow::Result<()> {
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
                    "carol": cp.kubeconfig("carol")?, "irene": cp.kubeconfig("irene")?, "mallory": outsider,
                },
                "oncallGroup": GROUP,
                "auditLog": cp.audit_log(),
                "dir": cp.dir(),
            });
            println!("{doc}");
        }
        OutputFormat::Text => println!(
            "{}",
            walkthrough(cp, &args.namespace, &kubectl, &oncall, &outsider)
        ),
        // The CLI offers only SANDBOX_FORMATS.
        other @ (OutputFormat::Table
        | OutputFormat::Wide
        | OutputFormat::Yaml
        | OutputFormat::Markdown) => return Err(OutputError::Unsupported(other).into()),
    }
    Ok(())
}

fn walkthrough(
    cp: &ControlPlane,
    ns: &NamespaceName,
    kubectl: &std::path::Path,
    oncall: &std::path::Path,
    outsider: &std::path::Path,
) -> String {
    let path = |p: &std::path::Path| p.display().to_string();
    let user = |name: &str| cp.kubeconfig(name).map(|p| path(&p)).unwrap_or_default();
    let bin = kubectl.parent().map(path).unwrap_or_default();
    let kubejit = std::env::current_exe()
        .map(|p| path(&p))
        .unwrap_or_else(|_| "kubejit".to_owned());
    // Built line by line: a `\` continuation in a Rust string would eat the commands' indentation.
    [
        String::new(),
        format!("kubejit sandbox is running (API server {}).", cp.server()),
        String::new(),
        format!("alice is an on-call engineer in group {GROUP}; the Role oncall-debug in namespace {ns} is bound to it."),
        "Try, in another terminal (the upstream kubectl 1.37 built for the sandbox comes first on PATH):".to_owned(),
        String::new(),
        format!("  export PATH={bin}:$PATH KUBECONFIG={}", path(oncall)),
        "  kubectl auth whoami".to_owned(),
        format!("  kubectl get pods -n {ns}"),
        format!("  kubectl logs -n {ns} checkout-api"),
        format!("  kubectl exec -n {ns} checkout-api -- echo hi"),
        format!("  kubectl port-forward -n {ns} pod/checkout-api 18080:8080 &"),
        "  curl -s http://127.0.0.1:18080/ping                             # the pod echoes the request (no curl? install it: apt-get install curl)".to_owned(),
        "  kill %1                                                         # stops the port-forward".to_owned(),
        format!("  kubectl delete pod -n {ns} checkout-api                     # Forbidden: the Role does not write"),
        format!("  kubectl get secrets -n {ns}                                 # Forbidden"),
        format!("  kubectl auth can-i --list -n {ns}"),
        String::new(),
        "Just in time: the kubejit controller runs inside this sandbox. carol (oncall-checkout) has no access".to_owned(),
        "until irene, an incident commander, grants it; the grant deletes itself when it expires:".to_owned(),
        String::new(),
        format!("  KUBECONFIG={} {kubejit} grant -n {ns} --role oncall-debug --group oncall-checkout --incident INC-1 --ttl 2m", user("irene")),
        format!("  KUBECONFIG={} kubectl get pods -n {ns}   # works for two minutes, then Forbidden", user("carol")),
        format!("  KUBECONFIG={} {kubejit} grants -n {ns}", user("irene")),
        String::new(),
        format!("mallory is in no on-call group and gets nothing:  KUBECONFIG={} kubectl get pods -n {ns}", path(outsider)),
        format!("The cluster admin's kubeconfig: {}", path(cp.admin_kubeconfig())),
        format!("The kube-apiserver audit log:   {}", path(cp.audit_log())),
        format!("kubejit's audit records:        {}", path(&cp.dir().join("kubejit-audit.jsonl"))),
        String::new(),
        "Press Ctrl-C to stop; everything the sandbox started and wrote is removed.".to_owned(),
    ]
    .join("\n")
}

/// Lets incident commanders (irene) grant the on-call Role in the sandbox namespace to
/// `oncall-checkout` (carol) for up to 30 minutes under an `INC-<digits>` incident.
fn sandbox_policy(namespace: &str) -> String {
    json!({
        "apiVersion": "kubejit.dev/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": { "name": "sandbox" },
        "spec": {
            "requesters": { "groups": ["kubejit-granters"] },
            "maxTTL": "1h",
            "incident": { "pattern": "INC-[0-9]+" },
            "approval": { "mode": "Auto" },
            "grants": [{
                "name": "debug",
                "roles": [{ "kind": "Role", "name": kubejit_core::role::DEFAULT_ROLE_NAME }],
                "namespaces": [namespace],
                "subjects": { "groups": ["oncall-checkout"] },
                "maxTTL": "30m",
            }],
        },
    })
    .to_string()
}

/// kubejit's controllers (approver and reaper) in this process, as the controller ServiceAccount;
/// audit records go to a file in the sandbox's directory.
async fn start_controller(
    cp: &ControlPlane,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let options = kubejit_kube::ClientOptions {
        kubeconfig: Some(cp.kubeconfig(kubejit_testenv::CONTROLLER_SA)?),
        context: None,
    };
    let client = kubejit_kube::build_client(&options).await?;
    let trail_path = cp.dir().join("kubejit-audit.jsonl");
    let trail =
        std::fs::File::create(&trail_path).context("failed to create the sandbox audit file")?;
    let sink = std::sync::Arc::new(kubejit_audit::WriterSink::new(trail, "sandbox audit file"));
    let clock: std::sync::Arc<dyn kubejit_audit::Clock> =
        std::sync::Arc::new(kubejit_audit::SystemClock);
    let spool = kubejit_audit::Spool::beside(&trail_path);
    let audit = std::sync::Arc::new(kubejit_audit::Auditor::new(
        sink,
        Some(spool),
        std::sync::Arc::clone(&clock),
    ));
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
        },
    };
    Ok(tokio::spawn(async move {
        kubejit_controller::run(client, config, audit, clock, shutdown)
            .await
            .context("kubejit controller failed")
    }))
}
