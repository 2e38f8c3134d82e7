//! The proxy's own ephemeral CA: a server certificate for 127.0.0.1 and one client certificate, so that
//! only the holder of the kubeconfig the proxy writes (mode 0600) can use the listener.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use secrecy::SecretString;

use super::ProxyError;

/// Everything the local side needs; the CA's private key is dropped once both leaves are signed.
#[derive(Debug)]
pub struct LocalCa {
    pub ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
    pub client_cert_pem: String,
    pub client_key_pem: SecretString,
}

fn params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(5);
    // The proxy's lifetime is one working session; a restart makes a new CA.
    p.not_after = now + time::Duration::days(1);
    p
}

impl LocalCa {
    pub fn generate(ip: IpAddr) -> Result<Self, ProxyError> {
        let rc = ProxyError::LocalCa;
        let ca_key = KeyPair::generate().map_err(rc)?;
        let mut ca = params("kubejit proxy local CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(rc)?;
        let ca_pem = ca_cert.pem();
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().map_err(rc)?;
        let mut server = params("kubejit proxy");
        server.subject_alt_names = vec![SanType::IpAddress(ip)];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).map_err(rc)?;

        let client_key = KeyPair::generate().map_err(rc)?;
        let mut client = params("kubejit proxy user");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client.signed_by(&client_key, &issuer).map_err(rc)?;
        Ok(Self {
            ca_pem,
            ca_der,
            server_der: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: SecretString::from(client_key.serialize_pem()),
        })
    }

    /// TLS for the listener: our server certificate, and a client certificate from our CA required.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ProxyError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).map_err(ProxyError::Tls)?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ProxyError::Tls(rustls::Error::General(e.to_string())))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ProxyError::Tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server_der.clone()], key)
            .map_err(ProxyError::Tls)?;
        // Bytes are spliced to the apiserver as they are, so both legs must speak HTTP/1.1 (which
        // exec, attach and port-forward upgrades need anyway).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
