//! SPDY/3 frames (draft-mbelshe-httpbis-spdy-00, the framing Kubernetes' moby/spdystream speaks):
//! the few the client sends, encoded, and a bounded, incremental decoder for what the server sends.
//!
//! Every byte from the server is untrusted. The decoder never allocates past [`MAX_DATA`] +
//! [`MAX_CONTROL`] of buffered input, checks each frame's length against its type before
//! waiting for its body, and reports malformed frames as [`FrameError`] (the session then ends:
//! fail closed). Header blocks the server sends (SYN_REPLY, HEADERS) are skipped undecoded: the
//! port-forward client needs nothing from them, and each direction has its own zlib context, so
//! never reading the server's does not affect ours.

/// SPDY version 3 (SPDY/3.1 only adds flow control on the wire, see `session::forward_spdy`).
const VERSION: u16 = 3;

/// The largest DATA payload accepted from the server. The kubelet (and kwok) write one frame per
/// `io.Copy` buffer (32 KiB); anything far larger is refused rather than buffered.
pub const MAX_DATA: usize = 1024 * 1024;
/// The largest control frame accepted (header blocks of SYN_REPLY/HEADERS are the only long ones).
pub const MAX_CONTROL: usize = 64 * 1024;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

pub const FLAG_FIN: u8 = 0x01;

/// RST_STREAM status codes the client sends.
pub const REFUSED_STREAM: u32 = 3;
pub const CANCEL: u32 = 5;

/// A frame from the server, borrowing its payload from the decoder's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        fin: bool,
        data: &'a [u8],
    },
    /// SYN_REPLY: the server accepted one of our streams (its headers are not read).
    Reply {
        stream: u32,
        fin: bool,
    },
    /// HEADERS on a stream (not read; only its FIN flag matters).
    Headers {
        stream: u32,
        fin: bool,
    },
    Reset {
        stream: u32,
        status: u32,
    },
    /// A stream the server opened; port-forward has none, so it is refused.
    ServerStream {
        stream: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    /// SETTINGS, WINDOW_UPDATE and control types this client does not know: the spec says to
    /// ignore unknown types, and spdystream neither sends nor honours windows.
    Ignored,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("SPDY control frame of version {0}, not 3")]
    Version(u16),
    #[error("SPDY {kind} frame of {len} bytes is larger than the {max} accepted")]
    TooLarge {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error("SPDY control frame type {kind} with invalid length {len}")]
    Length { kind: u16, len: usize },
    #[error("SPDY frame on stream 0")]
    StreamZero,
}

/// The frames the server sent so far, decoded as they complete.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the next undecoded frame starts in `buf`.
    pos: usize,
}

impl Decoder {
    /// Adds bytes the server sent. Bytes already decoded are dropped first, so the buffer holds at
    /// most one partial frame plus `bytes`.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` until more bytes arrive. An error leaves the decoder
    /// unusable: the connection is broken.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FrameError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let Some(head) = rest.first_chunk::<8>() else {
            return Ok(None);
        };
        let first = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flags = head[4];
        let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let control = first & 0x8000_0000 != 0;
        let max = if control { MAX_CONTROL } else { MAX_DATA };
        if len > max {
            let kind = if control { "control" } else { "DATA" };
            return Err(FrameError::TooLarge { kind, len, max });
        }
        if control {
            // Checked before the body arrives, so a bad header never waits for (or buffers) it.
            check_control(first, len)?;
        }
        let Some(body) = rest.get(8..8 + len) else {
            return Ok(None);
        };
        self.pos += 8 + len;
        let fin = flags & FLAG_FIN != 0;
        if !control {
            let stream = first & 0x7fff_ffff;
            if stream == 0 {
                return Err(FrameError::StreamZero);
            }
            return Ok(Some(Frame::Data {
                stream,
                fin,
                data: body,
            }));
        }
        control_frame(first as u16, fin, body).map(Some)
    }
}

/// Version and minimum/exact body length of a control frame, from its header alone.
fn check_control(first: u32, len: usize) -> Result<(), FrameError> {
    let version = ((first >> 16) & 0x7fff) as u16;
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let kind = first as u16;
    let ok = match kind {
        SYN_STREAM => len >= 10,
        SYN_REPLY | HEADERS | SETTINGS => len >= 4,
        RST_STREAM | GOAWAY | WINDOW_UPDATE => len == 8,
        PING => len == 4,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(FrameError::Length { kind, len })
    }
}

fn word(body: &[u8], at: usize) -> u32 {
    body.get(at..at + 4)
        .and_then(|b| b.first_chunk::<4>())
        .map_or(0, |b| u32::from_be_bytes(*b))
}

/// A control frame whose length [`check_control`] accepted.
fn control_frame(kind: u16, fin: bool, body: &[u8]) -> Result<Frame<'static>, FrameError> {
    let stream = word(body, 0) & 0x7fff_ffff;
    let needs_stream = matches!(
        kind,
        SYN_STREAM | SYN_REPLY | HEADERS | RST_STREAM | WINDOW_UPDATE
    );
    if needs_stream && stream == 0 && kind != WINDOW_UPDATE {
        return Err(FrameError::StreamZero);
    }
    Ok(match kind {
        SYN_STREAM => Frame::ServerStream { stream },
        SYN_REPLY => Frame::Reply { stream, fin },
        HEADERS => Frame::Headers { stream, fin },
        RST_STREAM => Frame::Reset {
            stream,
            status: word(body, 4),
        },
        PING => Frame::Ping { id: word(body, 0) },
        GOAWAY => Frame::GoAway {
            last_good: stream,
            status: word(body, 4),
        },
        _ => Frame::Ignored,
    })
}

fn control_header(out: &mut Vec<u8>, kind: u16, flags: u8, len: usize) {
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// SYN_STREAM opening client stream `stream` with an already encoded header block.
pub fn syn_stream(stream: u32, header_block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + header_block.len());
    control_header(&mut out, SYN_STREAM, 0, 10 + header_block.len());
    out.extend_from_slice(&stream.to_be_bytes());
    // No associated stream, priority 0, slot 0.
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(header_block);
    out
}

/// DATA on `stream`; `data` must be at most 2^24 - 1 bytes (callers send far less).
pub fn data(stream: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
    out
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    control_header(&mut out, RST_STREAM, 0, 8);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out
}

pub fn ping(id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    control_header(&mut out, PING, 0, 4);
    out.extend_from_slice(&id.to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
