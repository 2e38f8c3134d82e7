//! `ssh -L LOCAL:POD.NAMESPACE:PORT`: a `direct-tcpip` channel becomes a pod port-forward as the
//! person. The host names the pod; nothing is resolved or dialled by the gateway itself.

use std::sync::Arc;

use kubejit_core::names::{NameError, NamespaceName, ObjectName};
use russh::Channel;
use russh::server::Msg;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::inbox::{Inbox, Taken, Window};
use super::live::Live;
use super::report::error_chain;
use crate::kube::{Permission, PersonClient};

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

/// Opens the pod port-forward as the person; the caller accepts the SSH channel only on success,
/// then hands it to the returned task.
pub async fn open_forward(
    person: &PersonClient,
    pod: &ObjectName,
    namespace: &NamespaceName,
    port: u16,
) -> Result<(kube::api::Portforwarder, Permission), ForwardError> {
    let perm = Permission {
        verb: "create",
        resource: "pods",
        subresource: Some("portforward"),
        namespace: namespace.clone(),
        name: Some(pod.clone()),
    };
    match person
        .pods(namespace)
        .portforward(pod.as_str(), &[port])
        .await
    {
        Ok(pf) => Ok((pf, perm)),
        Err(e) => match person.allowed(&perm).await {
            Ok(false) => Err(ForwardError::Refused(format!("forbidden: cannot {perm}"))),
            Ok(true) | Err(_) => Err(ForwardError::Refused(error_chain(&e))),
        },
    }
}

/// Starts moving bytes both ways: client bytes arrive in `inbox` (the handler's `data` callback
/// fills it) and the client's window is granted back through `window` only once the pod side has
/// taken them, so a slow pod slows the client instead of filling the gateway's memory.
pub fn start_forward(
    channel: Channel<Msg>,
    mut pf: kube::api::Portforwarder,
    port: u16,
    live: Arc<Live>,
    inbox: Arc<Inbox>,
    mut window: Window,
) {
    let id = channel.id();
    // The read half is not used: client bytes come through the inbox (see `inbox`).
    let (_read, write) = channel.split();
    tokio::spawn(async move {
        let Some(upstream) = pf.take_stream(port) else {
            live.done(id);
            return;
        };
        let (mut from_pod, mut to_pod) = tokio::io::split(upstream);
        let inbound_live = Arc::clone(&live);
        let inbound = async move {
            loop {
                match inbox.take().await {
                    Taken::Bytes(chunk) => {
                        if to_pod.write_all(&chunk).await.is_err() {
                            return false;
                        }
                        inbound_live.add_in(chunk.len() as u64);
                        if !window.consumed(chunk.len()).await {
                            return false;
                        }
                    }
                    Taken::Eof => {
                        let _ = to_pod.shutdown().await;
                        return true;
                    }
                    Taken::Overrun => {
                        tracing::warn!("port-forward ended: the client sent past its window");
                        return false;
                    }
                }
            }
        };
        let outbound_live = Arc::clone(&live);
        let mut to_client = write.make_writer();
        let write = &write;
        let outbound = async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match from_pod.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = buf.get(..n).unwrap_or_default();
                        if to_client.write_all(chunk).await.is_err() {
                            break;
                        }
                        outbound_live.add_out(n as u64);
                    }
                }
            }
            let _ = to_client.flush().await;
            // The pod is done talking: the client hears EOF now, not when it stops talking too.
            let _ = write.eof().await;
            Ok::<(), ()>(())
        };
        let inbound = async move {
            // A broken inbound side ends the forward at once: the pod must not see a clean EOF
            // after lost bytes.
            if inbound.await { Ok(()) } else { Err(()) }
        };
        let _ = tokio::try_join!(inbound, outbound);
        let _ = write.close().await;
        pf.abort();
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
