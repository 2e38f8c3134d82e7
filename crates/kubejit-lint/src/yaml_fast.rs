//! The common-case YAML reader: the full reader's own parser (`granit-parser`, under serde-saphyr)
//! driven directly, its events built straight into the JSON values of [`Doc`] — about twice as fast
//! as going through serde-saphyr's event layer and serde. Whatever it might read differently from
//! the full reader is handed back to it.
//!
//! The full reader (serde-saphyr, [`crate::yaml_doc`]) stays the definition of what a stream means;
//! the parser, and so what is valid YAML and on which line each node starts, is the same. This
//! reader builds only the shapes whose meaning is plain: untagged scalars, mappings with text keys,
//! sequences. Anything else — a tag, an anchor or alias, a `%YAML` directive, a merge key (`<<`), a
//! key that is not text, a repeated key, a scalar the full reader types in a way this one does not
//! reproduce, nesting or a size near the full reader's budget, or any parse error — makes it
//! return `None`, and the caller reads the stream with the full reader, whose value or error is
//! then the answer. So it can only be faster, never more lenient: `yaml_fast_tests.rs` compares both
//! on every shape it takes.

use std::borrow::Cow;

use granit_parser::{Event, Parser, ScalarStyle, StrInput};
use serde_json::{Map, Value};

use crate::yaml_doc::{Doc, Lines};

/// The full reader's budget for the text being read: past these the full reader decides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) documents: usize,
    pub(crate) nodes: usize,
    pub(crate) events: usize,
    pub(crate) scalar_bytes: usize,
    pub(crate) comment_bytes: usize,
}

/// Nesting the fast path takes; the full reader refuses past 64 (serde-saphyr's default
/// `max_depth`), so deeper input is left to it, well before that.
const MAX_DEPTH: usize = 48;

/// Every document of `text` with its 1-based line, or `None`: read this stream with the full
/// reader.
pub(crate) fn read(text: &str, caps: Caps) -> Option<Vec<(u64, Doc)>> {
    let mut parser = Parser::with_options(StrInput::new(text), parser_options());
    let mut build = Builder::new(caps);
    loop {
        let (event, span) = parser.next_event()?.ok()?;
        let line = u64::try_from(span.start.line()).ok()?;
        if !build.event(event, line)? {
            return Some(build.docs);
        }
    }
}

/// The parser options serde-saphyr derives from its default budget (`Options::parser_options`),
/// so both readers parse alike. Comments are parsed (and skipped) as the full reader does.
fn parser_options() -> granit_parser::Options {
    let budget = serde_saphyr::Budget::default();
    let defaults = granit_parser::Options::default();
    granit_parser::options! {
        simple_key_max_lookahead: budget.simple_key_max_lookahead,
        flow_nesting_limit: budget.flow_nesting_limit,
        block_nesting_limit: defaults.block_nesting_limit.max(budget.max_depth.saturating_add(1)),
        emit_comments: true,
        max_buffered_comment_events: budget.max_buffered_comment_events,
    }
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Value>,
        /// Each element's line and, for a mapping, its `rules` lines: kept under `rules` and
        /// `items` keys only, where [`Lines`] needs them.
        lines: Option<Vec<(u64, Vec<u64>)>>,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        lines: Lines,
    },
}

/// A finished node: its value, its line, and (for a mapping) the lines of its `rules` and `items`.
struct Node {
    value: Value,
    line: u64,
    lines: Lines,
    /// The element lines, when this is a sequence that kept them.
    seq_lines: Option<Vec<(u64, Vec<u64>)>>,
}

struct Builder {
    caps: Caps,
    stack: Vec<(Frame, u64)>,
    docs: Vec<(u64, Doc)>,
    events: usize,
    nodes: usize,
    scalar_bytes: usize,
    comment_bytes: usize,
}

impl Builder {
    fn new(caps: Caps) -> Self {
        Self {
            caps,
            stack: Vec::new(),
            docs: Vec::new(),
            events: 0,
            nodes: 0,
            scalar_bytes: 0,
            comment_bytes: 0,
        }
    }

    /// Takes one event: `Some(true)` to go on, `Some(false)` at the stream's end, `None` to hand
    /// the stream to the full reader.
    fn event(&mut self, event: Event<'_>, line: u64) -> Option<bool> {
        self.events += 1;
        // A quarter of each cap: the two readers count events and nodes a little differently.
        let over = |n: usize, cap: usize| n > cap / 4;
        if over(self.events, self.caps.events) || over(self.nodes, self.caps.nodes) {
            return None;
        }
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Some(false),
            Event::DocumentStart(_, version) => {
                if version.is_some() || over(self.docs.len() + 1, self.caps.documents) {
                    return None;
                }
            }
            Event::Comment(text, _) => {
                self.comment_bytes += text.len();
                if over(self.comment_bytes, self.caps.comment_bytes) {
                    return None;
                }
            }
            Event::Alias(_) | Event::Anchor(..) | Event::UnresolvedAlias(_) => return None,
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                self.nodes += 1;
                self.scalar_bytes += value.len();
                if over(self.scalar_bytes, self.caps.scalar_bytes) {
                    return None;
                }
                self.scalar(value, style, line)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.open(anchor != 0 || tag.is_some(), line, true)?;
            }
            Event::MappingStart(_, anchor, tag) => {
                self.open(anchor != 0 || tag.is_some(), line, false)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close()?,
            // `Event` is non-exhaustive: an event this reader does not know goes to the full one.
            _ => return None,
        }
        Some(true)
    }

    /// Ends the innermost collection.
    fn close(&mut self) -> Option<()> {
        let (frame, line) = self.stack.pop()?;
        let node = match frame {
            Frame::Seq { items, lines } => Node {
                value: Value::Array(items),
                line,
                lines: Lines::default(),
                seq_lines: lines,
            },
            Frame::Map { map, key, lines } => {
                if key.is_some() {
                    return None;
                }
                Node {
                    value: Value::Object(map),
                    line,
                    lines,
                    seq_lines: None,
                }
            }
        };
        self.finish(node)
    }

    /// Starts a collection, unless it is tagged or anchored, a mapping key, or too deep.
    fn open(&mut self, decorated: bool, line: u64, seq: bool) -> Option<()> {
        if decorated || self.stack.len() >= MAX_DEPTH || self.expects_key() {
            return None;
        }
        self.nodes += 1;
        let frame = if seq {
            let keep = matches!(
                self.stack.last(),
                Some((Frame::Map { key: Some(k), .. }, _)) if k == "rules" || k == "items"
            );
            Frame::Seq {
                items: Vec::new(),
                lines: keep.then(Vec::new),
            }
        } else {
            Frame::Map {
                map: Map::new(),
                key: None,
                lines: Lines::default(),
            }
        };
        self.stack.push((frame, line));
        Some(())
    }

    /// Whether the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some((Frame::Map { key: None, .. }, _)))
    }

    fn scalar(&mut self, text: Cow<'_, str>, style: ScalarStyle, line: u64) -> Option<()> {
        let plain = matches!(style, ScalarStyle::Plain);
        if self.expects_key() {
            // A key must be text as both readers see it, never a merge key.
            if (plain && !resolve(&text).is_some_and(|v| v.is_string())) || text == "<<" {
                return None;
            }
            if let Some((Frame::Map { key, .. }, _)) = self.stack.last_mut() {
                *key = Some(text.into_owned());
            }
            return Some(());
        }
        // A document that is a scalar other than an empty one is an error ("must be a mapping");
        // the full reader says so.
        if self.stack.is_empty() && !(plain && resolve(&text).is_some_and(|v| v.is_null())) {
            return None;
        }
        let value = if plain {
            resolve(&text)?
        } else {
            Value::String(text.into_owned())
        };
        self.finish(Node {
            value,
            line,
            lines: Lines::default(),
            seq_lines: None,
        })
    }

    /// Puts a finished node into its parent, or ends a document with it.
    fn finish(&mut self, node: Node) -> Option<()> {
        let Some((parent, _)) = self.stack.last_mut() else {
            let doc = Doc {
                value: node.value,
                lines: node.lines,
            };
            self.docs.push((node.line, doc));
            return Some(());
        };
        match parent {
            Frame::Seq { items, lines } => {
                if let Some(lines) = lines {
                    lines.push((node.line, node.lines.rules));
                }
                items.push(node.value);
            }
            Frame::Map { map, key, lines } => {
                let key = key.take()?;
                match (key.as_str(), node.seq_lines) {
                    ("rules", Some(seq)) => lines.rules = seq.into_iter().map(|(l, _)| l).collect(),
                    ("items", Some(seq)) => lines.items = seq,
                    _ => {}
                }
                // A repeated key: the full reader refuses it, with its line.
                if map.insert(key, node.value).is_some() {
                    return None;
                }
            }
        }
        Some(())
    }
}

/// An untagged plain scalar as the full reader types it (YAML 1.1 booleans, `~`/`null`/empty as
/// null, numbers), or `None` when this reader should not decide.
///
/// Text that could be a number (it starts with a digit, a sign or a dot) is typed by the full
/// reader's own scalar code, run on that text alone; its answer is taken only if it is a number or
/// the same text back (so `...` or `--- 1`, which mean something else alone, are handed back).
fn resolve(text: &str) -> Option<Value> {
    // Most text (names, verbs, kinds) starts with a letter that no null or boolean starts with.
    let first = text.bytes().next().map(|b| b.to_ascii_lowercase());
    if first.is_some_and(|b| b.is_ascii_lowercase() && !b"tfyno".contains(&b)) {
        return Some(Value::String(text.to_owned()));
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        _ => {}
    }
    if let Some(b) = yaml11_bool(text) {
        return Some(Value::Bool(b));
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let numeric = unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !numeric {
        return Some(Value::String(text.to_owned()));
    }
    if text.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return None;
    }
    match serde_saphyr::from_str::<Value>(text).ok()? {
        Value::Number(n) => Some(Value::Number(n)),
        Value::String(s) if s == text => Some(Value::String(s)),
        _ => None,
    }
}

/// YAML 1.1 booleans, matched without regard to case as the full reader does.
fn yaml11_bool(text: &str) -> Option<bool> {
    let is = |words: &[&str]| words.iter().any(|w| text.eq_ignore_ascii_case(w));
    if is(&["true", "yes", "y", "on"]) {
        Some(true)
    } else if is(&["false", "no", "n", "off"]) {
        Some(false)
    } else {
        None
    }
}
