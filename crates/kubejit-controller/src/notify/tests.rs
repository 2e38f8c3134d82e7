//! The notifier against a real local HTTP receiver (a tokio TCP server speaking HTTP/1.1): body,
//! signature, retries, no retry on 4xx, a dead receiver, the bounded shutdown, key rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kubejit_core::{SecretKeyRef, Webhook};
use secrecy::SecretSlice;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

/// A key source holding one key that the test may rotate.
#[derive(Clone)]
struct StaticKey(Arc<Mutex<Vec<u8>>>);

impl KeySource for StaticKey {
    fn key<'a>(&'a self, _: &'a SecretKeyRef) -> BoxFuture<'a, Result<SecretSlice<u8>, KeyError>> {
        let key = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(SecretSlice::from(key)) })
    }
}

/// What the receiver got.
#[derive(Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// Answers the n-th request with `statuses[n]` (the last one repeats); `None` = accept and never
/// answer (a hung receiver). Every request is sent to the returned channel.
async fn receiver(statuses: Vec<Option<u16>>) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook?token=s3cret",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let status = statuses[n.min(statuses.len() - 1)];
            n += 1;
            let tx = tx.clone();
            tokio::spawn(async move {
                let received = read_request(&mut socket).await;
                let _ = tx.send(received);
                match status {
                    Some(code) => {
                        let reply = format!(
                            "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    (url, rx)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Received {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    while buf.len() < head_end + len {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert!(
        head.starts_with("POST /hook?token=s3cret HTTP/1.1"),
        "{head}"
    );
    Received {
        headers,
        body: buf[head_end..head_end + len].to_vec(),
    }
}

fn webhook(url: &str) -> Webhook {
    let spec = kubejit_core::WebhookSpec {
        url: url.to_owned(),
        secret_ref: kubejit_core::SecretKeyRefSpec {
            name: "kubejit-webhook".into(),
            key: "hmac".into(),
        },
    };
    let policy = serde_json::json!({
        "requesters": {"users": ["carol"]}, "maxTTL": "1h", "approval": {"mode": "Auto"},
        "notify": {"webhook": spec},
    });
    let spec: kubejit_core::AccessPolicySpec = serde_json::from_value(policy).unwrap();
    kubejit_core::NamedPolicy::parse("p", &spec)
        .unwrap()
        .policy
        .notify
        .unwrap()
}

fn fast() -> NotifyConfig {
    NotifyConfig {
        queue_capacity: 16,
        concurrency: 4,
        retry: RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            attempt_timeout: Duration::from_secs(30),
        },
        drain: Duration::from_secs(2),
    }
}

fn key(k: &[u8]) -> StaticKey {
    StaticKey(Arc::new(Mutex::new(k.to_vec())))
}

/// A notifier with `keys`, the fast test config, fresh metrics and no shutdown.
fn started(keys: impl KeySource) -> Notifier {
    Notifier::start_with(keys, fast(), Metrics::default(), CancellationToken::new())
}

/// Waits (bounded, to turn a hang into a failure) until `outcome` has been counted `n` times.
async fn until_counted(n: &Notifier, outcome: Outcome, want: u64) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while n.metrics().count(outcome) < want {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{outcome:?} never reached {want}"));
}

fn verified(r: &Received, key: &[u8]) -> bool {
    verify(
        key,
        r.header(TIMESTAMP_HEADER),
        &r.body,
        r.header(SIGNATURE_HEADER),
    )
}

#[tokio::test]
async fn a_delivery_is_signed_and_retried_after_two_500s() {
    let (url, mut got) = receiver(vec![Some(500), Some(500), Some(204)]).await;
    let n = started(key(b"k1"));
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Delivered, 1).await;
    let attempts: Vec<Received> = (0..3).map(|_| got.try_recv().unwrap()).collect();
    assert!(got.try_recv().is_err(), "no fourth attempt after a 2xx");
    let id = attempts[0].header(DELIVERY_HEADER).to_owned();
    for r in &attempts {
        assert!(verified(r, b"k1"), "signature verifies: {r:?}");
        assert!(!verified(r, b"k2"), "and only under the key");
        assert_eq!(
            r.header(DELIVERY_HEADER),
            id,
            "one delivery id for every retry"
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.body, attempts[0].body, "retries resend the same bytes");
    }
    let body: serde_json::Value = serde_json::from_slice(&attempts[0].body).unwrap();
    assert_eq!(body["kind"], "accessRequest");
    assert_eq!(body["phase"], "Pending");
    assert_eq!(body["request"]["name"], "carol-checkout");
    assert_eq!(body["deliveryId"], id.as_str());
    assert_eq!(n.metrics().count(Outcome::Failed), 0);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_a_429_is() {
    let (url, mut got) = receiver(vec![Some(400)]).await;
    let n = started(key(b"k"));
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Rejected, 1).await;
    assert!(got.try_recv().is_ok());
    assert!(got.try_recv().is_err(), "one attempt only after a 400");

    let (url, mut got) = receiver(vec![Some(429), Some(200)]).await;
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Delivered, 1).await;
    assert!(
        got.try_recv().is_ok() && got.try_recv().is_ok(),
        "429 then 200"
    );
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_is_given_up_after_the_bound() {
    let (url, mut got) = receiver(vec![Some(503)]).await;
    let n = started(key(b"k"));
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Failed, 1).await;
    let mut attempts = 0;
    while got.try_recv().is_ok() {
        attempts += 1;
    }
    assert_eq!(attempts, 6);
}

#[tokio::test]
async fn a_rotated_key_signs_the_next_delivery() {
    let (url, mut got) = receiver(vec![Some(200)]).await;
    let keys = key(b"old");
    let n = started(keys.clone());
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Delivered, 1).await;
    *keys.0.lock().unwrap() = b"new".to_vec();
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::Delivered, 2).await;
    assert!(verified(&got.try_recv().unwrap(), b"old"));
    assert!(verified(&got.try_recv().unwrap(), b"new"));
}

/// A receiver that accepts and never answers holds the one delivery slot; notify still returns at
/// once, a full queue drops its oldest entries, and shutdown abandons the rest after the drain.
#[tokio::test]
async fn a_dead_receiver_never_blocks_the_caller_and_shutdown_is_bounded() {
    let (url, mut got) = receiver(vec![None]).await;
    let config = NotifyConfig {
        queue_capacity: 2,
        concurrency: 1,
        drain: Duration::from_millis(200),
        ..fast()
    };
    let shutdown = CancellationToken::new();
    let n = Notifier::start_with(key(b"k"), config, Metrics::default(), shutdown.clone());
    let hook = webhook(&url);
    n.notify(&hook, &payload::sample());
    got.recv().await.unwrap(); // the worker is now stuck on the first delivery
    for _ in 0..5 {
        n.notify(&hook, &payload::sample());
    }
    assert_eq!(
        n.metrics().count(Outcome::Dropped),
        3,
        "5 into a queue of 2"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), n.stopped())
        .await
        .expect("the worker stops after its drain");
    assert_eq!(
        n.metrics().count(Outcome::Abandoned),
        3,
        "one in flight, two queued"
    );
    n.notify(&hook, &payload::sample());
    assert_eq!(n.metrics().count(Outcome::Abandoned), 4, "after shutdown");
    assert_eq!(n.metrics().count(Outcome::Delivered), 0);
}

/// Nothing unsigned is ever sent: without a key, no request reaches the receiver.
#[tokio::test]
async fn no_key_no_delivery() {
    struct NoKey;
    impl KeySource for NoKey {
        fn key<'a>(
            &'a self,
            s: &'a SecretKeyRef,
        ) -> BoxFuture<'a, Result<SecretSlice<u8>, KeyError>> {
            Box::pin(async move {
                Err(KeyError::MissingKey {
                    name: s.name.to_string(),
                    key: s.key.clone(),
                })
            })
        }
    }
    let (url, mut got) = receiver(vec![Some(200)]).await;
    let n = started(NoKey);
    n.notify(&webhook(&url), &payload::sample());
    until_counted(&n, Outcome::NoKey, 1).await;
    assert!(got.try_recv().is_err());
}

/// Docs are code: the shell line docs/requests.md gives receivers computes the signature kubejit
/// sends, for a body the notifier produced.
#[test]
fn the_documented_shell_check_computes_the_signature() {
    const DOC: &str = include_str!("../../../../docs/requests.md");
    let line = DOC
        .lines()
        .find(|l| l.contains("openssl dgst"))
        .expect("docs/requests.md shows the openssl check");
    let dir = std::env::temp_dir().join(format!("kubejit-notify-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = payload::body(&payload::sample(), "d-1").unwrap();
    std::fs::write(dir.join("body.json"), &body).unwrap();
    let key = "6b75626a69742d6b6579";
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(&dir)
        .env("TIMESTAMP", "1700000000")
        .env("KEY", key)
        .output()
        .expect("sh runs (openssl must be installed)");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        signature(key.as_bytes(), "1700000000", &body)
    );
}
