//! The validated notification webhook of a policy: where to send, and which Secret key signs it.
//!
//! The URL is parsed with `http::Uri`, the parser of the HTTP client that sends the notifications, so
//! what is validated here is exactly what is dialled. Plain `http` is refused except to a loopback IP
//! literal (tests, a sidecar): a notification names people and incidents and must not cross a network
//! in clear. Credentials in the URL (`user:pass@`) are refused: they would end up in logs.

use std::fmt;
use std::net::IpAddr;

use super::spec::WebhookSpec;
use crate::names::{NameError, ObjectName};

/// The namespace the webhook's Secret lives in: kubejit's own, the only one the controller may read.
pub const WEBHOOK_SECRET_NAMESPACE: &str = "kubejit-system";

/// Longer URLs are a mistake (or an attempt to smuggle data into logs).
pub const WEBHOOK_URL_MAX: usize = 2048;

/// `notify.webhook`, validated.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Webhook {
    pub url: WebhookUrl,
    /// The Secret (in [`WEBHOOK_SECRET_NAMESPACE`]) and key holding the HMAC key.
    pub secret: SecretKeyRef,
}

/// A webhook URL that parsed and passed the scheme rules. `Display` and `Debug` omit the query,
/// which may carry a token: only [`WebhookUrl::as_str`] gives the whole URL, for dialling.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

/// A key in a Secret's `data`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretKeyRef {
    pub name: ObjectName,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookProblem {
    #[error("is not a URL the HTTP client can parse; write https://host[:port]/path")]
    Unparsable,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("must use https (plain http is allowed only to a loopback IP such as 127.0.0.1)")]
    NotHttps,
    #[error(
        "must not carry credentials (user:password@); put a token in the query or use the HMAC signature"
    )]
    Credentials,
    #[error("must name a host")]
    NoHost,
    #[error(
        "{value:?} is not a Secret data key: use letters, digits, '-', '_' and '.', at most 253 characters"
    )]
    SecretKey { value: String },
    #[error(transparent)]
    Name(#[from] NameError),
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, WebhookProblem> {
        if raw.len() > WEBHOOK_URL_MAX {
            return Err(WebhookProblem::TooLong {
                max: WEBHOOK_URL_MAX,
            });
        }
        let uri: http::Uri = raw.parse().map_err(|_| WebhookProblem::Unparsable)?;
        let authority = uri.authority().ok_or(WebhookProblem::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(WebhookProblem::Credentials);
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(WebhookProblem::NoHost);
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback_ip(host) => {}
            Some(_) | None => return Err(WebhookProblem::NotHttps),
        }
        Ok(Self(uri.to_string()))
    }

    /// The whole URL, query included: for the HTTP client only, never for a log.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without its query: what logs and messages show.
    pub fn redacted(&self) -> &str {
        self.0
            .split_once('?')
            .map_or(self.0.as_str(), |(base, _)| base)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.redacted())?;
        if self.0.contains('?') {
            f.write_str("?<redacted>")?;
        }
        Ok(())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({self})")
    }
}

/// `127.0.0.1`, any 127/8 address, or `[::1]` (as `http::Uri` gives it, brackets included).
fn is_loopback_ip(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Kubernetes' rule for Secret data keys (`IsConfigMapKey`): `[-._a-zA-Z0-9]+`, at most 253, and not
/// `.` or `..`.
fn parse_secret_key(raw: &str) -> Result<String, WebhookProblem> {
    let valid = !raw.is_empty()
        && raw.len() <= 253
        && raw != "."
        && raw != ".."
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(WebhookProblem::SecretKey {
            value: crate::names::shown(raw),
        })
    }
}

impl Webhook {
    /// Validates `spec.notify.webhook`; the error names the sub-field (`url`, `secretRef.name`, …).
    pub(super) fn parse(spec: &WebhookSpec) -> Result<Self, (&'static str, WebhookProblem)> {
        let url = WebhookUrl::parse(&spec.url).map_err(|p| ("url", p))?;
        let name = ObjectName::parse_as("secret name", &spec.secret_ref.name)
            .map_err(|e| ("secretRef.name", e.into()))?;
        let key = parse_secret_key(&spec.secret_ref.key).map_err(|p| ("secretRef.key", p))?;
        Ok(Self {
            url,
            secret: SecretKeyRef { name, key },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases: &[(&str, Result<(), WebhookProblem>)] = &[
            ("https://hooks.example.com/kubejit", Ok(())),
            ("https://hooks.example.com:8443/a?token=s3cret", Ok(())),
            ("http://127.0.0.1:8080/hook", Ok(())),
            ("http://127.1.2.3/hook", Ok(())),
            ("http://[::1]:9000/", Ok(())),
            ("http://localhost/hook", Err(WebhookProblem::NotHttps)),
            (
                "http://127.0.0.1.evil.example.com/",
                Err(WebhookProblem::NotHttps),
            ),
            (
                "http://127.0.0.1@evil.example.com/",
                Err(WebhookProblem::Credentials),
            ),
            ("http://127.999.0.1/", Err(WebhookProblem::NotHttps)),
            ("http://hooks.example.com/", Err(WebhookProblem::NotHttps)),
            ("http://10.0.0.1/", Err(WebhookProblem::NotHttps)),
            ("ftp://hooks.example.com/", Err(WebhookProblem::NotHttps)),
            ("hooks.example.com/path", Err(WebhookProblem::Unparsable)),
            ("/relative", Err(WebhookProblem::NoHost)),
            (
                "https://user:pw@hooks.example.com/",
                Err(WebhookProblem::Credentials),
            ),
            (
                "https://hooks example.com/",
                Err(WebhookProblem::Unparsable),
            ),
            ("", Err(WebhookProblem::Unparsable)),
        ];
        for (raw, want) in cases {
            assert_eq!(WebhookUrl::parse(raw).map(|_| ()), *want, "{raw}");
        }
        let long = format!("https://h.example.com/{}", "a".repeat(WEBHOOK_URL_MAX));
        assert_eq!(
            WebhookUrl::parse(&long).map(|_| ()),
            Err(WebhookProblem::TooLong {
                max: WEBHOOK_URL_MAX
            })
        );
    }

    #[test]
    fn display_and_debug_never_show_the_query() {
        let url = WebhookUrl::parse("https://h.example.com/x?token=s3cret").unwrap();
        assert_eq!(url.to_string(), "https://h.example.com/x?<redacted>");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.redacted(), "https://h.example.com/x");
        assert_eq!(url.as_str(), "https://h.example.com/x?token=s3cret");
    }

    #[test]
    fn secret_keys_follow_kubernetes() {
        for ok in ["hmac", "hmac.key", "a-b_c.d", "K3y"] {
            assert!(parse_secret_key(ok).is_ok(), "{ok}");
        }
        let too_long = "k".repeat(254);
        for bad in ["", ".", "..", "a/b", "a b", "ключ", too_long.as_str()] {
            assert!(parse_secret_key(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the input, parsing never panics, and whatever validates is https, or http to a
        /// loopback IP, with no credentials, and displays without its query.
        #[test]
        fn any_url_is_refused_or_safe(
            scheme in "(https?://|ftp://|)",
            user in "([a-z:]{1,6}@)?",
            host in "(127\\.0\\.0\\.1|127\\.9\\.9\\.9|\\[::1\\]|10\\.0\\.0\\.1|localhost|hooks\\.example\\.com|\\PC{0,8})",
            port in "(:[0-9]{1,5})?",
            rest in "(/|\\?|#|@|\\PC){0,20}",
        ) {
            let raw = format!("{scheme}{user}{host}{port}{rest}");
            if let Ok(url) = WebhookUrl::parse(&raw) {
                let uri: http::Uri = url.as_str().parse().unwrap();
                let authority = uri.authority().unwrap().as_str();
                prop_assert!(!authority.contains('@'));
                match uri.scheme_str() {
                    Some("https") => {}
                    Some("http") => prop_assert!(is_loopback_ip(uri.host().unwrap())),
                    other => prop_assert!(false, "scheme {other:?}"),
                }
                // Shown: the URL up to the query, then a marker; never a byte of the query.
                let (shown, base) = (url.to_string(), url.redacted());
                prop_assert!(!base.contains('?'));
                prop_assert!(url.as_str().starts_with(base));
                prop_assert!(shown == base || shown == format!("{base}?<redacted>"), "{shown}");
            }
        }
    }
}
