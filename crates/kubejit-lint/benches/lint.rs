//! Offline `kubejit lint` at scale: 10,000 roles and 20,000 bindings (documented in
//! docs/benchmarks.md, "Lint"). Each run is a fresh child process that reads the generated
//! manifests, resolves aggregation, lints and renders JSON, and reports its wall time and peak RSS
//! (VmHWM), so one run's memory does not hide in another's.
//!
//! With KUBEJIT_BENCH_LINT_LIVE=1 the same objects are also created in a real control plane
//! (kubejit-testenv) and each live run lists them through the apiserver before linting.
//!
//! `cargo bench -p kubejit-lint --bench lint`; KUBEJIT_BENCH_LINT_RUNS sets the run count (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use kubejit_lint::{Inventory, Settings, Suppressions};

const ROLES: usize = 10_000;
const BINDINGS: usize = 20_000;
const NAMESPACES: usize = 200;
const CHILD: &str = "KUBEJIT_BENCH_LINT_FILE";

/// Roles of several shapes (reads, debug, wildcard, secrets, aggregated ClusterRoles) and bindings
/// to people, groups and ServiceAccounts, a third of them time-bound grants.
fn manifests() -> String {
    let mut out = String::new();
    let rbac = "apiVersion: rbac.authorization.k8s.io/v1";
    let shapes = [
        "- {apiGroups: [\"\"], resources: [pods, pods/log], verbs: [get, list, watch]}",
        "- {apiGroups: [\"\"], resources: [pods/exec, pods/portforward], verbs: [get, create]}\n- {apiGroups: [\"\"], resources: [pods], verbs: [get, list]}",
        "- {apiGroups: [apps], resources: [\"*\"], verbs: [get, list, watch, update]}",
        "- {apiGroups: [\"\"], resources: [secrets, configmaps], verbs: [get, list]}",
        "- {apiGroups: [batch], resources: [jobs, cronjobs], verbs: [create, delete]}\n- {apiGroups: [\"\"], resources: [events], verbs: [get, list]}",
    ];
    for i in 0..ROLES {
        let shape = shapes[i % shapes.len()];
        if i % 10 == 0 {
            let agg = if i % 1000 == 0 {
                format!(
                    "aggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{agg: a{}}}}}]}}\n",
                    i / 1000
                )
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "---\n{rbac}\nkind: ClusterRole\nmetadata: {{name: cr-{i}, labels: {{agg: a{}}}}}\n{agg}rules:\n{shape}\n",
                (i / 10) % 10
            );
        } else {
            let _ = write!(
                out,
                "---\n{rbac}\nkind: Role\nmetadata: {{name: role-{i}, namespace: ns-{}}}\nrules:\n{shape}\n",
                i % NAMESPACES
            );
        }
    }
    for i in 0..BINDINGS {
        let subject = match i % 3 {
            0 => format!(
                "{{kind: User, apiGroup: rbac.authorization.k8s.io, name: user-{}}}",
                i % 500
            ),
            1 => format!(
                "{{kind: Group, apiGroup: rbac.authorization.k8s.io, name: team-{}}}",
                i % 50
            ),
            _ => format!(
                "{{kind: ServiceAccount, name: sa-{}, namespace: ns-{}}}",
                i % 100,
                i % NAMESPACES
            ),
        };
        let expiry = if i % 3 == 0 {
            "\n  annotations: {debugging.kubernetes.io/expires-at: \"2999-01-01T00:00:00Z\"}"
        } else {
            ""
        };
        if i % 20 == 0 {
            let _ = write!(
                out,
                "---\n{rbac}\nkind: ClusterRoleBinding\nmetadata:\n  name: crb-{i}{expiry}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr-{}}}\nsubjects:\n- {subject}\n",
                (i * 7 % ROLES) / 10 * 10
            );
        } else {
            // A Role of the binding's namespace: role-N lives in ns-(N % NAMESPACES).
            let ns = i % NAMESPACES;
            let mut role = (i * 13 % (ROLES / NAMESPACES)) * NAMESPACES + ns;
            if role.is_multiple_of(10) {
                role += NAMESPACES; // keep to Roles, which never fall on multiples of 10 here
            }
            let role = role % ROLES;
            let _ = write!(
                out,
                "---\n{rbac}\nkind: RoleBinding\nmetadata:\n  name: rb-{i}\n  namespace: ns-{ns}{expiry}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-{role}}}\nsubjects:\n- {subject}\n"
            );
        }
    }
    out
}

/// One run, in this (child) process: prints "seconds peak_kib findings". `live:KUBECONFIG` lists
/// the cluster; anything else is a manifest path.
fn child(path: &str) {
    if let Some(json) = path.strip_prefix("ref:") {
        return reference(json);
    }
    let started = Instant::now();
    let inv = match path.strip_prefix("live:") {
        Some(kubeconfig) => runtime().block_on(async {
            let opts = kubejit_kube::ClientOptions {
                kubeconfig: Some(kubeconfig.into()),
                context: None,
            };
            let client = kubejit_kube::build_client(&opts).await.unwrap();
            kubejit_lint::live::read(&client).await.unwrap()
        }),
        None => {
            let mut inv = Inventory::default();
            let errors = kubejit_lint::load::load_path(path.as_ref(), &mut inv);
            assert!(errors.is_empty(), "{errors:?}");
            inv.aggregate();
            inv
        }
    };
    let live = path.starts_with("live:");
    let read = started.elapsed();
    let now = time::OffsetDateTime::now_utc();
    let outcome = kubejit_lint::run(&inv, &Settings::default(), now, Suppressions::default());
    let linted = started.elapsed();
    let mut json = Vec::new();
    kubejit_lint::report::json(&outcome, &mut json).unwrap();
    let took = started.elapsed();
    eprintln!(
        "read {:.3} s, lint {:.3} s, json {:.3} s",
        read.as_secs_f64(),
        (linted - read).as_secs_f64(),
        (took - linted).as_secs_f64()
    );
    // Live, the cluster's own roles and bindings come on top.
    let (roles, bindings) = (
        inv.roles.len() + inv.cluster_roles.len(),
        inv.role_bindings.len() + inv.cluster_role_bindings.len(),
    );
    if live {
        assert!(roles >= ROLES && bindings >= BINDINGS, "{roles} {bindings}");
    } else {
        assert_eq!((roles, bindings), (ROLES, BINDINGS));
    }
    let peak = peak_kib();
    println!(
        "{} {peak} {} {}",
        took.as_secs_f64(),
        outcome.findings.len(),
        json.len()
    );
}

/// The reference in the same process shape: read the same objects as one JSON array and parse
/// them with serde_json into values (no YAML, no typed structs, no lint).
fn reference(path: &str) {
    let started = Instant::now();
    let bytes = std::fs::read(path).unwrap();
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
    let took = started.elapsed();
    assert_eq!(docs.len(), ROLES + BINDINGS);
    eprintln!("read + serde_json parse of the same objects as JSON");
    println!("{} {} 0 0", took.as_secs_f64(), peak_kib());
}

fn peak_kib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        .unwrap_or_default()
}

/// The generated objects as one JSON array, for [`reference`].
fn as_json(text: &str) -> String {
    let mut inv = Inventory::default();
    assert!(kubejit_lint::load::load_text(text, "bench", &mut inv).is_empty());
    let mut docs = Vec::new();
    docs.extend(
        inv.roles
            .iter()
            .map(|r| serde_json::to_value(&r.object).unwrap()),
    );
    docs.extend(
        inv.cluster_roles
            .iter()
            .map(|r| serde_json::to_value(&r.object).unwrap()),
    );
    docs.extend(
        inv.role_bindings
            .iter()
            .map(|r| serde_json::to_value(&r.object).unwrap()),
    );
    docs.extend(
        inv.cluster_role_bindings
            .iter()
            .map(|r| serde_json::to_value(&r.object).unwrap()),
    );
    serde_json::Value::Array(docs).to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Creates the generated objects in the cluster (32 requests in flight).
fn populate(cp: &kubejit_testenv::ControlPlane, text: &str) {
    use futures::StreamExt as _;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};
    let mut inv = Inventory::default();
    assert!(kubejit_lint::load::load_text(text, "bench", &mut inv).is_empty());
    runtime().block_on(async {
        let opts = kubejit_kube::ClientOptions {
            kubeconfig: Some(cp.admin_kubeconfig().to_owned()),
            context: None,
        };
        let client = kubejit_kube::build_client(&opts).await.unwrap();
        let pp = &PostParams::default();
        for i in 0..NAMESPACES {
            let ns: Namespace = serde_json::from_value(
                serde_json::json!({"metadata": {"name": format!("ns-{i}")}}),
            )
            .unwrap();
            Api::<Namespace>::all(client.clone())
                .create(pp, &ns)
                .await
                .unwrap();
        }
        let mut jobs: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
        for r in &inv.roles {
            let api = Api::namespaced(
                client.clone(),
                r.object.metadata.namespace.as_deref().unwrap(),
            );
            jobs.push(Box::pin(async move {
                api.create(pp, &r.object).await.map(|_| ()).unwrap()
            }));
        }
        for r in &inv.cluster_roles {
            let api = Api::all(client.clone());
            jobs.push(Box::pin(async move {
                api.create(pp, &r.object).await.map(|_| ()).unwrap()
            }));
        }
        for b in &inv.role_bindings {
            let api = Api::namespaced(
                client.clone(),
                b.object.metadata.namespace.as_deref().unwrap(),
            );
            jobs.push(Box::pin(async move {
                api.create(pp, &b.object).await.map(|_| ()).unwrap()
            }));
        }
        for b in &inv.cluster_role_bindings {
            let api = Api::all(client.clone());
            jobs.push(Box::pin(async move {
                api.create(pp, &b.object).await.map(|_| ()).unwrap()
            }));
        }
        futures::stream::iter(jobs)
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
    });
}

/// Runs `arg` in `runs` child processes and prints each run and the medians.
fn measure(label: &str, arg: &str, runs: usize) -> f64 {
    let mut seconds = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..runs {
        let out = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, arg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = line.split_whitespace();
        let s: f64 = words.next().unwrap().parse().unwrap();
        let kib: u64 = words.next().unwrap().parse().unwrap();
        let findings = words.next().unwrap();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "  run: {:.3} s ({}), peak RSS {} MiB, {findings} findings, load {}",
            s,
            String::from_utf8_lossy(&out.stderr).trim(),
            kib >> 10,
            load.split_whitespace().next().unwrap_or("?")
        );
        seconds.push(s);
        peaks.push(kib);
    }
    seconds.sort_by(f64::total_cmp);
    peaks.sort_unstable();
    println!(
        "{label}  runs {runs}  median {:.3} s  min {:.3} s  peak RSS median {} MiB",
        seconds[seconds.len() / 2],
        seconds[0],
        peaks[peaks.len() / 2] >> 10
    );
    seconds[seconds.len() / 2]
}

fn main() {
    if let Ok(path) = std::env::var(CHILD) {
        return child(&path);
    }
    let runs: usize = std::env::var("KUBEJIT_BENCH_LINT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("kubejit-lint-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rbac.yaml");
    let text = manifests();
    std::fs::write(&file, &text).unwrap();
    println!(
        "lint offline: {ROLES} roles, {BINDINGS} bindings, {} MiB of YAML",
        text.len() >> 20
    );
    let json = dir.join("rbac.json");
    std::fs::write(&json, as_json(&text)).unwrap();
    let lint = measure(
        "lint offline (load + aggregate + lint + JSON)",
        file.to_str().unwrap(),
        runs,
    );
    let reference = measure(
        "reference (read + serde_json parse, same objects as JSON)",
        &format!("ref:{}", json.display()),
        runs,
    );
    println!("lint offline / reference: {:.1}x", lint / reference);
    if std::env::var("KUBEJIT_BENCH_LINT_LIVE").is_ok_and(|v| v == "1") {
        let cp = kubejit_testenv::shared();
        let started = Instant::now();
        populate(cp, &text);
        println!(
            "created {ROLES} roles and {BINDINGS} bindings in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let arg = format!("live:{}", cp.admin_kubeconfig().display());
        let _ = measure("lint live (list + lint + JSON)", &arg, runs);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
