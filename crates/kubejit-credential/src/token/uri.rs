//! RFC 7512 PKCS#11 URIs, read strictly: the attributes kubejit uses, and nothing it would ignore.
//!
//! `pkcs11:token=kubejit;id=%01;object=oncall?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin`
//!
//! An attribute kubejit does not act on is refused rather than ignored (fail closed: a URI that says
//! `slot-id=2` must not quietly use another slot), and so is `pin-value`: a PIN never travels in a
//! command line, where `ps` and shell history would keep it.

use std::path::PathBuf;

/// Why a PKCS#11 URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("it does not start with `pkcs11:`")]
    Scheme,
    #[error("`{0}` is not `name=value`")]
    NotAttribute(String),
    #[error("attribute `{0}` is given twice")]
    Duplicate(String),
    #[error(
        "attribute `{0}` is not one kubejit acts on (token, object, id; module-path, pin-source)"
    )]
    Unsupported(String),
    #[error(
        "`pin-value` is refused: a PIN in a command line ends up in `ps` and shell history; use pin-source=file:PATH, KUBEJIT_PKCS11_PIN or the prompt"
    )]
    PinValue,
    #[error("`{0}` has a bad percent-encoding")]
    Percent(String),
    #[error("attribute `{0}` is not UTF-8")]
    NotUtf8(String),
    #[error(
        "`module-path` is missing: name the PKCS#11 module (e.g. libsofthsm2.so, libykcs11.so) by absolute path"
    )]
    NoModule,
    #[error("`module-path` must be an absolute path")]
    RelativeModule,
    #[error("`token` (the token label) is missing")]
    NoToken,
    #[error("neither `id` nor `object` names the key")]
    NoKey,
    #[error("`pin-source` must be `file:` followed by an absolute path")]
    PinSource,
}

/// A validated PKCS#11 URI naming one key in one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub module: PathBuf,
    pub token: String,
    /// CKA_ID bytes.
    pub id: Option<Vec<u8>>,
    /// CKA_LABEL.
    pub object: Option<String>,
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Uri {
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let rest = uri.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut fields = Fields::default();
        for attr in split(path, ';') {
            fields.path(attr)?;
        }
        for attr in split(query, '&') {
            fields.query(attr)?;
        }
        fields.finish()
    }
}

fn split(s: &str, sep: char) -> impl Iterator<Item = &str> {
    s.split(sep).filter(|a| !a.is_empty())
}

#[derive(Default)]
struct Fields {
    module: Option<String>,
    token: Option<String>,
    id: Option<Vec<u8>>,
    object: Option<String>,
    pin_source: Option<String>,
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.replace(value).is_some() {
        return Err(UriError::Duplicate(name.to_owned()));
    }
    Ok(())
}

impl Fields {
    fn path(&mut self, attr: &str) -> Result<(), UriError> {
        let (name, raw) = attr
            .split_once('=')
            .ok_or_else(|| UriError::NotAttribute(attr.to_owned()))?;
        let bytes = percent_decode(raw).ok_or_else(|| UriError::Percent(name.to_owned()))?;
        match name {
            "token" => set(&mut self.token, name, utf8(name, bytes)?),
            "object" => set(&mut self.object, name, utf8(name, bytes)?),
            "id" => set(&mut self.id, name, bytes),
            "pin-value" => Err(UriError::PinValue),
            other => Err(UriError::Unsupported(other.to_owned())),
        }
    }

    fn query(&mut self, attr: &str) -> Result<(), UriError> {
        let (name, raw) = attr
            .split_once('=')
            .ok_or_else(|| UriError::NotAttribute(attr.to_owned()))?;
        let bytes = percent_decode(raw).ok_or_else(|| UriError::Percent(name.to_owned()))?;
        match name {
            "module-path" => set(&mut self.module, name, utf8(name, bytes)?),
            "pin-source" => set(&mut self.pin_source, name, utf8(name, bytes)?),
            "pin-value" => Err(UriError::PinValue),
            other => Err(UriError::Unsupported(other.to_owned())),
        }
    }

    fn finish(self) -> Result<Pkcs11Uri, UriError> {
        let module = PathBuf::from(self.module.ok_or(UriError::NoModule)?);
        if !module.is_absolute() {
            return Err(UriError::RelativeModule);
        }
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .ok_or(UriError::NoToken)?;
        let id = self.id.filter(|i| !i.is_empty());
        let object = self.object.filter(|o| !o.is_empty());
        if id.is_none() && object.is_none() {
            return Err(UriError::NoKey);
        }
        let pin_file = match self.pin_source {
            None => None,
            Some(source) => {
                let path = source
                    .strip_prefix("file:")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .ok_or(UriError::PinSource)?;
                Some(path)
            }
        };
        Ok(Pkcs11Uri {
            module,
            token,
            id,
            object,
            pin_file,
        })
    }
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, UriError> {
    String::from_utf8(bytes).map_err(|_| UriError::NotUtf8(name.to_owned()))
}

/// RFC 3986 percent-decoding; `None` on a `%` not followed by two hex digits.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MODULE: &str = "module-path=/usr/lib/softhsm/libsofthsm2.so";

    #[test]
    fn hostile_or_incomplete_uris_are_refused() {
        let cases: &[(&str, UriError)] = &[
            ("pkcs12:token=a;id=%01", UriError::Scheme),
            ("token=a;id=%01", UriError::Scheme),
            (
                "pkcs11:token=a;id=%01;pin-value=1234?module-path=/m.so",
                UriError::PinValue,
            ),
            (
                "pkcs11:token=a;id=%01?module-path=/m.so&pin-value=1234",
                UriError::PinValue,
            ),
            (
                "pkcs11:token=a;id=%01;slot-id=2?module-path=/m.so",
                UriError::Unsupported("slot-id".into()),
            ),
            (
                "pkcs11:token=a;token=b;id=%01?module-path=/m.so",
                UriError::Duplicate("token".into()),
            ),
            (
                "pkcs11:token=a;id=%0?module-path=/m.so",
                UriError::Percent("id".into()),
            ),
            (
                "pkcs11:token=a;id=%zz?module-path=/m.so",
                UriError::Percent("id".into()),
            ),
            ("pkcs11:token=a;id=%01", UriError::NoModule),
            (
                "pkcs11:token=a;id=%01?module-path=libsofthsm2.so",
                UriError::RelativeModule,
            ),
            ("pkcs11:id=%01?module-path=/m.so", UriError::NoToken),
            ("pkcs11:token=a?module-path=/m.so", UriError::NoKey),
            (
                "pkcs11:token=a;id=%01?module-path=/m.so&pin-source=/run/pin",
                UriError::PinSource,
            ),
            (
                "pkcs11:token=a;id=%01?module-path=/m.so&pin-source=file:pin",
                UriError::PinSource,
            ),
            (
                "pkcs11:token=%ff;id=%01?module-path=/m.so",
                UriError::NotUtf8("token".into()),
            ),
            (
                "pkcs11:token?module-path=/m.so",
                UriError::NotAttribute("token".into()),
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(Pkcs11Uri::parse(uri).as_ref(), Err(want), "{uri}");
        }
    }

    #[test]
    fn full_uri_is_read() {
        let uri = format!(
            "pkcs11:token=kube%20jit;id=%01%ff;object=oncall?{MODULE}&pin-source=file:/run/pin"
        );
        let parsed = Pkcs11Uri::parse(&uri).unwrap();
        assert_eq!(parsed.token, "kube jit");
        assert_eq!(parsed.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(parsed.object.as_deref(), Some("oncall"));
        assert_eq!(
            parsed.module,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(parsed.pin_file, Some(PathBuf::from("/run/pin")));
    }

    proptest::proptest! {
        /// The URI is user input: nothing makes the parser panic.
        #[test]
        fn parse_never_panics(s in "pkcs11:[ -~]{0,80}") {
            let _ = Pkcs11Uri::parse(&s);
        }

        /// Any bytes in `id`, percent-encoded, come back as they were.
        #[test]
        fn id_round_trips(id in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..20)) {
            let enc: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            let parsed = Pkcs11Uri::parse(&format!("pkcs11:token=t;id={enc}?{MODULE}")).unwrap();
            proptest::prop_assert_eq!(parsed.id, Some(id));
        }
    }
}
