//! `ssh -L LOCAL:POD.NAMESPACE:PORT`: a `direct-tcpip` channel becomes a pod port-forward as the
//! person. The host names the pod; nothing is resolved or dialled by the gateway itself.

use std::sync::Arc;

use kubejit_core::names::{NameError, NamespaceName, ObjectName};
use russh::Channel;
use russh::server::Msg;

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

/// Moves bytes both ways until either side closes.
pub async fn pump_forward(
    channel: Channel<Msg>,
    mut pf: kube::api::Portforwarder,
    port: u16,
    live: Arc<Live>,
) {
    let id = channel.id();
    if let Some(upstream) = pf.take_stream(port) {
        let mut upstream = Counted {
            inner: upstream,
            live: Arc::clone(&live),
        };
        let mut stream = channel.into_stream();
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    }
    pf.abort();
    live.done(id);
}

/// The pod side of a forward, counting bytes as they move, so a busy forward is never idle.
struct Counted<S> {
    inner: S,
    live: Arc<Live>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.live.add_out(n as u64);
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &polled {
            self.live.add_in(*n as u64);
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
