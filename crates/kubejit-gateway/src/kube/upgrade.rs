//! The WebSocket upgrade for port-forward with the subprotocols kube's `Client::connect` does not
//! offer: SPDY/3.1 tunnelled through the apiserver, with `v4.channel.k8s.io` as the fallback in the
//! same handshake. The request goes through the person's client, so impersonation is unchanged.

use http::header::{self, HeaderValue};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use kube::client::UpgradeConnectionError;
use kube::core::Status;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// SPDY/3.1 carried in WebSocket binary messages (apiserver's `TunnelingHandler`).
pub const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The WebSocket port-forward protocol, for apiservers that do not tunnel SPDY.
pub const CHANNEL_V4: &str = "v4.channel.k8s.io";

/// The protocol the apiserver chose for a port-forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardProtocol {
    SpdyTunnel,
    ChannelV4,
}

/// Which protocols to offer. `Auto` offers the SPDY tunnel first, so an apiserver that tunnels
/// picks it and any other one picks v4 (one handshake either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardOffer {
    #[default]
    Auto,
    ChannelV4Only,
}

/// The most of an error body read (apiserver `Status` objects are small).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The largest WebSocket message accepted from the apiserver: it relays the kubelet's bytes in
/// reads of at most 32 KiB; this bounds what one message can make the gateway buffer.
const MAX_MESSAGE: usize = 2 * 1024 * 1024;

pub type Upgraded = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Upgrades `request` (a port-forward GET) to a WebSocket offering `offer`'s protocols.
pub async fn port_forward(
    client: &kube::Client,
    request: http::Request<Vec<u8>>,
    offer: ForwardOffer,
) -> Result<(Upgraded, ForwardProtocol), kube::Error> {
    let (mut parts, body) = request.into_parts();
    let key = generate_key();
    let offered = match offer {
        ForwardOffer::Auto => "SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io",
        ForwardOffer::ChannelV4Only => CHANNEL_V4,
    };
    let h = &mut parts.headers;
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(offered),
    );
    h.insert(
        header::SEC_WEBSOCKET_KEY,
        HeaderValue::from_str(&key).map_err(|e| kube::Error::HttpError(e.into()))?,
    );
    let res = client
        .send(http::Request::from_parts(
            parts,
            kube::client::Body::from(body),
        ))
        .await?;
    if res.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(refusal(res).await);
    }
    let protocol = verify(&res, &key, offer)?;
    let upgraded = hyper::upgrade::on(res).await.map_err(|e| {
        kube::Error::UpgradeConnection(UpgradeConnectionError::GetPendingUpgrade(e))
    })?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await;
    Ok((ws, protocol))
}

/// The apiserver's answer when it did not upgrade, as kube's own `connect` reports it.
async fn refusal(res: http::Response<kube::client::Body>) -> kube::Error {
    let code = res.status();
    let limited = http_body_util::Limited::new(res.into_body(), MAX_ERROR_BODY);
    let text = match limited.collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let status = match serde_json::from_str::<Status>(&text) {
        Ok(status) => status,
        Err(_) if code.is_client_error() || code.is_server_error() => {
            Status::failure(text.trim(), "Failed to parse error data").with_code(code.as_u16())
        }
        Err(_) => {
            return kube::Error::UpgradeConnection(UpgradeConnectionError::ProtocolSwitch(code));
        }
    };
    kube::Error::Api(status.boxed())
}

/// RFC 6455 §4.1 checks of the 101 response, and the subprotocol among those offered.
fn verify(
    res: &http::Response<kube::client::Body>,
    key: &str,
    offer: ForwardOffer,
) -> Result<ForwardProtocol, kube::Error> {
    let fail = |e| Err(kube::Error::UpgradeConnection(e));
    let h = res.headers();
    let is = |name, want: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case(want))
    };
    if !is(header::UPGRADE, "websocket") {
        return fail(UpgradeConnectionError::MissingUpgradeWebSocketHeader);
    }
    if !is(header::CONNECTION, "upgrade") {
        return fail(UpgradeConnectionError::MissingConnectionUpgradeHeader);
    }
    if h.get(header::SEC_WEBSOCKET_ACCEPT)
        .map(HeaderValue::as_bytes)
        != Some(derive_accept_key(key.as_bytes()).as_bytes())
    {
        return fail(UpgradeConnectionError::SecWebSocketAcceptKeyMismatch);
    }
    match (
        h.get(header::SEC_WEBSOCKET_PROTOCOL)
            .map(HeaderValue::as_bytes),
        offer,
    ) {
        (Some(p), ForwardOffer::Auto) if p == SPDY_TUNNEL.as_bytes() => {
            Ok(ForwardProtocol::SpdyTunnel)
        }
        (Some(p), ForwardOffer::Auto | ForwardOffer::ChannelV4Only)
            if p == CHANNEL_V4.as_bytes() =>
        {
            Ok(ForwardProtocol::ChannelV4)
        }
        _ => fail(UpgradeConnectionError::SecWebSocketProtocolMismatch),
    }
}
