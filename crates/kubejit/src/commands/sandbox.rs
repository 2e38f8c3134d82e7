//! `kubejit sandbox`: a real local control plane with an on-call Role, until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use kubejit_core::{GroupName, NamespaceName, ObjectName, OncallRole};
use kubejit_testenv::{ControlPlane, Options, PodSpec, Progress, ensure_built};
use serde_json::json;

use crate::cli::{Output, SandboxArgs, SandboxOutput};
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
    announce(&cp, &args)?;
    crate::commands::wait_for_shutdown().await;
    eprintln!("kubejit sandbox: stopping, removing every process and file it created");
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
    cp.apply(&oncall_role_text(&role, Output::Yaml)?)?;
    Ok(cp)
}

fn announce(cp: &ControlPlane, args: &SandboxArgs) -> anyhow::Result<()> {
    let kubectl = cp.binaries().kubectl();
    let oncall = cp.kubeconfig("alice")?;
    let outsider = cp.kubeconfig("mallory")?;
    match args.output {
        SandboxOutput::Json => {
            let doc = json!({
                "server": cp.server(),
                "namespace": args.namespace,
                "kubectl": kubectl,
                "kubeconfigs": { "admin": cp.admin_kubeconfig(), "alice": oncall, "bob": cp.kubeconfig("bob")?, "mallory": outsider },
                "oncallGroup": GROUP,
                "auditLog": cp.audit_log(),
                "dir": cp.dir(),
            });
            println!("{doc}");
        }
        SandboxOutput::Text => println!(
            "{}",
            walkthrough(cp, &args.namespace, &kubectl, &oncall, &outsider)
        ),
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
    let k = kubectl.display();
    format!(
        "\nkubejit sandbox is running (API server {server}).\n\
\n\
alice is an on-call engineer in group {GROUP}; the Role oncall-debug in namespace {ns} is bound to it.\n\
Try, in another terminal:\n\
\n\
  export KUBECONFIG={oncall}\n\
  {k} auth whoami\n\
  {k} get pods -n {ns}\n\
  {k} logs -n {ns} checkout-api\n\
  {k} exec -n {ns} checkout-api -- echo hi\n\
  {k} port-forward -n {ns} pod/checkout-api 18080:8080   # then: echo ping | nc -q1 127.0.0.1 18080\n\
  {k} delete pod -n {ns} checkout-api                     # Forbidden: the Role does not write\n\
  {k} get secrets -n {ns}                                 # Forbidden\n\
  {k} auth can-i --list -n {ns}\n\
\n\
mallory is in no on-call group and gets nothing:  KUBECONFIG={outsider} {k} get pods -n {ns}\n\
The cluster admin's kubeconfig: {admin}\n\
The kube-apiserver audit log:   {audit}\n\
\n\
Press Ctrl-C to stop; everything the sandbox started and wrote is removed.",
        server = cp.server(),
        oncall = oncall.display(),
        outsider = outsider.display(),
        admin = cp.admin_kubeconfig().display(),
        audit = cp.audit_log().display(),
    )
}
