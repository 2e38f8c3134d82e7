//! The kubectl-facing HTTP/1.1 side of the proxy: ordinary requests go over a pool of upstream mTLS
//! connections (one handshake, so one token signature, per pooled connection rather than per kubectl
//! connection); HTTP/1.1 `Upgrade` requests (exec, attach, port-forward over WebSocket or SPDY) get
//! an upstream connection of their own, and once the apiserver answers 101 the two upgraded streams
//! are spliced byte for byte.
//!
//! The apiserver checks the client certificate on every request of a connection, so after a renewal
//! the pool is replaced: later requests open connections with the new certificate, requests in
//! flight (a running `kubectl logs -f` or watch) finish on the connection they have.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::info;

use super::{HANDSHAKE_TIMEOUT, Upstream, bounded};

type Body = BoxBody<Bytes, hyper::Error>;
type Pool = Client<HttpsConnector<HttpConnector>, Incoming>;

/// How long the apiserver may take to start answering (status and headers; bodies stream for as
/// long as they last). Its own limit for ordinary requests is 60 s; a silent peer must not pin a
/// task for ever.
const HEADERS_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle pooled connections are closed after this (the apiserver closes them too, eventually).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Headers that describe one hop, not the request: never forwarded on the pooled path (RFC 9110
/// 7.6.1), where hyper frames each leg itself.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why one request could not be forwarded; kubectl gets a 502 with this text.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("the upstream URL is not valid: {0}")]
    Uri(#[from] hyper::http::uri::InvalidUri),
    #[error("upstream request failed: {0}")]
    Pool(#[from] hyper_util::client::legacy::Error),
    #[error("upstream connection failed: {0}")]
    Connect(#[from] std::io::Error),
    #[error("upstream HTTP failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the apiserver did not answer within {HEADERS_TIMEOUT:?}")]
    Timeout,
}

/// Forwards kubectl's requests to the apiserver.
pub struct Forwarder {
    upstream: Arc<Upstream>,
    tls: Arc<rustls::ClientConfig>,
    pool: RwLock<Pool>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder").finish_non_exhaustive()
    }
}

impl Forwarder {
    pub fn new(upstream: Arc<Upstream>, tls: Arc<rustls::ClientConfig>) -> Self {
        let pool = make_pool(&upstream, &tls);
        Self {
            upstream,
            tls,
            pool: RwLock::new(pool),
        }
    }

    /// A new certificate was installed: later requests use fresh connections (which present it).
    pub fn rotate(&self) {
        let fresh = make_pool(&self.upstream, &self.tls);
        if let Ok(mut pool) = self.pool.write() {
            *pool = fresh;
        }
    }

    /// Serves one kubectl connection (already through the local TLS handshake) until it closes.
    pub async fn serve<S>(self: Arc<Self>, stream: S) -> Result<(), hyper::Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req| {
            let this = Arc::clone(&self);
            async move { Ok::<_, Infallible>(this.handle(req).await) }
        });
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let upgrade = is_upgrade(req.headers());
        let result = match upgrade {
            true => self.upgrade(req).await,
            false => self.pooled(req).await,
        };
        result.unwrap_or_else(|error| {
            info!(%error, upgrade, "request not forwarded");
            bad_gateway(&error)
        })
    }

    async fn pooled(&self, mut req: Request<Incoming>) -> Result<Response<Body>, ForwardError> {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str);
        *req.uri_mut() = format!("https://{}{path}", self.upstream.addr).parse()?;
        strip_hop_by_hop(req.headers_mut());
        let pool = self
            .pool
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let mut resp = tokio::time::timeout(HEADERS_TIMEOUT, pool.request(req))
            .await
            .map_err(|_| ForwardError::Timeout)??;
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp.map(BodyExt::boxed))
    }

    /// Its own upstream connection, the request as it came, and on 101 the two streams spliced.
    async fn upgrade(&self, mut req: Request<Incoming>) -> Result<Response<Body>, ForwardError> {
        let tcp = bounded(TcpStream::connect(&self.upstream.addr)).await?;
        tcp.set_nodelay(true)?;
        let connector = TlsConnector::from(Arc::clone(&self.tls));
        let server_name = self.upstream.server_name.clone();
        let tls = bounded(connector.connect(server_name, tcp)).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn.with_upgrades());
        let local = hyper::upgrade::on(&mut req);
        let mut resp = tokio::time::timeout(HEADERS_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| ForwardError::Timeout)??;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let remote = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                let (Ok(local), Ok(remote)) = tokio::join!(local, remote) else {
                    return;
                };
                let (mut local, mut remote) = (TokioIo::new(local), TokioIo::new(remote));
                if let Err(error) = tokio::io::copy_bidirectional(&mut local, &mut remote).await {
                    info!(%error, "upgraded stream ended");
                }
            });
        }
        Ok(resp.map(BodyExt::boxed))
    }
}

fn make_pool(upstream: &Upstream, tls: &rustls::ClientConfig) -> Pool {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(HANDSHAKE_TIMEOUT));
    // hyper-rustls sets ALPN itself (http/1.1, from enable_http1) and refuses a preset one.
    let mut tls = tls.clone();
    tls.alpn_protocols.clear();
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .with_server_name_resolver(FixedServerNameResolver::new(upstream.server_name.clone()))
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(https)
}

/// `Connection: upgrade` with an `Upgrade` header: exec, attach and port-forward.
fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn bad_gateway(error: &ForwardError) -> Response<Body> {
    let body = Full::new(Bytes::from(format!("kubejit proxy: {error}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn upgrades_are_told_apart_from_ordinary_requests() {
        let cases: [(&[(&str, &str)], bool); 6] = [
            (&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")], true),
            (
                &[
                    ("connection", "keep-alive, upgrade"),
                    ("upgrade", "websocket"),
                ],
                true,
            ),
            (&[("upgrade", "websocket")], false),
            (&[("connection", "Upgrade")], false),
            (&[("connection", "keep-alive")], false),
            (&[], false),
        ];
        for (pairs, want) in cases {
            assert_eq!(is_upgrade(&headers(pairs)), want, "{pairs:?}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_dropped() {
        let mut h = headers(&[
            ("connection", "close, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("keep-alive", "timeout=5"),
            ("accept", "application/json"),
            ("authorization", "Bearer never-here-but-kept-as-end-to-end"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "authorization"]);
    }
}
