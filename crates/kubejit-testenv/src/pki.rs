//! The throwaway PKI: one CA that is both the apiserver's client CA and the CSR signer, plus
//! serving certificates for the apiserver and the kwok "kubelet".

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// Paths of the PEM files written into the environment's directory.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub ca_pem: String,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub kubelet_client_cert: PathBuf,
    pub kubelet_client_key: PathBuf,
    pub node_cert: PathBuf,
    pub node_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_pub: PathBuf,
}

fn write(dir: &Path, name: &str, content: &str) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    std::fs::write(&path, content).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    orgs: &[&str],
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans)?;
    params.distinguished_name.push(DnType::CommonName, cn);
    for org in orgs {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *org);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    pub(crate) fn generate(dir: &Path, node_name: &str) -> Result<Self, Error> {
        let ca_key = KeyPair::generate().map_err(Error::Pki)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(Error::Pki)?;
        ca.distinguished_name
            .push(DnType::CommonName, "kubejit-testenv-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = ca.self_signed(&ca_key).map_err(Error::Pki)?.pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca, ca_key);

        let loopback = |extra: &str| {
            vec![
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
                extra.to_owned(),
            ]
        };
        let server = ExtendedKeyUsagePurpose::ServerAuth;
        let client = ExtendedKeyUsagePurpose::ClientAuth;
        let (api_cert, api_key) = leaf(
            &issuer,
            "kube-apiserver",
            &[],
            loopback("kubernetes.default.svc"),
            server.clone(),
        )
        .map_err(Error::Pki)?;
        let (node_cert, node_key) =
            leaf(&issuer, node_name, &[], loopback(node_name), server).map_err(Error::Pki)?;
        let (kc_cert, kc_key) = leaf(
            &issuer,
            "kube-apiserver-kubelet-client",
            &["kubejit-testenv:kubelet-client"],
            vec![],
            client,
        )
        .map_err(Error::Pki)?;
        let sa = KeyPair::generate().map_err(Error::Pki)?;

        Ok(Self {
            ca_cert: write(dir, "ca.crt", &ca_pem)?,
            ca_key: write(dir, "ca.key", &ca_key_pem)?,
            ca_pem,
            apiserver_cert: write(dir, "apiserver.crt", &api_cert)?,
            apiserver_key: write(dir, "apiserver.key", &api_key)?,
            kubelet_client_cert: write(dir, "kubelet-client.crt", &kc_cert)?,
            kubelet_client_key: write(dir, "kubelet-client.key", &kc_key)?,
            node_cert: write(dir, "node.crt", &node_cert)?,
            node_key: write(dir, "node.key", &node_key)?,
            service_account_key: write(dir, "sa.key", &sa.serialize_pem())?,
            // The apiserver reads PKCS#8 private keys for signing but wants a PUBLIC KEY block to verify.
            service_account_pub: write(dir, "sa.pub", &sa.public_key_pem())?,
        })
    }
}
