//! One delivery: sign, POST, retry with backoff until delivered, rejected or out of attempts.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kubejit_core::Webhook;
use secrecy::ExposeSecret;

use super::keys::KeySource;
use super::retry::{Answer, RetryPolicy, classify, jitter};
use super::sign::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// HTTP/1.1 over rustls (ring) with the system's CA roots; plain http only where the policy allowed
/// it (loopback). Redirects are not followed. Without readable roots every https delivery fails (and
/// says so), which is the safe way to be broken.
pub(super) fn http_client() -> Result<HttpClient, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(Arc::clone(&provider))
    {
        Ok(b) => b,
        Err(error) => {
            tracing::warn!(%error, "no CA roots for notification webhooks; https deliveries will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// How a delivery ended (the `outcome` label of `kubejit_notify_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Delivered,
    /// A status that is not retried (4xx other than 429, redirects).
    Rejected,
    /// Every attempt failed (network, timeout, 429/5xx).
    Failed,
    /// The key could not be read on the last attempt: nothing unsigned is ever sent.
    NoKey,
    /// Still queued or in flight when the controller shut down.
    Abandoned,
    /// Pushed out of a full queue by a newer notification.
    Dropped,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Self::Delivered,
        Self::Rejected,
        Self::Failed,
        Self::NoKey,
        Self::Abandoned,
        Self::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::NoKey => "no_key",
            Self::Abandoned => "abandoned",
            Self::Dropped => "dropped",
        }
    }
}

/// One queued notification: where to, and the exact body (serialized once, so retries resend the
/// same bytes under the same delivery id).
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub webhook: Webhook,
    pub delivery_id: String,
    pub body: Bytes,
}

/// What went wrong with one attempt (for the log; never the key, never the URL's query).
enum Failure {
    Key(super::keys::KeyError),
    Request(String),
    /// A retryable status, with the receiver's `Retry-After` if it gave one.
    Status(u16, Option<std::time::Duration>),
}

pub(super) async fn deliver(
    client: &HttpClient,
    keys: &dyn KeySource,
    retry: &RetryPolicy,
    job: &Job,
) -> Outcome {
    let url = job.webhook.url.redacted();
    let mut last = Outcome::Failed;
    for attempt in 1..=retry.attempts.max(1) {
        let failure = match attempt_once(client, keys, retry, job).await {
            Ok((status, retry_after)) => match classify(status) {
                Answer::Delivered => return Outcome::Delivered,
                Answer::Rejected => {
                    tracing::warn!(url, delivery = %job.delivery_id, status, "notification webhook refused the delivery; not retrying");
                    return Outcome::Rejected;
                }
                Answer::Retry => Failure::Status(status, retry_after),
            },
            Err(f) => f,
        };
        last = match &failure {
            Failure::Key(_) => Outcome::NoKey,
            Failure::Request(_) | Failure::Status(..) => Outcome::Failed,
        };
        let mut asked = None;
        let error = match failure {
            Failure::Key(e) => crate::error::chain(&e),
            Failure::Request(e) => e,
            Failure::Status(s, retry_after) => {
                asked = retry_after;
                format!("HTTP {s}")
            }
        };
        tracing::warn!(url, delivery = %job.delivery_id, attempt, attempts = retry.attempts, %error, "notification delivery attempt failed");
        if attempt < retry.attempts {
            // A receiver that asks for more time gets it, up to the policy's longest delay.
            let delay = retry
                .delay(attempt, jitter())
                .max(asked.unwrap_or_default().min(retry.max_delay));
            tokio::time::sleep(delay).await;
        }
    }
    last
}

async fn attempt_once(
    client: &HttpClient,
    keys: &dyn KeySource,
    retry: &RetryPolicy,
    job: &Job,
) -> Result<(u16, Option<std::time::Duration>), Failure> {
    let key = keys.key(&job.webhook.secret).await.map_err(Failure::Key)?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let sig = signature(key.expose_secret(), &timestamp, &job.body);
    drop(key);
    let request = http::Request::post(job.webhook.url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "kubejit-controller")
        .header(SIGNATURE_HEADER, sig)
        .header(TIMESTAMP_HEADER, timestamp)
        .header(DELIVERY_HEADER, &job.delivery_id)
        .body(Full::new(job.body.clone()))
        .map_err(|e| Failure::Request(format!("failed to build the request: {e}")))?;
    let response = tokio::time::timeout(retry.attempt_timeout, client.request(request))
        .await
        .map_err(|_| Failure::Request(format!("no answer within {:?}", retry.attempt_timeout)))?
        // hyper-util's error names the stage (connect, TLS, I/O), not the URL.
        .map_err(|e| Failure::Request(crate::error::chain(&e)))?;
    let retry_after = retry_after(response.headers().get(http::header::RETRY_AFTER));
    Ok((response.status().as_u16(), retry_after))
}

/// `Retry-After` in delta-seconds (the HTTP-date form is ignored: backoff applies).
fn retry_after(value: Option<&http::HeaderValue>) -> Option<std::time::Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_delta_seconds_only() {
        let h = |v: &str| http::HeaderValue::from_str(v).unwrap();
        let s = std::time::Duration::from_secs;
        assert_eq!(retry_after(Some(&h("120"))), Some(s(120)));
        assert_eq!(retry_after(Some(&h(" 7 "))), Some(s(7)));
        assert_eq!(retry_after(Some(&h("Wed, 21 Oct 2015 07:28:00 GMT"))), None);
        assert_eq!(retry_after(Some(&h("-1"))), None);
        assert_eq!(retry_after(Some(&h("99999999999999999999999"))), None);
        assert_eq!(retry_after(None), None);
    }
}
