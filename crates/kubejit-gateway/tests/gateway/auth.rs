//! Each certificate rule, refused with a real `ssh-keygen` certificate; the client hears the same
//! "Permission denied" every time, the gateway's metrics say exactly why.

use crate::support::*;

/// `cert` is refused for `login`, uniformly to the client; returns the client's stderr.
fn refused(cert: &Cert, login: &str) -> String {
    let out = ssh(cert, login, &["help"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(stderr.contains("Permission denied (publickey)"), "{stderr}");
    stderr
}

/// Refused, and counted under `reason`.
fn refused_for(cert: &Cert, login: &str, reason: &str) {
    let gw = gateway();
    let before = gw.refusals(reason);
    refused(cert, login);
    assert!(
        gw.refusals(reason) > before,
        "no refusal counted as {reason}"
    );
}

#[test]
fn a_valid_certificate_is_admitted() {
    let out = ssh(&cert("u-avcia", &[]), "u-avcia", &["help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ssh GW pods -n NAMESPACE"));
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let c = cert_by(&other, "u-acfaucir", "-1m:+30m", &[]);
    refused_for(&c, "u-acfaucir", "untrusted_ca");
    // The trail says exactly why, with the certificate's key id and the untrusted CA.
    let record = gateway()
        .records()
        .into_iter()
        .find(|r| {
            r["kind"] == "sessionRefused"
                && r["subject"] == "u-acfaucir"
                && r["decisionReason"] == "untrustedCa"
        })
        .expect("sessionRefused record");
    assert_eq!(record["session"]["keyId"], "test-key-id");
    assert!(
        record["session"]["caFingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
}

#[test]
fn a_host_certificate_is_refused() {
    let c = cert("u-ahcir", &["-h"]);
    // OpenSSH does not even offer a host certificate for user authentication…
    refused(&c, "u-ahcir");
    // …so the gateway's own reading of that real certificate is checked directly.
    let parsed = russh::keys::Certificate::read_file(c.cert.as_ref().unwrap()).unwrap();
    let facts = kubejit_gateway::ssh::facts(&parsed);
    let policy = kubejit_core::ssh_cert::CertPolicy {
        trusted_cas: [facts.ca_fingerprint.clone()].into(),
        max_lifetime_secs: 3600,
        user_groups: Default::default(),
    };
    let login = kubejit_core::ssh_cert::Login {
        user: "u-ahcir",
        peer: "127.0.0.1".parse().unwrap(),
        now: kubejit_gateway::session::unix_now(),
    };
    let refusal = kubejit_core::ssh_cert::decide_cert(&facts, &policy, login).unwrap_err();
    assert_eq!(refusal.metric_label(), "host_certificate");
}

/// The `sessionRefused` record for `login` with `reason` (camelCase), with the certificate's key id.
fn refusal_record(login: &str, reason: &str) -> serde_json::Value {
    gateway()
        .records()
        .into_iter()
        .find(|r| {
            r["kind"] == "sessionRefused" && r["subject"] == login && r["decisionReason"] == reason
        })
        .unwrap_or_else(|| panic!("no sessionRefused record for {login} ({reason})"))
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    // The gateway's rules judge the validity period against its clock (russh's own check is off:
    // vendor/russh/KUBEJIT-PATCHES.md), so each refusal is counted and recorded with its reason.
    let ca = gateway().ca();
    refused_for(
        &cert_by(&ca, "u-eanyvcar", "20200101:20200102", &[]),
        "u-eanyvcar",
        "expired",
    );
    let record = refusal_record("u-eanyvcar", "expired");
    assert_eq!(record["session"]["keyId"], "test-key-id");
    refused_for(
        &cert_by(&ca, "u-eanyvcar2", "+10m:+20m", &[]),
        "u-eanyvcar2",
        "not_yet_valid",
    );
    refusal_record("u-eanyvcar2", "notYetValid");
}

#[test]
fn a_certificate_longer_than_the_cap_is_refused() {
    let c = cert_by(&gateway().ca(), "u-aclttcir", "-1m:+2h", &[]);
    refused_for(&c, "u-aclttcir", "lifetime_too_long");
}

#[test]
fn principals_must_name_the_login() {
    // No -n: ssh-keygen signs a certificate valid for any principal; kubejit refuses it.
    refused_for(&cert("", &[]), "u-pmntl", "no_principals");
    refused_for(&cert("bob", &[]), "u-pmntl", "login_not_a_principal");
    refused_for(
        &cert("bob,u-pmntl2", &[]),
        "u-pmntl",
        "login_not_a_principal",
    );
}

#[test]
fn an_unknown_critical_option_is_refused() {
    refused_for(
        &cert("u-aucoir", &["-O", "verify-required"]),
        "u-aucoir",
        "unknown_critical_option",
    );
}

#[test]
fn source_address_must_match_the_peer() {
    let c = cert("u-sammtp", &["-O", "source-address=10.9.9.0/24"]);
    refused_for(&c, "u-sammtp", "source_address_mismatch");
    let ok = cert(
        "u-sammtp",
        &["-O", "source-address=10.9.9.0/24,127.0.0.1/32"],
    );
    assert!(ssh(&ok, "u-sammtp", &["help"]).status.success());
}

#[test]
fn system_users_and_groups_are_refused() {
    refused_for(&cert("system:admin", &[]), "system:admin", "bad_user");
    let c = member("u-suagar", "system:masters", &[]);
    refused_for(&c, "u-suagar", "bad_group");
}

#[test]
fn plain_public_keys_are_refused() {
    refused_for(&plain_key(), "u-ppkar", "plain_public_key");
}

#[test]
fn force_command_wins_over_the_asked_command() {
    let c = cert("u-fcwotac", &["-O", "force-command=help"]);
    let out = ssh(&c, "u-fcwotac", &["pods", "-n", "kube-system"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ssh GW pods -n NAMESPACE"));
}

/// Waits (bounded) until the trail has `n` sessionStarted records for `user`.
fn wait_started(user: &str, n: usize) {
    let start = std::time::Instant::now();
    while gateway()
        .records()
        .iter()
        .filter(|r| r["kind"] == "sessionStarted" && r["subject"] == user)
        .count()
        < n
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{user}: {n} sessions never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn concurrent_sessions_per_user_are_capped() {
    // The test gateway allows 2 sessions per user.
    let c = cert("u-cap", &[]);
    let mut held = Vec::new();
    for n in 1..=2 {
        let child = ssh_command(&c, "u-cap", &["-N"], &[])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        held.push(child);
        wait_started("u-cap", n);
    }
    refused_for(&c, "u-cap", "too_many_sessions");
    // Another user is not affected.
    assert!(
        ssh(&cert("u-cap2", &[]), "u-cap2", &["help"])
            .status
            .success()
    );
    for mut child in held {
        let _ = child.kill();
        let _ = child.wait();
    }
    // A slot comes back when its session ends.
    let start = std::time::Instant::now();
    loop {
        if ssh(&c, "u-cap", &["help"]).status.success() {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "slots never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
