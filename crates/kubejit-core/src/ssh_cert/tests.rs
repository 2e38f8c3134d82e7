//! Table tests for the certificate rules: one refusal per rule, at and around each boundary.

use super::*;
use proptest::prelude::*;

const CA: &str = "SHA256:trusted";
const NOW: u64 = 1_800_000_000;

fn cert() -> CertFacts {
    CertFacts {
        kind: CertKind::User,
        key_id: "alice@laptop".into(),
        serial: 7,
        principals: vec!["alice".into()],
        valid_after: NOW - 60,
        valid_before: NOW + 3600,
        critical_options: BTreeMap::new(),
        extensions: [(PERMIT_PTY.to_owned(), String::new())].into(),
        ca_fingerprint: CA.into(),
        signature_valid: true,
    }
}

fn policy() -> CertPolicy {
    CertPolicy {
        trusted_cas: [CA.to_owned()].into(),
        max_lifetime_secs: 8 * 3600,
        user_groups: [("alice".to_owned(), vec!["sre".to_owned()])].into(),
    }
}

fn login(user: &str) -> Login<'_> {
    Login {
        user,
        peer: "10.1.2.3".parse().unwrap(),
        now: NOW,
    }
}

type Edit = Box<dyn FnOnce(&mut CertFacts)>;

fn refusal(edit: impl FnOnce(&mut CertFacts)) -> &'static str {
    let mut c = cert();
    edit(&mut c);
    decide_cert(&c, &policy(), login("alice"))
        .unwrap_err()
        .metric_label()
}

#[test]
fn a_good_certificate_admits_the_person_with_signed_and_mapped_groups() {
    let mut c = cert();
    c.extensions
        .insert(GROUPS_EXTENSION.into(), "oncall-payments,sre".into());
    c.critical_options
        .insert(FORCE_COMMAND.into(), "pods -n payments".into());
    let a = decide_cert(&c, &policy(), login("alice")).unwrap();
    assert_eq!(a.user.as_str(), "alice");
    let groups: Vec<_> = a.groups.iter().map(GroupName::as_str).collect();
    assert_eq!(groups, ["oncall-payments", "sre"]);
    assert_eq!(a.force_command.as_deref(), Some("pods -n payments"));
    assert!(a.permit_pty);
    assert!(!a.permit_port_forwarding);
    assert_eq!(a.valid_before, NOW + 3600);
}

#[test]
fn every_rule_refuses() {
    let cases: Vec<(&str, Edit)> = vec![
        ("host_certificate", Box::new(|c| c.kind = CertKind::Host)),
        (
            "untrusted_ca",
            Box::new(|c| c.ca_fingerprint = "SHA256:other".into()),
        ),
        ("bad_signature", Box::new(|c| c.signature_valid = false)),
        ("not_yet_valid", Box::new(|c| c.valid_after = NOW + 1)),
        ("expired", Box::new(|c| c.valid_before = NOW)),
        ("expired", Box::new(|c| c.valid_before = NOW - 1)),
        ("lifetime_too_long", Box::new(|c| c.valid_before = u64::MAX)),
        ("no_principals", Box::new(|c| c.principals.clear())),
        (
            "empty_principal",
            Box::new(|c| c.principals.push(String::new())),
        ),
        (
            "login_not_a_principal",
            Box::new(|c| c.principals = vec!["bob".into()]),
        ),
        (
            "unknown_critical_option",
            Box::new(|c| {
                c.critical_options
                    .insert("verify-required".into(), String::new());
            }),
        ),
        (
            "bad_source_address",
            Box::new(|c| {
                c.critical_options
                    .insert(SOURCE_ADDRESS.into(), "10.0.0.*".into());
            }),
        ),
        (
            "source_address_mismatch",
            Box::new(|c| {
                c.critical_options
                    .insert(SOURCE_ADDRESS.into(), "192.168.0.0/16".into());
            }),
        ),
        (
            "bad_group",
            Box::new(|c| {
                c.extensions
                    .insert(GROUPS_EXTENSION.into(), "system:masters".into());
            }),
        ),
        (
            "bad_group",
            Box::new(|c| {
                c.extensions.insert(GROUPS_EXTENSION.into(), "sre,".into());
            }),
        ),
    ];
    for (want, edit) in cases {
        assert_eq!(refusal(edit), want);
    }
}

#[test]
fn validity_boundaries() {
    let ok = |valid_after, valid_before| {
        let mut c = cert();
        c.valid_after = valid_after;
        c.valid_before = valid_before;
        decide_cert(&c, &policy(), login("alice")).is_ok()
    };
    assert!(ok(NOW, NOW + 1));
    assert!(!ok(NOW + 1, NOW + 2));
    assert!(!ok(NOW - 1, NOW));
    assert!(ok(NOW - 1, NOW + 8 * 3600 - 1));
    assert!(!ok(NOW - 1, NOW + 8 * 3600));
}

#[test]
fn system_users_are_refused() {
    let mut c = cert();
    c.principals = vec!["system:admin".into()];
    let r = decide_cert(&c, &policy(), login("system:admin")).unwrap_err();
    assert_eq!(r.metric_label(), "bad_user");
}

#[test]
fn source_address_lists() {
    let peer = |s: &str| s.parse::<IpAddr>().unwrap();
    let cases: &[(&str, &str, Option<bool>)] = &[
        ("10.1.2.3", "10.1.2.3", Some(true)),
        ("10.1.2.4", "10.1.2.3", Some(false)),
        ("10.0.0.0/8", "10.1.2.3", Some(true)),
        ("192.168.0.0/16,10.1.0.0/16", "10.1.2.3", Some(true)),
        ("0.0.0.0/0", "10.1.2.3", Some(true)),
        ("::1", "::1", Some(true)),
        ("127.0.0.1", "::ffff:127.0.0.1", Some(true)),
        ("fd00::/8", "10.1.2.3", Some(false)),
        ("10.0.0.0/33", "10.1.2.3", None),
        ("10.0.0.0/", "10.1.2.3", None),
        ("", "10.1.2.3", None),
        ("10.0.0.0/8,", "10.1.2.3", None),
        ("*", "10.1.2.3", None),
        ("!10.0.0.0/8", "10.1.2.3", None),
        (" 10.1.2.3", "10.1.2.3", None),
    ];
    for (list, p, want) in cases {
        assert_eq!(
            source_address_allows(list, peer(p)).ok(),
            *want,
            "{list} {p}"
        );
    }
}

proptest! {
    #[test]
    fn source_address_never_panics(list in ".{0,64}", a in any::<u32>()) {
        let _ = source_address_allows(&list, IpAddr::V4(a.into()));
    }

    #[test]
    fn cidr_of_the_peer_itself_always_matches(a in any::<u32>(), bits in 0u8..=32) {
        let ip = std::net::Ipv4Addr::from(a);
        prop_assert_eq!(source_address_allows(&format!("{ip}/{bits}"), IpAddr::V4(ip)), Ok(true));
    }
}
