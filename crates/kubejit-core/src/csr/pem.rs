//! Strict PEM armour of `spec.request`: exactly one `CERTIFICATE REQUEST` block and nothing else.
//!
//! Kubernetes reads `spec.request` with Go's `pem.Decode`, which takes the *first* block found
//! *anywhere* in the bytes, skips text around it, accepts headers and tolerates spaces. Any input on
//! which a more lenient reader and a stricter one could see different blocks is refused here, so the
//! block kubejit judges is the only block there is: optional ASCII whitespace around one block, a BEGIN
//! and a matching END line, base64 lines (standard alphabet, canonical padding) in between, no headers.
//! Go, OpenSSL and rcgen all write exactly this (64-column lines, LF or CRLF).

use base64::Engine as _;

const BEGIN_MARKER: &[u8] = b"-----BEGIN";
const BEGIN_LINE: &[u8] = b"-----BEGIN ";
const END_LINE: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
pub const LABEL: &str = "CERTIFICATE REQUEST";

/// How the armour deviates from one strict `CERTIFICATE REQUEST` block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error(
        "it is not PEM (Kubernetes reads spec.request only as PEM, so raw DER or other data is refused)"
    )]
    NotPem,
    #[error("it has data before the -----BEGIN line")]
    LeadingData,
    #[error("it contains more than one -----BEGIN marker; send exactly one block")]
    SeveralBlocks,
    #[error("its -----BEGIN line is malformed")]
    BeginLine,
    #[error("its block is labelled {label:?}; expected {expected:?}")]
    Label {
        label: String,
        expected: &'static str,
    },
    #[error("it has no -----END line")]
    MissingEnd,
    #[error("its -----END line is labelled {label:?}; expected {expected:?}")]
    EndLabel {
        label: String,
        expected: &'static str,
    },
    #[error("it has data after the -----END line")]
    TrailingData,
    #[error("it has PEM headers (such as Proc-Type); send none")]
    Headers,
    #[error("line {line} of its body is empty or has characters outside the base64 alphabet")]
    Base64Line { line: usize },
    #[error("its body is not canonical base64: {reason}")]
    Base64 { reason: String },
    #[error("its body is empty")]
    Empty,
}

/// The DER inside the one strict block, or why the bytes are not exactly that.
pub fn decode(bytes: &[u8]) -> Result<Vec<u8>, PemError> {
    decode_labelled(bytes, LABEL)
}

/// The DER inside the one strict block labelled `expected` (same grammar as [`decode`]).
pub fn decode_labelled(bytes: &[u8], expected: &'static str) -> Result<Vec<u8>, PemError> {
    let text = trim_whitespace(bytes);
    let markers = count(bytes, BEGIN_MARKER);
    if !text.starts_with(BEGIN_MARKER) {
        return Err(if markers == 0 {
            PemError::NotPem
        } else {
            PemError::LeadingData
        });
    }
    if markers > 1 {
        return Err(PemError::SeveralBlocks);
    }
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect();
    let (first, rest) = lines.split_first().ok_or(PemError::BeginLine)?;
    let label = armour_label(first, BEGIN_LINE).ok_or(PemError::BeginLine)?;
    if label != expected.as_bytes() {
        return Err(PemError::Label {
            label: shown(label),
            expected,
        });
    }
    let end = rest
        .iter()
        .position(|line| line.starts_with(END_LINE))
        .ok_or(PemError::MissingEnd)?;
    let (body, after) = rest.split_at(end);
    match after {
        [end_line] => check_end_line(end_line, expected)?,
        _ => return Err(PemError::TrailingData),
    }
    decode_body(body)
}

fn check_end_line(line: &[u8], expected: &'static str) -> Result<(), PemError> {
    match armour_label(line, END_LINE) {
        Some(label) if label == expected.as_bytes() => Ok(()),
        Some(label) => Err(PemError::EndLabel {
            label: shown(label),
            expected,
        }),
        None => Err(PemError::EndLabel {
            label: shown(line),
            expected,
        }),
    }
}

/// `-----BEGIN X-----` → `X` (for `prefix` `-----BEGIN `).
fn armour_label<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    line.strip_prefix(prefix)?.strip_suffix(DASHES)
}

fn decode_body(body: &[&[u8]]) -> Result<Vec<u8>, PemError> {
    let mut b64 = Vec::with_capacity(body.iter().map(|l| l.len()).sum());
    for (i, line) in body.iter().enumerate() {
        if line.contains(&b':') {
            return Err(PemError::Headers);
        }
        if line.is_empty() || !line.iter().all(|b| is_base64(*b)) {
            // Line numbers as an editor shows them: the BEGIN line is line 1.
            return Err(PemError::Base64Line {
                line: i.saturating_add(2),
            });
        }
        b64.extend_from_slice(line);
    }
    if b64.is_empty() {
        return Err(PemError::Empty);
    }
    // STANDARD requires canonical padding and zero trailing bits: one text, one DER.
    base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .map_err(|e| PemError::Base64 {
            reason: e.to_string(),
        })
}

/// Untrusted bytes for a message: at most 64 of them, lossily decoded (the `{:?}` in the messages
/// escapes control characters), so a denial never carries a megabyte of the attacker's choosing.
fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.get(..64).unwrap_or(bytes)).into_owned()
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Only the whitespace PEM writers put around a block; form feeds and the like are data.
fn trim_whitespace(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !ws(b))
        .map_or(start, |i| i.saturating_add(1));
    bytes.get(start..end).unwrap_or_default()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
