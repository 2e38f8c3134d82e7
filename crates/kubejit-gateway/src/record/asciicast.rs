//! The asciicast v2 line format: the header object, one `[time, code, data]` array per event, and the
//! byte-to-text rule for terminal data.
//!
//! Terminal data is bytes; an asciicast event holds a JSON string. Valid UTF-8 is kept exactly (JSON
//! escapes control characters such as ESC as `\u001b`, losslessly). A multi-byte character split
//! across two reads is carried to the stream's next event, so splitting never corrupts it. Bytes that
//! are not UTF-8 at all are written as U+FFFD (what asciinema and every terminal do too) and counted
//! ([`super::Finished::replaced_bytes`]): the only loss, and it is on the record.

use serde::{Deserialize, Serialize};

/// Event codes. `o`, `i`, `r` are asciicast v2's; `e` is kubejit's for stderr of a non-PTY exec.
pub mod code {
    /// Output (a PTY's, or stdout of a non-PTY exec).
    pub const OUTPUT: &str = "o";
    /// Input typed by the user, only when the policy records input.
    pub const INPUT: &str = "i";
    /// Terminal resize, data `"COLSxROWS"`.
    pub const RESIZE: &str = "r";
    /// Stderr of a non-PTY exec. Not part of asciicast v2: players that follow the format skip event
    /// codes they do not know, so they show stdout only; `kubejit recording play` writes these to
    /// its stderr.
    pub const STDERR: &str = "e";
}

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always 2.
    pub version: u32,
    pub width: u16,
    pub height: u16,
    /// Unix seconds when the recording started.
    pub timestamp: i64,
    /// The command the session ran, as the user gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Header {
    /// A v2 header; a zero size (a client that sent none) becomes 80x24, since players need one.
    pub fn new(width: u16, height: u16, timestamp: i64) -> Self {
        let (width, height) = if width == 0 || height == 0 {
            (80, 24)
        } else {
            (width, height)
        };
        Self {
            version: 2,
            width,
            height,
            timestamp,
            command: None,
            title: None,
        }
    }
}

/// One event line: `[seconds, "code", "data"]\n`, seconds with microsecond precision.
pub(crate) fn event_line(at: std::time::Duration, code: &str, data: &str) -> Vec<u8> {
    let data = serde_json::Value::String(data.to_owned()).to_string();
    format!(
        "[{}.{:06}, \"{code}\", {data}]\n",
        at.as_secs(),
        at.subsec_micros()
    )
    .into_bytes()
}

/// Turns one stream's bytes into text, carrying an incomplete trailing character to the next chunk.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    pending: Vec<u8>,
    /// Bytes written as U+FFFD so far.
    pub(crate) replaced: u64,
}

impl Utf8Stream {
    /// The text of `pending + bytes` up to the last complete character.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid` is UTF-8 by construction; from_utf8 cannot fail on it.
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            text.push('\u{fffd}');
                            self.replaced += bad as u64;
                            rest = &after[bad..];
                        }
                        // An incomplete character at the end: wait for the rest of it.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        text
    }

    /// Whatever is still pending at the end of the session, as U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.replaced += self.pending.len() as u64;
        self.pending.clear();
        "\u{fffd}".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn split_characters_are_joined_and_invalid_bytes_counted() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut s = Utf8Stream::default();
        assert_eq!(s.push(&euro[..1]), "");
        assert_eq!(s.push(&euro[1..]), "€");
        assert_eq!(s.push(b"a\xffb\xc3"), "a\u{fffd}b");
        assert_eq!(s.replaced, 1);
        assert_eq!(s.push(b"\xa9"), "é");
        assert_eq!(s.push(b"\xe2\x82"), "");
        assert_eq!(s.finish(), "\u{fffd}");
        assert_eq!(s.replaced, 3);
    }

    #[test]
    fn event_lines_escape_terminal_control_losslessly() {
        let line = event_line(
            Duration::from_micros(1_500_001),
            code::OUTPUT,
            "\u{1b}[2J\"\n\u{7}",
        );
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            "[1.500001, \"o\", \"\\u001b[2J\\\"\\n\\u0007\"]\n"
        );
        let parsed: (f64, String, String) = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed.2, "\u{1b}[2J\"\n\u{7}");
    }

    #[test]
    fn a_zero_size_becomes_a_default_terminal() {
        assert_eq!(
            (Header::new(0, 50, 0).width, Header::new(0, 50, 0).height),
            (80, 24)
        );
        assert_eq!(Header::new(120, 40, 7).width, 120);
    }
}
