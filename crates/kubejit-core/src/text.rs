//! Untrusted text shown to people: which characters can spoof a terminal, an Event or a log, and the
//! one escaping every display of apiserver-supplied names goes through.
//!
//! A bidi override (U+202E) makes `INC-1\u{202e}txt.exe` read differently from what it is; a zero-width
//! space makes `alice` and `al\u{200b}ice` look identical; ESC and the C1 CSI drive terminals. Where
//! kubejit validates text (incident, reason, policy subjects) such characters are refused; where it
//! only shows text it did not choose (user names, group names, annotations read back from the
//! apiserver) they are escaped as `\u{202e}`, so the reader sees that something is there.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Unicode general category Cf (format characters), Unicode 15.1. Hand-listed because the set is
/// small and stable, and a table crate for one predicate is not worth its weight.
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` can hide or rearrange what a reader sees: a control character (C0, DEL, C1), a
/// format character (bidi controls, zero-width characters, BOM, tags…) or a line/paragraph separator.
pub fn is_deceptive(c: char) -> bool {
    let cp = u32::from(c);
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT_RANGES
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&cp))
}

/// The first deceptive character of `text`, for a refusal message that names it.
pub fn first_deceptive(text: &str) -> Option<char> {
    text.chars().find(|&c| is_deceptive(c))
}

/// `text` with every deceptive character written as `\u{hex}`; borrowed when there is nothing to
/// escape. For display only: backslashes are left alone, so escaping is idempotent (a message that
/// quotes an already-escaped value is not escaped twice) but not reversible.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_deceptive) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`escape`], then cut to at most `max` characters of output with a marker saying how much
/// was left out: for text nobody validated (a denied request's incident) that still goes on record.
pub fn escape_bounded(text: &str, max: usize) -> String {
    let escaped = escape(text);
    let total = escaped.chars().count();
    if total <= max {
        return escaped.into_owned();
    }
    let marker = format!("…[{} more characters]", total.saturating_sub(max));
    let keep = max.saturating_sub(marker.chars().count());
    let mut out: String = escaped.chars().take(keep).collect();
    // Never leave half an escape sequence: drop an unterminated `\u{…` tail.
    if let Some(start) = out.rfind("\\u{")
        && out.get(start..).is_some_and(|tail| !tail.contains('}'))
    {
        out.truncate(start);
    }
    out.push_str(&marker);
    out
}

fn push_escaped(out: &mut String, c: char) {
    if is_deceptive(c) {
        // Writing to a String cannot fail.
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// An error with its sources, joined by `: `, for logs, Events and messages: one rendering, so the
/// controller, the gateway and the CLI say the same thing of the same error.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn deceptive_characters() {
        let bad = [
            '\u{0}',
            '\n',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\u{ad}',
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2028}',
            '\u{2029}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0041}',
        ];
        for c in bad {
            assert!(is_deceptive(c), "{:x}", u32::from(c));
        }
        for c in [
            'a', ' ', 'é', 'ß', '日', '-', ':', '/', '\u{2027}', '\u{fffd}',
        ] {
            assert!(!is_deceptive(c), "{:x}", u32::from(c));
        }
    }

    #[test]
    fn escapes_are_visible_and_plain_text_is_untouched() {
        let cases = [
            ("alice", "alice"),
            ("INC-1\u{202e}txt.exe", "INC-1\\u{202e}txt.exe"),
            ("al\u{200b}ice", "al\\u{200b}ice"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("a\\u{41}", "a\\u{41}"),
            ("ünïcode", "ünïcode"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn bounded_escape_marks_what_it_cut() {
        assert_eq!(escape_bounded("INC-1", 256), "INC-1");
        let long = "x".repeat(1000);
        let cut = escape_bounded(&long, 256);
        assert_eq!(cut.chars().count(), 256);
        assert!(cut.ends_with("more characters]"), "{cut}");
        let hostile = "\u{202e}".repeat(300);
        let cut = escape_bounded(&hostile, 256);
        assert!(cut.chars().count() <= 256);
        assert!(!cut.chars().any(is_deceptive));
        assert!(cut.ends_with("more characters]"), "{cut}");
    }

    proptest! {
        /// Clean, idempotent, and only deceptive characters change: removing every escape of a
        /// deceptive character from both sides leaves the same text.
        #[test]
        fn escaped_text_is_clean_idempotent_and_faithful(s in any::<String>()) {
            let escaped = escape(&s);
            prop_assert!(!escaped.chars().any(is_deceptive));
            let twice = escape(&escaped).into_owned();
            prop_assert_eq!(twice.as_str(), escaped.as_ref());
            let kept: String = s.chars().filter(|&c| !is_deceptive(c)).collect();
            let mut stripped = escaped.into_owned();
            for c in s.chars().filter(|&c| is_deceptive(c)) {
                stripped = stripped.replacen(&format!("\\u{{{:x}}}", u32::from(c)), "", 1);
            }
            prop_assert_eq!(stripped, kept);
        }

        #[test]
        fn bounded_never_panics_and_stays_bounded(s in any::<String>(), max in 0usize..300) {
            let out = escape_bounded(&s, max);
            prop_assert!(!out.chars().any(is_deceptive));
            if s.chars().count() <= max && !s.chars().any(is_deceptive) {
                prop_assert_eq!(out, s);
            }
        }
    }
}
