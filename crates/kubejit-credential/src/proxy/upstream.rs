//! The apiserver leg: mTLS with the short-lived certificate and the token-held key, the certificate
//! swapped in place on renewal (new connections use it; established ones carry on).

use std::sync::{Arc, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::ProxyError;
use crate::token::{TokenAlgorithm, TokenKey};

/// The token key as rustls sees it: ECDSA P-256 with SHA-256, or Ed25519; one scheme each.
#[derive(Debug, Clone)]
pub struct TokenTlsKey(pub Arc<TokenKey>);

impl TokenTlsKey {
    fn the_scheme(&self) -> SignatureScheme {
        match self.0.algorithm() {
            TokenAlgorithm::EcdsaP256 => SignatureScheme::ECDSA_NISTP256_SHA256,
            TokenAlgorithm::Ed25519 => SignatureScheme::ED25519,
        }
    }
}

impl SigningKey for TokenTlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&self.the_scheme())
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.0.algorithm() {
            TokenAlgorithm::EcdsaP256 => SignatureAlgorithm::ECDSA,
            TokenAlgorithm::Ed25519 => SignatureAlgorithm::ED25519,
        }
    }
}

impl Signer for TokenTlsKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.0
            .sign_off_runtime(message)
            .map_err(|e| rustls::Error::General(format!("token signing failed: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.the_scheme()
    }
}

/// Hands rustls the current certificate with the token key.
#[derive(Debug)]
pub struct CurrentCert {
    key: TokenTlsKey,
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CurrentCert {
    pub fn new(key: Arc<TokenKey>) -> Self {
        Self {
            key: TokenTlsKey(key),
            current: RwLock::new(None),
        }
    }

    /// Installs a newly issued certificate (PEM) for every later handshake.
    pub fn install(&self, certificate_pem: &str) -> Result<(), ProxyError> {
        let chain = CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProxyError::Tls(rustls::Error::General(e.to_string())))?;
        let certified = CertifiedKey::new(chain, Arc::new(self.key.clone()));
        let mut slot = self.current.write().map_err(|_| ProxyError::Poisoned)?;
        *slot = Some(Arc::new(certified));
        Ok(())
    }
}

impl ResolvesClientCert for CurrentCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        if !sigschemes.contains(&self.key.the_scheme()) {
            return None;
        }
        self.current.read().ok().and_then(|c| c.clone())
    }

    fn has_certs(&self) -> bool {
        self.current.read().map(|c| c.is_some()).unwrap_or(false)
    }
}

/// TLS to the apiserver: its CA from the kubeconfig, our certificate from `resolver`.
pub fn client_config(
    root_certs: &[Vec<u8>],
    resolver: Arc<CurrentCert>,
) -> Result<Arc<rustls::ClientConfig>, ProxyError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in root_certs {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(ProxyError::Tls)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ProxyError::Tls)?
        .with_root_certificates(roots)
        .with_client_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
