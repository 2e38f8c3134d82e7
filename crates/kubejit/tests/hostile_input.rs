//! Hostile input on the real control plane: a binding whose expires-at sits at the edge of the time
//! range (it used to panic the reaper and crash-loop the controller) is skipped with a Warning Event
//! and one audit record while valid grants around it still expire, across a restart; and text that
//! could spoof a terminal (bidi overrides, zero-width characters) is refused by the CLI and the
//! admission policy, and shown escaped where kubejit only displays it; grants of unusual but valid
//! shapes are reaped like any other.

// Integration tests: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grants.rs"]
mod grant_support;
mod support;

use std::time::Duration;

use grant_support::{
    admin_binding, assert_warned_about, binding_exists, controller_dry_run, events,
    expiring_bindings, grant, grant_args, kubejit_as, kubejit_ok, namespace_with_role, policy_for,
    records_for,
};
use kubejit_core::text::is_deceptive;
use kubejit_testenv::{ControlPlane, shared};
use serde_json::json;
use support::{ControllerProcess, install_kubejit, start_controller, wait_until};

const EXPIRES_AT: &str = "debugging.kubernetes.io/expires-at";
const BOUND: Duration = Duration::from_secs(60);
const ARGS: [&str; 4] = [
    "--controllers",
    "reaper,requests",
    "--lease-name",
    "hostile-test",
];

/// Held by each test that runs a controller: each watches every namespace, so two at once would
/// reap (and record) each other's grants.
static ONE_CONTROLLER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The attacker's values: the edge of the range with offsets that push past year 9999, spellings Go
/// and Rust read differently, a 10 000-character value and one carrying a bidi override.
fn poisoned_values() -> Vec<(&'static str, String)> {
    vec![
        (
            "jit-edge-negative-offset",
            "9999-12-31T23:59:59-23:59".to_owned(),
        ),
        (
            "jit-edge-one-minute",
            "9999-12-31T23:59:59-00:01".to_owned(),
        ),
        ("jit-lowercase", "2030-01-02t15:04:05z".to_owned()),
        ("jit-leap-second", "2030-06-30T23:59:60Z".to_owned()),
        ("jit-huge", "9".repeat(10_000)),
        ("jit-bidi", "2030-01-02T15:04:05Z\u{202e}".to_owned()),
    ]
}

/// Grants `count` short grants and waits for every one to be deleted by the reaper.
fn valid_grants_expire(cp: &ControlPlane, ns: &str, ctl: &ControllerProcess, count: usize) {
    let names: Vec<String> = (0..count)
        .map(|_| grant(cp, ns, "oncall-payments", "5s", &[]))
        .collect();
    for name in &names {
        assert!(
            wait_until(BOUND, || !binding_exists(cp, ns, name)),
            "valid grant {name} is still deleted next to the poisoned bindings: {}",
            ctl.log_text()
        );
        let audit = ctl.stdout_audit();
        let expired = records_for(&audit, "grantExpired", name);
        assert_eq!(expired.len(), 1, "{name}: {audit:?}");
        // Deleted at or after its deadline, never before.
        let at = |field: &str| {
            let text = expired[0][field].as_str().unwrap();
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        assert!(at("time") >= at("expiresAt"), "{:?}", expired[0]);
    }
}

#[test]
fn poisoned_bindings_are_skipped_and_valid_grants_still_expire_across_a_restart() {
    let _one = ONE_CONTROLLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cp = shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "hostile-reaper");
    policy_for(cp, &ns, "10m");
    let ctl = start_controller(cp, &ARGS);
    let poisoned = poisoned_values();
    expiring_bindings(cp, &ns, poisoned.iter().map(|(n, v)| (*n, v.as_str())));
    let names = poisoned.iter().map(|(name, _)| *name);
    assert_warned_about(cp, &ns, names, BOUND, || ctl.log_text());
    valid_grants_expire(cp, &ns, &ctl, 3);

    let audit = ctl.stdout_audit();
    for (name, _) in &poisoned {
        assert!(binding_exists(cp, &ns, name), "{name} is never touched");
        assert_eq!(
            records_for(&audit, "grantMalformed", name).len(),
            1,
            "{name}: one audit record per object version"
        );
    }
    let events = events(cp, &ns);
    assert!(events.contains("MalformedExpiresAt"), "{events}");
    assert!(
        !events.chars().any(|c| c != '\n' && is_deceptive(c)),
        "Event notes show hostile values escaped"
    );
    assert!(
        events.contains("not a representable instant"),
        "the edge value is reported as out of range: {events}"
    );
    let metrics = ctl.metrics();
    assert!(
        metrics.contains(&format!(
            "kubejit_reaper_bindings_malformed {}",
            poisoned.len()
        )),
        "the controller is alive and counts every poisoned binding: {metrics}"
    );
    let (status, log) = ctl.stop();
    assert!(status.success(), "clean shutdown: {log}");
    assert!(!log.contains("panicked"), "{log}");

    // The restart lists every poisoned binding first: it must come up and keep expiring grants.
    let again = start_controller(cp, &ARGS);
    valid_grants_expire(cp, &ns, &again, 1);
    for (name, _) in &poisoned {
        assert!(binding_exists(cp, &ns, name), "{name} survives the restart");
    }
    let (status, log) = again.stop();
    assert!(status.success() && !log.contains("panicked"), "{log}");
}

/// A grant due in five seconds, of a shape the apiserver accepts but kubejit never writes.
fn odd_grant(name: &str, ns: &str, shape: &str) -> serde_json::Value {
    let due = time::OffsetDateTime::now_utc() + Duration::from_secs(5);
    let mut rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": name, "namespace": ns, "annotations": {
            EXPIRES_AT: kubejit_core::format_expires_at(due),
            "debugging.kubernetes.io/incident": "INC-<b>&\"é🚒\\",
        }},
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "oncall-debug" },
    });
    match shape {
        "no-subjects" => {}
        "service-account" => {
            rb["subjects"] = json!([{ "kind": "ServiceAccount", "name": "bot", "namespace": ns }]);
        }
        _ => {
            rb["subjects"] = json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol" }]);
            let labels: serde_json::Map<_, _> = (0..30)
                .map(|i| (format!("example.com/l{i}"), json!("v")))
                .collect();
            rb["metadata"]["labels"] = labels.into();
            rb["metadata"]["annotations"]["example.com/blob"] = json!("x".repeat(100_000));
        }
    }
    rb
}

/// The reaper decodes bindings into a type of its own (only what it reads): grants of shapes the
/// apiserver accepts but kubejit never writes (no subjects, a ServiceAccount subject, many labels, a
/// 100 kB foreign annotation, a second field manager, text JSON must escape) are reaped like any
/// other, from the list a starting controller reads and from its watch, each with one record.
#[test]
fn grants_of_unusual_but_valid_shapes_are_reaped_from_the_list_and_the_watch() {
    let _one = ONE_CONTROLLER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cp = shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "odd-shapes");
    let shapes = ["no-subjects", "service-account", "labelled"];
    let create = |phase: &str| -> Vec<String> {
        let names: Vec<String> = shapes.iter().map(|s| format!("jit-{phase}-{s}")).collect();
        for (name, shape) in names.iter().zip(shapes) {
            cp.apply(&odd_grant(name, &ns, shape).to_string()).unwrap();
            cp.admin(&[
                "label",
                "rolebinding",
                name,
                "-n",
                &ns,
                "example.com/second-manager=yes",
            ])
            .unwrap();
        }
        names
    };
    let listed = create("listed");
    let ctl = start_controller(cp, &ARGS);
    let watched = create("watched");
    for name in listed.iter().chain(&watched) {
        assert!(
            wait_until(BOUND, || !binding_exists(cp, &ns, name)),
            "{name} is never reaped: {}",
            ctl.log_text()
        );
    }
    // Each record is written just after its delete is answered.
    let recorded = |name: &str| !records_for(&ctl.stdout_audit(), "grantExpired", name).is_empty();
    for name in listed.iter().chain(&watched) {
        assert!(wait_until(BOUND, || recorded(name)), "{name}: no record");
    }
    let audit = ctl.stdout_audit();
    for name in listed.iter().chain(&watched) {
        let expired = records_for(&audit, "grantExpired", name);
        assert_eq!(expired.len(), 1, "{name}: {audit:?}");
        let text = expired[0].to_string();
        if name.ends_with("service-account") {
            assert!(
                text.contains(&format!("system:serviceaccount:{ns}:bot")),
                "{text}"
            );
        }
        assert!(text.contains("INC-"), "the incident is recorded: {text}");
    }
    let (status, log) = ctl.stop();
    assert!(status.success() && !log.contains("panicked"), "{log}");
    assert!(!log.contains("does not have the shape"), "{log}");
}

fn assert_refused_plainly(out: &std::process::Output, what: &str, fragment: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} must be refused");
    assert!(stderr.contains(fragment), "{what}: {stderr}");
    assert!(
        !stderr.chars().any(|c| c != '\n' && is_deceptive(c)),
        "{what}: the refusal shows the character escaped: {stderr:?}"
    );
}

#[test]
fn spoofing_characters_are_refused_by_the_cli_and_the_apiserver_and_escaped_on_display() {
    let cp = shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "hostile-text");
    policy_for(cp, &ns, "10m");
    let base = grant_args(&ns, "oncall-payments", "5m");
    let attempts: [(&[&str], &str, &str); 4] = [
        (
            &["--incident", "INC-1", "--reason", "fix\u{202e}gnp.exe"],
            "bidi override in --reason",
            "\\u{202e}",
        ),
        (
            &["--incident", "INC-1\u{202e}2"],
            "bidi override in --incident",
            "\\u{202e}",
        ),
        (
            &["--incident", "INC-1\u{200b}"],
            "zero-width space in --incident",
            "\\u{200b}",
        ),
        (
            &["--incident", "INC-1", "--user", "al\u{2066}ice"],
            "bidi isolate in --user",
            "\\u{2066}",
        ),
    ];
    for (extra, what, fragment) in attempts {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        assert_refused_plainly(&kubejit_as(cp, "irene", &args), what, fragment);
    }
    let written = cp
        .admin(&["get", "rolebindings", "-n", &ns, "-o", "name"])
        .unwrap();
    assert!(
        !written.stdout.contains("/jit-"),
        "a refused grant writes nothing: {}",
        written.stdout
    );

    // Even kubejit's controller, the only identity that may write a grant, meets the admission
    // policy's rule on these annotations.
    let in_an_hour = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (key, value) in [
        ("debugging.kubernetes.io/incident", "INC-4242\u{202e}"),
        ("kubejit.dev/reason", "checkout\u{200b} 500s"),
    ] {
        let out = controller_dry_run(cp, &ns, json!({ EXPIRES_AT: in_an_hour, key: value }));
        assert!(
            !out.success,
            "{key}={value:?} must be refused by the apiserver"
        );
        assert!(
            out.stderr.contains("kubejit-grant-annotations")
                && out.stderr.contains("control or invisible"),
            "{key}: {}",
            out.stderr
        );
    }

    // Names kubejit only displays (here set by a cluster admin) are shown escaped.
    admin_binding(
        cp,
        &ns,
        "jit-spoofed-group",
        "on\u{202e}llac",
        json!({ EXPIRES_AT: "2030-01-02T15:04:05Z", "kubejit.dev/reason": "x\u{2067}y" }),
    );
    let out = kubejit_ok(cp, "irene", &["grants", "-n", &ns, "-o", "wide"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("group:on\\u{202e}llac"), "{stdout}");
    assert!(stdout.contains("x\\u{2067}y"), "{stdout}");
    assert!(
        !stdout.chars().any(|c| c != '\n' && is_deceptive(c)),
        "{stdout:?}"
    );
}

/// Differential test of the two readers of `expires-at`: the admission policy (regex, then Go's
/// RFC 3339 parser through CEL `timestamp()`) and kubejit's. Every spelling of a deadline five
/// minutes out is tried by kubejit's controller, the only identity that may write one (a server-side
/// dry run): what the apiserver admits the reaper must read (a spelling it called malformed would
/// never be deleted: access past the policy's cap), and what the reaper reads the apiserver admits.
#[test]
fn the_admission_policy_and_the_reaper_read_expires_at_alike() {
    let cp = shared();
    install_kubejit(cp);
    let ns = namespace_with_role(cp, "hostile-times");
    let base = (time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
        .replace_second(59)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap();
    let (date, hm) = (
        format!(
            "{:04}-{:02}-{:02}",
            base.year(),
            u8::from(base.month()),
            base.day()
        ),
        format!("{:02}:{:02}", base.hour(), base.minute()),
    );
    let east = base.to_offset(time::macros::offset!(+01:00));
    let east = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:59+01:00",
        east.year(),
        u8::from(east.month()),
        east.day(),
        east.hour(),
        east.minute()
    );
    let spellings = [
        format!("{date}T{hm}:59Z"),
        format!("{date}T{hm}:59.5Z"),
        format!("{date}T{hm}:59.123456789Z"),
        format!("{date}T{hm}:59.1234567890Z"),
        format!("{date}T{hm}:59+00:00"),
        format!("{date}T{hm}:59-00:00"),
        east,
        format!("{date}t{hm}:59Z"),
        format!("{date}T{hm}:59z"),
        format!("{date} {hm}:59Z"),
        format!("{date}T{hm}:60Z"),
        format!("{date}T{hm}:59,5Z"),
        format!("{date}T{hm}:59+24:00"),
        format!("{date}T{hm}:59+0000"),
        format!("{date}T{hm}:59"),
        format!("{date}T{hm}:59Z\u{202e}"),
        format!(" {date}T{hm}:59Z"),
    ];
    let mut disagreements = Vec::new();
    for value in &spellings {
        let out = controller_dry_run(cp, &ns, json!({ EXPIRES_AT: value }));
        let kubejit = kubejit_core::parse_expires_at(value).is_ok();
        if out.success != kubejit {
            disagreements.push(format!(
                "{value:?}: apiserver admitted={} kubejit reads={kubejit} ({})",
                out.success,
                out.stderr.trim()
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
