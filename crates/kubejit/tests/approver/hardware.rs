//! `keys: hardwareWithTouch` on the real control plane: the controller, configured with the test's
//! own vendor root, approves a CSR whose annotation carries a valid PIV attestation chain for the
//! CSR's key (and the signer certifies exactly that key), and denies every bad chain with its own
//! reason, a Denied condition and an audit record naming the key.

use rcgen::PublicKeyData;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

use crate::fixture::{self, As, Csr, setup, unix_now, vendor, wait_audit, wait_decided};

const GROUP: &str = "approver-test:hardware-debug";
const REQUESTER: (&str, &str) = ("harriet", "approver-test-hardware");

/// A P-256 key and harriet's CSR for it (no attestation yet).
fn keyed_csr(name: &str) -> (KeyPair, Csr) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, REQUESTER.0);
    dn.push(DnType::OrganizationName, GROUP);
    params.distinguished_name = dn;
    let mut csr = Csr::new(name, REQUESTER.0, GROUP);
    csr.pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, csr)
}

fn chain_for(key: &KeyPair, policy: [u8; 2], not_after: i64) -> String {
    let v = vendor();
    v.annotation(&v.attest(&key.subject_public_key_info(), Some(policy), not_after))
}

fn create(csr: &Csr) {
    let (cp, _) = setup();
    fixture::create_ok(cp, As::Impersonating(REQUESTER.0, REQUESTER.1), csr);
}

#[test]
fn a_valid_chain_is_approved_and_the_certificate_certifies_the_attested_key() {
    let (cp, ctl) = setup();
    let (key, mut csr) = keyed_csr("hw-ok");
    csr.attestation = Some(chain_for(&key, [2, 2], unix_now() + 86_400));
    create(&csr);

    let (type_, reason, message) = wait_decided(cp, &csr.name);
    assert_eq!(
        (type_.as_str(), reason.as_str()),
        ("Approved", "ApprovedByPolicy"),
        "{message}"
    );
    assert!(
        message.contains("hardware key (PIN once, touch always)"),
        "{message}"
    );
    let record = wait_audit(ctl, &csr.name, "certificateApproved");
    assert_eq!(record["keyAttestation"], "verified: PIN once, touch always");

    // The signer certifies spec.request's key, which is the attested key: nothing else to fool.
    let issued = crate::support::eventually(fixture::WAIT, "the issued certificate", || {
        fixture::get_csr(cp, &csr.name)["status"]["certificate"]
            .as_str()
            .map(str::to_owned)
    });
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(issued)
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
}

#[test]
fn bad_chains_are_denied_each_with_its_reason_and_an_audit_record() {
    let (cp, ctl) = setup();
    let now = unix_now();
    let other_vendor = kubejit_core::testutil::PivVendor::new(now - 3600, now + 86_400);
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut cases: Vec<(&str, Csr)> = Vec::new();
    let mut add = |reason, name: &str, chain: &dyn Fn(&KeyPair) -> Option<String>| {
        let (key, mut csr) = keyed_csr(name);
        csr.attestation = chain(&key);
        cases.push((reason, csr));
    };
    add("KeyAttestationMissing", "hw-none", &|_| None);
    add("KeyAttestationUntrusted", "hw-root", &|k| {
        Some(other_vendor.annotation(&other_vendor.attest(
            &k.subject_public_key_info(),
            Some([2, 2]),
            now + 86_400,
        )))
    });
    add("KeyNotAttested", "hw-otherkey", &|_| {
        Some(chain_for(&other_key, [2, 2], now + 86_400))
    });
    add("KeyAttestationUntrusted", "hw-expired", &|k| {
        Some(chain_for(k, [2, 2], now - 60))
    });
    add("KeyPolicyTooWeak", "hw-notouch", &|k| {
        Some(chain_for(k, [2, 1], now + 86_400))
    });
    add("KeyPolicyTooWeak", "hw-nopin", &|k| {
        Some(chain_for(k, [1, 2], now + 86_400))
    });
    add("KeyAttestationMalformed", "hw-garbage", &|_| {
        Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned())
    });
    add("KeyAttestationMalformed", "hw-huge", &|k| {
        Some(format!(
            "{}{}",
            chain_for(k, [2, 2], now + 86_400),
            " ".repeat(20_000)
        ))
    });
    for (_, csr) in &cases {
        create(csr);
    }
    for (want, csr) in &cases {
        let (type_, reason, message) = wait_decided(cp, &csr.name);
        assert_eq!(
            (type_.as_str(), reason.as_str()),
            ("Denied", *want),
            "{}: {message}",
            csr.name
        );
        let record = wait_audit(ctl, &csr.name, "certificateDenied");
        assert_eq!(record["decisionReason"], *want);
        assert_eq!(record["keyAttestation"], format!("refused: {want}"));
        // Nothing denied is ever issued.
        assert!(fixture::get_csr(cp, &csr.name)["status"]["certificate"].is_null());
    }
}

/// The annotation is metadata, not spec: the requester cannot add it after creating the CSR
/// (kubejit-requester may create, not update), and a chain someone with update rights adds to a
/// decided CSR changes nothing: decided CSRs are never decided again.
#[test]
fn an_annotation_added_after_creation_changes_nothing() {
    let (cp, _) = setup();
    let (key, csr) = keyed_csr("hw-late");
    create(&csr);
    let (_, reason, _) = wait_decided(cp, &csr.name);
    assert_eq!(reason, "KeyAttestationMissing");

    let chain = chain_for(&key, [2, 2], unix_now() + 86_400);
    let annotation = format!("kubejit.dev/key-attestation={chain}");
    let by_requester = fixture::admin_may_fail(
        cp,
        &[
            "annotate",
            "csr",
            &csr.name,
            &annotation,
            "--as",
            REQUESTER.0,
            "--as-group",
            REQUESTER.1,
            "--as-group",
            fixture::REQUESTERS,
        ],
    );
    assert!(
        !by_requester.success,
        "the requester annotated its CSR after creation"
    );
    assert!(
        by_requester.stderr.contains("forbidden"),
        "{}",
        by_requester.stderr
    );

    let by_admin = fixture::admin_may_fail(cp, &["annotate", "csr", &csr.name, &annotation]);
    assert!(by_admin.success, "{}", by_admin.stderr);
    // Give the controller the change to see (it watches CSRs), then check it stayed denied: a
    // later read is the only way to observe "nothing happened".
    let again = crate::support::eventually(fixture::WAIT, "the annotated CSR", || {
        let csr = fixture::get_csr(cp, &csr.name);
        csr["metadata"]["annotations"]["kubejit.dev/key-attestation"]
            .is_string()
            .then_some(csr)
    });
    let conditions = again["status"]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1, "{conditions:?}");
    assert_eq!(conditions[0]["type"], "Denied");
    assert!(again["status"]["certificate"].is_null());
}
