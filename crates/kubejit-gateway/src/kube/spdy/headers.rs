//! SPDY/3 name/value header blocks, sent as a zlib stream of *stored* (uncompressed) deflate
//! blocks, so no compressor is needed.
//!
//! SPDY/3 compresses every header block of one direction as one zlib stream (preset with the SPDY
//! dictionary). Go's `compress/zlib` reader (which spdystream uses) checks the dictionary only when
//! the stream's header sets FDICT; a header without it (`78 01`) is a valid zlib stream that simply
//! does not refer to the dictionary, and stored blocks refer to nothing. The stream is never
//! finished (BFINAL stays 0), as in SPDY.
//!
//! Each header block ends with an empty stored block, the marker zlib's sync flush writes. It is
//! needed, not decoration: Go's inflater hands out a block's bytes only when the next block begins,
//! and an empty stored block is where it flushes without reading further. Without it, reading the
//! first block runs into the end of its frame and leaves the inflater failed for every later
//! SYN_STREAM (`compressed payload size was incorrect`, seen against moby/spdystream v0.5.1's
//! framer). spdystream also checks that each block is consumed exactly to its frame's end.

/// The zlib stream header: deflate, 32 KiB window, no preset dictionary, (0x7801 % 31 == 0).
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];

/// An empty, non-final stored block: BFINAL/BTYPE byte, LEN = 0, NLEN = 0xffff.
const SYNC_FLUSH: [u8; 5] = [0x00, 0x00, 0x00, 0xff, 0xff];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("SPDY header block of {0} bytes does not fit one stored deflate block")]
pub struct HeadersTooLong(usize);

/// The compression side of one connection's header blocks (client to server).
#[derive(Debug, Default)]
pub struct HeaderEncoder {
    started: bool,
}

impl HeaderEncoder {
    /// `headers` (lowercase names, as SPDY/3 requires) as the next header block of the stream.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Result<Vec<u8>, HeadersTooLong> {
        let raw = name_values(headers);
        let len = u16::try_from(raw.len()).map_err(|_| HeadersTooLong(raw.len()))?;
        let mut out = Vec::with_capacity(raw.len() + 12);
        if !std::mem::replace(&mut self.started, true) {
            out.extend_from_slice(&ZLIB_HEADER);
        }
        // BFINAL = 0, BTYPE = 00 (stored); the remaining bits of this byte are padding.
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(&raw);
        out.extend_from_slice(&SYNC_FLUSH);
        Ok(out)
    }
}

/// The uncompressed block: a 32-bit count, then each name and value with a 32-bit length.
fn name_values(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        for s in [name, value] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_block_carries_the_zlib_header_and_later_ones_do_not() {
        let mut enc = HeaderEncoder::default();
        let first = enc.encode(&[("port", "8080")]).unwrap();
        let raw = name_values(&[("port", "8080")]);
        let mut want = vec![0x78, 0x01, 0x00];
        want.extend_from_slice(&(raw.len() as u16).to_le_bytes());
        want.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
        want.extend_from_slice(&raw);
        want.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        assert_eq!(first, want);
        let second = enc.encode(&[("port", "8080")]).unwrap();
        assert_eq!(second, want[2..]);
        // A valid zlib header: check bits, no FDICT.
        assert_eq!(u16::from_be_bytes(ZLIB_HEADER) % 31, 0);
        assert_eq!(ZLIB_HEADER[1] & 0x20, 0);
    }

    #[test]
    fn name_value_layout() {
        assert_eq!(
            name_values(&[("streamtype", "error")]),
            [
                &[0, 0, 0, 1][..],
                &[0, 0, 0, 10],
                b"streamtype",
                &[0, 0, 0, 5],
                b"error"
            ]
            .concat()
        );
    }

    #[test]
    fn a_block_larger_than_a_stored_block_is_refused() {
        let long = "x".repeat(70_000);
        let mut enc = HeaderEncoder::default();
        assert!(enc.encode(&[("port", &long)]).is_err());
    }
}
