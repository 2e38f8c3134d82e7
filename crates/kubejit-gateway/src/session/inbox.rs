//! Client-to-pod bytes of one channel, held between the SSH connection loop and the pod, with the
//! client's window refilled only as the pod side takes them (backpressure, bounded memory).
//!
//! russh runs with `manual_window_adjust` (vendor/russh/KUBEJIT-PATCHES.md): it debits the channel
//! window as data arrives, drops data beyond it, and never refills it by itself. The handler's
//! `data` callback pushes into an [`Inbox`] without waiting (the connection loop must never wait
//! on one slow pod: it also carries the window adjustments the pod's replies need), and the task
//! that feeds the pod takes from it and grants the window back through a [`Window`] once the bytes
//! are handed on. So a channel never holds more than the window the client was given.

use std::sync::Mutex;

use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::Notify;

/// The receive window every channel starts with (russh `Config::window_size`), and so the most
/// client bytes the gateway holds per channel.
pub const CHANNEL_WINDOW: u32 = 2 * 1024 * 1024;

/// What [`Inbox::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Bytes(Vec<u8>),
    /// The client sent EOF (or the channel closed) and every byte was taken.
    Eof,
    /// The client sent more than its window allowed: bytes were lost, so the stream is broken.
    Overrun,
}

#[derive(Debug, Default)]
struct State {
    buf: Vec<u8>,
    eof: bool,
    overrun: bool,
}

/// One channel's pending client bytes, at most `capacity` of them.
#[derive(Debug)]
pub struct Inbox {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

impl Inbox {
    pub fn new(capacity: u32) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity as usize,
        }
    }

    /// Holds `data` for the pod side; never waits. `false` when it would exceed the window (a
    /// client ignoring flow control; russh already drops such data, this is the second lock): the
    /// stream is then marked broken and its reader ends it.
    pub fn push(&self, data: &[u8]) -> bool {
        let ok = {
            let Ok(mut s) = self.state.lock() else {
                return false;
            };
            if s.eof || s.overrun {
                // Data after EOF is a protocol error; nothing reads it.
                false
            } else if s.buf.len().saturating_add(data.len()) > self.capacity {
                s.overrun = true;
                false
            } else {
                s.buf.extend_from_slice(data);
                true
            }
        };
        self.ready.notify_one();
        ok
    }

    /// The client will send no more.
    pub fn finish(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.eof = true;
        }
        self.ready.notify_one();
    }

    /// Everything pending, waiting until there is something (or EOF, or an overrun).
    pub async fn take(&self) -> Taken {
        loop {
            let ready = self.ready.notified();
            {
                let Ok(mut s) = self.state.lock() else {
                    return Taken::Overrun;
                };
                if s.overrun {
                    return Taken::Overrun;
                }
                if !s.buf.is_empty() {
                    return Taken::Bytes(std::mem::take(&mut s.buf));
                }
                if s.eof {
                    return Taken::Eof;
                }
            }
            ready.await;
        }
    }
}

/// Grants a channel's window back to the client as its bytes are handed on, in batches of half a
/// window (as OpenSSH does), so a bulk transfer costs one adjustment per megabyte, not per packet.
/// The batch threshold cannot stall a sender: while the client waits, every byte it sent is
/// either in flight to us or consumed, so the consumed count reaches the threshold.
#[derive(Debug, Clone)]
pub struct Window {
    handle: Handle,
    channel: ChannelId,
    consumed: u32,
    batch: u32,
}

impl Window {
    pub fn new(handle: Handle, channel: ChannelId) -> Self {
        Self {
            handle,
            channel,
            consumed: 0,
            batch: CHANNEL_WINDOW / 2,
        }
    }

    /// `n` bytes were handed on; `false` when the connection is gone.
    pub async fn consumed(&mut self, n: usize) -> bool {
        self.consumed = self
            .consumed
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if self.consumed < self.batch {
            return true;
        }
        let amount = std::mem::take(&mut self.consumed);
        self.handle.grant_window(self.channel, amount).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn an_inbox_holds_at_most_its_window_and_breaks_past_it() {
        let inbox = Inbox::new(8);
        assert!(inbox.push(b"abcd"));
        assert!(inbox.push(b"efgh"));
        // One byte past the window the client was given: broken, not silently truncated.
        assert!(!inbox.push(b"i"));
        assert_eq!(inbox.take().await, Taken::Overrun);
        assert!(!inbox.push(b"j"));
    }

    #[tokio::test]
    async fn bytes_come_out_in_order_then_eof() {
        let inbox = std::sync::Arc::new(Inbox::new(16));
        assert!(inbox.push(b"ab"));
        assert!(inbox.push(b"cd"));
        assert_eq!(inbox.take().await, Taken::Bytes(b"abcd".to_vec()));
        // Taking frees the window: the next bytes fit again.
        let reader = {
            let inbox = std::sync::Arc::clone(&inbox);
            tokio::spawn(async move { (inbox.take().await, inbox.take().await) })
        };
        tokio::task::yield_now().await;
        assert!(inbox.push(&[7u8; 16]));
        inbox.finish();
        let (first, second) = reader.await.unwrap();
        assert_eq!(first, Taken::Bytes(vec![7u8; 16]));
        assert_eq!(second, Taken::Eof);
        assert!(!inbox.push(b"late"), "nothing is taken after EOF");
    }
}
