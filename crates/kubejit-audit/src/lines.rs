//! Reads JSON lines with a bound on their length, so a file without newlines cannot exhaust memory;
//! and finds which event ids a trail already holds.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;

use crate::AuditError;

/// Longest line kubejit reads from a trail or a spool, newline excluded. A record is a few hundred
/// bytes; the bound leaves room for the largest annotations Kubernetes accepts (256 KiB in total),
/// even with every character escaped, and still caps memory at a few MiB per reader.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// End of input; the buffer is empty.
    Eof,
    /// One line in the buffer, with its trailing newline unless the input ended without one.
    Read,
    /// The line is longer than the limit; the buffer holds its first `limit` bytes or fewer.
    TooLong,
}

/// Reads the next line into `buf` (cleared first), reading at most `limit` bytes before the newline.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                Line::Eof
            } else {
                Line::Read
            });
        }
        let newline = memchr::memchr(b'\n', available);
        let content = newline.unwrap_or(available.len());
        if buf.len().saturating_add(content) > limit {
            return Ok(Line::TooLong);
        }
        let take = newline.map_or(available.len(), |at| at.saturating_add(1));
        buf.extend_from_slice(&available[..take]);
        reader.consume(take);
        if newline.is_some() {
            return Ok(Line::Read);
        }
    }
}

/// Every `eventId` in the trail at `path`. A partial last line (a write in progress) is not a
/// record yet and is skipped.
pub(crate) fn all_event_ids(path: &Path) -> Result<HashSet<String>, AuditError> {
    let mut all = HashSet::new();
    for_each_event_id(path, |id| {
        all.insert(id);
    })?;
    Ok(all)
}

fn for_each_event_id(path: &Path, mut each: impl FnMut(String)) -> Result<(), AuditError> {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(rename = "eventId")]
        event_id: Option<String>,
    }
    let what = path.display().to_string();
    let read_error = |source| AuditError::Read {
        what: what.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (mut buf, mut line) = (Vec::new(), 0_u64);
    loop {
        line = line.saturating_add(1);
        match read_line(&mut reader, &mut buf, MAX_LINE_BYTES).map_err(read_error)? {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                return Err(AuditError::LineTooLong {
                    what,
                    line,
                    limit: MAX_LINE_BYTES,
                });
            }
            Line::Read => {}
        }
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Ok(());
        };
        // Checkpoint lines have no eventId; a line that is not JSON is the verifier's business.
        if let Ok(Id { event_id: Some(id) }) = serde_json::from_slice(body) {
            each(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: usize) -> Vec<(Line, Vec<u8>)> {
        // A tiny buffer so lines span many fill_buf calls.
        let mut reader = std::io::BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut reader, &mut buf, limit).unwrap();
            out.push((line, buf.clone()));
            if matches!(line, Line::Eof | Line::TooLong) {
                return out;
            }
        }
    }

    #[test]
    fn splits_lines_and_keeps_a_missing_final_newline_visible() {
        let got = lines(b"ab\n\ncde", 10);
        let want = vec![
            (Line::Read, b"ab\n".to_vec()),
            (Line::Read, b"\n".to_vec()),
            (Line::Read, b"cde".to_vec()),
            (Line::Eof, Vec::new()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn the_limit_counts_content_not_the_newline() {
        let cases: [(&[u8], Line); 4] = [
            (b"1234\n", Line::Read),
            (b"1234", Line::Read),
            (b"12345\n", Line::TooLong),
            (b"12345", Line::TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(lines(input, 4)[0].0, want, "{input:?}");
        }
    }

    #[test]
    fn a_huge_line_is_refused_without_reading_it_all() {
        use std::io::Read;
        let mut reader = std::io::BufReader::new(std::io::repeat(b'x').take(1 << 40));
        let mut buf = Vec::new();
        let line = read_line(&mut reader, &mut buf, 1024).unwrap();
        assert_eq!(line, Line::TooLong);
        assert!(buf.len() <= 1024);
    }
}
