//! Reads a recording back and replays it with its timing (`kubejit recording play`): a streaming
//! parser that names the line of anything malformed, and a replay loop that takes its sleep as a
//! function so tests run it without waiting.

use std::io::{BufRead, Read, Write};
use std::time::Duration;

use super::RecordError;
use super::asciicast::{Header, code};

/// The longest line read (a recorder writes one chunk of terminal output per line).
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// What a recorded event does when played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Output(String),
    Stderr(String),
    Input(String),
    Resize { width: u16, height: u16 },
    Marker(String),
}

/// One event: seconds since the start, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: f64,
    pub step: Step,
}

/// How to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// `2.0` plays twice as fast. Must be finite and above 0.
    pub speed: f64,
    /// No pause between events is longer than this (before `speed` applies).
    pub idle_limit: Option<Duration>,
}

/// A recording being read: its header, then its events one at a time.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    line: u64,
    last: f64,
    buf: Vec<u8>,
}

fn malformed(line: u64, problem: impl Into<String>) -> RecordError {
    RecordError::Malformed {
        line,
        problem: problem.into(),
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the header (line 1): an asciicast v2 header with a non-zero size.
    pub fn open(input: R) -> Result<(Header, Self), RecordError> {
        let mut reader = Self {
            input,
            line: 0,
            last: 0.0,
            buf: Vec::new(),
        };
        if !reader.next_line()? {
            return Err(malformed(1, "empty file: no asciicast header"));
        }
        let header: Header = serde_json::from_slice(&reader.buf)
            .map_err(|e| malformed(1, format!("not an asciicast header: {e}")))?;
        if header.version != 2 {
            return Err(malformed(
                1,
                format!("asciicast version {} (only 2 is supported)", header.version),
            ));
        }
        if header.width == 0 || header.height == 0 {
            return Err(malformed(1, "terminal size 0"));
        }
        Ok((header, reader))
    }

    /// The next event, `None` at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<Event>, RecordError> {
        loop {
            if !self.next_line()? {
                return Ok(None);
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return self.parse().map(Some);
        }
    }

    fn parse(&mut self) -> Result<Event, RecordError> {
        let line = self.line;
        let (at, kind, data): (f64, String, String) = serde_json::from_slice(&self.buf)
            .map_err(|e| malformed(line, format!("not an event [time, code, data]: {e}")))?;
        if !at.is_finite() || at < 0.0 {
            return Err(malformed(line, format!("time {at} is not a duration")));
        }
        if at < self.last {
            return Err(malformed(
                line,
                format!("time {at} goes back before {}", self.last),
            ));
        }
        self.last = at;
        let step = match kind.as_str() {
            code::OUTPUT => Step::Output(data),
            code::STDERR => Step::Stderr(data),
            code::INPUT => Step::Input(data),
            code::RESIZE => resize(&data)
                .ok_or_else(|| malformed(line, format!("resize {data:?} is not COLSxROWS")))?,
            "m" => Step::Marker(data),
            other => return Err(malformed(line, format!("unknown event code {other:?}"))),
        };
        Ok(Event { at, step })
    }

    /// Reads the next line into `buf`; false at the end of the input.
    fn next_line(&mut self) -> Result<bool, RecordError> {
        self.buf.clear();
        self.line += 1;
        let read = (&mut self.input)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| RecordError::Read {
                line: self.line,
                source,
            })?;
        if read as u64 > MAX_LINE {
            return Err(malformed(
                self.line,
                format!("line longer than {MAX_LINE} bytes"),
            ));
        }
        Ok(read > 0)
    }
}

fn resize(data: &str) -> Option<Step> {
    let (w, h) = data.split_once('x')?;
    let width = w.parse().ok()?;
    let height = h.parse().ok()?;
    Some(Step::Resize { width, height })
}

/// The pause before an event `gap` seconds after the previous one, under `pace`.
pub fn pause(gap: f64, pace: &Pace) -> Duration {
    let gap = Duration::try_from_secs_f64(gap.max(0.0)).unwrap_or(Duration::MAX);
    let gap = pace.idle_limit.map_or(gap, |limit| gap.min(limit));
    Duration::try_from_secs_f64(gap.as_secs_f64() / pace.speed).unwrap_or(Duration::MAX)
}

/// Plays the recording: output to `out`, stderr events to `err`, each after its (paced) pause, which
/// `sleep` waits. Input, resize and marker events are not shown. Reads as it plays, so a malformed
/// line stops playback there, with its line number, after everything before it was shown.
pub fn replay<R: BufRead>(
    input: R,
    pace: &Pace,
    out: &mut impl Write,
    err: &mut impl Write,
    mut sleep: impl FnMut(Duration),
) -> Result<(), RecordError> {
    let (_header, mut reader) = Reader::open(input)?;
    let mut previous = 0.0;
    while let Some(event) = reader.next_event()? {
        let wait = pause(event.at - previous, pace);
        previous = event.at;
        if !wait.is_zero() {
            sleep(wait);
        }
        let (target, text): (&mut dyn Write, &str) = match &event.step {
            Step::Output(text) => (out, text),
            Step::Stderr(text) => (err, text),
            Step::Input(_) | Step::Resize { .. } | Step::Marker(_) => continue,
        };
        target
            .write_all(text.as_bytes())
            .and_then(|()| target.flush())
            .map_err(RecordError::Terminal)?;
    }
    Ok(())
}
