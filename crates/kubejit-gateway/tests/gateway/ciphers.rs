//! The cipher the real OpenSSH client ends up with: AES-GCM where the gateway's CPU does AES in
//! hardware (a client insisting on chacha20-poly1305 is refused there), chacha20-poly1305 first
//! elsewhere (`kubejit_gateway::ssh::ciphers`).

use kubejit_gateway::ssh::ciphers::aes_in_hardware;

use kubejit_testenv::BoundedOutput as _;

use crate::support::*;

/// The cipher `ssh -v` reports for the server-to-client direction.
fn negotiated(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .find(|l| l.contains("server->client cipher:"))?;
    let after = line.split("cipher: ").nth(1)?;
    after.split_whitespace().next().map(str::to_owned)
}

#[test]
fn a_client_insisting_on_chacha20_is_refused_where_aes_runs_in_hardware() {
    let c = cert("u-chacha", &[]);
    let out = ssh_command(
        &c,
        "u-chacha",
        &["-c", "chacha20-poly1305@openssh.com"],
        &["help"],
    )
    .output_bounded()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if aes_in_hardware() {
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("no matching cipher"), "{stderr}");
    } else {
        assert!(out.status.success(), "{stderr}");
    }
}

#[test]
fn openssh_defaults_end_on_aes_gcm_where_aes_runs_in_hardware() {
    let c = cert("u-cipher", &[]);
    let out = ssh_command(&c, "u-cipher", &["-v"], &["help"])
        .output_bounded()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cipher = negotiated(&out.stderr);
    let expected = if aes_in_hardware() {
        "aes128-gcm@openssh.com"
    } else {
        "chacha20-poly1305@openssh.com"
    };
    assert_eq!(cipher.as_deref(), Some(expected));
}
