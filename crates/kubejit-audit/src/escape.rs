//! Serializes one record as one JSON line that no user-supplied string can split, forge or use to drive
//! a terminal.
//!
//! serde_json already escapes `"`, `\` and every C0 control character (so `\n` and ESC become `\n` and
//! `\u001b`). It leaves DEL, the C1 controls (U+0080..U+009F, which include the 8-bit CSI that some
//! terminals honour) and U+2028/U+2029 (line separators to JavaScript and some log shippers) raw, so we
//! escape those too. Outside strings serde_json emits ASCII only, so rewriting these code points keeps
//! the JSON valid and the decoded value unchanged.

use serde::Serialize;

use crate::AuditError;

/// `value` as compact JSON with the extra escapes above; never contains a raw newline.
pub fn to_json_line<T: Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    let raw = serde_json::to_vec(value).map_err(AuditError::Serialize)?;
    Ok(escape_extra(raw))
}

/// Rewrites DEL, C1 controls and U+2028/U+2029 as `\uXXXX`. Skips the copy when none occur.
fn escape_extra(raw: Vec<u8>) -> Vec<u8> {
    if !raw.iter().any(|&b| b == 0x7f || b == 0xc2 || b == 0xe2) {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let (code_point, len) = match rest {
            [0x7f, ..] => (Some(0x7f_u32), 1),
            [0xc2, second @ 0x80..=0x9f, ..] => (Some(u32::from(*second)), 2),
            [0xe2, 0x80, 0xa8, ..] => (Some(0x2028), 3),
            [0xe2, 0x80, 0xa9, ..] => (Some(0x2029), 3),
            _ => (None, 1),
        };
        match code_point {
            Some(cp) => out.extend_from_slice(format!("\\u{cp:04x}").as_bytes()),
            None => out.push(raw[i]),
        }
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_dangerous_characters() {
        let cases = [
            ("a\nb", r#""a\nb""#),
            ("\u{1b}[31mred", r#""\u001b[31mred""#),
            ("x\u{2028}y\u{2029}z", r#""x\u2028y\u2029z""#),
            ("del\u{7f}", r#""del\u007f""#),
            ("csi\u{9b}2J", r#""csi\u009b2J""#),
            ("\"},{\"kind\":\"forged", r#""\"},{\"kind\":\"forged""#),
            ("ünïcode ok \u{2027}", "\"ünïcode ok \u{2027}\""),
        ];
        for (input, want) in cases {
            let line = String::from_utf8(to_json_line(&input).unwrap()).unwrap();
            assert_eq!(line, want, "{input:?}");
            assert_eq!(serde_json::from_str::<String>(&line).unwrap(), input);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_round_trips_on_one_clean_line(s in proptest::prelude::any::<String>()) {
            let line = to_json_line(&s).unwrap();
            let text = std::str::from_utf8(&line).unwrap();
            let unsafe_char = text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'));
            proptest::prop_assert!(!unsafe_char, "raw control or separator in {}", text);
            proptest::prop_assert_eq!(serde_json::from_slice::<String>(&line).unwrap(), s);
        }
    }
}
