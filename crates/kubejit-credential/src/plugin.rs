//! The plugin's flow: cache hit from disk with no network, else lock, ask, wait, verify, cache.

use std::path::PathBuf;
use std::time::Duration;

use kubejit_core::{GroupName, Incident, Ttl};
use kubejit_kube::{ClientOptions, build_client};

use crate::kubeconfig::{KubeconfigDoc, display_paths, resolve_paths};
use crate::narrator::Narrator;
use crate::pkcs10::request_pem;
use crate::request::{
    CsrMeta, create_csr, csr_object, fit_to_request, wait_for_certificate, who_am_i,
};
use crate::token::TokenKey;
use crate::verify::{Expected, verify_certificate};
use crate::{
    Cache, CacheKey, CachedCredential, CredentialError, ExecCredential, ExecInfo, LocalKey,
    now_unix,
};

/// Everything one `kubejit credential` invocation needs, already validated.
#[derive(Debug, Clone)]
pub struct CredentialRequest {
    /// Kubeconfig holding the asking context; `None` follows kubectl's rules.
    pub kubeconfig: Option<PathBuf>,
    /// The asking (everyday, low-privilege) context; `None` is the current context.
    pub context: Option<String>,
    pub groups: Vec<GroupName>,
    pub ttl: Ttl,
    pub incident: Option<Incident>,
    pub reason: Option<String>,
    pub cache_dir: PathBuf,
    /// Bound on waiting, both for another invocation's lock and for the decision on our CSR.
    pub timeout: Duration,
    /// The PIV attestation chain of a token key (see [`read_attestation`]), sent as the CSR's
    /// `kubejit.dev/key-attestation` annotation.
    pub key_attestation: Option<String>,
}

/// Reads a key attestation file (the slot's attestation certificate, then the device f9
/// certificate, PEM) and checks it is what the approver reads, so a bad file fails here, before a
/// CSR is filed, rather than as a denial.
pub fn read_attestation(path: &std::path::Path) -> Result<String, CredentialError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CredentialError::ReadAttestation {
            path: path.to_owned(),
            source,
        })?;
    kubejit_core::csr::key_attestation::parse_annotation(&text).map_err(|source| {
        CredentialError::Attestation {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(text)
}

impl CredentialRequest {
    fn sorted_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.groups.iter().map(|g| g.as_str().to_owned()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    fn cache_key(&self, server: String) -> CacheKey {
        CacheKey {
            server,
            kubeconfig: display_paths(&resolve_paths(self.kubeconfig.as_deref()))
                .to_string_lossy()
                .into_owned(),
            context: self.context.clone().unwrap_or_default(),
            groups: self.sorted_groups(),
            incident: self
                .incident
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// The cache hit alone, as the thin `kubejit-credential` binary serves it: `None` unless kubectl
/// passed the cluster (without it the server comes from the kubeconfig, which the hit path does not
/// read) and a fresh entry exists for exactly this request. The same key and lookup as
/// [`get_credential`], so both binaries answer from the same entry.
pub fn cached_credential(
    req: &CredentialRequest,
    info: &ExecInfo,
) -> Result<Option<ExecCredential>, CredentialError> {
    let Some(cluster) = &info.cluster else {
        return Ok(None);
    };
    let cache = Cache::open(&req.cache_dir)?;
    let key = req.cache_key(cluster.server.clone());
    Ok(cache
        .load_fresh(&key, now_unix())?
        .map(|hit| hit.exec_credential()))
}

/// Returns a credential for kubectl: from the cache when fresh, otherwise by a new request.
pub fn get_credential(
    req: &CredentialRequest,
    info: &ExecInfo,
) -> Result<ExecCredential, CredentialError> {
    let cache = Cache::open(&req.cache_dir)?;
    let server = match &info.cluster {
        Some(cluster) => cluster.server.clone(),
        None => asking_server(req)?,
    };
    let key = req.cache_key(server);
    if let Some(hit) = cache.load_fresh(&key, now_unix())? {
        return Ok(hit.exec_credential());
    }
    let narrator = Narrator {
        interactive: info.interactive,
    };
    let _lock = cache.lock(&key, req.timeout, || {
        narrator
            .say("another kubejit credential is requesting the same certificate; waiting for it");
    })?;
    if let Some(hit) = cache.load_fresh(&key, now_unix())? {
        return Ok(hit.exec_credential());
    }
    check_asking_context(req, &key.server)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CredentialError::Runtime)?;
    let issued = runtime.block_on(issue(req, &narrator))?;
    cache.store(&key, &issued)?;
    Ok(issued.exec_credential())
}

fn asking_server(req: &CredentialRequest) -> Result<String, CredentialError> {
    let doc = KubeconfigDoc::load(&resolve_paths(req.kubeconfig.as_deref()))?;
    let context = doc.context_name(req.context.as_deref())?;
    doc.context_server(&context)
}

/// The asking context must be a different identity than the plugin (or we would recurse) and must
/// talk to the cluster kubectl wants a credential for.
fn check_asking_context(req: &CredentialRequest, target: &str) -> Result<(), CredentialError> {
    let doc = KubeconfigDoc::load(&resolve_paths(req.kubeconfig.as_deref()))?;
    let context = doc.context_name(req.context.as_deref())?;
    if doc.uses_kubejit_exec(&context)? {
        return Err(CredentialError::RecursiveContext { context });
    }
    let asking = doc.context_server(&context)?;
    if asking.trim_end_matches('/') != target.trim_end_matches('/') {
        return Err(CredentialError::ClusterMismatch {
            asking,
            target: target.to_owned(),
        });
    }
    Ok(())
}

/// Key, CSR, decision, verification. Everything the apiserver returns is checked before it is kept.
async fn issue(
    req: &CredentialRequest,
    narrator: &Narrator,
) -> Result<CachedCredential, CredentialError> {
    let key = LocalKey::generate()?;
    let issued = request_certificate(req, narrator, key.key_pair(), key.public_key_raw()).await?;
    Ok(CachedCredential {
        username: issued.username,
        csr_name: issued.csr_name,
        validity: issued.validity,
        certificate_pem: issued.certificate_pem,
        private_key_pem: key.private_key_pem(),
    })
}

/// A certificate issued for a key this process does not hold (it stays in a PKCS#11 token).
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub username: String,
    pub csr_name: String,
    pub validity: crate::Validity,
    pub certificate_pem: String,
}

/// The CSR flow for a token-held key: no cache (the cache stores a private key, and there is none
/// to store); every call files a new CSR signed by the token and verifies what comes back.
pub fn get_token_certificate(
    req: &CredentialRequest,
    key: &TokenKey,
    info: &ExecInfo,
) -> Result<IssuedCertificate, CredentialError> {
    let server = match &info.cluster {
        Some(cluster) => cluster.server.clone(),
        None => asking_server(req)?,
    };
    check_asking_context(req, &server)?;
    let narrator = Narrator {
        interactive: info.interactive,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CredentialError::Runtime)?;
    runtime.block_on(request_certificate(
        req,
        &narrator,
        key,
        key.public_key_raw(),
    ))
}

/// Who am I, sign the CSR with `key` (the token signs in place: one short blocking call before any
/// await), file it, wait for the decision, and verify the certificate against `public_key_raw`.
pub async fn request_certificate(
    req: &CredentialRequest,
    narrator: &Narrator,
    key: &impl rcgen::SigningKey,
    public_key_raw: &[u8],
) -> Result<IssuedCertificate, CredentialError> {
    let options = ClientOptions {
        kubeconfig: req.kubeconfig.clone(),
        context: req.context.clone(),
    };
    let client = build_client(&options)
        .await
        .map_err(CredentialError::Client)?;
    let username = who_am_i(&client).await?;
    let groups = req.sorted_groups();
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let pem = request_pem(key, &username, &group_refs)?;
    let incident = req.incident.as_ref().map(Incident::as_str);
    let (ttl, fitted) = fit_to_request(&client, &username, &group_refs, incident, req.ttl).await;
    if let Some(said) = fitted {
        narrator.say(&said);
    }
    let meta = CsrMeta {
        ttl,
        incident,
        reason: req.reason.as_deref(),
        key_attestation: req.key_attestation.as_deref(),
    };
    let name = create_csr(&client, &csr_object(&pem, &meta)).await?;
    narrator.say(&describe(&name, &username, &group_refs, ttl, incident));
    if narrator.interactive {
        narrator.say(&format!(
            "waiting up to {}s for a decision (`kubectl get csr {name}`)",
            req.timeout.as_secs()
        ));
    }
    let cert = wait_for_certificate(&client, &name, req.timeout, narrator).await?;
    let expected = Expected {
        public_key_raw,
        common_name: &username,
        groups: &group_refs,
    };
    let validity = verify_certificate(&cert, &expected, now_unix())?;
    narrator.say(&format!(
        "{name} issued; certificate valid until {}",
        crate::rfc3339(validity.not_after)
    ));
    Ok(IssuedCertificate {
        username,
        csr_name: name,
        validity,
        certificate_pem: String::from_utf8_lossy(&cert).into_owned(),
    })
}

fn describe(name: &str, user: &str, groups: &[&str], ttl: Ttl, incident: Option<&str>) -> String {
    format!(
        "requested {name}: {user} as [{}] for {ttl}{}",
        groups.join(", "),
        incident
            .map(|i| format!(" (incident {i})"))
            .unwrap_or_default()
    )
}
