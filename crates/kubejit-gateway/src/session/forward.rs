//! `ssh -L LOCAL:POD.NAMESPACE:PORT`: a `direct-tcpip` channel becomes a pod port-forward as the
//! person. The host names the pod; nothing is resolved or dialled by the gateway itself. The
//! apiserver chooses the protocol: SPDY tunnelled over its WebSocket (`forward_spdy`), or, where it
//! does not tunnel, `v4.channel.k8s.io` (here).

use std::sync::Arc;

use futures::{SinkExt as _, StreamExt as _};
use kubejit_core::names::{NameError, NamespaceName, ObjectName};
use russh::Channel;
use russh::server::Msg;
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;

use super::inbox::{Inbox, Taken, Window};
use super::live::Live;
use super::report::error_chain;
use crate::kube::{ForwardOffer, ForwardProtocol, Permission, PersonClient, Upgraded};

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("forward target must be POD.NAMESPACE")]
    Target,
    #[error("forward port must be 1-65535")]
    Port,
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("port-forwarding is not permitted by the certificate")]
    NotPermitted,
    #[error("the apiserver refused the port-forward: {0}")]
    Refused(String),
}

/// The pod and namespace in `host` (`pod.namespace`: the namespace is a DNS label, so it is the
/// part after the last dot) and the port.
pub fn parse_target(
    host: &str,
    port: u32,
) -> Result<(ObjectName, NamespaceName, u16), ForwardError> {
    let (pod, ns) = host.rsplit_once('.').ok_or(ForwardError::Target)?;
    let port = u16::try_from(port).map_err(|_| ForwardError::Port)?;
    if port == 0 {
        return Err(ForwardError::Port);
    }
    Ok((
        ObjectName::parse_as("pod name", pod)?,
        NamespaceName::parse(ns)?,
        port,
    ))
}

/// A port-forward the apiserver accepted, in the protocol it chose.
#[derive(Debug)]
pub struct Opened {
    ws: Upgraded,
    protocol: ForwardProtocol,
}

/// Opens the pod port-forward as the person; the caller accepts the SSH channel only on success,
/// then hands the stream to [`start_forward`].
pub async fn open_forward(
    person: &PersonClient,
    pod: &ObjectName,
    namespace: &NamespaceName,
    port: u16,
    offer: ForwardOffer,
) -> Result<(Opened, Permission), ForwardError> {
    let perm = Permission {
        verb: "create",
        resource: "pods",
        subresource: Some("portforward"),
        namespace: namespace.clone(),
        name: Some(pod.clone()),
    };
    match person.portforward(namespace, pod, port, offer).await {
        Ok((ws, protocol)) => Ok((Opened { ws, protocol }, perm)),
        Err(e) => match person.allowed(&perm).await {
            Ok(false) => Err(ForwardError::Refused(format!("forbidden: cannot {perm}"))),
            Ok(true) | Err(_) => Err(ForwardError::Refused(error_chain(&e))),
        },
    }
}

/// Starts moving bytes both ways in the protocol the apiserver chose.
pub fn start_forward(
    channel: Channel<Msg>,
    opened: Opened,
    port: u16,
    live: Arc<Live>,
    inbox: Arc<Inbox>,
    window: Window,
) {
    tracing::debug!(protocol = ?opened.protocol, "port-forward opened");
    match opened.protocol {
        ForwardProtocol::SpdyTunnel => {
            super::forward_spdy::start(channel, opened.ws, port, live, inbox, window);
        }
        ForwardProtocol::ChannelV4 => start_v4(channel, opened.ws, port, live, inbox, window),
    }
}

/// The largest WebSocket frame sent to the pod: a window's worth of client bytes goes out in a few
/// frames (kube's own Portforwarder sends 4 KiB frames), well inside what the apiserver accepts.
const MAX_FRAME: usize = 256 * 1024;

/// The port-forward protocol's data and error channels (`v4.channel.k8s.io`, one port).
const DATA: u8 = 0;
const ERROR: u8 = 1;

/// `v4.channel.k8s.io`: client bytes arrive in `inbox` (the handler's `data` callback
/// fills it) and the client's window is granted back through `window` only once they are sent on
/// to the pod, so a slow pod slows the client instead of filling the gateway's memory. Pod bytes
/// go to the client as they come, bounded by the client's own window.
fn start_v4(
    channel: Channel<Msg>,
    ws: Upgraded,
    port: u16,
    live: Arc<Live>,
    inbox: Arc<Inbox>,
    mut window: Window,
) {
    let id = channel.id();
    // The read half is not used: client bytes come through the inbox (see `inbox`).
    let (_read, write) = channel.split();
    tokio::spawn(async move {
        let (mut to_pod, mut from_pod) = ws.split();
        let inbound_live = Arc::clone(&live);
        let inbound = async move {
            loop {
                match inbox.take().await {
                    Taken::Bytes(chunk) => {
                        for part in chunk.chunks(MAX_FRAME) {
                            let mut frame = Vec::with_capacity(part.len() + 1);
                            frame.push(DATA);
                            frame.extend_from_slice(part);
                            if to_pod.send(Message::binary(frame)).await.is_err() {
                                return Err(());
                            }
                        }
                        inbound_live.add_in(chunk.len() as u64);
                        if !window.consumed(chunk.len()).await {
                            return Err(());
                        }
                    }
                    Taken::Eof => {
                        // The protocol has no half-close for a port: the client is done, so is
                        // the forward once the pod's last bytes are read (as kube's own does).
                        let _ = to_pod.send(Message::Close(None)).await;
                        return Ok(());
                    }
                    Taken::Overrun => {
                        tracing::warn!("port-forward ended: the client sent past its window");
                        return Err(());
                    }
                }
            }
        };
        let outbound_live = Arc::clone(&live);
        let mut to_client = write.make_writer();
        let write = &write;
        let outbound = async move {
            // Each channel's first frame names the port (2 bytes, little-endian); then data.
            let mut named = [false; 2];
            while let Some(Ok(message)) = from_pod.next().await {
                let bytes = match message {
                    Message::Binary(bytes) => bytes,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some((&ch, data)) = bytes.split_first() else {
                    continue;
                };
                let first = match named.get_mut(usize::from(ch)) {
                    Some(seen) => !std::mem::replace(seen, true),
                    None => {
                        tracing::warn!(channel = ch, "port-forward: unknown channel; ended");
                        break;
                    }
                };
                if first {
                    if data != port.to_le_bytes() {
                        tracing::warn!("port-forward: the apiserver named another port; ended");
                        break;
                    }
                    continue;
                }
                if ch == ERROR {
                    let text = String::from_utf8_lossy(data);
                    tracing::info!(error = %kubejit_core::text::escape_bounded(&text, 200), "port-forward: the pod side reported an error");
                    break;
                }
                if to_client.write_all(data).await.is_err() {
                    break;
                }
                outbound_live.add_out(data.len() as u64);
            }
            let _ = to_client.flush().await;
            // The pod is done talking: the client hears EOF now, not when it stops talking too.
            let _ = write.eof().await;
            Ok::<(), ()>(())
        };
        let _ = tokio::try_join!(inbound, outbound);
        let _ = write.close().await;
        live.done(id);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok = |h: &str, p: u32| {
            parse_target(h, p)
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
                .ok()
        };
        assert_eq!(
            ok("api.payments", 8080),
            Some(("api".into(), "payments".into(), 8080))
        );
        assert_eq!(
            ok("api.v2.payments", 80),
            Some(("api.v2".into(), "payments".into(), 80))
        );
        assert_eq!(ok("api", 80), None);
        assert_eq!(ok("api.payments", 0), None);
        assert_eq!(ok("api.payments", 65536), None);
        assert_eq!(ok("localhost", 22), None);
        // An address is read as POD.NAMESPACE like any host: the gateway never dials it.
        assert_eq!(
            ok("127.0.0.1", 22),
            Some(("127.0.0".into(), "1".into(), 22))
        );
        assert_eq!(ok("api.Payments", 80), None);
        assert_eq!(ok(".payments", 80), None);
        assert_eq!(ok("api/../x.payments", 80), None);
    }
}
