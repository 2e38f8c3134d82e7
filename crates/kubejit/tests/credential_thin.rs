//! The thin `kubejit-credential` reads its command line and `KUBEJIT_*` variables exactly as
//! `kubejit credential` does: over argv/env oddities (values attached or split, `--group=a,b`,
//! repeated flags, variables against flags, unknown flags, `--`, invalid variables, help) both pick
//! the same cache entry or both refuse, and stdout never holds anything but one ExecCredential.
//! No control plane: the cache is seeded with a distinct fake entry for every key the cases can
//! name, so the printed certificate says which entry was chosen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubejit_credential::{Cache, CacheKey, CachedCredential, Validity, now_unix};
use kubejit_testenv::BoundedOutput;
use proptest::prelude::*;
use secrecy::SecretString;

const SERVER: &str = "https://127.0.0.1:6443";
const CONTEXTS: [&str; 3] = ["", "alice", "bob"];
const GROUPS: [&str; 3] = ["a", "b", "c"];
const INCIDENTS: [&str; 3] = ["", "INC-1", "INC-2"];

/// A scratch home with two seeded caches (`--cache-dir` and the XDG default), a kubeconfig path
/// that does not exist (a miss then fails fast, before any network), and a copy of the thin binary
/// alone in a directory with no kubejit, so it cannot hand over and must answer or say so.
struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let world = Self { tmp };
        for dir in [world.cache_dir(), world.xdg_cache_dir()] {
            seed(&dir, &world.kubeconfig());
        }
        std::fs::create_dir_all(world.alone().parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_kubejit-credential"), world.alone()).unwrap();
        world
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn cache_dir(&self) -> PathBuf {
        self.path("cache")
    }

    fn xdg_cache_dir(&self) -> PathBuf {
        self.path("xdg/kubejit/credentials")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.path("kubeconfig")
    }

    fn alone(&self) -> PathBuf {
        self.path("alone/kubejit-credential")
    }
}

/// One fresh entry per (context, group subset, incident); its "certificate" names the entry.
fn seed(dir: &Path, kubeconfig: &Path) {
    let cache = Cache::open(dir).unwrap();
    let kubeconfig = kubeconfig.to_string_lossy().into_owned();
    for context in CONTEXTS {
        for mask in 0..8u8 {
            let groups: Vec<String> = (0..3)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| GROUPS[i].to_owned())
                .collect();
            for incident in INCIDENTS {
                let key = CacheKey {
                    server: SERVER.to_owned(),
                    kubeconfig: kubeconfig.clone(),
                    context: context.to_owned(),
                    groups: groups.clone(),
                    incident: incident.to_owned(),
                };
                let now = now_unix();
                let label = format!(
                    "dir={} context={context} groups={} incident={incident}",
                    dir.display(),
                    groups.join(",")
                );
                let cred = CachedCredential {
                    username: context.to_owned(),
                    csr_name: "kubejit-test".to_owned(),
                    validity: Validity {
                        not_before: now - 60,
                        not_after: now + 3600,
                    },
                    certificate_pem: label,
                    private_key_pem: SecretString::from("KEY"),
                };
                cache.store(&key, &cred).unwrap();
            }
        }
    }
}

/// One invocation: arguments after `credential`, and the environment (nothing else inherited).
#[derive(Debug, Clone)]
struct Case {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn run(program: &Path, prefix: &[&str], case: &Case, world: &World) -> Output {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("HOME", world.path("home"))
        .env("XDG_CACHE_HOME", world.path("xdg"))
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .args(prefix)
        .args(&case.args);
    cmd.output_bounded().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The whole property for one case; returns whether `kubejit credential` succeeded.
fn check(world: &World, case: &Case) -> bool {
    let full = run(
        Path::new(env!("CARGO_BIN_EXE_kubejit")),
        &["credential"],
        case,
        world,
    );
    let beside = run(
        Path::new(env!("CARGO_BIN_EXE_kubejit-credential")),
        &[],
        case,
        world,
    );
    let alone = run(&world.alone(), &[], case, world);
    let show = |o: &Output| {
        format!(
            "exit {:?}\nstdout {}\nstderr {}",
            o.status.code(),
            text(&o.stdout),
            text(&o.stderr)
        )
    };
    // Installed beside kubejit, the thin binary is indistinguishable from `kubejit credential`.
    assert_eq!(
        (beside.status.code(), &beside.stdout, &beside.stderr),
        (full.status.code(), &full.stdout, &full.stderr),
        "{case:?}\nfull: {}\nthin: {}",
        show(&full),
        show(&beside)
    );
    // Help and version are printed by the full binary (stdout, exit 0); the thin one hands them over.
    let informational = case
        .args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| ["--help", "-h", "--version", "-V"].contains(&a.as_str()));
    if informational {
        assert!(alone.stdout.is_empty(), "{case:?}\nalone: {}", show(&alone));
        return full.status.success();
    }
    // stdout is one ExecCredential or nothing.
    if !full.stdout.is_empty() {
        assert!(full.status.success(), "{case:?}\n{}", show(&full));
        let out = text(&full.stdout);
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["kind"], "ExecCredential");
    }
    // Alone (it cannot hand over), it answers exactly the hits the full binary answers, and
    // nothing else: a different reading would show as a different entry or a hit the full refuses.
    if full.status.success() {
        assert_eq!(
            alone.stdout,
            full.stdout,
            "{case:?}\nalone: {}",
            show(&alone)
        );
        assert!(alone.stderr.is_empty(), "{}", show(&alone));
    } else {
        assert!(alone.stdout.is_empty(), "{case:?}\nalone: {}", show(&alone));
        assert_eq!(alone.status.code(), Some(1), "{}", show(&alone));
        assert!(
            text(&alone.stderr).contains("found no kubejit"),
            "{case:?}\nalone: {}",
            show(&alone)
        );
    }
    full.status.success()
}

fn case(args: &[&str], env: &[(&str, &str)], world: &World) -> Case {
    let expand = |s: &str| {
        s.replace("{KUBECONFIG}", world.kubeconfig().to_str().unwrap())
            .replace("{CACHE}", world.cache_dir().to_str().unwrap())
            .replace("{SERVER}", SERVER)
    };
    Case {
        args: args.iter().map(|a| expand(a)).collect(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), expand(v)))
            .collect(),
    }
}

fn exec_info(server: Option<&str>) -> String {
    let mut spec = serde_json::json!({"interactive": false});
    if let Some(server) = server {
        spec["cluster"] = serde_json::json!({ "server": server });
    }
    serde_json::json!({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": spec})
        .to_string()
}

/// Arguments, variables, and whether `kubejit credential` answers from the cache.
type Row = (Vec<&'static str>, Vec<(&'static str, &'static str)>, bool);

#[test]
fn argv_and_env_oddities_pick_the_same_entry_or_the_same_refusal() {
    let world = World::new();
    let info = exec_info(Some(SERVER));
    let base = ["--kubeconfig", "{KUBECONFIG}", "--cache-dir", "{CACHE}"];
    let with_base = |rest: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(rest);
        v
    };
    let cases: Vec<Row> = vec![
        // Plain hits: groups in any order and form name the same entry.
        (
            with_base(&["--context", "alice", "-g", "a", "--group", "b"]),
            vec![],
            true,
        ),
        (with_base(&["--context=alice", "--group=b,a"]), vec![], true),
        (
            with_base(&["--context", "alice", "-gb", "-g", "a", "-ga"]),
            vec![],
            true,
        ),
        (
            with_base(&["--context", "alice"]),
            vec![("KUBEJIT_GROUP", "a,b")],
            true,
        ),
        // A flag beats its variable.
        (
            with_base(&["--context", "bob", "--group", "c"]),
            vec![("KUBEJIT_GROUP", "a,b"), ("KUBEJIT_CONTEXT", "alice")],
            true,
        ),
        (
            with_base(&["--incident", "INC-1"]),
            vec![("KUBEJIT_INCIDENT", "INC-2")],
            true,
        ),
        (
            with_base(&[]),
            vec![("KUBEJIT_INCIDENT", "INC-2"), ("KUBEJIT_CONTEXT", "bob")],
            true,
        ),
        // Variables alone, the XDG default cache and the KUBECONFIG variable.
        (
            vec!["--context", "alice"],
            vec![("KUBECONFIG", "{KUBECONFIG}")],
            true,
        ),
        (
            vec![],
            vec![
                ("KUBEJIT_KUBECONFIG", "{KUBECONFIG}"),
                ("KUBEJIT_CACHE_DIR", "{CACHE}"),
                ("KUBEJIT_GROUP", "c"),
            ],
            true,
        ),
        // Refusals: a repeated single-valued flag, unknown flags, a positional after `--`,
        // `system:` groups, an empty group, a TTL under the floor, invalid variables,
        // --attestation without --key, a malformed PKCS#11 URI, a malformed incident.
        (
            with_base(&["--incident", "INC-1", "--incident", "INC-2"]),
            vec![],
            false,
        ),
        (
            with_base(&["--context", "alice", "--context", "bob"]),
            vec![],
            false,
        ),
        (with_base(&["--bogus"]), vec![], false),
        (with_base(&["--", "--group", "a"]), vec![], false),
        (with_base(&["--group", "system:masters"]), vec![], false),
        (with_base(&["--group", "a,,b"]), vec![], false),
        (with_base(&["--ttl", "5m"]), vec![], false),
        (with_base(&[]), vec![("KUBEJIT_TTL", "soon")], false),
        (with_base(&[]), vec![("KUBEJIT_TIMEOUT", "-1")], false),
        (with_base(&[]), vec![("KUBEJIT_VERBOSE", "lots")], false),
        (with_base(&["--attestation", "/nonexistent"]), vec![], false),
        (
            with_base(&["--key", "pkcs11:token=x;pin-value=1234"]),
            vec![],
            false,
        ),
        (with_base(&["--incident", "not an incident"]), vec![], false),
        // Accepted: a bare `--`, -v and KUBEJIT_VERBOSE, valid TTL, timeout and reason change no entry.
        (with_base(&["--"]), vec![], true),
        (
            with_base(&["-vv", "--context", "alice"]),
            vec![("KUBEJIT_VERBOSE", "1")],
            true,
        ),
        (
            with_base(&["--ttl", "30m", "--timeout", "5s", "--reason", "x"]),
            vec![],
            true,
        ),
        // Help and version are the full binary's to print (exit 0).
        (with_base(&["--help"]), vec![], true),
        (with_base(&["--version"]), vec![], true),
    ];
    for (args, mut env, hit) in cases {
        env.push(("KUBERNETES_EXEC_INFO", &info));
        let case = case(&args, &env, &world);
        assert_eq!(check(&world, &case), hit, "{case:?}");
    }
}

#[test]
fn exec_info_without_the_cluster_or_unreadable_is_handed_over() {
    let world = World::new();
    let args = ["--kubeconfig", "{KUBECONFIG}", "--cache-dir", "{CACHE}"];
    let with_slash = exec_info(Some("https://127.0.0.1:6443/"));
    let no_cluster = exec_info(None);
    let beta = r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#;
    for info in [with_slash.as_str(), no_cluster.as_str(), beta, "{", ""] {
        check(
            &world,
            &case(&args, &[("KUBERNETES_EXEC_INFO", info)], &world),
        );
    }
    // No KUBERNETES_EXEC_INFO at all (run by hand): the server would come from the kubeconfig.
    assert!(!check(&world, &case(&args, &[], &world)));
}

#[test]
fn an_open_cache_directory_is_refused_by_both() {
    let world = World::new();
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let info = exec_info(Some(SERVER));
    let args = ["--kubeconfig", "{KUBECONFIG}", "--cache-dir", "{CACHE}"];
    check(
        &world,
        &case(&args, &[("KUBERNETES_EXEC_INFO", &info)], &world),
    );
}

/// One piece of a generated invocation: a flag (in one of its spellings) or a variable.
fn piece() -> impl Strategy<Value = (Vec<String>, Option<(String, String)>)> {
    let group = prop::sample::select(vec!["a", "b", "c", "a,b", "b,c,a", "", "system:x", "A"]);
    let context = prop::sample::select(vec!["alice", "bob", "", "alice "]);
    let incident = prop::sample::select(vec!["INC-1", "INC-2", "", "bad one"]);
    let flag = |long: &'static str, value: &'static str, form: u8| -> Vec<String> {
        match form {
            0 => vec![format!("--{long}"), value.to_owned()],
            _ => vec![format!("--{long}={value}")],
        }
    };
    prop_oneof![
        (group.clone(), 0..3u8).prop_map(move |(g, form)| match form {
            2 => (vec![format!("-g{g}")], None),
            f => (flag("group", g, f), None),
        }),
        group.prop_map(|g| (vec![], Some(("KUBEJIT_GROUP".to_owned(), g.to_owned())))),
        (context.clone(), 0..2u8).prop_map(move |(c, f)| (flag("context", c, f), None)),
        context.prop_map(|c| (vec![], Some(("KUBEJIT_CONTEXT".to_owned(), c.to_owned())))),
        (incident.clone(), 0..2u8).prop_map(move |(i, f)| (flag("incident", i, f), None)),
        incident.prop_map(|i| (vec![], Some(("KUBEJIT_INCIDENT".to_owned(), i.to_owned())))),
        prop::sample::select(vec!["--ttl=20m", "--ttl=1m", "-v", "--bogus", "--", "x"])
            .prop_map(|a| (vec![a.to_owned()], None)),
        prop::sample::select(vec![
            ("KUBEJIT_TTL", "20m"),
            ("KUBEJIT_TTL", "0"),
            ("KUBEJIT_VERBOSE", "3"),
            ("KUBEJIT_CACHE_DIR", "{CACHE}"),
            ("KUBECONFIG", "{KUBECONFIG}"),
            ("KUBEJIT_KUBECONFIG", "{KUBECONFIG}"),
        ])
        .prop_map(|(k, v)| (vec![], Some((k.to_owned(), v.to_owned())))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Generated combinations: whatever the thin binary answers, `kubejit credential` answers the
    /// same, and what the full binary refuses the thin one never answers.
    #[test]
    fn generated_invocations_agree(pieces in prop::collection::vec(piece(), 0..7), base in 0..3u8) {
        static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        let world = WORLD.get_or_init(World::new);
        let mut args: Vec<String> = match base {
            0 => vec!["--kubeconfig".into(), "{KUBECONFIG}".into(), "--cache-dir".into(), "{CACHE}".into()],
            1 => vec!["--kubeconfig={KUBECONFIG}".into()],
            _ => vec![],
        };
        let mut env = vec![("KUBERNETES_EXEC_INFO".to_owned(), exec_info(Some(SERVER)))];
        for (a, e) in pieces {
            args.extend(a);
            env.extend(e);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        check(world, &case(&args, &env, world));
    }
}

/// The full binary is found as `kubectl-jit` beside the thin one, or as `kubejit` on PATH: a refusal
/// handed over either way reads exactly as `kubejit credential`'s own.
#[test]
fn hand_over_finds_kubectl_jit_beside_or_kubejit_on_path() {
    let world = World::new();
    let info = exec_info(Some(SERVER));
    let refused = case(
        &["--cache-dir", "{CACHE}", "--ttl", "5m"],
        &[("KUBERNETES_EXEC_INFO", &info)],
        &world,
    );
    let full = run(
        Path::new(env!("CARGO_BIN_EXE_kubejit")),
        &["credential"],
        &refused,
        &world,
    );
    assert_eq!(full.status.code(), Some(2), "{}", text(&full.stderr));

    let plugin_dir = world.path("plugin");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let thin = plugin_dir.join("kubejit-credential");
    std::fs::copy(env!("CARGO_BIN_EXE_kubejit-credential"), &thin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubejit"),
        plugin_dir.join("kubectl-jit"),
    )
    .unwrap();
    let beside = run(&thin, &[], &refused, &world);

    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kubejit")).parent().unwrap();
    let mut on_path = refused.clone();
    on_path
        .env
        .push(("PATH".to_owned(), format!("relative:{}", bin_dir.display())));
    let from_path = run(&world.alone(), &[], &on_path, &world);
    for thin in [&beside, &from_path] {
        assert_eq!(
            (thin.status.code(), &thin.stdout, &thin.stderr),
            (full.status.code(), &full.stdout, &full.stderr),
            "{}",
            text(&thin.stderr)
        );
    }
}
