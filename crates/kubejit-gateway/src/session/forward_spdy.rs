//! A `direct-tcpip` channel carried as SPDY/3.1 tunnelled over the apiserver's WebSocket: one SPDY
//! connection per channel (its own error and data streams, `kube::spdy`).
//!
//! One connection per channel, not one per (person, pod): spdystream (the kubelet's SPDY) has no
//! flow control (it neither sends nor honours WINDOW_UPDATE), so on a shared connection one client
//! that stops reading would stall every other channel's bytes behind it. Per channel, a slow client
//! only slows its own TCP path, as with the WebSocket protocol before. Likewise this client sends
//! no WINDOW_UPDATE and keeps no send window: the server would never open one.

use std::sync::Arc;

use futures::stream::SplitSink;
use futures::{SinkExt as _, StreamExt as _};
use russh::Channel;
use russh::server::Msg;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::inbox::{Inbox, Taken, Window};
use super::live::Live;
use crate::kube::Upgraded;
use crate::kube::spdy::{self, Action, DATA_STREAM, Decoder, Streams};

/// The largest DATA frame sent to the pod (client-go sends 32 KiB ones; larger frames cost the
/// kubelet fewer allocations, and a window's worth of client bytes goes out in a few frames).
const MAX_SEND: usize = 256 * 1024;

type ToPod = Arc<Mutex<SplitSink<Upgraded, Message>>>;

async fn send(to_pod: &ToPod, frame: Vec<u8>) -> Result<(), ()> {
    to_pod
        .lock()
        .await
        .send(Message::binary(frame))
        .await
        .map_err(|_| ())
}

/// Opens the two streams, then moves bytes both ways (the flow control of `forward::start_forward`:
/// the client's window is granted back only once its bytes are sent on to the pod).
pub fn start(
    channel: Channel<Msg>,
    ws: Upgraded,
    port: u16,
    live: Arc<Live>,
    inbox: Arc<Inbox>,
    window: Window,
) {
    let id = channel.id();
    let (_read, write) = channel.split();
    tokio::spawn(async move {
        let (to_pod, from_pod) = ws.split();
        let to_pod: ToPod = Arc::new(Mutex::new(to_pod));
        let opened = match spdy::open(port) {
            Ok(frames) => send(&to_pod, frames).await,
            Err(e) => {
                tracing::warn!(error = %e, "port-forward: cannot open the SPDY streams");
                Err(())
            }
        };
        if opened.is_ok() {
            let inbound = inbound(&to_pod, inbox, window, &live);
            let outbound = outbound(&to_pod, from_pod, &write, &live);
            let _ = tokio::try_join!(inbound, outbound);
        }
        let _ = to_pod.lock().await.close().await;
        let _ = write.close().await;
        live.done(id);
    });
}

/// Client bytes to the data stream; the client's EOF half-closes it (SPDY FIN), so the pod's
/// last bytes still come back.
async fn inbound(
    to_pod: &ToPod,
    inbox: Arc<Inbox>,
    mut window: Window,
    live: &Live,
) -> Result<(), ()> {
    loop {
        match inbox.take().await {
            Taken::Bytes(chunk) => {
                for part in chunk.chunks(MAX_SEND) {
                    send(to_pod, spdy::send::data(DATA_STREAM, false, part)).await?;
                }
                live.add_in(chunk.len() as u64);
                if !window.consumed(chunk.len()).await {
                    return Err(());
                }
            }
            Taken::Eof => {
                send(to_pod, spdy::send::data(DATA_STREAM, true, &[])).await?;
                return Ok(());
            }
            Taken::Overrun => {
                tracing::warn!("port-forward ended: the client sent past its window");
                let _ = send(
                    to_pod,
                    spdy::send::rst_stream(DATA_STREAM, spdy::send::CANCEL),
                )
                .await;
                return Err(());
            }
        }
    }
}

/// The server's frames: pod bytes to the client (bounded by the client's window: the next frame is
/// not read until these bytes are written), the error stream's text, pings answered. `Err` ends
/// the whole forward at once (the pod side failed or broke the protocol).
async fn outbound<R>(
    to_pod: &ToPod,
    mut from_pod: R,
    write: &russh::ChannelWriteHalf<Msg>,
    live: &Live,
) -> Result<(), ()>
where
    R: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut to_client = write.make_writer();
    let mut decoder = Decoder::default();
    let mut streams = Streams::default();
    let result = 'read: loop {
        let bytes = match from_pod.next().await {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Text(_))) => {
                tracing::warn!("port-forward: text message in the SPDY tunnel; ended");
                break Err(());
            }
            // The connection ended before both streams did.
            Some(Ok(Message::Close(_)) | Err(_)) | None => break Ok(()),
        };
        decoder.push(&bytes);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "port-forward: malformed SPDY from the apiserver; ended");
                    break 'read Err(());
                }
            };
            match streams.on_frame(frame) {
                Action::None => {}
                Action::ToClient { data, fin } => {
                    if !data.is_empty() {
                        if to_client.write_all(data).await.is_err() {
                            break 'read Err(());
                        }
                        live.add_out(data.len() as u64);
                    }
                    if fin {
                        // The pod is done talking: the client hears EOF now.
                        let _ = to_client.flush().await;
                        let _ = write.eof().await;
                    }
                }
                Action::Send(frame) => {
                    if send(to_pod, frame).await.is_err() {
                        break 'read Err(());
                    }
                }
                Action::Failed(reason) => {
                    tracing::info!(error = %kubejit_core::text::escape_bounded(&reason, 200), "port-forward: the pod side reported an error");
                    break 'read Err(());
                }
            }
            if streams.finished() {
                break 'read Ok(());
            }
        }
    };
    let _ = to_client.flush().await;
    let _ = write.eof().await;
    result
}
