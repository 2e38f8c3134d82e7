//! Serializes one record as one JSON line that no user-supplied string can split, forge or use to drive
//! a terminal.
//!
//! serde_json already escapes `"`, `\` and every C0 control character (so `\n` and ESC become `\n` and
//! `\u001b`). It leaves DEL, the C1 controls (U+0080..U+009F, which include the 8-bit CSI that some
//! terminals honour), U+2028/U+2029 (line separators to JavaScript and some log shippers) and the
//! Unicode format characters (bidi overrides such as U+202E, zero-width spaces, the BOM: they make
//! `cat`/`less` of a trail show text that is not there) raw, so we escape those too — the set is
//! [`kubejit_core::text::is_deceptive`]. Outside strings serde_json emits ASCII only, so rewriting
//! these code points as `\uXXXX` keeps the JSON valid and the decoded value unchanged.

use serde::Serialize;

use crate::AuditError;

/// `value` as compact JSON with the extra escapes above; never contains a raw newline.
pub fn to_json_line<T: Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    let raw = serde_json::to_vec(value).map_err(AuditError::Serialize)?;
    Ok(escape_extra(raw))
}

/// Rewrites DEL, C1 controls, line separators and format characters as `\uXXXX` (UTF-16 units, as
/// JSON spells characters outside the BMP). Skips the copy when the line is plain ASCII.
fn escape_extra(raw: Vec<u8>) -> Vec<u8> {
    if raw.iter().all(|&b| b.is_ascii() && b != 0x7f) {
        return raw;
    }
    // serde_json wrote valid UTF-8; if that ever failed, the bytes are kept as they are.
    let text = match String::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => return e.into_bytes(),
    };
    let mut out = String::with_capacity(text.len().saturating_add(16));
    for c in text.chars() {
        if kubejit_core::text::is_deceptive(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into_bytes()
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
            ("INC-1\u{202e}fdp.exe", r#""INC-1\u202efdp.exe""#),
            ("a\u{200b}b\u{feff}", r#""a\u200bb\ufeff""#),
            ("tag\u{e0041}", r#""tag\udb40\udc41""#),
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
            let unsafe_char = text.chars().any(kubejit_core::text::is_deceptive);
            proptest::prop_assert!(!unsafe_char, "raw control or separator in {}", text);
            proptest::prop_assert_eq!(serde_json::from_slice::<String>(&line).unwrap(), s);
        }
    }
}
