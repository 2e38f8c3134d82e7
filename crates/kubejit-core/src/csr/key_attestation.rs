//! The `kubejit.dev/key-attestation` CSR annotation (the PIV attestation chain, read exactly once) and
//! the vendor roots the controller is configured with.
//!
//! The annotation holds two strict PEM `CERTIFICATE` blocks: first the slot's attestation certificate
//! (`yubico-piv-tool -a attest`), then the device's f9 certificate (`-a read-certificate -s f9`).
//! Nothing else: no third block, no text around or between them, the same certificate not twice, and
//! at most [`MAX_ANNOTATION_BYTES`]. Who wrote the annotation does not matter: the attestation binds
//! the CSR's own public key, which only the holder of the private key could self-sign `spec.request`
//! with, so a chain copied onto someone else's CSR attests a key that CSR does not have.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::attestation::{AttestationError, Attested, HardwareKeyPolicy, verify_piv_attestation};
use super::pem::{self, PemError};

/// A real chain is two certificates of about 1 KiB each; anything much larger is refused unread.
pub const MAX_ANNOTATION_BYTES: usize = 16 * 1024;
/// At most this many vendor roots in the controller's configuration.
pub const MAX_ROOTS: usize = 16;

const CERTIFICATE: &str = "CERTIFICATE";
const BEGIN_MARKER: &str = "-----BEGIN";

/// The two DER certificates of the annotation, in the order the annotation must list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationChain {
    /// The slot's attestation certificate: its public key is the attested key.
    pub attestation: Vec<u8>,
    /// The device's f9 certificate, which signed `attestation`.
    pub device: Vec<u8>,
}

/// Why the annotation is not exactly an attestation chain. Every variant is a denial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("the annotation is {len} bytes, more than {MAX_ANNOTATION_BYTES}")]
    TooLarge { len: usize },
    #[error(
        "the annotation holds {count} PEM blocks; it must hold exactly two (attestation, then device f9 certificate)"
    )]
    BlockCount { count: usize },
    #[error("the {which} certificate's PEM is not one strict CERTIFICATE block: {source}")]
    Pem {
        which: &'static str,
        #[source]
        source: PemError,
    },
    #[error("the attestation and device certificates are the same certificate")]
    Duplicate,
}

/// Reads the annotation value; the DER inside is checked by [`verify_chain`].
pub fn parse_annotation(value: &str) -> Result<AttestationChain, AnnotationError> {
    if value.len() > MAX_ANNOTATION_BYTES {
        return Err(AnnotationError::TooLarge { len: value.len() });
    }
    let starts: Vec<usize> = value.match_indices(BEGIN_MARKER).map(|(i, _)| i).collect();
    let [_, second] = starts.as_slice() else {
        return Err(AnnotationError::BlockCount {
            count: starts.len(),
        });
    };
    // Text before the first block or after the second is refused by the strict decoder; text between
    // them ends up after the first block's END line and is refused the same way.
    let (first, rest) = value.split_at(*second);
    let decode = |text: &str, which| {
        pem::decode_labelled(text.as_bytes(), CERTIFICATE)
            .map_err(|source| AnnotationError::Pem { which, source })
    };
    let attestation = decode(first, "attestation")?;
    let device = decode(rest, "device")?;
    if attestation == device {
        return Err(AnnotationError::Duplicate);
    }
    Ok(AttestationChain {
        attestation,
        device,
    })
}

/// The vendor roots an attestation must chain to: configuration (a PEM bundle the controller reads at
/// start), never code. Empty means no hardware key can be verified, so `keys: hardware` denies all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTrust {
    roots: Vec<Vec<u8>>,
}

/// Why a vendor root bundle cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootsError {
    #[error("vendor root {index} is not a strict PEM CERTIFICATE block: {source}")]
    Pem {
        index: usize,
        #[source]
        source: PemError,
    },
    #[error("vendor root {index} is not a DER X.509 certificate")]
    Der { index: usize },
    #[error("the bundle holds {count} roots, more than {MAX_ROOTS}")]
    TooMany { count: usize },
    #[error("the bundle holds no certificate")]
    Empty,
}

impl KeyTrust {
    /// No roots: every attestation is refused.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads a bundle of PEM `CERTIFICATE` blocks (only whitespace between them).
    pub fn from_pem(bundle: &str) -> Result<Self, RootsError> {
        let starts: Vec<usize> = bundle.match_indices(BEGIN_MARKER).map(|(i, _)| i).collect();
        if starts.is_empty() {
            return Err(RootsError::Empty);
        }
        if starts.len() > MAX_ROOTS {
            return Err(RootsError::TooMany {
                count: starts.len(),
            });
        }
        let ends = starts.iter().skip(1).copied().chain([bundle.len()]);
        let mut roots = Vec::with_capacity(starts.len());
        for (index, (start, end)) in starts.iter().copied().zip(ends).enumerate() {
            let text = bundle.get(start..end).unwrap_or_default();
            let der = pem::decode_labelled(text.as_bytes(), CERTIFICATE)
                .map_err(|source| RootsError::Pem { index, source })?;
            match X509Certificate::from_der(&der) {
                Ok(([], _)) => roots.push(der),
                Ok(_) | Err(_) => return Err(RootsError::Der { index }),
            }
        }
        Ok(Self { roots })
    }

    /// DER roots, for tests and diagnostics.
    pub fn roots(&self) -> &[Vec<u8>] {
        &self.roots
    }

    /// Checks `chain` for the CSR key `csr_spki` at Unix time `now`: the chain to a root, validity,
    /// and the attested key. The PIN/touch requirement is the policy's ([`Attested::meets`]).
    pub fn verify_chain(
        &self,
        chain: &AttestationChain,
        csr_spki: &[u8],
        now: i64,
    ) -> Result<Attested, AttestationError> {
        let policy = HardwareKeyPolicy {
            roots: self.roots.clone(),
            require_pin: false,
            require_touch: false,
        };
        verify_piv_attestation(&chain.attestation, &chain.device, csr_spki, &policy, now)
    }
}

#[cfg(test)]
#[path = "key_attestation_tests.rs"]
mod tests;
