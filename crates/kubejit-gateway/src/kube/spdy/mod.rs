//! The SPDY/3.1 port-forward client that kubectl ≥ 1.31 speaks, tunnelled through the apiserver
//! in WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`): the kubelet then serves its SPDY
//! port-forward instead of its WebSocket one, which costs it about half the CPU per byte.

mod frame;
mod headers;
mod portforward;

pub use frame::{Decoder, FrameError};
pub use portforward::{Action, DATA_STREAM, Streams, open};

/// Frame builders the session needs for its own writes.
pub mod send {
    pub use super::frame::{CANCEL, data, rst_stream};
}
