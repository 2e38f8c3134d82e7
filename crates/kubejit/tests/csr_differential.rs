//! Differential test of `spec.request` on the real control plane: crafted requests that Go (the
//! apiserver, the admission plugins and kube-controller-manager's signer) and a lenient reader could
//! see differently are submitted through the real apiserver by a requester covered by an Auto
//! AccessPolicy, with the real kubejit controller deciding. For every request, either the apiserver
//! refused it at create, or kubejit denied it, or the certificate the real signer issued has exactly
//! the subject kubejit's audit record says it approved. Also: the `certificateMismatch` alarm fires,
//! once, when an issued certificate does not match an approval.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "support/approver_fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::io::Write as _;

use base64::Engine as _;
use fixture::{PAYMENTS_GROUP, REQUESTERS, setup};
use kubejit_testenv::ControlPlane;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    PKCS_ECDSA_P256_SHA256, PKCS_ED25519, SigningKey,
};
use serde_json::{Value, json};

const LABEL: &str = "CERTIFICATE REQUEST";
/// A group no policy gives alice: what a request smuggled past kubejit would ask for.
const EVIL_GROUP: &str = "approver-test:evil";

/// What each corpus entry is expected to meet. The invariant checked for every entry holds whatever
/// the outcome; the expectation documents (and pins) how Go and kubejit treat that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Go's `pem.Decode` + `x509.ParseCertificateRequest` + `CheckSignature` refuse it at create.
    RejectedByApiserver,
    /// Go accepts it; kubejit denies it with this reason.
    Denied(&'static str),
    /// Canonical: approved, and the issued certificate matches.
    Approved,
}

// --- DER and PEM helpers (the corpus is generated here; nothing opaque is checked in) ---

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else if len < 0x100 {
        out.extend([0x81, u8::try_from(len).unwrap()]);
    } else {
        out.extend([0x82, u8::try_from(len >> 8).unwrap(), (len & 0xff) as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// Splits one DER element into (header length, whole element length).
fn element(der: &[u8]) -> (usize, usize) {
    match der[1] {
        n if n < 0x80 => (2, 2 + n as usize),
        0x81 => (3, 3 + der[2] as usize),
        0x82 => (4, 4 + ((der[2] as usize) << 8 | der[3] as usize)),
        other => panic!("length form {other:#x} not used by the corpus"),
    }
}

/// A CertificationRequest's three parts: (info, signatureAlgorithm, signature) as whole TLVs.
fn split(der: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (hdr, _) = element(der);
    let mut rest = &der[hdr..];
    let mut parts = Vec::new();
    for _ in 0..3 {
        let (_, len) = element(rest);
        parts.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    assert!(rest.is_empty());
    (parts[0].clone(), parts[1].clone(), parts[2].clone())
}

fn pem(der: &[u8]) -> String {
    kubejit_core::testutil::pem(LABEL, der)
}

/// The PEM body lines only.
fn body(der: &[u8]) -> String {
    pem(der)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn request(key: &KeyPair, group: &str) -> Vec<u8> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "alice");
    dn.push(DnType::OrganizationName, group);
    params.distinguished_name = dn;
    params.serialize_request(key).unwrap().der().to_vec()
}

fn openssl_request(newkey: &str, extra: &[&str]) -> Vec<u8> {
    let subj = format!("/CN=alice/O={PAYMENTS_GROUP}");
    kubejit_core::testutil::openssl_csr(newkey, extra, &subj)
}

/// The corpus: (name, spec.request bytes, expectation).
fn corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::{Approved, Denied, RejectedByApiserver};
    const MALFORMED: Expect = Denied("MalformedRequest");
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let good = request(&key, PAYMENTS_GROUP);
    let evil = request(&KeyPair::generate_for(&PKCS_ED25519).unwrap(), EVIL_GROUP);
    let (good_pem, evil_pem) = (pem(&good), pem(&evil));
    let (info, alg, sig) = split(&good);
    // The outer signatureAlgorithm is not signed: an OCTET STRING parameter can carry a whole PEM
    // block, which Go's pem.Decode finds ("\n-----BEGIN ") inside bytes that are "raw DER" to others.
    let hiding = seq(&[
        &info,
        &seq(&[&alg[2..], &tlv(0x04, format!("\n{evil_pem}").as_bytes())]),
        &sig,
    ]);
    let version_1 = {
        let mut info = info.clone();
        let (hdr, _) = element(&info);
        assert_eq!(info[hdr..hdr + 3], [0x02, 0x01, 0x00]);
        info[hdr + 2] = 1;
        let signature = key.sign(&info).unwrap();
        seq(&[&info, &alg, &tlv(0x03, &[&[0][..], &signature].concat())])
    };
    let long_form = {
        let (hdr, len) = element(&good);
        assert_eq!(hdr, 3, "the fixture request is 128..255 bytes");
        [
            &[0x30, 0x82, 0x00, u8::try_from(len - 3).unwrap()][..],
            &good[3..],
        ]
        .concat()
    };
    let indefinite = [&[0x30, 0x80][..], &good[3..], &[0, 0]].concat();
    let ecdsa = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let (e_info, e_alg, e_sig) = split(&request(&ecdsa, PAYMENTS_GROUP));
    let null_params = |alg: &[u8]| seq(&[&alg[2..], &[0x05, 0x00]]);
    let ecdsa_null = seq(&[&e_info, &null_params(&e_alg), &e_sig]);
    let ed25519_null = seq(&[&info, &null_params(&alg), &sig]);
    let block = |label: &str, body: &str, end: &str| {
        format!("-----BEGIN {label}-----\n{body}\n-----END {end}-----\n").into_bytes()
    };
    let b = body(&good);
    vec![
        ("canonical PEM", good_pem.clone().into_bytes(), Approved),
        (
            "canonical PEM with CRLF",
            good_pem.replace('\n', "\r\n").into_bytes(),
            Approved,
        ),
        (
            "openssl req, RSA 2048",
            openssl_request("rsa:2048", &[]),
            Approved,
        ),
        (
            "openssl req, ECDSA P-384",
            openssl_request("ec", &["-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"]),
            Approved,
        ),
        ("raw DER", good.clone(), RejectedByApiserver),
        (
            "raw DER hiding another subject's PEM in signatureAlgorithm",
            hiding,
            MALFORMED,
        ),
        (
            "raw DER, then another subject's PEM",
            [good.clone(), b"\n".to_vec(), evil_pem.clone().into_bytes()].concat(),
            MALFORMED,
        ),
        (
            "text before the block",
            format!("note: for alice\n{good_pem}").into_bytes(),
            MALFORMED,
        ),
        (
            "text after the block",
            format!("{good_pem}trailer\n").into_bytes(),
            MALFORMED,
        ),
        (
            "two blocks, policy subject first",
            format!("{good_pem}{evil_pem}").into_bytes(),
            MALFORMED,
        ),
        (
            "two blocks, other subject first",
            format!("{evil_pem}{good_pem}").into_bytes(),
            MALFORMED,
        ),
        (
            "PEM headers",
            block(LABEL, &format!("Proc-Type: 4,CRL\n\n{b}"), LABEL),
            MALFORMED,
        ),
        (
            "space inside a base64 line",
            block(LABEL, &b.replacen('A', " A", 1), LABEL),
            MALFORMED,
        ),
        (
            "spaces before BEGIN",
            format!("  {good_pem}").into_bytes(),
            RejectedByApiserver,
        ),
        (
            "label CERTIFICATE",
            block("CERTIFICATE", &b, "CERTIFICATE"),
            RejectedByApiserver,
        ),
        (
            "label NEW CERTIFICATE REQUEST",
            block("NEW CERTIFICATE REQUEST", &b, "NEW CERTIFICATE REQUEST"),
            RejectedByApiserver,
        ),
        (
            "END label differs",
            block(LABEL, &b, "CERTIFICATE"),
            RejectedByApiserver,
        ),
        (
            "long-form outer length",
            pem(&long_form).into_bytes(),
            RejectedByApiserver,
        ),
        (
            "indefinite (BER) outer length",
            pem(&indefinite).into_bytes(),
            RejectedByApiserver,
        ),
        (
            "trailing byte after the DER",
            pem(&[good.clone(), vec![0]].concat()).into_bytes(),
            RejectedByApiserver,
        ),
        (
            "version 2 (encoded 1)",
            pem(&version_1).into_bytes(),
            MALFORMED,
        ),
        (
            "ECDSA signatureAlgorithm with NULL parameters",
            pem(&ecdsa_null).into_bytes(),
            MALFORMED,
        ),
        (
            "Ed25519 signatureAlgorithm with NULL parameters",
            pem(&ed25519_null).into_bytes(),
            RejectedByApiserver,
        ),
        (
            "openssl req, RSA 1024",
            openssl_request("rsa:1024", &[]),
            Denied("UnsupportedKey"),
        ),
        (
            "openssl req, ECDSA P-521",
            openssl_request("ec", &["-pkeyopt", "ec_paramgen_curve:P-521"]),
            Denied("UnsupportedKey"),
        ),
    ]
}

fn csr_json(name: &str, request: &[u8]) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "annotations": {"debugging.kubernetes.io/incident": "INC-8"}},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(request),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 1200,
        },
    })
}

/// Creates the CSR as alice (real user, real kubectl); `Err(stderr)` when the apiserver refuses it.
fn create_as_alice(cp: &ControlPlane, name: &str, request: &[u8]) -> Result<(), String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(csr_json(name, request).to_string().as_bytes())
        .unwrap();
    let out = cp
        .kubectl_as("alice", &["create", "-f", file.path().to_str().unwrap()])
        .unwrap();
    if out.success { Ok(()) } else { Err(out.stderr) }
}

/// (CN, O values) of the first certificate in `status.certificate`.
fn certificate_subject(csr: &Value) -> Option<(String, Vec<String>)> {
    let b64 = csr["status"]["certificate"].as_str()?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().unwrap().to_owned();
    let cns: Vec<String> = cert.subject().iter_common_name().map(text).collect();
    assert_eq!(cns.len(), 1, "one CN in the issued certificate");
    let orgs: Vec<String> = cert.subject().iter_organization().map(text).collect();
    Some((cns[0].clone(), orgs))
}

/// Either kubejit denied it, or the issued certificate's subject is what kubejit's audit record
/// says it approved. Returns the outcome seen.
fn judge(cp: &ControlPlane, ctl: &support::ControllerProcess, name: &str) -> Expect {
    let (type_, reason, message) = fixture::wait_decided(cp, name);
    if type_ == "Denied" {
        let record = fixture::wait_audit(ctl, name, "certificateDenied");
        assert_eq!(record["decisionReason"], reason.as_str(), "{name}");
        return Expect::Denied(match reason.as_str() {
            "MalformedRequest" => "MalformedRequest",
            "UnsupportedKey" => "UnsupportedKey",
            other => panic!("{name}: unexpected deny reason {other}: {message}"),
        });
    }
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy"),
        "{name}"
    );
    let record = fixture::wait_audit(ctl, name, "certificateApproved");
    let (cn, orgs) =
        support::eventually(fixture::WAIT, &format!("the certificate of {name}"), || {
            certificate_subject(&fixture::get_csr(cp, name))
        });
    assert_eq!(
        record["subject"],
        cn.as_str(),
        "{name}: issued CN vs approved"
    );
    let approved: BTreeSet<String> = record["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        orgs.iter().cloned().collect::<BTreeSet<_>>(),
        approved,
        "{name}: issued O vs approved"
    );
    assert_eq!(orgs.len(), approved.len(), "{name}: no repeated O");
    Expect::Approved
}

#[test]
fn every_crafted_request_is_refused_or_certified_as_approved() {
    let (cp, ctl) = setup();
    let corpus = corpus();
    let mut created = Vec::new();
    let mut report = Vec::new();
    for (i, (what, bytes, expect)) in corpus.iter().enumerate() {
        let name = fixture::unique(&format!("diff-{i}"));
        match create_as_alice(cp, &name, bytes) {
            Ok(()) => created.push((name, *what, *expect)),
            Err(stderr) => {
                assert!(
                    stderr.contains("spec.request"),
                    "{what}: refused for another reason: {stderr}"
                );
                report.push(format!("{what}: rejected by apiserver"));
                assert_eq!(*expect, Expect::RejectedByApiserver, "{what}: {stderr}");
            }
        }
    }
    for (name, what, expect) in created {
        let got = judge(cp, ctl, &name);
        report.push(format!("{what}: {got:?}"));
        assert_eq!(got, expect, "{what}");
        assert!(
            fixture::audit_for(ctl, &name)
                .iter()
                .all(|r| r["kind"] != "certificateMismatch"),
            "{what}: mismatch alarm"
        );
    }
    println!("csr differential corpus:\n  {}", report.join("\n  "));
}

const FLIP_POLICY: &str = "approver-test-flip";

fn flip_policy(mode: &str) -> String {
    let approvers = if mode == "Manual" {
        ", approvers: {groups: [kubejit-approvers]}"
    } else {
        ""
    };
    format!(
        "apiVersion: kubejit.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: {FLIP_POLICY}}}\n\
         spec:\n  requesters: {{users: [dora]}}\n  certificateGroups: [\"approver-test:flip\"]\n  \
         maxTTL: 30m\n  incident: {{required: false}}\n  approval: {{mode: {mode}{approvers}}}\n"
    )
}

/// A certificate for another subject and key, as a compromised or buggy signer might write it.
fn forged_certificate() -> String {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "dora");
    dn.push(DnType::OrganizationName, EVIL_GROUP);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.self_signed(&key).unwrap().pem()
}

/// The real signer cannot be made to mis-sign, so the test plays it: while dora's request waits for
/// a person (Manual policy), the admin writes a forged certificate through the status subresource;
/// then the policy turns Auto, kubejit approves, and must notice the certificate is not what it
/// approved: one `certificateMismatch` audit record, one Warning Event, the counter at 1 — and no
/// repeat when the CSR is reconciled again.
#[test]
fn a_certificate_that_differs_from_the_approval_raises_one_alarm() {
    let (cp, ctl) = setup();
    cp.apply(&flip_policy("Manual")).unwrap();
    let csr = fixture::Csr::new("mismatch", "dora", "approver-test:flip");
    fixture::create_ok(cp, fixture::As::Impersonating("dora", REQUESTERS), &csr);
    fixture::wait_audit(ctl, &csr.name, "certificatePending");
    let cert = base64::engine::general_purpose::STANDARD.encode(forged_certificate());
    let patch = json!({"status": {"certificate": cert}}).to_string();
    cp.admin(&[
        "patch",
        "csr",
        &csr.name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .unwrap();
    cp.apply(&flip_policy("Auto")).unwrap();

    let (type_, reason, _) = fixture::wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy")
    );
    let record = fixture::wait_audit(ctl, &csr.name, "certificateMismatch");
    assert_eq!(record["subject"], "dora");
    assert_eq!(record["decisionReason"], "CertificateMismatch");
    assert_eq!(record["groups"], json!(["approver-test:flip"]));
    let why = record["reason"].as_str().unwrap();
    assert!(
        why.contains("groups") && why.contains("public key"),
        "{why}"
    );
    let (_, note, event_type) = fixture::wait_event(cp, &csr.name, "CertificateMismatch");
    assert_eq!(event_type, "Warning");
    assert!(
        note.contains("does not match what kubejit approved"),
        "{note}"
    );

    // Reconcile everything again (a policy change does), then make sure a later CSR was decided.
    cp.apply(&flip_policy("Auto").replace("30m", "29m"))
        .unwrap();
    let later = fixture::Csr::new("after-mismatch", "dora", "approver-test:flip");
    fixture::create_ok(cp, fixture::As::Impersonating("dora", REQUESTERS), &later);
    fixture::wait_decided(cp, &later.name);
    support::eventually(fixture::WAIT, "the later certificate", || {
        fixture::get_csr(cp, &later.name)["status"]["certificate"]
            .as_str()
            .map(str::to_owned)
    });
    let alarms = fixture::audit_for(ctl, &csr.name)
        .into_iter()
        .filter(|r| r["kind"] == "certificateMismatch")
        .count();
    assert_eq!(alarms, 1, "one alarm per CSR, not one per reconcile");
    let metrics = ctl.metrics();
    assert!(
        metrics.contains("kubejit_approver_certificate_mismatches_total 1\n"),
        "{metrics}"
    );
    // The properly signed later certificate raised nothing.
    assert!(
        fixture::audit_for(ctl, &later.name)
            .iter()
            .all(|r| r["kind"] != "certificateMismatch")
    );
}
