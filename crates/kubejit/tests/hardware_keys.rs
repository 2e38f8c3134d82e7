//! Hardware-backed keys with a real PKCS#11 module (SoftHSM2): the key is generated inside the token
//! and never extractable, bad URIs / PINs / tokens are clear errors, and a CSR signed by the token
//! is issued by the real control plane for exactly the token's key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "support/approver.rs"]
mod approver;
#[path = "support/softhsm.rs"]
mod softhsm;

use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use kubejit_core::csr::{KeyAlgorithm, parse_request};
use kubejit_testenv::{shared, unique_namespace};
use softhsm::SoftHsm;

const GROUP: &str = "oncall-debuggers";
const REQUESTER_RBAC: &str = include_str!("../../../deploy/rbac/requester.yaml");

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The DER SubjectPublicKeyInfo inside the `publicKey` PEM that `kubejit keys` prints.
fn spki_of(shown: &serde_json::Value) -> Vec<u8> {
    let pem = shown["publicKey"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn key_is_generated_in_the_token_and_never_extractable() {
    let hsm = SoftHsm::new("kubejit-gen");
    let shown = hsm.generate(1);
    assert_eq!(shown["extractable"], false, "{shown}");
    assert_eq!(shown["neverExtractable"], true, "{shown}");
    assert_eq!(shown["algorithm"], "ECDSA P-256");

    // `show` reads the same key back from the token.
    let again = hsm.kubejit(&["keys", "show", "--pkcs11", &hsm.uri(1)]);
    assert!(again.status.success(), "{}", stderr(&again));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(spki_of(&again), spki_of(&shown));

    // Generating over an existing key is refused and leaves it alone.
    let twice = hsm.kubejit(&["keys", "generate", "--pkcs11", &hsm.uri(1)]);
    assert!(!twice.status.success());
    assert!(
        stderr(&twice).contains("already exists"),
        "{}",
        stderr(&twice)
    );
    let third = hsm.kubejit(&["keys", "show", "--pkcs11", &hsm.uri(1)]);
    let third: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(spki_of(&third), spki_of(&shown));
}

#[test]
fn wrong_pin_missing_token_and_pin_in_the_uri_are_clear_errors() {
    let hsm = SoftHsm::new("kubejit-err");
    hsm.generate(2);
    let module = softhsm::module();
    let bare = format!(
        "pkcs11:token={};id=%02?module-path={}",
        hsm.label,
        module.display()
    );

    let wrong = hsm
        .command(&["keys", "show", "--pkcs11", &bare])
        .env("KUBEJIT_PKCS11_PIN", "000000")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("wrong PIN"), "{}", stderr(&wrong));

    let right = hsm
        .command(&["keys", "show", "--pkcs11", &bare])
        .env("KUBEJIT_PKCS11_PIN", softhsm::PIN)
        .output()
        .unwrap();
    assert!(right.status.success(), "{}", stderr(&right));

    let missing = format!(
        "pkcs11:token=absent;id=%02?module-path={}&pin-source=file:{}",
        module.display(),
        hsm.pin_file().display()
    );
    let out = hsm.kubejit(&["keys", "show", "--pkcs11", &missing]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no token labelled \"absent\""),
        "{}",
        stderr(&out)
    );

    let with_pin = format!("{bare}&pin-value={}", softhsm::PIN);
    let out = hsm.kubejit(&["keys", "show", "--pkcs11", &with_pin]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("pin-value"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(softhsm::PIN),
        "the PIN is not echoed"
    );

    // A PIN file others can read is refused before the token is asked.
    std::fs::set_permissions(hsm.pin_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = hsm.kubejit(&["keys", "show", "--pkcs11", &hsm.uri(2)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

/// The shipped requester ClusterRole, bound to `oncall-payments` (alice's group); once per test
/// binary (parallel client-side applies of one new object race to create it).
/// alice's kubeconfig, copied into the token's directory (kubejit may write to it).
fn alice_config(hsm: &SoftHsm) -> std::path::PathBuf {
    let config = hsm.dir().join("config");
    std::fs::copy(shared().kubeconfig("alice").unwrap(), &config).unwrap();
    config
}

/// The arguments for alice asking, with `config`, for `GROUP` for `incident`.
fn as_alice<'a>(config: &'a std::path::Path, incident: &'a str) -> [&'a str; 8] {
    [
        "--kubeconfig",
        config.to_str().unwrap(),
        "--context",
        "alice",
        "--group",
        GROUP,
        "--incident",
        incident,
    ]
}

/// A fresh incident id (`INC-<prefix>…`) and an approver that approves its CSRs while held.
fn approved_incident(prefix: &str) -> (String, approver::Approver) {
    let incident = format!("INC-{}", unique_namespace(prefix));
    let approver = approver::start(
        shared().admin_kubeconfig().to_path_buf(),
        incident.clone(),
        approver::Verdict::Approve,
    );
    (incident, approver)
}

fn install_requester_rbac() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let yaml = REQUESTER_RBAC.replace(
            "  kind: Group\n  name: kubejit-requesters",
            "  kind: Group\n  name: oncall-payments",
        );
        assert_ne!(
            yaml, REQUESTER_RBAC,
            "the binding subject moved; update this test"
        );
        shared().apply(&yaml).unwrap();
    });
}

#[test]
fn token_signed_csr_is_issued_for_the_token_key_on_the_real_control_plane() {
    shared();
    install_requester_rbac();
    let hsm = SoftHsm::new("kubejit-csr");
    let token_spki = spki_of(&hsm.generate(3));
    let config = alice_config(&hsm);
    let (incident, _approver) = approved_incident("hsm");

    let mut args = vec!["credential"];
    args.extend(as_alice(&config, &incident));
    let cache = hsm.dir().join("cache");
    let uri = hsm.uri(3);
    args.extend(["--cache-dir", cache.to_str().unwrap(), "--key", &uri]);
    let out = hsm.kubejit(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    // The certificate the control plane issued carries exactly the token's key.
    let (_, pem) = x509_parser::pem::parse_x509_pem(&out.stdout).unwrap();
    let cert = pem.parse_x509().unwrap();
    assert_eq!(cert.public_key().raw, token_spki.as_slice());
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "alice"
    );

    // The CSR in the cluster verifies (kubejit's strict PKCS#10 reader checks the signature) and
    // names the token's P-256 key: the token signed it.
    let ours = csrs_for_incident(&incident);
    assert_eq!(ours.len(), 1);
    let parsed = request_of(&ours[0]);
    assert_eq!(parsed.key, KeyAlgorithm::EcdsaP256);
    assert_eq!(parsed.public_key_info, token_spki);
    assert_eq!(parsed.subject.organizations, [GROUP]);
}

/// `--attestation FILE` sends the chain as the CSR's `kubejit.dev/key-attestation` annotation, byte
/// for byte; a file the approver would call malformed is refused before any CSR is filed.
#[test]
fn credential_attaches_the_attestation_chain_and_refuses_a_malformed_one() {
    shared();
    install_requester_rbac();
    let hsm = SoftHsm::new("kubejit-att");
    let token_spki = spki_of(&hsm.generate(4));
    let config = alice_config(&hsm);
    let (incident, _approver) = approved_incident("att");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let vendor = kubejit_core::testutil::PivVendor::new(now - 3600, now + 86_400);
    let chain = vendor.annotation(&vendor.attest(&token_spki, Some([2, 2]), now + 86_400));
    let good = hsm.dir().join("chain.pem");
    std::fs::write(&good, &chain).unwrap();
    let bad = hsm.dir().join("one-block.pem");
    std::fs::write(
        &bad,
        chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap(),
    )
    .unwrap();

    let cache = hsm.dir().join("cache");
    let uri = hsm.uri(4);
    let run = |file: &std::path::Path| {
        let mut args = vec!["credential"];
        args.extend(as_alice(&config, &incident));
        args.extend(["--cache-dir", cache.to_str().unwrap(), "--key", &uri]);
        args.extend(["--attestation", file.to_str().unwrap()]);
        hsm.kubejit(&args)
    };
    let ours = || csrs_for_incident(&incident);

    let out = run(&bad);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("would be refused by the approver"),
        "{}",
        stderr(&out)
    );
    assert!(ours().is_empty(), "a CSR was filed with a malformed chain");

    let out = run(&good);
    assert!(out.status.success(), "{}", stderr(&out));
    let filed = ours();
    assert_eq!(filed.len(), 1);
    assert_eq!(
        filed[0]["metadata"]["annotations"]["kubejit.dev/key-attestation"],
        chain.as_str()
    );
}

/// A namespace with a Running pod (logs, port 8080 echo) and the on-call Role bound to `GROUP` only:
/// alice reaches it only through a certificate carrying the group.
fn namespace_for_group() -> String {
    let cp = shared();
    let ns = support::namespace_with_pod(cp, "hsm", "token says hi\n");
    let manifests = support::kubejit_stdout(&[
        "manifests",
        "oncall-role",
        "--namespace",
        &ns,
        "--group",
        GROUP,
    ]);
    cp.apply(&manifests).unwrap();
    ns
}

/// `kubejit proxy` for alice with the token key; killed on drop.
struct Proxy {
    child: std::process::Child,
    kubeconfig: std::path::PathBuf,
}

impl Proxy {
    /// Waits until the proxy has written `self.kubeconfig` (its `what`), failing if it exits first.
    fn wait_written(&mut self, what: &str) {
        let ready = support::poll(std::time::Duration::from_secs(90), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kubejit proxy exited early: {status}");
            }
            self.kubeconfig.exists().then_some(())
        });
        assert!(ready.is_some(), "the proxy never wrote its {what}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_proxy(hsm: &SoftHsm, id: u8, incident: &str, extra: &[&str]) -> Proxy {
    let config = alice_config(hsm);
    let kubeconfig = hsm.dir().join("proxy.kubeconfig");
    let uri = hsm.uri(id);
    let mut args = vec!["proxy"];
    args.extend(as_alice(&config, incident));
    args.extend([
        "--key",
        &uri,
        "--write-kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    let child = hsm
        .command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut proxy = Proxy { child, kubeconfig };
    proxy.wait_written("kubeconfig");
    proxy
}

/// The CSRs in the cluster filed under `incident`, as JSON.
fn csrs_for_incident(incident: &str) -> Vec<serde_json::Value> {
    let list = shared().admin(&["get", "csr", "-o", "json"]).unwrap();
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["metadata"]["annotations"][approver::INCIDENT] == incident)
        .cloned()
        .collect()
}

/// The PKCS#10 request of a CSR object, parsed by kubejit's strict reader.
fn request_of(csr: &serde_json::Value) -> kubejit_core::csr::RequestedCertificate {
    let der = base64::engine::general_purpose::STANDARD
        .decode(csr["spec"]["request"].as_str().unwrap())
        .unwrap();
    parse_request(&der).unwrap()
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    use kubejit_testenv::BoundedOutput;
    std::process::Command::new(shared().binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output_bounded()
        .unwrap()
}

/// `kubectl port-forward` to the pod's echo port through `kubeconfig`, and one connection to it.
fn open_port_forward(
    kubeconfig: &std::path::Path,
    ns: &str,
) -> (std::process::Child, std::net::TcpStream) {
    use std::io::BufRead;
    let mut pf = std::process::Command::new(shared().binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["port-forward", "-n", ns, "pod/api", ":8080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(pf.stdout.take().unwrap());
    let _ = out.read_line(&mut line);
    // Keep draining: kubectl prints a line per connection and dies of SIGPIPE if nobody reads.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("kubectl port-forward did not start: {line}"));
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    (pf, conn)
}

fn assert_echo(conn: &mut std::net::TcpStream, msg: &[u8]) {
    use std::io::{Read, Write};
    conn.write_all(msg).unwrap();
    let mut echoed = vec![0u8; msg.len()];
    conn.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, msg);
}

/// `kubectl exec -it` on a terminal the test owns: kubectl sends the terminal's size and the typed
/// line over the spliced WebSocket, and the pod's shell, on a terminal of its own, answers.
fn interactive_exec(kubeconfig: &std::path::Path, ns: &str) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    // The size is read after the typed line: kubectl sends it as the stream's first resize, which
    // kwok may apply just after the command has started (seen: `0 0`). The shell then waits for one
    // more line: kwok can drop what a command writes just before it exits (seen without the proxy
    // too, with the admin's kubeconfig).
    let script = "[ -t 0 ] && echo on-a-tty; read x; stty size; echo got-$x; read y; exit 0";
    let mut child = std::process::Command::new(shared().binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", "-it", "-n", ns, "api", "--", "sh", "-c", script])
        .stdin(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(pty.slave))
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&seen);
    let mut from_terminal = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from_terminal.read(&mut buf) {
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let shown = |want: &str| {
        support::poll(std::time::Duration::from_secs(60), || {
            text().contains(want).then_some(())
        })
        .is_some()
    };
    assert!(
        shown("on-a-tty"),
        "the pod's shell has no terminal: {:?}",
        text()
    );
    // kubectl's terminal is raw: the Enter key is a carriage return, the pod's terminal makes it a line.
    master.write_all(b"typed\r").unwrap();
    assert!(
        shown("got-typed"),
        "the typed line never arrived: {:?}",
        text()
    );
    assert!(
        text().contains("24 80"),
        "the pod never saw the terminal's size: {:?}",
        text()
    );
    // Ctrl-D ends the last `read`; the shell exits 0 and so does kubectl.
    master.write_all(b"\x04").unwrap();
    let status = kubejit_testenv::wait_within(&mut child, std::time::Duration::from_secs(60))
        .expect("kubectl exec -it did not exit");
    assert!(status.success(), "{:?}", text());
}

#[test]
fn kubectl_through_the_proxy_is_the_elevated_identity_and_others_are_refused() {
    install_requester_rbac();
    let ns = namespace_for_group();
    let hsm = SoftHsm::new("kubejit-proxy");
    hsm.generate(4);
    let (incident, _approver) = approved_incident("px");
    let proxy = start_proxy(&hsm, 4, &incident, &[]);
    let mode = std::fs::metadata(&proxy.kubeconfig)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "the proxy kubeconfig holds the local client key"
    );

    let whoami = kubectl(&proxy.kubeconfig, &["auth", "whoami", "-o", "json"]);
    assert!(whoami.status.success(), "{}", stderr(&whoami));
    let review: serde_json::Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(review["status"]["userInfo"]["username"], "alice");
    let groups = review["status"]["userInfo"]["groups"].to_string();
    assert!(groups.contains(GROUP), "{groups}");

    let pods = kubectl(&proxy.kubeconfig, &["get", "pods", "-n", &ns, "-o", "name"]);
    assert!(pods.status.success(), "{}", stderr(&pods));
    assert_eq!(String::from_utf8_lossy(&pods.stdout).trim(), "pod/api");

    let logs = kubectl(&proxy.kubeconfig, &["logs", "-n", &ns, "api"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "token says hi\n");

    // exec is an HTTP/1.1 upgrade (WebSocket in current kubectl), spliced through the proxy.
    let exec = kubectl(
        &proxy.kubeconfig,
        &["exec", "-n", &ns, "api", "--", "echo", "through the token"],
    );
    assert!(exec.status.success(), "{}", stderr(&exec));
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        "through the token"
    );

    interactive_exec(&proxy.kubeconfig, &ns);

    // port-forward: another upgrade; the kwok pod echoes what it receives on 8080.
    let (mut pf, mut conn) = open_port_forward(&proxy.kubeconfig, &ns);
    assert_echo(&mut conn, b"ping via pkcs11\n");
    let _ = pf.kill();
    let _ = pf.wait();

    // Another local client: the proxy's CA but no client certificate, or one from another CA.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proxy.kubeconfig).unwrap()).unwrap();
    let mut anonymous = doc.clone();
    anonymous["users"][0]["user"] = serde_json::json!({});
    let other_key = rcgen::KeyPair::generate().unwrap();
    let other = rcgen::CertificateParams::new(vec!["mallory".to_owned()])
        .unwrap()
        .self_signed(&other_key)
        .unwrap();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut forged = doc.clone();
    forged["users"][0]["user"] = serde_json::json!({
        "client-certificate-data": b64(other.pem()),
        "client-key-data": b64(other_key.serialize_pem()),
    });
    for (name, config) in [("anonymous", anonymous), ("forged", forged)] {
        let path = hsm.dir().join(name);
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        let refused = kubectl(&path, &["get", "pods", "-n", &ns]);
        assert!(
            !refused.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&refused.stdout)
        );
        assert!(
            !String::from_utf8_lossy(&refused.stdout).contains("api"),
            "{name} saw the pod"
        );
        // Refused in the TLS handshake, not by some later, unrelated error.
        let why = stderr(&refused).to_lowercase();
        assert!(
            why.contains("certificate")
                || why.contains("tls")
                || why.contains("handshake")
                || why.contains("eof")
                || why.contains("reset"),
            "{name}: {why}"
        );
    }
    // The proxy still serves its owner afterwards.
    let again = kubectl(&proxy.kubeconfig, &["get", "pods", "-n", &ns, "-o", "name"]);
    assert!(again.status.success(), "{}", stderr(&again));
}

#[test]
fn add_user_pkcs11_writes_a_stanza_that_reaches_the_cluster_through_the_proxy() {
    install_requester_rbac();
    let ns = namespace_for_group();
    let hsm = SoftHsm::new("kubejit-stanza");
    hsm.generate(5);
    let (incident, _approver) = approved_incident("st");
    let config = alice_config(&hsm);
    let state = hsm.dir().join("state");
    // A free loopback port for the stanza to name.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let uri = hsm.uri(5);
    let common = as_alice(&config, &incident);
    let mut add = vec!["kubeconfig", "add-user", "--name", "oncall-hw"];
    add.extend(common);
    add.extend(["--pkcs11", &uri, "--listen", &listen]);
    add.extend(["--state-dir", state.to_str().unwrap()]);
    let out = hsm.kubejit(&add);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("kubejit proxy"), "{}", stderr(&out));

    let mut run = vec!["proxy"];
    run.extend(common);
    run.extend(["--key", &uri, "--listen", &listen]);
    run.extend(["--state-dir", state.to_str().unwrap()]);
    let child = hsm
        .command(&run)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut proxy = Proxy {
        child,
        kubeconfig: state.join("client.key"),
    };
    proxy.wait_written("state");
    let mode = std::fs::metadata(state.join("client.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let pods = kubectl(
        &config,
        &[
            "--context",
            "oncall-hw",
            "get",
            "pods",
            "-n",
            &ns,
            "-o",
            "name",
        ],
    );
    assert!(pods.status.success(), "{}", stderr(&pods));
    assert_eq!(String::from_utf8_lossy(&pods.stdout).trim(), "pod/api");
    // The everyday context is untouched and still lacks the group's access.
    let everyday = kubectl(&config, &["--context", "alice", "get", "pods", "-n", &ns]);
    assert!(!everyday.status.success());
}

/// Renewal with the same token key: new certificates are issued while a port-forward stream opened
/// before them keeps flowing, and new commands work with the renewed certificate.
#[test]
fn renewal_files_new_csrs_with_the_token_key_without_breaking_open_streams() {
    shared();
    install_requester_rbac();
    let ns = namespace_for_group();
    let hsm = SoftHsm::new("kubejit-renew");
    let token_spki = spki_of(&hsm.generate(6));
    let (incident, _approver) = approved_incident("rn");
    let proxy = start_proxy(&hsm, 6, &incident, &["--renew-every", "2s"]);
    let (mut pf, mut conn) = open_port_forward(&proxy.kubeconfig, &ns);
    assert_echo(&mut conn, b"before renewal\n");

    // Two renewals after the first certificate: three issued CSRs for this incident.
    let issued = || {
        csrs_for_incident(&incident)
            .into_iter()
            .filter(|c| c["status"]["certificate"].is_string())
            .collect::<Vec<_>>()
    };
    let renewed = support::poll(std::time::Duration::from_secs(120), || {
        let now = issued();
        (now.len() >= 3).then_some(now)
    })
    .expect("the proxy did not renew twice");
    // Every renewal was signed by the same token key.
    for csr in &renewed {
        assert_eq!(request_of(csr).public_key_info, token_spki);
    }
    // The stream opened before the renewals still flows; new connections use the new certificate.
    assert_echo(&mut conn, b"after renewal\n");
    let pods = kubectl(&proxy.kubeconfig, &["get", "pods", "-n", &ns, "-o", "name"]);
    assert!(pods.status.success(), "{}", stderr(&pods));
    let _ = pf.kill();
    let _ = pf.wait();
}

/// A `kubectl logs -f` opened through the proxy keeps streaming lines written after two
/// certificate renewals: the renewal swaps the certificate for new handshakes and leaves the open
/// connection alone.
#[test]
fn logs_follow_streams_across_two_renewals() {
    let cp = shared();
    install_requester_rbac();
    let ns = namespace_for_group();
    let hsm = SoftHsm::new("kubejit-follow");
    hsm.generate(8);
    let (incident, _approver) = approved_incident("lf");
    let proxy = start_proxy(&hsm, 8, &incident, &["--renew-every", "2s"]);
    let mut follow = std::process::Command::new(cp.binaries().kubectl())
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(&proxy.kubeconfig)
        .args(["logs", "-f", "-n", &ns, "pod/api"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_line = |want: &str| loop {
        match lines.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) if line == want => return,
            Ok(_) => {}
            Err(e) => panic!("no {want:?} from kubectl logs -f: {e}"),
        }
    };
    wait_line("token says hi");
    cp.append_pod_log(&ns, "api", "before renewal\n").unwrap();
    wait_line("before renewal");

    let issued = || {
        csrs_for_incident(&incident)
            .iter()
            .filter(|c| c["status"]["certificate"].is_string())
            .count()
    };
    support::poll(std::time::Duration::from_secs(120), || {
        (issued() >= 3).then_some(())
    })
    .expect("the proxy did not renew twice");

    cp.append_pod_log(&ns, "api", "after two renewals\n")
        .unwrap();
    wait_line("after two renewals");
    assert!(
        follow.try_wait().unwrap().is_none(),
        "kubectl logs -f ended"
    );
    let _ = follow.kill();
    let _ = follow.wait();
}

/// Ed25519, where the token implements PKCS#11 3.0 EdDSA (SoftHSM2 does): generated never
/// extractable, the CSR and the upstream TLS handshake signed by the token.
#[test]
fn ed25519_token_key_is_issued_and_works_through_the_proxy() {
    shared();
    install_requester_rbac();
    let ns = namespace_for_group();
    let hsm = SoftHsm::new("kubejit-ed");
    let out = hsm.kubejit(&[
        "keys",
        "generate",
        "--algorithm",
        "ed25519",
        "--pkcs11",
        &hsm.uri(7),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["algorithm"], "Ed25519");
    assert_eq!(shown["extractable"], false);
    assert_eq!(shown["neverExtractable"], true);
    let token_spki = spki_of(&shown);

    let (incident, _approver) = approved_incident("ed");
    let proxy = start_proxy(&hsm, 7, &incident, &[]);
    let pods = kubectl(&proxy.kubeconfig, &["get", "pods", "-n", &ns, "-o", "name"]);
    assert!(pods.status.success(), "{}", stderr(&pods));
    assert_eq!(String::from_utf8_lossy(&pods.stdout).trim(), "pod/api");

    let parsed = request_of(&csrs_for_incident(&incident)[0]);
    assert_eq!(parsed.key, KeyAlgorithm::Ed25519);
    assert_eq!(parsed.public_key_info, token_spki);
}
