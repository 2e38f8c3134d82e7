//! A non-extractable ECDSA P-256 or Ed25519 key inside a PKCS#11 token, and signing with it through
//! `cryptoki`.
//!
//! The private key is created by the token (`C_GenerateKeyPair` with CKA_SENSITIVE, not
//! CKA_EXTRACTABLE), so no byte of it ever exists in this process. `CKM_ECDSA` signs a digest the
//! caller computed and returns raw `r‖s`; X.509 and TLS want the DER `ECDSA-Sig-Value`, made here.
//! `CKM_EDDSA` (PKCS#11 3.0) signs the message itself and returns the 64-byte signature X.509 uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ED25519, PublicKeyData, SignatureAlgorithm, SigningKey};
use secrecy::SecretString;
use sha2::Digest;

use super::{Pkcs11Uri, TokenError};

/// DER of the named curve prime256v1 (1.2.840.10045.3.1.7), as CKA_EC_PARAMS wants it.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of id-Ed25519 (1.3.101.112), the CKA_EC_PARAMS of an Edwards key (PKCS#11 3.0).
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The key types kubejit creates in and signs with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlgorithm {
    EcdsaP256,
    /// Where the token implements PKCS#11 3.0 EdDSA (SoftHSM2 does; YubiKey PIV before firmware 5.7
    /// does not).
    Ed25519,
}

impl TokenAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ECDSA P-256",
            Self::Ed25519 => "Ed25519",
        }
    }

    fn point_len(self) -> usize {
        match self {
            Self::EcdsaP256 => 65,
            Self::Ed25519 => 32,
        }
    }
}

/// One initialised context per module per process: PKCS#11 modules keep global state, and a second
/// `C_Initialize` (or a `C_Finalize` under another user of the module) would break the first.
fn module(path: &Path) -> Result<Pkcs11, TokenError> {
    static MODULES: OnceLock<Mutex<BTreeMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(|| Mutex::new(BTreeMap::new()))
        .lock()
        .map_err(|_| TokenError::Poisoned)?;
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|source| TokenError::LoadModule {
        path: path.to_owned(),
        source,
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => {
            return Err(TokenError::LoadModule {
                path: path.to_owned(),
                source,
            });
        }
    }
    modules.insert(path.to_owned(), ctx.clone());
    Ok(ctx)
}

/// The slot holding the token labelled `label`; a missing token names the ones present.
fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, TokenError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(TokenError::op("list slots"))?;
    let mut present = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(TokenError::op("read token info"))?;
        let name = info.label().trim_end().to_owned();
        if name == label {
            return Ok(slot);
        }
        present.push(name);
    }
    Err(TokenError::NoSuchToken {
        token: label.to_owned(),
        present,
    })
}

fn login(session: &Session, token: &str, pin: &SecretString) -> Result<(), TokenError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            Err(TokenError::WrongPin {
                token: token.to_owned(),
            })
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(TokenError::PinLocked {
            token: token.to_owned(),
        }),
        Err(source) => Err(TokenError::Op {
            what: "log in",
            source,
        }),
    }
}

/// A logged-in session on the token and the key the URI names.
#[derive(Debug)]
pub struct TokenKey {
    // A PKCS#11 session is not safe to use from two threads at once: every call takes the lock.
    session: Mutex<Session>,
    private: ObjectHandle,
    algorithm: TokenAlgorithm,
    /// The public key as it goes into a SubjectPublicKeyInfo: the uncompressed SEC1 point (65 bytes)
    /// or the Ed25519 key (32 bytes).
    public_point: Vec<u8>,
}

impl TokenKey {
    /// Opens the key the URI names (exactly one private and one public key must match).
    pub fn open(uri: &Pkcs11Uri, pin: PinFn<'_>) -> Result<Self, TokenError> {
        let session = open_session(uri, pin)?;
        let private = find_one(&session, uri, ObjectClass::PRIVATE_KEY)?;
        let public = find_one(&session, uri, ObjectClass::PUBLIC_KEY)?;
        let algorithm = key_algorithm(&session, private)?;
        Self::with_session(session, private, public, algorithm)
    }

    /// The key on its session, its public point read from the token.
    fn with_session(
        session: Session,
        private: ObjectHandle,
        public: ObjectHandle,
        algorithm: TokenAlgorithm,
    ) -> Result<Self, TokenError> {
        let public_point = read_point(&session, public, algorithm)?;
        Ok(Self {
            session: Mutex::new(session),
            private,
            algorithm,
            public_point,
        })
    }

    /// Creates a new key pair inside the token, private half sensitive and never extractable.
    /// Refuses when a key with the URI's id or label exists (nothing is overwritten).
    pub fn generate(
        uri: &Pkcs11Uri,
        pin: PinFn<'_>,
        algorithm: TokenAlgorithm,
    ) -> Result<Self, TokenError> {
        let session = open_session(uri, pin)?;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if !session
                .find_objects(&template(uri, class))
                .map_err(TokenError::op("find objects"))?
                .is_empty()
            {
                return Err(TokenError::KeyExists {
                    token: uri.token.clone(),
                });
            }
        }
        let mut public_tpl = naming(uri);
        public_tpl.extend([
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::EcParams(
                match algorithm {
                    TokenAlgorithm::EcdsaP256 => P256_PARAMS,
                    TokenAlgorithm::Ed25519 => ED25519_PARAMS,
                }
                .to_vec(),
            ),
        ]);
        let mut private_tpl = naming(uri);
        private_tpl.extend([
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        let mechanism = match algorithm {
            TokenAlgorithm::EcdsaP256 => Mechanism::EccKeyPairGen,
            TokenAlgorithm::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
        };
        let (public, private) = session
            .generate_key_pair(&mechanism, &public_tpl, &private_tpl)
            .map_err(TokenError::op("generate a key pair"))?;
        Self::with_session(session, private, public, algorithm)
    }

    /// CKA_EXTRACTABLE and CKA_NEVER_EXTRACTABLE of the private key, as the token reports them.
    pub fn extractability(&self) -> Result<(bool, bool), TokenError> {
        let session = self.session.lock().map_err(|_| TokenError::Poisoned)?;
        let attrs = session
            .get_attributes(
                self.private,
                &[AttributeType::Extractable, AttributeType::NeverExtractable],
            )
            .map_err(TokenError::op("read key attributes"))?;
        let (mut extractable, mut never) = (true, false);
        for attr in attrs {
            match attr {
                Attribute::Extractable(v) => extractable = v,
                Attribute::NeverExtractable(v) => never = v,
                _ => {}
            }
        }
        Ok((extractable, never))
    }

    /// The public key as a SubjectPublicKeyInfo carries it (P-256 point or Ed25519 key).
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public_point
    }

    pub fn algorithm(&self) -> TokenAlgorithm {
        self.algorithm
    }

    /// The signature X.509 and TLS want over `message`: ECDSA P-256 with SHA-256 (DER) or Ed25519.
    /// Blocking: may wait for the token.
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let session = self.session.lock().map_err(|_| TokenError::Poisoned)?;
        match self.algorithm {
            TokenAlgorithm::EcdsaP256 => {
                let digest = sha2::Sha256::digest(message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.private, &digest)
                    .map_err(TokenError::op("sign"))?;
                ecdsa_raw_to_der(&raw).ok_or(TokenError::BadSignature { len: raw.len() })
            }
            TokenAlgorithm::Ed25519 => {
                let params = EddsaParams::new(EddsaSignatureScheme::Pure);
                let raw = session
                    .sign(&Mechanism::Eddsa(params), self.private, message)
                    .map_err(TokenError::op("sign"))?;
                match raw.len() {
                    64 => Ok(raw),
                    len => Err(TokenError::BadSignature { len }),
                }
            }
        }
    }
}

impl PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.algorithm {
            TokenAlgorithm::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
            TokenAlgorithm::Ed25519 => &PKCS_ED25519,
        }
    }
}

impl SigningKey for TokenKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_off_runtime(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

impl TokenKey {
    /// [`Self::sign_message`] from inside async code: a token may take a while (a YubiKey waits for a
    /// touch), so on a multi-threaded runtime the worker first hands its other tasks away and one
    /// signature never stalls the other connections.
    pub fn sign_off_runtime(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.sign_message(message))
            }
            Ok(_) | Err(_) => self.sign_message(message),
        }
    }
}

/// Asked for the PIN only once the module loaded and the token was found, so that a missing token
/// is reported as such rather than as a PIN prompt that cannot succeed.
pub type PinFn<'a> = &'a dyn Fn() -> Result<SecretString, TokenError>;

fn open_session(uri: &Pkcs11Uri, pin: PinFn<'_>) -> Result<Session, TokenError> {
    let ctx = module(&uri.module)?;
    let slot = find_slot(&ctx, &uri.token)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(TokenError::op("open a session"))?;
    login(&session, &uri.token, &pin()?)?;
    Ok(session)
}

/// CKA_ID and CKA_LABEL as the URI gives them.
fn naming(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut attrs = Vec::new();
    if let Some(id) = &uri.id {
        attrs.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        attrs.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    attrs
}

fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut attrs = naming(uri);
    attrs.push(Attribute::Class(class));
    attrs
}

fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<ObjectHandle, TokenError> {
    let tpl = template(uri, class);
    let found = session
        .find_objects(&tpl)
        .map_err(TokenError::op("find objects"))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(TokenError::NoSuchKey {
            token: uri.token.clone(),
            class: class.to_string(),
        }),
        many => Err(TokenError::AmbiguousKey {
            token: uri.token.clone(),
            count: many.len(),
        }),
    }
}

/// The private key's CKA_KEY_TYPE: EC (which must then be P-256, checked on its point) or Edwards.
fn key_algorithm(session: &Session, private: ObjectHandle) -> Result<TokenAlgorithm, TokenError> {
    let attrs = session
        .get_attributes(private, &[AttributeType::KeyType])
        .map_err(TokenError::op("read the key type"))?;
    match attrs.first() {
        Some(Attribute::KeyType(kt)) if *kt == KeyType::EC => Ok(TokenAlgorithm::EcdsaP256),
        Some(Attribute::KeyType(kt)) if *kt == KeyType::EC_EDWARDS => Ok(TokenAlgorithm::Ed25519),
        Some(_) | None => Err(TokenError::UnsupportedKeyType),
    }
}

/// CKA_EC_POINT is a DER OCTET STRING around the point (some modules return the bare point).
fn read_point(
    session: &Session,
    public: ObjectHandle,
    algorithm: TokenAlgorithm,
) -> Result<Vec<u8>, TokenError> {
    let attrs = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(TokenError::op("read the public key"))?;
    let point = attrs.into_iter().find_map(|a| match a {
        Attribute::EcPoint(p) => Some(p),
        _ => None,
    });
    let len = algorithm.point_len();
    // P-256 points are uncompressed (0x04 ‖ X ‖ Y); Ed25519 keys are 32 plain bytes.
    let shaped =
        |p: &[u8]| p.len() == len && (algorithm == TokenAlgorithm::Ed25519 || p[0] == 0x04);
    match point.as_deref() {
        Some([0x04, l, rest @ ..]) if usize::from(*l) == len && shaped(rest) => Ok(rest.to_vec()),
        Some(bare) if shaped(bare) => Ok(bare.to_vec()),
        Some(_) | None => Err(TokenError::UnsupportedKeyType),
    }
}

/// `r‖s` (two 32-byte big-endian integers) to DER `SEQUENCE { INTEGER r, INTEGER s }`.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let (r, s) = raw.split_at(32);
    let body = [der_uint(r), der_uint(s)].concat();
    let mut out = vec![0x30, u8::try_from(body.len()).ok()?];
    out.extend(body);
    Some(out)
}

/// A non-negative DER INTEGER: leading zeros dropped, one 0x00 added when the top bit is set.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    let mut out = vec![0x02, content.len() as u8];
    out.extend(content);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn raw_signatures_of_the_wrong_size_are_refused() {
        for len in [0, 63, 65, 96, 128] {
            assert_eq!(ecdsa_raw_to_der(&vec![1; len]), None, "{len}");
        }
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let mut raw = vec![0u8; 64];
        raw[31] = 0x01; // r = 1
        raw[32] = 0x80; // s has its top bit set
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        // r = 0 is still one content byte.
        let zero = ecdsa_raw_to_der(&[0u8; 64]).unwrap();
        assert_eq!(zero, [0x30, 6, 0x02, 1, 0, 0x02, 1, 0]);
    }

    proptest::proptest! {
        /// Every raw signature becomes DER that ring's ASN.1 ECDSA parser would read back as r and s.
        #[test]
        fn raw_to_der_round_trips(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 64)) {
            let der = ecdsa_raw_to_der(&raw).unwrap();
            proptest::prop_assert_eq!(der[0], 0x30);
            proptest::prop_assert_eq!(der[1] as usize, der.len() - 2);
            let mut rest = &der[2..];
            for half in raw.chunks(32) {
                proptest::prop_assert_eq!(rest[0], 0x02);
                let len = rest[1] as usize;
                let int = &rest[2..2 + len];
                let value: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
                let want: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
                proptest::prop_assert_eq!(value, want);
                proptest::prop_assert!(int.len() == 1 || int[0] != 0 || int[1] & 0x80 != 0);
                rest = &rest[2 + len..];
            }
            proptest::prop_assert!(rest.is_empty());
        }
    }
}
