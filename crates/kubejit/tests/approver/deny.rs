//! Each deny rule, exercised by a real CSR: a Denied condition with the machine reason, a Warning
//! Event and a `certificateDenied` audit record.

use crate::fixture::{
    self, As, CHECKOUT_GROUP, Csr, PAYMENTS_GROUP, request_pem, setup, wait_audit, wait_decided,
    wait_event,
};

const CONTROLLER: &str = "system:serviceaccount:kubejit-system:kubejit-controller";

/// (expected reason, who creates it, the CSR, a fragment of the human message).
fn cases() -> Vec<(&'static str, As<'static>, Csr, &'static str)> {
    let ok = |name: &str| Csr::new(name, "alice", PAYMENTS_GROUP).incident("INC-1");
    let mut v = Vec::new();
    let mut c = ok("ou");
    c.pem = request_pem("alice", Some(PAYMENTS_GROUP), Some("extra"), None);
    v.push(("SubjectNotAllowed", As::User("alice"), c, "subject"));
    let mut c = ok("san");
    c.pem = request_pem(
        "alice",
        Some(PAYMENTS_GROUP),
        None,
        Some("alice.example.com"),
    );
    v.push(("ExtensionsRequested", As::User("alice"), c, "extensions"));
    let mut c = ok("cn");
    c.pem = request_pem("bob", Some(PAYMENTS_GROUP), None, None);
    v.push((
        "CommonNameMismatch",
        As::User("alice"),
        c,
        "request CN=alice",
    ));
    let mut c = ok("sysgroup");
    // (system:masters itself the apiserver already refuses for this signer.)
    c.pem = request_pem("alice", Some("system:kubejit-test"), None, None);
    v.push(("SystemGroup", As::User("alice"), c, "system:kubejit-test"));
    let mut c = ok("usages");
    c.usages = vec!["client auth", "server auth"];
    v.push(("UsagesNotAllowed", As::User("alice"), c, "server auth"));
    let mut c = ok("noexp");
    c.expiration = None;
    v.push((
        "ExpirationMissing",
        As::User("alice"),
        c,
        "expirationSeconds",
    ));
    let mut c = ok("ttl");
    c.expiration = Some(3600);
    v.push(("TtlExceedsPolicy", As::User("alice"), c, "maxTTL 30m"));
    let mut c = ok("noinc");
    c.incident = None;
    v.push((
        "IncidentMissing",
        As::User("alice"),
        c,
        "incident reference is required",
    ));
    v.push((
        "IncidentInvalid",
        As::User("alice"),
        ok("badinc").incident("INC-1\u{7}"),
        "not acceptable",
    ));
    v.push((
        "IncidentMismatch",
        As::User("alice"),
        ok("mismatch").incident("foo"),
        "^INC-[0-9]+$",
    ));
    v.push((
        "GroupNotAllowed",
        As::User("alice"),
        Csr::new("group", "alice", CHECKOUT_GROUP).incident("INC-1"),
        CHECKOUT_GROUP,
    ));
    v.push((
        "NoMatchingPolicy",
        As::User("mallory"),
        Csr::new("nopolicy", "mallory", PAYMENTS_GROUP),
        "mallory",
    ));
    let robot = "system:serviceaccount:default:approver-test-robot";
    v.push((
        "SystemRequester",
        As::Impersonating(robot, "system:serviceaccounts"),
        Csr::new("sa", robot, PAYMENTS_GROUP),
        "system identity",
    ));
    v.push((
        "SelfRequest",
        As::Impersonating(CONTROLLER, "system:serviceaccounts"),
        Csr::new("self", CONTROLLER, PAYMENTS_GROUP),
        "controller itself",
    ));
    v
}

#[test]
fn every_deny_rule_is_a_denied_condition_an_event_and_an_audit_record() {
    let (cp, ctl) = setup();
    let cases = cases();
    for (_, who, csr, _) in &cases {
        fixture::create_ok(cp, *who, csr);
    }
    for (reason, who, csr, fragment) in &cases {
        let (type_, got, message) = wait_decided(cp, &csr.name);
        assert_eq!(
            (type_.as_str(), got.as_str()),
            ("Denied", *reason),
            "{who:?}: {message}"
        );
        assert!(
            message.contains(fragment),
            "{reason}: {message:?} lacks {fragment:?}"
        );
        let (_, note, event_type) = wait_event(cp, &csr.name, "Denied");
        assert_eq!(event_type, "Warning", "{reason}");
        assert!(note.contains(fragment), "{reason} Event: {note}");
        let record = wait_audit(ctl, &csr.name, "certificateDenied");
        assert_eq!(record["decision"], "denied", "{reason}");
        assert_eq!(record["decisionReason"], *reason);
        assert!(record["object"]["uid"].is_string(), "{record}");
        assert_eq!(
            record["ttlSeconds"],
            csr.expiration.map_or(serde_json::Value::Null, Into::into)
        );
    }
    let metrics = ctl.metrics();
    for (reason, ..) in &cases {
        let series =
            format!(r#"kubejit_approver_decisions_total{{result="denied",reason="{reason}"}}"#);
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&series))
            .unwrap_or_default();
        assert!(!line.ends_with(" 0"), "{series} counted: {line:?}");
    }
}

/// The rules the apiserver enforces before kubejit sees a CSR (the controller still checks them,
/// see kubejit-core's unit tests), and a signer kubejit never touches.
#[test]
fn apiserver_refuses_malformed_requests_and_other_signers_are_left_alone() {
    let (cp, _ctl) = setup();
    let mut short = Csr::new("short", "alice", PAYMENTS_GROUP).incident("INC-1");
    short.expiration = Some(300);
    let out = fixture::create(cp, As::User("alice"), &short);
    assert!(
        !out.success && out.stderr.contains("expirationSeconds"),
        "{}",
        out.stderr
    );

    let mut garbage = Csr::new("garbage", "alice", PAYMENTS_GROUP).incident("INC-1");
    garbage.pem =
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".to_owned();
    let out = fixture::create(cp, As::User("alice"), &garbage);
    assert!(
        !out.success && out.stderr.contains("spec.request"),
        "{}",
        out.stderr
    );

    let mut other = Csr::new("other-signer", "alice", PAYMENTS_GROUP).incident("INC-1");
    other.signer = "example.com/not-kubejit";
    fixture::create_ok(cp, As::User("alice"), &other);
    // A request to kubejit's signer created afterwards is decided; the other one stays untouched.
    let marker = Csr::new("after-other", "mallory", PAYMENTS_GROUP);
    fixture::create_ok(cp, As::User("mallory"), &marker);
    wait_decided(cp, &marker.name);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let untouched = fixture::get_csr(cp, &other.name);
    assert_eq!(fixture::decision_of(&untouched), None, "{untouched}");
    assert!(fixture::events_for(cp, &other.name).is_empty());
}

/// A requester's incident carrying a bidi override (and 600 more characters) is denied; the
/// condition message and the Event quote it escaped, and the audit record keeps it escaped and cut
/// to 256 characters with a marker.
#[test]
fn a_spoofing_incident_is_denied_and_recorded_escaped_and_bounded() {
    let (cp, ctl) = setup();
    let hostile = format!("INC-1\u{202e}{}", "9".repeat(600));
    let csr = Csr::new("bidi-incident", "alice", PAYMENTS_GROUP).incident(&hostile);
    fixture::create_ok(cp, As::User("alice"), &csr);
    let (type_, reason, message) = wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Denied", "IncidentInvalid")
    );
    let plain = |text: &str| !text.chars().any(kubejit_core::text::is_deceptive);
    assert!(message.contains("INC-1\\u{202e}9"), "{message}");
    assert!(plain(&message), "{message:?}");
    let (_, note, _) = wait_event(cp, &csr.name, "Denied");
    assert!(plain(&note), "{note:?}");
    let record = wait_audit(ctl, &csr.name, "certificateDenied");
    let incident = record["incident"].as_str().unwrap();
    assert!(incident.starts_with("INC-1\\u{202e}9"), "{incident}");
    assert!(incident.ends_with("more characters]"), "{incident}");
    assert!(incident.chars().count() <= 256, "{}", incident.len());
    assert!(plain(incident));
}
