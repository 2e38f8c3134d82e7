//! Hardware-backed keys: a PKCS#11 URI, the token PIN, and a non-extractable key signing in the token.

mod key;
mod pin;
mod uri;

use std::path::PathBuf;

pub use key::{PinFn, TokenAlgorithm, TokenKey};
pub use pin::{PIN_ENV, read_pin};
pub use uri::{Pkcs11Uri, UriError};

impl Pkcs11Uri {
    /// Opens the key this URI names, reading the PIN from the URI's source (see [`read_pin`]).
    pub fn open_key(&self) -> Result<TokenKey, TokenError> {
        TokenKey::open(self, &|| read_pin(self.pin_file.as_deref(), &self.token))
    }

    /// Generates the key this URI names inside the token (see [`TokenKey::generate`]).
    pub fn generate_key(&self, algorithm: TokenAlgorithm) -> Result<TokenKey, TokenError> {
        TokenKey::generate(
            self,
            &|| read_pin(self.pin_file.as_deref(), &self.token),
            algorithm,
        )
    }
}

/// Why the token could not be used. A wrong PIN or a missing token is named as such.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid PKCS#11 URI: {0}")]
    Uri(#[from] UriError),
    #[error("failed to load PKCS#11 module {path}")]
    LoadModule {
        path: PathBuf,
        #[source]
        source: cryptoki::error::Error,
    },
    #[error("no token labelled {token:?} is present (tokens present: {present:?})")]
    NoSuchToken { token: String, present: Vec<String> },
    #[error("wrong PIN for token {token:?}")]
    WrongPin { token: String },
    #[error("the PIN of token {token:?} is locked; unblock it with the token's SO PIN")]
    PinLocked { token: String },
    #[error(
        "no PIN: add pin-source=file:PATH to the URI, set KUBEJIT_PKCS11_PIN, or run on a terminal to be asked"
    )]
    NoPin,
    #[error("KUBEJIT_PKCS11_PIN is not UTF-8")]
    PinNotUtf8,
    #[error("failed to read PIN file {path}")]
    ReadPin {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("PIN file {path} has mode {mode:o}; make it private (chmod 600)")]
    PinFileTooOpen { path: PathBuf, mode: u32 },
    #[error("PIN file {path} is empty")]
    EmptyPin { path: PathBuf },
    #[error("no {class} in token {token:?} matches the URI's id/object")]
    NoSuchKey { token: String, class: String },
    #[error("{count} keys in token {token:?} match the URI; give both id and object")]
    AmbiguousKey { token: String, count: usize },
    #[error("a key with this id/object already exists in token {token:?}; nothing was generated")]
    KeyExists { token: String },
    #[error("the token key is neither ECDSA P-256 nor Ed25519")]
    UnsupportedKeyType,
    #[error("the token returned a {len}-byte ECDSA signature, not 64")]
    BadSignature { len: usize },
    #[error("failed to {what} on the token")]
    Op {
        what: &'static str,
        #[source]
        source: cryptoki::error::Error,
    },
    #[error("a previous token operation panicked")]
    Poisoned,
}

impl TokenError {
    fn op(what: &'static str) -> impl Fn(cryptoki::error::Error) -> Self {
        move |source| Self::Op { what, source }
    }
}
